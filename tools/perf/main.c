/* SPDX-License-Identifier: MIT */
/*
 * pinnet-perf: an iperf3-compatible server on the pinnet stack (or, with
 * --kernel, on kernel sockets), so Debian's iperf3 client measures pinnet
 * unchanged: the control connection with its cookie, the JSON parameter
 * and result exchange (4-byte length + JSON), the test states, -P parallel
 * streams, -R reverse (we send), -t/-n, -C (kernel sockets only: lwIP has
 * one congestion control). One test at a time, as iperf3 -s; others are
 * told ACCESS_DENIED. Beside it, a sockperf server (--sockperf-port, 11111
 * by default); with --client ADDR, an iperf3 client instead. Runs until
 * SIGINT/SIGTERM, then exits 0.
 *
 * This file: pinnet-perf's own options, then the stack's (app.h), and the
 * one loop that serves iperf3 (iperf_server.c) and sockperf (sockperf.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "net.h"
#include "perf.h"
#include "util.h"

#define EVENTS 256 /* readiness events taken per wait */

struct net *net;
char *blk;

/* iperf3's byte counts: a number with an optional K, M or G (powers of
 * 1024). 0 or -1. */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static struct epoll_event evs[EVENTS];
	unsigned int sp_port = 11111;
	const char *client = NULL;
	bool server = false; /* -s: the default, accepted as iperf3 has it */
	double csecs = 10;
	uint64_t cbytes = 0;
	int cpar = 1;
	bool crev = false, cjson = false;
	struct app_opts ao;
	int ls, sls = -1, ep, rc;
	char *args[64];
	int nargs = 1;

	/* iperf3's own options first (as iperf3 users type them: -s, -c
	 * HOST, -t, -n, -P, -R, -J; so the stack's config file is --config
	 * only here); the rest are the stack options */
	args[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_next = i + 1 < argc;

		if (!strcmp(a, "-s") || !strcmp(a, "--server")) {
			server = true;
		} else if ((!strcmp(a, "-c") || !strcmp(a, "--client")) &&
			   has_next) {
			client = argv[++i];
		} else if ((!strcmp(a, "-t") || !strcmp(a, "--time")) &&
			   has_next) {
			csecs = atof(argv[++i]);
		} else if ((!strcmp(a, "-n") || !strcmp(a, "--bytes")) &&
			   has_next) {
			if (parse_bytes(argv[++i], &cbytes)) {
				fprintf(stderr,
					"pinnet-perf: -n wants a byte count "
					"(suffixes K, M, G), not '%s'\n",
					argv[i]);
				return 2;
			}
		} else if ((!strcmp(a, "-P") || !strcmp(a, "--parallel")) &&
			   has_next) {
			cpar = atoi(argv[++i]);
		} else if (!strcmp(a, "-R") || !strcmp(a, "--reverse")) {
			crev = true;
		} else if (!strcmp(a, "-J") || !strcmp(a, "--json")) {
			cjson = true;
		} else if (!strcmp(a, "--sockperf-port") && has_next) {
			char *end;

			sp_port = (unsigned int)strtoul(argv[++i], &end, 10);
			if (*end || sp_port > 65535) {
				fprintf(stderr,
					"pinnet-perf: --sockperf-port wants 0..65535\n");
				return 2;
			}
		} else if (!strcmp(a, "-c") || !strcmp(a, "--client") ||
			   !strcmp(a, "-t") || !strcmp(a, "-n") ||
			   !strcmp(a, "-P")) {
			fprintf(stderr, "pinnet-perf: %s wants a value\n", a);
			return 2;
		} else if (nargs < 63) {
			args[nargs++] = argv[i];
		}
	}
	if (server && client) {
		fprintf(stderr,
			"pinnet-perf: -s and -c exclude each other (as in iperf3)\n");
		return 2;
	}
	args[nargs] = NULL;
	argc = nargs;
	argv = args;

	rc = app_parse(
		&ao, argc, argv, "pinnet-perf",
		"An iperf3-compatible server on the pinnet stack (or, with --kernel,\n"
		"kernel sockets): run Debian's iperf3 client against it (-c ADDR,\n"
		"-P, -R, -t, -n, -J, -C; -C applies with --kernel only: lwIP has one\n"
		"congestion control). TCP only. A sockperf server (ping-pong,\n"
		"under-load) listens beside it.\n"
		"\n"
		"  -s, --server         be the server (the default)\n"
		"  -c, --client HOST    be an iperf3 client of HOST instead\n"
		"  -t, --time SECS      client: test length (default 10)\n"
		"  -n, --bytes N[KMG]   client: bytes to send instead of a time\n"
		"  -P, --parallel N     client: parallel streams (default 1)\n"
		"  -R, --reverse        client: the server sends\n"
		"  -J, --json           client: results as JSON\n"
		"  --sockperf-port N    the sockperf server's port (default 11111,\n"
		"                       0: none)\n"
		"As in iperf3, -c is the client here: the stack's configuration\n"
		"file is --config FILE (-c FILE in the other tools).",
		5201);
	if (rc >= 0)
		return rc;
	blk = malloc(MAXBLK);
	if (!blk)
		return 1;
	for (size_t i = 0; i < MAXBLK; i++)
		blk[i] = (char)(i * 131);
	net = net_open(&ao);
	if (!net)
		return 1;
	if (client) {
		if (csecs <= 0 || cpar < 1 || cpar > MAXSTREAMS) {
			fprintf(stderr,
				"pinnet-perf: --time > 0, --parallel 1..%d\n",
				MAXSTREAMS);
			net_destroy(net);
			return 2;
		}
		signal(SIGINT, on_stop_signal);
		signal(SIGPIPE, SIG_IGN);
		srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
		rc = client_run(client, ao.port, csecs, cbytes, cpar, crev,
				cjson);
		wait_close();
		net_report(net);
		net_destroy(net);
		free(blk);
		return rc;
	}
	ls = net_listen(net, ao.port);
	if (ls < 0) {
		net_destroy(net);
		return 1;
	}
	stop_on_signals();
	signal(SIGPIPE, SIG_IGN);
	if (sp_port) {
		sls = net_listen(net, sp_port);
		if (sls < 0) {
			net_destroy(net);
			return 1;
		}
	}
	/* the listeners level-triggered, told apart by data.ptr; sockperf's
	 * connections carry their record */
	rc = ep = net_epoll_create(net);
	if (ep >= 0)
		rc = net_epoll_ctl(net, ep, EPOLL_CTL_ADD, ls, EPOLLIN, &ls);
	if (!rc && sls >= 0)
		rc = net_epoll_ctl(net, ep, EPOLL_CTL_ADD, sls, EPOLLIN, &sls);
	if (rc < 0) {
		fprintf(stderr, "pinnet-perf: readiness set: %s\n",
			strerror(-rc));
		net_destroy(net);
		return 1;
	}
	printf("pinnet-perf: iperf3 server on port %u, sockperf on %u (%s)\n",
	       ao.port, sp_port, ao.kernel ? "kernel sockets" : ao.iface);
	fflush(stdout);
	while (!stop) {
		rc = net_epoll_wait(net, ep, evs, EVENTS, 200);
		if (rc < 0)
			break;
		for (int k = 0; k < rc; k++) {
			void *p = evs[k].data.ptr;
			int c;

			if (p == &ls) {
				while ((c = net_accept(net, ls)) >= 0)
					serve(ls, c);
			} else if (p == &sls) {
				sp_accept(ep, sls);
			} else {
				sp_ready(p);
			}
		}
	}
	sp_close_all();
	net_epoll_close(net, ep);
	if (sls >= 0)
		net_close(net, sls);
	sp_report();
	wait_close();
	net_close(net, ls);
	net_report(net);
	net_destroy(net);
	free(blk);
	return 0;
}
