/* SPDX-License-Identifier: MIT */
/*
 * The BPF suite's workload: a pool driven by a fixed script, so the tools'
 * output can be checked exactly. It prints "ready PID", waits for SIGUSR1
 * (the tools attach meanwhile), runs the script, prints "done" and exits.
 *
 * One class of 4 KiB buffers: base block 16 buffers, blocks of 16, wall of
 * 4 blocks; idle release with a 20 ms sample and a 50 ms idle period.
 *   1. create the pool (sparse register + base block: grow 1)
 *   2. hold_this_buffer(): 1 buffer, owner 777, held HOLD_MS ms (the leak)
 *   3. 40 allocations (owners 100..139): grows 2 and 3
 *   4. pn_pool_grow(): grow 4, the wall
 *   5. 23 allocations (owners 200..222) fill the pool to the wall
 *   6. an async allocation (owner 555) at the wall: grow refused, queued
 *   7. one free: the queued request is served (dequeued)
 *   8. every buffer but the held one is freed
 *   9. HOLD_MS of polling: idle releases of blocks 3 and 2 (block 1 stays
 *      as headroom: the base block is busy)
 *  10. the held buffer is freed; 300 ms of polling: idle release of block 1
 *  11. destroy (release of block 0, reason destroy)
 * Totals: 65 allocations, 65 frees, 4 grows, 1 refused grow, 1 queued,
 * 1 dequeued, 3 idle releases.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pinnet/pool.h"

#define HOLD_MS 1500

static volatile sig_atomic_t go;
static void *served;

static void on_go(int sig)
{
	(void)sig;
	go = 1;
}

static void on_buf(void *arg, void *buf, int err)
{
	(void)arg;
	if (!err)
		served = buf;
}

static void poll_for(struct pn_pool *pool, int ms)
{
	struct timespec ts = { 0, 5 * 1000000 };

	for (int i = 0; i < ms / 5; i++) {
		pn_pool_poll(pool);
		nanosleep(&ts, NULL);
	}
}

/* The deliberate leak: the leaks report must name this function. */
__attribute__((noinline)) void *hold_this_buffer(struct pn_pool *pool);
__attribute__((noinline)) void *hold_this_buffer(struct pn_pool *pool)
{
	void *b = pn_buf_alloc(pool, 4096, 777);

	__asm__ volatile("" ::: "memory"); /* keep the frame */
	return b;
}

static int fail(const char *what, struct pn_pool *pool)
{
	fprintf(stderr, "workload: %s: %s\n", what, pn_pool_last_error(pool));
	return 1;
}

int main(int argc, char **argv)
{
	struct pn_pool_class c = { .buf_size = 4096,
				   .base_bytes = 64 * 1024,
				   .block_bytes = 64 * 1024,
				   .wall_bytes = 256 * 1024 };
	struct pn_pool_opts o = { .sz = sizeof(o),
				  .name = "workload",
				  .nclasses = 1,
				  .classes = &c,
				  .release = PN_RELEASE_IDLE,
				  .sample_ms = 20,
				  .idle_ms = 50,
				  .release_max = 1 };
	struct pn_pool *pool;
	void *b[64], *held;
	int n = 0;

	if (argc > 1)
		o.stats_dir = argv[1];
	signal(SIGUSR1, on_go);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!go)
		pause();

	pool = pn_pool_create(&o); /* 1 */
	if (!pool)
		return fail("create", NULL);
	held = hold_this_buffer(pool); /* 2 */
	if (!held)
		return fail("hold", pool);
	for (int i = 0; i < 40; i++) /* 3 */
		if (!(b[n++] = pn_buf_alloc(pool, 4096, 100 + (uint32_t)i)))
			return fail("alloc", pool);
	if (pn_pool_grow(pool, 4096)) /* 4 */
		return fail("grow", pool);
	for (int i = 0; i < 23; i++) /* 5 */
		if (!(b[n++] = pn_buf_alloc(pool, 4096, 200 + (uint32_t)i)))
			return fail("fill", pool);
	if (pn_buf_alloc_async(pool, 4096, 555, on_buf, NULL) != 1) /* 6 */
		return fail("queue", pool);
	pn_buf_free(pool, b[0]); /* 7 */
	if (!served)
		return fail("dequeue", pool);
	b[0] = served;
	for (int i = 0; i < n; i++) /* 8 */
		pn_buf_free(pool, b[i]);
	poll_for(pool, HOLD_MS); /* 9 */
	pn_buf_free(pool, held); /* 10 */
	poll_for(pool, 300);
	pn_pool_destroy(pool); /* 11 */
	printf("done\n");
	fflush(stdout);
	/* stay a moment so the tools read their last events */
	sleep(1);
	return 0;
}
