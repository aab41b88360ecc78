// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pinnet-bpf leaks: every buffer the pool hands out, with its size, owner
 * tag, time and allocating user stack, until it is freed (like memleak).
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

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PNB_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

__u64 lost = 0; /* allocations not recorded (map full) */

SEC("usdt")
int BPF_USDT(on_alloc, __u64 addr, __u32 size, __u32 owner)
{
	struct pn_bpf_alloc a = {
		.ts_ns = bpf_ktime_get_ns(),
		.size = size,
		.owner = owner,
	};

	a.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (bpf_map_update_elem(&allocs, &addr, &a, BPF_ANY))
		__sync_fetch_and_add(&lost, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_free, __u64 addr, __u32 size)
{
	bpf_map_delete_elem(&allocs, &addr);
	return 0;
}

/* a buffer reclaimed as leaked (000 block 412) is no longer out */
SEC("usdt")
int BPF_USDT(on_leak, __u32 buf_size, __u32 block, __u64 addr, __u32 owner,
	     __u64 age_ms)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
