#!/usr/bin/env bash
# Benchmark: many connections on one stack. pinnet-httpd on pinnet and
# Debian's nginx-light on kernel sockets (the second veth pair, same
# namespaces) serve a 1 KiB file. For IDLE in 0, 10000 and IDLE_MAX
# (default 100000), client processes in the peer namespace (from 8 source
# addresses; a process holds at most 20000 fds here) establish IDLE idle
# connections and hold them; then wrk -t2 -c1000 runs SECONDS, RUNS times:
# req/s and p99. nginx, one process, cannot hold more than its fd limit
# (20000): its IDLE_MAX row is left out and says so. pinnet's rounds with
# nothing idle run before and after the idle sets. Also: wrk -c10000
# with nothing idle; the time to establish each idle set; the server's RSS
# and VmPin per idle connection (VmPin read once the pool is back at its
# base, up to 20 s). One JSON object on stdout; exit 1 if a bar is missed
# (every idle connection up and, after the load, still answering a
# request; req/s with IDLE_MAX idle >= 0.9x
# with none; pinnet-httpd >= 1.0x nginx's req/s at 1000 and 10000 active;
# per idle connection 0 pinned bytes and <= 1 KiB of memory) unless
# --no-bar.
# Usage: bench_conns.sh BUILD_DIR [RUNS] [SECONDS] [--no-bar] [IDLE_MAX]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
build=$1
runs=${2:-3}
secs=${3:-5}
bar=1
[ "${4:-}" = --no-bar ] && bar=0
idle_max=${5:-100000}
for t in wrk nginx; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing (scripts/setup.sh installs wrk and nginx-light)"; exit 77; }
done

# an idle set still held when the benchmark ends (or fails) goes too
hold_pid=
trap 'rc=$?; [ -n "$hold_pid" ] && kill -TERM -- "-$hold_pid" 2>/dev/null; (exit $rc); cleanup' EXIT

make_pair
make_kernel_pair
# the idle clients' source addresses: 8 on each of the peer's ends, all
# ports (100000 connections need more than one address's ephemeral ports)
srcs_p="" srcs_k=""
for i in $(seq 11 18); do
	ip -n "$NS_B" addr add "${SUBNET}$i/24" dev "$IF_B"
	ip -n "$NS_B" addr add "${KSUB}$i/24" dev "$K_B"
	srcs_p+="${SUBNET}$i," srcs_k+="${KSUB}$i,"
done
in_b sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
in_a sysctl -qw net.core.somaxconn=65535
in_a sysctl -qw net.ipv4.tcp_max_syn_backlog=65535

www=$WORK/www
mkdir -p "$www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$www/1k"
cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 19500; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 1000000;
	keepalive_timeout 3600s;
	client_body_temp_path $WORK/nginx;
	proxy_temp_path $WORK/nginx;
	fastcgi_temp_path $WORK/nginx;
	uwsgi_temp_path $WORK/nginx;
	scgi_temp_path $WORK/nginx;
	server {
		listen $KIP:8081 backlog=65535;
		root $www;
	}
}
CONF
ulimit -n 20000
start_a pinnet "$build/tools/pinnet-httpd" --iface "$IF_A" --addr "$IP_A/24" --port 80 --root "$www"
start_a nginx nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_port "$IP_A" 80
wait_port "$KIP" 8081

cpu_s() { # utime + stime of PID, in seconds
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
status_kb() { # FIELD PID: a /proc/PID/status field, in kB
	awk -v f="$1:" '$1 == f {print $2}' "/proc/$2/status"
}

# Hold N idle connections to IP:PORT from SRCS; sets hold_pid, and
# held_up and held_s: how many came up and in how many seconds
# (hold_conns.py's "held:" line).
hold() {
	local ip=$1 port=$2 n=$3 srcs=$4 log=$WORK/hold.log
	: >"$log"
	ip netns exec "$NS_B" setsid python3 "$here/../integration/hold_conns.py" "$ip" "$port" "$n" \
		--src "$srcs" --no-echo --hold 3600 --window 500 --http-check /1k >"$log" 2>&1 &
	hold_pid=$!
	for _ in $(seq 1 3000); do
		grep -q '^held:' "$log" && break
		kill -0 "$hold_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep '^held:' "$log" >&2 || { echo "FAIL: the idle set did not come up" >&2; cat "$log" >&2; return 1; }
	read -r held_up held_s < <(sed -n 's/^held: \([0-9]*\) of [0-9]* connections up in \([0-9.]*\) s.*/\1 \2/p' "$log")
}
# Every held connection asks HEAD /1k and must get a 200 (hold_conns.py's
# SIGUSR1): sets usable to how many did
check_usable() {
	local procs=$1 log=$WORK/hold.log
	kill -USR1 -- "-$hold_pid"
	usable=0
	for _ in $(seq 1 1200); do
		[ "$(grep -c '^usable:' "$log")" -ge "$procs" ] && break
		sleep 0.1
	done
	usable=$(awk '/^usable:/ {s += $2} END {print s + 0}' "$log")
	echo "bench_conns: $usable idle connections still usable" >&2
}
unhold() {
	kill -TERM -- "-$hold_pid" 2>/dev/null || true
	wait "$hold_pid" 2>/dev/null || true
	hold_pid=
	sleep 3 # the closes go through
}

: >"$WORK/rows"
measure() { # WHO PID URL IDLE ACTIVE SRCS IP PORT
	local who=$1 pid=$2 url=$3 idle=$4 active=$5 srcs=$6 ip=$7 port=$8
	local up=0 setup=0 rss0 rss1 pin0 pin1 r res usable=0 c0 c1
	rss0=$(status_kb VmRSS "$pid")
	pin0=$(status_kb VmPin "$pid")
	if [ "$idle" -gt 0 ]; then
		hold "$ip" "$port" "$idle" "$srcs" || return 1
		up=$held_up setup=$held_s
	fi
	rss1=$(status_kb VmRSS "$pid")
	pin1=$(status_kb VmPin "$pid")
	for _ in $(seq 1 40); do # the pool gives the set-up burst back
		[ "$pin1" -le "$pin0" ] && break
		sleep 0.5
		pin1=$(status_kb VmPin "$pid")
	done
	for r in $(seq 1 "$runs"); do
		echo "bench_conns: $who, $idle idle, $active active, round $r/$runs" >&2
		c0=$(cpu_s "$pid")
		res=$(in_b wrk -t2 -c"$active" -d"${secs}s" --timeout 5s \
			-s "$here/wrk_json.lua" "$url/1k" | tail -n 1)
		c1=$(cpu_s "$pid")
		echo "$who $idle $active $up $setup $rss0 $rss1 $pin0 $pin1 $c0 $c1 $res" >>"$WORK/rows"
	done
	if [ "$idle" -gt 0 ]; then
		check_usable $(((idle + 9999) / 10000))
		echo "$who $idle $usable" >>"$WORK/usable"
		unhold
	fi
	return 0
}
for idle in 0 10000 "$idle_max"; do
	measure pinnet "${PIDS[0]}" "http://$IP_A:80" "$idle" 1000 "$srcs_p" "$IP_A" 80
	if [ "$idle" -le 15000 ]; then
		measure nginx "${PIDS[1]}" "http://$KIP:8081" "$idle" 1000 "$srcs_k" "$KIP" 8081
	fi
done
# nothing idle again, after the idle sets: the baseline's rounds come from
# before and after them (a shared VM drifts over minutes)
measure pinnet "${PIDS[0]}" "http://$IP_A:80" 0 1000 "" "$IP_A" 80
measure pinnet "${PIDS[0]}" "http://$IP_A:80" 0 10000 "" "$IP_A" 80
measure nginx "${PIDS[1]}" "http://$KIP:8081" 0 10000 "" "$KIP" 8081
for p in "${PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null || { echo "FAIL: a server died during the benchmark" >&2; exit 1; }
done
touch "$WORK/usable"
python3 "$here/conns_report.py" "$WORK/rows" "$WORK/usable" "$runs" "$secs" "$bar" "$idle_max" "$(nproc)" "$(uname -r)"
