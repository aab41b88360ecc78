# SPDX-License-Identifier: MIT
"""Hold N connections to an echo server at once, then check each still
echoes. The connections are spread over P processes (a process may hold at
most 20000 fds here), each opening its share with at most WINDOW connects
in flight. Once every connection of every process is up (a barrier), each
connection sends 16 bytes of its own and must get them back, while all are
held; then all close. Prints the time to establish them and to echo.
Exit 1 if a connection failed, unless --expect K is given: then exactly K
of the N connections must succeed (the server's connection limit) and the
others must fail to connect within --connect-timeout seconds.
With --hold S, the connections are held S seconds after the echo and
echo once more.
Usage: hold_conns.py IP PORT N [--procs P] [--expect K] [--connect-timeout S] [--hold S]
"""
import argparse, errno, multiprocessing as mp, os, resource, select, signal, socket, struct, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("ip")
ap.add_argument("port", type=int)
ap.add_argument("n", type=int)
ap.add_argument("--procs", type=int, default=0)
ap.add_argument("--expect", type=int, default=-1)
ap.add_argument("--connect-timeout", type=float, default=30.0)
ap.add_argument("--window", type=int, default=200)
ap.add_argument("--hold", type=float, default=0.0)
ap.add_argument("--src", default="", help="source addresses A,B,...: process i binds to the i-th (mod their number)")
ap.add_argument("--no-echo", action="store_true", help="hold the connections idle (no bytes) --hold seconds, then close")
ap.add_argument("--http-check", default="", metavar="PATH",
                help="with --no-echo: on SIGUSR1 each held connection sends HEAD PATH and must get a 200; "
                     "each process prints 'usable: OK of N'")
a = ap.parse_args()
procs = a.procs or max(1, (a.n + 9999) // 10000)


def echo_all(ep, idx, rnd, up):
    """Each connection sends 16 bytes of its own and must get them back."""
    bad = 0
    want = {}
    for i, s in enumerate(up):
        msg = struct.pack("!IIQ", idx, i, rnd)
        want[s.fileno()] = (s, msg, bytearray())
        s.setblocking(True)
        s.sendall(msg)
        s.setblocking(False)
        ep.register(s.fileno(), select.EPOLLIN)
    deadline = time.monotonic() + 60
    while want and time.monotonic() < deadline:
        for fd, ev in ep.poll(0.5):
            s, msg, got = want[fd]
            try:
                d = s.recv(64)
            except BlockingIOError:
                continue
            if d:
                got += d
            if not d or len(got) >= len(msg):
                if bytes(got) != msg:
                    bad += 1
                ep.unregister(fd)
                del want[fd]
    for fd in want:
        ep.unregister(fd)
    return bad + len(want)


def http_all(ep, up, path):
    """Each connection asks HEAD path (keep-alive) and must get a 200."""
    req = f"HEAD {path} HTTP/1.1\r\nHost: pinnet\r\n\r\n".encode()
    want, ok = {}, 0
    for s in up:
        want[s.fileno()] = (s, bytearray())
        s.setblocking(True)
        s.sendall(req)
        s.setblocking(False)
        ep.register(s.fileno(), select.EPOLLIN)
    deadline = time.monotonic() + 60
    while want and time.monotonic() < deadline:
        for fd, ev in ep.poll(0.5):
            s, got = want[fd]
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            got += d
            if not d or b"\r\n\r\n" in got:
                ok += got.startswith(b"HTTP/1.1 200")
                ep.unregister(fd)
                del want[fd]
    for fd in want:
        ep.unregister(fd)
    return ok


def worker(idx, share, barrier, q):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, share + 64)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    ep = select.epoll()
    socks, pending, failed = {}, {}, []
    up = []
    nxt = 0
    t0 = time.monotonic()
    srcs = [x for x in a.src.split(",") if x]
    src = srcs[idx % len(srcs)] if srcs else None
    while nxt < share or pending:
        while nxt < share and len(pending) < a.window:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            if src:
                s.bind((src, 0))
            try:
                s.connect((a.ip, a.port))
            except BlockingIOError:
                pass
            pending[s.fileno()] = (s, time.monotonic())
            ep.register(s.fileno(), select.EPOLLOUT)
            nxt += 1
        for fd, ev in ep.poll(0.2):
            s, _ = pending.pop(fd)
            ep.unregister(fd)
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e:
                failed.append(os.strerror(e))
                s.close()
            else:
                up.append(s)
        now = time.monotonic()
        for fd in [fd for fd, (s, t) in pending.items() if now - t > a.connect_timeout]:
            s, _ = pending.pop(fd)
            ep.unregister(fd)
            failed.append("connect timed out")
            s.close()
    t_up = time.monotonic() - t0
    q.put(("up", idx, len(up), failed[:5], len(failed), t_up))
    barrier.wait()  # every process holds all its connections now
    if a.no_echo:
        asked = []
        signal.signal(signal.SIGUSR1, lambda *_: asked.append(1))
        end = time.monotonic() + a.hold
        while time.monotonic() < end:
            time.sleep(0.1)
            if asked and a.http_check:
                asked.clear()
                ok = http_all(ep, up, a.http_check)
                print(f"usable: {ok} of {len(up)}", flush=True)
        for s in up:
            s.close()
        return
    for rnd in range(2 if a.hold else 1):
        if rnd:
            time.sleep(a.hold)  # held meanwhile: others flood the server
        t1 = time.monotonic()
        bad = echo_all(ep, idx, rnd, up)
        q.put(("echo", idx, len(up) - bad, bad, time.monotonic() - t1, rnd))
    barrier.wait()
    for s in up:
        s.close()


def main():
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the workers' call
    shares = [a.n // procs + (1 if i < a.n % procs else 0) for i in range(procs)]
    barrier = mp.Barrier(procs)
    q = mp.Queue()
    ps = [mp.Process(target=worker, args=(i, shares[i], barrier, q)) for i in range(procs)]
    for p in ps:
        p.start()
    ups, echoes = [], []
    rounds = 0 if a.no_echo else 2 if a.hold else 1
    while len(echoes) < procs * rounds:
        m = q.get(timeout=600)
        (ups if m[0] == "up" else echoes).append(m)
        if m[0] == "up" and len(ups) == procs:
            n_up = sum(u[2] for u in ups)
            n_fail = sum(u[4] for u in ups)
            print(f"held: {n_up} of {a.n} connections up in {max(u[5] for u in ups):.1f} s "
                  f"({procs} processes), {n_fail} failed"
                  + (f" ({'; '.join(sum((u[3] for u in ups), [])[:3])})" if n_fail else ""),
                  flush=True)
    if a.no_echo:
        while not ups or len(ups) < procs:
            ups.append(q.get(timeout=600))
            if len(ups) == procs:
                print(f"held: {sum(u[2] for u in ups)} of {a.n} connections up in "
                      f"{max(u[5] for u in ups):.1f} s ({procs} processes), "
                      f"{sum(u[4] for u in ups)} failed", flush=True)
    for p in ps:
        p.join(a.hold + 60 if a.no_echo else 60)
    n_up = sum(u[2] for u in ups)
    bad = 0
    for rnd in range(rounds):
        es = [e for e in echoes if e[5] == rnd]
        ok, b = sum(e[2] for e in es), sum(e[3] for e in es)
        bad += b
        print(f"echo{' after holding them %.0f s' % a.hold if rnd else ''}: {ok} of {n_up} "
              f"held connections echoed their 16 bytes in {max(e[4] for e in es):.1f} s, {b} failed",
              flush=True)
    if bad:
        print("FAIL: a held connection did not echo")
        return 1
    if a.expect >= 0:
        if n_up != a.expect:
            print(f"FAIL: {n_up} connections up, the limit allows {a.expect}")
            return 1
    elif n_up != a.n:
        print("FAIL: not every connection came up")
        return 1
    return 0


sys.exit(main())
