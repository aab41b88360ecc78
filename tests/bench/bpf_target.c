/* SPDX-License-Identifier: MIT */
/*
 * A target for bench_bpf.sh: alloc+free pairs (2 KiB, bursts of 64 and
 * single pairs alternating) in a loop for SECONDS, printing one JSON line
 * per WINDOW_MS with the pairs per second in that window, so the cost of a
 * tool attached for part of the run shows up window by window.
 * Usage: bpf_target SECONDS [WINDOW_MS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pinnet/pool.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct pn_pool_class c = { .buf_size = 2048,
				   .base_bytes = 2 << 20,
				   .block_bytes = 2 << 20,
				   .wall_bytes = 64 << 20 };
	struct pn_pool_opts o = { .sz = sizeof(o),
				  .name = "bpf-target",
				  .nclasses = 1,
				  .classes = &c };
	double secs = argc > 1 ? atof(argv[1]) : 10, win, t0, tw;
	struct pn_pool *pool;
	void *b[64];
	long pairs = 0;

	win = (argc > 2 ? atof(argv[2]) : 250) / 1000.0;
	if (secs <= 0 || win <= 0) {
		fprintf(stderr, "usage: bpf_target SECONDS [WINDOW_MS]\n");
		return 2;
	}
	pool = pn_pool_create(&o);
	if (!pool) {
		fprintf(stderr, "bpf_target: %s\n", pn_pool_last_error(NULL));
		return 1;
	}
	printf("{\"type\":\"ready\",\"pid\":%d}\n", (int)getpid());
	fflush(stdout);
	t0 = tw = now_s();
	while (now_s() - t0 < secs) {
		for (int r = 0; r < 64; r++) {
			for (int i = 0; i < 64; i++)
				b[i] = pn_buf_alloc(pool, 2048, (unsigned)i);
			for (int i = 0; i < 64; i++)
				pn_buf_free(pool, b[i]);
			b[0] = pn_buf_alloc(pool, 2048, 1);
			pn_buf_free(pool, b[0]);
			pairs += 65;
		}
		if (now_s() - tw >= win) {
			double t = now_s();

			printf("{\"type\":\"window\",\"t\":%.3f,\"mono\":%.3f,\"pairs_per_s\":%.0f}\n",
			       t - t0, t, pairs / (t - tw));
			fflush(stdout);
			pairs = 0;
			tw = t;
			pn_pool_poll(pool);
		}
	}
	pn_pool_destroy(pool);
	return 0;
}
