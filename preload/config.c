/* SPDX-License-Identifier: MIT */
/* The stack's options from an INI file and the environment; see config.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const char *const pl_config_keys[] = { "iface",	    "backend",	   "addr",
				       "gw",	    "mac",	   "rx_depth",
				       "max_conns", "send_budget", "busy_poll",
				       "port",	    NULL };

void pl_config_init(struct pl_config *c)
{
	memset(c, 0, sizeof(*c));
	c->so.sz = sizeof(c->so);
	pn_stack_pool_config(&c->pool);
	c->busy_poll_us = PL_BUSY_POLL_US;
}

static int fail(struct pl_config *c, const char *fmt, const char *key,
		const char *val)
{
	snprintf(c->err, sizeof(c->err), fmt, key, val);
	return -1;
}

static int set_addr(struct pl_config *c, const char *v)
{
	char a[32], *slash, *end;
	unsigned long prefix = 24;

	if (strlen(v) >= sizeof(a))
		return fail(c, "%s %s: want A.B.C.D/N", "addr", v);
	snprintf(a, sizeof(a), "%s", v);
	slash = strchr(a, '/');
	if (slash) {
		*slash = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end || !slash[1] || prefix < 1 || prefix > 32)
			return fail(c, "%s %s: the prefix must be 1..32",
				    "addr", v);
	}
	if (inet_pton(AF_INET, a, &c->so.addr) != 1)
		return fail(c, "%s %s: want A.B.C.D/N", "addr", v);
	c->so.prefix = (unsigned int)prefix;
	return 0;
}

static int set_mac(struct pl_config *c, const char *v)
{
	unsigned int m[6];
	char extra;

	if (sscanf(v, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4],
		   &m[5], &extra) != 6)
		return fail(c, "%s %s: want xx:xx:xx:xx:xx:xx", "mac", v);
	for (int i = 0; i < 6; i++) {
		if (m[i] > 255)
			return fail(c, "%s %s: bytes are 00..ff", "mac", v);
		c->so.mac[i] = (unsigned char)m[i];
	}
	if (c->so.mac[0] & 1)
		return fail(c, "%s %s: a multicast address", "mac", v);
	return 0;
}

static int set_num(struct pl_config *c, const char *k, const char *v,
		   unsigned long lo, unsigned long hi, unsigned int *out)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi) {
		snprintf(c->err, sizeof(c->err), "%s %s: want %lu to %lu", k, v,
			 lo, hi);
		return -1;
	}
	if (out)
		*out = (unsigned int)x;
	return 0;
}

/* none, or bytes as the pool's sizes (K, M, G): the stack's send budget */
static int set_budget(struct pl_config *c, const char *k, const char *v)
{
	unsigned long long x;

	if (!strcmp(v, "none")) {
		c->so.send_budget = 0;
		return 0;
	}
	if (pn_parse_size(v, &x) || x < (64u << 10) || x > (1ull << 40))
		return fail(c, "%s %s: want none, or 64K to 1024G bytes", k, v);
	c->so.send_budget = x;
	return 0;
}

int pl_config_set(struct pl_config *c, const char *k, const char *v)
{
	if (!strcmp(k, "iface")) {
		if (!*v || strlen(v) >= 16) /* IFNAMSIZ */
			return fail(
				c,
				"%s '%s': an interface name of 1 to 15 characters",
				k, v);
		snprintf(c->iface, sizeof(c->iface), "%s", v);
		return 0;
	}
	if (!strcmp(k, "backend")) {
		if (!strcmp(v, "packet"))
			c->so.backend = PN_BACKEND_PACKET;
		else if (!strcmp(v, "tap"))
			c->so.backend = PN_BACKEND_TAP;
		else
			return fail(c, "%s %s: want packet or tap", k, v);
		return 0;
	}
	if (!strcmp(k, "addr"))
		return set_addr(c, v);
	if (!strcmp(k, "gw")) {
		if (inet_pton(AF_INET, v, &c->so.gw) != 1)
			return fail(c, "%s %s: want A.B.C.D", k, v);
		return 0;
	}
	if (!strcmp(k, "mac"))
		return set_mac(c, v);
	if (!strcmp(k, "rx_depth"))
		return set_num(c, k, v, 1, 256, &c->so.rx_depth);
	if (!strcmp(k, "max_conns"))
		return set_num(c, k, v, 1, 1048576, &c->so.max_conns);
	if (!strcmp(k, "send_budget"))
		return set_budget(c, k, v);
	if (!strcmp(k, "busy_poll"))
		return set_num(c, k, v, 0, 1000000, &c->busy_poll_us);
	if (!strcmp(k, "port")) /* the tools' listening port: the program's */
		return set_num(c, k, v, 1, 65535, NULL);
	return fail(c, "unknown key '%s' in [stack]%s", k, "");
}

struct ini_ctx {
	struct pl_config *c;
	char err[sizeof(((struct pl_config *)0)->err)];
};

static int on_ini(void *user, const char *section, const char *k, const char *v)
{
	struct ini_ctx *x = user;

	if (!strcmp(section, "stack")) {
		if (pl_config_set(x->c, k, v) == 0)
			return 1;
		snprintf(x->err, sizeof(x->err), "%s", x->c->err);
		return 0;
	}
	x->c->pool_set = true;
	if (pn_pool_config_set(&x->c->pool, section, k, v) == 0)
		return 1;
	if (!x->err[0])
		snprintf(x->err, sizeof(x->err), "%s", x->c->pool.err);
	return 0;
}

int pl_config_file(struct pl_config *c, const char *path)
{
	struct ini_ctx x = { c, "" };
	FILE *f = fopen(path, "re");
	int line;

	if (!f) {
		snprintf(c->err, sizeof(c->err), "%s: %s", path,
			 strerror(errno));
		return -1;
	}
	line = ini_parse_file(f, on_ini, &x);
	fclose(f);
	if (line) {
		snprintf(c->err, sizeof(c->err), "%s:%d: %s", path, line,
			 x.err[0] ? x.err : "syntax error");
		return -1;
	}
	return 0;
}

int pl_config_env(struct pl_config *c)
{
	const char *file = getenv("PINNET_CONFIG");
	bool named = false;

	if (file && *file) {
		if (pl_config_file(c, file))
			return -1;
		named = true;
	}
	for (int i = 0; pl_config_keys[i]; i++) {
		char name[32] = "PINNET_";
		const char *v;
		size_t n = strlen(name);

		for (const char *p = pl_config_keys[i]; *p; p++)
			name[n++] = (char)toupper((unsigned char)*p);
		name[n] = 0;
		v = getenv(name);
		if (!v)
			continue;
		if (pl_config_set(c, pl_config_keys[i], v)) {
			char why[sizeof(c->err)];

			memcpy(why, c->err, sizeof(why));
			snprintf(c->err, sizeof(c->err), "%s=%.64s: %.200s",
				 name, v, why);
			return -1;
		}
		named |= !strcmp(pl_config_keys[i], "iface");
	}
	return named;
}

int pl_config_finish(struct pl_config *c)
{
	if (!c->iface[0] || !c->so.addr.s_addr) {
		snprintf(
			c->err, sizeof(c->err),
			"the stack needs an interface and an address (PINNET_IFACE and PINNET_ADDR, or iface and addr in [stack] of PINNET_CONFIG)");
		return -1;
	}
	c->so.iface = c->iface;
	c->so.pool = c->pool_set ? &c->pool.opts : NULL;
	return 0;
}
