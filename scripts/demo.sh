#!/usr/bin/env bash
# pinnet's main job: install what is needed, build, and show the elastic
# pinned pool at work. Until the stack lands, the demo drives the pool
# directly with bursts of allocations and shows it grow and give memory back
# (pinned bytes from the pool's counters and the kernel's VmPin).
#
# Usage: scripts/demo.sh [demo options...]   (as root; --help for options)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
exec build/tools/pinnet-pool-demo "$@"
