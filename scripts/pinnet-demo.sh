#!/usr/bin/env bash
# pinnet's demo: two network namespaces joined by a veth pair, pinnet-httpd
# on the stack in one, bursts of load from a real client (wrk) in the
# other; the pool's pinned memory is shown live (from its counters, as
# pinnet-bpf top reads them, next to the kernel's VmPin), growing in each
# burst and given back after it. A summary closes it. About two minutes.
# Everything it creates is removed at the end, also on Ctrl-C.
# Usage: pinnet-demo.sh BUILD_DIR [--short]
set -euo pipefail
build=${1:?usage: pinnet-demo.sh BUILD_DIR [--short]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scale=1
[ "${2:-}" = --short ] && scale=0.25
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (namespaces, packet socket, pinned memory)" >&2; exit 1; }

tag=pndemo$$
nsa=${tag}s
nsb=${tag}c
ifa=${tag}s0
ifb=${tag}c0
ipa=10.213.7.2
ipb=10.213.7.1
work=$(mktemp -d /tmp/pinnet-demo.XXXXXX)
httpd=
cleanup() {
	[ -n "$httpd" ] && kill -TERM "$httpd" 2>/dev/null && wait "$httpd" 2>/dev/null
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM

ip netns add "$nsa"
ip netns add "$nsb"
ip link add "$ifa" netns "$nsa" type veth peer name "$ifb" netns "$nsb"
for ns in "$nsa" "$nsb"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$nsa" link set "$ifa" up
ip -n "$nsb" addr add "$ipb/24" dev "$ifb"
ip -n "$nsb" link set "$ifb" up

ip netns exec "$nsa" "$build/tools/pinnet-httpd" --config "$here/configs/demo.conf" \
	--iface "$ifa" --addr "$ipa/24" >"$work/httpd.log" 2>&1 &
httpd=$!
for _ in $(seq 1 100); do
	ip netns exec "$nsb" curl -s -o /dev/null "http://$ipa/bytes/1" && break
	sleep 0.1
done

echo "pinnet demo: pinnet-httpd (PID $httpd) on the user-space stack at $ipa; wrk drives bursts"
echo "of 100 connections fetching 1 MiB; the pool gives memory back when a burst ends."
echo
printf '%6s  %-6s %10s %10s %9s %6s %9s\n' time phase "pinned" "VmPin" "in use" grows releases

# one line per second from the counters file, as `pinnet-bpf top -j` reads it
watch_pool() {
	local phase=$1 secs=$2 t0=$3
	local end=$(python3 -c "import time; print(time.monotonic() + $secs)")
	while python3 -c "import time,sys; sys.exit(time.monotonic() >= $end)"; do
		"$build/tools/pinnet-bpf" top -p "$httpd" -j 1 1 2>/dev/null | python3 -c "
import json, sys, time
for l in sys.stdin:
    d = json.loads(l)
    c = d['classes']
    inuse = sum(x['in_use'] for x in c)
    grows = sum(x['grows'] for x in c)
    rel = sum(x['releases_idle'] + x['releases_peak'] + x['releases_api'] + x['releases_underuse'] + x['releases_pressure'] for x in c)
    print('%5.0fs  %-6s %8.1fMi %8.1fMi %9d %6d %9d' % (time.monotonic() - $t0, '$phase',
          d['pinned_bytes'] / 1048576, d['vmpin_kb'] / 1024, inuse, grows, rel))
" || true
		sleep 0.9
	done
}

burst=$(python3 -c "print(int(20 * $scale) or 5)")
rest=$(python3 -c "print(int(25 * $scale) or 6)")
t0=$(python3 -c "import time; print(time.monotonic())")
total=0
for round in 1 2; do
	watch_pool idle "$rest" "$t0"
	ip netns exec "$nsb" wrk -t2 -c100 -d"${burst}s" --timeout 5s \
		"http://$ipa/bytes/1048576" >"$work/wrk$round.log" 2>&1 &
	wrk=$!
	watch_pool burst "$burst" "$t0"
	wait $wrk || true
	reqs=$(awk '/requests in/ {print $1}' "$work/wrk$round.log")
	rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk$round.log")
	errs=$(grep -E "Socket errors|Non-2xx" "$work/wrk$round.log" || true)
	echo "        burst $round: ${reqs:-0} requests, ${rps:-0} req/s${errs:+, $errs}"
	total=$((total + ${reqs:-0}))
	# wrk's failures: socket errors (connect, read, write, timeout) and
	# responses other than 2xx/3xx, each counted as an error
	for k in connect read write timeout; do
		v=$(sed -nE "s/.*Socket errors:.* $k ([0-9]+).*/\1/p" "$work/wrk$round.log")
		eval "wrk_$k=\$((\${wrk_$k:-0} + ${v:-0}))"
	done
	v=$(sed -nE 's/.*Non-2xx or 3xx responses: ([0-9]+).*/\1/p' "$work/wrk$round.log")
	wrk_non2xx=$((${wrk_non2xx:-0} + ${v:-0}))
done
watch_pool idle "$rest" "$t0"

# the summary, from the counters and the kernel
"$build/tools/pinnet-bpf" top -p "$httpd" -j 1 1 >"$work/final.json" 2>/dev/null || true
kill -TERM "$httpd"
wait "$httpd" || true
httpd=
python3 - "$work/final.json" "$total" "${wrk_connect:-0}" "${wrk_read:-0}" \
	"${wrk_write:-0}" "${wrk_timeout:-0}" "${wrk_non2xx:-0}" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
c = d["classes"]
rel = {r: sum(x["releases_" + r] for x in c) for r in ("idle", "peak", "api", "underuse", "pressure")}
conn, rd, wr, to, non2xx = (int(x) for x in sys.argv[3:8])
refused = sum(x["refusals"] for x in c)
errors = conn + rd + wr + to + non2xx + refused
print()
print("summary")
print(f"  requests served      {sys.argv[2]}")
print(f"  errors               {errors} (wrk: connect {conn}, read {rd}, write {wr}, timeout {to}, "
      f"non-2xx {non2xx}; pool: {refused} refused allocations)")
print(f"  pinned peak / final  {d['pinned_high'] / 1048576:.1f} MiB / {d['pinned_bytes'] / 1048576:.1f} MiB (kernel VmPin {d['vmpin_kb'] / 1024:.1f} MiB)")
print(f"  grows                {sum(x['grows'] for x in c)}")
print("  releases             " + ", ".join(f"{k} {v}" for k, v in rel.items() if v))
PY
grep "pinnet-httpd:" "$work/httpd.log" | tail -1
