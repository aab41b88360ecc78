#!/usr/bin/env bash
# Integration: every call libpinnet-preload interposes, exercised by one
# program (tests/preload/conform.c) against a scripted kernel peer in
# $NS_B: once on kernel sockets (a second veth pair with kernel addresses),
# once under pinnet-run on the stack. The two transcripts (return values,
# errno names, poll/epoll events, bytes; addresses and ports named, not
# numbered) must be the same. Then the pinnet-only parts: the sockets that
# must stay the kernel's did, and a pinnet socket used from a second
# thread fails with EPERM, said once on stderr (the options from a
# --config file).
# Usage: test_preload_conform.sh BUILD_DIR
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "${PINNET_SANITIZE:-none}" != none ]; then
	echo "SKIP: a sanitizer build: an ASan libpinnet-preload.so cannot be preloaded into Debian's uninstrumented programs (the normal build runs this test)"
	exit 77
fi
build=$1
conform=$build/tests/preload_conform
run=$build/preload/pinnet-run
port=7700

# glibc's checked calls, as Debian's binaries import them
for f in __read_chk __recv_chk __recvfrom_chk __poll_chk; do
	nm -D --undefined-only "$conform" | grep -q "$f" ||
		{ echo "FAIL: conform does not call $f (built without _FORTIFY_SOURCE?)"; exit 1; }
done

make_pair
make_kernel_pair
ip netns exec "$NS_B" "$conform" peer $port >"$WORK/peer.log" 2>&1 &
PIDS+=($!)
wait_port "${KSUB}1" $port "$NS_A"

in_a timeout 120 "$conform" run "$KIP" "${KSUB}1" $port >"$WORK/kernel.txt" 2>"$WORK/kernel.log" ||
	{ echo "FAIL: conform on kernel sockets exited $?"; cat "$WORK/kernel.log"; exit 1; }
in_a timeout 120 "$run" --debug --iface "$IF_A" --addr "$IP_A/24" -- \
	"$conform" run "$IP_A" "$IP_B" $port >"$WORK/pinnet.txt" 2>"$WORK/pinnet.log" ||
	{ echo "FAIL: conform under pinnet-run exited $?"; cat "$WORK/pinnet.log"; exit 1; }
echo "transcripts: $(wc -l <"$WORK/kernel.txt") lines on kernel sockets, $(wc -l <"$WORK/pinnet.txt") under pinnet-run"
if ! diff -u "$WORK/kernel.txt" "$WORK/pinnet.txt" >"$WORK/diff.txt"; then
	echo "FAIL: the transcripts differ (- kernel, + pinnet):"
	cat "$WORK/diff.txt"
	exit 1
fi
grep -q "^== end" "$WORK/pinnet.txt" || { echo "FAIL: the transcript stops short"; exit 1; }

# where the sockets went: every TCP socket for the peer or the stack's
# address moved (conform counts them), the AF_UNIX, UDP, loopback and IPv6
# ones did not (a wrong placement would have changed the transcript too)
moved=$(grep -c "is pinnet socket" "$WORK/pinnet.log" || true)
want=$(sed -n 's/^network sockets: //p' "$WORK/pinnet.txt")
if grep -E "^pinnet: " "$WORK/pinnet.log" | grep -v -e "is pinnet socket" -e "stack up on"; then
	echo "FAIL: the library complained"
	exit 1
fi
echo "sockets moved to pinnet: $moved of $want network sockets"
[ "$moved" = "$want" ] || { echo "FAIL: $moved sockets moved to pinnet, want $want"; exit 1; }

# a second thread: EPERM and one line naming the cause (the stack's
# options from an INI file this time, as the tools' --config)
printf '[stack]\niface = %s\naddr = %s/24\nrx_depth = 4\nsend_budget = 1M\n[pool]\nrelease = peak\n' \
	"$IF_A" "$IP_A" >"$WORK/stack.conf"
in_a timeout 30 "$run" --config "$WORK/stack.conf" -- \
	"$conform" thread "$IP_A" "$IP_B" $port >"$WORK/thread.txt" 2>"$WORK/thread.log" ||
	{ echo "FAIL: conform thread exited $?"; cat "$WORK/thread.log"; exit 1; }
cat "$WORK/thread.txt"
grep -q "^write from a second thread: -1 EPERM" "$WORK/thread.txt" &&
	grep -q "^read from a second thread: -1 EPERM" "$WORK/thread.txt" &&
	grep -q "^close a copy from a second thread: 0" "$WORK/thread.txt" &&
	grep -q "^read from the driver: 1 'd'" "$WORK/thread.txt" ||
	{ echo "FAIL: a second thread's calls"; exit 1; }
[ "$(grep -c "drives the stack" "$WORK/thread.log")" = 1 ] ||
	{ echo "FAIL: want one line on stderr naming the cause"; cat "$WORK/thread.log"; exit 1; }
sed -n 's/^/stderr: /p' "$WORK/thread.log"
