/* SPDX-License-Identifier: MIT */
/*
 * pinnet-fault: make a network device behave like a bad link, for as long
 * as the command runs. A BPF classifier on the device's clsact hooks drops,
 * duplicates, corrupts and truncates frames with the given probabilities;
 * a share of frames takes a detour through a rate-limited HTB class (on the
 * device for frames it sends, on an IFB device for frames it receives) and
 * arrives late: reordered, or all delayed when the share is 100%. This
 * kernel has no netem; this is the BPF way to the same faults.
 *
 * Counters are printed every interval and at exit; SIGINT/SIGTERM or the
 * duration detach everything and put the device back as it was.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <net/if.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fault.h"
#include "fault.skel.h"
#include "util.h"

extern char **environ;

static const char *const counter_names[PNF_CNT_NR] = {
	[PNF_SEEN] = "seen",
	[PNF_DROPPED] = "dropped",
	[PNF_DUPLICATED] = "duplicated",
	[PNF_CORRUPTED] = "corrupted",
	[PNF_CORRUPT_HDR] = "corrupted_in_ip_header",
	[PNF_TRUNCATED] = "truncated",
	[PNF_DETOURED] = "detoured",
	[PNF_FAILED] = "failed",
};

static const char *const dir_names[PNF_DIR_NR] = { "ingress", "egress" };

static struct env {
	const char *dev;
	bool dirs[PNF_DIR_NR]; /* which hooks get the faults */
	double pct[5]; /* drop, dup, corrupt, truncate, detour */
	const char *rate; /* detour class rate, tc syntax */
	const char *limit; /* detour queue, bytes */
	double interval; /* 0: counters only at exit */
	double duration; /* 0: until a signal */
	bool json, verbose, dry;
} env = { .rate = "100mbit", .limit = "262144", .interval = 1.0 };

enum { O_DROP = 0, O_DUP, O_CORRUPT, O_TRUNCATE, O_DETOUR };

static int libbpf_out(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Run a command (no shell); quiet tolerates failure (cleanup). */
static int run(bool quiet, const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;

	if (env.verbose) {
		fprintf(stderr, "pinnet-fault: +");
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
	}
	posix_spawn_file_actions_init(&fa);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
						 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
			  environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		if (!quiet)
			fprintf(stderr, "pinnet-fault: cannot run %s: %s\n",
				argv[0], strerror(rc));
		return -rc;
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (!quiet) {
		fprintf(stderr, "pinnet-fault: failed:");
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
	}
	return -EIO;
}

/* HTB at the root of DEV: unclassified frames go straight through (no
 * default class); class 1:2 is the detour, drained at env.rate. */
static int add_detour_qdisc(const char *dev)
{
	const char *q[] = { "tc",   "qdisc",  "replace", "dev", dev,
			    "root", "handle", "1:",	 "htb", NULL };
	const char *c[] = { "tc",     "class",	"add",	   "dev",    dev,
			    "parent", "1:",	"classid", "1:2",    "htb",
			    "rate",   env.rate, "ceil",	   env.rate, NULL };
	const char *l[] = { "tc",     "qdisc",	 "add",	   "dev", dev,
			    "parent", "1:2",	 "handle", "2:",  "bfifo",
			    "limit",  env.limit, NULL };

	if (run(false, q) || run(false, c) || run(false, l))
		return -1;
	return 0;
}

static void del_root_qdisc(const char *dev)
{
	const char *q[] = { "tc", "qdisc", "del", "dev", dev, "root", NULL };

	run(true, q);
}

struct state {
	struct pn_fault *skel;
	int ifindex;
	char ifb[IF_NAMESIZE];
	bool made_ifb, made_root, made_clsact;
	bool attached[PNF_DIR_NR];
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts[PNF_DIR_NR];
};

static void teardown(struct state *s)
{
	for (int d = 0; d < PNF_DIR_NR; d++) {
		if (!s->attached[d])
			continue;
		s->hook.attach_point =
			d == PNF_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		s->opts[d].flags = s->opts[d].prog_fd = s->opts[d].prog_id = 0;
		bpf_tc_detach(&s->hook, &s->opts[d]);
	}
	if (s->made_clsact) {
		s->hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&s->hook);
	}
	if (s->made_root)
		del_root_qdisc(env.dev);
	if (s->made_ifb) {
		const char *del[] = { "ip", "link", "del", s->ifb, NULL };

		run(true, del);
	}
	pn_fault__destroy(s->skel);
}

static uint32_t prob(double pct)
{
	if (pct >= 100.0)
		return UINT32_MAX;
	return (uint32_t)llround(pct / 100.0 * 4294967296.0);
}

static int setup(struct state *s)
{
	bool detour = env.pct[O_DETOUR] > 0;
	int err;

	s->ifindex = (int)if_nametoindex(env.dev);
	if (!s->ifindex) {
		fprintf(stderr, "pinnet-fault: no device '%s' here: %s\n",
			env.dev, strerror(errno));
		return -1;
	}
	s->skel = pn_fault__open();
	if (!s->skel) {
		fprintf(stderr,
			"pinnet-fault: cannot open the BPF object: %s\n",
			strerror(errno));
		return -1;
	}
	for (int d = 0; d < PNF_DIR_NR; d++) {
		struct pn_fault_cfg *c = &s->skel->bss->cfg[d];

		if (!env.dirs[d])
			continue;
		c->drop = prob(env.pct[O_DROP]);
		c->dup = prob(env.pct[O_DUP]);
		c->corrupt = prob(env.pct[O_CORRUPT]);
		c->truncate = prob(env.pct[O_TRUNCATE]);
		c->detour = prob(env.pct[O_DETOUR]);
	}
	if (detour && env.dirs[PNF_INGRESS]) {
		/* frames received can only queue on an IFB's egress */
		const char *add[] = { "ip",   "link", "add", s->ifb,
				      "type", "ifb",  NULL };
		const char *up[] = { "ip", "link", "set", s->ifb, "up", NULL };

		snprintf(s->ifb, sizeof(s->ifb), "pnf%d", s->ifindex);
		if (run(false, add))
			return -1;
		s->made_ifb = true;
		if (run(false, up) || add_detour_qdisc(s->ifb))
			return -1;
		s->skel->bss->cfg[PNF_INGRESS].ifb_ifindex =
			if_nametoindex(s->ifb);
	}
	if (detour && env.dirs[PNF_EGRESS]) {
		s->made_root = true;
		if (add_detour_qdisc(env.dev))
			return -1;
	}
	err = pn_fault__load(s->skel);
	if (err) {
		fprintf(stderr,
			"pinnet-fault: the kernel refused the BPF program: %s "
			"(root, CAP_BPF and CAP_NET_ADMIN needed; -v shows "
			"the verifier's log)\n",
			strerror(-err));
		return -1;
	}
	s->hook = (struct bpf_tc_hook){ .sz = sizeof(s->hook),
					.ifindex = s->ifindex,
					.attach_point = BPF_TC_INGRESS |
							BPF_TC_EGRESS };
	err = bpf_tc_hook_create(&s->hook);
	if (err && err != -EEXIST) {
		fprintf(stderr, "pinnet-fault: cannot add clsact to %s: %s\n",
			env.dev, strerror(-err));
		return -1;
	}
	s->made_clsact = !err;
	for (int d = 0; d < PNF_DIR_NR; d++) {
		struct bpf_program *p =
			d == PNF_INGRESS ? s->skel->progs.pn_fault_ingress :
					   s->skel->progs.pn_fault_egress;

		if (!env.dirs[d])
			continue;
		s->hook.attach_point =
			d == PNF_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		s->opts[d] =
			(struct bpf_tc_opts){ .sz = sizeof(s->opts[d]),
					      .handle = 0x70f,
					      .priority = 1,
					      .prog_fd = bpf_program__fd(p) };
		err = bpf_tc_attach(&s->hook, &s->opts[d]);
		if (err) {
			fprintf(stderr,
				"pinnet-fault: cannot attach to %s %s: %s "
				"(another pinnet-fault on it?)\n",
				env.dev, dir_names[d], strerror(-err));
			return -1;
		}
		s->attached[d] = true;
	}
	return 0;
}

static int read_counters(struct state *s, uint64_t out[PNF_DIR_NR][PNF_CNT_NR])
{
	int ncpu = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(s->skel->maps.counters);
	uint64_t *v;

	if (ncpu <= 0)
		return -1;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -1;
	for (uint32_t k = 0; k < PNF_DIR_NR * PNF_CNT_NR; k++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &k, v)) {
			free(v);
			return -1;
		}
		for (int c = 0; c < ncpu; c++)
			sum += v[c];
		out[k / PNF_CNT_NR][k % PNF_CNT_NR] = sum;
	}
	free(v);
	return 0;
}

static void print_counters(struct state *s, double t, bool final)
{
	uint64_t c[PNF_DIR_NR][PNF_CNT_NR];

	if (read_counters(s, c)) {
		fprintf(stderr, "pinnet-fault: cannot read the counters\n");
		return;
	}
	if (env.json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "dev",
				       json_object_new_string(env.dev));
		json_object_object_add(o, "t", json_object_new_double(t));
		json_object_object_add(o, "final",
				       json_object_new_boolean(final));
		for (int d = 0; d < PNF_DIR_NR; d++) {
			struct json_object *dj;

			if (!env.dirs[d])
				continue;
			dj = json_object_new_object();
			for (int k = 0; k < PNF_CNT_NR; k++)
				json_object_object_add(
					dj, counter_names[k],
					json_object_new_int64(
						(int64_t)c[d][k]));
			json_object_object_add(o, dir_names[d], dj);
		}
		printf("%s\n", json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		for (int d = 0; d < PNF_DIR_NR; d++) {
			if (!env.dirs[d])
				continue;
			printf("%s%7.1fs %-7s", final ? "total " : "", t,
			       dir_names[d]);
			for (int k = 0; k < PNF_CNT_NR; k++)
				printf(" %s %" PRIu64, counter_names[k],
				       c[d][k]);
			printf("\n");
		}
	}
	fflush(stdout);
}

static const char doc[] =
	"Make network device DEV behave like a bad link while this runs.\n"
	"\v"
	"Each frame DEV receives (ingress) or sends (egress) meets, in order:\n"
	"drop (--drop), truncation to a random length (--truncate), one bit\n"
	"flipped (--corrupt), a copy sent after it (--dup), and a detour\n"
	"(--detour) through a queue drained at --detour-rate: detoured frames\n"
	"arrive after the others (reordering); with --detour 100 every frame\n"
	"waits in the queue (delay, up to --detour-limit bytes of it). Detours\n"
	"replace DEV's root qdisc with HTB (egress) and create an IFB device\n"
	"pnfIFINDEX (ingress); both go when this exits.\n"
	"\n"
	"A flipped bit lands where a checksum covers it: a TCP/UDP frame whose\n"
	"checksum the sender left to an offload (a veth's default) has none\n"
	"yet, so those get their bit in the IPv4 header (counted as\n"
	"corrupted_in_ip_header). Percentages are per frame; a TSO/GRO\n"
	"super-frame counts as one frame.\n"
	"\n"
	"Counters are printed every INTERVAL and at exit (total ...). Ctrl-C,\n"
	"SIGTERM or --duration detach everything. After a SIGKILL,\n"
	"`tc qdisc del dev DEV clsact` (and root, and `ip link del pnfN`)\n"
	"clean up by hand. Needs root (CAP_BPF, CAP_NET_ADMIN).\n"
	"\n"
	"Example: 2% loss and 1% duplicates both ways on veth0 for a minute:\n"
	"  pinnet-fault --drop 2 --dup 1 --duration 60 veth0\n"
	"Exit status: 0 after a clean detach, 1 on a setup error, 2 on bad\n"
	"arguments.";

static const struct argp_option opts[] = {
	{ "drop", 'D', "PCT", 0, "drop PCT% of frames", 0 },
	{ "dup", 'u', "PCT", 0, "duplicate PCT% of frames", 0 },
	{ "corrupt", 'c', "PCT", 0, "flip one bit in PCT% of frames", 0 },
	{ "truncate", 't', "PCT", 0, "cut PCT% of frames short", 0 },
	{ "detour", 'r', "PCT", 0,
	  "send PCT% of frames through the slow queue (reorder; 100: delay)",
	  0 },
	{ "detour-rate", 'R', "RATE", 0,
	  "the slow queue's rate, tc syntax (default 100mbit)", 0 },
	{ "detour-limit", 'L', "BYTES", 0,
	  "the slow queue's size (default 262144); frames beyond it drop", 0 },
	{ "ingress", 'i', NULL, 0, "only frames DEV receives", 0 },
	{ "egress", 'e', NULL, 0, "only frames DEV sends", 0 },
	{ "interval", 'I', "SECS", 0,
	  "print counters every SECS (default 1; 0: only at exit)", 0 },
	{ "duration", 'd', "SECS", 0, "detach after SECS (default: never)", 0 },
	{ "json", 'j', NULL, 0, "counters as one JSON object per line", 0 },
	{ "verbose", 'v', NULL, 0, "show tc/ip commands and libbpf's log", 0 },
	{ 0 },
};

static double parse_num(struct argp_state *st, const char *what,
			const char *arg, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0) || v > max)
		argp_error(st, "%s wants a number from 0 to %g, not '%s'", what,
			   max, arg);
	return v;
}

static error_t parse(int key, char *arg, struct argp_state *st)
{
	switch (key) {
	case 'D':
		env.pct[O_DROP] = parse_num(st, "--drop", arg, 100);
		break;
	case 'u':
		env.pct[O_DUP] = parse_num(st, "--dup", arg, 100);
		break;
	case 'c':
		env.pct[O_CORRUPT] = parse_num(st, "--corrupt", arg, 100);
		break;
	case 't':
		env.pct[O_TRUNCATE] = parse_num(st, "--truncate", arg, 100);
		break;
	case 'r':
		env.pct[O_DETOUR] = parse_num(st, "--detour", arg, 100);
		break;
	case 'R':
		env.rate = arg;
		break;
	case 'L':
		parse_num(st, "--detour-limit", arg, 1e9);
		env.limit = arg;
		break;
	case 'i':
		env.dirs[PNF_INGRESS] = true;
		break;
	case 'e':
		env.dirs[PNF_EGRESS] = true;
		break;
	case 'I':
		env.interval = parse_num(st, "--interval", arg, 86400);
		break;
	case 'd':
		env.duration = parse_num(st, "--duration", arg, 1e9);
		break;
	case 'j':
		env.json = true;
		break;
	case 'v':
		env.verbose = true;
		break;
	case ARGP_KEY_ARG:
		if (env.dev)
			argp_error(st, "one device only ('%s' and '%s')",
				   env.dev, arg);
		if (strlen(arg) >= IF_NAMESIZE)
			argp_error(st, "'%s' is too long for a device name",
				   arg);
		env.dev = arg;
		break;
	case ARGP_KEY_END:
		if (!env.dev)
			argp_error(st, "which device? (DEV)");
		if (!env.dirs[PNF_INGRESS] && !env.dirs[PNF_EGRESS])
			env.dirs[PNF_INGRESS] = env.dirs[PNF_EGRESS] = true;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { opts, parse, "DEV", doc,
					  NULL, NULL,  NULL };
	struct state s = { 0 };
	double t0, next;
	int rc = 0;

	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	libbpf_set_print(libbpf_out);
	stop_on_signals();
	if (setup(&s)) {
		teardown(&s);
		return 1;
	}
	fprintf(stderr,
		"pinnet-fault: on %s (%s%s%s): drop %g%% dup %g%% corrupt %g%% "
		"truncate %g%% detour %g%% at %s\n",
		env.dev, env.dirs[PNF_INGRESS] ? "ingress" : "",
		env.dirs[PNF_INGRESS] && env.dirs[PNF_EGRESS] ? "+" : "",
		env.dirs[PNF_EGRESS] ? "egress" : "", env.pct[O_DROP],
		env.pct[O_DUP], env.pct[O_CORRUPT], env.pct[O_TRUNCATE],
		env.pct[O_DETOUR], env.rate);
	t0 = now_s();
	next = t0 + env.interval;
	while (!stop) {
		double t = now_s();

		if (env.duration > 0 && t - t0 >= env.duration)
			break;
		if (env.interval > 0 && t >= next) {
			print_counters(&s, t - t0, false);
			next += env.interval;
		}
		usleep(50 * 1000);
	}
	print_counters(&s, now_s() - t0, true);
	teardown(&s);
	return rc;
}
