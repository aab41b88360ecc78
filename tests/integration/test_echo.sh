#!/usr/bin/env bash
# Integration: pinnet-echo on the packet backend over a veth pair, kernel
# peer at default offloads. ping answers; N concurrent connections each get
# SIZE random bytes back intact; the server exits 0 on SIGTERM, every pool
# buffer back (none out at exit but its armed reads: check_buffers). Once
# up, the server holds no capability but CAP_IPC_LOCK.
# Usage: test_echo.sh BUILD_DIR [N SIZE]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
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

in_b python3 "$here/echo_clients.py" "$IP_A" "$conns" "$size"

kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
echo "pinnet-echo exited 0 on SIGTERM"
grep pinnet: "$WORK/echo.log" || true
# every pool buffer back: at exit it holds none but its armed reads
check_buffers "$WORK/echo.log" pinnet-echo
