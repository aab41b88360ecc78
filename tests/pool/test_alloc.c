/* SPDX-License-Identifier: MIT */
/*
 * Unit: allocation (000 FIG. 6-7, 001 FIG. 5): size classes, lowest address
 * first, base block first then blocks in order, growth when empty and at
 * the low-water mark, fallback to a larger class, lookup for fixed-buffer
 * I/O with a real READ_FIXED.
 */
#include <liburing.h>
#include <stdint.h>
#include <unistd.h>

#include "helpers.h"

static void test_size_classes(void)
{
	struct pn_pool_class c[3] = { one_class(2), one_class(2),
				      one_class(2) };
	struct pn_pool_opts o;
	struct pn_pool *pool;
	struct pn_buf_info bi;
	void *b;

	c[0].buf_size = 2 * KIB;
	c[2].buf_size = 16 * KIB;
	o = small_opts(c, 3);
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL(pn_pool_nparts(pool), 3);
	/* 001: a request rounds up to the next class */
	const size_t asks[] = { 1, 2048, 2049, 4096, 4097, 16384 };
	const uint32_t gets[] = { 2048, 2048, 4096, 4096, 16384, 16384 };
	for (unsigned int i = 0; i < 6; i++) {
		b = pn_buf_alloc(pool, asks[i], 7);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		CU_ASSERT_EQUAL(pn_buf_lookup(pool, b, &bi), 0);
		CU_ASSERT_EQUAL(bi.size, gets[i]);
		CU_ASSERT_EQUAL(bi.owner, 7);
		memset(b, 0xa5, bi.size); /* the whole class size is usable */
		CU_ASSERT_EQUAL(pn_buf_free(pool, b), 0);
	}
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_buf_alloc(pool, 16385, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "16384"));
	CU_ASSERT_PTR_NULL(pn_buf_alloc(pool, 0, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	destroy_clean(pool);
}

static void test_lowest_address_first(void)
{
	struct pn_pool_class c = one_class(4);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	char *b[16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 16; i++) {
		b[i] = pn_buf_alloc(pool, 4096, (uint32_t)i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b[i]);
		if (i)
			CU_ASSERT_PTR_EQUAL(b[i], b[i - 1] + 4096);
	}
	/* freeing two leaves holes; the lower hole is filled first */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[9]), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[3]), 0);
	CU_ASSERT_PTR_EQUAL(pn_buf_alloc(pool, 4096, 0), b[3]);
	CU_ASSERT_PTR_EQUAL(pn_buf_alloc(pool, 4096, 0), b[9]);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* 001 steps 510-520: the base block serves first; when it is full an
 * additional block is registered and serves next, in block order. */
static void test_base_then_blocks(void)
{
	struct pn_pool_class c = one_class(3);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	struct pn_pool_part_stats s;
	struct pn_buf_info bi;
	char *b[48];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.blocks_active, 1);
	CU_ASSERT_EQUAL(s.pinned_bytes, 64 * KIB);
	CU_ASSERT_EQUAL(s.grows, 1); /* the base block, at creation */
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 64 * KIB);
	for (int i = 0; i < 48; i++) {
		b[i] = pn_buf_alloc(pool, 4096, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b[i]);
		CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[i], &bi), 0);
		CU_ASSERT_EQUAL(bi.block, (uint32_t)i / 16);
	}
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.blocks_active, 3);
	CU_ASSERT_EQUAL(s.grows, 3);
	CU_ASSERT_EQUAL(s.in_use, 48);
	CU_ASSERT_EQUAL(s.high_water, 48);
	CU_ASSERT_EQUAL(s.pinned_bytes, 3 * 64 * KIB);
	CU_ASSERT_EQUAL(count_events(PN_EV_GROW), 3);
	/* at the wall: refused with the wall named */
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_buf_alloc(pool, 4096, 0));
	CU_ASSERT_EQUAL(errno, ENOBUFS);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "wall"));
	CU_ASSERT_EQUAL(stats_of(pool, 0).refusals, 1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).grow_refused, 1);
	/* a freed buffer in block 0 is preferred over block 2 */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[40]), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[5]), 0);
	CU_ASSERT_PTR_EQUAL(pn_buf_alloc(pool, 4096, 0), b[5]);
	CU_ASSERT_PTR_EQUAL(pn_buf_alloc(pool, 4096, 0), b[40]);
	for (int i = 0; i < 48; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* 000 block 238-240: at the low-water mark the pool grows ahead of need,
 * from pn_pool_poll(), so allocations do not wait for a registration. */
static void test_low_water_growth(void)
{
	struct pn_pool_class c = one_class(4);
	struct pn_pool_opts o;
	struct pn_pool *pool;
	char *b[13];

	c.low_water = 4;
	o = small_opts(&c, 1);
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 11; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	pn_pool_poll(pool);
	CU_ASSERT_EQUAL(stats_of(pool, 0).grows, 1); /* 5 free: above */
	b[11] = pn_buf_alloc(pool, 4096, 0); /* 4 free: at the mark */
	CU_ASSERT_EQUAL(stats_of(pool, 0).grows, 1);
	pn_pool_poll(pool);
	CU_ASSERT_EQUAL(stats_of(pool, 0).grows, 2);
	CU_ASSERT_EQUAL(stats_of(pool, 0).free, 4 + 16);
	CU_ASSERT_EQUAL(stats_of(pool, 0).blocks_active, 2);
	b[12] = pn_buf_alloc(pool, 4096, 0);
	for (int i = 0; i < 13; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* 000 [0038]: a class at its wall borrows from a larger class. */
static void test_fallback(void)
{
	struct pn_pool_class c[2] = { one_class(1), one_class(2) };
	struct pn_pool_opts o;
	struct pn_pool *pool;
	struct pn_buf_info bi;
	void *b[17];

	c[1].buf_size = 8 * KIB;
	o = small_opts(c, 2);
	o.fallback = true;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 17; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b[16]);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[16], &bi), 0);
	CU_ASSERT_EQUAL(bi.size, 8 * KIB);
	for (int i = 0; i < 17; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* Lookup gives the slot and address for READ_FIXED on the pool's ring. */
static void test_read_fixed(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct pn_pool *pool;
	struct pn_buf_info bi;
	char *b[20];
	int fds[2];

	CU_ASSERT_EQUAL_FATAL(io_uring_queue_init(8, &ring, 0), 0);
	o.ring = &ring;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_PTR_EQUAL(pn_pool_ring(pool), &ring);
	for (int i = 0; i < 20; i++) /* the last ones live in block 1 */
		b[i] = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[19] + 100, &bi), 0);
	CU_ASSERT_PTR_EQUAL(bi.addr, b[19]);
	CU_ASSERT_EQUAL(bi.block, 1);
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	CU_ASSERT_EQUAL(write(fds[1], "pinned!", 7), 7);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read_fixed(sqe, fds[0], bi.addr, bi.size, 0,
				 (int)bi.slot);
	sqe->user_data = 42;
	CU_ASSERT_EQUAL(io_uring_submit_and_wait(&ring, 1), 1);
	CU_ASSERT_EQUAL_FATAL(io_uring_peek_cqe(&ring, &cqe), 0);
	CU_ASSERT_FALSE(pn_pool_handle_cqe(pool, cqe)); /* not a tag */
	CU_ASSERT_EQUAL(cqe->user_data, 42);
	CU_ASSERT_EQUAL(cqe->res, 7);
	io_uring_cqe_seen(&ring, cqe);
	CU_ASSERT_EQUAL(memcmp(b[19], "pinned!", 7), 0);
	close(fds[0]);
	close(fds[1]);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
	io_uring_queue_exit(&ring);
}

/* Additional blocks start on 2 MiB boundaries whatever the base, so each
 * can be a transparent huge page; the unused lead in front of block 0 is
 * no buffer of the pool. */
static void test_blocks_on_huge_page_boundaries(void)
{
	struct pn_pool_class c = {
		.buf_size = 2 * KIB,
		.base_bytes = 1024 * KIB,
		.block_bytes = 2048 * KIB,
		.wall_bytes = 5120 * KIB,
	};
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	struct pn_buf_info bi;
	char *b[1536 + 1];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 1537; i++) {
		b[i] = pn_buf_alloc(pool, 2048, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b[i]);
	}
	/* block 0 ends where block 1 begins, on a 2 MiB boundary */
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[511], &bi), 0);
	CU_ASSERT_EQUAL(bi.block, 0);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[512], &bi), 0);
	CU_ASSERT_EQUAL(bi.block, 1);
	CU_ASSERT_EQUAL((uintptr_t)b[512] % (2048 * KIB), 0);
	CU_ASSERT_PTR_EQUAL(b[512], b[511] + 2048);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[1536], &bi), 0);
	CU_ASSERT_EQUAL(bi.block, 2);
	CU_ASSERT_EQUAL((uintptr_t)b[1536] % (2048 * KIB), 0);
	/* the lead in front of block 0 holds no buffer */
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[0] - 2048, &bi), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[0] - 2048), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[0] - 1024 * KIB), -EINVAL);
	for (int i = 0; i < 1537; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_size_classes),
	CU_TEST_ENTRY(test_lowest_address_first),
	CU_TEST_ENTRY(test_base_then_blocks),
	CU_TEST_ENTRY(test_blocks_on_huge_page_boundaries),
	CU_TEST_ENTRY(test_low_water_growth),
	CU_TEST_ENTRY(test_fallback),
	CU_TEST_ENTRY(test_read_fixed),
};

int main(void)
{
	return CU_RUN("pool_alloc", tests, NULL, NULL, NULL, NULL);
}
