# SPDX-License-Identifier: MIT
"""SIZE bytes through the echo server at IP:7 and back, sent and read at
once (the bytes of each MiB vary, so a misplaced segment cannot hash
equal): exit 1 unless all came back with the same sha256. NAME is the
fault case, for the output.
Usage: fault_transfer.py IP SIZE NAME"""
import hashlib, os, socket, sys, threading, time
ip, size, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
chunk = os.urandom(1 << 20)
sent_h, got_h = hashlib.sha256(), hashlib.sha256()
c = socket.create_connection((ip, 7), 30)
c.settimeout(120)
err = []
def send():
    try:
        left = size
        while left:
            # vary the bytes per MiB so a misplaced segment cannot hash equal
            b = (left.to_bytes(8, "little") + chunk[8:])[:min(left, len(chunk))]
            c.sendall(b); sent_h.update(b); left -= len(b)
        c.shutdown(socket.SHUT_WR)
    except Exception as e:
        err.append(f"send: {e!r}")
t0 = time.time()
t = threading.Thread(target=send); t.start()
got = 0
try:
    while True:
        b = c.recv(1 << 20)
        if not b: break
        got_h.update(b); got += len(b)
except Exception as e:
    err.append(f"recv after {got} bytes: {e!r}")
t.join(); c.close()
dt = time.time() - t0
if err or got != size or got_h.digest() != sent_h.digest():
    print(f"FAIL: {name}: {got} of {size} bytes back, sha256 {'equal' if got_h.digest() == sent_h.digest() else 'DIFFERS'}", *err)
    sys.exit(1)
print(f"{name}: {size >> 20} MiB each way in {dt:.1f} s ({size * 8 / dt / 1e6:.0f} Mbit/s), sha256 {sent_h.hexdigest()[:16]}... intact")
