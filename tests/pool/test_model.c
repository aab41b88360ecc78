/* SPDX-License-Identifier: MIT */
/*
 * Unit: thousands of random operations (alloc in every class, async alloc,
 * free, double free, foreign free, grow, shrink, pressure, poll) checked
 * after each step against a simple reference model: the set of buffers
 * out, their classes, owners and contents. Buffers never overlap, the pool's
 * counters equal the model's, and every buffer keeps what was written to it.
 * The seed is printed; PN_SEED=N replays a run.
 */
#include <stdint.h>
#include <stdlib.h>

#include "helpers.h"

#define MAXOUT 2000

struct held {
	char *p;
	uint32_t size; /* class size */
	uint32_t owner;
	unsigned char fill;
};

static struct held out[MAXOUT];
static unsigned int nout;
static struct pn_pool *mpool;
static const uint32_t sizes[3] = { 2048, 8192, 65536 };

static int class_index(uint32_t size)
{
	for (int i = 0; i < 3; i++)
		if (sizes[i] == size)
			return i;
	return -1;
}

static void add_held(void *p, uint32_t size, uint32_t owner)
{
	struct held *h = &out[nout++];

	h->p = p;
	h->size = size;
	h->owner = owner;
	h->fill = (unsigned char)(owner * 31 + 7);
	/* first and last bytes suffice to catch overlap between buffers */
	h->p[0] = (char)h->fill;
	h->p[size - 1] = (char)h->fill;
}

static void on_async(void *arg, void *buf, int err)
{
	uint32_t owner = (uint32_t)(uintptr_t)arg;
	struct pn_buf_info bi;

	if (!buf || err)
		return;
	CU_ASSERT_EQUAL(pn_buf_lookup(mpool, buf, &bi), 0);
	CU_ASSERT_EQUAL(bi.owner, owner);
	if (nout < MAXOUT)
		add_held(buf, bi.size, owner);
	else
		CU_ASSERT_EQUAL(pn_buf_free(mpool, buf), 0);
}

static void check_model(void)
{
	uint64_t want[3] = { 0, 0, 0 };

	for (unsigned int i = 0; i < nout; i++) {
		struct held *h = &out[i];
		struct pn_buf_info bi;

		CU_ASSERT_EQUAL(pn_buf_lookup(mpool, h->p, &bi), 0);
		CU_ASSERT_EQUAL(bi.size, h->size);
		CU_ASSERT_EQUAL(bi.owner, h->owner);
		CU_ASSERT_EQUAL((unsigned char)h->p[0], h->fill);
		CU_ASSERT_EQUAL((unsigned char)h->p[h->size - 1], h->fill);
		want[class_index(h->size)]++;
	}
	for (unsigned int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(stats_of(mpool, i).in_use, want[i]);
}

static void test_random_against_model(void)
{
	struct pn_pool_class c[3];
	struct pn_pool_opts o;
	unsigned int seed = (unsigned int)time(NULL);
	unsigned int ops = 20000;
	char *recent_free = NULL;
	uint32_t owner = 1;

	if (getenv("PN_SEED"))
		seed = (unsigned int)strtoul(getenv("PN_SEED"), NULL, 0);
	printf("\n  seed %u (PN_SEED=%u replays)\n", seed, seed);
	srand(seed);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct pn_pool_class){
			.buf_size = sizes[i],
			.base_bytes = (size_t)sizes[i] * 8,
			.block_bytes = (size_t)sizes[i] * 8,
			.wall_bytes = (size_t)sizes[i] * 8 * 12,
			.low_water = 2,
		};
	}
	o = small_opts(c, 3);
	o.on_event = NULL;
	o.leak_policy = PN_LEAK_REFUSE;
	o.leak_timeout_ms = 5;
	o.release = PN_RELEASE_PEAK;
	o.sample_ms = 2;
	o.peak_window_ms = 6;
	mpool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mpool);
	nout = 0;

	for (unsigned int step = 0; step < ops; step++) {
		int op = rand() % 100;

		if (op < 45 && nout < MAXOUT) {
			uint32_t cls = sizes[rand() % 3];
			size_t ask = 1 + (size_t)rand() % cls;
			void *p = pn_buf_alloc(mpool, ask, owner);

			if (p) {
				struct pn_buf_info bi;

				CU_ASSERT_EQUAL(pn_buf_lookup(mpool, p, &bi),
						0);
				CU_ASSERT(bi.size >= ask);
				add_held(p, bi.size, owner);
			} else {
				CU_ASSERT_EQUAL(errno, ENOBUFS);
			}
			owner++;
		} else if (op < 50 && nout < MAXOUT - 10) {
			int rc = pn_buf_alloc_async(mpool, sizes[rand() % 3],
						    owner, on_async,
						    (void *)(uintptr_t)owner);

			CU_ASSERT(rc == 0 || rc == 1);
			owner++;
		} else if (op < 90 && nout) {
			unsigned int k = (unsigned int)rand() % nout;

			recent_free = out[k].p;
			CU_ASSERT_EQUAL(pn_buf_free(mpool, out[k].p), 0);
			out[k] = out[--nout];
		} else if (op < 92 && recent_free) {
			int rc = pn_buf_free(mpool, recent_free);
			bool held = false;

			for (unsigned int i = 0; i < nout; i++)
				held |= out[i].p == recent_free;
			if (held) { /* reallocated since: a legal free */
				CU_ASSERT_EQUAL(rc, 0);
				for (unsigned int i = 0; i < nout; i++)
					if (out[i].p == recent_free) {
						out[i] = out[--nout];
						break;
					}
			} else {
				CU_ASSERT(rc == -EALREADY || rc == -ESTALE);
			}
			recent_free = NULL;
		} else if (op < 93) {
			char x;

			CU_ASSERT_EQUAL(pn_buf_free(mpool, &x), -EINVAL);
		} else if (op < 95) {
			pn_pool_grow(mpool, sizes[rand() % 3]);
		} else if (op < 97) {
			unsigned int i = (unsigned int)rand() % 3;

			CU_ASSERT(pn_pool_shrink(
					  mpool, sizes[i],
					  (size_t)sizes[i] *
						  (size_t)(rand() % 64)) >= 0);
		} else if (op < 98) {
			CU_ASSERT(pn_pool_pressure(mpool) >= 0);
		} else {
			CU_ASSERT(pn_pool_poll(mpool) >= 0);
		}
		if (step % 16 == 0)
			pn_pool_poll(mpool);
		if (step % 512 == 0)
			check_model();
	}
	check_model();
	while (nout)
		CU_ASSERT_EQUAL(pn_buf_free(mpool, out[--nout].p), 0);
	/* everything drains back; queued requests were served or expire */
	pn_pool_poll(mpool);
	while (nout)
		CU_ASSERT_EQUAL(pn_buf_free(mpool, out[--nout].p), 0);
	for (unsigned int i = 0; i < 3; i++) {
		struct pn_pool_part_stats s = stats_of(mpool, i);

		CU_ASSERT_EQUAL(s.in_use, 0);
		CU_ASSERT_EQUAL(s.queue_len, 0);
	}
	destroy_clean(mpool);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_random_against_model),
};

int main(void)
{
	return CU_RUN("pool_model", tests, NULL, NULL, NULL, NULL);
}
