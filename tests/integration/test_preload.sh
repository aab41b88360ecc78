#!/usr/bin/env bash
# Integration: Debian's redis-server, unchanged, on the stack under
# pinnet-run (libpinnet-preload.so) in $NS_A; kernel clients in $NS_B.
# redis-benchmark (8 commands, 100000 requests, 50 clients, then pipelined
# 16 deep) with no error, and redis-cli round trips of values from 1 byte
# to 1 MiB, checked byte for byte; BGSAVE's forked child saves while the
# parent serves on. Then SHUTDOWN: redis exits 0 and the library's exit
# closes the stack. Starting errors: a wrong interface, no privileges: one
# line naming the cause, then the calls fail as the kernel's would (no
# hang); pinnet-run's own checks exit 2. The waits' busy poll
# (preload_busy_poll.py): on the CPU when asked for, not with 0. With --bench the same benchmark runs
# against the same redis-server on kernel sockets over a second veth pair
# between the namespaces, and both figures are printed as JSON.
# Usage: test_preload.sh BUILD_DIR [--bench]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "${PINNET_SANITIZE:-none}" != none ]; then
	echo "SKIP: a sanitizer build: an ASan libpinnet-preload.so cannot be preloaded into Debian's uninstrumented programs (the normal build runs this test)"
	exit 77
fi
build=$1
bench=${2:-}
run=$build/preload/pinnet-run

for t in redis-server redis-benchmark redis-cli; do
	command -v "$t" >/dev/null ||
		{ echo "SKIP: $t missing (Debian's redis-server and redis-tools; scripts/setup.sh installs them)"; exit 77; }
done
[ -x "$run" ] || { echo "FAIL: $run not built"; exit 1; }

redis_args=(--save "" --appendonly no --daemonize no --protected-mode no --dir "$WORK")
tests=set,get,incr,lpush,rpop,sadd,hset,lrange_100

make_pair
start_a redis "$run" --iface "$IF_A" --addr "$IP_A/24" -- \
	redis-server "${redis_args[@]}" --bind "$IP_A" --port 6379
REDIS_PID=${PIDS[-1]}
wait_port "$IP_A" 6379
grep -q "Ready to accept connections" "$WORK/redis.log" ||
	{ sleep 0.5; grep -q "Ready to accept connections" "$WORK/redis.log"; } ||
	{ echo "FAIL: redis-server not ready"; exit 1; }
echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*') up on pinnet at $IP_A"

# redis-benchmark: every command's requests done, none an error. --csv
# gives one row per command; errors go to stderr or stop it short.
# Usage: benchmark HOST PORT NAME [ARGS...]
benchmark() {
	local host=$1 port=$2 name=$3
	shift 3
	if ! in_b timeout 300 redis-benchmark -h "$host" -p "$port" -t "$tests" \
		-n 100000 -c 50 --csv "$@" >"$WORK/$name.csv" 2>"$WORK/$name.err"; then
		echo "FAIL: redis-benchmark $name exited non-zero"
		cat "$WORK/$name.err"
		exit 1
	fi
	python3 - "$WORK/$name.csv" "$WORK/$name.err" "$name" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
err = open(sys.argv[2]).read()
want = ["SET", "GET", "INCR", "LPUSH", "RPOP", "SADD", "HSET", "LRANGE_100"]
got = {r[0].split(" ")[0]: r for r in rows[1:]}
bad = [w for w in want if w not in got or float(got[w][1]) <= 0]
if bad or "rror" in err:
    print("FAIL: redis-benchmark %s: missing %s; stderr: %s" % (sys.argv[3], bad, err.strip()[:500]))
    sys.exit(1)
print("redis-benchmark %s: %s" % (sys.argv[3], ", ".join(
    "%s %.0f rps (p99 %s ms)" % (w, float(got[w][1]), got[w][6]) for w in want)))
EOF
}
benchmark "$IP_A" 6379 pinnet
benchmark "$IP_A" 6379 pinnet_p16 -P 16

# round trips: values of 1 B .. 1 MiB of random bytes (NULs, CR and LF
# among them), SET from stdin, GET raw, compared byte for byte
for size in 1 2 15 16 100 1000 1460 1461 4096 65535 65536 65537 100000 262144 1048575 1048576; do
	head -c "$size" /dev/urandom >"$WORK/v$size"
	r=$(in_b redis-cli -h "$IP_A" -x set "k$size" <"$WORK/v$size")
	[ "$r" = OK ] || { echo "FAIL: SET of $size bytes: $r"; exit 1; }
	n=$(in_b redis-cli -h "$IP_A" strlen "k$size")
	[ "$n" = "$size" ] || { echo "FAIL: STRLEN of a $size-byte value: $n"; exit 1; }
	# --raw prints the value and a newline
	in_b redis-cli -h "$IP_A" --raw get "k$size" >"$WORK/g$size"
	head -c "$size" "$WORK/g$size" | cmp -s - "$WORK/v$size" &&
		[ "$(stat -c %s "$WORK/g$size")" = $((size + 1)) ] ||
		{ echo "FAIL: GET of a $size-byte value differs"; exit 1; }
done
echo "redis-cli: 16 values from 1 B to 1 MiB set and read back byte for byte"

# a fork()ed child (BGSAVE) closes its copies of the parent's pinnet
# sockets and writes the file, never touching the stack
r=$(in_b redis-cli -h "$IP_A" bgsave)
case $r in *started*) ;; *) echo "FAIL: BGSAVE: $r"; exit 1 ;; esac
for _ in $(seq 1 50); do
	in_b redis-cli -h "$IP_A" info persistence | grep -q "rdb_bgsave_in_progress:0" && break
	sleep 0.1
done
in_b redis-cli -h "$IP_A" info persistence | grep -q "rdb_last_bgsave_status:ok" &&
	[ -s "$WORK/dump.rdb" ] || { echo "FAIL: BGSAVE did not complete"; exit 1; }
[ "$(in_b redis-cli -h "$IP_A" strlen k1048576)" = 1048576 ] ||
	{ echo "FAIL: the parent no longer serves after BGSAVE"; exit 1; }
echo "BGSAVE: the forked child saved $(stat -c %s "$WORK/dump.rdb") bytes, the parent serves on"

# pinnet said nothing went wrong (EPERM from a thread, a failed start)
if grep -E "^pinnet: " "$WORK/redis.log"; then
	echo "FAIL: the library complained"
	exit 1
fi

in_b redis-cli -h "$IP_A" shutdown nosave >/dev/null 2>&1 || true
for _ in $(seq 1 50); do
	kill -0 "$REDIS_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$REDIS_PID" 2>/dev/null; then
	echo "FAIL: redis-server still running 5 s after SHUTDOWN"
	exit 1
fi
rc=0
wait "$REDIS_PID" || rc=$?
[ "$rc" = 0 ] || { echo "FAIL: redis-server exited $rc after SHUTDOWN"; exit 1; }
echo "redis-server exited 0 after SHUTDOWN (the stack closed at exit)"

# a server that daemonizes before it opens its sockets: the child, forked
# before there was a stack, makes its own
in_a "$run" --iface "$IF_A" --addr "$IP_A/24" -- redis-server "${redis_args[@]}" \
	--daemonize yes --pidfile "$WORK/daemon.pid" --logfile "$WORK/daemon.log" \
	--bind "$IP_A" --port 6379
wait_port "$IP_A" 6379
PIDS+=("$(cat "$WORK/daemon.pid")")
[ "$(in_b redis-cli -h "$IP_A" ping)" = PONG ] || { echo "FAIL: the daemonized redis-server"; exit 1; }
in_b redis-cli -h "$IP_A" shutdown nosave >/dev/null 2>&1 || true
echo "redis-server --daemonize yes: the daemon made its own stack and answered"

# fork: a process whose only pinnet socket is a listener hands it to its
# child (which makes its own stack); the parent cannot take it back while
# the child lives, can once it died; a child of a parent with a connection
# gets EPERM on the inherited sockets (preload_fork.py says each step)
get_answer() { # Usage: get_answer WANT: the first answer that starts so
	in_b python3 - "$IP_A" 7001 "$1" <<'EOF'
import socket, sys, time
ip, port, want = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
end = time.time() + 20
while time.time() < end:
    try:
        c = socket.create_connection((ip, port), 1)
        c.settimeout(10)
        data = b""
        while True:
            d = c.recv(100)
            if not d:
                break
            data += d
        c.close()
        if data.startswith(want):
            print(data.decode().strip().replace("\n", " | "))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
}
start_a fork "$run" --iface "$IF_A" --addr "$IP_A/24" -- \
	python3 "$here/preload_fork.py" "$IP_A" 7001 "$WORK/go"
FORK_PID=${PIDS[-1]}
a1=$(get_answer child) || { echo "FAIL: fork: the child did not answer"; exit 1; }
touch "$WORK/go"
a2=$(get_answer parent) || { echo "FAIL: fork: the parent did not answer"; exit 1; }
rc=0
wait "$FORK_PID" || rc=$?
cat "$WORK/fork.log"
[ $rc = 0 ] && [ "$a2" = "parent | after fork: ok" ] ||
	{ echo "FAIL: fork: exit $rc, the parent said '$a2'"; exit 1; }
# the child names itself once it made its stack, before that the parent
# says whose turn it is: which one depends on who runs first after fork
grep -qE "^pinnet: process [0-9]* needs the stack .*, but (the child it handed its listeners to|process [0-9]* of this program) drives it" "$WORK/fork.log" &&
	grep -q "^pinnet: process [0-9]*, a fork()ed child, used a pinnet socket of its parent, which kept its stack" "$WORK/fork.log" ||
	{ echo "FAIL: fork: the library did not say why the calls failed"; exit 1; }
echo "fork: the child answered '$a1', then the parent '$a2'"

# errors at start: one line naming the cause, then the kernel's errno
lib=$build/preload/libpinnet-preload.so
py=/usr/bin/python3
probe="import socket
for what, addr in (('bind', ('$IP_A', 80)), ('connect', ('$IP_B', 80))):
    s = socket.socket()
    try:
        s.bind(addr) if what == 'bind' else s.connect(addr)
        print(what, 'ok')
    except OSError as e:
        print(what, e.errno)"
if [ -x $py ]; then
	in_a env LD_PRELOAD="$lib" PINNET_IFACE=nosuch0 PINNET_ADDR="$IP_A/24" \
		timeout 10 $py -c "$probe" >"$WORK/noif.out" 2>"$WORK/noif.err"
	[ "$(cat "$WORK/noif.out")" = "$(printf 'bind 99\nconnect 101')" ] &&
		[ "$(grep -c "cannot start the stack on nosuch0 .*no interface nosuch0" "$WORK/noif.err")" = 1 ] ||
		{ echo "FAIL: a wrong interface:"; cat "$WORK/noif.out" "$WORK/noif.err"; exit 1; }
	echo "a wrong interface: $(cat "$WORK/noif.err"); bind EADDRNOTAVAIL, connect ENETUNREACH"
	in_a env LD_PRELOAD="$lib" PINNET_IFACE="$IF_A" PINNET_ADDR="$IP_A/24" \
		timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		$py -c "$probe" >"$WORK/nopriv.out" 2>"$WORK/nopriv.err"
	grep -q "^bind \(99\|13\)$" "$WORK/nopriv.out" &&
		[ "$(grep -c "cannot start the stack on $IF_A" "$WORK/nopriv.err")" = 1 ] ||
		{ echo "FAIL: no privileges:"; cat "$WORK/nopriv.out" "$WORK/nopriv.err"; exit 1; }
	echo "no privileges: $(cat "$WORK/nopriv.err")"
fi
rc=0
in_a env LD_PRELOAD="$lib" PINNET_IFACE=nosuch0 PINNET_ADDR="$IP_A/24" \
	timeout 10 redis-server "${redis_args[@]}" --bind "$IP_A" --port 6379 >"$WORK/noif.log" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "Cannot assign requested address" "$WORK/noif.log" ||
	{ echo "FAIL: redis-server on a wrong interface: exit $rc"; cat "$WORK/noif.log"; exit 1; }
echo "redis-server on a wrong interface: exit 1 at once, 'Cannot assign requested address'"
for args in "-i nosuch0 -a $IP_A/24" "-i $IF_A -a $IP_A/33" "-i $IF_A" "-i $IF_A -a $IP_A/24 --busy-poll 1000001"; do
	rc=0
	# shellcheck disable=SC2086
	in_a "$run" $args -- true 2>"$WORK/run.err" || rc=$?
	[ $rc = 2 ] || { echo "FAIL: pinnet-run $args: exit $rc, want 2"; exit 1; }
	echo "pinnet-run $args: exit 2, $(cat "$WORK/run.err")"
done

# a wait's busy poll: spent on the CPU up to the wait's timeout when asked
# for, not at all with 0; a kernel descriptor answered while it polls
for mode in spin sleep; do
	us=1000000
	[ $mode = sleep ] && us=0
	in_a env LD_PRELOAD="$lib" PINNET_IFACE="$IF_A" PINNET_ADDR="$IP_A/24" PINNET_BUSY_POLL=$us \
		timeout 20 python3 "$here/preload_busy_poll.py" "$IP_A" $mode ||
		{ echo "FAIL: busy poll ($mode)"; exit 1; }
done

if [ "$bench" = --bench ]; then
	# the same binary on kernel sockets, a second veth pair, same run
	make_kernel_pair
	start_a redisk redis-server "${redis_args[@]}" --bind "$KIP" --port 6380
	start_a redisp "$run" --iface "$IF_A" --addr "$IP_A/24" -- \
		redis-server "${redis_args[@]}" --bind "$IP_A" --port 6379
	wait_port "$KIP" 6380
	wait_port "$IP_A" 6379
	for round in 1 2 3; do
		for side in pinnet kernel; do
			host=$IP_A port=6379
			[ $side = kernel ] && host=$KIP port=6380
			benchmark "$host" "$port" "${side}_$round"
			benchmark "$host" "$port" "${side}_p16_$round" -P 16
		done
	done
	python3 - "$WORK" <<'EOF'
import csv, json, statistics, sys
w = sys.argv[1]
out = {}
for side in ("pinnet", "kernel"):
    for p in ("", "_p16"):
        for cmd in ("SET", "GET"):
            rps, p99 = [], []
            for r in (1, 2, 3):
                rows = list(csv.reader(open("%s/%s%s_%d.csv" % (w, side, p, r))))
                row = {x[0]: x for x in rows[1:]}[cmd]
                rps.append(float(row[1]))
                p99.append(float(row[6]))
            out["%s%s_%s" % (side, p, cmd.lower())] = {
                "rps_median": statistics.median(rps), "rps": rps,
                "p99_ms_median": statistics.median(p99)}
for p in ("", "_p16"):
    for cmd in ("set", "get"):
        out["ratio%s_%s" % (p, cmd)] = round(
            out["pinnet%s_%s" % (p, cmd)]["rps_median"] /
            out["kernel%s_%s" % (p, cmd)]["rps_median"], 3)
print(json.dumps(out, indent=1))
EOF
fi
