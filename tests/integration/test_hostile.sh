#!/usr/bin/env bash
# Integration: hostile frames from the peer namespace against a running
# pinnet-echo. From a packet socket on the kernel side it sends thousands of
# broken and malicious frames: runts, bad IPv4 headers (version, IHL, total
# length, checksum), TCP with impossible data offsets and options, bad
# checksums, every flag at once, RSTs and ACKs for nothing, a SYN flood
# (from the peer and from addresses that do not exist), fragments that never
# complete or overlap, broken ARP, ICMP errors quoting nothing, and randomly
# mutated copies of a valid SYN. Then the server must still answer ping and
# echo every byte of new connections, exit 0 on SIGTERM, and hold no pool
# buffer but its armed reads (nothing leaked).
# Usage: test_hostile.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
build=$1

make_pair
start_a echo "$build/tools/pinnet-echo" --iface "$IF_A" --addr "$IP_A/24" --port 7
wait_port "$IP_A" 7
# the stack answers with a MAC of its own, not the veth's: ask the peer
in_b ping -c 1 -W 2 "$IP_A" >/dev/null
mac_a=$(ip -n "$NS_B" neigh show "$IP_A" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
[ -n "$mac_a" ] || { echo "FAIL: the peer learnt no MAC for $IP_A"; exit 1; }
mac_b=$(ip -n "$NS_B" link show "$IF_B" | awk '/link\/ether/ {print $2}')

in_b python3 - "$IF_B" "$mac_a" "$mac_b" "$IP_A" "$IP_B" "$SUBNET" "$WORK/sent" "$(cd "$(dirname "$0")" && pwd)" <<'PY'
import os, random, socket, struct, sys, time
ifb, mac_a, mac_b, ip_a, ip_b, subnet, sent_file, here = sys.argv[1:9]
sys.path.insert(0, here)
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
PY

kill -0 "${PIDS[0]}" 2>/dev/null || { echo "FAIL: pinnet-echo died under hostile frames"; exit 1; }
in_b ping -c 3 -i 0.2 -W 2 "$IP_A" >"$WORK/ping.log" || { echo "FAIL: no ping replies after hostile frames"; exit 1; }
echo "ping after: $(grep -c 'bytes from' "$WORK/ping.log") replies"

in_b python3 - "$IP_A" <<'PY'
import os, socket, sys, threading
ip, errors = sys.argv[1], []
def one(i):
    try:
        data = os.urandom(262144)
        c = socket.create_connection((ip, 7), 20)
        c.settimeout(60)
        t = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))
        t.start()
        got = b""
        while True:
            b = c.recv(65536)
            if not b: break
            got += b
        t.join(); c.close()
        if got != data: errors.append(f"conn {i}: {len(got)} bytes back, content differs")
    except Exception as e:
        errors.append(f"conn {i}: {e!r}")
th = [threading.Thread(target=one, args=(i,)) for i in range(10)]
for t in th: t.start()
for t in th: t.join()
if errors:
    print("FAIL: echo after hostile frames", *errors, sep="\n  "); sys.exit(1)
print("echo after: 10 connections x 256 KiB intact")
PY

# SYN_RCVD connections to ghosts (and, were reassembly on, half datagrams) hold
# buffers until lwIP's timers free them (15 s / 20 s): wait that out
echo "waiting 22 s for the stack's SYN_RCVD timers"
sleep 22
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || { echo "FAIL: pinnet-echo exited $? on SIGTERM"; exit 1; }
echo "pinnet-echo exited 0 on SIGTERM"
grep pinnet: "$WORK/echo.log"
python3 - "$WORK/echo.log" "$(cat "$WORK/sent")" <<'PY'
import re, sys
log = open(sys.argv[1]).read()
rx = int(re.search(r"rx (\d+) frames", log).group(1))
if rx < int(sys.argv[2]):
    print(f"FAIL: the stack saw {rx} frames, fewer than the {sys.argv[2]} hostile ones: they did not reach it")
    sys.exit(1)
PY
check_buffers "$WORK/echo.log" pinnet-echo
