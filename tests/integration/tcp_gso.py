# SPDX-License-Identifier: MIT
"""Segmentation offload as the wire shows it: a hand-made TCP endpoint on
GHOST_IP fetches a body from pinnet-httpd at IP_A (MAC_A) through a packet
socket with PACKET_VNET_HDR on IFB (MAC_B), so each super-frame arrives
whole with its virtio_net_hdr. Checks:
  - super-frames: gso_type TCPV4, gso_size the wire MSS (1460, no
    options), NEEDS_CSUM with csum_start at the TCP header and offset 16,
    the IPv4 total length and header checksum right for the whole frame;
  - a frame the endpoint pretends lost (three duplicate ACKs) comes again
    as one MSS-sized segment, not a super-frame;
  - the body arrives complete and right (byte k is k % 251).
With --refused (the stack told to treat its first super-frames as refused
by the kernel), no super-frame may reach the wire after the refusal and
the body must still be complete.
Usage: tcp_gso.py IFB MAC_A MAC_B IP_A GHOST_IP SIZE [--refused]"""
import socket, struct, sys, time
from frames import ipv4, tcp, csum, SYN, ACK, RST, FIN

ifb, mac_a, mac_b, ip_a, ghost_ip = sys.argv[1:6]
size = int(sys.argv[6])
refused = "--refused" in sys.argv[7:]
dst, src = bytes.fromhex(mac_a.replace(":", "")), bytes.fromhex(mac_b.replace(":", ""))
A, G = socket.inet_aton(ip_a), socket.inet_aton(ghost_ip)
MSS, SPORT, ISS = 1460, 40100, 5000
PACKET_VNET_HDR, SOL_PACKET = 15, 263
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
s.bind((ifb, 0))


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def send_eth(etype, payload):
    s.send(bytes(10) + dst + src + struct.pack("!H", etype) + payload)


def send_tcp(seq, flags, data=b"", opts=b"", ack=0, win=65535):
    send_eth(0x0800, ipv4(6, tcp(SPORT, 80, seq, ack, flags, G, A, data=data,
                                  opts=opts, win=win), G, A))


def frames(timeout):
    """(vnet header fields, parsed frame) from the stack to the ghost."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            b = s.recv(70000)
        except socket.timeout:
            return
        flags, gso_type, hdr_len, gso_size, cstart, coff = struct.unpack("<BBHHHH", b[:10])
        f = b[10:]
        if len(f) < 54 or f[12:14] != b"\x08\x00" or f[23] != 6 or f[26:30] != A or f[30:34] != G:
            continue
        ip = f[14:]
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack("!H", ip[2:4])[0]
        t = ip[ihl:]
        sport, dport, seq, ack, off, fl = struct.unpack("!HHIIBB", t[:14])
        if dport != SPORT:
            continue
        doff = (off >> 4) * 4
        yield dict(vflags=flags, gso_type=gso_type, gso_size=gso_size, cstart=cstart,
                   coff=coff, tot=tot, flen=len(f), ihl=ihl, ipsum_ok=csum(bytes(ip[:ihl])) == 0,
                   seq=seq, ack=ack, flags=fl, data=bytes(t[doff:tot - ihl]), doff=doff)


arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src + G + b"\0" * 6 + A
send_eth(0x0806, arp)
time.sleep(0.05)
# MSS 1460, window scale 7 (an 8 MiB window), no timestamps: wire payload 1460
send_tcp(ISS, SYN, opts=b"\x02\x04\x05\xb4\x01\x03\x03\x07")
sa = None
for t in frames(2):
    if t["flags"] & (SYN | ACK) == SYN | ACK:
        sa = t
        break
if not sa:
    fail("no SYN-ACK")
nxt = sa["seq"] + 1
req = f"GET /bytes/{size} HTTP/1.1\r\nHost: ghost\r\n\r\n".encode()
send_tcp(ISS + 1, ACK, ack=nxt)
send_tcp(ISS + 1, ACK, req, ack=nxt)

got, supers, singles_after_refusal, lost = bytearray(), 0, 0, None
rexmit = None
body_start = None
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    progressed = False
    for t in frames(0.5):
        progressed = True
        if t["tot"] + 14 != t["flen"]:
            fail(f"IPv4 total length {t['tot']} for a frame of {t['flen']} bytes")
        if not t["ipsum_ok"]:
            fail("bad IPv4 header checksum")
        n = len(t["data"])
        if t["gso_type"] != 0:
            if refused:
                fail("a super-frame on the wire after the stack was told GSO is refused")
            if t["gso_type"] != 1 or t["gso_size"] != MSS:
                fail(f"super-frame with gso_type {t['gso_type']} gso_size {t['gso_size']}")
            if not (t["vflags"] & 1) or t["cstart"] != 14 + t["ihl"] or t["coff"] != 16:
                fail(f"super-frame without NEEDS_CSUM at the TCP checksum: {t}")
            if n <= MSS:
                fail(f"super-frame of {n} payload bytes, not more than one segment")
            supers += 1
        elif n > MSS:
            fail(f"a {n}-byte segment without GSO")
        if lost is not None and rexmit is None and t["seq"] == lost and n:
            rexmit = t
            if t["gso_type"] != 0 or n > MSS:
                fail(f"the retransmission is {n} bytes with gso_type {t['gso_type']}: not one segment")
        if t["seq"] == nxt and n:
            # in order: take it, unless it is the one to "lose"
            if lost is None and supers >= 2 and not refused and len(got) < size // 2:
                lost = nxt  # pretend it never came: three duplicate ACKs
                for _ in range(3):
                    send_tcp(ISS + 1 + len(req), ACK, ack=nxt)
                continue
            got += t["data"]
            nxt = (nxt + n + (1 if t["flags"] & FIN else 0)) & 0xffffffff
            send_tcp(ISS + 1 + len(req), ACK, ack=nxt)
    if body_start is None and b"\r\n\r\n" in got:
        body_start = got.index(b"\r\n\r\n") + 4
    if body_start is not None and len(got) - body_start >= size:
        break
    if not progressed:
        send_tcp(ISS + 1 + len(req), ACK, ack=nxt)  # nudge a stalled sender
send_tcp(ISS + 1 + len(req), RST, ack=nxt)
if body_start is None or len(got) - body_start < size:
    fail(f"{len(got)} bytes received, body incomplete")
body = got[body_start:body_start + size]
if any(b != k % 251 for k, b in enumerate(body)):
    fail("body bytes differ")
if not refused:
    if supers < 2:
        fail(f"only {supers} super-frames")
    if not rexmit:
        fail("no retransmission of the frame reported lost")
    print(f"offload: {supers} super-frames (gso_size {MSS}, NEEDS_CSUM, IPv4 right), "
          f"the lost one resent as one {len(rexmit['data'])}-byte segment, {size} bytes intact")
else:
    print(f"refused offload: no super-frame on the wire, {size} bytes intact")
