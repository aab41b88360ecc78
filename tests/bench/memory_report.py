# SPDX-License-Identifier: MIT
"""One load of bench_memory: for each server (NAMES: the elastic
policies, then static) its time-averaged and peak pinned memory from its
samples (and a CSV of them), the client's throughput, p99 and errors per
burst, failed allocations, how long after each burst it was back at base;
the elastic pools as ratios to the static one, and the load's bar. OUT
holds the samples and client logs; T0 and SLOT place each server's window.
Usage: memory_report.py OUT IDLE_S BURST_S BURSTS T0 SLOT CLIENT NAME..."""
import json, re, sys
out, idle, burst, nb = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
t0, slot, client = float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
names = sys.argv[8:]
res = {"load": {"idle_s": idle, "burst_s": burst, "bursts": nb, "client": client,
                "schedule": f"{len(names)} servers at once on one veth, bursts taking turns, one warm-up burst each before"},
       "calibration_peak_MiB": None}
cal = [json.loads(l) for l in open(f"{out}/calibration.jsonl")]
if cal:
    res["calibration_peak_MiB"] = round(max(r["pinned_bytes"] for r in cal) / 2**20, 1)


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else None


def p99_ms(text):
    m = re.search(r"^\s+99%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M)
    return round(float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)], 2) if m else None


def mbps(text):
    m = re.search(r"Transfer/sec:\s+([0-9.]+)([KMG]?)B", text)
    return float(m.group(1)) * {"": 1e-6, "K": 2**10 / 1e6, "M": 2**20 / 1e6, "G": 2**30 / 1e6}[m.group(2)] if m else 0.0

for k, name in enumerate(names):
    # server k's trace: its idle lead (IDLE_S before its first burst),
    # then its bursts, each followed by IDLE_S
    w0 = t0 + k * slot
    w1 = w0 + idle + nb * (burst + idle)
    rows = [json.loads(l) for l in open(f"{out}/{name}.jsonl")]
    rows = [r for r in rows if w0 <= r["time"] <= w1]
    pts = [(r["time"] - w0, r["pinned_bytes"] / 1024) for r in rows]
    with open(f"{out}/{name}.csv", "w") as f:  # seconds, pinned KiB, VmPin KiB
        for r in rows:
            f.write(f"{r['time'] - w0:.2f},{r['pinned_bytes'] / 1024:.0f},{r['vmpin_kb']}\n")
    area = sum((t2 - t1) * v1 for (t1, v1), (t2, _) in zip(pts, pts[1:]))
    span = pts[-1][0] - pts[0][0]
    reqs = errs = 0; rps = []; mb = []; p99 = []
    for b in range(1, nb + 1):
        t = open(f"{out}/{name}_wrk{b}.log").read()
        m = re.search(r"(\d+) requests in", t); reqs += int(m.group(1)) if m else 0
        m = re.search(r"Requests/sec:\s+([0-9.]+)", t); rps.append(float(m.group(1)) if m else 0)
        mb.append(round(mbps(t), 1))
        p99.append(p99_ms(t))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
        errs += sum(map(int, m.groups())) if m else 0
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", t); errs += int(m.group(1)) if m else 0
    base = pts[0][1]
    # back at base: first sample at or below the starting level after each
    # burst's end (both clocks are CLOCK_MONOTONIC)
    back, back_quiet = [], []
    ends = [float(x) - w0 for x in open(f"{out}/{name}_burst_ends")]
    # the pool's own view of the end of the load: the first sample after
    # wrk's exit with no more buffers in use than at the start (the server
    # still works a few hundred ms on the connections wrk abandons); the
    # idle timer of the seed's policy starts there, at the last allocation
    inuse = [(r["time"] - w0, sum(c["in_use"] for c in r["classes"])) for r in rows]
    for end in ends:
        after = [t for t, v in pts if t >= end and v <= base]
        back.append(round(after[0] - end, 1) if after else None)
        quiet = [t for t, u in inuse if t >= end and u <= inuse[0][1]]
        back_quiet.append(round(after[0] - quiet[0], 1) if after and quiet else None)
    # failed allocations: requests the pool refused (at its wall or
    # budget), from its own counters at the end of the run
    last = rows[-1]["classes"]
    failed = sum(c["refusals"] for c in last)
    res[name] = {"failed_allocations": failed, "grow_refused": sum(c["grow_refused"] for c in last),
                 "grows": sum(c["grows"] for c in last),
                 "avg_pinned_MiB": round(area / span / 1024, 2), "peak_MiB": round(max(v for _, v in pts) / 1024, 1),
                 "base_MiB": round(base / 1024, 1), "requests": reqs, "req_per_s": round(sum(rps) / len(rps)),
                 "MB_per_s": round(sum(mb) / len(mb), 1), "MB_per_s_bursts": mb,
                 "p99_ms": median([x for x in p99 if x is not None]), "p99_ms_bursts": p99,
                 "warmup_MB_per_s": round(mbps(open(f"{out}/{name}_warmup.log").read()), 1),
                 "errors": errs, "back_at_base_s": back, "back_at_base_after_quiet_s": back_quiet, "csv": f"{name}.csv",
                 "bursts_s": [[round(e - burst, 2), round(e, 2)] for e in ends]}
s = res["static"]
elastic = [n for n in names if n != "static"]
for name in elastic:
    r = res[name]
    r["avg_pinned_vs_static"] = round(r["avg_pinned_MiB"] / s["avg_pinned_MiB"], 3)
    r["peak_vs_static"] = round(r["peak_MiB"] / s["peak_MiB"], 3)
    r["throughput_vs_static"] = round(r["MB_per_s"] / s["MB_per_s"], 3) if s["MB_per_s"] else 0
# back at base within the idle period (2 s) plus one sample period (500
# ms) of the pool going quiet, give or take one 200 ms sample of ours. The
# peak policy's window (1.5 s) ends with the first sample wholly after the
# load, so it holds memory as long as a 2 s idle period does.
limit = 2.0 + 0.5 + 0.2
missed = []
for n in [n for n in elastic if n != "forecast"]:  # forecast: compared only
    r = res[n]
    if r["avg_pinned_vs_static"] > 0.10:
        missed.append(f"{n}: time-averaged pinned {r['avg_pinned_vs_static']}x static (bar 0.10x)")
    if r["throughput_vs_static"] < 0.98:
        missed.append(f"{n}: throughput {r['throughput_vs_static']}x static (bar 0.98x)")
    if r["errors"] or r["failed_allocations"]:
        missed.append(f"{n}: {r['errors']} HTTP errors, {r['failed_allocations']} failed allocations")
    if not all(b is not None and b <= limit for b in r["back_at_base_after_quiet_s"]):
        missed.append(f"{n}: back at base {r['back_at_base_after_quiet_s']} s after quiet (bar {limit} s)")
    if "1048576" in client and "wrk" in client and r["peak_MiB"] > 36:
        missed.append(f"{n}: peak {r['peak_MiB']} MiB (bar 36 MiB)")
if s["errors"] or s["failed_allocations"]:
    missed.append(f"static: {s['errors']} HTTP errors, {s['failed_allocations']} failed allocations")
res["bar"] = {"avg_pinned_max_ratio": 0.10, "throughput_min_ratio": 0.98,
              "back_at_base_max_s": limit, "met": not missed, "missed": missed}
print(json.dumps(res))
