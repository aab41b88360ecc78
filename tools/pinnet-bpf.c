/* SPDX-License-Identifier: MIT */
/*
 * pinnet-bpf: watch a live pinnet pool without restarting the process.
 *
 *   top    the always-on counters files (no BPF needed): per pool, class and
 *          block, refreshed every interval, with rates of grows and releases
 *   trace  one line per slow-path event (USDT probes) and per kernel-side
 *          registration step (io_uring tracepoints)
 *   leaks  buffers outstanding longer than AGE, grouped by allocation stack
 *          and owner tag (per-buffer probes)
 *   hist   log2 histograms of buffer lifetime, wait at the wall, grow latency
 *
 * -j prints one JSON object per line (see --help). Ctrl-C detaches.
 */
#include <argp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libelf.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pinnet/pool_stats.h"
#include "pinnet_bpf.h"
#include "hist.skel.h"
#include "leaks.skel.h"
#include "trace.skel.h"
#include "util.h"

static struct env {
	int pid; /* -p, 0: every process (top only) */
	bool json; /* -j */
	bool verbose; /* -v */
	bool blocks; /* top -b */
	double interval; /* seconds */
	long count; /* -1: forever */
	double min_age; /* leaks -o, seconds */
	const char *dir; /* counters folder */
	const char *cmd;
} env = { .interval = 1.0, .count = -1, .min_age = 1.0, .dir = PN_STATS_DIR };

static void emit_json(struct json_object *o)
{
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	fflush(stdout);
}

#define J_INT(o, k, v) \
	json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))
#define J_STR(o, k, v) json_object_object_add(o, k, json_object_new_string(v))
#define J_DBL(o, k, v) json_object_object_add(o, k, json_object_new_double(v))

/* ---- checks --------------------------------------------------------------- */

static int libbpf_out(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	if (level == LIBBPF_INFO && !env.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* CAP_BPF (39) and CAP_PERFMON (38), or CAP_SYS_ADMIN (21), effective. */
static int check_caps(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long eff = 0;
	char line[256];

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "CapEff: %llx", &eff) == 1)
				break;
		fclose(f);
	}
	if ((eff & (1ull << 21)) ||
	    ((eff & (1ull << 39)) && (eff & (1ull << 38))))
		return 0;
	fprintf(stderr,
		"pinnet-bpf %s: needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process has %s%s (run it as root)\n",
		env.cmd, eff & (1ull << 39) ? "CAP_BPF" : "not CAP_BPF",
		eff & (1ull << 38) ? ", CAP_PERFMON" : ", not CAP_PERFMON");
	return -1;
}

static int check_btf(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0)
		return 0;
	fprintf(stderr,
		"pinnet-bpf %s: this kernel has no BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF): the BPF subcommands cannot run; 'top' still works\n",
		env.cmd);
	return -1;
}

static int check_pid(int pid)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d", pid);
	if (access(p, F_OK)) {
		fprintf(stderr, "pinnet-bpf %s: no process with PID %d\n",
			env.cmd, pid);
		return -1;
	}
	return 0;
}

/* ---- finding the probes: the mapped file that carries them -------------- */

/* Number of pinnet USDT notes in an ELF file (0: none, -1: unreadable). */
static int count_probes(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;
	size_t shstrndx;

	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getshdrstrndx(elf, &shstrndx)) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -1;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		const char *name;
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".note.stapsdt"))
			continue;
		d = elf_getdata(scn, NULL);
		while (d && (off = gelf_getnote(d, off, &nh, &name_off,
						&desc_off)) > 0) {
			const char *desc = (const char *)d->d_buf + desc_off;

			/* desc: pc, base, semaphore (3 x 8 bytes), provider */
			if (nh.n_type == 3 && nh.n_descsz > 24 &&
			    !strcmp(desc + 24, "pinnet"))
				n++;
		}
	}
	elf_end(elf);
	close(fd);
	return n;
}

/* Fill path with the target's file that holds the pinnet probes (the
 * executable when linked statically, libpinnet.so otherwise). */
static int find_probes(int pid, char *path, size_t len)
{
	char maps[64], line[4096], seen[64][512];
	int nseen = 0, rc = -1;
	bool saw_pinnet = false;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "r");
	if (!f) {
		fprintf(stderr, "pinnet-bpf %s: %s: %s\n", env.cmd, maps,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char perms[8], file[4096] = "";
		char full[4600];
		int n;

		if (sscanf(line, "%*x-%*x %7s %*x %*s %*u %4095[^\n]", perms,
			   file) < 2 ||
		    perms[2] != 'x' || file[0] != '/')
			continue;
		for (n = 0; n < nseen && strcmp(seen[n], file); n++)
			;
		if (n < nseen || nseen == 64)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", file);
		if (strstr(file, "pinnet"))
			saw_pinnet = true;
		/* the target's view of its files, whatever its mount namespace */
		snprintf(full, sizeof(full), "/proc/%d/root%s", pid, file);
		if (count_probes(full) > 0) {
			snprintf(path, len, "%s", full);
			rc = 0;
			break;
		}
	}
	fclose(f);
	if (rc)
		fprintf(stderr,
			saw_pinnet ?
				"pinnet-bpf %s: PID %d maps pinnet, but without USDT probes (built with -Dprobes=disabled?)\n" :
				"pinnet-bpf %s: PID %d does not use pinnet: none of its mapped files carries pinnet probes\n",
			env.cmd, pid);
	return rc;
}

/* A uprobe (or uretprobe) on an exported pinnet function. */
static int attach_fn(struct bpf_program *prog, struct bpf_link **link,
		     const char *path, const char *func, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = func, .retprobe = ret);

	*link = bpf_program__attach_uprobe_opts(prog, env.pid, path, 0, &uo);
	if (!*link) {
		fprintf(stderr, "pinnet-bpf %s: attaching to %s%s in %s: %s\n",
			env.cmd, func, ret ? " (return)" : "", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int attach(struct bpf_program *prog, struct bpf_link **link,
		  const char *path, const char *name)
{
	*link = bpf_program__attach_usdt(prog, env.pid, path, "pinnet", name,
					 NULL);
	if (!*link) {
		fprintf(stderr,
			"pinnet-bpf %s: attaching to pinnet:%s in %s: %s\n",
			env.cmd, name, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- top: the counters files ----------------------------------------------- */

static const char *const reasons[] = { "api",	   "idle",     "peak",
				       "underuse", "pressure", "destroy" };
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
		for (int r = 0; r < 6; r++)
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
		       "grows", "refus", "releases(api/idle/peak/under/press)",
		       "queue", "refuse", "leaks", "errs");
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
			for (int r = 0; r < 5; r++) {
				char k[32];

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
			printf("  %7llu %8.1fM %8llu %8llu %8llu %9s %6llu %6llu %6llu/%llu/%llu/%llu/%llu %13s %6llu %6llu %5llu %5llu\n",
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
			       (unsigned long long)p->releases[4], "",
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

static int cmd_top(void)
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

/* ---- trace -------------------------------------------------------------------- */

static const char *const kind_names[PNB_KIND_NR] = {
	[PNB_GROW] = "grow",
	[PNB_GROW_REFUSED] = "grow_refused",
	[PNB_DRAIN] = "drain",
	[PNB_RELEASE] = "release",
	[PNB_SHRINK_REFUSED] = "shrink_refused",
	[PNB_LEAK] = "leak",
	[PNB_QUEUED] = "queued",
	[PNB_DEQUEUED] = "dequeued",
	[PNB_UNDERUSE] = "underuse",
	[PNB_REFUSED] = "refused",
	[PNB_BAD_FREE] = "bad_free",
	[PNB_K_REGISTER] = "kernel_register",
	[PNB_K_TAG] = "kernel_tag",
};
static double t_start;
static uint64_t ts_start;

static const char *reason_name(uint64_t r)
{
	return r < 6 ? reasons[r] : "?";
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct pn_bpf_event *e = data;
	const char *k;
	double t;

	(void)ctx;
	if (len < sizeof(*e) || e->kind >= PNB_KIND_NR || !kind_names[e->kind])
		return 0;
	if (!ts_start)
		ts_start = e->ts_ns;
	t = (double)(e->ts_ns - ts_start) / 1e9;
	k = kind_names[e->kind];
	if (env.json) {
		struct json_object *o = json_object_new_object();

		J_STR(o, "type", "event");
		J_STR(o, "event", k);
		J_DBL(o, "time", t);
		J_INT(o, "pid", e->pid);
		J_INT(o, "tid", e->tid);
		if (e->kind < PNB_K_REGISTER)
			J_INT(o, "buf_size", e->buf_size);
		if (e->block != ~0u)
			J_INT(o, e->kind == PNB_K_TAG ? "slot" : "block",
			      e->block);
		switch (e->kind) {
		case PNB_GROW:
			J_INT(o, "bytes", e->bytes);
			J_INT(o, "slot", e->a);
			J_INT(o, "latency_ns", e->b);
			break;
		case PNB_GROW_REFUSED:
		case PNB_REFUSED:
			J_INT(o, "bytes", e->bytes);
			J_INT(o, "err", (int64_t)e->a);
			break;
		case PNB_DRAIN:
			J_INT(o, "in_use", e->a);
			J_STR(o, "reason", reason_name(e->b));
			break;
		case PNB_RELEASE:
			J_INT(o, "bytes", e->bytes);
			J_STR(o, "reason", reason_name(e->a));
			break;
		case PNB_SHRINK_REFUSED:
			J_INT(o, "in_use", e->a);
			break;
		case PNB_LEAK:
			J_INT(o, "bytes", e->bytes);
			J_INT(o, "addr", e->a);
			J_INT(o, "owner", e->b);
			J_INT(o, "age_ms", e->c);
			break;
		case PNB_QUEUED:
			J_INT(o, "queue_len", e->a);
			J_INT(o, "owner", e->b);
			break;
		case PNB_DEQUEUED:
			J_INT(o, "addr", e->a);
			J_INT(o, "wait_ms", e->b);
			J_INT(o, "err", (int64_t)e->c);
			break;
		case PNB_UNDERUSE:
			J_INT(o, "free", e->a);
			J_INT(o, "threshold", e->b);
			break;
		case PNB_BAD_FREE:
			J_INT(o, "addr", e->a);
			J_INT(o, "err", (int64_t)e->b);
			break;
		case PNB_K_REGISTER:
			J_INT(o, "opcode", e->a);
			J_INT(o, "nr_bufs", e->b);
			J_INT(o, "ret", (int64_t)e->c);
			break;
		case PNB_K_TAG:
			J_INT(o, "user_data", e->a);
			J_INT(o, "res", (int64_t)(int)e->b);
			break;
		}
		emit_json(o);
		return 0;
	}
	printf("%10.6f %7u %-16s", t, e->pid, k);
	switch (e->kind) {
	case PNB_GROW:
		printf(" class %7u block %4u %8.1f KiB slot %llu in %.1f us",
		       e->buf_size, e->block, e->bytes / 1024.0,
		       (unsigned long long)e->a, e->b / 1e3);
		break;
	case PNB_GROW_REFUSED:
	case PNB_REFUSED:
		printf(" class %7u %llu bytes: %s", e->buf_size,
		       (unsigned long long)e->bytes,
		       strerror((int)-(int64_t)e->a));
		break;
	case PNB_DRAIN:
		printf(" class %7u block %4u (%llu buffers out) reason %s",
		       e->buf_size, e->block, (unsigned long long)e->a,
		       reason_name(e->b));
		break;
	case PNB_RELEASE:
		printf(" class %7u block %4u %8.1f KiB reason %s", e->buf_size,
		       e->block, e->bytes / 1024.0, reason_name(e->a));
		break;
	case PNB_SHRINK_REFUSED:
		printf(" class %7u block %4u (%llu buffers out)", e->buf_size,
		       e->block, (unsigned long long)e->a);
		break;
	case PNB_LEAK:
		printf(" class %7u block %4u buffer 0x%llx owner %llu age %llu ms",
		       e->buf_size, e->block, (unsigned long long)e->a,
		       (unsigned long long)e->b, (unsigned long long)e->c);
		break;
	case PNB_QUEUED:
		printf(" class %7u queue length %llu owner %llu", e->buf_size,
		       (unsigned long long)e->a, (unsigned long long)e->b);
		break;
	case PNB_DEQUEUED:
		printf(" class %7u buffer 0x%llx after %llu ms%s", e->buf_size,
		       (unsigned long long)e->a, (unsigned long long)e->b,
		       e->c ? " (refused)" : "");
		break;
	case PNB_UNDERUSE:
		printf(" class %7u %llu free > %llu", e->buf_size,
		       (unsigned long long)e->a, (unsigned long long)e->b);
		break;
	case PNB_BAD_FREE:
		printf(" 0x%llx: %s", (unsigned long long)e->a,
		       strerror((int)-(int64_t)e->b));
		break;
	case PNB_K_REGISTER:
		printf(" io_uring_register opcode %llu nr_bufs %llu ret %lld",
		       (unsigned long long)e->a, (unsigned long long)e->b,
		       (long long)e->c);
		break;
	case PNB_K_TAG:
		printf(" tag CQE slot %u res %d: the kernel released the slot",
		       e->block, (int)e->b);
		break;
	}
	printf("\n");
	fflush(stdout);
	return 0;
}

/* Tracepoints need tracefs; mount it where libbpf looks if it is absent. */
static void ensure_tracefs(void)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0 ||
	    access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) &&
	    env.verbose)
		fprintf(stderr, "pinnet-bpf: mounting tracefs: %s\n",
			strerror(errno));
}

static int cmd_trace(const char *path)
{
	struct pn_trace *skel = pn_trace__open();
	struct ring_buffer *rb = NULL;
	int rc = 1;

	if (!skel) {
		fprintf(stderr,
			"pinnet-bpf trace: opening the BPF object: %s\n",
			strerror(errno));
		return 1;
	}
	skel->rodata->target_tgid = (__u32)env.pid;
	ensure_tracefs();
	if (pn_trace__load(skel)) {
		fprintf(stderr,
			"pinnet-bpf trace: loading the BPF programs failed (see -v)\n");
		goto out;
	}
#define ATT(p) attach(skel->progs.on_##p, &skel->links.on_##p, path, #p)
	if (ATT(grow) || ATT(grow_refused) || ATT(drain) || ATT(release) ||
	    ATT(shrink_refused) || ATT(leak) || ATT(queued) || ATT(dequeued) ||
	    ATT(underuse) || ATT(refused) || ATT(bad_free))
		goto out;
#undef ATT
	skel->links.on_register = bpf_program__attach(skel->progs.on_register);
	skel->links.on_complete = bpf_program__attach(skel->progs.on_complete);
	if (!skel->links.on_register || !skel->links.on_complete)
		fprintf(stderr,
			"pinnet-bpf trace: io_uring tracepoints unavailable (%s): kernel-side events not shown\n",
			strerror(errno));
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL,
			      NULL);
	if (!rb) {
		fprintf(stderr, "pinnet-bpf trace: ring buffer: %s\n",
			strerror(errno));
		goto out;
	}
	if (env.json) {
		struct json_object *o = json_object_new_object();

		J_STR(o, "type", "attached");
		J_INT(o, "pid", env.pid);
		J_STR(o, "path", path);
		emit_json(o);
	} else {
		printf("tracing PID %d (%s); Ctrl-C to stop\n%10s %7s %-16s details\n",
		       env.pid, path, "TIME(s)", "PID", "EVENT");
		fflush(stdout);
	}
	t_start = now_s();
	while (!stop) {
		int n = ring_buffer__poll(rb, 100);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "pinnet-bpf trace: poll: %s\n",
				strerror(-n));
			goto out;
		}
		if (kill(env.pid, 0) && errno == ESRCH)
			break; /* the target is gone */
	}
	ring_buffer__consume(rb);
	if (skel->bss->dropped)
		fprintf(stderr,
			"pinnet-bpf trace: %llu events dropped (ring buffer full)\n",
			(unsigned long long)skel->bss->dropped);
	rc = 0;
out:
	ring_buffer__free(rb);
	pn_trace__destroy(skel); /* detaches; the probes' semaphores drop */
	return rc;
}

/* ---- symbols for leak stacks ---------------------------------------------------- */

struct sym {
	uint64_t addr, size;
	char *name;
};
struct symfile {
	char path[512];
	struct sym *syms;
	size_t n;
};
struct map {
	uint64_t start, end, off;
	char path[512];
};
static struct symfile symfiles[32];
static int nsymfiles;
static struct map maps[512];
static int nmaps;

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static struct symfile *load_syms(const char *path)
{
	struct symfile *sf;
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	for (int i = 0; i < nsymfiles; i++)
		if (!strcmp(symfiles[i].path, path))
			return &symfiles[i];
	if (nsymfiles == 32)
		return NULL;
	sf = &symfiles[nsymfiles++];
	snprintf(sf->path, sizeof(sf->path), "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sf;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0;
		     d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize;
		     i++) {
			GElf_Sym s;
			const char *nm;
			struct sym *t;

			if (!gelf_getsym(d, (int)i, &s) ||
			    GELF_ST_TYPE(s.st_info) != STT_FUNC || !s.st_value)
				continue;
			nm = elf_strptr(elf, sh.sh_link, s.st_name);
			if (!nm)
				continue;
			t = realloc(sf->syms, (sf->n + 1) * sizeof(*t));
			if (!t)
				break;
			sf->syms = t;
			sf->syms[sf->n++] = (struct sym){ s.st_value, s.st_size,
							  strdup(nm) };
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	qsort(sf->syms, sf->n, sizeof(*sf->syms), cmp_sym);
	return sf;
}

static void load_maps(int pid)
{
	char p[64], line[4096];
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/maps", pid);
	f = fopen(p, "r");
	nmaps = 0;
	while (f && fgets(line, sizeof(line), f) && nmaps < 512) {
		struct map *m = &maps[nmaps];
		char perms[8], file[4096] = "";

		if (sscanf(line,
			   "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64
			   " %*s %*u %4095[^\n]",
			   &m->start, &m->end, perms, &m->off, file) == 5 &&
		    perms[2] == 'x' && file[0] == '/') {
			snprintf(m->path, sizeof(m->path), "/proc/%d/root%s",
				 pid, file);
			nmaps++;
		}
	}
	if (f)
		fclose(f);
}

/* "function+0xoff" for a user address, or the hex address. */
static void symbolize(uint64_t addr, char *out, size_t len)
{
	for (int i = 0; i < nmaps; i++) {
		struct map *m = &maps[i];
		struct symfile *sf;
		uint64_t off;

		if (addr < m->start || addr >= m->end)
			continue;
		sf = load_syms(m->path);
		off = addr - m->start + m->off;
		/* executables and libraries here are PIE/PIC: vaddr == offset
		 * for the text segment of toolchain-default layouts */
		for (size_t k = sf ? sf->n : 0; k-- > 0;) {
			struct sym *s = &sf->syms[k];

			if (s->addr <= off &&
			    (off < s->addr + s->size || !s->size)) {
				snprintf(out, len, "%s+0x%" PRIx64, s->name,
					 off - s->addr);
				return;
			}
			if (s->addr <= off)
				break;
		}
		snprintf(out, len, "%s+0x%" PRIx64, strrchr(m->path, '/') + 1,
			 off);
		return;
	}
	snprintf(out, len, "0x%" PRIx64, addr);
}

/* ---- leaks --------------------------------------------------------------------- */

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

static int cmd_leaks(const char *path)
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
		struct json_object *o = json_object_new_object();

		J_STR(o, "type", "attached");
		J_INT(o, "pid", env.pid);
		J_STR(o, "path", path);
		emit_json(o);
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

/* ---- hist ---------------------------------------------------------------------- */

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

static int cmd_hist(const char *path)
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
		struct json_object *o = json_object_new_object();

		J_STR(o, "type", "attached");
		J_INT(o, "pid", env.pid);
		emit_json(o);
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

/* ---- arguments -------------------------------------------------------------------- */

const char *argp_program_version = "pinnet-bpf 0.1.0";
static const char doc[] =
	"Watch a live pinnet pool.\v"
	"Subcommands:\n"
	"  top   [-p PID] [-b] [INTERVAL [COUNT]]  counters of every pool (no BPF)\n"
	"  trace -p PID                        slow-path events + kernel registrations\n"
	"  leaks -p PID [-o AGE] [INTERVAL [COUNT]]  buffers out longer than AGE s\n"
	"  hist  -p PID [INTERVAL [COUNT]]     lifetime, wait-at-wall, grow histograms\n"
	"\n"
	"JSON (-j), one object per line, with \"type\": \"pool\" (top: pid, name,\n"
	"pinned_bytes, pinned_high, wall_bytes, vmpin_kb, classes[]: buf_size,\n"
	"pinned_bytes, in_use, free, high_water, blocks_*, grows, grow_refused,\n"
	"releases_<reason>, queue_len, queued, refusals, leaks, errors, blocks[] with\n"
	"-b), \"attached\", \"event\" (trace: event, time, pid, tid, buf_size, block,\n"
	"and per event: bytes, slot, latency_ns, reason, in_use, addr, owner, age_ms,\n"
	"queue_len, wait_ms, err, opcode, nr_bufs, ret, res), \"leak\" (count, bytes,\n"
	"size, owner, oldest_s, stack[]), \"leaks_done\", \"hist\" (hist, unit,\n"
	"count, buckets[]: low, high, count).\n"
	"\n"
	"OVERHEAD (measured by tests/bench/bench_bpf.sh, see README): top reads\n"
	"shared memory only: nothing in the target. trace attaches to slow-path\n"
	"probes only (grow, release, ...) and to io_uring's register/complete\n"
	"tracepoints (a filter per completion): no loss measurable above noise\n"
	"(< 3%). leaks and hist put uprobes on pn_buf_alloc (entry and return) and\n"
	"pn_buf_free: every allocation and free then traps into the kernel, about\n"
	"1-3 us each, so alloc+free loops slow down by two orders of magnitude:\n"
	"use them to find a leak, not while measuring. Nothing attached: the fast\n"
	"paths carry no probe at all; slow-path probes are one untaken branch.\n"
	"\n"
	"Needs root (CAP_BPF + CAP_PERFMON) except top, which needs read access to\n"
	"the counters files (their owner or root).";

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "the process to watch", 0 },
	{ "json", 'j', NULL, 0, "one JSON object per line", 0 },
	{ "older", 'o', "AGE", 0,
	  "leaks: report buffers out longer than AGE seconds (default 1)", 0 },
	{ "blocks", 'b', NULL, 0, "top: show every block", 0 },
	{ "dir", 'd', "DIR", 0, "top: counters folder (default /run/pinnet)",
	  0 },
	{ "verbose", 'v', NULL, 0, "libbpf's messages", 0 },
	{ 0 },
};

static error_t parse(int key, char *arg, struct argp_state *state)
{
	static int npos;
	char *end;

	switch (key) {
	case 'p':
		env.pid = (int)strtol(arg, &end, 10);
		if (*end || env.pid <= 0)
			argp_error(state, "-p wants a PID, not '%s'", arg);
		break;
	case 'j':
		env.json = true;
		break;
	case 'o':
		env.min_age = strtod(arg, &end);
		if (*end || env.min_age < 0)
			argp_error(state, "-o wants seconds, not '%s'", arg);
		break;
	case 'b':
		env.blocks = true;
		break;
	case 'd':
		env.dir = arg;
		break;
	case 'v':
		env.verbose = true;
		break;
	case ARGP_KEY_ARG:
		if (!env.cmd) {
			if (strcmp(arg, "top") && strcmp(arg, "trace") &&
			    strcmp(arg, "leaks") && strcmp(arg, "hist"))
				argp_error(state, "unknown subcommand '%s'",
					   arg);
			env.cmd = arg;
		} else if (npos == 0) {
			env.interval = strtod(arg, &end);
			if (*end || env.interval <= 0)
				argp_error(state,
					   "INTERVAL wants seconds, not '%s'",
					   arg);
			npos++;
		} else if (npos == 1) {
			env.count = strtol(arg, &end, 10);
			if (*end || env.count <= 0)
				argp_error(
					state,
					"COUNT wants a positive number, not '%s'",
					arg);
			npos++;
		} else {
			argp_error(state, "too many arguments");
		}
		break;
	case ARGP_KEY_END:
		if (!env.cmd)
			argp_error(
				state,
				"a subcommand is needed: top, trace, leaks or hist");
		if (strcmp(env.cmd, "top") && !env.pid)
			argp_error(state, "%s needs -p PID", env.cmd);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		opts, parse, "SUBCOMMAND [INTERVAL [COUNT]]", doc, NULL,
		NULL, NULL
	};
	char path[4700];
	int rc;

	rc = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (rc)
		return 2;
	stop_on_signals();
	if (!strcmp(env.cmd, "top")) {
		if (env.pid && check_pid(env.pid))
			return 1;
		return cmd_top();
	}
	if (check_caps() || check_btf() || check_pid(env.pid))
		return 1;
	elf_version(EV_CURRENT);
	if (find_probes(env.pid, path, sizeof(path)))
		return 1;
	libbpf_set_print(libbpf_out);
	if (!strcmp(env.cmd, "trace"))
		return cmd_trace(path);
	if (!strcmp(env.cmd, "leaks"))
		return cmd_leaks(path);
	return cmd_hist(path);
}
