#!/usr/bin/env bash
# pinnet set-up: installs the Debian 12 packages that the build, the tests and
# the demo need, fetches lwIP's source from Debian's source package (checked
# by sha256) and applies pinnet's patches (patches/lwip/*.patch) to a copy of
# it. Safe to run any number of times: it installs only what is missing, runs
# `apt-get update` only when something is, and re-applies the patches only
# when they changed.
#
# Usage: scripts/setup.sh            (as root; no-op when all is present)
#        scripts/setup.sh --check    (report what is missing, change nothing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Every package the build, tests, benchmarks and demo use. Keep sorted.
packages=(
	bpftool
	clang
	clang-format
	curl
	ethtool
	gcc
	gnuplot-nox
	iproute2
	iperf3
	iputils-ping
	libbpf-dev
	libcunit1-dev
	libelf-dev
	libinih-dev
	libjson-c-dev
	libsodium-dev
	liburing-dev
	libxxhash-dev
	llvm
	meson
	nginx-light
	ninja-build
	patch
	pkg-config
	python3
	redis-server
	redis-tools
	sockperf
	systemtap-sdt-dev
	valgrind
	wrk
	xz-utils
	zlib1g-dev
)

lwip_version=2.1.3+dfsg1-2
lwip_orig=lwip_2.1.3+dfsg1.orig.tar.xz
lwip_sha256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
lwip_dir=$here/third_party/lwip-2.1.3            # pristine, as unpacked
lwip_patched=$here/third_party/lwip-2.1.3-pinnet # what the build compiles

check_only=0
case "${1:-}" in
--check) check_only=1 ;;
-h | --help)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "setup: unknown argument '$1' (try --help)" >&2
	exit 2
	;;
esac

log() { printf 'setup: %s\n' "$*"; }

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	log "all ${#packages[@]} packages present"
elif [ $check_only -eq 1 ]; then
	log "missing packages: ${missing[*]}"
else
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages (${missing[*]}) and not root: run as root" >&2
		exit 1
	fi
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# lwIP's pristine source: Debian's source package, fetched through a private
# source list derived from the machine's own apt sources (the system's apt
# configuration is never touched), then checked by hash.
fetch_lwip() {
	local work n=0 f sum
	work=$(mktemp -d /tmp/pinnet-lwip.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/parts" "$work/lists/partial" "$work/dl"
	chmod 755 "$work" "$work/dl" # apt fetches as _apt

	shopt -s nullglob
	for f in /etc/apt/sources.list.d/*.sources; do
		sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$work/parts/src$n.sources"
		n=$((n + 1))
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		grep -E '^[[:space:]]*deb[[:space:]]' "$f" |
			sed -E 's/^[[:space:]]*deb[[:space:]]/deb-src /' >"$work/parts/src$n.list" || true
		n=$((n + 1))
	done
	shopt -u nullglob

	local aptopts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/parts"
		-o "Dir::State::Lists=$work/lists")
	log "fetching Debian source package lwip=$lwip_version"
	apt-get "${aptopts[@]}" update -q >"$work/update.log" 2>&1 || {
		cat "$work/update.log" >&2
		echo "setup: apt-get update of the private source list failed" >&2
		exit 1
	}
	(cd "$work/dl" && apt-get "${aptopts[@]}" source --download-only -q "lwip=$lwip_version") ||
		{
			echo "setup: could not download lwip=$lwip_version source" >&2
			exit 1
		}

	sum=$(sha256sum "$work/dl/$lwip_orig" | cut -d' ' -f1)
	if [ "$sum" != "$lwip_sha256" ]; then
		echo "setup: $lwip_orig has sha256 $sum, expected $lwip_sha256" >&2
		exit 1
	fi
	mkdir -p "$here/third_party"
	tar -C "$work" -xf "$work/dl/$lwip_orig"
	rm -rf "$lwip_dir"
	mv "$work/lwip-2.1.3" "$lwip_dir"
	rm -rf "$work"
	trap - EXIT
	log "lwIP 2.1.3 unpacked into ${lwip_dir#$here/} (sha256 ok)"
}

# The patched copy the build compiles: made again from the pristine tree
# whenever the patch series differs from the one it was made with (the
# stamp holds the series itself, so meson can compare it too).
patch_lwip() {
	local stamp=$lwip_patched/.pinnet-patches tmp p series
	series=$(mktemp /tmp/pinnet-patches.XXXXXX)
	cat "$here"/patches/lwip/*.patch >"$series"
	if [ -f "$stamp" ] && cmp -s "$series" "$stamp"; then
		rm -f "$series"
		log "lwIP patches applied in ${lwip_patched#$here/} (up to date)"
		return
	fi
	if [ $check_only -eq 1 ]; then
		rm -f "$series"
		log "lwIP patches not applied (or changed): ${lwip_patched#$here/}"
		return
	fi
	tmp=$lwip_patched.tmp
	rm -rf "$tmp"
	cp -a "$lwip_dir" "$tmp"
	for p in "$here"/patches/lwip/*.patch; do
		if ! patch -d "$tmp" -p1 --quiet --forward --no-backup-if-mismatch <"$p"; then
			rm -rf "$tmp" "$series"
			echo "setup: ${p#$here/} does not apply to lwIP 2.1.3" >&2
			exit 1
		fi
		log "applied ${p#$here/}"
	done
	mv "$series" "$tmp/.pinnet-patches"
	rm -rf "$lwip_patched"
	mv "$tmp" "$lwip_patched"
}

if [ -f "$lwip_dir/src/core/tcp.c" ]; then
	log "lwIP source present in ${lwip_dir#$here/}"
elif [ $check_only -eq 1 ]; then
	log "lwIP source missing (${lwip_dir#$here/})"
	exit 0
else
	fetch_lwip
fi
patch_lwip
