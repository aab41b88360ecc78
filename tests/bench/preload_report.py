# SPDX-License-Identifier: MIT
"""bench_preload's JSON from its rows: per load (redis SET/GET without and
with -P 16, nginx 1 KiB and 1 MiB) and side (pinnet under pinnet-run, the
same binary on kernel sockets) the medians over RUNS of rps or req/s, MB/s,
p99 (ms) and the server's CPU microseconds per request, with each round's
figure and its range; ratios pinnet/kernel of the medians. Exit 1 if BAR is
1 and a bar is missed.
Usage: preload_report.py ROWS RUNS SECONDS BAR CORES KERNEL REDIS NGINX [NGINX_EXTRA]"""
import csv, json, sys, statistics as st

rows, runs, secs, bar = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
SIDES = ("pinnet", "other", "kernel")  # other: PRELOAD_BENCH_OTHER's build
redis, nginx = {}, {}  # (load) -> side -> [measurement]
errors = []
for line in open(rows):
    f = line.split(None, 7)
    if f[0] == "redis":
        _, who, p, r, c0, c1, path = line.split()
        got = {}
        for row in list(csv.reader(open(path)))[1:]:
            got[row[0].split(" ")[0]] = row
        for cmd in ("SET", "GET"):
            if cmd not in got or float(got[cmd][1]) <= 0:
                errors.append(f"redis {cmd} -P {p} on {who}, round {r}: no result")
                continue
            rps = float(got[cmd][1])
            # the CPU of both commands' runs, shared by their requests
            # (bench_preload.sh: -n 100000 x the pipeline, per command)
            cpu = float(c1) - float(c0)
            redis.setdefault((cmd, int(p)), {}).setdefault(who, []).append(
                {"rps": rps, "p99_ms": float(got[cmd][6]),
                 "cpu_us_per_req": cpu * 1e6 / (2 * 100000 * int(p))})
    else:
        _, who, body, conns, r, c0, c1, js = f
        try:
            w = json.loads(js)
        except ValueError:
            errors.append(f"nginx {body} on {who}, round {r}: wrk said nothing")
            continue
        if sum(w["errors"].values()):
            errors.append(f"nginx {body} on {who}, round {r}: wrk errors {w['errors']}")
        cpu = float(c1) - float(c0)
        nginx.setdefault((body, int(conns)), {}).setdefault(who, []).append(
            {"rps": w["requests"] / w["seconds"], "MBps": w["bytes"] / w["seconds"] / 1e6,
             "p99_ms": w["p99_us"] / 1000,
             "cpu_us_per_req": cpu * 1e6 / w["requests"] if w["requests"] else None})


def side(ms, keys):
    out = {}
    for k in keys:
        xs = [m[k] for m in ms if m[k] is not None]
        if not xs:
            continue
        nd = 3 if k == "p99_ms" else 2 if k == "cpu_us_per_req" else 1
        out[k] = round(st.median(xs), nd)
        out[k + "_runs"] = [round(x, nd) for x in xs]
    return out


def ratio(a, b):
    return round(a / b, 3) if b else 0.0


out = {"benchmark": "preload",
       "machine": {"cores": int(sys.argv[5]), "kernel": sys.argv[6]},
       "runs": runs, "redis_version": sys.argv[7], "nginx_version": sys.argv[8],
       "note": "medians over runs, each round pinnet then the kernel; ratios pinnet/kernel of the medians, "
               "with the range of the per-round ratios",
       "redis": {"client": "redis-benchmark -t set,get -n 100000 (-P 16: 1600000) -c 50 --csv, from the peer namespace",
                 "server": "redis-server --save '' --appendonly no --protected-mode no", "loads": []},
       "nginx": {"client": f"wrk -t2 -d{secs:g}s, from the peer namespace",
                 "server": "nginx-light: master_process off, worker_processes 1, access_log off, sendfile on"
                 + (sys.argv[9] if len(sys.argv) > 9 else ""),
                 "loads": []}}


def per_round(by, key, who="pinnet"):
    """The WHO/kernel ratio of each round, as (min, max)."""
    rs = [p[key] / k[key] for p, k in zip(by.get(who, []), by.get("kernel", [])) if k[key]]
    return [round(min(rs), 3), round(max(rs), 3)] if rs else None


def ratios(l, by, key):
    """Load l's ratios to the kernel: pinnet's as ratio_KEY (the bar's), the
    other build's as other_ratio_KEY."""
    for who, pre in (("pinnet", ""), ("other", "other_")):
        if who not in l:
            continue
        l[pre + "ratio_" + key] = ratio(l[who].get(key, 0), l["kernel"].get(key, 0))
        l[pre + "ratio_" + key + "_range"] = per_round(by, key, who)
        l[pre + "ratio_cpu_per_req"] = ratio(l[who].get("cpu_us_per_req", 0), l["kernel"].get("cpu_us_per_req", 0))
    if "other" in l:  # the A/B: pinnet's build against the other's
        l["ab_ratio_" + key] = ratio(l["pinnet"].get(key, 0), l["other"].get(key, 0))
        l["ab_ratio_" + key + "_range"] = per_round({"pinnet": by["pinnet"], "kernel": by["other"]}, key)
        l["ab_ratio_cpu_per_req"] = ratio(l["pinnet"].get("cpu_us_per_req", 0), l["other"].get("cpu_us_per_req", 0))


for (cmd, p), by in sorted(redis.items(), key=lambda kv: (kv[0][1], kv[0][0] != "SET")):
    l = {"command": cmd, "pipeline": p}
    for who in SIDES:
        if who in by:
            l[who] = side(by[who], ("rps", "p99_ms", "cpu_us_per_req"))
    ratios(l, by, "rps")
    out["redis"]["loads"].append(l)
for (body, conns), by in sorted(nginx.items(), key=lambda kv: kv[0][0] != "1k"):
    l = {"body": body, "connections": conns}
    for who in SIDES:
        if who in by:
            l[who] = side(by[who], ("rps", "MBps", "p99_ms", "cpu_us_per_req"))
    ratios(l, by, "rps" if body == "1k" else "MBps")
    out["nginx"]["loads"].append(l)

missed = []
for l in out["redis"]["loads"]:
    if l["ratio_rps"] < 1.0:
        missed.append(f"redis {l['command']}{' -P %d' % l['pipeline'] if l['pipeline'] > 1 else ''} rps >= 1.0x")
for l in out["nginx"]["loads"]:
    if l["body"] == "1k" and l["ratio_rps"] < 1.0:
        missed.append("nginx 1 KiB req/s >= 1.0x")
    if l["body"] == "1m" and l["ratio_MBps"] < 1.0:
        missed.append("nginx 1 MiB MB/s >= 1.0x")
if errors:
    missed.append("no errors")
out["errors"] = errors
out["bar"] = {"pinnet_min_ratio": 1.0, "met": not missed, "missed": missed}
print(json.dumps(out))
sys.exit(1 if bar and missed else 0)
