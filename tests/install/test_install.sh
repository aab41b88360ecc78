#!/usr/bin/env bash
# Integration: `meson install` into a scratch prefix, then build a program
# outside the source tree with nothing but the installed pinnet.pc, against
# the shared and then the static library, and run it.
# Usage: test_install.sh BUILD_DIR CONSUMER_C
set -euo pipefail
build=$1
src=$2
opt() {
	meson introspect "$build" --buildoptions |
		python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]==sys.argv[1]][0])' "$1"
}
if [ "$(opt b_sanitize)" != none ]; then
	echo "SKIP: a sanitizer build: a plain consumer cannot load an ASan libpinnet (the normal build runs this test)"
	exit 77
fi
tmp=$(mktemp -d /tmp/pinnet-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; exit 1; }
prefix=$(opt prefix)
libdir=$(opt libdir)
root=$tmp/root$prefix
case $libdir in /*) lib=$tmp/root$libdir ;; *) lib=$root/$libdir ;; esac

pc=$lib/pkgconfig/pinnet.pc
[ -f "$pc" ] || { echo "no pinnet.pc installed at $pc"; exit 1; }
for f in "$root/include/pinnet/version.h" "$root/include/pinnet/pool.h" \
	"$lib/libpinnet.so" "$lib/libpinnet.a" "$root/bin/pinnet-pool-demo" \
	"$root/share/man/man1/pinnet-pool-demo.1" "$root/bin/pinnet-httpd" \
	"$root/share/man/man1/pinnet-httpd.1" "$root/include/pinnet/stack.h" \
	"$root/share/man/man1/pinnet-perf.1"; do
	[ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done

export PKG_CONFIG_PATH=$lib/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$tmp/root
cp "$src" "$tmp/consumer.c"
cd "$tmp"
# shared
cc -o consumer consumer.c $(pkg-config --cflags --libs pinnet)
LD_LIBRARY_PATH=$lib ./consumer
# static
cc -o consumer-static consumer.c $(pkg-config --cflags pinnet) \
	"$lib/libpinnet.a" $(pkg-config --libs --static pinnet | sed 's/-lpinnet//')
./consumer-static
# only pn_ symbols are exported from the shared library
bad=$(nm -D --defined-only "$lib/libpinnet.so" | awk '$2 ~ /[TDBRW]/ {print $3}' | grep -v '^pn_' | grep -v '^PINNET_' || true)
if [ -n "$bad" ]; then
	echo "libpinnet.so exports symbols outside the API:"; echo "$bad"; exit 1
fi
echo "install test: ok"
