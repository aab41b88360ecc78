/* SPDX-License-Identifier: MIT */
/*
 * Shared by bpf/fault.bpf.c and pinnet-fault: the configuration of one
 * direction and the counters' layout. Probabilities are fractions of 2^32
 * (0: never; 0xffffffff: always).
 */
#ifndef PINNET_FAULT_H
#define PINNET_FAULT_H

enum pn_fault_dir {
	PNF_INGRESS = 0, /* frames the device receives */
	PNF_EGRESS = 1, /* frames the device sends */
	PNF_DIR_NR,
};

enum pn_fault_counter {
	PNF_SEEN = 0,
	PNF_DROPPED,
	PNF_DUPLICATED,
	PNF_CORRUPTED,
	PNF_CORRUPT_HDR, /* of those, inside the IPv4 header (partial csum) */
	PNF_TRUNCATED,
	PNF_DETOURED,
	PNF_FAILED, /* a helper refused (frame passed as it was) */
	PNF_CNT_NR,
};

/* skb->mark bit on our own duplicates and detours, so they pass once */
#define PNF_MARK 0x40000000u

/* HTB class 1:2 (the detour) on the device, or on its IFB for ingress */
#define PNF_DETOUR_CLASS 0x00010002u

struct pn_fault_cfg {
	__u32 drop;
	__u32 dup;
	__u32 corrupt;
	__u32 truncate;
	__u32 detour;
	__u32 ifb_ifindex; /* ingress detours go there (0: none) */
};

#endif
