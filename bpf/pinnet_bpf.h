/* SPDX-License-Identifier: MIT */
/*
 * Shared by the BPF programs in bpf/ and the pinnet-bpf CLI: plain
 * fixed-size records, no kernel or libc types.
 */
#ifndef PINNET_BPF_H
#define PINNET_BPF_H

/* Event kinds: the pool's USDT probes, then the kernel's io_uring side. */
enum pn_bpf_kind {
	PNB_GROW = 1,
	PNB_GROW_REFUSED,
	PNB_DRAIN,
	PNB_RELEASE,
	PNB_SHRINK_REFUSED,
	PNB_LEAK,
	PNB_QUEUED,
	PNB_DEQUEUED,
	PNB_UNDERUSE,
	PNB_REFUSED,
	PNB_BAD_FREE,
	PNB_K_REGISTER, /* io_uring:io_uring_register in the target */
	PNB_K_TAG, /* io_uring:io_uring_complete of a pool tag */
	PNB_KIND_NR,
};

struct pn_bpf_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	__u32 pid, tid;
	__u32 kind; /* enum pn_bpf_kind */
	__u32 buf_size; /* partition's buffer size (0 for kernel events) */
	__u32 block; /* block index, or slot for PNB_K_TAG */
	__u32 pad;
	__u64 bytes; /* block bytes, buffer size, queue length ... */
	__u64 a, b, c; /* kind-specific, see pinnet-bpf's trace */
};

/* leaks: one outstanding buffer */
struct pn_bpf_alloc {
	__u64 ts_ns; /* allocation time */
	__u32 size; /* class size */
	__u32 owner; /* owner tag */
	__s32 stack_id; /* user stack in the stacks map, < 0 unknown */
	__u32 pad;
};

/* hist: log2 histograms */
#define PNB_HIST_SLOTS 40
enum pn_bpf_hist {
	PNB_H_LIFETIME = 0, /* buffer lifetime, us */
	PNB_H_WAIT =
		1, /* wait at the wall before a queued request is served, ms */
	PNB_H_GROW = 2, /* grow latency, us */
	PNB_H_NR = 3,
};

#define PNB_STACK_DEPTH 32

#endif
