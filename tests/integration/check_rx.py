# SPDX-License-Identifier: MIT
"""The stack must have received at least as many frames as were sent at
it (rx N frames in pinnet-echo's exit report, LOG): else the hostile
frames did not reach it and the test proved nothing.
Usage: check_rx.py LOG SENT"""
import re, sys
log = open(sys.argv[1]).read()
rx = int(re.search(r"rx (\d+) frames", log).group(1))
if rx < int(sys.argv[2]):
    print(f"FAIL: the stack saw {rx} frames, fewer than the {sys.argv[2]} hostile ones: they did not reach it")
    sys.exit(1)
