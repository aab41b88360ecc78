#!/usr/bin/env python3
"""Render a bench-report results folder: PNG plots (gnuplot) and REPORT.md.

Usage: bench_render.py DIR

Reads DIR/{pool,stack,http,conns,preload,memory,bpf}.json (whichever exist) and the memory
benchmark's CSV series in DIR/memory/. Every number in REPORT.md is copied
from those files; nothing is measured here.
"""
import json
import os
import platform
import subprocess
import sys
import time


def load(d, name):
    p = os.path.join(d, name + ".json")
    if not os.path.exists(p):
        return None
    try:
        with open(p) as f:
            txt = f.read().strip()
        if not txt:
            print(f"bench_render: {p} is empty (the benchmark failed?)", file=sys.stderr)
            return None
        try:
            return json.loads(txt)
        except ValueError:  # progress lines before the JSON object
            return json.loads(txt.splitlines()[-1])
    except (OSError, ValueError) as e:
        print(f"bench_render: {p}: {e}", file=sys.stderr)
        return None


def gnuplot(d, name, script):
    """Run one gnuplot script; returns the PNG's file name or None."""
    png = name + ".png"
    full = (f"set terminal pngcairo size 960,540 font 'sans,11'\n"
            f"set output '{os.path.join(d, png)}'\n" + script)
    with open(os.path.join(d, name + ".gp"), "w") as f:
        f.write(full)
    r = subprocess.run(["gnuplot"], input=full, text=True, capture_output=True)
    if r.returncode:
        print(f"bench_render: gnuplot {name}: {r.stderr.strip()}", file=sys.stderr)
        return None
    return png


def bars(d, name, title, ylabel, groups, series, logscale=False):
    """Clustered bars: groups = [label...], series = [(title, [values])]."""
    dat = os.path.join(d, name + ".dat")
    with open(dat, "w") as f:
        f.write("group " + " ".join(f'"{t}"' for t, _ in series) + "\n")
        for i, g in enumerate(groups):
            f.write(f'"{g}" ' + " ".join(f"{v[i]}" for _, v in series) + "\n")
    plots = ", ".join(
        (f"'{dat}' using {i + 2}:xtic(1) title columnheader({i + 2})" if i == 0
         else f"'' using {i + 2} title columnheader({i + 2})") for i in range(len(series)))
    return gnuplot(d, name, f"""
set title "{title}"
set ylabel "{ylabel}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key below horizontal
set xrange [-0.5:{len(groups) - 0.5}]
{"set logscale y; set yrange [1:*]" if logscale else "set yrange [0:*]"}
plot {plots}
""")


TITLES = {"idle": "elastic, seed idle release (001 FIG. 6)",
          "peak": "elastic, recent-peak policy",
          "forecast": "elastic, forecast policy",
          "static": "static pool, fixed 1 MiB send buffers, sized for the peak"}


def memory_plot(d, load, mem):
    series = []
    for name, title in TITLES.items():
        csv = os.path.join(d, "memory", load, f"{name}.csv")
        if name in mem and os.path.exists(csv):
            series.append((csv, title))
    if not series:
        return None
    rects = ""
    for i, (a, b) in enumerate(mem.get("idle", {}).get("bursts_s", [])):
        rects += (f"set object {i + 1} rect from {a},graph 0 to {b},graph 1 "
                  "fillcolor rgb '#eeeeee' fillstyle solid 1.0 noborder behind\n")
    plots = ", ".join(f"'{c}' using 1:($2/1024) with steps lw 2 title '{t}'" for c, t in series)
    return gnuplot(d, f"memory_{load}", f"""
set title "Pinned memory, load {load} (grey: bursts of the first server)"
set xlabel "time (s)"
set ylabel "pinned memory (MiB)"
set datafile separator ","
set grid
set key below horizontal
set yrange [0:*]
{rects}
plot {plots}
""")


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def preload_section(d, p):
    """Unmodified redis-server and nginx under pinnet-run against the same
    binaries on kernel sockets (bench_preload.sh)."""
    def rng(r):
        return f"{r[0]}-{r[1]}" if r else "-"
    rd, ng = p["redis"], p["nginx"]
    md = ["## Unmodified programs under pinnet-run", "",
          f"Debian's redis-server {p.get('redis_version')} and nginx-light {p.get('nginx_version')} under "
          "pinnet-run (libpinnet-preload.so) against the same binaries on kernel sockets over another veth "
          f"pair between the same namespaces; each round measures both, pinnet first; medians of {p.get('runs')} "
          "rounds, ratios pinnet/kernel of the medians with the range of the per-round ratios. CPU is the "
          "server process's (user + system) per request.", "",
          f"redis: {rd['client']}.", "",
          "| command | pipeline | pinnet rps | kernel rps | ratio | per-round ratios | pinnet p99 ms | kernel p99 ms | "
          "CPU us/req pinnet | kernel |", "|---|---|---|---|---|---|---|---|---|---|"]
    for l in rd["loads"]:
        a, b = l["pinnet"], l["kernel"]
        md.append(f"| {l['command']} | {l['pipeline']} | {a.get('rps', '-'):.0f} | {b.get('rps', '-'):.0f} | "
                  f"{l['ratio_rps']} | {rng(l.get('ratio_rps_range'))} | {a.get('p99_ms')} | {b.get('p99_ms')} | "
                  f"{a.get('cpu_us_per_req')} | {b.get('cpu_us_per_req')} |")
    png = bars(d, "preload_redis", "redis-benchmark, 50 clients", "requests/s",
               [f"{l['command']}{' -P ' + str(l['pipeline']) if l['pipeline'] > 1 else ''}" for l in rd["loads"]],
               [("redis-server under pinnet-run", [l["pinnet"].get("rps", 0) for l in rd["loads"]]),
                ("redis-server on kernel sockets", [l["kernel"].get("rps", 0) for l in rd["loads"]])])
    if png:
        md += ["", f"![redis under pinnet-run]({png})"]
    md += ["", f"nginx: {ng['server']}; {ng['client']}.", "",
           "| body | connections | pinnet req/s | kernel req/s | pinnet MB/s | kernel MB/s | ratio | per-round ratios | "
           "pinnet p99 ms | kernel p99 ms | CPU us/req pinnet | kernel |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for l in ng["loads"]:
        a, b = l["pinnet"], l["kernel"]
        key = "rps" if l["body"] == "1k" else "MBps"
        md.append(f"| {l['body']} | {l['connections']} | {a.get('rps', 0):.0f} | {b.get('rps', 0):.0f} | "
                  f"{a.get('MBps')} | {b.get('MBps')} | {l.get('ratio_' + key)} ({'req/s' if key == 'rps' else 'MB/s'}) | "
                  f"{rng(l.get('ratio_' + key + '_range'))} | {a.get('p99_ms')} | {b.get('p99_ms')} | "
                  f"{a.get('cpu_us_per_req')} | {b.get('cpu_us_per_req')} |")
    b = p.get("bar", {})
    md += ["", f"Bar: redis SET and GET rps (with and without -P 16), nginx 1 KiB req/s and 1 MiB MB/s at least "
           f"{b.get('pinnet_min_ratio')}x the same binary on the kernel, no errors: "
           f"**{'met' if b.get('met') else 'NOT met'}**" + (f" (missed: {', '.join(b['missed'])})" if b.get('missed') else "")
           + ".", ""]
    if p.get("errors"):
        md += ["Errors: " + "; ".join(p["errors"]) + ".", ""]
    return md


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    pool, stack, http, conns, preload, mem, bpf = (
        load(d, n) for n in ("pool", "stack", "http", "conns", "preload", "memory", "bpf"))
    if not any((pool, stack, http, conns, preload, mem, bpf)):
        print(f"bench_render: no benchmark JSON in {d}", file=sys.stderr)
        return 1
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    md = ["# pinnet benchmark report", "",
          f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} on {os.cpu_count()} cores ({cpu}), "
          f"Linux {platform.release()}.", "",
          "Absolute numbers vary between machines (and between runs on a shared VM); "
          "the ratios, each measured against its baseline in the same run, are what to "
          "compare. Every figure below is copied from the JSON files next to this "
          "report (`pool.json`, `stack.json`, `http.json`, `conns.json`, `preload.json`, `memory.json`, `bpf.json`).", ""]
    bars_met = []

    if mem:
        md += ["## Pinned memory under bursty loads", "",
               "Per load, the servers run at once on the same veth and their bursts take turns, so drifts of "
               "the machine hit all alike; each had one warm-up burst before the measured window (the static "
               "pool touched all its memory at start). The static pool is what other kernel-bypass stacks "
               "run: registered at start, never released, each connection with a fixed 1 MiB send buffer, "
               "sized from a calibration burst of such a server. The elastic servers size send buffers by "
               "need. Pinned bytes are the pool's counters sampled every 200 ms (VmPin, the kernel's count, "
               "is in the CSVs). Each trace is plotted from its own start.", ""]
        for lname, lm in mem.get("loads", {}).items():
            ld = lm.get("load", {})
            md += [f"### Load `{lname}`: {ld.get('client')}", "",
                   f"Idle {ld.get('idle_s')} s, then {ld.get('bursts')} bursts of {ld.get('burst_s')} s, "
                   f"each followed by {ld.get('idle_s')} s idle; calibration peak "
                   f"{fmt(lm.get('calibration_peak_MiB'))} MiB.", ""]
            png = memory_plot(d, lname, lm)
            if png:
                md += [f"![pinned memory over time, {lname}]({png})", ""]
            md += ["| pool | time-avg pinned MiB | vs static | peak MiB | base MiB | MB/s (mean of bursts) | vs static | req/s | p99 ms | errors | failed allocations | back at base after the pool goes quiet (s) |",
                   "|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for n, t in TITLES.items():
                r = lm.get(n)
                if not r:
                    continue
                md.append(f"| {t} | {fmt(r.get('avg_pinned_MiB'), 2)} | {fmt(r.get('avg_pinned_vs_static', 1.0 if n == 'static' else None), 3)} | "
                          f"{fmt(r.get('peak_MiB'))} | {fmt(r.get('base_MiB'))} | {fmt(r.get('MB_per_s'))} | "
                          f"{fmt(r.get('throughput_vs_static', 1.0 if n == 'static' else None), 3)} | {r.get('req_per_s')} | {fmt(r.get('p99_ms'))} | {r.get('errors')} | {r.get('failed_allocations', '-')} | "
                          f"{', '.join(fmt(x) for x in r.get('back_at_base_after_quiet_s', [])) if n != 'static' else '-'} |")
            md += [""]
        b = mem.get("bar", {})
        md += [f"Bar: in every load, time-averaged pinned memory at most {b.get('avg_pinned_max_ratio')}x the static pool, "
               f"throughput (MB/s) at least {b.get('throughput_min_ratio')}x, zero errors and failed allocations, "
               f"back at base within the idle period + one sample of the pool going quiet; the bulk load's peak at most "
               f"{b.get('bulk_peak_max_MiB')} MiB: **{'met' if b.get('met') else 'NOT met'}**"
               + (" (" + "; ".join(b.get("missed", [])) + ")" if b.get("missed") else "") + ".", ""]
        bars_met.append(("memory", b.get("met")))

    if stack:
        md += ["## pinnet against the kernel's TCP", ""]
        m = stack.get("machine", {})
        md += [f"Same application (pinnet-perf on pinnet and with --kernel), two veth pairs between "
               f"the same namespaces, peer at default offloads; medians of {stack.get('runs')} rounds "
               f"of {stack.get('seconds_each')} s each.", ""]
        rows = [("receive, CUBIC sender", "receive_cubic_MBps"), ("receive, BBR sender", "receive_bbr_MBps"),
                ("send", "send_MBps")]
        png = bars(d, "throughput", "Bulk throughput (iperf3 client on the kernel side)", "MB/s",
                   [r[0] for r in rows],
                   [("pinnet", [stack[k]["pinnet"] for _, k in rows]),
                    ("kernel TCP", [stack[k]["kernel"] for _, k in rows])])
        if png:
            md += [f"![throughput]({png})", ""]
        md += ["| test | pinnet MB/s | kernel MB/s | ratio | pinnet runs | kernel runs |", "|---|---|---|---|---|---|"]
        for t, k in rows:
            r = stack[k]
            md.append(f"| {t} | {r['pinnet']} | {r['kernel']} | {r['ratio']} | {r.get('pinnet_runs')} | {r.get('kernel_runs')} |")
        rr = stack["rr_64B"]
        lat = rr["latency_us"]
        png = bars(d, "latency", "64-byte request/response latency (sockperf ping-pong)", "microseconds (log scale)",
                   ["p50", "p99", "p99.9"],
                   [("pinnet", [lat["pinnet"][p] for p in ("p50", "p99", "p99.9")]),
                    ("kernel TCP", [lat["kernel"][p] for p in ("p50", "p99", "p99.9")])],
                   logscale=True)
        if png:
            md += ["", f"![latency]({png})", ""]
        md += ["", "| request/response | rate /s | p50 us | p99 us | p99.9 us |", "|---|---|---|---|---|",
               f"| pinnet | {rr['pinnet_per_s']} | {lat['pinnet']['p50']} | {lat['pinnet']['p99']} | {lat['pinnet']['p99.9']} |",
               f"| kernel | {rr['kernel_per_s']} | {lat['kernel']['p50']} | {lat['kernel']['p99']} | {lat['kernel']['p99.9']} |",
               f"| ratio | {rr['ratio']} | | | |", ""]
        c = stack.get("connections_per_s", {})
        c1 = stack.get("connections_per_s_one_client", {})
        md += [f"Connections per second ({c.get('clients', 1)} clients at once): pinnet {c.get('pinnet')}, kernel {c.get('kernel')} "
               f"(ratio {c.get('ratio')})" + (f"; one client alone, which measures the handshake's round trip more than the "
               f"server: pinnet {c1.get('pinnet')}, kernel {c1.get('kernel')} (ratio {c1.get('ratio')})" if c1 else "") + ".", ""]
        f = stack.get("pinnet_receive_frames")
        if f:
            md += [f"pinnet's receive path: {f['rx_frames_per_s']:.0f} frames/s, {f['rx_bytes_per_frame']:.0f} bytes/frame, "
                   f"{f['ack_frames_per_MiB']:.1f} ACK frames per MiB.", ""]
        sc = stack.get("pinnet_send_costs")
        if sc:
            md += [f"pinnet's send path, per MiB sent: {sc['writes_per_MiB']:.1f} writes ({sc['super_frames_per_MiB']:.1f} "
                   f"super-frames), {sc['submissions_per_MiB']:.1f} ring submissions, {sc['ack_frames_received_per_MiB']:.1f} "
                   f"ACK frames received; {sc['bytes_copied_per_byte']:.2f} bytes copied per byte sent.", ""]
        b = stack.get("bar", {})
        md += [f"Bar: send at least {b.get('send_min_ratio')}x, receive at least {b.get('receive_min_ratio')}x with each "
               f"congestion control, request/response at least {b.get('rr_min_ratio')}x: "
               f"**{'met' if b.get('met') else 'NOT met'}**" + (f" (missed: {', '.join(b['missed'])})" if b.get('missed') else "") + ".", ""]
        bars_met.append(("stack", b.get("met")))

    if http:
        md += ["## HTTP: pinnet-httpd against nginx", "",
               f"{http.get('client')}; pinnet-httpd on pinnet, the same binary on kernel sockets, and nginx-light on "
               f"kernel sockets (one worker, sendfile on), the same files, medians of {http.get('runs')} rounds of "
               f"{http.get('seconds_each')} s; ratios against nginx.", "",
               "| body | connections | server | req/s | MB/s | p50 ms | p99 ms | errors | CPU s per GB | ratio (MB/s) |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for l in http["loads"]:
            for who in ("pinnet", "kernel", "nginx"):
                sv = l["servers"].get(who)
                if sv:
                    md.append(f"| {l['body']} | {l['connections']} | {sv['name']} | {sv['req_per_s']} | {sv['MBps']} | "
                              f"{sv['p50_ms']} | {sv['p99_ms']} | {sv['errors']} | {sv['cpu_s_per_GB']} | "
                              f"{sv.get('ratio_MBps', '')} |")
        b = http.get("bar", {})
        md += ["", f"Bar: pinnet-httpd on pinnet at least {b.get('pinnet_min_ratio')}x nginx (1 MiB MB/s, 1 KiB req/s), "
               f"p99 no worse, no errors: **{'met' if b.get('met') else 'NOT met'}**"
               + (f" (missed: {', '.join(b['missed'])})" if b.get('missed') else "") + ".", ""]
        bars_met.append(("http", b.get("met")))

    if conns:
        md += ["## Many connections: pinnet-httpd against nginx", "",
               f"{conns.get('client')}; medians of {conns.get('runs')} rounds of {conns.get('seconds_each')} s; "
               "ratios against the same server with nothing idle and against nginx.", ""]
        rows = [l for l in conns["loads"] if l["active"] == 1000]
        idles = sorted({l["idle"] for l in rows})
        def rps(who, idle):
            return next((l["req_per_s"] for l in rows if l["server"] == who and l["idle"] == idle), 0)
        png = bars(d, "conns", "1 KiB requests from 1000 active connections beside idle ones", "requests/s",
                   [f"{i} idle" for i in idles],
                   [("pinnet-httpd on pinnet", [rps("pinnet", i) for i in idles]),
                    ("nginx on kernel sockets", [rps("nginx", i) for i in idles])])
        if png:
            md += [f"![connections]({png})", ""]
        md += ["| server | idle | active | req/s | p99 ms | errors | CPU us per request | idle set up in s | still usable | "
               "RSS B per idle | pinned B per idle | vs none idle | vs nginx |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for l in conns["loads"]:
            md.append(f"| {l['name']} | {l['idle']} | {l['active']} | {l['req_per_s']} | {l['p99_ms']} | {l['errors']} | "
                      f"{l.get('cpu_us_per_req', '')} | "
                      f"{l.get('idle_setup_s', '')} | {l.get('idle_usable_after', '')} | {l.get('rss_bytes_per_idle', '')} | "
                      f"{l.get('pinned_bytes_per_idle', '')} | {l.get('ratio_vs_none_idle', '')} | {l.get('ratio_vs_nginx', '')} |")
        if conns.get("nginx_idle_max"):
            md += ["", f"nginx: {conns['nginx_idle_max']}."]
        b = conns.get("bar", {})
        md += ["", f"Bar: every idle connection up and still usable, req/s with the most idle at least 0.9x with none, "
               f"pinnet-httpd at least 1.0x nginx at 1000 and 10000 active, per idle connection 0 pinned bytes and at most "
               f"1 KiB: **{'met' if b.get('met') else 'NOT met'}**" + (f" (missed: {', '.join(b['missed'])})" if b.get('missed') else "") + ".", ""]
        bars_met.append(("conns", b.get("met")))

    if preload:
        md += preload_section(d, preload)
        bars_met.append(("preload", preload.get("bar", {}).get("met")))

    if pool:
        md += ["## Pool alloc+free against glibc malloc and a free list", ""]
        ns = pool["ns_per_pair"]
        png = bars(d, "pool", f"alloc+free pairs of {pool.get('buf_size')} B buffers", "ns per pair",
                   ["single pair", "bursts of 64"],
                   [(t, [ns[n]["single"], ns[n]["burst64"]]) for n, t in
                    (("pool", "pinnet pool"), ("malloc", "glibc malloc"), ("freelist", "static free list"))])
        if png:
            md += [f"![pool]({png})", ""]
        md += ["| ns per pair | pool | glibc malloc | static free list | pool/malloc | pool/free list |",
               "|---|---|---|---|---|---|"]
        for k in ("single", "burst64"):
            md.append(f"| {k} | {ns['pool'][k]} | {ns['malloc'][k]} | {ns['freelist'][k]} | "
                      f"{pool['ratio']['pool_vs_malloc'][k]} | {pool['ratio']['pool_vs_freelist'][k]} |")
        g = pool.get("grow_release_us", {})
        if g:
            md += ["", "| block | grow us | release us |", "|---|---|---|"]
            for k, v in g.items():
                md.append(f"| {k} | {v['grow']} | {v['release']} |")
        b = pool.get("bar", {})
        md += ["", f"Medians of {pool.get('repeats')} repeats of per-repeat ratios. Bar: at most "
               f"{b.get('pool_vs_malloc_max')}x malloc and {b.get('pool_vs_freelist_max')}x the free list: "
               f"**{'met' if b.get('met') else 'NOT met'}**.", ""]
        bars_met.append(("pool", b.get("met")))

    if bpf:
        md += ["## The BPF tools attached", ""]
        loss = bpf["loss"]
        idle = bpf["probes_idle_vs_compiled_out"]
        bulk = bpf["perf_bulk_receive_MBps"]
        cheap = [("top", loss["top"]), ("trace", loss["trace"]),
                 ("probes idle (mean)", idle.get("loss_mean", idle["loss_burst64"])), ("trace on bulk receive", bulk["loss_trace"])]
        png = bars(d, "bpf", "Cost of pinnet-bpf attached (percent of throughput lost)", "% lost",
                   [n for n, _ in cheap], [("cost", [round(100 * max(v, 0), 2) for _, v in cheap])])
        if png:
            md += [f"![bpf cost]({png})", ""]
        md += ["| attached | throughput lost |", "|---|---|"]
        for n in ("top", "trace", "leaks", "hist"):
            md.append(f"| {n} (alloc+free loop) | {100 * loss[n]:.1f}% |")
        md += [f"| probes compiled in, nothing attached (single / burst64; mean) | {100 * idle['loss_single']:.1f}% / {100 * idle['loss_burst64']:.1f}%; {100 * idle.get('loss_mean', idle['loss_burst64']):.1f}% |",
               f"| trace, bulk receive {bulk['none']} -> {bulk['trace']} MB/s | {100 * bulk['loss_trace']:.1f}% |", "",
               "leaks and hist put uprobes on every alloc and free: they are for finding a leak, not for "
               "production (see pinnet-bpf --help). Negative figures are noise (faster with the tool attached).", ""]
        b = bpf.get("bar", {})
        md += [f"Bar: top and trace, and the idle probes, at most {100 * b.get('top_trace_max_loss', 0):.0f}%: "
               f"**{'met' if b.get('met') else 'NOT met'}**.", ""]
        bars_met.append(("bpf", b.get("met")))

    md += ["## Bars", "", "| benchmark | bar |", "|---|---|"]
    md += [f"| {n} | {'met' if m else 'NOT met'} |" for n, m in bars_met]
    with open(os.path.join(d, "REPORT.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    for n, m in bars_met:
        print(f"bench_render: {n}: bar {'met' if m else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
