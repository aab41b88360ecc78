// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pinnet-bpf leaks: every buffer the pool hands out, with its size, owner
 * tag, time and allocating user stack, until it is freed (like memleak).
 * Buffers come from pn_buf_alloc() (uprobe at entry for size and owner,
 * uretprobe for the address and the caller's stack), from the queue
 * (USDT dequeued) and from pn_buf_alloc_async() at once (USDT async_alloc);
 * they go back through pn_buf_free() (uprobe).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "pinnet_bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, __u64); /* buffer address */
	__type(value, struct pn_bpf_alloc);
} allocs SEC(".maps");

struct pn_req {
	__u64 size;
	__u32 owner;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* thread */
	__type(value, struct pn_req);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PNB_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

__u64 lost = 0; /* allocations not recorded (map full) */

static __always_inline void record(void *ctx, __u64 addr, __u64 size,
				   __u32 owner)
{
	struct pn_bpf_alloc a = {
		.ts_ns = bpf_ktime_get_ns(),
		.size = (__u32)size,
		.owner = owner,
	};

	a.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (bpf_map_update_elem(&allocs, &addr, &a, BPF_ANY))
		__sync_fetch_and_add(&lost, 1);
}

/* void *pn_buf_alloc(struct pn_pool *pool, size_t size, uint32_t owner) */
SEC("uprobe")
int BPF_KPROBE(on_alloc, void *pool, __u64 size, __u32 owner)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pn_req r = { size, owner };

	bpf_map_update_elem(&pending, &tid, &r, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_alloc_ret, void *ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pn_req *r = bpf_map_lookup_elem(&pending, &tid);

	if (r && ret)
		record(ctx, (__u64)ret, r->size, r->owner);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/* int pn_buf_free(struct pn_pool *pool, void *buf) */
SEC("uprobe")
int BPF_KPROBE(on_free, void *pool, void *buf)
{
	__u64 addr = (__u64)buf;

	bpf_map_delete_elem(&allocs, &addr);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_dequeued, __u32 buf_size, __u64 addr, __u64 wait_ms, int err,
	     __u32 owner)
{
	if (addr)
		record(ctx, addr, buf_size, owner);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_async_alloc, __u32 buf_size, __u64 addr, __u32 owner)
{
	record(ctx, addr, buf_size, owner);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
