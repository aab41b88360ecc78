# SPDX-License-Identifier: MIT
"""pinnet-fault's final counters (the last line of its --json output):
the injector must have done COUNTER (dropped, duplicated, ...) in both
directions. NAME is the fault case, for the output.
Usage: fault_counters.py JSON COUNTER NAME"""
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
assert last["final"], "no final counters"
ing, eg = last["ingress"], last["egress"]
k = sys.argv[2]
show = lambda d: " ".join(f"{n} {d[n]}" for n in d if d[n])
print(f"  injector: to the stack: {show(eg)}")
print(f"  injector: from the stack: {show(ing)}")
if ing[k] == 0 or eg[k] == 0:
    print(f"FAIL: {sys.argv[3]}: the injector {k} nothing in one direction (ingress {ing[k]}, egress {eg[k]})")
    sys.exit(1)
