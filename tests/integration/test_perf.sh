#!/usr/bin/env bash
# Integration: Debian's iperf3 client against pinnet-perf over a veth pair
# (kernel peer at default offloads), results parsed from -J: forward (bytes
# equal on both sides), -P 4, -n 64M, -C cubic, -C bbr, and -R (we send:
# the client received what we sent, less what was still in flight when the
# test ended); then Debian's sockperf ping-pong and under-load --tcp against
# pinnet-perf's sockperf server: no message lost, duplicated or reordered;
# 3000 sockperf connections at once, each answered (sockperf_conns.py);
# finally pinnet-perf's client mode against a real iperf3 -s. With --kernel as the second argument the same tests run
# against the same program on kernel sockets (in the peer's namespace).
# Usage: test_perf.sh BUILD_DIR [--kernel]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=$1
mode=${2:-pinnet}
for t in iperf3 sockperf; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done

make_pair
if [ "$mode" = --kernel ]; then
	# the server on kernel sockets: in its own namespace, on the other end
	in_a ip addr add "$IP_A/24" dev "$IF_A"
	start_a perf "$build/tools/pinnet-perf" --kernel
else
	start_a perf "$build/tools/pinnet-perf" -s --iface "$IF_A" --addr "$IP_A/24" # -s as iperf3 users type it
fi
wait_port "$IP_A" 5201

run() {
	local name=$1
	shift
	in_b iperf3 -c "$IP_A" -J "$@" >"$WORK/$name.json" 2>&1 || true
	python3 "$here/iperf3_result.py" "$WORK/$name.json" "$name"
}
run forward -t 2
run parallel4 -t 2 -P 4
run bytes64M -n 64M
run cubic -t 2 -C cubic
run bbr -t 2 -C bbr
run reverse -t 2 -R
run reverse_p4 -t 2 -R -P 4

sp() {
	local name=$1
	shift
	in_b sockperf "$@" --tcp -i "$IP_A" -p 11111 -t 3 -m 64 >"$WORK/$name.log" 2>&1 || true
	grep -q "# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0" "$WORK/$name.log" ||
		{ echo "FAIL: sockperf $name:"; cat "$WORK/$name.log"; exit 1; }
	echo "sockperf $name: $(grep -o 'Summary: Latency is [0-9.]* usec' "$WORK/$name.log"), none lost, duplicated or reordered"
}
sp ping_pong ping-pong
sp under_load under-load --mps=10000
in_b python3 "$here/sockperf_conns.py" "$IP_A" 11111 3000 || exit 1

kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
echo "pinnet-perf ($mode) exited 0 on SIGTERM"

# client mode against a real iperf3 -s on the kernel side
(ip netns exec "$NS_B" iperf3 -s -B "$IP_B" >"$WORK/iperf3s.log" 2>&1) &
PIDS+=($!)
# wait for it to listen without connecting: a probe connection would be
# taken as a test by iperf3 -s and make the next client wait
for _ in $(seq 1 50); do
	in_b ss -ltn | grep -q "$IP_B:5201 " && break
	sleep 0.1
done
cl() {
	local name=$1 stack=(--iface "$IF_A" --addr "$IP_A/24")
	shift
	[ "$mode" = --kernel ] && stack=(--kernel)
	in_a "$build/tools/pinnet-perf" "${stack[@]}" --client "$IP_B" --json "$@" \
		>"$WORK/$name.json" 2>"$WORK/$name.err" || { echo "FAIL: client $name:"; cat "$WORK/$name.err"; exit 1; }
	python3 "$here/client_result.py" "$WORK/$name.json" "$name"
}
cl client_forward --time 2
cl client_reverse_p2 -t 2 -R -P 2 # iperf3's short flags
