# SPDX-License-Identifier: MIT
"""Hand-made IPv4/TCP frames for the integration tests that talk to the
stack from a packet socket on the kernel side (hostile_frames.py, tcp_wire.py).
Checksums are computed unless told to be wrong."""
import random
import struct

SYN, ACK, RST, FIN, PSH, URG = 2, 16, 4, 1, 8, 32


def csum(b):
    if len(b) % 2:
        b += b"\0"
    v = sum(struct.unpack(f"!{len(b)//2}H", b))
    while v >> 16:
        v = (v & 0xffff) + (v >> 16)
    return ~v & 0xffff


def ipv4(proto, body, saddr, daddr, ver=4, ihl=5, tot=None, ttl=64, frag=0,
         ident=None, opts=b"", bad_sum=False):
    hdr = struct.pack("!BBHHHBBH4s4s", (ver << 4) | ihl, 0,
                      tot if tot is not None else 20 + len(opts) + len(body),
                      ident if ident is not None else random.randrange(65536),
                      frag, ttl, proto, 0, saddr, daddr) + opts
    c = csum(hdr) ^ (0x1234 if bad_sum else 0)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + body


def tcp(sport, dport, seq, ack, flags, saddr, daddr, data=b"", opts=b"",
        doff=None, bad_sum=False, win=65535):
    if len(opts) % 4:
        opts += b"\0" * (4 - len(opts) % 4)
    off = doff if doff is not None else 5 + len(opts) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags,
                      win, 0, 0) + opts
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 6, len(hdr) + len(data))
    c = csum(pseudo + hdr + data) ^ (0x4321 if bad_sum else 0)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + data


def parse_tcp(frame):
    """An Ethernet frame -> dict(src, dst, sport, dport, seq, ack, flags,
    win, data, opts: {kind: bytes}), or None if it is not IPv4/TCP."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    t = ip[ihl:tot]
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", t[:16])
    doff = (off >> 4) * 4
    opts, o, i = {}, t[20:doff], 0
    while i < len(o):
        if o[i] == 0:
            break
        if o[i] == 1:
            i += 1
            continue
        if i + 1 >= len(o) or o[i + 1] < 2:
            break
        opts[o[i]] = o[i + 2:i + o[i + 1]]
        i += o[i + 1]
    return dict(src=ip[12:16], dst=ip[16:20], sport=sport, dport=dport,
                seq=seq, ack=ack, flags=flags, win=win, data=t[doff:], opts=opts)


def sack_blocks(opt):
    """The SACK option's payload -> [(left, right), ...]."""
    return [struct.unpack("!II", opt[i:i + 8]) for i in range(0, len(opt), 8)]
