/* SPDX-License-Identifier: MIT */
/*
 * pinnet-bpf trace: one line per slow-path event of the pool (its USDT
 * probes) and per kernel-side registration step (io_uring tracepoints).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pinnet_bpf.h"
#include "trace.skel.h"
#include "subcmd.h"
#include "util.h"

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
	return r < 7 ? reasons[r] : "?";
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

int cmd_trace(const char *path)
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
		emit_attached(path);
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
