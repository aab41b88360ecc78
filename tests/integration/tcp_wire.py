# SPDX-License-Identifier: MIT
"""What the stack's TCP at IP_A (MAC_A) puts on the wire, checked frame by
frame from a packet socket on IFB (MAC_B), as a hand-made TCP endpoint on
GHOST_IP, an address no kernel holds: SACK permitted, out-of-order data
SACKed, a duplicate reported with a D-SACK block first (and gone from the
next ACK), the hole filled acknowledging everything, lone segments' ACKs
delayed a whole timer tick (median 5 ms or more, none over 200 ms), and
with window scaling the same window field for small segments the
application reads at once. Exit 1 at the first
frame that differs.
Usage: tcp_wire.py IFB MAC_A MAC_B IP_A GHOST_IP"""
import random, socket, statistics, struct, sys, time
ifb, mac_a, mac_b, ip_a, ghost_ip = sys.argv[1:6]
from frames import ipv4, tcp, parse_tcp, sack_blocks, SYN, ACK, RST

dst, src = bytes.fromhex(mac_a.replace(":", "")), bytes.fromhex(mac_b.replace(":", ""))
A, G = socket.inet_aton(ip_a), socket.inet_aton(ghost_ip)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifb, 0))
SPORT, ISS = 40000, 1000

def send_eth(etype, payload):
    s.send(dst + src + struct.pack("!H", etype) + payload)

def send_tcp(seq, flags, data=b"", opts=b"", ack=0):
    send_eth(0x0800, ipv4(6, tcp(SPORT, 80, seq, ack, flags, G, A, data=data, opts=opts), G, A))

def expect(what, pred, timeout=1.0):
    """The first frame from the stack to the ghost that satisfies pred."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            f = s.recv(65535)
        except socket.timeout:
            break
        t = parse_tcp(f)
        if t and t["src"] == A and t["dst"] == G and t["dport"] == SPORT and pred(t):
            return t
    print(f"FAIL: {what}: no such frame from the stack within {timeout} s")
    sys.exit(1)

def blocks(t):
    return sack_blocks(t["opts"][5]) if 5 in t["opts"] else []

# the stack learns the ghost's MAC from its ARP request
arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src + G + b"\0" * 6 + A
send_eth(0x0806, arp)
time.sleep(0.05)

send_tcp(ISS, SYN, opts=b"\x02\x04\x05\xb4\x01\x01\x04\x02")  # MSS, NOP, NOP, SACK-permitted
sa = expect("SYN-ACK", lambda t: t["flags"] & (SYN | ACK) == SYN | ACK and t["ack"] == ISS + 1)
if 4 not in sa["opts"]:
    print("FAIL: the SYN-ACK does not permit SACK"); sys.exit(1)
ack = sa["seq"] + 1
send_tcp(ISS + 1, ACK, ack=ack)

def seg(i):  # 100-byte segment i (0-based) of the stream
    return ISS + 1 + 100 * i, bytes([0x61 + i]) * 100

for i in (0, 1):
    q, d = seg(i)
    send_tcp(q, ACK, d, ack=ack)
expect("ACK of segments 0-1", lambda t: t["ack"] == ISS + 201)
time.sleep(0.05)

q, d = seg(0)
send_tcp(q, ACK, d, ack=ack)  # a retransmission of what it has
t = expect("ACK of a duplicate segment", lambda t: True)
print(f"duplicate of [{q}, {q + 100}): ack {t['ack']}, SACK blocks {blocks(t)}")
if t["ack"] != ISS + 201 or blocks(t)[:1] != [(q, q + 100)]:
    print("FAIL: no D-SACK block for the duplicate segment"); sys.exit(1)

q3, d3 = seg(3)
send_tcp(q3, ACK, d3, ack=ack)  # segment 2 missing: out of order
t = expect("ACK of out-of-order data", lambda t: True)
print(f"out of order [{q3}, {q3 + 100}): ack {t['ack']}, SACK blocks {blocks(t)}")
if t["ack"] != ISS + 201 or blocks(t) != [(q3, q3 + 100)]:
    print("FAIL: out-of-order data not SACKed alone (a stale D-SACK block?)"); sys.exit(1)

send_tcp(q, ACK, d, ack=ack)  # segment 0 again
t = expect("ACK of a duplicate while out of order", lambda t: True)
print(f"duplicate again: ack {t['ack']}, SACK blocks {blocks(t)}")
if t["ack"] != ISS + 201 or blocks(t) != [(q, q + 100), (q3, q3 + 100)]:
    print("FAIL: want the D-SACK block first, then the out-of-order one"); sys.exit(1)

q2, d2 = seg(2)
send_tcp(q2, ACK, d2, ack=ack)  # fills the hole
t = expect("ACK after the hole is filled", lambda t: t["ack"] == ISS + 401)
print(f"hole filled: ack {t['ack']}, SACK blocks {blocks(t)}")
if blocks(t):
    print("FAIL: SACK blocks left after the hole was filled"); sys.exit(1)
# lone segments the application does not answer (not yet a whole HTTP
# request), each sent at a random point of the stack's 5 ms timer tick:
# the ACK waits at least one whole tick (so that a reply sent soon after
# carries it; Linux waits 40 ms), and it does come. Sent at the next tick
# however near, their median wait would be about 2.5 ms.
waits = []
for i in range(4, 12):
    time.sleep(random.uniform(0, 0.005))
    q, d = seg(i)
    t0 = time.monotonic()
    send_tcp(q, ACK, d, ack=ack)
    expect(f"delayed ACK of segment {i}", lambda t: t["ack"] == q + 100, timeout=0.5)
    waits.append(time.monotonic() - t0)
print("delayed ACKs after", " ".join(f"{w * 1000:.1f}" for w in waits), "ms")
if statistics.median(waits) < 0.005:
    print("FAIL: delayed ACKs left within a tick (median under 5 ms): a reply right after would not carry them"); sys.exit(1)
if max(waits) > 0.2:
    print("FAIL: a delayed ACK took more than 200 ms"); sys.exit(1)
send_tcp(ISS + 1201, RST, ack=ack)

# a second connection with window scaling: small segments the application
# reads at once are acknowledged with the same window field every time
# (the peer's header prediction compares it; a right edge held back to
# whole segments shrank it by each one)
SPORT, ISS = 40001, 5000
send_tcp(ISS, SYN, opts=b"\x02\x04\x05\xb4\x01\x03\x03\x07")  # MSS, NOP, window scale 7
sa = expect("SYN-ACK with window scaling", lambda t: t["flags"] & (SYN | ACK) == SYN | ACK and t["ack"] == ISS + 1)
if 3 not in sa["opts"]:
    print("FAIL: the SYN-ACK does not scale its window"); sys.exit(1)
ack = sa["seq"] + 1
send_tcp(ISS + 1, ACK, ack=ack)
wins = []
for i in range(10):
    q = ISS + 1 + 60 * i
    line = b"X-Pad: " + b"p" * 51 + b"\r\n"  # a request's header lines, 60 bytes each
    first = b"GET / HTTP/1.1\r\nX-A: " + b"p" * 37 + b"\r\n"
    send_tcp(q, ACK, first if i == 0 else line, ack=ack)
    wins.append(expect(f"ACK of small segment {i}", lambda t: t["ack"] == q + 60, timeout=0.5)["win"])
print(f"windows announced for 10 small segments (scale {sa['opts'][3][0]}): {wins}")
if len(set(wins[1:])) != 1:
    print("FAIL: the window field changed while the application kept up"); sys.exit(1)
send_tcp(ISS + 601, RST, ack=ack)
print("wire: SACK-permitted, SACK, D-SACK and its removal as specified, ACKs delayed a tick, a steady scaled window")
