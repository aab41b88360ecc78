/* SPDX-License-Identifier: MIT */
/*
 * Unit: bad input never corrupts the pool. Broken options, double frees,
 * pointers the pool never gave out, a buffer of a released block, a
 * destroyed pool; RLIMIT_MEMLOCK exhausted in a child without
 * CAP_IPC_LOCK; a ring that already has buffers. Each gives a clear error
 * and a counter, and the pool works normally afterwards.
 */
#include <linux/capability.h>
#include <liburing.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static void expect_bad_opts(struct pn_pool_opts *o, const char *needle)
{
	struct pn_pool *pool;

	errno = 0;
	pool = pn_pool_create(o);
	CU_ASSERT_PTR_NULL(pool);
	CU_ASSERT_EQUAL(errno, EINVAL);
	if (!strstr(pn_pool_last_error(NULL), needle))
		fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n",
			pn_pool_last_error(NULL), needle);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(NULL), needle));
	if (pool)
		pn_pool_destroy(pool);
}

static void test_bad_options(void)
{
	struct pn_pool_class c = one_class(2), d[2];
	struct pn_pool_opts o;

	CU_ASSERT_PTR_NULL(pn_pool_create(NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	c.buf_size = 3000;
	o = small_opts(&c, 1);
	expect_bad_opts(&o, "power of two");
	c = one_class(2);
	c.base_bytes = 10000;
	expect_bad_opts(&o, "base_bytes");
	c = one_class(2);
	c.block_bytes = 0;
	expect_bad_opts(&o, "block_bytes");
	c = one_class(2);
	c.wall_bytes = 4096;
	expect_bad_opts(&o, "wall_bytes");
	c = one_class(2);
	d[0] = d[1] = c;
	o = small_opts(d, 2);
	expect_bad_opts(&o, "not above");
	o = small_opts(&c, 1);
	o.max_slots = 20000;
	expect_bad_opts(&o, "16384");
	o = small_opts(&c, 1);
	o.nclasses = PN_POOL_MAX_CLASSES + 1;
	expect_bad_opts(&o, "classes");
	o = small_opts(&c, 1);
	o.release = 9;
	expect_bad_opts(&o, "policy");
	CU_ASSERT_EQUAL(pn_budget_used(), 0);
}

/* small_opts() field by field into o, which the caller zeroed: a struct
 * copy might not carry zero padding over */
static void set_small_opts(struct pn_pool_opts *o,
			   const struct pn_pool_class *c)
{
	o->sz = sizeof(*o);
	o->name = "test";
	o->nclasses = 1;
	o->classes = c;
	o->max_slots = 64;
	o->stats_dir = "";
	o->release = PN_RELEASE_NONE;
	o->on_event = record;
	nevents = 0;
}

static void expect_e2big(struct pn_pool_opts *o, size_t byte)
{
	struct pn_pool *pool;
	char want[64];

	snprintf(want, sizeof(want), "byte %zu ", byte);
	errno = 0;
	pool = pn_pool_create(o);
	CU_ASSERT_PTR_NULL(pool);
	CU_ASSERT_EQUAL(errno, E2BIG);
	if (!strstr(pn_pool_last_error(NULL), want))
		fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n",
			pn_pool_last_error(NULL), want);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(NULL), want));
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(NULL), "newer"));
	if (pool)
		pn_pool_destroy(pool);
}

/* A caller built against a newer pinnet/pool.h passes a larger struct.
 * Zero bytes past the fields this library knows are fine; a non-zero one
 * is a setting it would silently ignore: E2BIG, naming the byte. */
static void test_opts_newer_header(void)
{
	struct pn_pool_class c = one_class(2);
	struct newer_opts {
		struct pn_pool_opts o;
		uint64_t added[3]; /* the newer header's fields */
	} big;
	size_t last_end = offsetof(struct pn_pool_opts, forecast_headroom_pct) +
			  sizeof(big.o.forecast_headroom_pct);
	struct pn_pool *pool;

	memset(&big, 0, sizeof(big));
	set_small_opts(&big.o, &c);
	big.o.sz = sizeof(big);
	pool = pn_pool_create(&big.o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	destroy_clean(pool);
	big.added[1] = 1;
	expect_e2big(&big.o, offsetof(struct newer_opts, added) + 8);
	big.added[1] = 0;
	big.added[2] = 1ull << 63;
	expect_e2big(&big.o, sizeof(big) - 1);
	big.added[2] = 0;
	/* a newer field may sit in what is tail padding here */
	if (last_end < sizeof(big.o)) {
		((char *)&big.o)[last_end] = 1;
		expect_e2big(&big.o, last_end);
		/* with this header's sz, padding is the caller's business */
		big.o.sz = sizeof(big.o);
		pool = pn_pool_create(&big.o);
		CU_ASSERT_PTR_NOT_NULL(pool);
		destroy_clean(pool);
	}
	CU_ASSERT_EQUAL(pn_budget_used(), 0);
}

/* A caller built against an older header passes a smaller struct: the
 * fields past its sz are zero (defaults), whatever its memory holds. */
static void test_opts_older_header(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o;
	struct pn_pool *pool;

	memset(&o, 0, sizeof(o));
	set_small_opts(&o, &c);
	o.sz = offsetof(struct pn_pool_opts, on_event);
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL(pn_pool_grow(pool, 4096), 0);
	CU_ASSERT_EQUAL(nevents, 0); /* on_event lies past sz */
	destroy_clean(pool);
	o.sz = sizeof(size_t) - 1;
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_pool_create(&o));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

static void test_ring_with_buffers(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct io_uring ring;
	char mem[4096];
	struct iovec iov = { mem, sizeof(mem) };

	CU_ASSERT_EQUAL_FATAL(io_uring_queue_init(4, &ring, 0), 0);
	CU_ASSERT_EQUAL(io_uring_register_buffers(&ring, &iov, 1), 0);
	o.ring = &ring;
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_pool_create(&o));
	CU_ASSERT_EQUAL(errno, EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(NULL), "already"));
	CU_ASSERT_EQUAL(pn_budget_used(), 0);
	io_uring_queue_exit(&ring);
}

static void test_bad_frees(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	char local[64], *heap = malloc(64), *b[32];
	struct pn_pool_part_stats s;
	struct pn_buf_info bi;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 32; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[3]), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[3]), -EALREADY);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "double free"));
	CU_ASSERT_EQUAL(pn_buf_free(pool, local), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, heap), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, NULL), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[4] + 1), -EINVAL); /* inside */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[31] + 4096 * 40), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, local, &bi), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b[3], &bi), -EINVAL); /* freed */
	CU_ASSERT_EQUAL(count_events(PN_EV_BAD_FREE), 6);
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.errors, 3); /* 3 inside the partition */
	CU_ASSERT_EQUAL(s.in_use, 31);
	CU_ASSERT_EQUAL(s.free, 1);
	/* a buffer of a released block */
	for (int i = 16; i < 32; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(pn_pool_shrink(pool, 4096, 64 * KIB), 1);
	CU_ASSERT_TRUE(
		POLL_UNTIL(pool, pn_pool_pinned(pool) == 64 * KIB, 1000));
	CU_ASSERT_EQUAL(pn_buf_free(pool, b[20]), -ESTALE);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "released"));
	/* the pool is intact: the same buffers come back in order */
	CU_ASSERT_PTR_EQUAL(pn_buf_alloc(pool, 4096, 0), b[3]);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	s = stats_of(pool, 0);
	CU_ASSERT_EQUAL(s.in_use, 0);
	CU_ASSERT_EQUAL(s.free, 16);
	free(heap);
	destroy_clean(pool);
}

/*
 * The free fast path's decode of a pointer, in the first partition (the
 * predicted one) and in a later one: every address that is not the start
 * of a buffer out fails with the same error as before, without touching
 * the counters of any partition it is not in. The 8 KiB class's base block
 * of 24 KiB leaves a lead in front of it (additional blocks start on a
 * 2 MiB boundary), which is inside the pool's range but no buffer.
 */
static void test_free_decode(void)
{
	struct pn_pool_class c[2] = {
		{ .buf_size = 4 * KIB,
		  .base_bytes = 64 * KIB,
		  .block_bytes = 64 * KIB,
		  .wall_bytes = 128 * KIB },
		{ .buf_size = 8 * KIB,
		  .base_bytes = 24 * KIB,
		  .block_bytes = 2048 * KIB,
		  .wall_bytes = 24 * KIB + 2048 * KIB },
	};
	struct pn_pool_opts o = small_opts(c, 2);
	struct pn_pool *pool = pn_pool_create(&o);
	char *a, *b, *a2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	a = pn_buf_alloc(pool, 4096, 1);
	b = pn_buf_alloc(pool, 8192, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_TRUE(pn_pool_owns(pool, b - 8192)); /* the lead */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b - 8192), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b - 1), -EINVAL);
	for (unsigned int off = 1; off < 8192; off <<= 1) {
		CU_ASSERT_EQUAL(pn_buf_free(pool, b + off), -EINVAL);
		if (off < 4096)
			CU_ASSERT_EQUAL(pn_buf_free(pool, a + off), -EINVAL);
	}
	/* past the active run: the next blocks are not registered */
	CU_ASSERT_EQUAL(pn_buf_free(pool, a + 64 * KIB), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b + 24 * KIB), -EINVAL);
	/* a free buffer of each partition: double frees */
	CU_ASSERT_EQUAL(pn_buf_free(pool, a + 4096), -EALREADY);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b + 8192), -EALREADY);
	CU_ASSERT_EQUAL(stats_of(pool, 0).errors, 12 + 1 + 1);
	CU_ASSERT_EQUAL(stats_of(pool, 1).errors, 1 + 1 + 13 + 1 + 1);
	CU_ASSERT_EQUAL(stats_of(pool, 0).in_use, 1);
	CU_ASSERT_EQUAL(stats_of(pool, 1).in_use, 1);
	/* the real frees still work, and the same buffers come back */
	CU_ASSERT_EQUAL(pn_buf_free(pool, b), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, a), 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, a), -EALREADY);
	a2 = pn_buf_alloc(pool, 100, 3);
	CU_ASSERT_PTR_EQUAL(a2, a);
	CU_ASSERT_EQUAL(pn_buf_free(pool, a2), 0);
	destroy_clean(pool);
}

static void test_destroyed_pool(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	struct pn_buf_info bi;
	void *b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	b = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b), 0);
	pn_pool_destroy(pool);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b), -EBADF);
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_buf_alloc(pool, 4096, 0));
	CU_ASSERT_EQUAL(errno, EBADF);
	CU_ASSERT_EQUAL(pn_pool_poll(pool), -EBADF);
	CU_ASSERT_EQUAL(pn_pool_grow(pool, 4096), -EBADF);
	CU_ASSERT_EQUAL(pn_buf_lookup(pool, b, &bi), -EBADF);
	CU_ASSERT_EQUAL(pn_pool_nparts(pool), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "destroyed"));
	pn_pool_destroy(pool); /* twice: no-op */
	pn_pool_destroy(NULL);
	CU_ASSERT_EQUAL(pn_budget_used(), 0);
}

/* The child drops CAP_IPC_LOCK and lowers RLIMIT_MEMLOCK; growth stops
 * with an error that names the limit. Exit codes say what went wrong. */
static int memlock_child(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rlimit rl = { 256 * KIB, 256 * KIB };
	struct pn_pool_class c = one_class(16);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	int rc = 0, grown = 0;

	if (syscall(SYS_capget, &h, d))
		return 10;
	d[0].effective &= ~(1u << CAP_IPC_LOCK);
	d[0].permitted &= ~(1u << CAP_IPC_LOCK);
	if (syscall(SYS_capset, &h, d))
		return 11;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 12;
	pool = pn_pool_create(&o);
	if (!pool)
		return 13;
	while (grown < 16 && (rc = pn_pool_grow(pool, 4096)) == 0)
		grown++;
	if (rc != -ENOMEM) {
		fprintf(stderr, "grow returned %d after %d\n", rc, grown);
		return 14;
	}
	if (!strstr(pn_pool_last_error(pool), "RLIMIT_MEMLOCK")) {
		fprintf(stderr, "message: %s\n", pn_pool_last_error(pool));
		return 15;
	}
	/* 256 KiB limit, 64 KiB blocks: 4 blocks at most, base included */
	if (pn_pool_pinned(pool) > 256 * KIB || grown < 2)
		return 16;
	printf("\n  child: %s\n", pn_pool_last_error(pool));
	pn_pool_destroy(pool);
	return 0;
}

static void test_memlock_exhausted(void)
{
	int st = -1;
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		fflush(stdout);
		_exit(memlock_child());
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st));
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_bad_options),
	CU_TEST_ENTRY(test_opts_newer_header),
	CU_TEST_ENTRY(test_opts_older_header),
	CU_TEST_ENTRY(test_ring_with_buffers),
	CU_TEST_ENTRY(test_bad_frees),
	CU_TEST_ENTRY(test_free_decode),
	CU_TEST_ENTRY(test_destroyed_pool),
	CU_TEST_ENTRY(test_memlock_exhausted),
};

int main(void)
{
	return CU_RUN("pool_errors", tests, NULL, NULL, NULL, NULL);
}
