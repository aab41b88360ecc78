#!/usr/bin/env bash
# Benchmark: pinned memory under a bursty HTTP load (idle, burst, idle,
# burst, ...), on three pinnet-httpd servers with three pools: the seed's
# idle release (001 FIG. 6), the recent-peak policy, and a static pool
# sized for the peak (registered at start, never released: what other
# kernel-bypass stacks do). The three run at once on the same veth, each
# with its own address, and take turns: each server gets BURSTS bursts of
# BURST_S seconds, one every BURST_S + IDLE_S seconds, and the bursts of
# the three alternate, so slow drifts of the machine hit all three alike.
# Each server first gets one warm-up burst outside the measured window
# (its pool's first touch of its memory; the JSON reports it apart).
# The static pool's size comes from a calibration burst on a fourth,
# elastic server before the measurement (a static pool's owner sizes it
# from a measured peak too). The pools' counters and the kernel's VmPin are
# sampled every 200 ms (pinnet-bpf top -j) into a CSV per policy (seconds
# from the server's start, pinned KiB, VmPin KiB; each server's trace is
# its own idle lead then its bursts). The JSON gives time-averaged pinned
# memory as a ratio to the static pool, wrk throughput (MB/s and requests/s,
# mean over bursts), errors and failed allocations for each, and how long
# after each burst the elastic pools were back at their base.
# Bar (issue 7): time-averaged <= 0.25x static, zero errors and failed
# allocations, throughput (MB/s) within 5% of static, back at base within
# the policy period + one sample after the pool goes quiet; exit 1 if
# missed, unless --no-bar.
# Usage: bench_memory.sh BUILD_DIR [OUTDIR] [--no-bar]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
build=$1
outdir=${2:-$WORK}
bar=1
[ "${3:-}" = --no-bar ] && bar=0
command -v wrk >/dev/null || { echo "SKIP: wrk missing"; exit 77; }
mkdir -p "$outdir"
# A bursty load: short bursts of bulk downloads between longer idle spells
# (a duty cycle of 1/5), the case an elastic pool exists for. Each burst is
# wrk with 100 connections fetching 1 MiB bodies: lwIP's send queues hold
# up to 1 MiB per connection, so the pool's peak is large.
idle=${IDLE_S:-20}
burst=${BURST_S:-5}
bursts=${BURSTS:-6}
body=${BODY_BYTES:-1048576}
# the three servers' bursts take turns within each period
if [ $((burst + idle)) -lt $((3 * (burst + 1))) ]; then
	echo "bench_memory: IDLE_S=$idle is too short for three servers taking turns with BURST_S=$burst (need IDLE_S >= $((2 * burst + 3)))" >&2
	exit 2
fi

make_pair

mono() { python3 -c 'import time; print(time.monotonic())'; }
at() { python3 -c "import time; time.sleep(max(0.0, $1 - time.monotonic()))"; } # until EXPR (monotonic s)

# start pinnet-httpd NAME CONF ADDR and its sampler (pinnet-bpf top -j,
# every 200 ms, into OUTDIR/NAME.jsonl); sets $pid
mkdir -p "$WORK/stats"
start_server() {
	local name=$1 conf=$2 ip=$3
	start_a "httpd_$name" "$build/tools/pinnet-httpd" --config "$conf" \
		--iface "$IF_A" --addr "$ip/24" --port 80
	pid=${PIDS[-1]}
	wait_port "$ip" 80
	"$build/tools/pinnet-bpf" top -p "$pid" -d "$WORK/stats" -j 0.2 >"$outdir/$name.jsonl" 2>/dev/null &
	PIDS+=($!)
}
stop_server() { # PID SAMPLER_PID
	kill "$2" 2>/dev/null || true
	wait "$2" 2>/dev/null || true
	kill -TERM "$1"
	wait "$1" || echo "bench_memory: pinnet-httpd $1 exited $?" >&2
}
load() { # IP LOG -> one burst of wrk
	in_b wrk -t2 -c100 -d"${burst}s" --timeout 5s "http://$1/bytes/$body" >"$2" 2>&1
}

# the elastic pools start small: 1 MiB per class (the frame class's 512
# buffers; 8 receive buffers, 4 of them armed reads) and grow by blocks
common="[pool]
stats_dir = $WORK/stats"
classes="[class 2048]
base = 1M
block = 2M
wall = 256M
low_water = 64
[class 131072]
base = 1M
block = 4M
wall = 512M
low_water = 2"
printf '%s\nrelease = idle\nsample = 500ms\nidle = 2s\nrelease_max = all\n%s\n' "$common" "$classes" >"$WORK/idle.conf"
printf '%s\nrelease = peak\nsample = 500ms\npeak_window = 1500ms\n%s\n' "$common" "$classes" >"$WORK/peak.conf"

# calibration: one burst on a fourth server (seed policy) gives the peak
# each class reaches; the static pool is sized from it
echo "bench_memory: calibration burst (sizes the static pool)" >&2
start_server calibration "$WORK/idle.conf" "${SUBNET}5"
cal_pid=$pid
sleep 1
load "${SUBNET}5" "$WORK/calibration_wrk.log"
sleep 0.5
stop_server "$cal_pid" "${PIDS[-1]}"
python3 "$here/static_pool_conf.py" "$outdir/calibration.jsonl" "$WORK/static.conf" "$WORK/stats"

# the three servers; server k bursts at lead + k * slot + j * period
names=(idle peak static)
ips=("$IP_A" "${SUBNET}3" "${SUBNET}4")
period=$((burst + idle))
slot=$(python3 -c "print($period / 3)")
spids=() samplers=()
for k in 0 1 2; do
	start_server "${names[k]}" "$WORK/${names[k]}.conf" "${ips[k]}"
	spids+=("$pid")
	samplers+=("${PIDS[-1]}")
	: >"$outdir/${names[k]}_burst_ends"
done
# one warm-up burst each, before the measured window: the static pool
# touched (and the kernel zeroed) all its memory when it started, the
# elastic ones would otherwise pay that first touch of their peak in their
# first measured burst (6% of the server's time then: clear_page). The
# warm-up throughput is in the JSON too.
for k in 0 1 2; do
	echo "bench_memory: warm-up burst on ${names[k]}" >&2
	load "${ips[k]}" "$outdir/${names[k]}_warmup.log"
done
sleep 3
t0=$(mono)
for j in $(seq 0 $((bursts - 1))); do
	for k in 0 1 2; do
		at "$t0 + $idle + $k * $slot + $j * $period"
		echo "bench_memory: burst $((j + 1))/$bursts on ${names[k]}" >&2
		load "${ips[k]}" "$outdir/${names[k]}_wrk$((j + 1)).log"
		mono >>"$outdir/${names[k]}_burst_ends"
	done
done
# the last server's idle spell after its last burst
at "$t0 + 2 * $slot + $idle + $bursts * $period"
for k in 0 1 2; do
	stop_server "${spids[k]}" "${samplers[k]}"
done

python3 "$here/memory_report.py" "$outdir" "$idle" "$burst" "$bar" "$body" "$bursts" "$t0" "$slot"
