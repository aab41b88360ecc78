#!/usr/bin/env bash
# BPF suite: pinnet-bpf top/trace/leaks/hist attached with -j to the
# scripted workload (tests/bpf/workload.c), their output checked exactly;
# then the error cases: no capabilities, a wrong PID, a non-pinnet PID.
# Usage: test_bpf.sh BUILD_DIR [WORKLOAD]   (bpf_workload: static libpinnet,
#        bpf_workload_shared: libpinnet.so)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
workload=${2:-bpf_workload}
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (BPF, uprobes)"
	exit 77
fi
[ -r /sys/kernel/btf/vmlinux ] || { echo "SKIP: kernel without BTF"; exit 77; }
tool=$build/tools/pinnet-bpf
work=$(mktemp -d /tmp/pinnet-bpf.XXXXXX)
pids=()
cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	if [ $rc -ne 0 ]; then
		for f in "$work"/*.json "$work"/*.err; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
		done
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT

mkdir "$work/stats"
coproc WL { "$build/tests/$workload" "$work/stats"; }
pids+=($WL_PID)
read -r ready wpid <&"${WL[0]}"
[ "$ready" = ready ] || { echo "FAIL: workload did not start"; exit 1; }

"$tool" trace -p "$wpid" -j >"$work/trace.json" 2>"$work/trace.err" &
pids+=($!)
"$tool" leaks -p "$wpid" -o 1 -j 0.5 >"$work/leaks.json" 2>"$work/leaks.err" &
pids+=($!)
"$tool" hist -p "$wpid" -j 0.5 >"$work/hist.json" 2>"$work/hist.err" &
pids+=($!)
for f in trace leaks hist; do
	for _ in $(seq 1 100); do
		grep -q '"attached"' "$work/$f.json" 2>/dev/null && break
		sleep 0.05
	done
	grep -q '"attached"' "$work/$f.json" || { echo "FAIL: $f did not attach"; exit 1; }
done
kill -USR1 "$wpid"
# top, from the counters file, while the workload holds its buffer
sleep 0.8
"$tool" top -p "$wpid" -d "$work/stats" -j -b 0.2 3 >"$work/top.json" 2>"$work/top.err"
read -r done <&"${WL[0]}"
[ "$done" = done ] || { echo "FAIL: workload: $done"; exit 1; }
wait "$WL_PID" || { echo "FAIL: workload exited non-zero"; exit 1; }
for p in "${pids[@]:1}"; do wait "$p" || { echo "FAIL: a tool exited non-zero"; exit 1; }; done

python3 "$here/bpf_check.py" "$work"

# errors: no capabilities, a wrong PID, a process without pinnet
set +e
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	--bounding-set=-all "$tool" trace -p $$ 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "needs CAP_BPF and CAP_PERFMON" <<<"$out" ||
	{ echo "FAIL: without capabilities: exit $rc, '$out'"; exit 1; }
echo "no capabilities: $out"
set +e
out=$("$tool" trace -p 999999 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && grep -q "no process with PID 999999" <<<"$out" || { echo "FAIL: wrong PID: '$out'"; exit 1; }
echo "wrong PID: $out"
set +e
out=$("$tool" trace -p $$ 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && grep -q "does not use pinnet" <<<"$out" || { echo "FAIL: non-pinnet PID: '$out'"; exit 1; }
echo "not a pinnet process: $out"
