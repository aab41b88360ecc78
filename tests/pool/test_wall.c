/* SPDX-License-Identifier: MIT */
/*
 * Unit: the wall. 001 steps 506-516 (queue FIFO at the wall, served on
 * release, new requests queue behind waiting ones), 000 blocks 250-254
 * (wait for a free up to a timeout, then refuse with a clear error), queue
 * timeouts, frees from other threads, the process budget (000 FIG. 8 block
 * 306: a grow waits for another pool to release).
 */
#include <pthread.h>
#include <stdint.h>

#include "helpers.h"

struct got {
	void *buf[8];
	int err[8];
	int n;
};

static void on_buf(void *arg, void *buf, int err)
{
	struct got *g = arg;

	g->buf[g->n] = buf;
	g->err[g->n] = err;
	g->n++;
}

/* Fill the single-block pool (16 buffers, wall = base). */
static void fill(struct pn_pool *pool, char **b)
{
	for (int i = 0; i < 16; i++) {
		b[i] = pn_buf_alloc(pool, 4096, (uint32_t)i);
		CU_ASSERT_PTR_NOT_NULL(b[i]);
	}
}

static void test_fifo_queue(void)
{
	struct pn_pool_class c = one_class(1);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	struct got g1 = { 0 }, g2 = { 0 }, g3 = { 0 };
	char *b[16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	fill(pool, b);
	/* below the wall an async request completes at once (returns 0) */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[15]), 0);
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 15, on_buf, &g1), 0);
	CU_ASSERT_EQUAL(g1.n, 1);
	CU_ASSERT_PTR_EQUAL(g1.buf[0], b[15]);
	g1.n = 0;
	/* at the wall: queued in order (step 516) */
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 101, on_buf, &g1), 1);
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 102, on_buf, &g2), 1);
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 103, on_buf, &g3), 1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).queue_len, 3);
	CU_ASSERT_EQUAL(count_events(PN_EV_QUEUED), 3);
	/* step 506: a plain allocation does not jump the queue */
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_buf_alloc(pool, 4096, 0));
	CU_ASSERT_EQUAL(errno, ENOBUFS);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "queued"));
	/* each free serves the oldest request with the freed buffer */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[7]), 0);
	CU_ASSERT_EQUAL(g1.n, 1);
	CU_ASSERT_PTR_EQUAL(g1.buf[0], b[7]);
	CU_ASSERT_EQUAL(g2.n + g3.n, 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[2]), 0);
	CU_ASSERT_EQUAL(g2.n, 1);
	CU_ASSERT_PTR_EQUAL(g2.buf[0], b[2]);
	CU_ASSERT_EQUAL(g3.n, 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[9]), 0);
	CU_ASSERT_EQUAL(g3.n, 1);
	CU_ASSERT_PTR_EQUAL(g3.buf[0], b[9]);
	CU_ASSERT_EQUAL(g3.err[0], 0);
	{
		struct pn_buf_info bi;

		CU_ASSERT_EQUAL(pn_buf_lookup(pool, g3.buf[0], &bi), 0);
		CU_ASSERT_EQUAL(bi.owner, 103);
	}
	CU_ASSERT_EQUAL(stats_of(pool, 0).queue_len, 0);
	CU_ASSERT_EQUAL(stats_of(pool, 0).dequeued, 3);
	CU_ASSERT_EQUAL(count_events(PN_EV_DEQUEUED), 3);
	CU_ASSERT_PTR_EQUAL(find_event(PN_EV_DEQUEUED, 0)->addr, b[7]);
	CU_ASSERT_EQUAL(find_event(PN_EV_DEQUEUED, 2)->owner, 103);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

static void test_queue_timeout_and_cancel(void)
{
	struct pn_pool_class c = one_class(1);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	struct got g1 = { 0 }, g2 = { 0 };
	char *b[16];

	o.queue_timeout_ms = 20;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	fill(pool, b);
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 1, on_buf, &g1), 1);
	CU_ASSERT_TRUE(POLL_UNTIL(pool, g1.n == 1, 1000));
	CU_ASSERT_PTR_NULL(g1.buf[0]);
	CU_ASSERT_EQUAL(g1.err[0], -ETIMEDOUT);
	CU_ASSERT_EQUAL(stats_of(pool, 0).refusals, 1);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(pn_pool_last_error(pool), "queue_timeout_ms"));
	/* destroying the pool refuses what is still queued */
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 2, on_buf, &g2), 1);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	/* the frees served g2 */
	CU_ASSERT_EQUAL(g2.n, 1);
	CU_ASSERT_EQUAL(pn_buf_free(pool, g2.buf[0]), 0);
	fill(pool, b);
	g2.n = 0;
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 3, on_buf, &g2), 1);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, g2.buf[0]), 0);
	fill(pool, b);
	g2.n = 0;
	CU_ASSERT_EQUAL(pn_buf_alloc_async(pool, 4096, 4, on_buf, &g2), 1);
	/* leave the buffers out: destroy reports them as leaks */
	pn_pool_destroy(pool);
	CU_ASSERT_EQUAL(g2.n, 1);
	CU_ASSERT_EQUAL(g2.err[0], -ECANCELED);
	CU_ASSERT_EQUAL(count_events(PN_EV_LEAK), 16);
	CU_ASSERT_EQUAL(pn_budget_used(), 0);
}

/* 000 block 252-254: wait up to the timeout, then refuse clearly. */
static void test_wait_timeout_refusal(void)
{
	struct pn_pool_class c = one_class(1);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	struct timespec t0, t1;
	char *b[16];
	long ms;

	o.wait_ms = 60;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	fill(pool, b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_buf_alloc(pool, 4096, 0));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CU_ASSERT_EQUAL(errno, ENOBUFS);
	CU_ASSERT(ms >= 59 && ms < 1000);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "60 ms"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "wall"));
	CU_ASSERT_EQUAL(stats_of(pool, 0).waits, 1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).refusals, 1);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

struct later {
	struct pn_pool *pool;
	void *buf;
	unsigned int ms;
	int rc;
};

static void *free_later(void *arg)
{
	struct later *l = arg;

	sleep_ms(l->ms);
	l->rc = pn_buf_free(l->pool, l->buf);
	return NULL;
}

/* 000 blocks 234/250/252: a waiting allocation gets a buffer that another
 * thread frees before the timeout. */
static void test_wait_served_by_other_thread(void)
{
	struct pn_pool_class c = one_class(1);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	struct later l;
	pthread_t t;
	char *b[16], *x;

	o.wait_ms = 5000;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	fill(pool, b);
	l = (struct later){ pool, b[11], 30, -1 };
	pthread_create(&t, NULL, free_later, &l);
	x = pn_buf_alloc(pool, 4096, 77);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(l.rc, 0);
	CU_ASSERT_PTR_EQUAL(x, b[11]);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* Frees from many threads at once reach the owner intact. */
static void *free_many(void *arg)
{
	struct later *l = arg;

	for (int i = 0; i < 8; i++)
		if (pn_buf_free(l->pool, ((char **)l->buf)[i]))
			l->rc = -1;
	return NULL;
}

static void test_remote_frees(void)
{
	struct pn_pool_class c = one_class(4);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	struct later l[8];
	pthread_t t[8];
	char *b[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 64; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	for (int i = 0; i < 8; i++) {
		l[i] = (struct later){ pool, &b[i * 8], 0, 0 };
		pthread_create(&t[i], NULL, free_many, &l[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(l[i].rc, 0);
	}
	CU_ASSERT_EQUAL(stats_of(pool, 0).in_use, 64); /* not applied yet */
	pn_pool_poll(pool);
	CU_ASSERT_EQUAL(stats_of(pool, 0).in_use, 0);
	CU_ASSERT_EQUAL(stats_of(pool, 0).free, 64);
	CU_ASSERT_EQUAL(stats_of(pool, 0).errors, 0);
	destroy_clean(pool);
}

static void *release_later(void *arg)
{
	struct later *l = arg;

	sleep_ms(l->ms);
	CU_ASSERT_EQUAL(pn_pool_shrink(l->pool, 4096, 0), 1);
	l->rc = POLL_UNTIL(l->pool, pn_pool_pinned(l->pool) == 64 * KIB, 1000) ?
			0 :
			-1;
	return NULL;
}

/* 000 FIG. 8 blocks 302-306: the process budget is shared; a grow waits
 * for another pool to give memory back, or is refused naming the budget. */
static void test_process_budget(void)
{
	struct pn_pool_class c = one_class(4);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *a, *b;
	struct later l;
	pthread_t t;

	a = pn_pool_create(&o);
	b = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(pn_budget_used(), 128 * KIB);
	pn_budget_set(192 * KIB);
	CU_ASSERT_EQUAL(pn_pool_grow(a, 4096), 0);
	CU_ASSERT_EQUAL(pn_pool_grow(b, 4096), -EDQUOT);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(b), "budget"));
	CU_ASSERT_EQUAL(stats_of(b, 0).grow_refused, 1);
	/* with a wait, a release by pool a (its own thread) lets b grow */
	pn_pool_destroy(b);
	o.grow_wait_ms = 5000;
	b = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	l = (struct later){ a, NULL, 30, -1 };
	pthread_create(&t, NULL, release_later, &l);
	CU_ASSERT_EQUAL(pn_pool_grow(b, 4096), 0);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(l.rc, 0);
	CU_ASSERT_EQUAL(pn_pool_pinned(b), 128 * KIB);
	pn_budget_set(0);
	CU_ASSERT_EQUAL(stats_of(a, 0).in_use, 0);
	pn_pool_destroy(a);
	destroy_clean(b);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_fifo_queue),
	CU_TEST_ENTRY(test_queue_timeout_and_cancel),
	CU_TEST_ENTRY(test_wait_timeout_refusal),
	CU_TEST_ENTRY(test_wait_served_by_other_thread),
	CU_TEST_ENTRY(test_remote_frees),
	CU_TEST_ENTRY(test_process_budget),
};

int main(void)
{
	return CU_RUN("pool_wall", tests, NULL, NULL, NULL, NULL);
}
