#!/usr/bin/env bash
# Integration: Debian's nginx (nginx-light), unchanged, on the stack under
# pinnet-run in $NS_A, one process (daemon off, master_process off), with
# sendfile on and tcp_nopush on as Debian ships them; kernel clients in
# $NS_B. curl of a 32 MiB file checked by sha256, wrk 10 s of 1 KiB
# responses and 3 s of 1 MiB ones with no error. (master_process on needs
# a stack per forked worker: a later step.)
# Usage: test_preload_nginx.sh BUILD_DIR
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "${PINNET_SANITIZE:-none}" != none ]; then
	echo "SKIP: a sanitizer build: an ASan libpinnet-preload.so cannot be preloaded into Debian's uninstrumented programs (the normal build runs this test)"
	exit 77
fi
build=$1
run=$build/preload/pinnet-run

for t in nginx wrk curl sha256sum; do
	command -v "$t" >/dev/null ||
		{ echo "SKIP: $t missing (scripts/setup.sh installs nginx-light, wrk, curl)"; exit 77; }
done
[ -x "$run" ] || { echo "FAIL: $run not built"; exit 1; }

make_pair
mkdir -p "$WORK/www" "$WORK/tmp"
head -c $((32 << 20)) /dev/urandom >"$WORK/www/big"
head -c 1048576 /dev/urandom >"$WORK/www/mib"
head -c 1024 /dev/urandom >"$WORK/www/kib"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
error_log $WORK/error.log notice;
pid $WORK/nginx.pid;
events { worker_connections 1024; }
http {
	sendfile on;
	tcp_nopush on;
	access_log off;
	client_body_temp_path $WORK/tmp;
	proxy_temp_path $WORK/tmp;
	fastcgi_temp_path $WORK/tmp;
	uwsgi_temp_path $WORK/tmp;
	scgi_temp_path $WORK/tmp;
	server {
		listen $IP_A:80;
		root $WORK/www;
	}
}
EOF
start_a nginx "$run" --iface "$IF_A" --addr "$IP_A/24" -- nginx -c "$WORK/nginx.conf"
NGINX_PID=${PIDS[-1]}
wait_port "$IP_A" 80
echo "$(nginx -v 2>&1) up on pinnet at $IP_A"

in_b curl -sS --max-time 60 -o "$WORK/got" "http://$IP_A/big"
want=$(sha256sum <"$WORK/www/big")
got=$(sha256sum <"$WORK/got")
[ "$want" = "$got" ] || { echo "FAIL: the 32 MiB file differs"; exit 1; }
echo "curl: 32 MiB, sha256 ${got%% *}"

# wrk: requests done, no socket error, no non-2xx answer
# Usage: load NAME DURATION CONNS PATH
load() {
	in_b wrk -t2 -c"$3" -d"$2" --timeout 5s "http://$IP_A/$4" >"$WORK/$1.wrk"
	if grep -qE "Socket errors|Non-2xx" "$WORK/$1.wrk"; then
		echo "FAIL: wrk $1:"
		cat "$WORK/$1.wrk"
		exit 1
	fi
	echo "wrk $1: $(grep -E '^ +[0-9]+ requests in' "$WORK/$1.wrk" | sed 's/^ *//'), $(grep Requests/sec "$WORK/$1.wrk" | tr -s ' '), $(grep Transfer/sec "$WORK/$1.wrk" | tr -s ' ')"
}
load kib 10s 100 kib
load mib 3s 10 mib

if grep -E "^pinnet: " "$WORK/nginx.log"; then
	echo "FAIL: the library complained"
	exit 1
fi
if grep -E "\[(alert|crit|emerg)\]" "$WORK/error.log"; then
	echo "FAIL: nginx's error log"
	exit 1
fi
kill -QUIT "$NGINX_PID"
rc=0
wait "$NGINX_PID" || rc=$?
[ $rc = 0 ] || { echo "FAIL: nginx exited $rc on SIGQUIT"; exit 1; }
echo "nginx exited 0 on SIGQUIT"
