# SPDX-License-Identifier: MIT
"""Hold N connections to a sockperf server at once (more than the 1024 the
server once had room for) and have each ask for replies while all are held:
every connection sends two messages, the second split in two writes with a
pause between (the server must keep a message's start until the rest
comes), and must get both back, in order, sequence numbers kept, the client
bit cleared. Then all close. Last, a client that reads late, with a small
receive buffer: 200 KB of requests, a second's pause, then every reply must
come (the server holds what its send buffer has no room for, and sends it
when room comes). Exit 1 on any missing or wrong reply.
Usage: sockperf_conns.py IP PORT N
"""
import resource, select, socket, struct, sys, time

ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CLIENT, PONG = 1, 2
LEN = 64
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))


def msg(seq, size=LEN):
    # sockperf's header: sequence number (8 bytes), flags, total length
    return struct.pack("!QHI", seq, CLIENT | PONG, size) + bytes(size - 14)


def reply(seq, size=LEN):
    return struct.pack("!QHI", seq, PONG, size) + bytes(size - 14)


t0 = time.monotonic()
conns = []
for i in range(n):
    s = socket.create_connection((ip, port), 10)
    conns.append(s)
print(f"sockperf_conns: {n} connections up in {time.monotonic() - t0:.2f} s")


def send_all(part):
    for i, s in enumerate(conns):
        try:
            s.sendall(part(i))
        except OSError as e:
            print(f"FAIL: connection {i} of {n}: {e}")
            sys.exit(1)


send_all(lambda i: msg(2 * i) + msg(2 * i + 1)[:20])
time.sleep(0.2)
send_all(lambda i: msg(2 * i + 1)[20:])
ep = select.epoll()
want = {}
for i, s in enumerate(conns):
    s.setblocking(False)
    want[s.fileno()] = (s, reply(2 * i) + reply(2 * i + 1), bytearray())
    ep.register(s.fileno(), select.EPOLLIN)
end = time.monotonic() + 20
while want and time.monotonic() < end:
    for fd, _ in ep.poll(1):
        s, exp, got = want[fd]
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        if not data:
            print(f"FAIL: connection {conns.index(s)} closed early")
            sys.exit(1)
        got += data
        if len(got) >= len(exp):
            if bytes(got) != exp:
                print(f"FAIL: connection {conns.index(s)}: wrong replies")
                sys.exit(1)
            ep.unregister(fd)
            del want[fd]
if want:
    print(f"FAIL: {len(want)} of {n} connections without both replies")
    sys.exit(1)
print(f"sockperf_conns: {n} connections, two replies each, "
      f"in {time.monotonic() - t0:.2f} s")
for s in conns:
    s.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((ip, port))
s.sendall(b"".join(msg(i, 1000) for i in range(200)))
time.sleep(1)
exp = b"".join(reply(i, 1000) for i in range(200))
got = bytearray()
s.settimeout(5)
try:
    while len(got) < len(exp):
        data = s.recv(65536)
        if not data:
            break
        got += data
except OSError as e:
    print(f"FAIL: the late reader: {e} after {len(got)} of {len(exp)} bytes")
    sys.exit(1)
if bytes(got) != exp:
    print(f"FAIL: the late reader: {len(got)} bytes, want {len(exp)}")
    sys.exit(1)
print("sockperf_conns: a late reader got its 200 replies")
s.close()
