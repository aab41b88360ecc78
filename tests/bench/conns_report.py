# SPDX-License-Identifier: MIT
"""bench_conns's JSON from its rows ("who idle active up setup_s rss0 rss1
pin0 pin1 cpu0 cpu1 {wrk json}" per measurement, kB for the memory, CPU
seconds of the server): per server, idle set and active load the medians
over RUNS of req/s, p99 and the server's CPU microseconds per request (the
steadier measure on a shared VM), wrk's errors, the time the idle set took to establish and the server's RSS and
VmPin per idle connection; ratios against the same server with nothing
idle and of pinnet-httpd against nginx. Exit 1 if BAR is 1 and a bar is
missed.
USABLE has "who idle usable" lines: how many idle connections answered
a request after the load.
Usage: conns_report.py ROWS USABLE RUNS SECONDS BAR IDLE_MAX CORES KERNEL"""
import json, sys, statistics as st

rows, usable_f = sys.argv[1], sys.argv[2]
runs, secs, bar, idle_max = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
usable = {}
for line in open(usable_f):
    who, idle, n = line.split()
    usable[(who, int(idle))] = int(n)
d = {}
for line in open(rows):
    who, idle, active, up, setup, rss0, rss1, pin0, pin1, c0, c1, js = line.split(None, 11)
    try:
        w = json.loads(js)
    except ValueError:
        w = {"requests": 0, "seconds": secs, "p99_us": 0, "errors": {"connect": 1}}
    w.update(up=int(up), setup=float(setup), rss=(int(rss1) - int(rss0)) * 1024,
             cpu=float(c1) - float(c0),
             pin=(int(pin1) - int(pin0)) * 1024)
    d.setdefault((who, int(idle), int(active)), []).append(w)

names = {"pinnet": "pinnet-httpd on pinnet", "nginx": "nginx-light on kernel sockets"}
out = {"benchmark": "conns", "machine": {"cores": int(sys.argv[7]), "kernel": sys.argv[8]},
       "runs": runs, "seconds_each": secs,
       "client": "idle: hold_conns.py processes from 8 source addresses; active: wrk -t2, 1 KiB bodies",
       "note": "medians over runs; ratios against the same server with nothing idle, and against nginx, same run",
       "loads": []}
for (who, idle, active), ws in sorted(d.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
    rps = [w["requests"] / w["seconds"] for w in ws]
    row = {"server": who, "name": names[who], "idle": idle, "active": active,
           "req_per_s": round(st.median(rps)),
           "p99_ms": round(st.median(w["p99_us"] for w in ws) / 1000, 3),
           "errors": sum(sum(w["errors"].values()) for w in ws),
           "cpu_us_per_req": round(st.median(w["cpu"] * 1e6 / w["requests"] for w in ws if w["requests"]), 2)
           if any(w["requests"] for w in ws) else None,
           "req_per_s_runs": [round(x) for x in rps]}
    if idle:
        w = ws[0]
        row.update(idle_up=w["up"], idle_setup_s=w["setup"],
                   idle_per_s=round(w["up"] / w["setup"]) if w["setup"] else None,
                   idle_usable_after=usable.get((who, idle)),
                   rss_bytes_per_idle=round(w["rss"] / max(w["up"], 1)),
                   pinned_bytes_per_idle=round(max(w["pin"], 0) / max(w["up"], 1)))
    out["loads"].append(row)
if not any(l["server"] == "nginx" and l["idle"] == idle_max for l in out["loads"]):
    out["nginx_idle_max"] = f"not measured: one nginx process holds at most 20000 fds here, not {idle_max} connections"

def get(who, idle, active):
    return next((l for l in out["loads"] if (l["server"], l["idle"], l["active"]) == (who, idle, active)), None)
for l in out["loads"]:
    base = get(l["server"], 0, l["active"])
    if base and base["req_per_s"]:
        l["ratio_vs_none_idle"] = round(l["req_per_s"] / base["req_per_s"], 3)
    if base and base.get("cpu_us_per_req") and l.get("cpu_us_per_req"):
        l["cpu_per_req_vs_none_idle"] = round(l["cpu_us_per_req"] / base["cpu_us_per_req"], 3)
    ng = get("nginx", l["idle"], l["active"])
    if l["server"] == "pinnet" and ng and ng["req_per_s"]:
        l["ratio_vs_nginx"] = round(l["req_per_s"] / ng["req_per_s"], 3)

missed = []
big = get("pinnet", idle_max, 1000)
if not big or big.get("idle_up") != idle_max:
    missed.append(f"{idle_max} idle connections established")
elif big.get("idle_usable_after") != idle_max:
    missed.append(f"all {idle_max} idle connections still usable after the load")
elif big.get("ratio_vs_none_idle", 0) < 0.9:
    missed.append(f"req/s with {idle_max} idle >= 0.9x with none")
for active in (1000, 10000):
    p = get("pinnet", 0, active)
    if not p or p.get("ratio_vs_nginx", 0) < 1.0:
        missed.append(f"pinnet-httpd >= 1.0x nginx at {active} active")
for l in out["loads"]:
    if l["server"] == "pinnet" and l["idle"]:
        if l["pinned_bytes_per_idle"] > 0:
            missed.append(f"0 pinned bytes per idle connection ({l['idle']} idle)")
        if l["rss_bytes_per_idle"] > 1024:
            missed.append(f"<= 1 KiB per idle connection ({l['idle']} idle)")
if any(l["errors"] for l in out["loads"]):
    missed.append("no errors")
out["bar"] = {"met": not missed, "missed": missed}
print(json.dumps(out, indent=1))
sys.exit(1 if bar and missed else 0)
