#!/usr/bin/env bash
# Benchmark: unmodified programs under pinnet-run (libpinnet-preload.so)
# against the same binaries on kernel sockets, same run (issue 16).
# Debian's redis-server: redis-benchmark -t set,get -n 100000 -c 50, with
# and without -P 16 (rps and p99 from its --csv; with -P 16, -n 1600000:
# 100000 requests took 50-60 ms there, rates came in steps of 2% (whole
# milliseconds) and the start of the connections weighed in). Debian's nginx-light
# (daemon off; master_process off; worker_processes 1; access_log off;
# sendfile on): wrk -t2, 1 KiB bodies at 100 connections (req/s, p99) and
# 1 MiB bodies at 10 (MB/s). pinnet's stacks own two veth pairs (no kernel
# address on their ends: one for redis, one for nginx, so both servers stay
# up and the rounds interleave), the kernel servers a third pair, all
# between the same two namespaces; the clients run in the peer namespace.
# Each round measures every load on pinnet, then on the kernel; medians over
# RUNS rounds, ratios pinnet/kernel, and each server's CPU microseconds per
# request (less noisy than rates on a shared machine). One JSON object on
# stdout, progress on stderr. Exit 1 if a bar is missed (redis SET and GET
# rps >= 1.0x, with and without -P 16; nginx 1 KiB req/s >= 1.0x; nginx
# 1 MiB MB/s >= 1.0x; no errors) unless --no-bar.
# With PRELOAD_BENCH_OTHER=BUILD2 a third side, "other", runs the same loads
# under BUILD2's pinnet-run (an A/B of two builds in the same run, each with
# its own pairs), reported beside pinnet with its ratios to the kernel.
# PRELOAD_BENCH_NOPUSH=1 adds tcp_nopush on to both nginx configurations
# (Debian's nginx.conf has it: nginx corks and uncorks every response).
# Usage: bench_preload.sh BUILD_DIR [RUNS] [--no-bar]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
if [ "${PINNET_SANITIZE:-none}" != none ]; then
	echo "SKIP: a sanitizer build: an ASan libpinnet-preload.so cannot be preloaded into Debian's uninstrumented programs"
	exit 77
fi
build=$1
runs=${2:-3}
bar=1
for a in "${@:2}"; do
	[ "$a" = --no-bar ] && bar=0
done
case $runs in '' | *[!0-9]* | 0) runs=3 ;; esac
run=$build/preload/pinnet-run
secs=${PRELOAD_BENCH_SECONDS:-5} # each wrk measurement

for t in redis-server redis-benchmark nginx wrk; do
	command -v "$t" >/dev/null ||
		{ echo "SKIP: $t missing (scripts/setup.sh installs redis-server, redis-tools, nginx-light and wrk)"; exit 77; }
done
[ -x "$run" ] || { echo "FAIL: $run not built" >&2; exit 1; }

make_pair
make_kernel_pair
# more pairs for pinnet, no kernel address on the stack's end: two stacks
# cannot share an address, so nginx's stack (and the other build's redis
# and nginx) each get one. Usage: stack_pair N (sets SIF_N and SIP_N)
stack_pair() {
	local a=${TAG}a$((1 + $1)) b=${TAG}b$((1 + $1))
	local sub
	while :; do # not one of the subnets already there
		sub=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
		ip -n "$NS_B" route | grep -q "^${sub}0/24" || break
	done
	ip link add "$a" netns "$NS_A" type veth peer name "$b" netns "$NS_B"
	ip -n "$NS_A" link set "$a" up
	ip -n "$NS_B" addr add "${sub}1/24" dev "$b"
	ip -n "$NS_B" link set "$b" up
	printf -v "SIF_$1" %s "$a"
	printf -v "SIP_$1" %s "${sub}2"
}
stack_pair 1
other=${PRELOAD_BENCH_OTHER:-}
sides="pinnet kernel"
if [ -n "$other" ]; then
	[ -x "$other/preload/pinnet-run" ] || { echo "FAIL: $other/preload/pinnet-run not built" >&2; exit 1; }
	stack_pair 2
	stack_pair 3
	sides="pinnet other kernel"
fi

www=$WORK/www
mkdir -p "$www" "$WORK/pn" "$WORK/k"
head -c 1024 /dev/urandom >"$www/1k"
head -c 1048576 /dev/urandom >"$www/1m"
nopush=
[ "${PRELOAD_BENCH_NOPUSH:-0}" = 1 ] && nopush="tcp_nopush on;"
# Usage: nginx_conf DIR LISTEN
nginx_conf() {
	cat >"$1/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	$nopush
	keepalive_requests 1000000;
	client_body_temp_path $1;
	proxy_temp_path $1;
	fastcgi_temp_path $1;
	uwsgi_temp_path $1;
	scgi_temp_path $1;
	server {
		listen $2;
		root $www;
	}
}
CONF
}
mkdir -p "$WORK/o"
nginx_conf "$WORK/pn" "$SIP_1:80"
nginx_conf "$WORK/k" "$KIP:8081"
redis_args=(--save "" --appendonly no --daemonize no --protected-mode no --dir "$WORK")
ulimit -n 20000

declare -A pid addr
# Usage: serve WHO NAME ADDR COMMAND... (ip netns exec and pinnet-run exec
# the server: its pid is the one start_a saw)
serve() {
	local who=$1 what=$2 where=$3
	shift 3
	start_a "${what}_$who" "$@"
	pid[${what}_$who]=${PIDS[-1]}
	addr[${what}_$who]=$where
}
serve pinnet redis "$IP_A 6379" "$run" --iface "$IF_A" --addr "$IP_A/24" -- \
	redis-server "${redis_args[@]}" --bind "$IP_A" --port 6379
serve kernel redis "$KIP 6380" redis-server "${redis_args[@]}" --bind "$KIP" --port 6380
serve pinnet nginx "http://$SIP_1:80" "$run" --iface "$SIF_1" --addr "$SIP_1/24" -- \
	nginx -c "$WORK/pn/nginx.conf" -p "$WORK/pn"
serve kernel nginx "http://$KIP:8081" nginx -c "$WORK/k/nginx.conf" -p "$WORK/k"
if [ -n "$other" ]; then
	nginx_conf "$WORK/o" "$SIP_3:80"
	serve other redis "$SIP_2 6379" "$other/preload/pinnet-run" --iface "$SIF_2" --addr "$SIP_2/24" -- \
		redis-server "${redis_args[@]}" --bind "$SIP_2" --port 6379
	serve other nginx "http://$SIP_3:80" "$other/preload/pinnet-run" --iface "$SIF_3" --addr "$SIP_3/24" -- \
		nginx -c "$WORK/o/nginx.conf" -p "$WORK/o"
fi
for k in "${!addr[@]}"; do
	a=${addr[$k]#http://}
	a=${a/:/ }
	# shellcheck disable=SC2086
	wait_port $a
done
cpu_s() { # utime + stime of PID, in seconds
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# Rows: "redis WHO PIPELINE ROUND CPU0 CPU1 CSVFILE" and
# "nginx WHO BODY CONNS ROUND CPU0 CPU1 {wrk json}".
: >"$WORK/rows"
for r in $(seq 1 "$runs"); do
	echo "bench_preload: round $r/$runs" >&2
	for p in 1 16; do
		for who in $sides; do
			# shellcheck disable=SC2086 # "ADDR PORT"
			set -- ${addr[redis_$who]}
			csv=$WORK/redis_${who}_p${p}_$r.csv
			c0=$(cpu_s "${pid[redis_$who]}")
			if ! in_b timeout 120 redis-benchmark -h "$1" -p "$2" -t set,get \
				-n $((100000 * p)) -c 50 -P "$p" --csv >"$csv" 2>"$csv.err"; then
				echo "FAIL: redis-benchmark against redis on $who: $(head -c 300 "$csv.err")" >&2
				exit 1
			fi
			c1=$(cpu_s "${pid[redis_$who]}")
			echo "redis $who $p $r $c0 $c1 $csv" >>"$WORK/rows"
			echo "  redis -P $p on $who: $(tail -n +2 "$csv" | cut -d, -f1,2 | tr -d '"' | tr '\n' ' ')" >&2
		done
	done
	for load in "1k 100" "1m 10"; do
		# shellcheck disable=SC2086 # "BODY CONNS"
		set -- $load
		for who in $sides; do
			c0=$(cpu_s "${pid[nginx_$who]}")
			res=$(in_b wrk -t2 -c"$2" -d"${secs}s" --timeout 5s \
				-s "$here/wrk_json.lua" "${addr[nginx_$who]}/$1" | tail -n 1)
			c1=$(cpu_s "${pid[nginx_$who]}")
			echo "nginx $who $1 $2 $r $c0 $c1 $res" >>"$WORK/rows"
			echo "  nginx $1 at $2 connections on $who: $res" >&2
		done
	done
done
for k in "${!pid[@]}"; do
	kill -0 "${pid[$k]}" 2>/dev/null || { echo "FAIL: $k died during the benchmark" >&2; exit 1; }
done
if grep -E "^pinnet: " "$WORK"/redis_pinnet.log "$WORK"/nginx_pinnet.log "$WORK"/pn/error.log \
	"$WORK"/redis_other.log "$WORK"/nginx_other.log "$WORK"/o/error.log 2>/dev/null >&2; then
	echo "FAIL: the library complained" >&2
	exit 1
fi
python3 "$here/preload_report.py" "$WORK/rows" "$runs" "$secs" "$bar" "$(nproc)" "$(uname -r)" \
	"$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)" "$(nginx -v 2>&1 | sed 's/.*nginx\///')" \
	"${nopush:+, tcp_nopush on}"
