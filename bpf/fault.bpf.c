// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pinnet-fault: a tc classifier (direct-action, clsact ingress and egress)
 * that hurts frames the way a bad link does: drops, duplicates
 * (bpf_clone_redirect), corrupts (one bit flipped where a checksum will
 * catch it) and truncates them with configured probabilities, and sends a
 * share on a detour through a rate-limited HTB class (see pinnet-fault(1))
 * so they arrive late: reordered, or delayed when the share is 100%.
 *
 * The configuration lives in .data (memory-mapped by the CLI, changeable
 * while attached); counters are per CPU, per direction.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "fault.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

struct pn_fault_cfg cfg[PNF_DIR_NR] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PNF_DIR_NR *PNF_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 dir, __u32 what)
{
	__u32 key = dir * PNF_CNT_NR + what;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1;
}

static __always_inline int hit(__u32 p)
{
	return p && bpf_get_prandom_u32() < p;
}

static __always_inline __u32 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/*
 * Where may a flipped bit go so that the receiver can notice? A TCP or UDP
 * frame whose checksum is still partial (the sender left it to an offload
 * that a veth never performs; the field holds only the pseudo-header sum)
 * is covered by no checksum past the IPv4 header: corrupting its payload
 * models no real wire, where the NIC completes the checksum first. Such
 * frames are corrupted inside the IPv4 header (its checksum is always
 * complete). Returns the first byte that may be corrupted; *end the last+1.
 */
static __always_inline __u32 corrupt_range(struct __sk_buff *skb, __u32 *end,
					   __u32 *hdr_only)
{
	struct iphdr ip;
	__u16 check;
	__u32 ihl, l4len, off, sum;

	*end = skb->len;
	*hdr_only = 0;
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return ETH_HLEN;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return ETH_HLEN;
	ihl = ip.ihl * 4;
	if (ihl < 20 ||
	    (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP))
		return ETH_HLEN;
	off = ETH_HLEN + ihl + (ip.protocol == IPPROTO_TCP ? 16 : 6);
	if (bpf_skb_load_bytes(skb, off, &check, sizeof(check)))
		return ETH_HLEN;
	l4len = bpf_ntohs(ip.tot_len) - ihl;
	sum = (bpf_ntohl(ip.saddr) >> 16) + (bpf_ntohl(ip.saddr) & 0xffff) +
	      (bpf_ntohl(ip.daddr) >> 16) + (bpf_ntohl(ip.daddr) & 0xffff) +
	      ip.protocol + l4len;
	if (fold(sum) == bpf_ntohs(check)) {
		*end = ETH_HLEN + ihl;
		*hdr_only = 1;
	}
	return ETH_HLEN;
}

static __always_inline int corrupt(struct __sk_buff *skb, __u32 dir)
{
	__u32 start, end, hdr_only, off;
	__u8 b;

	start = corrupt_range(skb, &end, &hdr_only);
	if (end <= start)
		return -1;
	off = start + bpf_get_prandom_u32() % (end - start);
	if (off > 0xffff)
		return -1;
	if (bpf_skb_load_bytes(skb, off, &b, 1))
		return -1;
	b ^= 1 << (bpf_get_prandom_u32() & 7);
	if (bpf_skb_store_bytes(skb, off, &b, 1, 0))
		return -1;
	if (hdr_only)
		count(dir, PNF_CORRUPT_HDR);
	return 0;
}

static __always_inline int fault(struct __sk_buff *skb, __u32 dir)
{
	struct pn_fault_cfg *c = &cfg[dir & 1];
	__u32 len;

	/* our own duplicate coming round again: pass it untouched */
	if (skb->mark & PNF_MARK) {
		skb->mark &= ~PNF_MARK;
		return TC_ACT_OK;
	}
	count(dir, PNF_SEEN);
	if (hit(c->drop)) {
		count(dir, PNF_DROPPED);
		return TC_ACT_SHOT;
	}
	if (hit(c->truncate) && skb->len > ETH_HLEN + 1) {
		len = ETH_HLEN + bpf_get_prandom_u32() % (skb->len - ETH_HLEN);
		if (bpf_skb_change_tail(skb, len, 0) == 0)
			count(dir, PNF_TRUNCATED);
		else
			count(dir, PNF_FAILED);
	}
	if (hit(c->corrupt)) {
		if (corrupt(skb, dir) == 0)
			count(dir, PNF_CORRUPTED);
		else
			count(dir, PNF_FAILED);
	}
	if (hit(c->dup)) {
		skb->mark |= PNF_MARK;
		if (bpf_clone_redirect(skb, skb->ifindex,
				       dir == PNF_INGRESS ? BPF_F_INGRESS :
							    0) == 0)
			count(dir, PNF_DUPLICATED);
		else
			count(dir, PNF_FAILED);
		skb->mark &= ~PNF_MARK;
	}
	if (hit(c->detour)) {
		/* HTB (on this device, or on the IFB ingress frames go to)
		 * classifies by skb->priority when it names one of its classes */
		skb->priority = PNF_DETOUR_CLASS;
		count(dir, PNF_DETOURED);
		if (dir == PNF_INGRESS && c->ifb_ifindex) {
			/* should the IFB hand it back to us, pass it */
			skb->mark |= PNF_MARK;
			return bpf_redirect(c->ifb_ifindex, 0);
		}
	}
	return TC_ACT_OK;
}

SEC("tc")
int pn_fault_ingress(struct __sk_buff *skb)
{
	return fault(skb, PNF_INGRESS);
}

SEC("tc")
int pn_fault_egress(struct __sk_buff *skb)
{
	return fault(skb, PNF_EGRESS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
