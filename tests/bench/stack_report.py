# SPDX-License-Identifier: MIT
"""bench_stack's JSON from its rows (ROWS: "who what values..." per
measurement, LOG: pinnet-perf's output): medians over RUNS, pinnet over
the kernel as ratios, pinnet's per-frame costs in its receive tests, and
the bar. CORES and KERNEL describe the machine. Exit 1 if BAR is 1 and it
is missed.
Usage: stack_report.py ROWS LOG RUNS BAR CORES KERNEL"""
import json, re, sys, statistics as st
rows, log, runs, bar = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = {}
for line in open(rows):
    who, what, *v = line.split()
    d.setdefault((who, what), []).append([float(x) for x in v])
def med(who, what, i=0):
    return st.median(x[i] for x in d[(who, what)])
def runs_of(who, what, i=0):
    return [round(x[i], 1) for x in d[(who, what)]]
out = {"benchmark": "stack", "machine": {"cores": int(sys.argv[5]), "kernel": sys.argv[6]},
       "runs": runs, "seconds_each": 3, "note": "medians over runs; ratios are pinnet / kernel, same run"}
for what, key in (("cubic", "receive_cubic_MBps"), ("bbr", "receive_bbr_MBps"), ("send", "send_MBps")):
    p, k = med("pinnet", what), med("kernel", what)
    out[key] = {"pinnet": round(p, 1), "kernel": round(k, 1), "ratio": round(p / k, 3) if k else 0,
                "pinnet_runs": runs_of("pinnet", what), "kernel_runs": runs_of("kernel", what)}
p, k = med("pinnet", "rr"), med("kernel", "rr")
out["rr_64B"] = {"pinnet_per_s": round(p), "kernel_per_s": round(k), "ratio": round(p / k, 3) if k else 0,
    "latency_us": {w: {"p50": med(w, "rr", 1), "p99": med(w, "rr", 2), "p99.9": med(w, "rr", 3)} for w in ("pinnet", "kernel")}}
p, k = med("pinnet", "cps"), med("kernel", "cps")
out["connections_per_s"] = {"clients": 4, "pinnet": round(p), "kernel": round(k), "ratio": round(p / k, 3) if k else 0}
p, k = med("pinnet", "cps1"), med("kernel", "cps1")
out["connections_per_s_one_client"] = {"pinnet": round(p), "kernel": round(k), "ratio": round(p / k, 3) if k else 0}
# pinnet's per-frame cost in its receive tests (from pinnet-perf's lines)
fr = [m.groups() for m in re.finditer(r"receive test.*frames rx \d+ \(([0-9]+)/s, ([0-9]+) B each\) tx \d+ \(([0-9]+)/s, ([0-9.]+) per MiB\)", open(log).read())]
if fr:
    out["pinnet_receive_frames"] = {"rx_frames_per_s": st.median(float(x[0]) for x in fr),
        "rx_bytes_per_frame": st.median(float(x[1]) for x in fr),
        "ack_frames_per_MiB": st.median(float(x[3]) for x in fr)}
# pinnet's cost per MiB it sends (from its reverse-test lines)
sf = [m.groups() for m in re.finditer(r"reverse \(we sent\).*per MiB sent: ([0-9.]+) writes, ([0-9.]+) super-frames, ([0-9.]+) submissions, ([0-9.]+) rx frames; ([0-9.]+) bytes copied per byte", open(log).read())]
if sf:
    out["pinnet_send_costs"] = {"writes_per_MiB": st.median(float(x[0]) for x in sf),
        "super_frames_per_MiB": st.median(float(x[1]) for x in sf),
        "submissions_per_MiB": st.median(float(x[2]) for x in sf),
        "ack_frames_received_per_MiB": st.median(float(x[3]) for x in sf),
        "bytes_copied_per_byte": st.median(float(x[4]) for x in sf)}
BARS = {"send_min_ratio": 1.0, "receive_min_ratio": 1.2, "rr_min_ratio": 1.5}
missed = [k for k, r in (("send_min_ratio", out["send_MBps"]["ratio"]),
                         ("receive_min_ratio", min(out["receive_cubic_MBps"]["ratio"], out["receive_bbr_MBps"]["ratio"])),
                         ("rr_min_ratio", out["rr_64B"]["ratio"])) if r < BARS[k]]
ok = not missed
out["bar"] = dict(BARS, met=ok, missed=missed)
print(json.dumps(out))
sys.exit(1 if bar and not ok else 0)
