/* SPDX-License-Identifier: MIT */
/*
 * pinnet-bpf leaks: buffers outstanding longer than AGE, grouped by
 * allocation stack and owner tag (uprobes on pn_buf_alloc and pn_buf_free,
 * the pool's probes for asynchronous allocations).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pinnet_bpf.h"
#include "leaks.skel.h"
#include "subcmd.h"
#include "util.h"

struct group {
	int32_t stack_id;
	uint32_t owner, size;
	uint64_t count, bytes;
	double oldest;
};

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static void report_leaks(struct pn_leaks *skel, double t)
{
	int amap = bpf_map__fd(skel->maps.allocs);
	int smap = bpf_map__fd(skel->maps.stacks);
	struct group *g = NULL;
	size_t ng = 0;
	uint64_t key, next, *kp = NULL;
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	load_maps(env.pid);
	while (bpf_map_get_next_key(amap, kp, &next) == 0) {
		struct pn_bpf_alloc a;
		double age;
		size_t i;

		key = next;
		kp = &key;
		if (bpf_map_lookup_elem(amap, &key, &a))
			continue;
		if (a.ts_ns >= now)
			continue; /* allocated while this scan ran: young */
		age = (double)(now - a.ts_ns) / 1e9;
		if (age < env.min_age)
			continue;
		for (i = 0; i < ng; i++)
			if (g[i].stack_id == a.stack_id &&
			    g[i].owner == a.owner && g[i].size == a.size)
				break;
		if (i == ng) {
			struct group *t2 = realloc(g, (ng + 1) * sizeof(*g));

			if (!t2)
				break;
			g = t2;
			g[ng++] = (struct group){ a.stack_id, a.owner, a.size,
						  0,	      0,       0 };
		}
		g[i].count++;
		g[i].bytes += a.size;
		if (age > g[i].oldest)
			g[i].oldest = age;
	}
	qsort(g, ng, sizeof(*g), cmp_group);
	if (!env.json)
		printf("[%.1f s] %zu groups of buffers outstanding longer than %.1f s\n",
		       t, ng, env.min_age);
	for (size_t i = 0; i < ng; i++) {
		uint64_t ips[PNB_STACK_DEPTH] = { 0 };
		struct json_object *o = NULL, *st = NULL;
		char name[512];

		if (g[i].stack_id >= 0)
			bpf_map_lookup_elem(smap, &g[i].stack_id, ips);
		if (env.json) {
			o = json_object_new_object();
			J_STR(o, "type", "leak");
			J_DBL(o, "time", t);
			J_INT(o, "pid", env.pid);
			J_INT(o, "count", g[i].count);
			J_INT(o, "bytes", g[i].bytes);
			J_INT(o, "size", g[i].size);
			J_INT(o, "owner", g[i].owner);
			J_DBL(o, "oldest_s", g[i].oldest);
			st = json_object_new_array();
		} else {
			printf("  %llu buffers x %u B = %llu B, owner %u, oldest %.1f s, allocated at:\n",
			       (unsigned long long)g[i].count, g[i].size,
			       (unsigned long long)g[i].bytes, g[i].owner,
			       g[i].oldest);
		}
		for (int k = 0; k < PNB_STACK_DEPTH && ips[k]; k++) {
			symbolize(ips[k], name, sizeof(name));
			if (env.json)
				json_object_array_add(
					st, json_object_new_string(name));
			else
				printf("      %s\n", name);
		}
		if (env.json) {
			json_object_object_add(o, "stack", st);
			emit_json(o);
		}
	}
	if (env.json) {
		struct json_object *o = json_object_new_object();

		J_STR(o, "type", "leaks_done");
		J_DBL(o, "time", t);
		J_INT(o, "groups", ng);
		J_INT(o, "lost", skel->bss->lost);
		emit_json(o);
	}
	free(g);
	fflush(stdout);
}

int cmd_leaks(const char *path)
{
	struct pn_leaks *skel = pn_leaks__open_and_load();
	long round = 0;
	int rc = 1;
	double t0;

	if (!skel) {
		fprintf(stderr,
			"pinnet-bpf leaks: loading the BPF programs failed (see -v)\n");
		return 1;
	}
	if (attach_fn(skel->progs.on_alloc, &skel->links.on_alloc, path,
		      "pn_buf_alloc", false) ||
	    attach_fn(skel->progs.on_alloc_ret, &skel->links.on_alloc_ret, path,
		      "pn_buf_alloc", true) ||
	    attach_fn(skel->progs.on_free, &skel->links.on_free, path,
		      "pn_buf_free", false) ||
	    attach(skel->progs.on_dequeued, &skel->links.on_dequeued, path,
		   "dequeued") ||
	    attach(skel->progs.on_async_alloc, &skel->links.on_async_alloc,
		   path, "async_alloc"))
		goto out;
	if (env.json) {
		emit_attached(path);
	} else {
		printf("tracking buffers of PID %d (%s), reporting those older than %.1f s every %.1f s; Ctrl-C to stop\n",
		       env.pid, path, env.min_age, env.interval);
		fflush(stdout);
	}
	t0 = now_s();
	while (!stop && (env.count < 0 || round < env.count)) {
		for (double until = now_s() + env.interval;
		     !stop && now_s() < until;)
			usleep(20000);
		if (kill(env.pid, 0) && errno == ESRCH)
			break;
		report_leaks(skel, now_s() - t0);
		round++;
	}
	rc = 0;
out:
	pn_leaks__destroy(skel);
	return rc;
}
