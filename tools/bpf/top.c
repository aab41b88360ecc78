/* SPDX-License-Identifier: MIT */
/*
 * pinnet-bpf top: the always-on counters files every pinnet pool publishes
 * (no BPF needed), per pool, class and block, refreshed every interval,
 * with rates of grows and releases.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pinnet/conn_stats.h"
#include "pinnet/pool_stats.h"
#include "subcmd.h"
#include "util.h"

static const char *const states[] = { "unused", "active", "draining",
				      "releasing", "released" };

struct prev {
	char path[300];
	uint64_t grows, releases;
	double t;
};
static struct prev prevs[256];

static long long vmpin_kb(int pid)
{
	char p[64], line[256];
	long long kb = -1;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double mib(uint64_t b)
{
	return b / 1048576.0;
}

/* The stack's connection classes, from <pid>-<id>.conns beside the
 * pool's <pid>-<id>.stats (a pool that is not a stack's has none). */
/* a connections file's header (written by this or an older stack) holds
 * field f */
#define COVERS(h, f)         \
	((h)->header_size >= \
	 offsetof(struct pn_conns_header, f) + sizeof((h)->f))

static void show_conns(const char *pool_path, struct json_object *jo)
{
	char path[320];
	size_t n = strlen(pool_path);
	const struct pn_conns_header *h;
	struct json_object *ja = NULL;
	struct stat sb;
	void *m;
	int fd;

	if (n < 6 || strcmp(pool_path + n - 6, ".stats"))
		return;
	snprintf(path, sizeof(path), "%.*s.conns", (int)(n - 6), pool_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) || sb.st_size < (off_t)sizeof(*h)) {
		close(fd);
		return;
	}
	m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	h = m;
	if (h->magic != PN_CONNS_MAGIC || h->version != PN_CONNS_VERSION ||
	    (uint64_t)h->class_off + (uint64_t)h->nclasses * h->class_size >
		    (uint64_t)sb.st_size ||
	    h->class_size < sizeof(struct pn_conn_class_stats)) {
		munmap(m, (size_t)sb.st_size);
		return;
	}
	if (jo)
		ja = json_object_new_array();
	else
		printf("  %-15s %7s %9s %9s %9s %9s %9s %9s  (every %llu ms)\n",
		       "connections", "conns", "queued", "inflight", "unsent",
		       "unread", "ooseq", "pinned",
		       (unsigned long long)h->interval_ms);
	for (uint32_t k = 0; k < h->nclasses; k++) {
		struct pn_conn_class_stats c;

		memcpy(&c,
		       (const char *)m + h->class_off +
			       (size_t)k * h->class_size,
		       sizeof(c));
		c.name[sizeof(c.name) - 1] = 0;
		if (ja) {
			struct json_object *o = json_object_new_object();

			J_STR(o, "class", c.name);
			J_INT(o, "conns", c.conns);
			J_INT(o, "tx_queued", c.tx_queued);
			J_INT(o, "tx_inflight", c.tx_inflight);
			J_INT(o, "tx_unsent", c.tx_unsent);
			J_INT(o, "rx_unread", c.rx_unread);
			J_INT(o, "rx_ooseq", c.rx_ooseq);
			J_INT(o, "pinned_bytes", c.pinned_bytes);
			J_INT(o, "tx_limit_sum", c.tx_limit_sum);
			J_INT(o, "rwnd_sum", c.rwnd_sum);
			json_object_array_add(ja, o);
		} else {
			printf("  %-15s %7llu %8.1fM %8.1fM %8.1fM %8.1fM %8.1fM %8.1fM\n",
			       c.name, (unsigned long long)c.conns,
			       mib(c.tx_queued), mib(c.tx_inflight),
			       mib(c.tx_unsent), mib(c.rx_unread),
			       mib(c.rx_ooseq), mib(c.pinned_bytes));
		}
	}
	if (ja)
		json_object_object_add(jo, "connections", ja);
	if (COVERS(h, budget_overdue) && h->send_budget) {
		if (jo) {
			struct json_object *o = json_object_new_object();

			J_INT(o, "budget_bytes", h->send_budget);
			J_INT(o, "used_bytes", h->budget_used);
			J_INT(o, "waits", h->budget_waits);
			J_INT(o, "overdue", h->budget_overdue);
			json_object_object_add(jo, "send_budget", o);
		} else {
			printf("  %-15s %8.1fM of %.1fM, %llu waits, %llu let in "
			       "without room\n",
			       "send budget", mib(h->budget_used),
			       mib(h->send_budget),
			       (unsigned long long)h->budget_waits,
			       (unsigned long long)h->budget_overdue);
		}
	}
	if (COVERS(h, submits)) {
		if (jo) {
			struct json_object *o = json_object_new_object();

			J_INT(o, "rx", h->rx_frames);
			J_INT(o, "tx", h->tx_frames);
			J_INT(o, "tx_pure_acks", h->tx_pure_acks);
			J_INT(o, "tx_writes", h->tx_writes);
			J_INT(o, "submits", h->submits);
			json_object_object_add(jo, "frames", o);
		} else {
			printf("  %-15s %llu read, %llu written (%llu only an "
			       "ACK) in %llu writes, %llu ring submissions\n",
			       "frames", (unsigned long long)h->rx_frames,
			       (unsigned long long)h->tx_frames,
			       (unsigned long long)h->tx_pure_acks,
			       (unsigned long long)h->tx_writes,
			       (unsigned long long)h->submits);
		}
	}
	munmap(m, (size_t)sb.st_size);
}

static void show_pool(const char *path, const struct pn_stats_header *h,
		      double t)
{
	uint64_t grows = 0, rel = 0;
	struct prev *pv = NULL;
	struct json_object *jo = NULL, *jparts = NULL;

	for (int i = 0; i < 256; i++)
		if (!strcmp(prevs[i].path, path) || !prevs[i].path[0]) {
			pv = &prevs[i];
			break;
		}
	for (uint32_t i = 0; i < h->nparts; i++) {
		const struct pn_stats_part *p =
			(const void *)((const char *)h + h->part_off +
				       i * h->part_size);

		grows += p->grows;
		for (int r = 0; r < 7; r++)
			rel += p->releases[r];
	}
	if (env.json) {
		jo = json_object_new_object();
		J_STR(jo, "type", "pool");
		J_DBL(jo, "time", t);
		J_INT(jo, "pid", h->pid);
		J_INT(jo, "pool_id", h->pool_id);
		J_STR(jo, "name", h->name);
		J_INT(jo, "pinned_bytes", h->pinned_bytes);
		J_INT(jo, "pinned_high", h->pinned_high);
		J_INT(jo, "wall_bytes", h->wall_bytes);
		J_INT(jo, "vmpin_kb", vmpin_kb((int)h->pid));
		J_INT(jo, "bad_frees", h->bad_frees);
		if (pv && pv->path[0] && t > pv->t) {
			J_DBL(jo, "grows_per_s",
			      (grows - pv->grows) / (t - pv->t));
			J_DBL(jo, "releases_per_s",
			      (rel - pv->releases) / (t - pv->t));
		}
		jparts = json_object_new_array();
	} else {
		printf("PID %u pool %s (id %llu): pinned %.1f MiB, high %.1f MiB, wall %.0f MiB, VmPin %.1f MiB",
		       h->pid, h->name, (unsigned long long)h->pool_id,
		       h->pinned_bytes / 1048576.0, h->pinned_high / 1048576.0,
		       h->wall_bytes / 1048576.0,
		       vmpin_kb((int)h->pid) / 1024.0);
		if (pv && pv->path[0] && t > pv->t)
			printf(", %.1f grows/s, %.1f releases/s",
			       (grows - pv->grows) / (t - pv->t),
			       (rel - pv->releases) / (t - pv->t));
		printf("\n  %7s %9s %8s %8s %8s %9s %6s %6s %s %6s %6s %5s %5s\n",
		       "class", "pinned", "in_use", "free", "high", "act/dr/rl",
		       "grows", "refus",
		       "releases(api/idle/peak/under/press/fcast)", "queue",
		       "refuse", "leaks", "errs");
	}
	for (uint32_t i = 0; i < h->nparts; i++) {
		const struct pn_stats_part *p =
			(const void *)((const char *)h + h->part_off +
				       i * h->part_size);
		unsigned int nst[5] = { 0 };
		struct json_object *jp = NULL, *jb = NULL;

		for (uint32_t b = 0; b < h->max_blocks; b++) {
			const struct pn_stats_block *bs =
				(const void *)((const char *)h + h->block_off +
					       ((size_t)i * h->max_blocks + b) *
						       h->block_size);

			if (bs->state < 5)
				nst[bs->state]++;
		}
		if (env.json) {
			jp = json_object_new_object();
			J_INT(jp, "buf_size", p->buf_size);
			J_INT(jp, "pinned_bytes", p->pinned_bytes);
			J_INT(jp, "in_use", p->in_use);
			J_INT(jp, "free", p->free);
			J_INT(jp, "high_water", p->high_water);
			J_INT(jp, "blocks_active", nst[1]);
			J_INT(jp, "blocks_draining", nst[2]);
			J_INT(jp, "blocks_releasing", nst[3]);
			J_INT(jp, "grows", p->grows);
			J_INT(jp, "grow_refused", p->grow_refused);
			for (int r = 0; r < 7; r++) {
				char k[32];

				if (r == 5) /* destroy: not a policy */
					continue;
				snprintf(k, sizeof(k), "releases_%s",
					 reasons[r]);
				J_INT(jp, k, p->releases[r]);
			}
			J_INT(jp, "queue_len", p->queue_len);
			J_INT(jp, "queued", p->queued);
			J_INT(jp, "refusals", p->refusals);
			J_INT(jp, "leaks", p->leaks);
			J_INT(jp, "errors", p->errors);
			if (env.blocks)
				jb = json_object_new_array();
		} else {
			char ad[32];

			snprintf(ad, sizeof(ad), "%u/%u/%u", nst[1], nst[2],
				 nst[3]);
			printf("  %7llu %8.1fM %8llu %8llu %8llu %9s %6llu %6llu %6llu/%llu/%llu/%llu/%llu/%llu %11s %6llu %6llu %5llu %5llu\n",
			       (unsigned long long)p->buf_size,
			       p->pinned_bytes / 1048576.0,
			       (unsigned long long)p->in_use,
			       (unsigned long long)p->free,
			       (unsigned long long)p->high_water, ad,
			       (unsigned long long)p->grows,
			       (unsigned long long)p->grow_refused,
			       (unsigned long long)p->releases[0],
			       (unsigned long long)p->releases[1],
			       (unsigned long long)p->releases[2],
			       (unsigned long long)p->releases[3],
			       (unsigned long long)p->releases[4],
			       (unsigned long long)p->releases[6], "",
			       (unsigned long long)p->queue_len,
			       (unsigned long long)p->refusals,
			       (unsigned long long)p->leaks,
			       (unsigned long long)p->errors);
		}
		for (uint32_t b = 0; env.blocks && b < h->max_blocks; b++) {
			const struct pn_stats_block *bs =
				(const void *)((const char *)h + h->block_off +
					       ((size_t)i * h->max_blocks + b) *
						       h->block_size);

			if (bs->state == PN_BLOCK_UNUSED)
				continue;
			if (env.json) {
				struct json_object *o =
					json_object_new_object();

				J_INT(o, "block", b);
				J_STR(o, "state",
				      bs->state < 5 ? states[bs->state] : "?");
				J_INT(o, "slot",
				      bs->slot == UINT64_MAX ?
					      -1 :
					      (int64_t)bs->slot);
				J_INT(o, "bytes", bs->bytes);
				J_INT(o, "in_use", bs->in_use);
				J_INT(o, "last_alloc_ms", bs->last_alloc_ms);
				json_object_array_add(jb, o);
			} else {
				printf("      block %3u %-9s slot %4lld %7.1f MiB in use %llu\n",
				       b,
				       bs->state < 5 ? states[bs->state] : "?",
				       bs->slot == UINT64_MAX ?
					       -1 :
					       (long long)bs->slot,
				       bs->bytes / 1048576.0,
				       (unsigned long long)bs->in_use);
			}
		}
		if (env.json) {
			if (jb)
				json_object_object_add(jp, "blocks", jb);
			json_object_array_add(jparts, jp);
		}
	}
	show_conns(path, jo);
	if (env.json) {
		json_object_object_add(jo, "classes", jparts);
		emit_json(jo);
	}
	if (pv) {
		snprintf(pv->path, sizeof(pv->path), "%s", path);
		pv->grows = grows;
		pv->releases = rel;
		pv->t = t;
	}
}

int cmd_top(void)
{
	for (long round = 0; !stop && (env.count < 0 || round < env.count);
	     round++) {
		DIR *d = opendir(env.dir);
		struct dirent *de;
		int shown = 0;
		double t = now_s();

		if (!d) {
			fprintf(stderr,
				"pinnet-bpf top: %s: %s (no pinnet process has published counters)\n",
				env.dir, strerror(errno));
			return 1;
		}
		if (!env.json)
			printf("--- %s", round ? "\n" : "");
		while ((de = readdir(d))) {
			char path[300];
			int pid = 0, fd;
			struct stat sb;
			void *m;

			if (sscanf(de->d_name, "%d-", &pid) != 1 ||
			    !strstr(de->d_name, ".stats"))
				continue;
			if (env.pid && pid != env.pid)
				continue;
			snprintf(path, sizeof(path), "%s/%s", env.dir,
				 de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "pinnet-bpf top: %s: %s%s\n",
					path, strerror(errno),
					errno == EACCES ?
						" (the counters are readable by their owner and root)" :
						"");
				continue;
			}
			if (fstat(fd, &sb) ||
			    sb.st_size <
				    (off_t)sizeof(struct pn_stats_header)) {
				close(fd);
				continue;
			}
			m = mmap(NULL, (size_t)sb.st_size, PROT_READ,
				 MAP_SHARED, fd, 0);
			close(fd);
			if (m == MAP_FAILED)
				continue;
			if (((struct pn_stats_header *)m)->magic ==
				    PN_STATS_MAGIC &&
			    ((struct pn_stats_header *)m)->version ==
				    PN_STATS_VERSION) {
				show_pool(path, m, t);
				shown++;
			}
			munmap(m, (size_t)sb.st_size);
		}
		closedir(d);
		if (!shown && env.pid) {
			if (check_pid(env.pid))
				return 1;
			fprintf(stderr,
				"pinnet-bpf top: PID %d publishes no pinnet counters in %s (not a pinnet process, or counters off)\n",
				env.pid, env.dir);
			return 1;
		}
		fflush(stdout);
		if (env.count >= 0 && round + 1 >= env.count)
			break;
		for (double until = now_s() + env.interval;
		     !stop && now_s() < until;)
			usleep(20000);
	}
	return 0;
}
