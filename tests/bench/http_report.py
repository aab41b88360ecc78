# SPDX-License-Identifier: MIT
"""bench_http's JSON from its rows ("who body conns cpu0 cpu1 {wrk json}"
per measurement): per load and server the medians over RUNS of req/s,
MB/s, p50/p99 (ms), errors and the server's CPU seconds per GB served;
ratios of pinnet-httpd on pinnet and on kernel sockets against nginx.
Exit 1 if BAR is 1 and a bar is missed.
Usage: http_report.py ROWS RUNS SECONDS BAR CORES KERNEL"""
import json, sys, statistics as st
rows, runs, secs, bar = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
d = {}
for line in open(rows):
    who, body, conns, c0, c1, js = line.split(None, 5)
    try:
        w = json.loads(js)
    except ValueError:
        w = {"requests": 0, "bytes": 0, "seconds": secs, "p50_us": 0, "p99_us": 0,
             "errors": {"connect": 1, "read": 0, "write": 0, "status": 0, "timeout": 0}}
    w["cpu"] = float(c1) - float(c0)
    d.setdefault((body, int(conns)), {}).setdefault(who, []).append(w)

names = {"pinnet": "pinnet-httpd on pinnet", "kernel": "pinnet-httpd on kernel sockets",
         "nginx": "nginx-light on kernel sockets"}
out = {"benchmark": "http", "machine": {"cores": int(sys.argv[5]), "kernel": sys.argv[6]},
       "runs": runs, "seconds_each": secs, "client": "wrk -t2, from the peer namespace",
       "note": "medians over runs; ratios against nginx, same run", "loads": []}
for (body, conns), by in sorted(d.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    load = {"body": body, "connections": conns, "servers": {}}
    for who, ws in by.items():
        rps = [w["requests"] / w["seconds"] for w in ws]
        mbs = [w["bytes"] / w["seconds"] / 1e6 for w in ws]
        gb = [w["bytes"] / 1e9 for w in ws]
        load["servers"][who] = {
            "name": names[who],
            "req_per_s": round(st.median(rps)), "MBps": round(st.median(mbs), 1),
            "p50_ms": round(st.median(w["p50_us"] for w in ws) / 1000, 3),
            "p99_ms": round(st.median(w["p99_us"] for w in ws) / 1000, 3),
            "errors": sum(sum(w["errors"].values()) for w in ws),
            "cpu_s_per_GB": round(st.median(w["cpu"] / g for w, g in zip(ws, gb) if g), 3) if any(gb) else None,
            "req_per_s_runs": [round(x) for x in rps]}
    ng = load["servers"].get("nginx")
    for who in ("pinnet", "kernel"):
        s = load["servers"].get(who)
        if s and ng:
            s["ratio_req_per_s"] = round(s["req_per_s"] / ng["req_per_s"], 3) if ng["req_per_s"] else 0
            s["ratio_MBps"] = round(s["MBps"] / ng["MBps"], 3) if ng["MBps"] else 0
    out["loads"].append(load)

def find(body, conns):
    return next(l["servers"] for l in out["loads"] if l["body"] == body and l["connections"] == conns)
missed = []
big, small = find("1m", 100), find("1k", 100)
if big["pinnet"].get("ratio_MBps", 0) < 1.0:
    missed.append("1 MiB MB/s >= 1.0x nginx")
if small["pinnet"].get("ratio_req_per_s", 0) < 1.0:
    missed.append("1 KiB req/s >= 1.0x nginx")
for name, s in (("1 MiB", big), ("1 KiB", small)):
    if s["pinnet"]["p99_ms"] > s["nginx"]["p99_ms"]:
        missed.append(f"{name} p99 <= nginx's")
if any(s["errors"] for l in out["loads"] for s in l["servers"].values()):
    missed.append("no errors")
out["bar"] = {"pinnet_min_ratio": 1.0, "met": not missed, "missed": missed}
print(json.dumps(out))
sys.exit(1 if bar and missed else 0)
