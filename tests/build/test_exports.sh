#!/usr/bin/env bash
# The library's exports against the public headers, and how the tools link.
#  - every function declared in include/pinnet/*.h is exported by
#    libpinnet.so, once, and nothing else is (the version node aside);
#  - the stack is in the library once (one tcp_input, one pn_recv), not
#    once per stack;
#  - libpinnet.a defines each public function once;
#  - each tool links libpinnet.so and carries no copy of it.
# Usage: test_exports.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
for t in nm readelf cc; do
	command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
lib=$build/libpinnet.so
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# functions the headers declare: after the preprocessor (no comments, no
# macros), every pn_ name followed by an opening parenthesis
declared=$(for h in "$src"/include/pinnet/*.h; do
	cc -E -P -D_GNU_SOURCE -I"$src/include" "$h"
done | grep -oE '\bpn_[a-z0-9_]+[[:space:]]*\(' | tr -d ' (' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' |
	sed 's/@.*//' | sort)
others=$(nm -D --defined-only "$lib" | awk '$2 != "T" && $2 != "A" {print $3}')

[ -n "$declared" ] || bad "no declarations found in include/pinnet"
dups=$(uniq -d <<<"$exported")
[ -z "$dups" ] || bad "exported more than once: $dups"
missing=$(comm -23 <(echo "$declared") <(uniq <<<"$exported"))
[ -z "$missing" ] || bad "declared in a public header but not exported:" $missing
extra=$(comm -13 <(echo "$declared") <(uniq <<<"$exported"))
[ -z "$extra" ] || bad "exported but declared in no public header:" $extra
[ -z "$others" ] || bad "exported data or other symbols:" $others
nonpn=$(grep -v '^pn_' <<<"$exported" || true)
[ -z "$nonpn" ] || bad "exported without the pn_ prefix:" $nonpn

for sym in tcp_input tcp_output pn_recv pn_stack_create; do
	n=$(nm "$lib" | awk -v s="$sym" '$3 == s' | wc -l)
	[ "$n" -eq 1 ] || bad "$sym is in libpinnet.so $n times, want once"
done
arch=$build/libpinnet.a
dupdefs=$(nm --defined-only "$arch" 2>/dev/null | awk '$2 == "T" && $3 ~ /^pn_/ {print $3}' | sort | uniq -d)
[ -z "$dupdefs" ] || bad "libpinnet.a defines more than once:" $dupdefs

ntools=0
for t in "$build"/tools/pinnet-*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	readelf -h "$t" >/dev/null 2>&1 || continue
	needed=$(readelf -d "$t" | awk '/NEEDED/ && /libpinnet\.so/')
	copies=$(nm --defined-only "$t" 2>/dev/null | awk '$2 == "T" && $3 ~ /^pn_/' | wc -l)
	if [ -n "$needed" ]; then
		ntools=$((ntools + 1))
		[ "$copies" -eq 0 ] ||
			bad "${t##*/} carries $copies pn_* functions of its own besides libpinnet.so"
	elif [ "$copies" -gt 0 ]; then
		bad "${t##*/} carries its own copy of libpinnet ($copies pn_* functions) instead of linking libpinnet.so"
	fi
done
# and the link lines themselves: a tool linked with libpinnet.so needs no
# libpinnet.a beside it (its members were never used)
both=$(grep -E '^build tools/pinnet-[a-z-]+: ' "$build/build.ninja" |
	grep 'libpinnet\.a' | sed -E 's/^build (tools\/[^:]+):.*/\1/' || true)
[ -z "$both" ] || bad "linked with libpinnet.a as well as libpinnet.so:" $both

n=$(wc -l <<<"$declared")
size=$(stat -c %s "$(readlink -f "$lib")")
if [ $fail -eq 0 ]; then
	echo "exports: $n public functions, each exported once, nothing else; one stack in ${size} bytes; $ntools tools link libpinnet.so alone"
fi
exit $fail
