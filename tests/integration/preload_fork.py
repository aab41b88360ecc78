# SPDX-License-Identifier: MIT
"""fork() under libpinnet-preload (run under pinnet-run), with a client in
the peer's namespace (test_preload.sh drives both). A listener on
IP:PORT, then a fork while it is the process's only pinnet socket:

1. the child takes the listener (its own stack) and answers every
   connection with "child"; the parent's accept on its copy fails with
   EPERM while the child lives (one stack per address);
2. once GO exists (the client got "child"), the parent kills the child
   and accepts again: it makes the listener again on a stack of its own
   and answers "parent" on a connection it keeps open;
3. it forks again, now with a connection: this child's calls on the
   inherited sockets fail with EPERM, close() succeeds, and the parent's
   connection goes on: it sends "after fork: ok" (or what failed) and
   closes.
Prints what each step saw; exit 0 when every step went as said.
Usage: preload_fork.py IP PORT GO
"""
import errno, os, signal, socket, sys, time

ip, port, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(16)

child = os.fork()
if child == 0:
    while True:
        c, _ = s.accept()
        c.sendall(b"child\n")
        c.close()

ok = True
try:
    s.accept()
    print("parent's accept while the child serves: succeeded, want EPERM")
    ok = False
except OSError as e:
    print("parent's accept while the child serves: %s" % errno.errorcode[e.errno])
    ok &= e.errno == errno.EPERM

for _ in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.1)
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)

c, _ = s.accept()
c.sendall(b"parent\n")
print("parent: made the listener again and accepted")

child = os.fork()
if child == 0:
    bad = []
    for what, call in (("send", lambda: c.send(b"x")),
                       ("accept", lambda: s.accept())):
        try:
            call()
            bad.append(what + " succeeded")
        except OSError as e:
            if e.errno != errno.EPERM:
                bad.append("%s: %s" % (what, errno.errorcode[e.errno]))
    try:
        c.close()
        s.close()
    except OSError as e:
        bad.append("close: " + errno.errorcode[e.errno])
    print("child with its parent's connection: %s" %
          ("EPERM, close ok" if not bad else ", ".join(bad)), flush=True)
    os._exit(1 if bad else 0)
_, st = os.waitpid(child, 0)
ok &= os.waitstatus_to_exitcode(st) == 0
c.sendall(b"after fork: ok\n" if ok else b"after fork: failed\n")
c.close()
s.close()
sys.exit(0 if ok else 1)
