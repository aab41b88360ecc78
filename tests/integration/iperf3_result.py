# SPDX-License-Identifier: MIT
"""iperf3's -J output for one test against pinnet-perf: no error, bytes
equal on both sides (forward), or, reversed, the client received what we
sent less at most the socket buffers in flight at the end.
Usage: iperf3_result.py JSON NAME"""
import json, sys
d = json.load(open(sys.argv[1]))
name = sys.argv[2]
if d.get("error"):
    print(f"FAIL: {name}: iperf3 says: {d['error']}"); sys.exit(1)
e = d["end"]
sent, recv = e["sum_sent"]["bytes"], e["sum_received"]["bytes"]
streams = len(e["streams"])
rev = d["start"]["test_start"]["reverse"]
cc = e.get("sender_tcp_congestion") or e.get("receiver_tcp_congestion") or "?"
rate = e["sum_received"]["bits_per_second"] / 8e6
if not rev and sent != recv:
    print(f"FAIL: {name}: client sent {sent}, server received {recv}"); sys.exit(1)
# in flight when the test ended: at most the socket buffers of each
# stream (kernel: tcp_wmem + tcp_rmem maxima, 4 + 6 MiB; lwIP: 2 MiB)
if rev and not (0 <= sent - recv <= streams * (16 << 20)):
    print(f"FAIL: {name}: server sent {sent}, client received {recv}"); sys.exit(1)
if recv <= 0:
    print(f"FAIL: {name}: nothing transferred"); sys.exit(1)
print(f"{name}: {streams} stream(s), sent {sent}, received {recv}, {rate:.0f} MB/s, cc {cc}")
