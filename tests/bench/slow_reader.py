# SPDX-License-Identifier: MIT
"""Slow readers: CONNS keep-alive HTTP/1.1 connections, each fetching URL
over and over for SECONDS but reading at most RATE bytes per second
(a small receive buffer, so the server's data backs up in its own send
queue, as behind a slow mobile client). Checks each response's length
and prints a summary in wrk's words (requests, Requests/sec,
Transfer/sec, Socket errors, the 99th percentile latency), so the same
parser reads both.
Usage: slow_reader.py --conns N --rate BYTES_PER_S --seconds S URL"""
import argparse, asyncio, socket, sys, time, urllib.parse


def parse_rate(v):
    m = {"K": 1 << 10, "M": 1 << 20}.get(v[-1:].upper(), 1)
    return int(float(v[:-1] if m > 1 else v) * m)


async def one(host, port, path, rate, end, stats, lat):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(s, (host, port))
        r, w = await asyncio.open_connection(sock=s)
    except OSError:
        stats["connect"] += 1
        return
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    try:
        while time.monotonic() < end:
            t0 = time.monotonic()
            w.write(req)
            await w.drain()
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            if not head.startswith(b"HTTP/1.1 200"):
                stats["non2xx"] += 1
            got, start = 0, time.monotonic()
            while got < n:
                b = await asyncio.wait_for(r.read(min(16384, n - got)), 30)
                if not b:
                    raise ConnectionError("closed mid-body")
                got += len(b)
                ahead = start + got / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            stats["requests"] += 1
            stats["bytes"] += got + len(head)
            lat.append(time.monotonic() - t0)
    except asyncio.TimeoutError:
        stats["timeout"] += 1
    except (OSError, ConnectionError, asyncio.IncompleteReadError):
        stats["read"] += 1
    finally:
        w.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--rate", type=parse_rate, default=1 << 20, help="bytes/s per connection (K, M)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("url")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    stats = dict(requests=0, bytes=0, connect=0, read=0, timeout=0, non2xx=0)
    lat = []
    t0 = time.monotonic()
    await asyncio.gather(*(one(u.hostname, u.port or 80, u.path or "/", a.rate, t0 + a.seconds, stats, lat)
                           for _ in range(a.conns)))
    dt = time.monotonic() - t0
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0
    print(f"slow readers: {a.conns} connections at {a.rate} B/s each, {a.url}")
    print(f"     99%   {p99:.2f}ms")
    print(f"  {stats['requests']} requests in {dt:.2f}s, {stats['bytes'] / 2**20:.2f}MB read")
    print(f"  Socket errors: connect {stats['connect']}, read {stats['read']}, write 0, timeout {stats['timeout']}")
    if stats["non2xx"]:
        print(f"  Non-2xx or 3xx responses: {stats['non2xx']}")
    print(f"Requests/sec: {stats['requests'] / dt:.2f}")
    print(f"Transfer/sec: {stats['bytes'] / dt / 2**20:.2f}MB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
