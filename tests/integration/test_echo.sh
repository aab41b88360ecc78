#!/usr/bin/env bash
# Integration: pinnet-echo on the packet backend over a veth pair, kernel
# peer at default offloads. ping answers; N concurrent connections each get
# SIZE random bytes back intact; the server exits 0 on SIGTERM, every pool
# buffer back (none out at exit but its armed reads: check_buffers). Once
# up, the server holds no capability but CAP_IPC_LOCK.
# Usage: test_echo.sh BUILD_DIR [N SIZE]
. "$(dirname "$0")/lib.sh"
build=$1
conns=${2:-20}
size=${3:-1048576}

make_pair
start_a echo "$build/tools/pinnet-echo" --iface "$IF_A" --addr "$IP_A/24" --port 7
wait_port "$IP_A" 7

# least privilege: once up, the stack keeps only CAP_IPC_LOCK (bit 14)
capeff=$(awk '/^CapEff/ {print $2}' "/proc/${PIDS[0]}/status")
[ "$capeff" = 0000000000004000 ] || { echo "FAIL: CapEff $capeff, want only CAP_IPC_LOCK"; exit 1; }
echo "capabilities after start: CapEff $capeff (CAP_IPC_LOCK only)"

in_b ping -c 3 -i 0.2 -W 2 "$IP_A" >"$WORK/ping.log"
echo "ping: $(grep -c 'bytes from' "$WORK/ping.log") replies"

in_b python3 - "$IP_A" "$conns" "$size" <<'PY'
import asyncio, os, sys
ip, N, SIZE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
errors = []
async def one(i):
    try:
        data = os.urandom(SIZE)
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(ip, 7), 30)
        except asyncio.TimeoutError:
            errors.append(f"conn {i}: connect timed out"); return
        async def send():
            w.write(data)
            await w.drain()
            w.write_eof()
        t = asyncio.create_task(send())
        try:
            got = await asyncio.wait_for(r.read(), 120)
        except asyncio.TimeoutError:
            errors.append(f"conn {i}: echo timed out"); return
        await t
        w.close()
        if got != data:
            errors.append(f"conn {i}: {len(got)} of {SIZE} bytes back, content differs")
    except Exception as e:
        errors.append(f"conn {i}: {e!r}")
async def main():
    await asyncio.gather(*(one(i) for i in range(N)))
asyncio.run(main())
if errors:
    print(f"FAIL: {len(errors)} of {N} connections", *errors[:10], sep="\n  "); sys.exit(1)
print(f"echo: {N} concurrent connections x {SIZE} bytes intact")
PY

kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
echo "pinnet-echo exited 0 on SIGTERM"
grep pinnet: "$WORK/echo.log" || true
# every pool buffer back: at exit it holds none but its armed reads
check_buffers "$WORK/echo.log" pinnet-echo
