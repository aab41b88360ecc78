#!/usr/bin/env bash
# pinnet's main job: install what is needed, build, and show pinnet at
# work: pinnet-httpd on the user-space stack under bursts of real HTTP load
# (wrk), its pinned pool growing in each burst and given back after it,
# live, then a summary (scripts/pinnet-demo.sh; about two minutes).
#
# Usage: scripts/demo.sh [--short]      (as root)
#        scripts/demo.sh --pool [...]   the pool alone: idle vs peak vs a
#                                       static pool (pinnet-pool-demo)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

case "${1:-}" in
-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

if [ "${1:-}" = --pool ]; then
	shift
	exec build/tools/pinnet-pool-demo "$@"
fi
[ -x build/tools/pinnet-bpf ] || { echo "demo: build/tools/pinnet-bpf was not built (no kernel BTF?)" >&2; exit 1; }
exec bash scripts/pinnet-demo.sh build "$@"
