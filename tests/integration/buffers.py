# SPDX-License-Identifier: MIT
"""At a pinnet application's exit, every pool buffer it still held must be
one of its armed reads (the "buffers out:" line it prints): nothing leaked.
Exit 1 with the count otherwise.
Usage: buffers.py LOG WHAT"""
import re
import sys

lines = [l for l in open(sys.argv[1]) if "buffers out:" in l]
if not lines:
    print(f"FAIL: {sys.argv[2]}: no 'buffers out:' line in its log"); sys.exit(1)
out = sum(int(n) for n in re.findall(r" B: (\d+)", lines[-1]))
armed = int(re.search(r"reads in flight: (\d+)", lines[-1]).group(1))
if out != armed:
    print(f"FAIL: {sys.argv[2]}: {out} pool buffers out at exit, {armed} of them armed reads: {out - armed} leaked")
    sys.exit(1)
print(f"pool: {out} buffers out at exit, all armed reads: nothing leaked")
