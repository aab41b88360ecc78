#!/usr/bin/env bash
# Integration: hostile frames from the peer namespace against a running
# pinnet-echo. From a packet socket on the kernel side it sends thousands of
# broken and malicious frames: runts, bad IPv4 headers (version, IHL, total
# length, checksum), TCP with impossible data offsets and options, bad
# checksums, every flag at once, RSTs and ACKs for nothing, a SYN flood
# (from the peer and from addresses that do not exist), fragments that never
# complete or overlap, broken ARP, ICMP errors quoting nothing, and randomly
# mutated copies of a valid SYN. Then the server must still answer ping and
# echo every byte of new connections, exit 0 on SIGTERM, and hold no pool
# buffer but its armed reads (nothing leaked).
# Usage: test_hostile.sh BUILD_DIR
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=$1

make_pair
start_a echo "$build/tools/pinnet-echo" --iface "$IF_A" --addr "$IP_A/24" --port 7
wait_port "$IP_A" 7
# the stack answers with a MAC of its own, not the veth's: ask the peer
in_b ping -c 1 -W 2 "$IP_A" >/dev/null
mac_a=$(ip -n "$NS_B" neigh show "$IP_A" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
[ -n "$mac_a" ] || { echo "FAIL: the peer learnt no MAC for $IP_A"; exit 1; }
mac_b=$(ip -n "$NS_B" link show "$IF_B" | awk '/link\/ether/ {print $2}')

in_b python3 "$here/hostile_frames.py" "$IF_B" "$mac_a" "$mac_b" "$IP_A" "$IP_B" "$SUBNET" "$WORK/sent"

kill -0 "${PIDS[0]}" 2>/dev/null || { echo "FAIL: pinnet-echo died under hostile frames"; exit 1; }
in_b ping -c 3 -i 0.2 -W 2 "$IP_A" >"$WORK/ping.log" || { echo "FAIL: no ping replies after hostile frames"; exit 1; }
echo "ping after: $(grep -c 'bytes from' "$WORK/ping.log") replies"

in_b python3 "$here/echo_clients.py" "$IP_A" 10 262144 "echo after hostile frames"

# SYN_RCVD connections to ghosts (and, were reassembly on, half datagrams) hold
# buffers until lwIP's timers free them (15 s / 20 s): wait that out
echo "waiting 22 s for the stack's SYN_RCVD timers"
sleep 22
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || { echo "FAIL: pinnet-echo exited $? on SIGTERM"; exit 1; }
echo "pinnet-echo exited 0 on SIGTERM"
grep pinnet: "$WORK/echo.log"
python3 "$here/check_rx.py" "$WORK/echo.log" "$(cat "$WORK/sent")"
check_buffers "$WORK/echo.log" pinnet-echo
