#!/usr/bin/env bash
# Benchmark: HTTP as users serve it. pinnet-httpd on pinnet, the same
# binary on kernel sockets (--kernel), and Debian's nginx-light on kernel
# sockets (its own config: daemon off; master_process off;
# worker_processes 1; access_log off; sendfile on), all serving the same
# files; wrk -t2 from the peer namespace: 1 KiB bodies at 100 and 1000
# connections, 64 KiB and 1 MiB at 100. pinnet owns the first veth pair
# (no kernel address on its end), the kernel servers the second, between
# the same namespaces, same run. For each: req/s, MB/s, p50/p99, wrk's
# errors, and the server's CPU seconds per GB served; medians over RUNS
# rounds, ratios against nginx. One JSON object on stdout. Exit 1 if a bar
# is missed (pinnet-httpd on pinnet >= 1.0x nginx's MB/s with 1 MiB bodies
# and >= 1.0x its req/s with 1 KiB bodies at 100 connections, p99 no worse)
# unless --no-bar.
# Usage: bench_http.sh BUILD_DIR [RUNS] [SECONDS] [--no-bar]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
build=$1
runs=5
secs=5
bar=1
# --no-bar anywhere after BUILD_DIR; then RUNS and SECONDS, in that order
n=0
for a in "${@:2}"; do
	case $a in
	--no-bar) bar=0 ;;
	'' | *[!0-9]* | 0)
		echo "bench_http: '$a' is not a count (usage: bench_http.sh BUILD_DIR [RUNS] [SECONDS] [--no-bar])" >&2
		exit 2
		;;
	*)
		n=$((n + 1))
		case $n in
		1) runs=$a ;;
		2) secs=$a ;;
		*)
			echo "bench_http: too many arguments" >&2
			exit 2
			;;
		esac
		;;
	esac
done
for t in wrk nginx; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing (scripts/setup.sh installs wrk and nginx-light)"; exit 77; }
done

make_pair
make_kernel_pair

www=$WORK/www
mkdir -p "$www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$www/1k"
head -c 65536 /dev/urandom >"$www/64k"
head -c 1048576 /dev/urandom >"$www/1m"
cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 1000000;
	client_body_temp_path $WORK/nginx;
	proxy_temp_path $WORK/nginx;
	fastcgi_temp_path $WORK/nginx;
	uwsgi_temp_path $WORK/nginx;
	scgi_temp_path $WORK/nginx;
	server {
		listen $KIP:8081;
		root $www;
	}
}
CONF
ulimit -n 20000
start_a pinnet "$build/tools/pinnet-httpd" --iface "$IF_A" --addr "$IP_A/24" --port 80 --root "$www"
start_a khttpd "$build/tools/pinnet-httpd" --kernel --port 8080 --root "$www"
start_a nginx nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_port "$IP_A" 80
wait_port "$KIP" 8080
wait_port "$KIP" 8081
pid_of() { # the server's own process (ip netns exec execs it)
	case $1 in
	pinnet) echo "${PIDS[0]}" ;;
	kernel) echo "${PIDS[1]}" ;;
	nginx) echo "${PIDS[2]}" ;;
	esac
}
url_of() {
	case $1 in
	pinnet) echo "http://$IP_A:80" ;;
	kernel) echo "http://$KIP:8080" ;;
	nginx) echo "http://$KIP:8081" ;;
	esac
}
cpu_s() { # utime + stime of PID, in seconds
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

: >"$WORK/rows"
for r in $(seq 1 "$runs"); do
	echo "bench_http: round $r/$runs" >&2
	for load in "1k 100" "1k 1000" "64k 100" "1m 100"; do
		set -- $load
		for who in pinnet kernel nginx; do
			pid=$(pid_of $who)
			c0=$(cpu_s "$pid")
			res=$(in_b wrk -t2 -c"$2" -d"${secs}s" --timeout 5s \
				-s "$here/wrk_json.lua" "$(url_of $who)/$1" | tail -n 1)
			c1=$(cpu_s "$pid")
			echo "$who $1 $2 $c0 $c1 $res" >>"$WORK/rows"
		done
	done
done
for p in "${PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null || { echo "FAIL: a server died during the benchmark" >&2; exit 1; }
done
python3 "$here/http_report.py" "$WORK/rows" "$runs" "$secs" "$bar" "$(nproc)" "$(uname -r)"
