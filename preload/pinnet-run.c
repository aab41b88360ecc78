/* SPDX-License-Identifier: MIT */
/*
 * pinnet-run: run an unmodified program on the pinnet stack, as `onload
 * PROGRAM` does: the stack's options go into the environment
 * (PINNET_CONFIG, PINNET_IFACE, ...), libpinnet-preload.so goes in front
 * of LD_PRELOAD, and the program is exec()ed. The options are checked
 * here first (the same parser as the library's), so a typo stops before
 * the program starts.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#ifndef PN_PRELOAD_PATH
#define PN_PRELOAD_PATH "libpinnet-preload.so"
#endif
#define LIBNAME "libpinnet-preload.so"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pinnet-run [options] [--] PROGRAM [ARGS...]\n"
		"Run PROGRAM, unmodified, with its TCP/IPv4 sockets on the pinnet\n"
		"user-space stack (libpinnet-preload.so through LD_PRELOAD).\n\n"
		"  -c, --config FILE    INI file as the tools' --config: [stack] iface,\n"
		"                       backend, addr, gw, mac, rx_depth, max_conns,\n"
		"                       send_budget, busy_poll (port is ignored); [pool]\n"
		"                       and [class SIZE] for the pool\n"
		"  -i, --iface NAME     interface the stack owns (give it no kernel\n"
		"                       address), or the TAP device's name\n"
		"  -b, --backend KIND   packet (AF_PACKET on the interface) or tap\n"
		"  -a, --addr A.B.C.D/N the stack's IPv4 address and prefix\n"
		"  -g, --gw A.B.C.D     default gateway\n"
		"  -m, --mac MAC        the stack's MAC (default: a random local one)\n"
		"      --busy-poll US   how long a poll, select, epoll_wait or blocking\n"
		"                       socket call that finds nothing ready polls before\n"
		"                       it sleeps (microseconds, 0 to 1000000; default\n"
		"                       200, 0: sleep at once)\n"
		"  -d, --debug          say on stderr where each socket goes\n"
		"  -h, --help           this text\n\n"
		"Options override the file; each becomes an environment variable the\n"
		"library reads (PINNET_CONFIG, PINNET_IFACE, PINNET_BACKEND, PINNET_ADDR,\n"
		"PINNET_GW, PINNET_MAC, PINNET_BUSY_POLL, PINNET_DEBUG), so programs\n"
		"PROGRAM starts inherit them and the library too.\n\n"
		"A TCP/IPv4 socket moves to the stack when it binds to the stack's\n"
		"address or INADDR_ANY (it then listens on the stack only), or connects\n"
		"into the stack's subnet; loopback, other addresses, AF_UNIX, IPv6 and\n"
		"UDP stay kernel sockets. One stack per process, driven by the thread\n"
		"that first needs it: other threads' calls on its sockets fail with\n"
		"EPERM. At fork() a process with only listeners (nginx's master)\n"
		"hands them to the child, which makes its own stack; any other\n"
		"parent keeps its stack and the child's calls on its sockets fail\n"
		"with EPERM (one stack per address at a time). Needs CAP_NET_RAW\n"
		"(packet) or CAP_NET_ADMIN (tap), and CAP_IPC_LOCK or ulimit -l for\n"
		"the pool. See pinnet-run(1).\n");
}

/* The library: beside this program (a build tree), else where it was
 * installed. */
static void find_lib(char *out, size_t n)
{
	char self[PATH_MAX], *slash;
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (len > 0) {
		self[len] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			snprintf(slash + 1,
				 sizeof(self) - (size_t)(slash + 1 - self),
				 "%s", LIBNAME);
			if (access(self, R_OK) == 0) {
				snprintf(out, n, "%s", self);
				return;
			}
		}
	}
	snprintf(out, n, "%s", PN_PRELOAD_PATH);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "iface", required_argument, NULL, 'i' },
		{ "backend", required_argument, NULL, 'b' },
		{ "addr", required_argument, NULL, 'a' },
		{ "gw", required_argument, NULL, 'g' },
		{ "mac", required_argument, NULL, 'm' },
		{ "busy-poll", required_argument, NULL, 'P' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pl_config c;
	char lib[PATH_MAX], *pre;
	const char *old;
	int opt, rc;

	/* "+": options end at the program's name */
	while ((opt = getopt_long(argc, argv, "+c:i:b:a:g:m:dh", lo, NULL)) !=
	       -1) {
		const char *var = NULL;

		switch (opt) {
		case 'c':
			var = "PINNET_CONFIG";
			break;
		case 'i':
			var = "PINNET_IFACE";
			break;
		case 'b':
			var = "PINNET_BACKEND";
			break;
		case 'a':
			var = "PINNET_ADDR";
			break;
		case 'g':
			var = "PINNET_GW";
			break;
		case 'm':
			var = "PINNET_MAC";
			break;
		case 'P':
			var = "PINNET_BUSY_POLL";
			break;
		case 'd':
			setenv("PINNET_DEBUG", "1", 1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (opt == 'c') {
			/* absolute: the program, or one it starts, may have
			 * changed directory when the library reads it */
			char *abs = realpath(optarg, NULL);

			setenv(var, abs ? abs : optarg, 1);
			free(abs);
		} else if (var) {
			setenv(var, optarg, 1);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "pinnet-run: no program to run (see --help)\n");
		return 2;
	}
	/* the library's own reading of it, now rather than in the program */
	pl_config_init(&c);
	rc = pl_config_env(&c);
	if (rc == 0) {
		fprintf(stderr,
			"pinnet-run: no stack: give --iface and --addr, or --config with them\n");
		return 2;
	}
	if (rc < 0 || pl_config_finish(&c)) {
		fprintf(stderr, "pinnet-run: %s\n", c.err);
		return 2;
	}
	if (c.so.backend == PN_BACKEND_PACKET && !if_nametoindex(c.iface)) {
		fprintf(stderr, "pinnet-run: no interface %s here: %s\n",
			c.iface, strerror(errno));
		return 2;
	}
	find_lib(lib, sizeof(lib));
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		size_t n = strlen(lib) + strlen(old) + 2;

		pre = malloc(n);
		if (!pre)
			return 1;
		snprintf(pre, n, "%s:%s", lib, old);
	} else {
		pre = lib;
	}
	setenv("LD_PRELOAD", pre, 1);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "pinnet-run: %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
