/* SPDX-License-Identifier: MIT */
/*
 * pinnet-bpf: watch a live pinnet pool without restarting the process.
 *
 *   top    the always-on counters files (no BPF needed): per pool, class and
 *          block, refreshed every interval, with rates of grows and releases;
 *          for a stack's pool, what its connections hold by class
 *   trace  one line per slow-path event (USDT probes) and per kernel-side
 *          registration step (io_uring tracepoints)
 *   leaks  buffers outstanding longer than AGE, grouped by allocation stack
 *          and owner tag (per-buffer probes)
 *   hist   log2 histograms of buffer lifetime, wait at the wall, grow latency
 *
 * -j prints one JSON object per line (see --help). Ctrl-C detaches.
 *
 * This file: the command line, the checks before anything attaches, and
 * the dispatch to the subcommands (top.c, trace.c, leaks.c, hist.c).
 */
#include <argp.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "pinnet/pool_stats.h"
#include "subcmd.h"
#include "util.h"

struct env env = { .interval = 1.0,
		   .count = -1,
		   .min_age = 1.0,
		   .dir = PN_STATS_DIR };

const char *const reasons[7] = { "api",	     "idle",	"peak",	   "underuse",
				 "pressure", "destroy", "forecast" };

void emit_json(struct json_object *o)
{
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	fflush(stdout);
}

void emit_attached(const char *path)
{
	struct json_object *o = json_object_new_object();

	J_STR(o, "type", "attached");
	J_INT(o, "pid", env.pid);
	if (path)
		J_STR(o, "path", path);
	emit_json(o);
}

/* ---- checks --------------------------------------------------------------- */

static int libbpf_out(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	if (level == LIBBPF_INFO && !env.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* CAP_BPF (39) and CAP_PERFMON (38), or CAP_SYS_ADMIN (21), effective. */
static int check_caps(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long eff = 0;
	char line[256];

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "CapEff: %llx", &eff) == 1)
				break;
		fclose(f);
	}
	if ((eff & (1ull << 21)) ||
	    ((eff & (1ull << 39)) && (eff & (1ull << 38))))
		return 0;
	fprintf(stderr,
		"pinnet-bpf %s: needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process has %s%s (run it as root)\n",
		env.cmd, eff & (1ull << 39) ? "CAP_BPF" : "not CAP_BPF",
		eff & (1ull << 38) ? ", CAP_PERFMON" : ", not CAP_PERFMON");
	return -1;
}

static int check_btf(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0)
		return 0;
	fprintf(stderr,
		"pinnet-bpf %s: this kernel has no BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF): the BPF subcommands cannot run; 'top' still works\n",
		env.cmd);
	return -1;
}

/* ---- arguments -------------------------------------------------------------------- */

const char *argp_program_version = "pinnet-bpf 0.1.0";
static const char doc[] =
	"Watch a live pinnet pool.\v"
	"Subcommands:\n"
	"  top   [-p PID] [-b] [INTERVAL [COUNT]]  counters of every pool (no BPF),\n"
	"        and of a stack's connections by class: opening-closing, peer-window\n"
	"        (unsent data behind the peer's full window), sending, unread (data\n"
	"        the application has not read), idle\n"
	"  trace -p PID                        slow-path events + kernel registrations\n"
	"  leaks -p PID [-o AGE] [INTERVAL [COUNT]]  buffers out longer than AGE s\n"
	"  hist  -p PID [INTERVAL [COUNT]]     lifetime, wait-at-wall, grow histograms\n"
	"\n"
	"JSON (-j), one object per line, with \"type\": \"pool\" (top: pid, name,\n"
	"pinned_bytes, pinned_high, wall_bytes, vmpin_kb, classes[]: buf_size,\n"
	"pinned_bytes, in_use, free, high_water, blocks_*, grows, grow_refused,\n"
	"releases_<reason>, queue_len, queued, refusals, leaks, errors, blocks[] with\n"
	"-b; for a stack's pool connections[]: class, conns, tx_queued, tx_inflight,\n"
	"tx_unsent, rx_unread, rx_ooseq, pinned_bytes, tx_limit_sum, rwnd_sum,\n"
	"send_budget: budget_bytes, used_bytes, waits, overdue, when it has one;\n"
	"frames: rx, tx, tx_pure_acks, tx_writes, submits),\n"
	"\"attached\", \"event\" (trace: event, time, pid, tid, buf_size, block,\n"
	"and per event: bytes, slot, latency_ns, reason, in_use, addr, owner, age_ms,\n"
	"queue_len, wait_ms, err, opcode, nr_bufs, ret, res), \"leak\" (count, bytes,\n"
	"size, owner, oldest_s, stack[]), \"leaks_done\", \"hist\" (hist, unit,\n"
	"count, buckets[]: low, high, count).\n"
	"\n"
	"OVERHEAD (measured by tests/bench/bench_bpf.sh, see README): top reads\n"
	"shared memory only: nothing in the target. trace attaches to slow-path\n"
	"probes only (grow, release, ...) and to io_uring's register/complete\n"
	"tracepoints (a filter per completion): no loss measurable above noise\n"
	"(< 3%). leaks and hist put uprobes on pn_buf_alloc (entry and return) and\n"
	"pn_buf_free: every allocation and free then traps into the kernel, about\n"
	"1-3 us each, so alloc+free loops slow down by two orders of magnitude:\n"
	"use them to find a leak, not while measuring. Nothing attached: the fast\n"
	"paths carry no probe at all; slow-path probes are one untaken branch.\n"
	"\n"
	"Needs root (CAP_BPF + CAP_PERFMON) except top, which needs read access to\n"
	"the counters files (their owner or root).";

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "the process to watch", 0 },
	{ "json", 'j', NULL, 0, "one JSON object per line", 0 },
	{ "older", 'o', "AGE", 0,
	  "leaks: report buffers out longer than AGE seconds (default 1)", 0 },
	{ "blocks", 'b', NULL, 0, "top: show every block", 0 },
	{ "dir", 'd', "DIR", 0, "top: counters folder (default /run/pinnet)",
	  0 },
	{ "verbose", 'v', NULL, 0, "libbpf's messages", 0 },
	{ 0 },
};

static error_t parse(int key, char *arg, struct argp_state *state)
{
	static int npos;
	char *end;

	switch (key) {
	case 'p':
		env.pid = (int)strtol(arg, &end, 10);
		if (*end || env.pid <= 0)
			argp_error(state, "-p wants a PID, not '%s'", arg);
		break;
	case 'j':
		env.json = true;
		break;
	case 'o':
		env.min_age = strtod(arg, &end);
		if (*end || env.min_age < 0)
			argp_error(state, "-o wants seconds, not '%s'", arg);
		break;
	case 'b':
		env.blocks = true;
		break;
	case 'd':
		env.dir = arg;
		break;
	case 'v':
		env.verbose = true;
		break;
	case ARGP_KEY_ARG:
		if (!env.cmd) {
			if (strcmp(arg, "top") && strcmp(arg, "trace") &&
			    strcmp(arg, "leaks") && strcmp(arg, "hist"))
				argp_error(state, "unknown subcommand '%s'",
					   arg);
			env.cmd = arg;
		} else if (npos == 0) {
			env.interval = strtod(arg, &end);
			if (*end || env.interval <= 0)
				argp_error(state,
					   "INTERVAL wants seconds, not '%s'",
					   arg);
			npos++;
		} else if (npos == 1) {
			env.count = strtol(arg, &end, 10);
			if (*end || env.count <= 0)
				argp_error(
					state,
					"COUNT wants a positive number, not '%s'",
					arg);
			npos++;
		} else {
			argp_error(state, "too many arguments");
		}
		break;
	case ARGP_KEY_END:
		if (!env.cmd)
			argp_error(
				state,
				"a subcommand is needed: top, trace, leaks or hist");
		if (strcmp(env.cmd, "top") && !env.pid)
			argp_error(state, "%s needs -p PID", env.cmd);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		opts, parse, "SUBCOMMAND [INTERVAL [COUNT]]", doc, NULL,
		NULL, NULL
	};
	char path[4700];
	int rc;

	rc = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (rc)
		return 2;
	stop_on_signals();
	if (!strcmp(env.cmd, "top")) {
		if (env.pid && check_pid(env.pid))
			return 1;
		return cmd_top();
	}
	if (check_caps() || check_btf() || check_pid(env.pid))
		return 1;
	elf_version(EV_CURRENT);
	if (find_probes(env.pid, path, sizeof(path)))
		return 1;
	libbpf_set_print(libbpf_out);
	if (!strcmp(env.cmd, "trace"))
		return cmd_trace(path);
	if (!strcmp(env.cmd, "leaks"))
		return cmd_leaks(path);
	return cmd_hist(path);
}
