#!/usr/bin/env bash
# Build pinnet's libFuzzer harnesses with clang (ASan + UBSan) and run each
# for a bounded time from its corpus (tests/fuzz/corpus/NAME). Fails on any
# finding; the crashing input is kept in build-fuzz/ and named.
# Usage: scripts/fuzz.sh [SECONDS_EACH]   (default 60; as root: the pool
#        harness registers pinned memory)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
lwip=third_party/lwip-2.1.3-pinnet/src
bash scripts/setup.sh >/dev/null # lwIP with pinnet's patches, up to date
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-D_GNU_SOURCE -std=gnu11 -Iinclude -Ipool)
lwip_src=($lwip/core/{def,inet_chksum,init,ip,mem,memp,netif,pbuf,raw,state,stats,sys,tcp,tcp_in,tcp_out,timeouts,udp}.c
	$lwip/core/ipv4/{autoip,dhcp,etharp,icmp,igmp,ip4,ip4_addr,ip4_frag}.c $lwip/netif/ethernet.c)
pool_src=(pool/pool.c pool/blocks.c pool/stats.c pool/config.c pool/probes.c pool/version.c)

echo "fuzz: building" >&2
clang "${cflags[@]}" -o "$out/fuzz_pool" tests/fuzz/fuzz_pool.c "${pool_src[@]}" -luring -linih -lpthread
clang "${cflags[@]}" -o "$out/fuzz_config" tests/fuzz/fuzz_config.c "${pool_src[@]}" -luring -linih -lpthread
# lwIP with every UBSan check (patch 0001 fixed the one it found)
clang "${cflags[@]}" -w -Istack -Istack/port -Itests/common -Iconfigs -I$lwip/include -o "$out/fuzz_frame" \
	tests/fuzz/fuzz_frame.c stack/tcp_ext.c stack/tcp_hash.c "${lwip_src[@]}" -lxxhash -lsodium

rc=0
for f in pool config frame; do
	mkdir -p "$out/corpus_$f"
	echo "fuzz: $f for ${secs} s" >&2
	if ! (cd "$out" && ./fuzz_$f -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="./crash_${f}_" corpus_$f "$here/tests/fuzz/corpus/$f" \
		>"fuzz_$f.log" 2>&1); then
		echo "fuzz: $f FOUND A PROBLEM:" >&2
		grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$out/fuzz_$f.log" | head -20 >&2
		rc=1
	else
		echo "fuzz: $f: $(grep -E 'stat::number_of_executed_units' "$out/fuzz_$f.log" | awk '{print $2}') inputs, nothing found" >&2
	fi
done
exit $rc
