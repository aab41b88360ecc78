/* SPDX-License-Identifier: MIT */
/*
 * The stack's options for libpinnet-preload and pinnet-run: the INI file
 * the tools take with --config ([stack] iface, backend, addr, gw, mac,
 * rx_depth, max_conns, send_budget, busy_poll; port is accepted and
 * ignored, the program picks its ports; [pool] and [class SIZE] for the
 * pool), then the environment: PINNET_CONFIG=FILE, and PINNET_IFACE,
 * PINNET_BACKEND, PINNET_ADDR (A.B.C.D/N), PINNET_GW, PINNET_MAC,
 * PINNET_RX_DEPTH, PINNET_MAX_CONNS, PINNET_SEND_BUDGET, PINNET_BUSY_POLL,
 * each overriding the file's key of the same name.
 */
#ifndef PINNET_PRELOAD_CONFIG_H
#define PINNET_PRELOAD_CONFIG_H

#include <stdbool.h>

#include "pinnet/pool_config.h"
#include "pinnet/stack.h"

/* busy_poll's default (see struct pl_config) */
#define PL_BUSY_POLL_US 200

struct pl_config {
	struct pn_stack_opts so; /* so.iface and so.pool point in here */
	struct pn_pool_config pool;
	bool pool_set; /* a [pool] or [class] section was given */
	/* how long a wait that finds nothing ready polls before it sleeps
	 * in the kernel, in microseconds (0: sleeps at once), as Linux's
	 * net.core.busy_poll does for poll, select and epoll */
	unsigned int busy_poll_us;
	char iface[64];
	char err[320]; /* why the last call failed */
};

/* Keys of [stack], in the order --help lists them. */
extern const char *const pl_config_keys[];

void pl_config_init(struct pl_config *c);

/* One [stack] key. Returns 0 or -1 with c->err set. */
int pl_config_set(struct pl_config *c, const char *key, const char *val);

/* An INI file over what c holds. Returns 0 or -1 with c->err set
 * ("FILE:LINE: why"). */
int pl_config_file(struct pl_config *c, const char *path);

/* PINNET_CONFIG, then the PINNET_<KEY> variables. Returns 1 when the
 * environment names a stack (PINNET_CONFIG or PINNET_IFACE set), 0 when it
 * names none, -1 with c->err set on a bad value. */
int pl_config_env(struct pl_config *c);

/* Ready for pn_stack_create(): 0, or -1 with c->err set when the interface
 * or the address is missing. */
int pl_config_finish(struct pl_config *c);

#endif
