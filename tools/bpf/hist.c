/* SPDX-License-Identifier: MIT */
/*
 * pinnet-bpf hist: log2 histograms of buffer lifetime, wait at the wall
 * and grow latency, printed every interval.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pinnet_bpf.h"
#include "hist.skel.h"
#include "subcmd.h"
#include "util.h"

static void print_hist(const char *title, const char *unit, const __u64 *h,
		       double t)
{
	uint64_t max = 0, total = 0;
	int last = -1;

	for (int i = 0; i < PNB_HIST_SLOTS; i++) {
		if (h[i] > max)
			max = h[i];
		if (h[i])
			last = i;
		total += h[i];
	}
	if (env.json) {
		struct json_object *o = json_object_new_object(),
				   *a = json_object_new_array();

		J_STR(o, "type", "hist");
		J_STR(o, "hist", title);
		J_STR(o, "unit", unit);
		J_DBL(o, "time", t);
		J_INT(o, "count", total);
		for (int i = 0; i <= last; i++) {
			struct json_object *b = json_object_new_object();

			J_INT(b, "low", i ? 1ull << i : 0);
			J_INT(b, "high", (1ull << (i + 1)) - 1);
			J_INT(b, "count", h[i]);
			json_object_array_add(a, b);
		}
		json_object_object_add(o, "buckets", a);
		emit_json(o);
		return;
	}
	printf("%s (%s): %llu samples\n", title, unit,
	       (unsigned long long)total);
	for (int i = 0; i <= last; i++) {
		int bar = max ? (int)(h[i] * 40 / max) : 0;

		printf("  %10llu -> %-10llu : %-8llu |%.*s%*s|\n",
		       i ? 1ull << i : 0ull, (1ull << (i + 1)) - 1,
		       (unsigned long long)h[i], bar,
		       "****************************************", 40 - bar,
		       "");
	}
}

int cmd_hist(const char *path)
{
	struct pn_hist *skel = pn_hist__open_and_load();
	long round = 0;
	int rc = 1;
	double t0;

	if (!skel) {
		fprintf(stderr,
			"pinnet-bpf hist: loading the BPF programs failed (see -v)\n");
		return 1;
	}
	if (attach_fn(skel->progs.on_alloc_ret, &skel->links.on_alloc_ret, path,
		      "pn_buf_alloc", true) ||
	    attach_fn(skel->progs.on_free, &skel->links.on_free, path,
		      "pn_buf_free", false) ||
	    attach(skel->progs.on_dequeued, &skel->links.on_dequeued, path,
		   "dequeued") ||
	    attach(skel->progs.on_async_alloc, &skel->links.on_async_alloc,
		   path, "async_alloc") ||
	    attach(skel->progs.on_grow, &skel->links.on_grow, path, "grow"))
		goto out;
	if (env.json) {
		emit_attached(NULL);
	} else {
		printf("histograms of PID %d every %.1f s; Ctrl-C to stop\n",
		       env.pid, env.interval);
		fflush(stdout);
	}
	t0 = now_s();
	while (!stop && (env.count < 0 || round < env.count)) {
		for (double until = now_s() + env.interval;
		     !stop && now_s() < until;)
			usleep(20000);
		print_hist("lifetime", "us", skel->bss->hist[PNB_H_LIFETIME],
			   now_s() - t0);
		print_hist("wait_at_wall", "ms", skel->bss->hist[PNB_H_WAIT],
			   now_s() - t0);
		print_hist("grow_latency", "us", skel->bss->hist[PNB_H_GROW],
			   now_s() - t0);
		fflush(stdout);
		round++;
		if (kill(env.pid, 0) && errno == ESRCH)
			break;
	}
	rc = 0;
out:
	pn_hist__destroy(skel);
	return rc;
}
