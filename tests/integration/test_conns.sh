#!/usr/bin/env bash
# Integration: many connections on one stack. pinnet-echo holds N
# connections at once (default 20000, from several client processes in the
# peer namespace) and each still echoes. Then, with max_conns set, a SYN
# flood and connection attempts beyond the limit: the connections up to the
# limit are established and keep echoing, the others' SYNs are dropped
# (their connects time out), ping still answers, and the server counts the
# refusals.
# Usage: test_conns.sh BUILD_DIR [N]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=$1
n=${2:-20000}

make_pair
start_a echo "$build/tools/pinnet-echo" --iface "$IF_A" --addr "$IP_A/24" --port 7
wait_port "$IP_A" 7
in_b python3 "$here/hold_conns.py" "$IP_A" 7 "$n"
sleep 2 # the closes' last ACKs come in
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
echo "pinnet-echo exited 0 after $n connections"
check_buffers "$WORK/echo.log" pinnet-echo

# the limit: 201 sockets = the listener and 200 connections
cat >"$WORK/limit.conf" <<CONF
[stack]
iface = $IF_A
addr = $IP_A/24
max_conns = 201
CONF
PIDS=()
start_a limit "$build/tools/pinnet-echo" --config "$WORK/limit.conf" --port 7
wait_port "$IP_A" 7
sleep 1 # wait_port's own connection is gone
in_b ping -c 20 -i 0.2 -W 2 "$IP_A" >"$WORK/ping.log" &
ping_pid=$!
in_b python3 "$here/hold_conns.py" "$IP_A" 7 200 --procs 1 --hold 8 &
hold_pid=$!
sleep 2
in_b python3 "$here/syn_flood.py" "$IP_B" "$IP_A" 7 20000
# beyond the limit: these never come up (their SYNs are dropped)
in_b python3 "$here/hold_conns.py" "$IP_A" 7 50 --procs 1 --expect 0 --connect-timeout 3
wait "$hold_pid"
wait "$ping_pid" || { echo "FAIL: ping stopped answering at the limit"; cat "$WORK/ping.log"; exit 1; }
echo "ping at the limit: $(grep -c 'bytes from' "$WORK/ping.log") of 20 replies"
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
refused=$(sed -n 's/.*connections refused: \([0-9]*\) SYNs at max_conns.*/\1/p' "$WORK/limit.log")
[ -n "$refused" ] && [ "$refused" -gt 0 ] || { echo "FAIL: no refusal counted"; cat "$WORK/limit.log"; exit 1; }
echo "refusals counted: $refused SYNs dropped at max_conns"
check_buffers "$WORK/limit.log" pinnet-echo
