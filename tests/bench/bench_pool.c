/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: the pool's fast path against glibc malloc/free and a trivial
 * static free list, same run, same sizes (2 KiB frames), single
 * alloc+free pairs and bursts of 64; the release policies (none, the
 * seed's idle, recent peak, forecast) on one bursty demand trace, stepped
 * together; grow and release latency of 2 MiB and 64 MiB blocks with and
 * without transparent huge pages; instructions per alloc+free pair of the
 * three allocators, counted by callgrind (the program runs itself again
 * under valgrind, unless --no-callgrind).
 *
 * Prints one JSON object. Wall ratios are medians of the per-repeat ratios
 * (the three allocators run back to back in each repeat, so machine drift
 * cancels); instruction ratios are printed beside them and not judged.
 * Exit 1 when a bar of issue 17 is missed (median wall ratios: pool <=
 * 0.3x malloc and <= 2x the free list, single and burst64; a 2 MiB THP
 * block released in <= 5 us, median of 11) unless --no-bar.
 *
 * Usage: bench_pool [--repeats N] [--ops N] [--ir-ops N] [--no-callgrind]
 *                   [--no-policies] [--no-bar] [--quiet]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#else
#define HAVE_CALLGRIND 0
#endif

#include "pinnet/pool.h"

#define MIB (1024ull * 1024)
#define BUF 2048
#define BURST 64
#define GR_ROUNDS 11 /* grow/release rounds per size */

/* The bars of issue 17, judged on the median wall ratios */
#define BAR_MALLOC 0.3 /* pool <= 0.3x glibc malloc+free */
#define BAR_FREELIST 2.0 /* pool <= 2x the static free list */
#define BAR_RELEASE_US 5.0 /* releasing a 2 MiB THP block */

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
static char *fl_mem; /* the free list's buffers: one allocation (under
			valgrind, 4096 small ones overflow its brk segment) */

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

/* ---- instruction counts: the same loops under callgrind ---- */

/*
 * The child's side (--callgrind-child, run by measure_ir() under
 * valgrind --tool=callgrind): each loop of `ops` pairs, after a warm-up,
 * between a zeroing and a dump of callgrind's counters, so each dump holds
 * exactly that loop: the allocator's calls and the benchmark's own loop,
 * as the wall times do. Outside valgrind the requests do nothing.
 */
static void ir_child(long ops)
{
	for (int w = 0; w < 3; w++) {
		char label[32];

		run_single((enum which)w, ops / 4);
		run_burst((enum which)w, ops / 4);
#if HAVE_CALLGRIND
		CALLGRIND_ZERO_STATS;
		run_single((enum which)w, ops);
		snprintf(label, sizeof(label), "%d single", w);
		CALLGRIND_DUMP_STATS_AT(label);
		CALLGRIND_ZERO_STATS;
		run_burst((enum which)w, ops);
		snprintf(label, sizeof(label), "%d burst", w);
		CALLGRIND_DUMP_STATS_AT(label);
#else
		(void)label;
#endif
	}
}

/* One dump file: its label's allocator and loop, and its instructions. */
static int read_dump(const char *path, double ir[3][2], long ops)
{
	char line[256];
	int w = -1, mode = -1;
	double total = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char kind[16];

		if (sscanf(line, "desc: Trigger: Client Request: %d %15s", &w,
			   kind) == 2)
			mode = strcmp(kind, "single") ? 1 : 0;
		else if (!strncmp(line, "totals:", 7))
			total = strtod(line + 7, NULL);
	}
	fclose(f);
	if (w < 0 || w > 2 || mode < 0 || total < 0)
		return -1;
	ir[w][mode] = total / (double)ops;
	return 0;
}

/*
 * Instructions per alloc+free pair of each allocator, counted by callgrind
 * (deterministic where wall times swing tens of percent on a shared VM):
 * this program again, under valgrind, with --callgrind-child. Returns 0,
 * or -1 with why set (no valgrind, no callgrind.h at build time, ...).
 */
static int measure_ir(double ir[3][2], long ops, const char **why)
{
	char dir[] = "/tmp/bench_pool_cg.XXXXXX", out[64], opsarg[32], path[96],
	     self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int status, n = 0;
	pid_t pid;

	if (!HAVE_CALLGRIND) {
		*why = "built without valgrind/callgrind.h (scripts/setup.sh installs valgrind)";
		return -1;
	}
#if HAVE_CALLGRIND
	if (RUNNING_ON_VALGRIND) {
		*why = "already running under valgrind";
		return -1;
	}
#endif
	if (len <= 0) {
		*why = "readlink /proc/self/exe failed";
		return -1;
	}
	self[len] = 0;
	if (!mkdtemp(dir)) {
		*why = "mkdtemp failed";
		return -1;
	}
	snprintf(out, sizeof(out), "--callgrind-out-file=%s/cg", dir);
	snprintf(opsarg, sizeof(opsarg), "%ld", ops);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execlp("valgrind", "valgrind", "--tool=callgrind", out,
		       "--dump-line=no", "--compress-strings=no",
		       "--compress-pos=no", self, "--callgrind-child", "--ops",
		       opsarg, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		*why = pid > 0 && WIFEXITED(status) &&
				       WEXITSTATUS(status) == 127 ?
			       "valgrind not found" :
			       "the callgrind run failed";
		n = -1;
	}
	for (int i = 1; i <= 6; i++) {
		snprintf(path, sizeof(path), "%s/cg.%d", dir, i);
		if (n >= 0 && read_dump(path, ir, ops) == 0)
			n++;
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/cg", dir);
	unlink(path);
	rmdir(dir);
	if (n != 6) {
		if (n >= 0)
			*why = "callgrind dumps missing or unreadable";
		return -1;
	}
	return 0;
}

/* Grow one block of `bytes` and release it, GR_ROUNDS times in one pool;
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
	double g[GR_ROUNDS], r[GR_ROUNDS], t0;

	if (!p) {
		fprintf(stderr, "bench_pool: %s\n", pn_pool_last_error(NULL));
		return -1;
	}
	for (int i = 0; i < GR_ROUNDS; i++) {
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
	*grow_us = median(g, GR_ROUNDS);
	*rel_us = median(r, GR_ROUNDS);
	pn_pool_destroy(p);
	return 0;
}

/* ---- the release policies on one bursty demand trace ---- */

#define NPOL 4
#define SIM_STEPS 400 /* trace steps */
#define SIM_STEP_MS 5 /* wall time per step: two per sample */
#define SIM_SAMPLE_MS 10 /* release sample period of every pool */
#define SIM_MAX 16384 /* most buffers the trace asks for */

static const char *const pol_names[NPOL] = { "none", "idle", "peak",
					     "forecast" };
static const enum pn_release_policy pols[NPOL] = {
	PN_RELEASE_NONE, PN_RELEASE_IDLE, PN_RELEASE_PEAK, PN_RELEASE_FORECAST
};

/* One policy's pool and what the trace did to it. */
struct sim {
	struct pn_pool *pool;
	void **held; /* a stack: frees take the newest (highest) first */
	unsigned int nheld;
	bool in_alloc; /* an allocation is running: its grows are waits */
	uint64_t failed; /* allocations that returned NULL */
	uint64_t sync_grows; /* blocks an allocation had to register itself */
	double pinned_integral; /* byte-seconds */
	size_t pinned_peak;
};

static void sim_event(void *arg, const struct pn_pool_event *ev)
{
	struct sim *s = arg;

	if (ev->type == PN_EV_GROW && s->in_alloc)
		s->sync_grows++;
}

/* A deterministic xorshift, so every run gets the same trace. */
static uint32_t sim_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)(*x >> 32);
}

/*
 * The trace: buffers wanted at each step. A base load of 300-400 with
 * noise; bursts (on average one every 30 steps, i.e. 150 ms) to 4000-14000
 * buffers for 2-12 steps; from step 150 to 230 a busy phase with bursts
 * three times as often; the last 60 steps idle at the base load.
 */
static void sim_trace(unsigned int *d)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned int burst_left = 0, burst_h = 0;

	for (unsigned int t = 0; t < SIM_STEPS; t++) {
		unsigned int base = 300 + sim_rand(&x) % 100;
		bool busy = t >= 150 && t < 230;

		if (!burst_left && t < SIM_STEPS - 60 &&
		    sim_rand(&x) % (busy ? 10 : 30) == 0) {
			burst_left = 2 + sim_rand(&x) % 11;
			burst_h = 4000 + sim_rand(&x) % 10001;
		}
		d[t] = burst_left ? burst_h : base;
		if (burst_left)
			burst_left--;
	}
}

struct sim_result {
	double demand_avg, demand_peak; /* bytes */
	double avg[NPOL]; /* time-averaged pinned bytes */
	double peak[NPOL];
	uint64_t failed[NPOL], sync_grows[NPOL], grows[NPOL], releases[NPOL];
	double seconds;
};

/* Every policy's pool on the same trace, stepped together in one loop, so
 * each sees the same demand at the same time. */
static int sim_run(struct sim_result *r)
{
	static unsigned int d[SIM_STEPS];
	struct pn_pool_class c = {
		.buf_size = BUF,
		.base_bytes = 2 * MIB,
		.block_bytes = 2 * MIB,
		.wall_bytes = 64 * MIB,
		.low_water = 64,
	};
	struct sim sims[NPOL];
	struct timespec next;
	double t0, prev, demand_int = 0;
	int rc = 0;

	sim_trace(d);
	memset(sims, 0, sizeof(sims));
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < NPOL; i++) {
		struct pn_pool_opts o = {
			.sz = sizeof(o),
			.name = pol_names[i],
			.nclasses = 1,
			.classes = &c,
			.stats_dir = "",
			.release = pols[i],
			.sample_ms = SIM_SAMPLE_MS,
			/* the seed's ratios: idle 5 samples, one block per
			 * sample; the peak window and the forecast's
			 * half-life at their defaults (10 and 4 samples) */
			.idle_ms = 5 * SIM_SAMPLE_MS,
			.on_event = sim_event,
			.event_arg = &sims[i],
		};

		sims[i].held = calloc(SIM_MAX, sizeof(void *));
		sims[i].pool = pn_pool_create(&o);
		if (!sims[i].pool || !sims[i].held) {
			fprintf(stderr, "bench_pool: policy %s: %s\n",
				pol_names[i], pn_pool_last_error(NULL));
			rc = -1;
			goto out;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	t0 = prev = now_s();
	for (unsigned int t = 0; t < SIM_STEPS; t++) {
		double now;

		for (int i = 0; i < NPOL; i++) {
			struct sim *s = &sims[i];

			s->in_alloc = true;
			while (s->nheld < d[t]) {
				void *b = pn_buf_alloc(s->pool, BUF, t);

				if (!b) {
					s->failed++;
					break;
				}
				s->held[s->nheld++] = b;
			}
			s->in_alloc = false;
			while (s->nheld > d[t])
				pn_buf_free(s->pool, s->held[--s->nheld]);
			pn_pool_poll(s->pool);
		}
		next.tv_nsec += SIM_STEP_MS * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		/* what each pool pinned over the step just ended */
		now = now_s();
		for (int i = 0; i < NPOL; i++) {
			size_t pin = pn_pool_pinned(sims[i].pool);

			sims[i].pinned_integral += (double)pin * (now - prev);
			if (pin > sims[i].pinned_peak)
				sims[i].pinned_peak = pin;
		}
		demand_int += (double)d[t] * BUF * (now - prev);
		if ((double)d[t] * BUF > r->demand_peak)
			r->demand_peak = (double)d[t] * BUF;
		prev = now;
	}
	r->seconds = prev - t0;
	r->demand_avg = demand_int / r->seconds;
	for (int i = 0; i < NPOL; i++) {
		struct pn_pool_part_stats st;

		r->avg[i] = sims[i].pinned_integral / r->seconds;
		r->peak[i] = (double)sims[i].pinned_peak;
		r->failed[i] = sims[i].failed;
		r->sync_grows[i] = sims[i].sync_grows;
		if (pn_pool_stats(sims[i].pool, 0, &st, sizeof(st)) == 0) {
			r->grows[i] = st.grows - 1; /* not the base block */
			for (int k = 0; k <= PN_REASON_DESTROY; k++)
				r->releases[i] += st.releases[k];
			r->releases[i] += st.releases_forecast;
		}
	}
out:
	for (int i = 0; i < NPOL; i++) {
		while (sims[i].nheld)
			pn_buf_free(sims[i].pool,
				    sims[i].held[--sims[i].nheld]);
		pn_pool_destroy(sims[i].pool);
		free(sims[i].held);
	}
	return rc;
}

static void sim_print(const struct sim_result *r)
{
	printf(" \"policies\":{\"trace\":{\"steps\":%d,\"step_ms\":%d,\"sample_ms\":%d,\"seconds\":%.2f,"
	       "\"demand_avg_bytes\":%.0f,\"demand_peak_bytes\":%.0f,"
	       "\"about\":\"one 2 KiB class, 2 MiB blocks, low_water 64; base load 300-400 buffers, bursts to 4000-14000 for 2-12 steps, a busy phase, an idle tail; frees newest first; all pools stepped together\"}",
	       SIM_STEPS, SIM_STEP_MS, SIM_SAMPLE_MS, r->seconds, r->demand_avg,
	       r->demand_peak);
	for (int i = 0; i < NPOL; i++)
		printf(",\n  \"%s\":{\"pinned_avg_bytes\":%.0f,\"pinned_avg_vs_demand\":%.2f,\"pinned_peak_bytes\":%.0f,"
		       "\"failed_allocations\":%llu,\"allocations_that_grew\":%llu,\"grows\":%llu,\"releases\":%llu}",
		       pol_names[i], r->avg[i], r->avg[i] / r->demand_avg,
		       r->peak[i], (unsigned long long)r->failed[i],
		       (unsigned long long)r->sync_grows[i],
		       (unsigned long long)r->grows[i],
		       (unsigned long long)r->releases[i]);
	printf("},\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "repeats", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'n' },
		{ "ir-ops", required_argument, NULL, 'i' },
		{ "no-bar", no_argument, NULL, 'b' },
		{ "no-callgrind", no_argument, NULL, 'c' },
		{ "no-policies", no_argument, NULL, 'P' },
		{ "callgrind-child", no_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int repeats = 9, bar = 1, opt, callgrind = 1, child = 0, policies = 1;
	long ops = 4000000, ir_ops = 200000;
	double single[3][64], burst[3][64], ms[3], mb[3];
	double rsm[64], rbm[64], rsf[64], rbf[64]; /* per-repeat ratios */
	double ir[3][2];
	const char *ir_why = NULL;
	struct sim_result sim;
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
	bool ok_m, ok_f, ok_r;

	while ((opt = getopt_long(argc, argv, "r:n:i:bcPCqh", lo, NULL)) !=
	       -1) {
		switch (opt) {
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'n':
			ops = atol(optarg);
			break;
		case 'i':
			ir_ops = atol(optarg);
			break;
		case 'b':
			bar = 0;
			break;
		case 'c':
			callgrind = 0;
			break;
		case 'C':
			child = 1;
			break;
		case 'P':
			policies = 0;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			printf("usage: %s [--repeats N (1-64)] [--ops N] [--ir-ops N] [--no-callgrind] [--no-policies] [--no-bar] [--quiet]\n",
			       argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (repeats < 1 || repeats > 64 || ops < BURST || ir_ops < BURST) {
		fprintf(stderr,
			"bench_pool: --repeats 1..64, --ops and --ir-ops >= 64\n");
		return 2;
	}
	pool = pn_pool_create(&o);
	if (!pool) {
		fprintf(stderr, "bench_pool: %s\n", pn_pool_last_error(NULL));
		return 1;
	}
	fl_mem = malloc(4096 * (size_t)BUF);
	if (!fl_mem)
		return 1;
	for (int i = 0; i < 4096; i++)
		fl[fl_n++] = fl_mem + (size_t)i * BUF;
	if (child) {
		ir_child(ops);
		goto out;
	}

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
	if (policies && !quiet)
		fprintf(stderr,
			"bench_pool: release policies on a bursty trace (%d ms)\n",
			SIM_STEPS * SIM_STEP_MS);
	if (policies && sim_run(&sim))
		return 1;
	if (callgrind) {
		if (!quiet)
			fprintf(stderr,
				"bench_pool: instruction counts (callgrind, %ld pairs each)\n",
				ir_ops);
		if (measure_ir(ir, ir_ops, &ir_why))
			callgrind = 0;
	} else {
		ir_why = "--no-callgrind";
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
	printf("},\n \"ratio\":{\"measure\":\"wall time, median of the per-repeat ratios\","
	       "\"pool_vs_malloc\":{\"single\":%.3f,\"burst64\":%.3f},"
	       "\"pool_vs_freelist\":{\"single\":%.3f,\"burst64\":%.3f}},\n",
	       rs_m, rb_m, rs_f, rb_f);
	if (callgrind) {
		printf(" \"instructions_per_pair\":{\"measure\":\"callgrind Ir per alloc+free pair, the benchmark's loop included, %ld pairs\"",
		       ir_ops);
		for (int w = 0; w < 3; w++)
			printf(",\"%s\":{\"single\":%.2f,\"burst64\":%.2f}",
			       names[w], ir[w][0], ir[w][1]);
		printf("},\n \"ratio_instructions\":{\"measure\":\"callgrind instructions, printed beside the wall ratios, not judged\","
		       "\"pool_vs_malloc\":{\"single\":%.3f,\"burst64\":%.3f},"
		       "\"pool_vs_freelist\":{\"single\":%.3f,\"burst64\":%.3f}},\n",
		       ir[POOL][0] / ir[MALLOC][0], ir[POOL][1] / ir[MALLOC][1],
		       ir[POOL][0] / ir[FREELIST][0],
		       ir[POOL][1] / ir[FREELIST][1]);
	} else {
		printf(" \"instructions_per_pair\":null,\"instructions_why\":\"%s\",\n",
		       ir_why);
	}
	if (policies)
		sim_print(&sim);
	printf(" \"grow_release_us\":{");
	for (int s = 0; s < 2; s++)
		for (int t = 0; t < 2; t++)
			printf("%s\"%zuMiB_%s\":{\"grow\":%.1f,\"release\":%.1f}",
			       s || t ? "," : "", gsz[s] >> 20,
			       t ? "thp" : "nothp", g[s][t], r[s][t]);
	printf("},\n");
	ok_m = rs_m <= BAR_MALLOC && rb_m <= BAR_MALLOC;
	ok_f = rs_f <= BAR_FREELIST && rb_f <= BAR_FREELIST;
	ok_r = r[0][1] <= BAR_RELEASE_US;
	printf(" \"bar\":{\"judged_on\":\"ratio (wall, medians) and grow_release_us.2MiB_thp.release (median of %d)\","
	       "\"pool_vs_malloc_max\":%.1f,\"pool_vs_freelist_max\":%.1f,\"release_2MiB_thp_us_max\":%.1f,"
	       "\"pool_vs_malloc_met\":%s,\"pool_vs_freelist_met\":%s,\"release_met\":%s,\"met\":%s}}\n",
	       GR_ROUNDS, BAR_MALLOC, BAR_FREELIST, BAR_RELEASE_US,
	       ok_m ? "true" : "false", ok_f ? "true" : "false",
	       ok_r ? "true" : "false",
	       ok_m && ok_f && ok_r ? "true" : "false");
	bar = bar && !(ok_m && ok_f && ok_r);
out:
	pn_pool_destroy(pool);
	free(fl_mem);
	return bar && !child ? 1 : 0;
}
