#!/usr/bin/env bash
# Integration: what the stack's TCP puts on the wire, checked frame by frame
# from a packet socket on the kernel side. The peer is a hand-made TCP
# endpoint on an address no kernel holds (so no kernel RST interferes):
#   - the SYN-ACK permits SACK;
#   - out-of-order data is SACKed (lwIP's own SACK);
#   - a retransmitted segment the stack already has is reported with a
#     D-SACK block (RFC 2883) first in the ACK it causes, ahead of the
#     out-of-order blocks; the next ACK no longer carries it;
#   - filling the hole acknowledges everything;
#   - a lone segment no reply follows is acknowledged after a whole 5 ms
#     timer tick (median of 8 at least 5 ms, none over 200 ms), not at the
#     next tick however near;
#   - with window scaling, small segments the application reads at once
#     are all acknowledged with the same window field.
# Then segmentation offload (tcp_gso.py): super-frames with the vnet header
# and IPv4 fields right, a frame reported lost resent as one MSS-sized
# segment, the body intact; and with the kernel's refusal of GSO writes
# simulated (PINNET_TEST_GSO_REFUSE), segments cut by the stack and the
# refusal counted. pinnet-httpd exits 0 on SIGTERM holding no pool buffer
# but its reads.
# Usage: test_tcp_wire.sh BUILD_DIR
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=$1

make_pair
mkdir -p "$WORK/www"
mac=02:70:6e:00:00:42 # both servers: the peer's neighbour entry stays right
start_a httpd "$build/tools/pinnet-httpd" --iface "$IF_A" --addr "$IP_A/24" --mac $mac --port 80 --root "$WORK/www"
wait_port "$IP_A" 80
in_b ping -c 1 -W 2 "$IP_A" >/dev/null
mac_a=$(ip -n "$NS_B" neigh show "$IP_A" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
[ -n "$mac_a" ] || { echo "FAIL: the peer learnt no MAC for $IP_A"; exit 1; }
mac_b=$(ip -n "$NS_B" link show "$IF_B" | awk '/link\/ether/ {print $2}')

in_b python3 "$here/tcp_wire.py" "$IF_B" "$mac_a" "$mac_b" "$IP_A" "${SUBNET}77"
in_b python3 "$here/tcp_gso.py" "$IF_B" "$mac_a" "$mac_b" "$IP_A" "${SUBNET}78" 400000

kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || { echo "FAIL: pinnet-httpd exited $? on SIGTERM"; exit 1; }
check_buffers "$WORK/httpd.log" pinnet-httpd

# the kernel refusing super-frames (EINVAL, as some kernels do): simulated
PIDS=()
PINNET_TEST_GSO_REFUSE=1000 start_a httpd2 "$build/tools/pinnet-httpd" --iface "$IF_A" --addr "$IP_A/24" --mac $mac --port 80 --root "$WORK/www"
wait_port "$IP_A" 80
in_b python3 "$here/tcp_gso.py" "$IF_B" "$mac_a" "$mac_b" "$IP_A" "${SUBNET}79" 400000 --refused
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || { echo "FAIL: pinnet-httpd exited $? on SIGTERM"; exit 1; }
grep -qE "offload: [0-9]+ super-frames of [0-9]+ segments, [1-9][0-9]* refused" "$WORK/httpd2.log" ||
	{ echo "FAIL: the refusal is not counted:"; grep offload "$WORK/httpd2.log"; exit 1; }
check_buffers "$WORK/httpd2.log" pinnet-httpd
