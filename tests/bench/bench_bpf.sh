#!/usr/bin/env bash
# Benchmark: the cost of pinnet-bpf attached, same run, same process.
#  1. alloc+free pairs per second of a running pool, in windows: nothing
#     attached, top, trace, leaks, hist, nothing again (after detach);
#  2. the probes compiled in but not attached against a build without them
#     (bench_pool vs bench_pool_noprobes, ns per pair);
#  3. bulk receive throughput of pinnet-perf (iperf3 -c, 3 s, CUBIC sender,
#     over a veth pair) with nothing and with trace attached, alternating
#     (median of 4 each).
# Prints one JSON object; exit 1 if top/trace cost more than 3% or idle
# probes more than 3% (this machine's noise floor), unless --no-bar.
# Usage: bench_bpf.sh BUILD_DIR [--no-bar]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
bar=1
[ "${2:-}" = --no-bar ] && bar=0
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
pbpf=$build/tools/pinnet-bpf
work=$(mktemp -d /tmp/pinnet-bbpf.XXXXXX)
tpid=
cleanup() { [ -n "$tpid" ] && kill "$tpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

phase=4 # seconds each tool stays attached
mono() { python3 -c 'import time; print(time.monotonic())'; }
echo "bench_bpf: alloc+free rate: nothing, top, trace, leaks, hist, nothing" >&2
"$build/tests/bench_bpf_target" 90 250 >"$work/rate.json" &
tpid=$!
for _ in $(seq 1 50); do grep -q ready "$work/rate.json" && break; sleep 0.05; done
pid=$(python3 -c "import json; print(json.loads(open('$work/rate.json').readline())['pid'])")
: >"$work/phases"
# one phase: start the tool, note when it is attached and when it goes
run_phase() {
	local name=$1
	shift
	if [ "$name" = none ]; then
		echo "$name $(mono) $(python3 -c "import time; print(time.monotonic() + $phase)")" >>"$work/phases"
		sleep $phase
		return
	fi
	"$@" >"$work/$name.out" 2>&1 &
	local p=$!
	if [ "$name" = top ]; then
		sleep 0.3
	else
		for _ in $(seq 1 200); do grep -q '"attached"' "$work/$name.out" && break; sleep 0.05; done
	fi
	local t0=$(mono)
	sleep $phase
	echo "$name $t0 $(mono)" >>"$work/phases"
	kill -INT $p 2>/dev/null || true
	wait $p || true
}
# short phases, the tool's alternating with nothing attached, so each
# attached phase is compared with its neighbours (the machine drifts)
phase=2
for round in 1 2 3; do
	run_phase none
	run_phase top "$pbpf" top -p "$pid" -j 0.1
	run_phase none
	run_phase trace "$pbpf" trace -p "$pid" -j
done
run_phase none
run_phase leaks "$pbpf" leaks -p "$pid" -j 1
run_phase none
run_phase hist "$pbpf" hist -p "$pid" -j 1
run_phase none
kill "$tpid"; wait "$tpid" || true; tpid=

echo "bench_bpf: probes compiled in but idle vs compiled out (alternating runs)" >&2
for i in $(seq 1 9); do
	"$build/tests/bench_pool" --quiet --no-bar --no-callgrind --no-policies --repeats 3 --ops 1000000 >"$work/on$i.json"
	"$build/tests/bench_pool_noprobes" --quiet --no-bar --no-callgrind --no-policies --repeats 3 --ops 1000000 >"$work/off$i.json"
done

echo "bench_bpf: pinnet-perf bulk (iperf3 -c) with and without trace" >&2
SUBNET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
. "$here/../integration/lib.sh"
make_pair
start_a perf "$build/tools/pinnet-perf" --iface "$IF_A" --addr "$IP_A/24"
ppid=${PIDS[0]}
wait_port "$IP_A" 5201
bulk() {
	in_b iperf3 -c "$IP_A" -t 3 -C cubic -J |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8)'
}
# alternate: nothing attached, then trace attached, four times
: >"$work/bulk_none"
: >"$work/bulk_trace"
for i in 1 2 3 4; do
	bulk >>"$work/bulk_none"
	"$pbpf" trace -p "$ppid" -j >"$work/trace_perf.out" 2>"$work/trace_perf.err" &
	trpid=$!
	for _ in $(seq 1 200); do grep -q '"attached"' "$work/trace_perf.out" && break; sleep 0.05; done
	bulk >>"$work/bulk_trace"
	kill -INT $trpid 2>/dev/null || { echo "trace on pinnet-perf ended early:"; cat "$work/trace_perf.err"; exit 1; }
	wait $trpid || true
done

python3 "$here/bpf_report.py" "$work" "$bar"
