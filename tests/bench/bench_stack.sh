#!/usr/bin/env bash
# Benchmark: pinnet against the kernel's TCP, same application code
# (pinnet-perf, and pinnet-perf --kernel), same run, default offloads on the
# peer. Two veth pairs join the same two namespaces: pinnet owns the first
# (no kernel address on its end), the kernel baseline uses the second. For
# each of RUNS rounds, both are measured back to back:
#   bulk receive (iperf3 -c, the client sends) with CUBIC and with BBR,
#   bulk send (iperf3 -R), 64-byte request/response (sockperf ping-pong
#   --tcp: rate, p50, p99, p99.9), connections per second (connect+close;
#   four clients at once, and one alone).
# Prints one JSON object with medians, ratios and pinnet's per-frame costs
# (frames/s, bytes/frame, ACK frames per MiB). Exit 1 if a bar is missed
# (receive >= 0.8x with each congestion control, request/response >= 1.2x)
# unless --no-bar.
# Usage: bench_stack.sh BUILD_DIR [RUNS] [--no-bar]
. "$(dirname "$0")/../integration/lib.sh"
build=$1
runs=${2:-5}
bar=1
[ "${3:-}" = --no-bar ] && bar=0
for t in iperf3 sockperf; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
secs=3

make_pair
# connections per second leave ~7k TIME_WAIT sockets per second on the
# client side; past ~14k (half the ephemeral ports) the client's connect()
# slowed to ~200/s against either server, so every round after the first
# measured the client. Reusing TIME_WAIT ports (timestamps are on at both
# servers) keeps it out of the way.
in_b sysctl -qw net.ipv4.tcp_tw_reuse=1
# the second pair, for the kernel baseline
K_A=${TAG}a1
K_B=${TAG}b1
KSUB=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
ip link add "$K_A" netns "$NS_A" type veth peer name "$K_B" netns "$NS_B"
in_a ip addr add "${KSUB}2/24" dev "$K_A"
in_b ip addr add "${KSUB}1/24" dev "$K_B"
in_a ip link set "$K_A" up
in_b ip link set "$K_B" up
KIP=${KSUB}2

start_a pinnet "$build/tools/pinnet-perf" --iface "$IF_A" --addr "$IP_A/24"
start_a kernel "$build/tools/pinnet-perf" --kernel
wait_port "$IP_A" 5201
wait_port "$KIP" 5201

iperf() { # IP ARGS... -> MB/s received
	in_b iperf3 -c "$1" -t $secs -J "${@:2}" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["end"]["sum_received"]["bits_per_second"]/8e6 if "end" in d and "sum_received" in d["end"] else 0)'
}
rr() { # IP -> "rate p50 p99 p999"
	in_b sockperf ping-pong --tcp -i "$1" -p 11111 -t $secs -m 64 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
run = re.search(r"RunTime=([0-9.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)", t)
p = {k: float(v) for k, v in re.findall(r"percentile (\d+\.\d+) =\s+([0-9.]+)", t)}
if not run:
    print("0 0 0 0"); sys.exit()
print(int(run.group(3)) / float(run.group(1)), p.get("50.000", 0), p.get("99.000", 0), p.get("99.900", 0))'
}
cps() { # IP CLIENTS -> connections per second (connect + close, 2 s),
	# CLIENTS processes at once. One client measures the round trip of a
	# handshake more than the server; four keep the server busy.
	in_b python3 -c "
import socket, time, multiprocessing as mp
def run(q):
    n, end = 0, time.monotonic() + 2
    while time.monotonic() < end:
        s = socket.create_connection(('$1', 11111), 2); s.close(); n += 1
    q.put(n)
q = mp.Queue()
ps = [mp.Process(target=run, args=(q,)) for _ in range($2)]
for p in ps: p.start()
n = sum(q.get() for _ in ps)
for p in ps: p.join()
print(n / 2)"
}

: >"$WORK/rows"
for r in $(seq 1 "$runs"); do
	echo "bench_stack: round $r/$runs" >&2
	for who in pinnet kernel; do
		ip=$IP_A
		[ $who = kernel ] && ip=$KIP
		echo "$who cubic $(iperf "$ip" -C cubic)" >>"$WORK/rows"
		echo "$who bbr $(iperf "$ip" -C bbr)" >>"$WORK/rows"
		echo "$who send $(iperf "$ip" -R)" >>"$WORK/rows"
		echo "$who rr $(rr "$ip")" >>"$WORK/rows"
		echo "$who cps $(cps "$ip" 4)" >>"$WORK/rows"
		echo "$who cps1 $(cps "$ip" 1)" >>"$WORK/rows"
	done
done

python3 - "$WORK/rows" "$WORK/pinnet.log" "$runs" "$bar" "$(nproc)" "$(uname -r)" <<'PY'
import json, re, sys, statistics as st
rows, log, runs, bar = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = {}
for line in open(rows):
    who, what, *v = line.split()
    d.setdefault((who, what), []).append([float(x) for x in v])
def med(who, what, i=0):
    return st.median(x[i] for x in d[(who, what)])
def runs_of(who, what, i=0):
    return [round(x[i], 1) for x in d[(who, what)]]
out = {"benchmark": "stack", "machine": {"cores": int(sys.argv[5]), "kernel": sys.argv[6]},
       "runs": runs, "seconds_each": 3, "note": "medians over runs; ratios are pinnet / kernel, same run"}
for what, key in (("cubic", "receive_cubic_MBps"), ("bbr", "receive_bbr_MBps"), ("send", "send_MBps")):
    p, k = med("pinnet", what), med("kernel", what)
    out[key] = {"pinnet": round(p, 1), "kernel": round(k, 1), "ratio": round(p / k, 3) if k else 0,
                "pinnet_runs": runs_of("pinnet", what), "kernel_runs": runs_of("kernel", what)}
p, k = med("pinnet", "rr"), med("kernel", "rr")
out["rr_64B"] = {"pinnet_per_s": round(p), "kernel_per_s": round(k), "ratio": round(p / k, 3) if k else 0,
    "latency_us": {w: {"p50": med(w, "rr", 1), "p99": med(w, "rr", 2), "p99.9": med(w, "rr", 3)} for w in ("pinnet", "kernel")}}
p, k = med("pinnet", "cps"), med("kernel", "cps")
out["connections_per_s"] = {"clients": 4, "pinnet": round(p), "kernel": round(k), "ratio": round(p / k, 3) if k else 0}
p, k = med("pinnet", "cps1"), med("kernel", "cps1")
out["connections_per_s_one_client"] = {"pinnet": round(p), "kernel": round(k), "ratio": round(p / k, 3) if k else 0}
# pinnet's per-frame cost in its receive tests (from pinnet-perf's lines)
fr = [m.groups() for m in re.finditer(r"receive test.*frames rx \d+ \(([0-9]+)/s, ([0-9]+) B each\) tx \d+ \(([0-9]+)/s, ([0-9.]+) per MiB\)", open(log).read())]
if fr:
    out["pinnet_receive_frames"] = {"rx_frames_per_s": st.median(float(x[0]) for x in fr),
        "rx_bytes_per_frame": st.median(float(x[1]) for x in fr),
        "ack_frames_per_MiB": st.median(float(x[3]) for x in fr)}
ok = out["receive_cubic_MBps"]["ratio"] >= 0.8 and out["receive_bbr_MBps"]["ratio"] >= 0.8 and out["rr_64B"]["ratio"] >= 1.2
out["bar"] = {"receive_min_ratio": 0.8, "rr_min_ratio": 1.2, "met": ok}
print(json.dumps(out))
sys.exit(1 if bar and not ok else 0)
PY
