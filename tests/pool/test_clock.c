/* SPDX-License-Identifier: MIT */
/*
 * Unit: the clock of the pool's timed waits. The wait at the wall
 * (pn_buf_alloc() with wait_ms, 000 blocks 250-254) and the wait for the
 * process budget (grow_wait_ms, 000 FIG. 8 block 306) must last as long as
 * asked whatever the wall clock does: their deadlines are on
 * CLOCK_MONOTONIC.
 *
 * The wall clock is stepped by interposition: this program defines
 * clock_gettime() itself, so the pool's calls (the static libpinnet linked
 * into this program, or a shared one, whose references the dynamic linker
 * binds to the executable first) land here. CLOCK_REALTIME answers one hour
 * behind the real wall clock, as after an administrator or NTP stepped it
 * back; every other clock passes through to the kernel. A deadline computed
 * from the stepped wall clock is already an hour past for the kernel's
 * futex, so such a wait would return at once.
 */
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define WAIT_MS 300u
#define STEP_S 3600 /* how far the wall clock was stepped back */

static time_t step_s; /* 0: the wall clock as the kernel has it */
static unsigned long clock_calls; /* calls that reached this definition */

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	long rc = syscall(SYS_clock_gettime, clk, ts);

	clock_calls++;
	if (rc == 0 && clk == CLOCK_REALTIME)
		ts->tv_sec -= step_s;
	return (int)rc;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Around every test: the wall clock stepped back, then restored. */
static void step_back(void)
{
	step_s = STEP_S;
}

static void step_undo(void)
{
	step_s = 0;
}

/* The interposition works: the wall clock this program sees is stepped,
 * and the pool's own clock reads reach this clock_gettime(). Without it
 * the tests below would pass on any code. */
static void test_interposed(void)
{
	struct pn_pool_class c = one_class(1);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct timespec real, seen;
	struct pn_pool *pool;
	unsigned long before;

	syscall(SYS_clock_gettime, CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_REALTIME, &seen);
	CU_ASSERT(real.tv_sec - seen.tv_sec >= STEP_S - 1 &&
		  real.tv_sec - seen.tv_sec <= STEP_S + 1);
	before = clock_calls;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT(clock_calls > before);
	destroy_clean(pool);
}

/* 000 blocks 250-254: at the wall, pn_buf_alloc() waits wait_ms for a free
 * and only then refuses, even with the wall clock an hour behind. */
static void test_wall_wait_monotonic(void)
{
	struct pn_pool_class c = one_class(1);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	uint64_t t0, ms;
	char *b[16];

	o.wait_ms = WAIT_MS;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_PTR_NOT_NULL(b[i] = pn_buf_alloc(pool, 4096, 0));
	t0 = mono_ms();
	errno = 0;
	CU_ASSERT_PTR_NULL(pn_buf_alloc(pool, 4096, 0));
	ms = mono_ms() - t0;
	CU_ASSERT_EQUAL(errno, ENOBUFS);
	CU_ASSERT(ms >= WAIT_MS - 10);
	CU_ASSERT(ms < WAIT_MS + 2000);
	CU_ASSERT_EQUAL(stats_of(pool, 0).waits, 1);
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	destroy_clean(pool);
}

/* 000 FIG. 8 blocks 306-310: a grow beyond the process budget waits
 * grow_wait_ms for another pool to release, then is refused. */
static void test_budget_wait_monotonic(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	uint64_t t0, ms;
	int rc;

	o.grow_wait_ms = WAIT_MS;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	pn_budget_set(64 * KIB); /* exactly the base block */
	t0 = mono_ms();
	rc = pn_pool_grow(pool, 4096);
	ms = mono_ms() - t0;
	pn_budget_set(0);
	CU_ASSERT_EQUAL(rc, -EDQUOT);
	CU_ASSERT(ms >= WAIT_MS - 10);
	CU_ASSERT(ms < WAIT_MS + 2000);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(pool), "budget"));
	destroy_clean(pool);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_interposed),
	CU_TEST_ENTRY(test_wall_wait_monotonic),
	CU_TEST_ENTRY(test_budget_wait_monotonic),
};

int main(void)
{
	return CU_RUN("pool_clock", tests, NULL, NULL, step_back, step_undo);
}
