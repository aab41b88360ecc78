// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pinnet-bpf hist: log2 histograms of buffer lifetime (pn_buf_alloc()
 * return to pn_buf_free(), uprobes), of the wait of queued requests at the
 * wall and of grow latency (USDT).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "pinnet_bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, __u64);
	__type(value, __u64);
} born SEC(".maps");

__u64 hist[PNB_H_NR][PNB_HIST_SLOTS] = {};

static __always_inline void add(int h, __u64 v)
{
	__u32 slot = 0;

	while (v > 1 && slot < PNB_HIST_SLOTS - 1) {
		v >>= 1;
		slot++;
	}
	if (h >= 0 && h < PNB_H_NR)
		__sync_fetch_and_add(&hist[h][slot], 1);
}

static __always_inline void birth(__u64 addr)
{
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&born, &addr, &now, BPF_ANY);
}

SEC("uretprobe")
int BPF_KRETPROBE(on_alloc_ret, void *ret)
{
	if (ret)
		birth((__u64)ret);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_free, void *pool, void *buf)
{
	__u64 addr = (__u64)buf;
	__u64 *t = bpf_map_lookup_elem(&born, &addr);

	if (t) {
		add(PNB_H_LIFETIME, (bpf_ktime_get_ns() - *t) / 1000);
		bpf_map_delete_elem(&born, &addr);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_dequeued, __u32 buf_size, __u64 addr, __u64 wait_ms, int err,
	     __u32 owner)
{
	add(PNB_H_WAIT, wait_ms);
	if (addr)
		birth(addr);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_async_alloc, __u32 buf_size, __u64 addr, __u32 owner)
{
	birth(addr);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_grow, __u32 buf_size, __u32 block, __u64 bytes, __u32 slot,
	     __u64 lat_ns)
{
	add(PNB_H_GROW, lat_ns / 1000);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
