#!/usr/bin/env bash
# Benchmark: pinnet against the kernel's TCP, same application code
# (pinnet-perf, and pinnet-perf --kernel), same run, default offloads on the
# peer. Two veth pairs join the same two namespaces: pinnet owns the first
# (no kernel address on its end), the kernel baseline uses the second. For
# each of RUNS rounds, both are measured back to back:
#   bulk receive (iperf3 -c, the client sends) with CUBIC and with BBR,
#   bulk send (iperf3 -R), 64-byte request/response (sockperf ping-pong
#   --tcp: rate, p50, p99, p99.9), connections per second (connect+close;
#   four clients at once, and one alone).
# Prints one JSON object with medians, ratios, pinnet's per-frame costs
# when receiving (frames/s, bytes/frame, ACK frames per MiB) and per MiB
# sent (writes, super-frames, ring submissions, ACKs received, bytes
# copied per byte). Exit 1 if a bar is missed (send >= 1.0x the kernel,
# receive >= 1.2x with each congestion control, request/response >= 1.5x)
# unless --no-bar.
# Usage: bench_stack.sh BUILD_DIR [RUNS] [--no-bar]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
build=$1
runs=${2:-5}
bar=1
[ "${3:-}" = --no-bar ] && bar=0
for t in iperf3 sockperf; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
secs=3

make_pair
# connections per second leave ~7k TIME_WAIT sockets per second on the
# client side; past ~14k (half the ephemeral ports) the client's connect()
# slowed to ~200/s against either server, so every round after the first
# measured the client. Reusing TIME_WAIT ports (timestamps are on at both
# servers) keeps it out of the way.
in_b sysctl -qw net.ipv4.tcp_tw_reuse=1
# the second pair, for the kernel baseline
make_kernel_pair

start_a pinnet "$build/tools/pinnet-perf" --iface "$IF_A" --addr "$IP_A/24"
start_a kernel "$build/tools/pinnet-perf" --kernel
wait_port "$IP_A" 5201
wait_port "$KIP" 5201

iperf() { # IP ARGS... -> MB/s received
	in_b iperf3 -c "$1" -t $secs -J "${@:2}" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["end"]["sum_received"]["bits_per_second"]/8e6 if "end" in d and "sum_received" in d["end"] else 0)'
}
rr() { # IP -> "rate p50 p99 p999"
	in_b sockperf ping-pong --tcp -i "$1" -p 11111 -t $secs -m 64 2>&1 | python3 "$here/sockperf_rr.py"
}
cps() { # IP CLIENTS -> connections per second (connect + close, 2 s),
	# CLIENTS processes at once. One client measures the round trip of a
	# handshake more than the server; four keep the server busy.
	in_b python3 "$here/connect_rate.py" "$1" "$2"
}

: >"$WORK/rows"
for r in $(seq 1 "$runs"); do
	echo "bench_stack: round $r/$runs" >&2
	for who in pinnet kernel; do
		ip=$IP_A
		[ $who = kernel ] && ip=$KIP
		echo "$who cubic $(iperf "$ip" -C cubic)" >>"$WORK/rows"
		echo "$who bbr $(iperf "$ip" -C bbr)" >>"$WORK/rows"
		echo "$who send $(iperf "$ip" -R)" >>"$WORK/rows"
		echo "$who rr $(rr "$ip")" >>"$WORK/rows"
		echo "$who cps $(cps "$ip" 4)" >>"$WORK/rows"
		echo "$who cps1 $(cps "$ip" 1)" >>"$WORK/rows"
	done
done

python3 "$here/stack_report.py" "$WORK/rows" "$WORK/pinnet.log" "$runs" "$bar" "$(nproc)" "$(uname -r)"
