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
    for size, block in ((2048, 2 << 20), (65536, 4 << 20), (131072, 4 << 20)):
        b = max(block, -(-peak.get(size, block) // block) * block)
        f.write(f"[class {size}]\nbase = {b}\nblock = {block}\nwall = {2 * b}\n")
