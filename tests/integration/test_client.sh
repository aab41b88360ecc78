#!/usr/bin/env bash
# Integration: pinnet as a client. pinnet-fetch on the stack fetches 64 MiB
# from a kernel HTTP server (sha256 checked); a closed port gives
# ECONNREFUSED; two stacks in two namespaces talk to each other
# (pinnet-fetch to pinnet-httpd, no kernel TCP on either side); a peer that
# vanishes (its link down, then its interface deleted) ends the transfer
# with an error within the configured timeout, and every buffer is back.
# Usage: test_client.sh BUILD_DIR
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=$1
fetch=$build/tools/pinnet-fetch
[ -x "$fetch" ] || { echo "FAIL: $fetch missing"; exit 1; }

make_pair
head -c $((64 << 20)) /dev/urandom >"$WORK/blob"
want=$(sha256sum <"$WORK/blob" | cut -d' ' -f1)
(ip netns exec "$NS_B" python3 -m http.server --bind "$IP_B" 8080 \
	--directory "$WORK" >"$WORK/pyhttp.log" 2>&1) &
PIDS+=($!)
wait_port "$IP_B" 8080

# 1. stack client, kernel server
got=$(in_a "$fetch" --iface "$IF_A" --addr "$IP_A/24" "http://$IP_B:8080/blob" 2>"$WORK/fetch1.log" | sha256sum | cut -d' ' -f1)
cat "$WORK/fetch1.log"
[ "$got" = "$want" ] || { echo "FAIL: fetched body sha256 $got, want $want"; exit 1; }
echo "fetch from kernel server: 64 MiB intact"

# 2. a closed port: ECONNREFUSED, exit 1
set +e
in_a "$fetch" --iface "$IF_A" --addr "$IP_A/24" "http://$IP_B:8081/" >/dev/null 2>"$WORK/refused.log"
rc=$?
set -e
grep -q "Connection refused" "$WORK/refused.log" && [ $rc -eq 1 ] ||
	{ echo "FAIL: closed port gave exit $rc:"; cat "$WORK/refused.log"; exit 1; }
echo "closed port: $(grep connect "$WORK/refused.log")"

# 3. two stacks: pinnet-httpd in A, pinnet-fetch in B, no kernel address on B
in_b ip addr flush dev "$IF_B"
start_a httpd2 "$build/tools/pinnet-httpd" --iface "$IF_A" --addr "$IP_A/24" --port 80
sleep 0.5
got=$(in_b "$fetch" --iface "$IF_B" --addr "$IP_B/24" "http://$IP_A/bytes/$((64 << 20))" 2>"$WORK/fetch3.log" | sha256sum | cut -d' ' -f1)
cat "$WORK/fetch3.log"
want3=$(python3 "$here/pattern_sha256.py" $((64 << 20)))
[ "$got" = "$want3" ] || { echo "FAIL: stack-to-stack body sha256 $got, want $want3"; exit 1; }
echo "stack to stack: 64 MiB intact"
kill -TERM "${PIDS[-1]}"
wait "${PIDS[-1]}"

# 4. a peer that vanishes mid-transfer: a kernel server that streams
# slowly; its link goes down (then, in a second round, its interface is
# deleted). The fetch must fail within --timeout (+ slack) and every pool
# buffer but the armed reads must be back.
vanish() {
	local how=$1
	in_b ip addr add "$IP_B/24" dev "$IF_B" 2>/dev/null || true
	start_slow_server
	local srv=$SLOW_PID
	sleep 0.5
	local t0=$(date +%s.%N)
	(rc=0
	 in_a "$fetch" --iface "$IF_A" --addr "$IP_A/24" --timeout 3 \
		"http://$IP_B:9090/" >/dev/null 2>"$WORK/vanish-$how.log" || rc=$?
	 echo $rc >"$WORK/vanish-$how.rc") &
	local cli=$!
	sleep 1.5
	if [ "$how" = linkdown ]; then
		in_b ip link set "$IF_B" down
	else
		kill -STOP "$srv" 2>/dev/null || true
		in_b ip link del "$IF_B"
	fi
	wait $cli || true
	local t1=$(date +%s.%N)
	local took=$(python3 -c "print(round($t1 - $t0 - 1.5, 1))")
	check_vanished "$how" "$(cat "$WORK/vanish-$how.rc")" "$took" "$WORK/vanish-$how.log"
	kill -KILL "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
}
vanish linkdown
in_b ip link set "$IF_B" up
vanish deleted
