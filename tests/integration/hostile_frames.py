# SPDX-License-Identifier: MIT
"""Hostile frames against the stack at IP_A (MAC_A), sent from a packet
socket on IFB (MAC_B, address IP_B, SUBNET the pair's /24 prefix): runts,
lying IPv4/TCP headers and options, a SYN flood, stray fragments, broken
ARP/ICMP/UDP, 3000 mutated SYNs. Writes how many frames it sent to
SENT_FILE (the stack must have seen at least as many: check_rx.py).
Usage: hostile_frames.py IFB MAC_A MAC_B IP_A IP_B SUBNET SENT_FILE"""
import os, random, socket, struct, sys, time
ifb, mac_a, mac_b, ip_a, ip_b, subnet, sent_file = sys.argv[1:8]
import frames
from frames import csum
rnd = random.Random(int.from_bytes(os.urandom(4), "little"))
seed = rnd.randrange(1 << 30); rnd.seed(seed)
print(f"hostile: seed {seed}")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifb, 0))
dst, src = bytes.fromhex(mac_a.replace(":", "")), bytes.fromhex(mac_b.replace(":", ""))
A, B = socket.inet_aton(ip_a), socket.inet_aton(ip_b)
sent = 0

def send(payload, etype=0x0800, to=None):
    global sent
    frame = (to or dst) + src + struct.pack("!H", etype) + payload
    try:
        s.send(frame[:1514])
        sent += 1
        if sent % 16 == 0:
            time.sleep(0.002)  # let the stack keep up: frames must reach it, not the socket's overflow
    except OSError:
        pass  # the kernel refused it (too short for its taste): fine

def ip(proto, body, saddr=B, daddr=A, **kw):
    return frames.ipv4(proto, body, saddr, daddr, ident=kw.pop("ident", rnd.randrange(65536)), **kw)

def tcp(sport, dport, seq, ack, flags, saddr=B, daddr=A, **kw):
    return frames.tcp(sport, dport, seq, ack, flags, saddr, daddr, **kw)

from frames import SYN, ACK, RST, FIN, PSH, URG
def r32(): return rnd.randrange(1 << 32)
def port(): return rnd.randrange(1024, 65536)

# runts and wrong ethertypes
for n in range(0, 60, 3):
    send(os.urandom(n))
    send(os.urandom(n), etype=0x0806)
send(os.urandom(40), etype=0x86dd)
send(os.urandom(40), etype=0x8100)
# IPv4 headers that lie
syn = tcp(port(), 7, r32(), 0, SYN)
for v in (0, 5, 6, 15):
    send(ip(6, syn, ver=v))
for h in (0, 1, 4, 6, 15):
    send(ip(6, syn, ihl=h))
for t in (0, 1, 19, 20, 21, 39, 41, 1500, 65535):
    send(ip(6, syn, tot=t))
send(ip(6, syn, bad_sum=True))
send(ip(6, syn, ttl=0))
send(ip(6, syn, opts=bytes([0x44, 40]) + os.urandom(2)))   # timestamp opt, len past header
send(ip(6, syn, opts=bytes([0x83, 0, 0, 0])))              # LSRR len 0
send(ip(6, syn, saddr=b"\xff\xff\xff\xff"))
send(ip(6, syn, saddr=A))                                  # land
send(ip(6, syn, daddr=socket.inet_aton(subnet + "250")))   # not ours
send(ip(6, syn, daddr=b"\xe0\0\0\1"))                      # multicast
for proto in (0, 2, 47, 50, 132, 255):
    send(ip(proto, os.urandom(40)))
# TCP headers that lie
for d in (0, 1, 4, 6, 15):
    send(ip(6, tcp(port(), 7, r32(), 0, SYN, doff=d)))
send(ip(6, tcp(port(), 7, r32(), 0, SYN, bad_sum=True)))
for o in (b"\x02\x00", b"\x02\x01", b"\x02\x04\x00\x00", b"\x02\xff",
          b"\x03\x01", b"\x03\x03\xff", b"\x08\xff", b"\x08\x0a" + os.urandom(8),
          b"\x04\x02\x05\x00", b"\x05\x0a" + os.urandom(8), b"\x01" * 40,
          bytes([rnd.randrange(256) for _ in range(40)])):
    send(ip(6, tcp(port(), 7, r32(), 0, SYN, opts=o)))
for f in (0, 0xff, SYN | FIN, SYN | RST, SYN | FIN | RST | PSH | URG | ACK, FIN, URG):
    send(ip(6, tcp(port(), 7, r32(), r32(), f)))
send(ip(6, tcp(port(), 7, r32(), 0, SYN, data=os.urandom(500))))
for _ in range(50):                                        # RST/ACK/data for nothing
    send(ip(6, tcp(port(), 7, r32(), r32(), rnd.choice((RST, ACK, RST | ACK, PSH | ACK)),
                   data=os.urandom(rnd.randrange(0, 200)))))
send(ip(6, tcp(port(), 9, r32(), 0, SYN)))                 # closed port
# SYN flood: from the peer (its kernel answers our SYN-ACKs with RST) and
# from addresses nobody holds (the SYN-ACKs go nowhere)
for _ in range(400):
    send(ip(6, tcp(port(), 7, r32(), 0, SYN, opts=b"\x02\x04\x05\xb4")))
for i in range(64):
    ghost = socket.inet_aton(subnet + str(100 + i % 50))
    send(ip(6, tcp(port(), 7, r32(), 0, SYN, saddr=ghost), saddr=ghost))
# fragments: first halves that never complete, overlaps, offsets past 64 KiB
icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + os.urandom(1000)
for i in range(20):
    send(ip(1, icmp[:512], frag=0x2000, ident=1000 + i))
    send(ip(1, icmp[256:768], frag=0x2000 | 32, ident=1000 + i))
send(ip(1, icmp[:64], frag=0x1fff, ident=2000))
send(ip(1, icmp[:64], frag=0x2000 | 0x1fff, ident=2001))
send(ip(6, syn, frag=0x4000 | 0x2000))                     # DF and MF
# ARP that lies (never about the peer: a poisoned cache would be the test's fault)
def arp(op, hl=6, pl=4, sha=src, spa=socket.inet_aton(subnet + "77"), tha=b"\0" * 6, tpa=A):
    return struct.pack("!HHBBH", 1, 0x0800, hl, pl, op) + sha + spa + tha + tpa
send(arp(1)[:10], etype=0x0806)
send(arp(1, hl=0), etype=0x0806)
send(arp(1, pl=16), etype=0x0806)
send(arp(9), etype=0x0806)
send(arp(2, spa=A), etype=0x0806)                          # someone claims our address
send(arp(1), etype=0x0806, to=b"\xff" * 6)
# ICMP errors quoting nothing, redirects, broken echo
for t, c in ((3, 3), (3, 4), (5, 1), (11, 0), (12, 0), (4, 0)):
    q = ip(6, tcp(7, port(), r32(), 0, ACK), saddr=A, daddr=B)[:28]
    body = struct.pack("!BBHI", t, c, 0, 0) + q
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    send(ip(1, body))
send(ip(1, struct.pack("!BBHHH", 8, 0, 0xdead, 1, 1) + os.urandom(100)))
send(ip(1, b"\x08"))
# UDP that lies
send(ip(17, struct.pack("!HHHH", port(), 53, 9000, 0) + os.urandom(20)))
send(ip(17, struct.pack("!HHHH", port(), 53, 2, 0)))
# mutants of a valid SYN: flip bytes anywhere past the Ethernet header
base = ip(6, tcp(port(), 7, r32(), 0, SYN, opts=b"\x02\x04\x05\xb4\x01\x03\x03\x07"))
for _ in range(3000):
    m = bytearray(base)
    for _ in range(rnd.randrange(1, 6)):
        m[rnd.randrange(len(m))] = rnd.randrange(256)
    cut = rnd.randrange(len(m) + 1) if rnd.random() < 0.3 else len(m)
    send(bytes(m[:cut]) + (os.urandom(rnd.randrange(64)) if rnd.random() < 0.2 else b""))
print(f"hostile: {sent} frames sent")
open(sent_file, "w").write(str(sent))
