/* SPDX-License-Identifier: MIT */
/*
 * pinnet-pool-demo: the elastic pinned pool under a bursty load, shown live.
 *
 * Three pools take the same load, side by side in one process: the seed's
 * idle-release policy (001 FIG. 6), pinnet's recent-peak policy, and a
 * static pool sized for the peak (what other kernel-bypass stacks do). The
 * load is a sequence of phases (idle, burst, idle, burst, idle) in which a
 * target number of 2 KiB and 16 KiB buffers is held, with buffers
 * continually replaced so allocations keep happening. Every interval a
 * line shows each pool's pinned memory and the kernel's own count (VmPin);
 * at the end a summary gives time-averaged pinned memory as a ratio to the
 * static pool, peaks, grows, releases by reason and failed allocations.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pinnet/pool.h"
#include "pinnet/pool_config.h"
#include "util.h"

#define MIB (1024.0 * 1024.0)
#define NPOOLS 3
#define MAXHELD 65536

static const char *const reason_names[PN_REASON_NR] = {
	"api", "idle", "peak", "underuse", "pressure", "destroy", "forecast",
};

struct demo_pool {
	const char *label;
	struct pn_pool_config cfg;
	struct pn_pool *pool;
	void *held[2][MAXHELD]; /* 2 KiB buffers, 16 KiB buffers */
	unsigned int nheld[2];
	uint64_t failed; /* allocations that returned NULL */
	double pinned_integral; /* byte-seconds */
	size_t pinned_peak;
	uint64_t releases[PN_REASON_NR];
};

struct phase {
	const char *name;
	double seconds;
	unsigned int target; /* buffers held at the phase's height */
};

/* The kernel's count of this process's pinned memory, in bytes. */
static long long vmpin_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static void on_event(void *arg, const struct pn_pool_event *ev)
{
	struct demo_pool *d = arg;

	if (ev->type == PN_EV_RELEASE && ev->reason >= 0 &&
	    ev->reason < PN_REASON_NR)
		d->releases[ev->reason]++;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [options]\n"
		"The elastic pinned pool under a bursty load: the seed's idle policy,\n"
		"the recent-peak policy and a static peak-sized pool, side by side.\n\n"
		"  -c, --config FILE     pool configuration (INI, see configs/pool.conf)\n"
		"                        applied to the two elastic pools; default:\n"
		"                        built-in demo settings (1 s sample, 2 s idle)\n"
		"  -s, --scale X         multiply every phase length by X (default 1;\n"
		"                        the default run takes about 40 s)\n"
		"  -p, --peak N          buffers held at the peak of a burst (default 12000)\n"
		"  -i, --interval MS     live line every MS milliseconds (default 1000)\n"
		"  -q, --quiet           summary only\n"
		"  -h, --help            this text\n\n"
		"The static pool is sized for the peak load (every buffer of the peak),\n"
		"registered at start and never released. Exit status 1 if any\n"
		"allocation failed.\n\n"
		"Needs the right to pin memory: root, CAP_IPC_LOCK, or an RLIMIT_MEMLOCK\n"
		"(ulimit -l) above about 3 x the peak (140 MiB at the default peak).\n",
		argv0);
}

/* Built-in demo settings: short periods so a run shows releases quickly. */
static void demo_config(struct pn_pool_config *c, enum pn_release_policy pol)
{
	pn_pool_config_init(c);
	pn_pool_config_set(c, "pool", "stats_dir", "");
	pn_pool_config_set(c, "pool", "sample", "1s");
	pn_pool_config_set(c, "pool", "idle", "2s");
	pn_pool_config_set(c, "pool", "peak_window", "3s");
	pn_pool_config_set(c, "pool", "release_max", "all");
	pn_pool_config_set(c, "class 2048", "low_water", "256");
	c->opts.release = pol;
	/* two classes: frames and 16 KiB application buffers */
	c->opts.nclasses = 0;
	pn_pool_config_set(c, "class 2048", "base", "2M");
	pn_pool_config_set(c, "class 2048", "block", "2M");
	pn_pool_config_set(c, "class 2048", "wall", "64M");
	pn_pool_config_set(c, "class 2048", "low_water", "256");
	pn_pool_config_set(c, "class 16384", "base", "2M");
	pn_pool_config_set(c, "class 16384", "block", "4M");
	pn_pool_config_set(c, "class 16384", "wall", "128M");
	pn_pool_config_set(c, "class 16384", "low_water", "32");
}

static unsigned int next_rand(unsigned int *rng)
{
	*rng = *rng * 1103515245 + 12345;
	return *rng >> 8;
}

/* Move one class's held set toward target buffers, replacing up to churn
 * of them so allocations keep happening while the level is flat. */
static void drive_class(struct demo_pool *d, int k, unsigned int target,
			unsigned int churn, unsigned int *rng)
{
	static const size_t size[2] = { 2048, 16384 };
	void **held = d->held[k];
	unsigned int *n = &d->nheld[k];

	while (*n > target || (churn && *n)) {
		unsigned int i = next_rand(rng) % *n;

		pn_buf_free(d->pool, held[i]);
		held[i] = held[--*n];
		if (churn)
			churn--;
	}
	while (*n < target) {
		void *b = pn_buf_alloc(d->pool, size[k], *n);

		if (!b) {
			d->failed++;
			break;
		}
		((char *)b)[0] = 1; /* use it */
		held[(*n)++] = b;
	}
}

/* 7/8 of the held buffers are 2 KiB frames, 1/8 are 16 KiB buffers. */
static void drive(struct demo_pool *d, unsigned int target, unsigned int *rng)
{
	drive_class(d, 0, target - target / 8, 14, rng);
	drive_class(d, 1, target / 8, 2, rng);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "scale", required_argument, NULL, 's' },
		{ "peak", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct demo_pool pools[NPOOLS];
	const char *config = NULL;
	double scale = 1.0, t0, tl, last;
	unsigned int peak = 12000, interval_ms = 1000, rng = 12345;
	int quiet = 0, opt, rc = 0;
	struct phase phases[5];
	unsigned int nphases = 5;

	while ((opt = getopt_long(argc, argv, "c:s:p:i:qh", lo, NULL)) != -1) {
		char *end = NULL;

		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			scale = strtod(optarg, &end);
			if (*end || scale <= 0 || scale > 100) {
				fprintf(stderr,
					"pinnet-pool-demo: --scale wants a number in (0, 100]\n");
				return 2;
			}
			break;
		case 'p':
			peak = (unsigned int)strtoul(optarg, &end, 10);
			if (*end || peak < 16 || peak > MAXHELD * 8 / 7) {
				fprintf(stderr,
					"pinnet-pool-demo: --peak wants 16..%d\n",
					MAXHELD * 8 / 7);
				return 2;
			}
			break;
		case 'i':
			interval_ms = (unsigned int)strtoul(optarg, &end, 10);
			if (*end || interval_ms < 10) {
				fprintf(stderr,
					"pinnet-pool-demo: --interval wants >= 10 (ms)\n");
				return 2;
			}
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pinnet-pool-demo: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}

	phases[0] = (struct phase){ "idle", 5 * scale, peak / 100 };
	phases[1] = (struct phase){ "burst", 6 * scale, peak };
	phases[2] = (struct phase){ "idle", 10 * scale, peak / 100 };
	phases[3] = (struct phase){ "burst", 6 * scale, peak * 3 / 4 };
	phases[4] = (struct phase){ "idle", 10 * scale, peak / 100 };

	pools[0].label = "idle (001)";
	pools[1].label = "peak";
	pools[2].label = "static";
	for (int i = 0; i < NPOOLS; i++) {
		struct demo_pool *d = &pools[i];

		demo_config(&d->cfg,
			    i == 0 ? PN_RELEASE_IDLE : PN_RELEASE_PEAK);
		if (config && i < 2) {
			int err = pn_pool_config_load(&d->cfg, config);

			if (err) {
				fprintf(stderr, "pinnet-pool-demo: %s\n",
					d->cfg.err);
				return 2;
			}
			d->cfg.opts.release =
				i == 0 ? PN_RELEASE_IDLE : PN_RELEASE_PEAK;
		}
		if (i == 2) {
			/* static: sized for the peak (7/8 of the buffers are
			 * 2 KiB, 1/8 are 16 KiB), registered up front, never
			 * released: what other stacks do */
			size_t need[2] = { (size_t)(peak - peak / 8) * 2048,
					   (size_t)(peak / 8) * 16384 };

			for (unsigned int k = 0; k < 2; k++) {
				size_t b = (need[k] + (2u << 20) - 1) &
					   ~(size_t)((2u << 20) - 1);

				d->cfg.classes[k].base_bytes = b;
				d->cfg.classes[k].block_bytes = 2u << 20;
				d->cfg.classes[k].wall_bytes = b;
			}
			d->cfg.opts.release = PN_RELEASE_NONE;
		}
		d->cfg.opts.on_event = on_event;
		d->cfg.opts.event_arg = d;
		d->pool = pn_pool_create(&d->cfg.opts);
		if (!d->pool) {
			fprintf(stderr,
				"pinnet-pool-demo: creating the %s pool: %s\n",
				d->label, pn_pool_last_error(NULL));
			if (errno == ENOMEM)
				fprintf(stderr,
					"  (pinning needs root, CAP_IPC_LOCK or a larger ulimit -l)\n");
			return 1;
		}
	}
	stop_on_signals();

	if (!quiet)
		printf("%6s  %-5s %7s | %11s %11s %11s | %8s\n", "time",
		       "phase", "held", "idle MiB", "peak MiB", "static MiB",
		       "VmPin");
	t0 = last = tl = now_s();
	for (unsigned int ph = 0; ph < nphases && !stop; ph++) {
		double start = now_s(), end = start + phases[ph].seconds;
		unsigned int from = ph ? phases[ph - 1].target : 0;

		while (!stop) {
			double t = now_s(), f;
			unsigned int target;

			if (t >= end)
				break;
			/* bursts ramp up over their first third */
			f = (t - start) / (phases[ph].seconds / 3);
			target = phases[ph].target;
			if (phases[ph].target > from && f < 1)
				target = from +
					 (unsigned int)((phases[ph].target -
							 from) *
							f);
			for (int i = 0; i < NPOOLS; i++) {
				struct demo_pool *d = &pools[i];
				size_t pinned;

				drive(d, target, &rng);
				pn_pool_poll(d->pool);
				pinned = pn_pool_pinned(d->pool);
				d->pinned_integral +=
					(double)pinned * (t - last);
				if (pinned > d->pinned_peak)
					d->pinned_peak = pinned;
			}
			last = t;
			if (!quiet && (t - tl) * 1000 >= interval_ms) {
				tl = t;
				printf("%5.1fs  %-5s %7u | %11.1f %11.1f %11.1f | %6.1fM\n",
				       t - t0, phases[ph].name,
				       pools[0].nheld[0] + pools[0].nheld[1],
				       pn_pool_pinned(pools[0].pool) / MIB,
				       pn_pool_pinned(pools[1].pool) / MIB,
				       pn_pool_pinned(pools[2].pool) / MIB,
				       vmpin_bytes() / MIB);
				fflush(stdout);
			}
			usleep(1000);
		}
	}

	printf("\n%s after %.1f s: %u buffers held at the peak (2 KiB and 16 KiB)\n",
	       stop ? "interrupted" : "summary", last - t0, peak);
	printf("%-11s %10s %9s %9s %6s %s\n", "pool", "avg MiB", "peak MiB",
	       "final MiB", "failed", "vs static (time-averaged pinned)");
	for (int i = 0; i < NPOOLS; i++) {
		struct demo_pool *d = &pools[i];
		double avg = d->pinned_integral / (last - t0);
		double avg_static = pools[2].pinned_integral / (last - t0);

		printf("%-11s %10.1f %9.1f %9.1f %6llu %.3fx\n", d->label,
		       avg / MIB, d->pinned_peak / MIB,
		       pn_pool_pinned(d->pool) / MIB,
		       (unsigned long long)d->failed, avg / avg_static);
		if (d->failed)
			rc = 1;
	}
	for (int i = 0; i < 2; i++) {
		struct demo_pool *d = &pools[i];
		struct pn_pool_part_stats s;
		uint64_t grows = 0;

		for (unsigned int k = 0; k < pn_pool_nparts(d->pool); k++)
			if (!pn_pool_stats(d->pool, k, &s, sizeof(s)))
				grows += s.grows;
		printf("%-11s grows %llu, releases:", d->label,
		       (unsigned long long)grows);
		for (int r = 0; r < PN_REASON_NR; r++)
			if (d->releases[r])
				printf(" %s %llu", reason_names[r],
				       (unsigned long long)d->releases[r]);
		printf("\n");
	}
	printf("kernel VmPin now %.1f MiB = pools' own count %.1f MiB\n",
	       vmpin_bytes() / MIB,
	       (pn_pool_pinned(pools[0].pool) + pn_pool_pinned(pools[1].pool) +
		pn_pool_pinned(pools[2].pool)) /
		       MIB);
	for (int i = 0; i < NPOOLS; i++) {
		for (int k = 0; k < 2; k++)
			while (pools[i].nheld[k])
				pn_buf_free(
					pools[i].pool,
					pools[i].held[k][--pools[i].nheld[k]]);
		pn_pool_destroy(pools[i].pool);
	}
	return rc;
}
