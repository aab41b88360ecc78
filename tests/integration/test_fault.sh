#!/usr/bin/env bash
# Integration (suite fault): 64 MiB echoed through pinnet-echo while
# pinnet-fault hurts the peer's veth both ways: 2% and 10% loss,
# reordering, duplication, corruption, truncation, delay, and all of them at
# once. Each transfer must come back with its sha256 intact, the injector
# must have done what it was asked (its counters), and every pool buffer
# but the armed reads must be back when the server exits (one server per
# case, SIGTERM, exit 0).
# Usage: test_fault.sh BUILD_DIR [CASE ...]   (default: every case)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=$1
shift
fault=$build/tools/pinnet-fault
[ -x "$fault" ] || { echo "SKIP: pinnet-fault not built (BPF tools off: no clang/bpftool/libbpf or kernel BTF)"; exit 77; }
size=${PN_FAULT_BYTES:-67108864}

# name | pinnet-fault options | counter that must be > 0
cases=(
	"loss2|--drop 2|dropped"
	"loss10|--drop 10|dropped"
	"reorder|--detour 10 --detour-rate 50mbit|detoured"
	"dup|--dup 5|duplicated"
	"corrupt|--corrupt 2|corrupted"
	"truncate|--truncate 2|truncated"
	"delay|--detour 100 --detour-rate 1gbit --detour-limit 1000000|detoured"
	"combined|--drop 2 --dup 1 --corrupt 1 --truncate 1 --detour 5 --detour-rate 100mbit|dropped"
)
want=("$@")

make_pair
# the kernel side's frames have their TCP checksums left to offload; the
# injector corrupts those in the IPv4 header (see pinnet-fault(1))

one_case() {
	local name=$1 opts=$2 counter=$3
	local t0=$(date +%s.%N)
	start_a "echo-$name" "$build/tools/pinnet-echo" --iface "$IF_A" --addr "$IP_A/24" --port 7
	local srv=${PIDS[-1]}
	wait_port "$IP_A" 7
	# shellcheck disable=SC2086
	ip netns exec "$NS_B" "$fault" $opts --interval 0 --json "$IF_B" \
		>"$WORK/fault-$name.json" 2>"$WORK/fault-$name.log" &
	local inj=$!
	PIDS+=($inj)
	for _ in $(seq 1 50); do
		grep -q "pinnet-fault: on" "$WORK/fault-$name.log" && break
		kill -0 $inj 2>/dev/null || { cat "$WORK/fault-$name.log"; echo "FAIL: $name: pinnet-fault did not start"; exit 1; }
		sleep 0.1
	done
	in_b python3 "$here/fault_transfer.py" "$IP_A" "$size" "$name"
	kill -TERM $inj
	wait $inj || { cat "$WORK/fault-$name.log"; echo "FAIL: $name: pinnet-fault exited $?"; exit 1; }
	python3 "$here/fault_counters.py" "$WORK/fault-$name.json" "$counter" "$name"
	# the device is back as it was: no qdisc, no IFB left
	if in_b tc filter show dev "$IF_B" ingress | grep -q bpf || ip -n "$NS_B" link show | grep -q pnf; then
		echo "FAIL: $name: pinnet-fault left its filter or IFB behind"; exit 1
	fi
	kill -TERM "$srv"
	wait "$srv" || { echo "FAIL: $name: pinnet-echo exited $? on SIGTERM"; exit 1; }
	check_buffers "$WORK/echo-$name.log" "$name" | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
	grep -o 'pool pinned [^,]*' "$WORK/echo-$name.log" | tail -1 | sed 's/^/  /' || true
	echo "  case $name done in $(python3 -c "import time; print(round(time.time() - $t0, 1))") s"
}

for c in "${cases[@]}"; do
	IFS='|' read -r name opts counter <<<"$c"
	if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " =~ " $name " ]]; then
		continue
	fi
	one_case "$name" "$opts" "$counter"
done

# A peer that vanishes mid-transfer with its whole namespace: a kernel
# server streams slowly to pinnet-fetch, then it is killed and its
# namespace removed (the veth pair goes with it). pinnet-fetch must fail
# within its --timeout (+ slack) and hold no frame buffer at exit. (Link
# down and interface deleted: test_client.sh.)
if [ ${#want[@]} -eq 0 ] || [[ " ${want[*]} " =~ " vanish " ]]; then
	start_slow_server
	disown "$SLOW_PID"
	sleep 0.5
	(rc=0
	 in_a "$build/tools/pinnet-fetch" --iface "$IF_A" --addr "$IP_A/24" --timeout 3 \
		"http://$IP_B:9090/" >/dev/null 2>"$WORK/vanish.log" || rc=$?
	 echo $rc >"$WORK/vanish.rc") &
	cli=$!
	sleep 1.5
	t0=$(date +%s.%N)
	for p in $(ip netns pids "$NS_B"); do kill -KILL "$p" 2>/dev/null || true; done
	ip netns del "$NS_B"
	wait $cli || true
	took=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
	check_vanished "namespace removed" "$(cat "$WORK/vanish.rc")" "$took" "$WORK/vanish.log"
fi
echo "fault: every case intact"
