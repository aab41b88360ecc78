/* SPDX-License-Identifier: MIT */
/*
 * Unit: giving memory back (000 FIG. 9-10): shrink on request with buffers
 * still out, completed when they return; the leak timeout under both
 * policies; the underuse event and its shrink; memory pressure; and the
 * io_uring side: a draining block with a READ_FIXED still in flight keeps
 * its memory until the kernel's tag CQE.
 */
#include <liburing.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

static struct pn_pool *grown_pool(struct pn_pool_opts *o, char **b, int n)
{
	struct pn_pool *pool = pn_pool_create(o);

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < n; i++) {
		b[i] = pn_buf_alloc(pool, 4096, (uint32_t)(1000 + i));
		CU_ASSERT_PTR_NOT_NULL_FATAL(b[i]);
	}
	return pool;
}

/* 000 FIG. 10 blocks 400-408: the boundary moves down; empty blocks go at
 * once, a block with a buffer out waits for it (no new allocations). */
static void test_shrink_waits_for_buffers(void)
{
	struct pn_pool_class c = one_class(3);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	struct pn_pool_part_stats s;
	char *b[48], *x;

	pool = grown_pool(&o, b, 48);
	for (int i = 0; i < 48; i++)
		if (i != 5 && i != 40) /* hold one in block 0, one in block 2 */
			CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(pn_pool_shrink(pool, 4096, 0), 2);
	CU_ASSERT_EQUAL(count_events(PN_EV_DRAIN), 2);
	CU_ASSERT_TRUE(POLL_UNTIL(pool, stats_of(pool, 0).blocks_releasing == 0,
				  1000));
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.blocks_active, 1);
	CU_ASSERT_EQUAL(s.blocks_draining, 1); /* block 2: b[40] is out */
	CU_ASSERT_EQUAL(s.pinned_bytes, 2 * 64 * KIB);
	CU_ASSERT_EQUAL(s.releases[PN_REASON_API], 1);
	CU_ASSERT_EQUAL(s.free, 15);
	/* a draining block serves no allocation */
	x = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_PTR_EQUAL(x, b[0]);
	CU_ASSERT_EQUAL(pn_buf_free(pool, x), 0);
	/* the held buffer is still usable until it is freed */
	memset(b[40], 1, 4096);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[40]), 0);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 64 * KIB, 1000));
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.blocks_draining, 0);
	CU_ASSERT_EQUAL(s.releases[PN_REASON_API], 2);
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 2);
	CU_ASSERT_EQUAL(find_event(PN_EV_RELEASE, 1)->block, 2);
	/* a released block's memory is gone from the address space */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[40]), -ESTALE);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[5]), 0);
	/* and the partition grows again over it */
	for (int i = 0; i < 48; i++)
		CU_ASSERT_PTR_EQUAL(pn_buf_alloc(pool, 4096, 0), b[i]);
	for (int i = 0; i < 48; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* 000 block 410 with the safe policy: leaks are reported with address,
 * size, owner and age, the shrink is refused and the block serves again. */
static void test_leak_timeout_refuse(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	const struct pn_pool_event *ev;
	char *b[32];

	o.leak_timeout_ms = 30;
	pool = grown_pool(&o, b, 32);
	for (int i = 0; i < 32; i++)
		if (i != 20)
			CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(pn_pool_shrink(pool, 4096, 64 * KIB), 1);
	CU_ASSERT_TRUE(POLL_UNTIL(pool, count_events(PN_EV_LEAK) == 1, 2000));
	ev = find_event(PN_EV_LEAK, 0);
	CU_ASSERT_PTR_EQUAL(ev->addr, b[20]);
	CU_ASSERT_EQUAL(ev->owner, 1020);
	CU_ASSERT_EQUAL(ev->bytes, 4096);
	CU_ASSERT_EQUAL(ev->block, 1);
	CU_ASSERT(ev->age_ms >= 30);
	CU_ASSERT_EQUAL(count_events(PN_EV_SHRINK_REFUSED), 1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).leaks, 1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).blocks_active, 2);
	CU_ASSERT_EQUAL(stats_of(pool, 0).pinned_bytes, 128 * KIB);
	CU_ASSERT_EQUAL(stats_of(pool, 0).free, 31);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "refused"));
	/* the buffer stays valid and frees normally */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[20]), 0);
	destroy_clean(pool);
}

/* A released block below an active one (the leak policy refused to let
 * block 2 go and made it active again; block 1 went): frees above the hole
 * are checked against the blocks' states, and the hole's buffers stay
 * refused. */
static void test_free_across_a_hole(void)
{
	struct pn_pool_class c = one_class(3);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	struct pn_pool_part_stats s;
	char *b[48], *x;

	o.leak_timeout_ms = 30;
	pool = grown_pool(&o, b, 48);
	for (int i = 0; i < 48; i++)
		if (i != 40)
			CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(pn_pool_shrink(pool, 4096, 64 * KIB), 2);
	CU_ASSERT_TRUE(POLL_UNTIL(pool, count_events(PN_EV_SHRINK_REFUSED) == 1,
				  2000));
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 128 * KIB, 1000));
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.blocks_active, 2); /* blocks 0 and 2 */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[20]), -ESTALE);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[40]), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[40]), -EALREADY);
	CU_ASSERT_EQUAL(stats_of(pool, 0).errors, 2);
	/* block 0 first, then block 2 over the hole */
	for (int i = 0; i < 16; i++)
		CU_ASSERT_PTR_EQUAL(pn_buf_alloc(pool, 4096, 0), b[i]);
	x = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_PTR_EQUAL(x, b[32]);
	CU_ASSERT_EQUAL(pn_buf_free(pool, x), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, x), -EALREADY);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.in_use, 0);
	CU_ASSERT_EQUAL(s.free, 32);
	CU_ASSERT_EQUAL(s.errors, 3);
	destroy_clean(pool);
}

/* 000 block 412: reclaim marks leaked buffers free and completes the
 * shrink; a late free of such a buffer is refused, not corrupting. */
static void test_leak_timeout_reclaim(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	char *b[32];

	o.leak_timeout_ms = 30;
	o.leak_policy = PN_LEAK_RECLAIM;
	pool = grown_pool(&o, b, 32);
	for (int i = 0; i < 32; i++)
		if (i != 20 && i != 21)
			CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(pn_pool_shrink(pool, 4096, 64 * KIB), 1);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 64 * KIB, 2000));
	CU_ASSERT_EQUAL(count_events(PN_EV_LEAK), 2);
	CU_ASSERT_EQUAL(count_events(PN_EV_SHRINK_REFUSED), 0);
	CU_ASSERT_EQUAL(stats_of(pool, 0).leaks, 2);
	CU_ASSERT_EQUAL(stats_of(pool, 0).in_use, 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[20]), -ESTALE);
	CU_ASSERT_EQUAL(stats_of(pool, 0).errors, 1);
	destroy_clean(pool);
}

/* 000 block 356-358: free buffers above the maximum raise one underuse
 * event; with underuse_shrink the host answers by shrinking. */
static void test_underuse(void)
{
	struct pn_pool_class c = one_class(4);
	struct pn_pool_opts o;
	struct pn_pool *pool;
	char *b[64];

	c.underuse_free = 20;
	o = small_opts(&c, 1);
	pool = grown_pool(&o, b, 64);
	for (int i = 63; i >= 40; i--)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(count_events(PN_EV_UNDERUSE), 1); /* edge-triggered */
	CU_ASSERT_EQUAL(stats_of(pool, 0).underuse, 1);
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 4 * 64 * KIB); /* notify only */
	for (int i = 39; i >= 0; i--)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);

	o = small_opts(&c, 1);
	o.underuse_shrink = true;
	pool = grown_pool(&o, b, 64);
	for (int i = 63; i >= 16; i--)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	/* 16 in use + 20 free allowed: blocks 3 and 2 go, 1 stays */
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 2 * 64 * KIB, 1000));
	CU_ASSERT_EQUAL(stats_of(pool, 0).releases[PN_REASON_UNDERUSE], 2);
	for (int i = 15; i >= 0; i--)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* 000 [0045]: the host needs memory: keep only what is in use. */
static void test_pressure(void)
{
	struct pn_pool_class c = one_class(4);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	char *b[64];

	o.psi = true;
	pool = grown_pool(&o, b, 64);
	if (access("/proc/pressure/memory", W_OK) == 0)
		CU_ASSERT(pn_pool_psi_fd(pool) >= 0);
	for (int i = 20; i < 64; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(pn_pool_pressure(pool), 2); /* 20 bufs need 2 blocks */
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 2 * 64 * KIB, 1000));
	CU_ASSERT_EQUAL(stats_of(pool, 0).releases[PN_REASON_PRESSURE], 2);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

static int reap(struct io_uring *ring, struct pn_pool *pool, int *read_res)
{
	struct io_uring_cqe *cqe;
	int n = 0;

	io_uring_get_events(ring);
	while (io_uring_peek_cqe(ring, &cqe) == 0) {
		if (!pn_pool_handle_cqe(pool, cqe) && cqe->user_data == 7)
			*read_res = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		n++;
	}
	return n;
}

/* The io_uring side of 000 block 404: a READ_FIXED into a draining block
 * is still in flight when its last buffer is freed. The slot is
 * unregistered at once, but the memory stays until the tag CQE, which the
 * kernel posts only after the read completes. */
static void test_tag_cqe_waits_for_inflight_io(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct pn_pool *pool;
	struct pn_buf_info bi;
	char *b[17];
	int fds[2], res = -1;
	unsigned char vec;

	CU_ASSERT_EQUAL_FATAL(io_uring_queue_init(8, &ring, 0), 0);
	o.ring = &ring;
	pool = grown_pool(&o, b, 17);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[16], &bi), 0);
	CU_ASSERT_EQUAL(bi.block, 1);
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read_fixed(sqe, fds[0], bi.addr, 4096, 0, (int)bi.slot);
	sqe->user_data = 7;
	CU_ASSERT_EQUAL(io_uring_submit(&ring), 1);

	/* the application drops the buffer (wrongly, with I/O in flight) and
	 * the block drains and is unregistered */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[16]), 0);
	CU_ASSERT_EQUAL(pn_pool_shrink(pool, 4096, 64 * KIB), 1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).blocks_releasing, 1);
	for (int i = 0; i < 50; i++) {
		reap(&ring, pool, &res);
		sleep_ms(1);
	}
	/* no tag CQE yet: memory still pinned, mapped and counted */
	CU_ASSERT_EQUAL(res, -1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).blocks_releasing, 1);
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 128 * KIB);
	CU_ASSERT_EQUAL(
		mincore((void *)((uintptr_t)bi.addr & ~4095ul), 4096, &vec), 0);
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 0);

	/* the read completes into the still-pinned memory, then the kernel
	 * confirms with the tag CQE and the block is released */
	CU_ASSERT_EQUAL(write(fds[1], "late", 4), 4);
	for (int i = 0; i < 1000 && stats_of(pool, 0).blocks_releasing; i++) {
		reap(&ring, pool, &res);
		sleep_ms(1);
	}
	CU_ASSERT_EQUAL(res, 4);
	CU_ASSERT_EQUAL(stats_of(pool, 0).blocks_releasing, 0);
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 64 * KIB);
	CU_ASSERT_EQUAL(count_events(PN_EV_RELEASE), 1);
	close(fds[0]);
	close(fds[1]);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
	io_uring_queue_exit(&ring);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_shrink_waits_for_buffers),
	CU_TEST_ENTRY(test_leak_timeout_refuse),
	CU_TEST_ENTRY(test_free_across_a_hole),
	CU_TEST_ENTRY(test_leak_timeout_reclaim),
	CU_TEST_ENTRY(test_underuse),
	CU_TEST_ENTRY(test_pressure),
	CU_TEST_ENTRY(test_tag_cqe_waits_for_inflight_io),
};

int main(void)
{
	return CU_RUN("pool_shrink", tests, NULL, NULL, NULL, NULL);
}
