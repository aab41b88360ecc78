#!/usr/bin/env bash
# Integration: Debian's nginx (nginx-light), unchanged, on the stack under
# pinnet-run in $NS_A, daemon off, sendfile on and tcp_nopush on as Debian
# ships them; kernel clients in $NS_B. Twice: in one process
# (master_process off), then as a master with one worker (master_process
# on: the master opens the listener on its stack and hands it to the
# worker at fork; the worker makes its own stack). Each: curl of a 32 MiB
# file checked by sha256, wrk 10 s of 1 KiB responses and 3 s of 1 MiB
# ones with no error. With a master: a worker killed (SIGKILL) is replaced
# and the new one serves, and so does the one a reload (SIGHUP) makes.
# Usage: test_preload_nginx.sh BUILD_DIR
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "${PINNET_SANITIZE:-none}" != none ]; then
	echo "SKIP: a sanitizer build: an ASan libpinnet-preload.so cannot be preloaded into Debian's uninstrumented programs (the normal build runs this test)"
	exit 77
fi
build=$1
run=$build/preload/pinnet-run

for t in nginx wrk curl sha256sum pgrep; do
	command -v "$t" >/dev/null ||
		{ echo "SKIP: $t missing (scripts/setup.sh installs nginx-light, wrk, curl)"; exit 77; }
done
[ -x "$run" ] || { echo "FAIL: $run not built"; exit 1; }

make_pair
# whatever a failed check leaves running in the stack's namespace (an
# nginx worker outlives a killed master) goes before the namespace does
trap 'rc=$?; for p in $(ip netns pids "$NS_A" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; (exit $rc); cleanup' EXIT
# the worker runs as nobody: the files must be readable to it
chmod 755 "$WORK"
mkdir -p "$WORK/www" "$WORK/tmp"
head -c $((32 << 20)) /dev/urandom >"$WORK/www/big"
head -c 1048576 /dev/urandom >"$WORK/www/mib"
head -c 1024 /dev/urandom >"$WORK/www/kib"
want=$(sha256sum <"$WORK/www/big")

# wrk: requests done, no socket error (connect, read, write, timeout), no
# non-2xx answer
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

# One 1 KiB answer, within 5 s. Usage: answers WHAT
answers() {
	local code
	code=$(in_b curl -sS --max-time 5 -o "$WORK/one" -w "%{http_code}" "http://$IP_A/kib") || true
	[ "$code" = 200 ] && cmp -s "$WORK/one" "$WORK/www/kib" ||
		{ echo "FAIL: $1: no answer (HTTP '$code')"; exit 1; }
}

# nginx's one worker, once it is not OLD (up to 5 s).
# Usage: worker_of MASTER [OLD]
worker_of() {
	local w=
	for _ in $(seq 1 50); do
		w=$(pgrep -P "$1" | tr '\n' ' ')
		w=${w% }
		if [ -n "$w" ] && [ "$w" != "${2:-}" ] && [[ $w != *" "* ]]; then
			echo "$w"
			return 0
		fi
		sleep 0.1
	done
	echo "FAIL: nginx's worker: '${w:-none}' (old: ${2:-none})" >&2
	return 1
}

# Usage: serve off|on (master_process)
serve() {
	local mode=$1 w w2 rc got
	cat >"$WORK/nginx_$mode.conf" <<EOF
daemon off;
master_process $mode;
worker_processes 1;
error_log $WORK/error_$mode.log notice;
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
	start_a "nginx_$mode" "$run" --iface "$IF_A" --addr "$IP_A/24" -- \
		nginx -c "$WORK/nginx_$mode.conf"
	NGINX_PID=${PIDS[-1]}
	wait_port "$IP_A" 80
	echo "$(nginx -v 2>&1) up on pinnet at $IP_A, master_process $mode"

	in_b curl -sS --max-time 60 -o "$WORK/got" "http://$IP_A/big"
	got=$(sha256sum <"$WORK/got")
	rm -f "$WORK/got"
	[ "$want" = "$got" ] || { echo "FAIL: the 32 MiB file differs"; exit 1; }
	echo "curl: 32 MiB, sha256 ${got%% *}"
	load "kib_$mode" 10s 100 kib
	load "mib_$mode" 3s 10 mib

	if [ "$mode" = on ]; then
		# a worker that dies is replaced, and the new one makes the
		# stack again (the dead one's claim on it went with it)
		w=$(worker_of "$NGINX_PID")
		PIDS+=("$w")
		kill -KILL "$w"
		w2=$(worker_of "$NGINX_PID" "$w")
		PIDS+=("$w2")
		answers "the worker that replaced a killed one"
		echo "worker $w killed (SIGKILL): worker $w2 serves"
		# a reload: the new worker waits for the old one to go
		kill -HUP "$NGINX_PID"
		w=$(worker_of "$NGINX_PID" "$w2")
		PIDS+=("$w")
		answers "the worker after a reload"
		echo "reload (SIGHUP): worker $w serves"
	fi

	# (a worker's stderr is nginx's error log)
	if grep -E "^pinnet: " "$WORK/nginx_$mode.log" "$WORK/error_$mode.log"; then
		echo "FAIL: the library complained"
		exit 1
	fi
	# the alert about the worker killed on purpose is expected
	if grep -E "\[(alert|crit|emerg)\]" "$WORK/error_$mode.log" |
		grep -v "exited on signal 9"; then
		echo "FAIL: nginx's error log"
		exit 1
	fi
	kill -QUIT "$NGINX_PID"
	rc=0
	wait "$NGINX_PID" || rc=$?
	[ $rc = 0 ] || { echo "FAIL: nginx exited $rc on SIGQUIT"; exit 1; }
	for _ in $(seq 1 50); do
		[ -z "$(ip netns pids "$NS_A")" ] && break
		sleep 0.1
	done
	[ -z "$(ip netns pids "$NS_A")" ] ||
		{ echo "FAIL: still running after nginx's exit: $(ip netns pids "$NS_A" | tr '\n' ' ')"; exit 1; }
	echo "nginx (master_process $mode) exited 0 on SIGQUIT"
}

serve off
serve on
