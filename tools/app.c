/* SPDX-License-Identifier: MIT */
/* The options every pinnet application takes; see app.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

struct ini_ctx {
	struct app_opts *ao;
	char err[256];
};

static int set_addr(struct app_opts *ao, const char *v, char *err,
		    size_t errlen)
{
	char a[32], *slash;
	unsigned long prefix = 24;

	snprintf(a, sizeof(a), "%s", v);
	slash = strchr(a, '/');
	if (slash) {
		char *end;

		*slash = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end || prefix < 1 || prefix > 32) {
			snprintf(err, errlen, "addr %s: prefix must be 1..32",
				 v);
			return -1;
		}
	}
	if (inet_pton(AF_INET, a, &ao->so.addr) != 1) {
		snprintf(err, errlen, "addr %s: want A.B.C.D/N", v);
		return -1;
	}
	ao->so.prefix = (unsigned int)prefix;
	snprintf(ao->addr_str, sizeof(ao->addr_str), "%s", a);
	return 0;
}

static int set_mac(struct app_opts *ao, const char *v, char *err, size_t errlen)
{
	unsigned int m[6];

	if (sscanf(v, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
		   &m[5]) != 6) {
		snprintf(err, errlen, "mac %s: want xx:xx:xx:xx:xx:xx", v);
		return -1;
	}
	for (int i = 0; i < 6; i++) {
		if (m[i] > 255) {
			snprintf(err, errlen, "mac %s: bytes are 00..ff", v);
			return -1;
		}
		ao->so.mac[i] = (uint8_t)m[i];
	}
	if (ao->so.mac[0] & 1) {
		snprintf(err, errlen, "mac %s: a multicast address", v);
		return -1;
	}
	return 0;
}

/* One [stack] setting, from the file or the command line. */
static int set_stack(struct app_opts *ao, const char *k, const char *v,
		     char *err, size_t errlen)
{
	char *end;
	unsigned long x;

	if (!strcmp(k, "iface")) {
		snprintf(ao->iface, sizeof(ao->iface), "%s", v);
		return 0;
	}
	if (!strcmp(k, "backend")) {
		if (!strcmp(v, "packet"))
			ao->so.backend = PN_BACKEND_PACKET;
		else if (!strcmp(v, "tap"))
			ao->so.backend = PN_BACKEND_TAP;
		else {
			snprintf(err, errlen, "backend %s: want packet or tap",
				 v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "addr"))
		return set_addr(ao, v, err, errlen);
	if (!strcmp(k, "gw")) {
		if (inet_pton(AF_INET, v, &ao->so.gw) != 1) {
			snprintf(err, errlen, "gw %s: want A.B.C.D", v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "mac"))
		return set_mac(ao, v, err, errlen);
	if (!strcmp(k, "rx_depth") || !strcmp(k, "port")) {
		x = strtoul(v, &end, 10);
		if (*end || !*v || x > 65535 || (!strcmp(k, "port") && !x)) {
			snprintf(err, errlen, "%s %s: not a valid number", k,
				 v);
			return -1;
		}
		if (!strcmp(k, "port"))
			ao->port = (unsigned int)x;
		else
			ao->so.rx_depth = (unsigned int)x;
		return 0;
	}
	if (!strcmp(k, "max_conns")) {
		x = strtoul(v, &end, 10);
		if (*end || !*v || !x || x > 1048576) {
			snprintf(err, errlen, "max_conns %s: want 1 to 1048576",
				 v);
			return -1;
		}
		ao->so.max_conns = (unsigned int)x;
		return 0;
	}
	if (!strcmp(k, "send_buffer") || !strcmp(k, "send_budget")) {
		/* auto / none, or bytes as the pool's sizes (K, M, G) */
		bool buffer = !strcmp(k, "send_buffer");
		unsigned long long b;

		if (!strcmp(v, buffer ? "auto" : "none")) {
			if (buffer)
				ao->so.send_buffer = 0;
			else
				ao->so.send_budget = 0;
			return 0;
		}
		if (pn_parse_size(v, &b) ||
		    (buffer ? b < 4608 || b > 1048576 :
			      b < (64u << 10) || b > (1ull << 40))) {
			snprintf(err, errlen,
				 buffer ? "send_buffer %s: want auto, or 4608 "
					  "to 1M bytes" :
					  "send_budget %s: want none, or 64K "
					  "to 1024G bytes",
				 v);
			return -1;
		}
		if (buffer)
			ao->so.send_buffer = (unsigned int)b;
		else
			ao->so.send_budget = b;
		return 0;
	}
	if (!strcmp(k, "busy_poll")) {
		/* pinnet-run's (a file both read); the tools poll 50 us after
		 * traffic before they sleep */
		x = strtoul(v, &end, 10);
		if (*end || !*v || x > 1000000) {
			snprintf(err, errlen, "busy_poll %s: want 0 to 1000000",
				 v);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown key '%s' in [stack]", k);
	return -1;
}

static int on_ini(void *user, const char *section, const char *k, const char *v)
{
	struct ini_ctx *c = user;
	char err[256] = "";

	if (!strcmp(section, "stack")) {
		if (set_stack(c->ao, k, v, err, sizeof(err)) == 0)
			return 1;
	} else {
		c->ao->pool_set = true;
		if (pn_pool_config_set(&c->ao->pool, section, k, v) == 0)
			return 1;
		snprintf(err, sizeof(err), "%s", c->ao->pool.err);
	}
	if (!c->err[0])
		snprintf(c->err, sizeof(c->err), "%s", err);
	return 0;
}

static int load_config(struct app_opts *ao, const char *path, const char *prog)
{
	struct ini_ctx c = { ao, "" };
	FILE *f = fopen(path, "r");
	int line;

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	line = ini_parse_file(f, on_ini, &c);
	fclose(f);
	if (line) {
		fprintf(stderr, "%s: %s:%d: %s\n", prog, path, line,
			c.err[0] ? c.err : "syntax error");
		return -1;
	}
	return 0;
}

static void usage(FILE *f, const char *prog, const char *what,
		  unsigned int port)
{
	fprintf(f,
		"usage: %s [options]\n%s\n\n"
		"%s--config FILE    INI file: [stack] iface, backend, addr, gw, mac,\n"
		"                       rx_depth, port, max_conns, send_buffer,\n"
		"                       send_budget (busy_poll: pinnet-run's, ignored);\n"
		"                       [pool] and [class SIZE] for the pool (configs/stack.conf,\n"
		"                       configs/pool.conf)\n"
		"  -i, --iface NAME     interface (packet backend) or TAP device name\n"
		"  -b, --backend KIND   packet (AF_PACKET on the interface) or tap\n"
		"  -a, --addr A.B.C.D/N the stack's IPv4 address and prefix\n"
		"  -g, --gw A.B.C.D     default gateway\n"
		"  -m, --mac MAC        the stack's MAC (default: random, locally\n"
		"                       administered; keep it distinct from the\n"
		"                       interface's own)\n"
		"  -p, --port N         TCP port to listen on (default %u)\n"
		"  -r, --root DIR       directory to serve (pinnet-httpd)\n"
		"  -k, --kernel         run the same program on kernel sockets (for\n"
		"                       comparisons); stack options are ignored\n"
		"  -h, --help           this text\n\n"
		"Command-line options override the file. Runs until SIGINT or SIGTERM,\n"
		"then closes its connections and exits 0. Needs CAP_NET_RAW (packet)\n"
		"or CAP_NET_ADMIN (tap), and CAP_IPC_LOCK or ulimit -l for the pool.\n",
		prog, what,
		/* pinnet-perf: -c is iperf3's client */
		strcmp(prog, "pinnet-perf") ? "  -c, " : "      ", port);
}

int app_parse(struct app_opts *ao, int argc, char **argv, const char *prog,
	      const char *what, unsigned int default_port)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "iface", required_argument, NULL, 'i' },
		{ "backend", required_argument, NULL, 'b' },
		{ "addr", required_argument, NULL, 'a' },
		{ "gw", required_argument, NULL, 'g' },
		{ "mac", required_argument, NULL, 'm' },
		{ "port", required_argument, NULL, 'p' },
		{ "root", required_argument, NULL, 'r' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char keys[] = "cibagmprhk";
	static const char *const names[] = { "config", "iface", "backend",
					     "addr",   "gw",	"mac",
					     "port" };
	char err[256] = "";
	int opt;

	memset(ao, 0, sizeof(*ao));
	ao->so.sz = sizeof(ao->so);
	ao->port = default_port;
	pn_stack_pool_config(&ao->pool);
	/* the config file first, wherever it stands, then the overrides */
	for (int i = 1; i < argc - 1; i++)
		if ((!strcmp(argv[i], "-c") && strcmp(prog, "pinnet-perf")) ||
		    !strcmp(argv[i], "--config"))
			if (load_config(ao, argv[i + 1], prog))
				return 2;
	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--config=", 9) &&
		    load_config(ao, argv[i] + 9, prog))
			return 2;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:i:b:a:g:m:p:r:hk", lo,
				  NULL)) != -1) {
		const char *p = strchr(keys, opt);

		switch (opt) {
		case 'c':
			break;
		case 'r':
			ao->root = optarg;
			break;
		case 'k':
			ao->kernel = true;
			break;
		case 'h':
			usage(stdout, prog, what, default_port);
			return 0;
		case 'i':
		case 'b':
		case 'a':
		case 'g':
		case 'm':
		case 'p':
			if (set_stack(ao, names[p - keys], optarg, err,
				      sizeof(err))) {
				fprintf(stderr, "%s: --%s\n", prog, err);
				return 2;
			}
			break;
		default:
			usage(stderr, prog, what, default_port);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
			argv[optind]);
		return 2;
	}
	if (!ao->kernel && (!ao->iface[0] || !ao->so.addr.s_addr)) {
		fprintf(stderr,
			"%s: --iface and --addr are needed (or a --config with them); see --help\n",
			prog);
		return 2;
	}
	ao->so.iface = ao->iface;
	if (ao->pool_set)
		ao->so.pool = &ao->pool.opts;
	return -1;
}

struct pn_stack *app_stack(struct app_opts *ao)
{
	struct pn_stack *st = pn_stack_create(&ao->so);
	int rc;

	if (!st) {
		fprintf(stderr, "pinnet: cannot start the stack on %s: %s\n",
			ao->iface, pn_stack_last_error(NULL));
		return NULL;
	}
	/* the interface is open and the base blocks registered: keep only
	 * what growing the pool needs */
	rc = pn_stack_drop_privileges(st);
	if (rc)
		fprintf(stderr, "pinnet: keeping capabilities: %s\n",
			pn_stack_last_error(st));
	return st;
}

int app_listen(struct pn_stack *st, const struct app_opts *ao)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)ao->port) };
	int one = 1, s, rc;

	s = pn_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0) {
		fprintf(stderr, "pinnet: socket: %s\n", strerror(-s));
		return -1;
	}
	pn_setsockopt(st, s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = pn_bind(st, s, (struct sockaddr *)&sin, sizeof(sin));
	if (!rc)
		rc = pn_listen(st, s, 1024);
	if (rc) {
		fprintf(stderr, "pinnet: listen on port %u: %s\n", ao->port,
			strerror(-rc));
		pn_close(st, s);
		return -1;
	}
	return s;
}

/* Buffers of every class out of the pool. */
static unsigned long long app_buffers_out(struct pn_pool *pool)
{
	unsigned long long out = 0;

	for (unsigned int i = 0; i < pn_pool_nparts(pool); i++) {
		struct pn_pool_part_stats ps;

		if (!pn_pool_stats(pool, i, &ps, sizeof(ps)))
			out += ps.in_use;
	}
	return out;
}

void app_report(struct pn_stack *st)
{
	struct pn_stack_stats s;
	struct pn_pool *pool = pn_stack_pool(st);

	/* let the last writes complete and the connections closing without
	 * a socket have their FINs acknowledged (after a close of thousands
	 * at once the last ACKs take a while): their buffers come back. At
	 * most a second, so what is still out after it is reported. */
	for (int i = 0; i < 1000; i++) {
		pn_stack_process(st, 1);
		if (i >= 10 && !pn_stack_stats(st, &s, sizeof(s)) &&
		    app_buffers_out(pool) <= s.rx_reads_armed)
			break;
	}
	if (pn_stack_stats(st, &s, sizeof(s)))
		return;
	fprintf(stderr,
		"pinnet: rx %llu frames (%llu GSO, %llu copied, %llu dropped), tx %llu frames (%llu zero-copy, %llu pure ACKs, %llu dropped); pool pinned %.1f MiB\n",
		(unsigned long long)s.rx_frames, (unsigned long long)s.rx_gso,
		(unsigned long long)s.rx_copied,
		(unsigned long long)s.rx_dropped,
		(unsigned long long)s.tx_frames,
		(unsigned long long)s.tx_zerocopy,
		(unsigned long long)s.tx_pure_acks,
		(unsigned long long)s.tx_dropped,
		pn_pool_pinned(pool) / (1024.0 * 1024.0));
	fprintf(stderr,
		"pinnet: offload: %llu super-frames of %llu segments, %llu "
		"refused by the kernel; %llu writes; %llu of %llu bytes sent "
		"copied\n",
		(unsigned long long)s.tx_gso, (unsigned long long)s.tx_gso_segs,
		(unsigned long long)s.tx_gso_refused,
		(unsigned long long)s.tx_writes,
		(unsigned long long)s.tx_copied,
		(unsigned long long)s.tx_app_bytes);
	fprintf(stderr,
		"pinnet: connections: %llu open at exit, %llu bytes of heap "
		"each while idle (pcb and socket); lwIP: %llu active (%llu "
		"closing without a socket), %llu in TIME-WAIT\n",
		(unsigned long long)s.conns,
		(unsigned long long)s.conn_heap_bytes,
		(unsigned long long)s.tcp_active,
		(unsigned long long)s.tcp_orphans,
		(unsigned long long)s.tcp_time_wait);
	fprintf(stderr,
		"pinnet: buffers held: %llu bytes queued to send (%llu unsent, "
		"limits %llu), %llu received unread (windows %llu; %llu "
		"doubled)\n",
		(unsigned long long)s.tx_queued,
		(unsigned long long)s.tx_unsent,
		(unsigned long long)s.tx_limit_sum,
		(unsigned long long)s.rx_unread, (unsigned long long)s.rwnd_sum,
		(unsigned long long)s.rwnd_grows);
	if (s.syn_refused || s.accept_overflow)
		fprintf(stderr,
			"pinnet: connections refused: %llu SYNs at max_conns, "
			"%llu reset with the accept queue full\n",
			(unsigned long long)s.syn_refused,
			(unsigned long long)s.accept_overflow);
	/* what is still out: receive buffers armed for reads, and anything
	 * a connection did not give back */
	fprintf(stderr, "pinnet: buffers out:");
	for (unsigned int i = 0; i < pn_pool_nparts(pool); i++) {
		struct pn_pool_part_stats ps;

		if (!pn_pool_stats(pool, i, &ps, sizeof(ps)))
			fprintf(stderr, " %u B: %llu", ps.buf_size,
				(unsigned long long)ps.in_use);
	}
	fprintf(stderr, " (reads in flight: %llu)\n",
		(unsigned long long)s.rx_reads_armed);
	fprintf(stderr,
		"pinnet: receive buffers: %llu posted now, %llu at most; ran "
		"short %llu times; given back %llu times while idle\n",
		(unsigned long long)s.rx_reads_armed,
		(unsigned long long)s.rx_posted_peak,
		(unsigned long long)s.rx_short,
		(unsigned long long)s.rx_given_back);
}
