#!/usr/bin/env bash
# pinnet: run every benchmark and write a results folder: the raw JSON of
# each, CSV time series, PNG plots (gnuplot) and REPORT.md with the tables.
#
# Usage: scripts/bench-report.sh [--out DIR] [--runs N] [--skip NAME,...]
#   --out DIR    results folder (default build/report-YYYYmmdd-HHMMSS)
#   --runs N     rounds of the stack and HTTP benchmarks (default 5)
#   --skip LIST  leave out benchmarks: pool, stack, http, conns, preload,
#                memory, bpf
#   --render DIR only rebuild REPORT.md and the plots from DIR's JSON
# Needs root (namespaces, BPF). Installs what it needs (scripts/setup.sh)
# and builds build/ first. Takes about 20 minutes on 2 cores.
# Exit 0 when the report is written (missed bars are reported in it), 1
# when a benchmark failed to run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

out=
runs=5
skip=,
render_only=
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--skip) skip=,$2,; shift 2 ;;
	--render) render_only=$2; shift 2 ;;
	-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-report: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done
case $runs in '' | *[!0-9]*) echo "bench-report: --runs wants a number" >&2; exit 2 ;; esac

if [ -n "$render_only" ]; then
	exec python3 "$here/scripts/bench_render.py" "$render_only"
fi
[ "$(id -u)" -eq 0 ] || { echo "bench-report: needs root (network namespaces, BPF)" >&2; exit 1; }

bash scripts/setup.sh
build=$here/build
[ -f "$build/build.ninja" ] || meson setup "$build"
meson compile -C "$build"

out=${out:-$build/report-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "bench-report: results in $out"
failed=0
n=0
total=$(( 7 - $(tr ',' '\n' <<<"$skip" | grep -cE '^(pool|stack|http|conns|preload|memory|bpf)$' || true) ))

step() { # NAME DESCRIPTION COMMAND...
	local name=$1 what=$2
	shift 2
	if [[ $skip == *",$name,"* ]]; then
		return
	fi
	n=$((n + 1))
	local t0=$SECONDS
	echo "bench-report: [$n/$total] $what ..."
	# the benchmark's own progress (stderr) shows indented and goes to its log
	if "$@" >"$out/$name.json" 2> >(tee "$out/$name.log" | sed -u 's/^/    /' >&2); then
		echo "bench-report: [$n/$total] $name done in $((SECONDS - t0)) s"
	else
		local rc=$?
		echo "bench-report: [$n/$total] $name FAILED (exit $rc); its log: $out/$name.log" >&2
		tail -n 5 "$out/$name.log" >&2 || true
		failed=1
	fi
}

step pool "pool alloc+free against glibc malloc and a free list (~10 s)" \
	"$build/tests/bench_pool" --no-bar --quiet
step stack "pinnet against the kernel's TCP, $runs rounds (~$((runs * 35 / 60 + 1)) min)" \
	bash tests/bench/bench_stack.sh "$build" "$runs" --no-bar
step http "HTTP: pinnet-httpd on pinnet and on kernel sockets against nginx, $runs rounds (~$((runs * 70 / 60 + 1)) min)" \
	bash tests/bench/bench_http.sh "$build" "$runs" 5 --no-bar
step conns "many connections: 0, 10k and 100k idle beside 1000 and 10000 active, against nginx, $runs rounds (~$((runs * 40 / 60 + 2)) min)" \
	bash tests/bench/bench_conns.sh "$build" "$runs" 5 --no-bar
step preload "redis-server and nginx under pinnet-run against the same binaries on kernel sockets, $runs rounds (~$((runs * 35 / 60 + 1)) min)" \
	bash tests/bench/bench_preload.sh "$build" "$runs" --no-bar
step memory "pinned memory under three bursty HTTP loads, 3 pools taking turns (~11 min)" \
	bash tests/bench/bench_memory.sh "$build" "$out/memory" --no-bar
step bpf "cost of the BPF tools attached (~2 min)" \
	bash tests/bench/bench_bpf.sh "$build" --no-bar

python3 "$here/scripts/bench_render.py" "$out" || failed=1
echo "bench-report: $out/REPORT.md"
exit $failed
