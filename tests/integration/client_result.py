# SPDX-License-Identifier: MIT
"""pinnet-perf --client --json against iperf3 -s: its last line's counts,
something received and at most the socket buffers still in flight.
Usage: client_result.py JSON NAME"""
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
sent, recv = r["sent_bytes"], r["received_bytes"]
if recv <= 0 or not (0 <= sent - recv <= r["streams"] * (16 << 20)):
    print(f"FAIL: client {sys.argv[2]}: sent {sent}, received {recv}"); sys.exit(1)
print(f"client {sys.argv[2]} against iperf3 -s: {r['streams']} stream(s), sent {sent}, received {recv}")
