# SPDX-License-Identifier: MIT
"""sockperf ping-pong's output (stdin) as "rate p50 p99 p999": replies
per second and the latency percentiles in us; "0 0 0 0" if it did not run.
Usage: sockperf ... | sockperf_rr.py"""
import re, sys
t = sys.stdin.read()
run = re.search(r"RunTime=([0-9.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)", t)
p = {k: float(v) for k, v in re.findall(r"percentile (\d+\.\d+) =\s+([0-9.]+)", t)}
if not run:
    print("0 0 0 0"); sys.exit()
print(int(run.group(3)) / float(run.group(1)), p.get("50.000", 0), p.get("99.000", 0), p.get("99.900", 0))
