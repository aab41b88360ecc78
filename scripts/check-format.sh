#!/usr/bin/env bash
# Fails when any of pinnet's own C sources differs from .clang-format's output.
# Usage: scripts/check-format.sh [--fix]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' | grep -v '^third_party/')
[ ${#files[@]} -gt 0 ] || { echo "format: no C files"; exit 0; }
if [ "${1:-}" = --fix ]; then
	clang-format -i "${files[@]}"
	exit 0
fi
if clang-format --dry-run --Werror "${files[@]}"; then
	echo "format: ${#files[@]} files ok"
else
	echo "format: run scripts/check-format.sh --fix" >&2
	exit 1
fi
