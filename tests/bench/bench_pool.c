/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: the pool's fast path against glibc malloc/free and a trivial
 * static free list, same run, same sizes (2 KiB frames), single
 * alloc+free pairs and bursts of 64; grow and release latency of 2 MiB and
 * 64 MiB blocks with and without transparent huge pages. Prints one JSON
 * object; ratios are medians of the per-repeat ratios (the three
 * allocators run back to back in each repeat, so machine drift cancels). Exit 1 when a bar is missed
 * (pool <= 0.5x malloc, <= 3x the free list) unless --no-bar.
 *
 * Usage: bench_pool [--repeats N] [--ops N] [--no-bar] [--quiet]
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pinnet/pool.h"

#define MIB (1024ull * 1024)
#define BUF 2048
#define BURST 64

static void *volatile sink;
static int quiet;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the three allocators behind one shape ---- */

enum which { POOL, MALLOC, FREELIST };
static const char *names[] = { "pool", "malloc", "freelist" };

static struct pn_pool *pool;
static void *fl[4096];
static int fl_n;

/* The trivial static free list: a LIFO array of preallocated buffers, no
 * checks, no bookkeeping. Called through real functions, as the pool's
 * exported calls are, so both pay the same call overhead and the ratio
 * compares the data structures. */
static __attribute__((noinline)) void *fl_alloc(void)
{
	return fl[--fl_n];
}

static __attribute__((noinline)) void fl_free(void *p)
{
	fl[fl_n++] = p;
}

static inline void *a_alloc(enum which w)
{
	switch (w) {
	case POOL:
		return pn_buf_alloc(pool, BUF, 0);
	case MALLOC:
		return malloc(BUF);
	default:
		return fl_alloc();
	}
}

static inline void a_free(enum which w, void *p)
{
	switch (w) {
	case POOL:
		pn_buf_free(pool, p);
		break;
	case MALLOC:
		free(p);
		break;
	default:
		fl_free(p);
	}
}

/* ns per alloc+free pair, single pairs */
static double run_single(enum which w, long ops)
{
	double t0 = now_s();

	for (long i = 0; i < ops; i++) {
		void *p = a_alloc(w);

		sink = p;
		a_free(w, p);
	}
	return (now_s() - t0) * 1e9 / (double)ops;
}

/* ns per alloc+free pair, bursts of 64 allocations then 64 frees */
static double run_burst(enum which w, long ops)
{
	void *p[BURST];
	long rounds = ops / BURST;
	double t0 = now_s();

	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < BURST; i++)
			p[i] = a_alloc(w);
		sink = p[r % BURST];
		for (int i = 0; i < BURST; i++)
			a_free(w, p[i]);
	}
	return (now_s() - t0) * 1e9 / (double)(rounds * BURST);
}

/* Grow one block of `bytes` and release it, five times in one pool;
 * medians in microseconds. The grow includes committing and pre-touching
 * the memory; the release runs until the kernel's tag CQE has come back
 * and the memory is returned. */
static int grow_release(size_t bytes, bool thp, double *grow_us, double *rel_us)
{
	struct pn_pool_class c = {
		.buf_size = 64 * 1024,
		.base_bytes = 2 * MIB,
		.block_bytes = bytes,
		.wall_bytes = 2 * MIB + bytes,
	};
	struct pn_pool_opts o = {
		.sz = sizeof(o),
		.name = "bench-grow",
		.nclasses = 1,
		.classes = &c,
		.no_thp = !thp,
		.stats_dir = "",
	};
	struct pn_pool *p = pn_pool_create(&o);
	double g[5], r[5], t0;

	if (!p) {
		fprintf(stderr, "bench_pool: %s\n", pn_pool_last_error(NULL));
		return -1;
	}
	for (int i = 0; i < 5; i++) {
		t0 = now_s();
		if (pn_pool_grow(p, c.buf_size)) {
			fprintf(stderr, "bench_pool: grow: %s\n",
				pn_pool_last_error(p));
			pn_pool_destroy(p);
			return -1;
		}
		g[i] = (now_s() - t0) * 1e6;
		t0 = now_s();
		pn_pool_shrink(p, c.buf_size, 0);
		while (pn_pool_pinned(p) > 2 * MIB)
			pn_pool_poll(p);
		r[i] = (now_s() - t0) * 1e6;
	}
	*grow_us = median(g, 5);
	*rel_us = median(r, 5);
	pn_pool_destroy(p);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "repeats", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'n' },
		{ "no-bar", no_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int repeats = 9, bar = 1, opt;
	long ops = 4000000;
	double single[3][64], burst[3][64], ms[3], mb[3];
	double rsm[64], rbm[64], rsf[64], rbf[64]; /* per-repeat ratios */
	struct pn_pool_class c = {
		.buf_size = BUF,
		.base_bytes = 2 * MIB,
		.block_bytes = 2 * MIB,
		.wall_bytes = 64 * MIB,
	};
	struct pn_pool_opts o = {
		.sz = sizeof(o),
		.name = "bench",
		.nclasses = 1,
		.classes = &c,
		.stats_dir = "",
	};
	const size_t gsz[2] = { 2 * MIB, 64 * MIB };
	double g[2][2], r[2][2], rs_m, rb_m, rs_f, rb_f;
	int ok;

	while ((opt = getopt_long(argc, argv, "r:n:bqh", lo, NULL)) != -1) {
		switch (opt) {
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'n':
			ops = atol(optarg);
			break;
		case 'b':
			bar = 0;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			printf("usage: %s [--repeats N (1-64)] [--ops N] [--no-bar] [--quiet]\n",
			       argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (repeats < 1 || repeats > 64 || ops < BURST) {
		fprintf(stderr, "bench_pool: --repeats 1..64, --ops >= 64\n");
		return 2;
	}
	pool = pn_pool_create(&o);
	if (!pool) {
		fprintf(stderr, "bench_pool: %s\n", pn_pool_last_error(NULL));
		return 1;
	}
	for (int i = 0; i < 4096; i++)
		fl[fl_n++] = malloc(BUF);

	for (int rep = 0; rep < repeats; rep++) {
		if (!quiet)
			fprintf(stderr, "\rbench_pool: alloc+free repeat %d/%d",
				rep + 1, repeats);
		/* interleave the three so drift hits all alike */
		for (int w = 0; w < 3; w++) {
			single[w][rep] = run_single((enum which)w, ops);
			burst[w][rep] = run_burst((enum which)w, ops);
		}
		/* ratios within one repeat: the machine's drift cancels */
		rsm[rep] = single[POOL][rep] / single[MALLOC][rep];
		rbm[rep] = burst[POOL][rep] / burst[MALLOC][rep];
		rsf[rep] = single[POOL][rep] / single[FREELIST][rep];
		rbf[rep] = burst[POOL][rep] / burst[FREELIST][rep];
	}
	if (!quiet)
		fprintf(stderr, "\n");
	for (int w = 0; w < 3; w++) {
		ms[w] = median(single[w], repeats);
		mb[w] = median(burst[w], repeats);
	}
	for (int s = 0; s < 2; s++)
		for (int t = 0; t < 2; t++) {
			if (!quiet)
				fprintf(stderr,
					"bench_pool: grow/release %zu MiB %s\n",
					gsz[s] >> 20, t ? "THP" : "no THP");
			if (grow_release(gsz[s], t, &g[s][t], &r[s][t]))
				return 1;
		}

	printf("{\"benchmark\":\"pool\",\"buf_size\":%d,\"ops\":%ld,\"repeats\":%d,\n",
	       BUF, ops, repeats);
	printf(" \"ns_per_pair\":{");
	for (int w = 0; w < 3; w++)
		printf("%s\"%s\":{\"single\":%.2f,\"burst64\":%.2f}",
		       w ? "," : "", names[w], ms[w], mb[w]);
	rs_m = median(rsm, repeats);
	rb_m = median(rbm, repeats);
	rs_f = median(rsf, repeats);
	rb_f = median(rbf, repeats);
	printf("},\n \"ratio\":{\"pool_vs_malloc\":{\"single\":%.3f,\"burst64\":%.3f},"
	       "\"pool_vs_freelist\":{\"single\":%.3f,\"burst64\":%.3f}},\n",
	       rs_m, rb_m, rs_f, rb_f);
	printf(" \"grow_release_us\":{");
	for (int s = 0; s < 2; s++)
		for (int t = 0; t < 2; t++)
			printf("%s\"%zuMiB_%s\":{\"grow\":%.1f,\"release\":%.1f}",
			       s || t ? "," : "", gsz[s] >> 20,
			       t ? "thp" : "nothp", g[s][t], r[s][t]);
	ok = rs_m <= 0.5 && rb_m <= 0.5 && rs_f <= 3 && rb_f <= 3;
	printf("},\n \"bar\":{\"pool_vs_malloc_max\":0.5,\"pool_vs_freelist_max\":3,\"met\":%s}}\n",
	       ok ? "true" : "false");
	pn_pool_destroy(pool);
	for (int i = 0; i < fl_n; i++)
		free(fl[i]);
	return bar && !ok ? 1 : 0;
}
