/* SPDX-License-Identifier: MIT */
/*
 * Pool configuration files, parsed with libinih (include/pinnet/pool_config.h
 * for the format, configs/pool.conf for every key).
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "export.h"
#include "pinnet/pool_config.h"
#include "pool_impl.h"

#define MIB (1024ull * 1024)

/* The classes of a pool created without any: 2 KiB frames and the
 * power-of-two classes of 001 up to 256 KiB. */
const struct pn_pool_class pool_default_classes[POOL_NDEFAULT_CLASSES] = {
	{ 2048, 64, 2 * MIB, 2 * MIB, 256 * MIB, 0 },
	{ 4096, 32, 2 * MIB, 2 * MIB, 256 * MIB, 0 },
	{ 8192, 16, 2 * MIB, 2 * MIB, 128 * MIB, 0 },
	{ 16384, 8, 2 * MIB, 2 * MIB, 128 * MIB, 0 },
	{ 65536, 4, 2 * MIB, 4 * MIB, 256 * MIB, 0 },
	{ 262144, 2, 4 * MIB, 8 * MIB, 256 * MIB, 0 },
};

struct load_ctx {
	struct pn_pool_config *cfg;
	bool replaced; /* the file's first [class] dropped the defaults */
	int nerr;
};

static int fail(struct pn_pool_config *cfg, const char *fmt, const char *a,
		const char *b)
{
	if (!cfg->err[0])
		snprintf(cfg->err, sizeof(cfg->err), fmt, a, b);
	return -EINVAL;
}

PN_EXPORT int pn_parse_size(const char *v, unsigned long long *out)
{
	unsigned int shift = 0;
	char *end;
	unsigned long long x;

	if (!v || !out)
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return -EINVAL;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10, end++;
		break;
	case 'M':
	case 'm':
		shift = 20, end++;
		break;
	case 'G':
	case 'g':
		shift = 30, end++;
		break;
	}
	if (shift && x > (~0ull >> shift))
		return -EINVAL; /* would overflow */
	x <<= shift;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = x;
	return 0;
}

static int parse_ms(const char *v, unsigned int *out)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return -EINVAL;
	if (!strcmp(end, "s"))
		x *= 1000;
	else if (!strcmp(end, "min"))
		x *= 60000;
	else if (*end && strcmp(end, "ms"))
		return -EINVAL;
	if (x > UINT_MAX)
		return -EINVAL;
	*out = (unsigned int)x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
		 !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *v, unsigned int *out)
{
	unsigned long long x;

	if (pn_parse_size(v, &x) || x > UINT_MAX)
		return -EINVAL;
	*out = (unsigned int)x;
	return 0;
}

static int set_pool(struct pn_pool_config *cfg, const char *k, const char *v)
{
	struct pn_pool_opts *o = &cfg->opts;
	unsigned long long sz;
	bool thp = true, lazy = true;
	int rc = 0;

	if (!strcmp(k, "name")) {
		snprintf(cfg->name, sizeof(cfg->name), "%s", v);
	} else if (!strcmp(k, "stats_dir")) {
		snprintf(cfg->stats_dir, sizeof(cfg->stats_dir), "%s", v);
	} else if (!strcmp(k, "wall")) {
		rc = pn_parse_size(v, &sz);
		o->wall_bytes = (size_t)sz;
	} else if (!strcmp(k, "max_slots")) {
		rc = parse_uint(v, &o->max_slots);
	} else if (!strcmp(k, "fallback")) {
		rc = parse_bool(v, &o->fallback);
	} else if (!strcmp(k, "thp")) {
		rc = parse_bool(v, &thp);
		o->no_thp = !thp;
	} else if (!strcmp(k, "lazy_free")) {
		rc = parse_bool(v, &lazy);
		o->eager_free = !lazy;
	} else if (!strcmp(k, "release")) {
		if (!strcmp(v, "none"))
			o->release = PN_RELEASE_NONE;
		else if (!strcmp(v, "idle"))
			o->release = PN_RELEASE_IDLE;
		else if (!strcmp(v, "peak"))
			o->release = PN_RELEASE_PEAK;
		else if (!strcmp(v, "forecast"))
			o->release = PN_RELEASE_FORECAST;
		else
			return fail(
				cfg,
				"release = %s: want none, idle, peak or forecast%s",
				v, "");
	} else if (!strcmp(k, "leak_policy")) {
		if (!strcmp(v, "refuse"))
			o->leak_policy = PN_LEAK_REFUSE;
		else if (!strcmp(v, "reclaim"))
			o->leak_policy = PN_LEAK_RECLAIM;
		else
			return fail(
				cfg,
				"leak_policy = %s: want refuse or reclaim%s", v,
				"");
	} else if (!strcmp(k, "sample")) {
		rc = parse_ms(v, &o->sample_ms);
	} else if (!strcmp(k, "idle")) {
		rc = parse_ms(v, &o->idle_ms);
	} else if (!strcmp(k, "peak_window")) {
		rc = parse_ms(v, &o->peak_window_ms);
	} else if (!strcmp(k, "forecast_halflife")) {
		rc = parse_ms(v, &o->forecast_halflife_ms);
	} else if (!strcmp(k, "forecast_headroom_pct")) {
		rc = parse_uint(v, &o->forecast_headroom_pct);
	} else if (!strcmp(k, "leak_timeout")) {
		rc = parse_ms(v, &o->leak_timeout_ms);
	} else if (!strcmp(k, "wait")) {
		rc = parse_ms(v, &o->wait_ms);
	} else if (!strcmp(k, "queue_timeout")) {
		rc = parse_ms(v, &o->queue_timeout_ms);
	} else if (!strcmp(k, "grow_wait")) {
		rc = parse_ms(v, &o->grow_wait_ms);
	} else if (!strcmp(k, "release_max")) {
		if (!strcmp(v, "all"))
			o->release_max = UINT_MAX;
		else
			rc = parse_uint(v, &o->release_max);
	} else if (!strcmp(k, "underuse_shrink")) {
		rc = parse_bool(v, &o->underuse_shrink);
	} else if (!strcmp(k, "psi")) {
		rc = parse_bool(v, &o->psi);
	} else {
		return fail(cfg, "unknown key '%s' in [pool]%s", k, "");
	}
	if (rc)
		return fail(cfg, "bad value '%s' for %s", v, k);
	return 0;
}

/* The class named by "class SIZE", created (in order) when missing. */
static struct pn_pool_class *class_for(struct pn_pool_config *cfg,
				       const char *section)
{
	struct pn_pool_opts *o = &cfg->opts;
	unsigned long long size;
	unsigned int i;

	if (strncmp(section, "class ", 6) ||
	    pn_parse_size(section + 6, &size) || size < PN_POOL_MIN_BUF ||
	    size > (1ull << 30) || (size & (size - 1))) {
		fail(cfg,
		     "section [%s]: want [pool] or [class SIZE] with SIZE a power of two from 2048%s",
		     section, "");
		return NULL;
	}
	for (i = 0; i < o->nclasses; i++)
		if (cfg->classes[i].buf_size >= size)
			break;
	if (i < o->nclasses && cfg->classes[i].buf_size == size)
		return &cfg->classes[i];
	if (o->nclasses == PN_POOL_MAX_CLASSES) {
		fail(cfg, "[%s]: more than 16 classes%s", section, "");
		return NULL;
	}
	memmove(&cfg->classes[i + 1], &cfg->classes[i],
		(o->nclasses - i) * sizeof(cfg->classes[0]));
	o->nclasses++;
	/* a new class starts as one 2 MiB block with a wall of 64 MiB */
	cfg->classes[i] = (struct pn_pool_class){
		.buf_size = (uint32_t)size,
		.base_bytes = size > 2 * MIB ? size : 2 * MIB,
		.block_bytes = size > 2 * MIB ? size : 2 * MIB,
		.wall_bytes = 64 * MIB > size ? 64 * MIB : size,
	};
	return &cfg->classes[i];
}

static int set_class(struct pn_pool_config *cfg, const char *section,
		     const char *k, const char *v)
{
	struct pn_pool_class *c = class_for(cfg, section);
	unsigned long long sz;
	int rc;

	if (!c)
		return -EINVAL;
	if (strcmp(k, "base") && strcmp(k, "block") && strcmp(k, "wall") &&
	    strcmp(k, "low_water") && strcmp(k, "underuse_free"))
		return fail(cfg, "unknown key '%s' in a [class] section%s", k,
			    "");
	rc = pn_parse_size(v, &sz);
	if (rc)
		return fail(cfg, "bad value '%s' for %s", v, k);
	if (!strcmp(k, "base"))
		c->base_bytes = (size_t)sz;
	else if (!strcmp(k, "block"))
		c->block_bytes = (size_t)sz;
	else if (!strcmp(k, "wall"))
		c->wall_bytes = (size_t)sz;
	else if (!strcmp(k, "low_water") && sz <= UINT_MAX)
		c->low_water = (uint32_t)sz;
	else if (!strcmp(k, "underuse_free") && sz <= UINT_MAX)
		c->underuse_free = (uint32_t)sz;
	else
		return fail(cfg, "bad value '%s' for %s", v, k);
	return 0;
}

PN_EXPORT int pn_pool_config_set(struct pn_pool_config *cfg,
				 const char *section, const char *key,
				 const char *value)
{
	int rc;

	if (!cfg || !section || !key || !value)
		return -EINVAL;
	rc = !strcmp(section, "pool") ? set_pool(cfg, key, value) :
					set_class(cfg, section, key, value);
	cfg->opts.name = cfg->name;
	cfg->opts.stats_dir = cfg->stats_dir;
	cfg->opts.classes = cfg->classes;
	return rc;
}

PN_EXPORT int pn_pool_config_init(struct pn_pool_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->classes, pool_default_classes,
	       sizeof(pool_default_classes));
	snprintf(cfg->name, sizeof(cfg->name), "pool");
	snprintf(cfg->stats_dir, sizeof(cfg->stats_dir), "/run/pinnet");
	cfg->opts.sz = sizeof(cfg->opts);
	cfg->opts.name = cfg->name;
	cfg->opts.stats_dir = cfg->stats_dir;
	cfg->opts.classes = cfg->classes;
	cfg->opts.nclasses = POOL_NDEFAULT_CLASSES;
	cfg->opts.release = PN_RELEASE_IDLE;
	return 0;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct load_ctx *ctx = user;

	if (!strncmp(section, "class", 5) && !ctx->replaced) {
		ctx->replaced = true;
		ctx->cfg->opts.nclasses = 0;
	}
	if (pn_pool_config_set(ctx->cfg, section, name, value)) {
		ctx->nerr++;
		return 0;
	}
	return 1;
}

PN_EXPORT int pn_pool_config_load(struct pn_pool_config *cfg, const char *path)
{
	struct load_ctx ctx = { cfg, false, 0 };
	char what[sizeof(cfg->err)];
	FILE *f;
	int line;

	cfg->err[0] = 0;
	f = fopen(path, "r");
	if (!f) {
		int err = errno;

		snprintf(cfg->err, sizeof(cfg->err), "%s: %s", path,
			 strerror(err));
		return -err;
	}
	line = ini_parse_file(f, handler, &ctx);
	fclose(f);
	if (line == 0 && !ctx.nerr)
		return 0;
	memcpy(what, cfg->err, sizeof(what));
	snprintf(cfg->err, sizeof(cfg->err), "%s:%d: %.200s", path, line,
		 what[0] ? what : "syntax error");
	return -EINVAL;
}
