/* SPDX-License-Identifier: MIT */
/*
 * Unit: release policies with millisecond periods. 001 FIG. 6: every sample
 * the last additional block is released when it and the block before it
 * had no allocation for the idle period (one idle block of headroom), one
 * block per sample. The recent-peak policy keeps what the last window's
 * peak needs plus one block and releases the rest in one sample. The
 * forecast policy keeps a decaying average of demand plus headroom.
 */
#include <stdint.h>
#include <stdio.h>

#include "helpers.h"

static struct pn_pool *pool_with(enum pn_release_policy pol, char **b, int n,
				 unsigned int blocks)
{
	static struct pn_pool_class c;
	struct pn_pool_opts o;
	struct pn_pool *pool;

	c = one_class(blocks);
	c.low_water = 4;
	o = small_opts(&c, 1);
	o.release = pol;
	o.sample_ms = 10;
	o.idle_ms = 40;
	o.peak_window_ms = 50;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < n; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	return pool;
}

/* Order and pace of 001 FIG. 6: blocks 3, 2, 1 go one per sample, each
 * after the idle period; the base block stays. */
static void test_idle_release_order(void)
{
	char *b[64];
	struct pn_pool *pool = pool_with(PN_RELEASE_IDLE, b, 64, 4);
	struct timespec t0, t1;
	long ms;

	for (int i = 0; i < 64; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, count_events(PN_EV_RELEASE) >= 1, 2000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CU_ASSERT(ms >= 35); /* not before the idle period */
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 64 * KIB, 2000));
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 3);
	for (unsigned int i = 0; i < 3; i++) {
		const struct pn_pool_event *ev = find_event(PN_EV_RELEASE, i);

		CU_ASSERT_EQUAL(ev->block, 3 - i); /* the last block first */
		CU_ASSERT_EQUAL(ev->reason, PN_REASON_IDLE);
	}
	CU_ASSERT_EQUAL(stats_of(pool, 0).releases[PN_REASON_IDLE], 3);
	/* never the base block */
	for (int i = 0; i < 30; i++) {
		pn_pool_poll(pool);
		sleep_ms(2);
	}
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 64 * KIB);
	destroy_clean(pool);
}

/* Step 611: with the base block busy, block 1 stays as headroom. */
static void test_idle_keeps_headroom(void)
{
	char *b[48];
	struct pn_pool *pool = pool_with(PN_RELEASE_IDLE, b, 48, 3);

	for (int i = 1; i < 48; i++) /* b[0] keeps the base block busy */
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, count_events(PN_EV_RELEASE) == 1, 2000));
	for (int i = 0; i < 40; i++) { /* > idle + several samples */
		pn_pool_poll(pool);
		sleep_ms(2);
	}
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 1);
	CU_ASSERT_EQUAL(find_event(PN_EV_RELEASE, 0)->block, 2);
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 2 * 64 * KIB);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[0]), 0);
	destroy_clean(pool);
}

/* Step 610: a block with a recent allocation is not idle. */
static void test_idle_recent_allocation(void)
{
	char *b[32], *x;
	struct pn_pool *pool = pool_with(PN_RELEASE_IDLE, b, 32, 2);

	for (int i = 0; i < 32; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	/* keep allocating in block 1 (base full) more often than idle_ms */
	for (int i = 0; i < 16; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	for (int round = 0; round < 8; round++) {
		x = pn_buf_alloc(pool, 4096, 0);
		CU_ASSERT_PTR_NOT_NULL(x);
		for (int k = 0; k < 10; k++) {
			pn_pool_poll(pool);
			sleep_ms(1);
		}
		CU_ASSERT_EQUAL(pn_buf_free(pool, x), 0);
	}
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 0);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* Blocks 0-2 (16 buffers each) share one bitmap word. Allocations that
 * keep coming in the base block must not make blocks 1 and 2 look busy:
 * block 2 is released after the idle period, block 1 stays as headroom. */
static void test_idle_shared_word(void)
{
	char *b[48], *x;
	struct pn_pool *pool = pool_with(PN_RELEASE_IDLE, b, 48, 3);

	for (int i = 1; i < 48; i++) /* b[0] keeps the base block busy */
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	for (int i = 0; i < 400 && !count_events(PN_EV_RELEASE); i++) {
		x = pn_buf_alloc(pool, 4096, 0);
		CU_ASSERT_PTR_EQUAL(x, b[0] + 4096); /* in the base block */
		pn_pool_poll(pool);
		sleep_ms(1);
		CU_ASSERT_EQUAL(pn_buf_free(pool, x), 0);
	}
	/* released while the base block kept allocating */
	CU_ASSERT_EQUAL_FATAL(count_events(PN_EV_RELEASE), 1);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) <= 2 * 64 * KIB, 2000));
	CU_ASSERT_EQUAL(find_event(PN_EV_RELEASE, 0)->block, 2);
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 2 * 64 * KIB);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[0]), 0);
	destroy_clean(pool);
}

/* The recent-peak policy: after a burst it keeps what the peak needs while
 * the peak is in the window, then releases to what the new peak plus the
 * low-water headroom needs, several blocks in one sample. */
static void test_peak_policy(void)
{
	char *b[128];
	struct pn_pool *pool = pool_with(PN_RELEASE_PEAK, b, 128, 8);

	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 8 * 64 * KIB);
	/* drop to 20 in use: the 128 peak is in the window for ~50 ms */
	for (int i = 20; i < 128; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	pn_pool_poll(pool);
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 0);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) <= 2 * 64 * KIB, 2000));
	/* 20 buffers + 4 of low-water headroom need 2 blocks */
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 2 * 64 * KIB);
	CU_ASSERT_EQUAL(stats_of(pool, 0).releases[PN_REASON_PEAK], 6);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	/* nothing in use: the base block alone holds the headroom */
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 64 * KIB, 2000));
	destroy_clean(pool);
}

/* Poll until partition 0's forecast differs from prev (a sample ran);
 * returns the new value, or prev after ms milliseconds. */
static uint64_t next_forecast(struct pn_pool *pool, uint64_t prev,
			      unsigned int ms)
{
	uint64_t f = prev;

	POLL_UNTIL(pool, (f = stats_of(pool, 0).forecast) != prev, ms);
	return f;
}

/* The forecast's arithmetic (RFC 6298's estimator, weight from the
 * half-life): a half-life of one sample weighs each new peak by 1/2; with
 * the load steady at 100 the first sample sets average 100, deviation 50,
 * and each later one halves the deviation: keep 150, 125, 113 (112.5
 * rounded up), 107 at 100 % headroom (one deviation). */
static void test_forecast_estimator(void)
{
	char *b[100];
	static struct pn_pool_class c;
	struct pn_pool_opts o;
	struct pn_pool *pool;
	uint64_t f;

	c = one_class(8);
	o = small_opts(&c, 1);
	o.release = PN_RELEASE_FORECAST;
	o.sample_ms = 10;
	o.forecast_halflife_ms = 10;
	o.forecast_headroom_pct = 100;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL(stats_of(pool, 0).forecast, 0); /* no sample yet */
	for (int i = 0; i < 100; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	f = next_forecast(pool, 0, 2000);
	CU_ASSERT_EQUAL(f, 150);
	f = next_forecast(pool, f, 2000);
	CU_ASSERT_EQUAL(f, 125);
	f = next_forecast(pool, f, 2000);
	CU_ASSERT_EQUAL(f, 113);
	f = next_forecast(pool, f, 2000);
	CU_ASSERT_EQUAL(f, 107);
	/* the 7 blocks grown for 100 buffers all stay: the forecast plus
	 * one buffer of headroom (low_water 0) needs more than 6 */
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 0);
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/*
 * The forecast policy after a burst: 128 buffers, then 20. Unlike the
 * recent-peak policy (everything above the new peak in one sample, once
 * the burst leaves the window) the kept size follows the decaying
 * average down, so the six empty blocks go over several samples; it ends
 * where 20 buffers plus the low-water headroom of 4 need two blocks.
 */
static void test_forecast_policy(void)
{
	char *b[128];
	struct pn_pool *pool;
	static struct pn_pool_class c;
	struct pn_pool_opts o;
	unsigned int batches = 0, seen = 0;
	size_t pinned_at_first = 0;

	c = one_class(8);
	c.low_water = 4;
	o = small_opts(&c, 1);
	o.release = PN_RELEASE_FORECAST;
	o.sample_ms = 10;
	o.forecast_halflife_ms = 10;
	o.forecast_headroom_pct = 100;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 128; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 8 * 64 * KIB);
	for (int i = 20; i < 128; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	/* each poll that released something is one batch */
	for (int i = 0; i < 3000 && pn_pool_pinned(pool) > 2 * 64 * KIB; i++) {
		pn_pool_poll(pool);
		if (count_events(PN_EV_RELEASE) > seen) {
			if (!seen)
				pinned_at_first = pn_pool_pinned(pool);
			seen = count_events(PN_EV_RELEASE);
			batches++;
		}
		sleep_ms(1);
	}
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 2 * 64 * KIB);
	CU_ASSERT_EQUAL(stats_of(pool, 0).releases_forecast, 6);
	CU_ASSERT_EQUAL(find_event(PN_EV_RELEASE, 0)->reason,
			PN_REASON_FORECAST);
	CU_ASSERT_EQUAL(find_event(PN_EV_RELEASE, 0)->block, 7);
	CU_ASSERT(batches >= 3); /* gradual: 2, 2, 1, 1 by the arithmetic */
	CU_ASSERT(pinned_at_first >= 5 * 64 * KIB);
	/* steady at 20: it stays at two blocks */
	for (int i = 0; i < 20; i++) {
		pn_pool_poll(pool);
		sleep_ms(2);
	}
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 2 * 64 * KIB);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* kB of LazyFree in this process (pages given back with MADV_FREE that
 * the kernel has not taken yet) */
static long lazyfree_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "LazyFree: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A released block's pages go back to the kernel: with MADV_FREE by
 * default (LazyFree counts them), with MADV_DONTNEED when eager_free is
 * set (a block grown again reads as zeros). Either way the block works
 * again after a regrow. */
static void released_pages(bool eager)
{
	static struct pn_pool_class c = {
		.buf_size = 4 * KIB,
		.base_bytes = 64 * KIB,
		.block_bytes = 1024 * KIB,
		.wall_bytes = 64 * KIB + 3 * 1024 * KIB,
	};
	struct pn_pool_opts o = small_opts(&c, 1);
	char *b[16 + 3 * 256];
	const int n = 16 + 3 * 256;
	long lazy0 = lazyfree_kb();

	o.release = PN_RELEASE_IDLE;
	o.sample_ms = 10;
	o.idle_ms = 20;
	o.release_max = UINT32_MAX;
	o.eager_free = eager;
	struct pn_pool *pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < n; i++) {
		b[i] = pn_buf_alloc(pool, 4096, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b[i]);
		memset(b[i], 0xa5, 4096);
	}
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 64 * KIB, 2000));
	if (!eager && lazy0 >= 0) /* no smaps_rollup: nothing to read */
		CU_ASSERT(lazyfree_kb() > lazy0);
	for (int i = 0; i < n; i++) {
		char *again = pn_buf_alloc(pool, 4096, 0);

		CU_ASSERT_PTR_EQUAL_FATAL(again, b[i]);
		if (eager && i >= 16) /* page zeroed, not just its first byte */
			CU_ASSERT_EQUAL(again[100], 0);
		memset(again, 0x5a, 4096);
	}
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

static void test_released_pages_lazy(void)
{
	released_pages(false);
}

static void test_released_pages_eager(void)
{
	released_pages(true);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_idle_release_order),
	CU_TEST_ENTRY(test_idle_keeps_headroom),
	CU_TEST_ENTRY(test_idle_recent_allocation),
	CU_TEST_ENTRY(test_idle_shared_word),
	CU_TEST_ENTRY(test_peak_policy),
	CU_TEST_ENTRY(test_forecast_estimator),
	CU_TEST_ENTRY(test_forecast_policy),
	CU_TEST_ENTRY(test_released_pages_lazy),
	CU_TEST_ENTRY(test_released_pages_eager),
};

int main(void)
{
	return CU_RUN("pool_release", tests, NULL, NULL, NULL, NULL);
}
