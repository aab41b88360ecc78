#!/usr/bin/env bash
# pinnet: install what is needed, build, and run every test.
#
# Usage: scripts/test.sh [--sanitize | --valgrind] [meson test args...]
#   (none)      build in build/ and run all suites (unit, integration, bpf, fault)
#   --sanitize  build in build-sanitize/ with ASan+UBSan, run unit + integration
#   --valgrind  run the unit suite of build/ under valgrind memcheck
# Ends with one line: "tests: N passed, N failed, N skipped".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

mode=all
case "${1:-}" in
--sanitize) mode=sanitize; shift ;;
--valgrind) mode=valgrind; shift ;;
-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

bash scripts/setup.sh

build=build
setup_args=()
test_args=(--print-errorlogs)
case $mode in
sanitize)
	build=build-sanitize
	setup_args=(-Db_sanitize=address,undefined -Db_lundef=false
		-Dc_args=-fno-sanitize-recover=all)
	test_args+=(--setup=sanitize --suite unit --suite integration)
	;;
valgrind)
	test_args+=(--setup=valgrind --suite unit)
	;;
esac

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "${setup_args[@]}"
fi
meson compile -C "$build"

rc=0
meson test -C "$build" "${test_args[@]}" "$@" || rc=$?

# One closing line a CI reader understands, from meson's own JSON log.
log=testlog.json
[ $mode = all ] || log=testlog-$mode.json
python3 - "$build/meson-logs/$log" "$build/meson-logs" <<'PY' || true
import glob, json, os, sys
path = sys.argv[1]
if not os.path.exists(path):
    logs = sorted(glob.glob(os.path.join(sys.argv[2], "testlog*.json")), key=os.path.getmtime)
    path = logs[-1] if logs else None
c = {"OK": 0, "FAIL": 0, "SKIP": 0}
if path:
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): c["OK"] += 1
        elif r == "SKIP": c["SKIP"] += 1
        else: c["FAIL"] += 1
print(f"tests: {c['OK']} passed, {c['FAIL']} failed, {c['SKIP']} skipped")
PY
exit $rc
