#!/usr/bin/env bash
# Integration: pinnet-echo on the packet backend over a veth pair, kernel
# peer at default offloads. ping answers; 1 MiB of random bytes per
# connection comes back intact over 20 concurrent connections; the server
# exits 0 on SIGTERM.
# Usage: test_echo.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
build=$1

make_pair
start_a echo "$build/tools/pinnet-echo" --iface "$IF_A" --addr "$IP_A/24" --port 7
wait_port "$IP_A" 7

in_b ping -c 3 -i 0.2 -W 2 "$IP_A" >"$WORK/ping.log"
echo "ping: $(grep -c 'bytes from' "$WORK/ping.log") replies"

in_b python3 - "$IP_A" <<'PY'
import os, socket, sys, threading, hashlib
ip = sys.argv[1]
N, SIZE = 20, 1 << 20
errors = []
def one(i):
    try:
        data = os.urandom(SIZE)
        s = socket.create_connection((ip, 7), 10)
        s.settimeout(30)
        got = bytearray()
        def rd():
            while len(got) < SIZE:
                b = s.recv(65536)
                if not b:
                    break
                got.extend(b)
        t = threading.Thread(target=rd); t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join()
        if bytes(got) != data:
            errors.append(f"conn {i}: {len(got)} bytes back, sha256 differs")
        s.close()
    except Exception as e:
        errors.append(f"conn {i}: {e!r}")
ts = [threading.Thread(target=one, args=(i,)) for i in range(N)]
[t.start() for t in ts]; [t.join() for t in ts]
if errors:
    print("FAIL:", *errors, sep="\n  "); sys.exit(1)
print(f"echo: {N} connections x {SIZE} bytes intact")
PY

kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
echo "pinnet-echo exited 0 on SIGTERM"
grep pinnet: "$WORK/echo.log" || true
