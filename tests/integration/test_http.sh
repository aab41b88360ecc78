#!/usr/bin/env bash
# Integration: pinnet-httpd over a veth pair, kernel peer at default
# offloads. curl fetches a 256 MiB body (sha256 checked against the
# generator); wrk runs 10 s with 100 connections and must see no errors;
# the pool grows under the load (VmPin, the kernel's count) and is back at
# its base level within the release settings after it; pinnet-bpf top
# shows the downloads as connections sending, with what they queue and
# pin; SIGTERM exits 0.
# Usage: test_http.sh BUILD_DIR [packet|tap]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=$1
backend=${2:-packet}
for tool in curl wrk sha256sum; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done

cat >"$WORK/stack.conf" <<CONF
[stack]
backend = $backend
[pool]
release = peak
sample = 250ms
peak_window = 1s
stats_dir = $WORK/stats
CONF
# files to serve (read into the server's buffer, sent with one copy)
mkdir -p "$WORK/www"
head -c $((24 << 20)) /dev/urandom >"$WORK/www/big.bin"
head -c 100000 /dev/urandom >"$WORK/www/small.bin"

if [ "$backend" = tap ]; then
	# the TAP device lives in the stack's namespace; the kernel side is
	# its peer address on the same device, reached from the same namespace
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	in_a sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	in_a ip link set lo up
	start_a httpd "$build/tools/pinnet-httpd" --config "$WORK/stack.conf" \
		--iface "$IF_A" --addr "$IP_A/24" --port 80 --root "$WORK/www"
	for _ in $(seq 1 50); do
		in_a ip link show "$IF_A" >/dev/null 2>&1 && break
		sleep 0.1
	done
	in_a ip addr add "$IP_B/24" dev "$IF_A"
	in_a ip link set "$IF_A" up
	client() { in_a "$@"; }
	client_ns=$NS_A
else
	make_pair
	start_a httpd "$build/tools/pinnet-httpd" --config "$WORK/stack.conf" \
		--iface "$IF_A" --addr "$IP_A/24" --port 80 --root "$WORK/www"
	client() { in_b "$@"; }
	client_ns=$NS_B
fi
pid=${PIDS[0]}
vmpin() { awk '/^VmPin/ {print $2}' "/proc/$pid/status"; }

wait_port "$IP_A" 80 "$client_ns"

# 256 MiB, checked byte for byte against the generator (i % 251)
want=$(python3 "$here/pattern_sha256.py" $((256 << 20)))
got=$(client curl -sS --fail --max-time 120 "http://$IP_A/bytes/$((256 << 20))" | sha256sum | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
	echo "FAIL: 256 MiB body sha256 $got, want $want"
	exit 1
fi
echo "curl: 256 MiB body intact (sha256 $want)"
# files: one of 24 MiB, and a small one five times on one connection
for f in big small; do
	want=$(sha256sum <"$WORK/www/$f.bin" | cut -d' ' -f1)
	got=$(client curl -sS --fail --max-time 60 "http://$IP_A/$f.bin" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || { echo "FAIL: file $f.bin sha256 $got, want $want"; exit 1; }
done
n=$(client curl -sS --fail --max-time 30 $(for i in 1 2 3 4 5; do echo "http://$IP_A/small.bin"; done) | wc -c)
[ "$n" -eq 500000 ] || { echo "FAIL: 5 x small.bin on one connection gave $n bytes"; exit 1; }
echo "curl: files intact (24 MiB, 5 x 100 kB on one connection)"
# 1 KiB responses on one keep-alive connection, each far under a client's
# 40 ms delayed-ACK time (head and body leave together)
client python3 "$here/keepalive_rtt.py" "$IP_A" 1024 50 20
[ "$backend" = tap ] && { kill -TERM "$pid"; wait "$pid"; echo "tap backend ok"; exit 0; }

# settle, then the base level before the load
sleep 2
base=$(vmpin)
echo "VmPin before load: ${base} kB"

peak=$base
( client wrk -t2 -c100 -d10s --timeout 5s "http://$IP_A/bytes/16384" >"$WORK/wrk.log" 2>&1 ) &
wrkpid=$!
while kill -0 $wrkpid 2>/dev/null; do
	v=$(vmpin)
	[ "$v" -gt "$peak" ] && peak=$v
	sleep 0.2
done
wait $wrkpid
cat "$WORK/wrk.log"
if grep -qE "Socket errors|Non-2xx" "$WORK/wrk.log"; then
	echo "FAIL: wrk saw errors"
	exit 1
fi
reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.log")
[ "${reqs:-0}" -gt 1000 ] || { echo "FAIL: only ${reqs:-0} requests"; exit 1; }
echo "VmPin peak under load: ${peak} kB"
[ "$peak" -gt "$base" ] || { echo "FAIL: the pool did not grow under load"; exit 1; }

# back to base within the window + a few samples
for i in $(seq 1 40); do
	[ "$(vmpin)" -le "$base" ] && break
	sleep 0.1
done
after=$(vmpin)
echo "VmPin after load: ${after} kB (after $((i * 100)) ms)"
[ "$after" -le "$base" ] || { echo "FAIL: pinned memory did not come back to ${base} kB"; exit 1; }

# clients that vanish mid-response: wrk stops after 3 s with 100 x 1 MiB
# bodies in flight (their connections reset; lwIP's segments run out on
# the way). The server must go on serving (a pending response on a reset
# socket once made it spin without running the stack).
( client wrk -t2 -c100 -d3s --timeout 5s "http://$IP_A/bytes/1048576" >"$WORK/wrk-big.log" 2>&1 || true ) &
wrkpid=$!
# meanwhile: the connections by class, as an operator sees them
sleep 1.5
"$build/tools/pinnet-bpf" top -p "$pid" -d "$WORK/stats" -j 1 1 >"$WORK/top.json" 2>"$WORK/top.err" || { cat "$WORK/top.err"; echo "FAIL: pinnet-bpf top"; exit 1; }
wait $wrkpid
python3 - "$WORK/top.json" <<'PY' || exit 1
import json, sys
d = json.loads(open(sys.argv[1]).readline())
c = {k["class"]: k for k in d.get("connections", [])}
want = ["opening-closing", "peer-window", "sending", "unread", "idle"]
if list(c) != want:
    sys.exit(f"FAIL: pinnet-bpf top's connection classes {list(c)}, want {want}")
s = c["sending"]
total = sum(k["conns"] for k in c.values())
print(f"top: {total} connections, {s['conns']} sending: {s['tx_queued'] >> 10} KiB queued, "
      f"{s['tx_inflight'] >> 10} KiB in flight, {s['pinned_bytes'] >> 10} KiB pinned")
if total < 50 or s["conns"] < 10 or s["tx_queued"] <= 0 or s["pinned_bytes"] < s["tx_unsent"]:
    sys.exit("FAIL: 100 downloads should show as connections sending, holding pool memory")
if s["pinned_bytes"] > d["pinned_bytes"]:
    sys.exit("FAIL: the connections hold more than the pool pins")
f = d.get("frames")
if not f:
    sys.exit("FAIL: pinnet-bpf top shows no frame counters")
print(f"top: frames {f['rx']} read, {f['tx']} written ({f['tx_pure_acks']} only an ACK) "
      f"in {f['tx_writes']} writes, {f['submits']} submissions")
if f["rx"] <= 0 or f["tx"] <= 0 or not 0 <= f["tx_pure_acks"] <= f["tx"] or f["tx_writes"] <= 0:
    sys.exit("FAIL: frame counters do not add up")
PY
grep -E "requests in" "$WORK/wrk-big.log" || { cat "$WORK/wrk-big.log"; echo "FAIL: wrk with 1 MiB bodies did not run"; exit 1; }
code=$(client curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$IP_A/bytes/1" || true)
[ "$code" = 200 ] || { echo "FAIL: no answer after clients reset mid-response (got '$code')"; exit 1; }
echo "served again after 100 clients reset mid-response"

kill -TERM "$pid"
wait "$pid"
echo "pinnet-httpd exited 0 on SIGTERM"
grep pinnet "$WORK/httpd.log" || true
# receive buffers posted by need: more under 100 clients than the 4 at
# rest, and given back while the server idled (the back-to-base wait)
python3 - "$WORK/httpd.log" <<'PY' || exit 1
import re, sys
m = re.search(r"receive buffers: (\d+) posted now, (\d+) at most; ran short (\d+) times; given back (\d+) times", open(sys.argv[1]).read())
if not m:
    sys.exit("FAIL: no 'receive buffers:' line in pinnet-httpd's log")
now, most, short, back = map(int, m.groups())
if most <= 4 or short == 0 or back == 0:
    sys.exit(f"FAIL: receive buffers: {most} posted at most, short {short} times, given back {back} times: "
             "want more than 4 under load, then given back")
print(f"receive buffers by need: up to {most} posted under load, given back {back} times while idle")
PY
