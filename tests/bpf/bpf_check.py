# SPDX-License-Identifier: MIT
"""The output of pinnet-bpf trace, leaks, hist and top (-j, in WORK/*.json)
against tests/bpf/workload.c, checked against what the workload did: its
grows, refusals, queued waits, idle releases in order with the kernel's
tag completions, the buffer it held, the histograms' sample counts, and
the counters top read while it held that buffer.
Usage: bpf_check.py WORK"""
import json, sys, collections
w = sys.argv[1]
def load(n):
    return [json.loads(l) for l in open(f"{w}/{n}.json") if l.strip()]
fails = []
def check(cond, what):
    if not cond: fails.append(what)

ev = [e for e in load("trace") if e["type"] == "event"]
kinds = collections.Counter(e["event"] for e in ev)
print("trace:", dict(kinds))
check(kinds["grow"] == 4, f"grows {kinds['grow']} != 4")
check(kinds["grow_refused"] == 1, f"refused grows {kinds['grow_refused']} != 1")
check(kinds["queued"] == 1, "queued != 1")
check(kinds["dequeued"] == 1, "dequeued != 1")
q = [e for e in ev if e["event"] in ("queued", "dequeued")]
check([e["event"] for e in q] == ["queued", "dequeued"], "queued must come before dequeued")
check(q and q[0].get("owner") == 555, "queued owner != 555")
rel = [e for e in ev if e["event"] == "release"]
idle = [e for e in rel if e["reason"] == "idle"]
check(len(idle) == 3, f"idle releases {len(idle)} != 3")
check([e["block"] for e in idle] == [3, 2, 1], f"idle release order {[e['block'] for e in idle]}")
check(len([e for e in rel if e["reason"] == "destroy"]) == 1, "destroy release != 1")
# the kernel's side: one buffer-table update per grow and per idle
# unregistration, and a tag completion for each idle release's slot
reg = [e for e in ev if e["event"] == "kernel_register"]
upd = [e for e in reg if e["opcode"] == 16]
check(len([e for e in reg if e["opcode"] == 15]) == 1, "sparse table registration != 1")
check(len(upd) == 4 + 3, f"buffer-table updates {len(upd)} != 7 (4 grows + 3 releases)")
check(all(e["ret"] == 1 for e in upd), "a buffer-table update did not update one slot")
slots = {e["block"]: e["slot"] for e in ev if e["event"] == "grow"}
tags = [e["slot"] for e in ev if e["event"] == "kernel_tag"]
for e in idle:
    check(slots.get(e["block"]) in tags, f"no tag CQE for block {e['block']} (slot {slots.get(e['block'])})")
# each idle release comes after its tag CQE
for e in idle:
    t = [x["time"] for x in ev if x["event"] == "kernel_tag" and x["slot"] == slots.get(e["block"])]
    check(t and min(t) <= e["time"], f"release of block {e['block']} before its tag CQE")

lk = [e for e in load("leaks") if e["type"] == "leak"]
print("leaks:", [(e["count"], e["size"], e["owner"], round(e["oldest_s"], 2), e["stack"][:3]) for e in lk])
held = [e for e in lk if e["owner"] == 777]
check(held, "the held buffer (owner 777) was not reported")
check(all(e["owner"] == 777 for e in lk), "buffers other than the held one reported as outstanding > 1 s")
if held:
    e = held[0]
    check(e["count"] == 1 and e["size"] == 4096 and e["bytes"] == 4096, "held buffer size/count")
    check(e["oldest_s"] >= 1.0, "held buffer age < 1 s")
    check(any("hold_this_buffer" in f for f in e["stack"]), f"allocation function missing from {e['stack']}")

h = {}
for e in load("hist"):
    if e["type"] == "hist":
        h[e["hist"]] = e  # the last report wins
print("hist:", {k: v["count"] for k, v in h.items()})
check(h.get("lifetime", {}).get("count") == 65, "lifetime samples != 65")
check(h.get("grow_latency", {}).get("count") == 4, "grow latency samples != 4")
check(h.get("wait_at_wall", {}).get("count") == 1, "wait samples != 1")

tops = [e for e in load("top") if e["type"] == "pool"]
check(tops, "top printed nothing")
if tops:
    c = tops[-1]["classes"][0]
    print("top:", {k: c[k] for k in ("in_use", "grows", "releases_idle", "queued", "refusals")}, "pinned", tops[-1]["pinned_bytes"])
    check(c["grows"] == 4 and c["queued"] == 1, "top counters: grows/queued")
    check(c["in_use"] == 1, f"top: in_use {c['in_use']} != 1 while the buffer is held")
    check(c["releases_idle"] >= 2, "top: idle releases < 2 during the hold")
    check(tops[-1]["vmpin_kb"] * 1024 == tops[-1]["pinned_bytes"], "top: VmPin differs from the pool's pinned bytes")
    check("blocks" in c and any(b["state"] == "active" for b in c["blocks"]), "top -b: no block list")
if fails:
    print("FAIL:", *fails, sep="\n  "); sys.exit(1)
paths = [e.get("path", "") for e in load("trace") if e["type"] == "attached"]
print("probes found in:", paths)
print("bpf tools: every count matches the script")
