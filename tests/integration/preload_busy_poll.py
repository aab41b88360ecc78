#!/usr/bin/env python3
"""A wait's busy poll under libpinnet-preload.so (test_preload.sh runs this
under LD_PRELOAD with PINNET_BUSY_POLL set). A listener on the stack's
address and a pipe share an epoll set and a poll array:

- an idle epoll_wait and poll of 100 ms return at their timeout with
  nothing; with MODE spin (PINNET_BUSY_POLL=1000000, longer than the
  timeout) they spend most of it on the CPU, with MODE sleep
  (PINNET_BUSY_POLL=0) little of it;
- a pipe written 30 ms into a 1 s epoll_wait is reported then, in both
  modes: the kernel side is looked at while the wait polls.

Usage: preload_busy_poll.py STACK_ADDR spin|sleep"""
import os
import select
import socket
import sys
import threading
import time

addr, mode = sys.argv[1], sys.argv[2]
lst = socket.socket()
lst.bind((addr, 7071))
lst.listen()
r, w = os.pipe()
ep = select.epoll()
ep.register(lst.fileno(), select.EPOLLIN)
ep.register(r, select.EPOLLIN)
pl = select.poll()
pl.register(lst.fileno(), select.POLLIN)
pl.register(r, select.POLLIN)
ep.poll(0.01)  # the stack's first turns, outside what is measured


def timed(wait):
    t, c = time.monotonic(), time.thread_time()
    ev = wait()
    return ev, (time.monotonic() - t) * 1000, (time.thread_time() - c) * 1000


fail = []
for name, wait in (("epoll_wait", lambda: ep.poll(0.1)),
                   ("poll", lambda: pl.poll(100))):
    ev, ms, cpu = timed(wait)
    share = cpu / ms if ms else 0
    print("%s, idle, %s: %d events after %.0f ms, %.0f ms of it on the CPU"
          % (name, mode, len(ev), ms, cpu))
    if ev or ms < 90 or ms > 400:
        fail.append("%s: want nothing at its 100 ms timeout" % name)
    if mode == "spin" and share < 0.4:
        fail.append("%s: polled %.0f%% of the wait, want most" %
                    (name, share * 100))
    if mode == "sleep" and share > 0.25:
        fail.append("%s: on the CPU %.0f%% of the wait, want little" %
                    (name, share * 100))

timer = threading.Timer(0.03, os.write, (w, b"x"))
timer.start()
ev, ms, cpu = timed(lambda: ep.poll(1.0))
timer.join()
print("epoll_wait, a pipe written at 30 ms, %s: %s after %.0f ms" %
      (mode, ["pipe" if fd == r else fd for fd, _ in ev], ms))
if [fd for fd, _ in ev] != [r] or ms > 500:
    fail.append("epoll_wait: the pipe not reported at once")
for f in fail:
    print("FAIL: " + f)
sys.exit(1 if fail else 0)
