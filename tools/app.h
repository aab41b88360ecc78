/* SPDX-License-Identifier: MIT */
/*
 * Shared by pinnet's applications: the stack options every tool takes
 * (--config, --iface, --backend, --addr, --gw, --mac, --port), read from an
 * INI file ([stack] section, plus [pool] and [class SIZE] sections for the
 * pool) with command-line overrides.
 */
#ifndef PINNET_TOOLS_APP_H
#define PINNET_TOOLS_APP_H

#include <stdbool.h>

#include "pinnet/pool_config.h"
#include "pinnet/stack.h"

struct app_opts {
	struct pn_stack_opts so;
	struct pn_pool_config pool;
	bool pool_set; /* a [pool]/[class] section was given */
	bool kernel; /* --kernel: the same program on kernel sockets */
	char iface[64];
	char addr_str[32]; /* A.B.C.D */
	unsigned int port;
	const char *root; /* pinnet-httpd --root */
};

/*
 * Parse argv. Returns -1 to go on, or an exit status (0 after --help,
 * 2 after a usage error, with the reason on stderr).
 */
int app_parse(struct app_opts *ao, int argc, char **argv, const char *prog,
	      const char *what, unsigned int default_port);

/* Create the stack; prints the error and returns NULL on failure. */
struct pn_stack *app_stack(struct app_opts *ao);

/* A non-blocking listening socket on ao->port, or -1 (error printed). */
int app_listen(struct pn_stack *st, const struct app_opts *ao);

/* Print the stack's and the pool's counters to stderr. */
void app_report(struct pn_stack *st);

#endif
