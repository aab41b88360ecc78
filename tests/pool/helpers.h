/* SPDX-License-Identifier: MIT */
/* Shared by the pool's unit tests: small pools, an event recorder, waits. */
#ifndef PINNET_TEST_POOL_HELPERS_H
#define PINNET_TEST_POOL_HELPERS_H

#include <errno.h>
#include <string.h>
#include <time.h>

#include "cu_run.h"
#include "pinnet/pool.h"

#define KIB 1024u

/* Every slow-path event, in order. */
static struct pn_pool_event events[4096];
static unsigned int nevents;

static inline void record(void *arg, const struct pn_pool_event *ev)
{
	(void)arg;
	if (nevents < sizeof(events) / sizeof(events[0]))
		events[nevents++] = *ev;
}

static inline unsigned int count_events(enum pn_pool_event_type t)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < nevents; i++)
		n += events[i].type == t;
	return n;
}

/* The i-th event of type t, or NULL. */
static inline const struct pn_pool_event *find_event(enum pn_pool_event_type t,
						     unsigned int i)
{
	for (unsigned int k = 0; k < nevents; k++)
		if (events[k].type == t && i-- == 0)
			return &events[k];
	return NULL;
}

/* One 4 KiB class: base 16 buffers, blocks of 16, wall of `blocks` blocks. */
static inline struct pn_pool_class one_class(unsigned int blocks)
{
	struct pn_pool_class c = {
		.buf_size = 4 * KIB,
		.base_bytes = 64 * KIB,
		.block_bytes = 64 * KIB,
		.wall_bytes = (size_t)blocks * 64 * KIB,
	};
	return c;
}

static inline struct pn_pool_opts small_opts(const struct pn_pool_class *c,
					     unsigned int n)
{
	struct pn_pool_opts o = {
		.sz = sizeof(o),
		.name = "test",
		.nclasses = n,
		.classes = c,
		.max_slots = 64,
		.stats_dir = "",
		.release = PN_RELEASE_NONE,
		.on_event = record,
	};
	nevents = 0;
	return o;
}

static inline struct pn_pool_part_stats stats_of(struct pn_pool *pool,
						 unsigned int i)
{
	struct pn_pool_part_stats s;

	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(pn_pool_stats(pool, i, &s, sizeof(s)), 0);
	return s;
}

static inline void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Poll the pool until cond holds or ms pass; returns cond's final value. */
#define POLL_UNTIL(pool, cond, ms)                         \
	({                                                 \
		unsigned int _i;                           \
		for (_i = 0; _i < (ms) && !(cond); _i++) { \
			pn_pool_poll(pool);                \
			sleep_ms(1);                       \
		}                                          \
		pn_pool_poll(pool);                        \
		(cond);                                    \
	})

/* Teardown check: nothing out, then the pool and its pinning are gone. */
static inline void destroy_clean(struct pn_pool *pool)
{
	for (unsigned int i = 0; i < pn_pool_nparts(pool); i++)
		CU_ASSERT_EQUAL(stats_of(pool, i).in_use, 0);
	pn_pool_destroy(pool);
	CU_ASSERT_EQUAL(pn_budget_used(), 0);
}

#endif
