# SPDX-License-Identifier: MIT
"""Small responses on one keep-alive connection must come back well under
a client's delayed-ACK time (40 ms): a server whose response head and body
leave as two sends stalls on Nagle against the delayed ACK. N requests of
a SIZE-byte body on one HTTP/1.1 connection; fails if the slowest takes
LIMIT_MS or more. Prints the median and the slowest.
Usage: keepalive_rtt.py HOST SIZE N LIMIT_MS"""
import http.client, sys, time

host, size, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
c = http.client.HTTPConnection(host, 80, timeout=5)
times = []
for i in range(n):
    t0 = time.monotonic()
    c.request("GET", f"/bytes/{size}")
    r = c.getresponse()
    body = r.read()
    times.append((time.monotonic() - t0) * 1000)
    if r.status != 200 or len(body) != size or r.getheader("Connection", "").lower() == "close":
        print(f"FAIL: request {i}: status {r.status}, {len(body)} bytes, Connection {r.getheader('Connection')}")
        sys.exit(1)
times.sort()
print(f"keep-alive: {n} x {size} B on one connection, median {times[n // 2]:.2f} ms, slowest {times[-1]:.2f} ms")
if times[-1] >= limit:
    print(f"FAIL: a {size}-byte response took {times[-1]:.1f} ms (limit {limit} ms: a Nagle/delayed-ACK stall?)")
    sys.exit(1)
