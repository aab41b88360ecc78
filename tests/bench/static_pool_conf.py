# SPDX-License-Identifier: MIT
"""The static pool's configuration (CONF) from the calibration burst's
samples (CALIBRATION, pinnet-bpf top -j lines): each class's base the
peak it pinned, rounded up to whole blocks; never released; the counters
in STATS.
Usage: static_pool_conf.py CALIBRATION CONF STATS"""
import json, sys
src, conf, stats = sys.argv[1:4]
peak = {}
for l in open(src):
    for c in json.loads(l)["classes"]:
        peak[c["buf_size"]] = max(peak.get(c["buf_size"], 0), c["pinned_bytes"])
with open(conf, "w") as f:
    # never released; it may still grow (by blocks, up to a wall well
    # above the calibration peak) if a later burst needs more, and then
    # averages more: the JSON reports its grows
    f.write(f"[pool]\nrelease = none\nstats_dir = {stats}\n")
    # the classes the calibration server had, blocks as the elastic
    # pools' (bench_memory.sh); a class it never grew keeps the elastic
    # pools' base, so the static pool is not made bigger than it needs
    for size in sorted(peak):
        block = (2 << 20) if size <= 16384 else (4 << 20)
        base = (1 << 20) if size in (2048, 65536, 131072) else (256 << 10)
        b = max(base, -(-peak[size] // block) * block) if peak[size] > base else base
        f.write(f"[class {size}]\nbase = {b}\nblock = {block}\nwall = {max(2 * b, 64 << 20)}\n")
