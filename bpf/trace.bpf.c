// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pinnet-bpf trace: one record per slow-path event of the pool (its USDT
 * probes) and per kernel-side step of each registration: the io_uring
 * register call and the tag completion that confirms a release.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "pinnet_bpf.h"

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* rings (io_ring_ctx) of the target, learned from its register calls */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} rings SEC(".maps");

__u64 dropped = 0; /* events the ring buffer had no room for */

static __always_inline int emit(__u32 kind, __u32 buf_size, __u32 block,
				__u64 bytes, __u64 a, __u64 b, __u64 c)
{
	struct pn_bpf_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->kind = kind;
	e->buf_size = buf_size;
	e->block = block;
	e->pad = 0;
	e->bytes = bytes;
	e->a = a;
	e->b = b;
	e->c = c;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_grow, __u32 buf_size, __u32 block, __u64 bytes, __u32 slot,
	     __u64 lat_ns)
{
	return emit(PNB_GROW, buf_size, block, bytes, slot, lat_ns, 0);
}

SEC("usdt")
int BPF_USDT(on_grow_refused, __u32 buf_size, __u64 bytes, int err)
{
	return emit(PNB_GROW_REFUSED, buf_size, ~0u, bytes, (__u64)(long)err, 0,
		    0);
}

SEC("usdt")
int BPF_USDT(on_drain, __u32 buf_size, __u32 block, __u64 in_use, int reason)
{
	return emit(PNB_DRAIN, buf_size, block, 0, in_use, reason, 0);
}

SEC("usdt")
int BPF_USDT(on_release, __u32 buf_size, __u32 block, __u64 bytes, int reason)
{
	return emit(PNB_RELEASE, buf_size, block, bytes, reason, 0, 0);
}

SEC("usdt")
int BPF_USDT(on_shrink_refused, __u32 buf_size, __u32 block, __u64 in_use)
{
	return emit(PNB_SHRINK_REFUSED, buf_size, block, 0, in_use, 0, 0);
}

SEC("usdt")
int BPF_USDT(on_leak, __u32 buf_size, __u32 block, __u64 addr, __u32 owner,
	     __u64 age_ms)
{
	return emit(PNB_LEAK, buf_size, block, buf_size, addr, owner, age_ms);
}

SEC("usdt")
int BPF_USDT(on_queued, __u32 buf_size, __u64 qlen, __u32 owner)
{
	return emit(PNB_QUEUED, buf_size, ~0u, buf_size, qlen, owner, 0);
}

SEC("usdt")
int BPF_USDT(on_dequeued, __u32 buf_size, __u64 addr, __u64 wait_ms, int err,
	     __u32 owner)
{
	return emit(PNB_DEQUEUED, buf_size, ~0u, buf_size, addr, wait_ms,
		    (__u64)(long)err);
}

SEC("usdt")
int BPF_USDT(on_underuse, __u32 buf_size, __u64 nfree, __u64 threshold)
{
	return emit(PNB_UNDERUSE, buf_size, ~0u, 0, nfree, threshold, 0);
}

SEC("usdt")
int BPF_USDT(on_refused, __u32 buf_size, __u64 size, int err)
{
	return emit(PNB_REFUSED, buf_size, ~0u, size, (__u64)(long)err, 0, 0);
}

SEC("usdt")
int BPF_USDT(on_bad_free, __u64 addr, int err)
{
	return emit(PNB_BAD_FREE, 0, ~0u, 0, addr, (__u64)(long)err, 0);
}

SEC("tracepoint/io_uring/io_uring_register")
int on_register(struct trace_event_raw_io_uring_register *ctx)
{
	__u64 ring = (__u64)ctx->ctx;
	__u8 one = 1;

	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	bpf_map_update_elem(&rings, &ring, &one, BPF_ANY);
	return emit(PNB_K_REGISTER, 0, ~0u, 0, ctx->opcode, ctx->nr_bufs,
		    (__u64)ctx->ret);
}

SEC("tracepoint/io_uring/io_uring_complete")
int on_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	__u64 ring = (__u64)ctx->ctx;
	__u64 ud = ctx->user_data;

	/* only the pool's tags (top bits "pn"), only on the target's rings */
	if ((ud >> 48) != 0x706e || !bpf_map_lookup_elem(&rings, &ring))
		return 0;
	return emit(PNB_K_TAG, 0, (__u32)(ud >> 32) & 0xffff, 0, ud, ctx->res,
		    0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
