# SPDX-License-Identifier: MIT
"""The sha256 of pinnet-httpd's /bytes/N body (byte i is i % 251), computed
without holding it, to check a fetched body against.
Usage: pattern_sha256.py N"""
import hashlib, sys
n = int(sys.argv[1])
block = bytes(range(251)) * 4096
h = hashlib.sha256()
done = 0
while done < n:
    take = min(len(block), n - done)
    h.update(block[:take]); done += take
print(h.hexdigest())
