/* SPDX-License-Identifier: MIT */
/*
 * pinnet pool configuration files: an INI file (parsed with libinih) that
 * fills struct pn_pool_opts and its classes. See configs/pool.conf for every
 * key with its default and meaning.
 *
 *   [pool]            name, wall, max_slots, fallback, thp, lazy_free,
 *                     release (none, idle, peak, forecast), sample, idle,
 *                     release_max, peak_window, forecast_halflife,
 *                     forecast_headroom_pct, leak_timeout, leak_policy,
 *                     wait, queue_timeout, grow_wait, underuse_shrink, psi,
 *                     stats_dir
 *   [class SIZE]      base, block, wall, low_water, underuse_free
 *
 * Two booleans are the negation of their pn_pool_opts field: thp = no sets
 * no_thp, lazy_free = no sets eager_free.
 *
 * Sizes take K, M, G suffixes (powers of 1024); durations take ms, s, min
 * (a bare number is milliseconds); booleans are yes/no/true/false/1/0.
 */
#ifndef PINNET_POOL_CONFIG_H
#define PINNET_POOL_CONFIG_H

#include <stddef.h>

#include "pinnet/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded configuration: opts points into this struct (classes, strings),
 * so it must stay alive and unmoved while opts is used. */
struct pn_pool_config {
	struct pn_pool_opts opts; /* ready for pn_pool_create() */
	struct pn_pool_class classes[PN_POOL_MAX_CLASSES]; /* ascending */
	char name[32]; /* storage for opts.name */
	char stats_dir[256]; /* storage for opts.stats_dir */
	char err[256]; /* the last error: "FILE:LINE: what is wrong" */
};

/*
 * pn_pool_config_init - the defaults of configs/pool.conf: the classes
 * pn_pool_create() uses when given none (2 KiB .. 256 KiB), release = idle
 * (PN_RELEASE_IDLE, where a zeroed pn_pool_opts means PN_RELEASE_NONE),
 * stats_dir /run/pinnet, every other option zero (its default). Returns 0.
 */
int pn_pool_config_init(struct pn_pool_config *cfg);

/*
 * pn_pool_config_load - read path over the current contents of cfg (so
 * call pn_pool_config_init() first). A [class SIZE] section adds a class
 * or, when SIZE exists, changes it; the first [class] section in a file
 * drops the classes cfg held before (the defaults, or an earlier file's),
 * so a file with classes lists all of them.
 * Returns 0, or -errno with cfg->err saying where and why: ENOENT/EACCES
 * (cannot open), EINVAL (a bad line: unknown section or key, bad value).
 */
int pn_pool_config_load(struct pn_pool_config *cfg, const char *path);

/*
 * pn_pool_config_set - one setting, as a command-line override:
 * section "pool" or "class 2048", key and value as in the file.
 * Returns 0 or -EINVAL with cfg->err set.
 */
int pn_pool_config_set(struct pn_pool_config *cfg, const char *section,
		       const char *key, const char *value);

/*
 * pn_parse_size - a byte count as the configuration files write it:
 * digits with an optional K, M or G (powers of 1024, either case), then
 * optionally "iB" or "B" ("64K", "2MiB", "1G"). Returns 0 with *out set,
 * or -EINVAL (not such a count, negative, or past 64 bits).
 */
int pn_parse_size(const char *v, unsigned long long *out);

#ifdef __cplusplus
}
#endif

#endif /* PINNET_POOL_CONFIG_H */
