# Sourced by the integration tests: a pair of network namespaces joined by a
# veth pair, made for one test and removed when it exits (also on failure).
# The stack runs in $NS_A on $IF_A (no kernel address); the kernel side is
# $NS_B with $IF_B = $IP_B. Addresses exist only inside these namespaces.
set -euo pipefail
# this folder: frames.py and the Python helpers beside it
lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (network namespaces, packet sockets)"
	exit 77
fi
for t in ip python3; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done

TAG=pn$$
NS_A=${TAG}a
NS_B=${TAG}b
IF_A=${TAG}a0
IF_B=${TAG}b0
SUBNET=${SUBNET:-10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).}
IP_A=${SUBNET}2
IP_B=${SUBNET}1
PIDS=()
WORK=$(mktemp -d /tmp/pinnet-it.XXXXXX)

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	# on failure the logs' tails, on stderr: a benchmark's stdout is its
	# JSON (bench_preload printed them after it when a bar was missed)
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$WORK"/*.log; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; } >&2
		done
	fi
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The pair, default offloads on the kernel side, IPv6 off (no ND noise).
make_pair() {
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B"
	for ns in "$NS_A" "$NS_B"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_A" link set "$IF_A" up
	ip -n "$NS_B" addr add "$IP_B/24" dev "$IF_B"
	ip -n "$NS_B" link set "$IF_B" up
}

# A second veth pair between the same namespaces, with kernel addresses on
# both ends, for a kernel baseline measured beside the stack: the stack's
# side is $KIP (on $K_A in $NS_A).
make_kernel_pair() {
	K_A=${TAG}a1
	K_B=${TAG}b1
	KSUB=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
	ip link add "$K_A" netns "$NS_A" type veth peer name "$K_B" netns "$NS_B"
	ip -n "$NS_A" addr add "${KSUB}2/24" dev "$K_A"
	ip -n "$NS_B" addr add "${KSUB}1/24" dev "$K_B"
	ip -n "$NS_A" link set "$K_A" up
	ip -n "$NS_B" link set "$K_B" up
	KIP=${KSUB}2
}

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

# Start a command in the stack's namespace in the background, logged.
start_a() {
	local name=$1
	shift
	ip netns exec "$NS_A" "$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
}

# Wait until a TCP port answers (up to ~10 s): from the kernel side, or
# from the namespace NS. The one wait for a server every test uses.
# Usage: wait_port IP PORT [NS]
wait_port() {
	local ip=$1 port=$2 ns=${3:-$NS_B}
	for _ in $(seq 1 100); do
		if ip netns exec "$ns" python3 -c "import socket,sys; s=socket.create_connection(('$ip',$port),0.2); s.close()" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "FAIL: nothing answers on $ip:$port"
	return 1
}

# At a pinnet application's exit, every pool buffer it still held must be
# one of its armed reads (the "buffers out:" line it prints): nothing leaked.
# Usage: check_buffers LOG WHAT
check_buffers() {
	python3 "$lib_dir/buffers.py" "$1" "$2"
}

# A slow kernel HTTP server on $IP_B:9090 in $NS_B (a peer to make vanish
# mid-transfer): one request, a 1 GB body at 1 KiB per 50 ms. Sets SLOW_PID.
start_slow_server() {
	ip netns exec "$NS_B" python3 "$lib_dir/slow_server.py" "$IP_B" >"$WORK/slow.log" 2>&1 &
	SLOW_PID=$!
	PIDS+=($SLOW_PID)
}

# After a peer vanished under pinnet-fetch --timeout 3: it must have exited
# 1 (RC) within 12 s (TOOK) and hold no frame buffer (its LOG).
# Usage: check_vanished WHAT RC TOOK LOG
check_vanished() {
	local what=$1 rc=$2 took=$3 log=$4
	cat "$log"
	[ "$rc" = 1 ] || { echo "FAIL: $what: pinnet-fetch exit $rc, want 1"; exit 1; }
	python3 -c "import sys; sys.exit(0 if $took <= 12 else 1)" ||
		{ echo "FAIL: $what: error after ${took} s, configured 3 s"; exit 1; }
	grep -q "buffers out: 2048 B: 0 " "$log" ||
		{ echo "FAIL: $what: frame buffers still out"; exit 1; }
	echo "peer vanished ($what): error after ${took} s, every frame buffer back"
}
