/* SPDX-License-Identifier: MIT */
/*
 * pinnet's lwIP options. lwIP is compiled from source with this file and
 * pinnet's patches (patches/lwip; Debian's prebuilt liblwip is a threaded
 * Hurd build with 64 KiB windows and copying TX, docs/stack.md). Every
 * choice says why.
 */
#ifndef PINNET_LWIPOPTS_H
#define PINNET_LWIPOPTS_H

/* ---- threading: each stack's lwIP state is its own (patch 0002), driven
 * by one thread at a time from pinnet's loop */
#define NO_SYS 1 /* no tcpip thread: pinnet's loop calls lwIP */
#define SYS_LIGHTWEIGHT_PROT 0 /* nothing to protect: one thread per stack */
#define LWIP_SOCKET 0 /* pinnet has its own socket-like API */
#define LWIP_NETCONN 0
#define LWIP_TIMERS 1 /* sys_check_timeouts() from the loop */

/* ---- memory: lwIP allocates through pinnet (stack/mem.c): blocks big
 * enough to hold segment data (PBUF_RAM pbufs, the TCP send buffer) come
 * from the pinned pool, so pinned memory is accounted in one place and TX
 * frames go out without a copy; small structures (pcbs, segments) come
 * from libc. Received frames live in the pool as custom pbufs. */
#include <stddef.h>
void *pinnet_lwip_malloc(size_t size);
void *pinnet_lwip_calloc(size_t n, size_t size);
void pinnet_lwip_free(void *p);
#define MEM_LIBC_MALLOC 1
#define mem_clib_malloc pinnet_lwip_malloc
#define mem_clib_calloc pinnet_lwip_calloc
#define mem_clib_free pinnet_lwip_free
#define MEMP_MEM_MALLOC 1
/* room for the virtio_net_hdr in front of every frame lwIP builds */
#define PBUF_LINK_ENCAPSULATION_HLEN 10
#define MEM_ALIGNMENT 8
#define LWIP_SUPPORT_CUSTOM_PBUF 1 /* RX frames stay in pool buffers */
#define PBUF_POOL_SIZE 64

/* ---- protocols */
#define LWIP_IPV4 1
#define LWIP_IPV6 0 /* later */
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1 /* the stack answers ping */
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define ARP_QUEUEING 1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1

/* ---- TCP sized for veth speeds: 1 MiB windows need window scaling. A 64
 * KiB window caps one connection near 64 MB/s at a 1 ms round trip. */
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 5
#define TCP_WND (1024 * 1024)
#define TCP_SND_BUF (1024 * 1024)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
/* lwIP keeps TCP_SNDLOWAT in a u16: init.c wants it 4*MSS below 65535 */
#define TCP_SNDLOWAT 32768
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 2)
#define TCP_QUEUE_OOSEQ 1 /* veth reorders a little; keep OOO segments */
#define LWIP_TCP_SACK_OUT 1
/* lwIP counts retransmission timeouts in slow-timer ticks (2 x this). At
 * the default 250 ms a lost segment lwIP's fast retransmit misses (it has
 * no SACK input and leaves recovery on the first partial ACK) costs at
 * least 0.5-1 s. At 5 ms (fast timer 5 ms, slow timer 10 ms) the RTO
 * follows a LAN's round trip (floor about 30 ms) and delayed ACKs go out
 * within 5-10 ms (a whole tick after the segment, patch 0011); the loop
 * sleeps until the next timer anyway. */
#define TCP_TMR_INTERVAL 5
/* one word per connection for the NewReno partial-ACK recovery of
 * stack/tcp_ext.c */
#define LWIP_TCP_PCB_NUM_EXT_ARGS 1
/* Timestamps (RFC 7323) on. Without them a Linux sender cannot tell a
 * spurious retransmission from a real one, so every reordering it took
 * for loss cuts CUBIC's window for good (a veth reorders: each CPU's
 * backlog drains on its own). With them, Linux undoes some of those cuts;
 * stack/tcp_ext.c adds the D-SACK lwIP lacks, which tells the sender the
 * rest. */
#define LWIP_TCP_TIMESTAMPS 1
#define TCP_LISTEN_BACKLOG 1
#define MEMP_NUM_TCP_PCB 4096
#define MEMP_NUM_TCP_PCB_LISTEN 64
#define MEMP_NUM_TCP_SEG 65536
#define LWIP_TCP_KEEPALIVE 1 /* SO_KEEPALIVE */
/* TIME-WAIT lasts 2 x MSL: 60 s, as on Linux (lwIP's default is 2 min) */
#define TCP_MSL 30000UL
#define SO_REUSE 1 /* SO_REUSEADDR */

/* ---- frames: scatter-gather TX (no forced copy), per-netif checksum control
 * so frames the kernel vouched for (virtio_net_hdr) skip the TCP check. */
#define LWIP_NETIF_TX_SINGLE_PBUF 0
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
/* transmit offload (stack/tx.c): lwIP tells, for each segment it sends,
 * its connection (merging needs it) and whether it is a retransmission
 * (sent alone, MSS-sized) */
#include <stdint.h>
struct pbuf;
struct tcp_hdr;
struct tcp_pcb;
uint32_t *pinnet_tcp_out_hook(struct pbuf *p, struct tcp_hdr *hdr,
			      const struct tcp_pcb *pcb, uint32_t *opts);
#define LWIP_HOOK_TCP_OUT_ADD_TCPOPTS(p, hdr, pcb, opts) \
	pinnet_tcp_out_hook(p, hdr, pcb, opts)
/* every segment that found its pcb, before lwIP takes it: a SYN to a
 * listener is dropped there when the stack is at its connection limit
 * (pn_stack_opts.max_conns; stack/sock_lwip.c) */
signed char pinnet_tcp_in_hook(struct tcp_pcb *pcb, const struct tcp_hdr *hdr);
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) \
	pinnet_tcp_in_hook((struct tcp_pcb *)(pcb), hdr)

/* ---- connections by 4-tuple (patch 0005): tcp_input() finds a segment's
 * pcb in a hash table of the active and TIME-WAIT pcbs. Its hash is keyed
 * with a random seed of the stack's (stack/tcp_hash.c: XXH3), so that a
 * peer cannot choose ports that all land in one bucket; its buckets are
 * lwIP's bookkeeping, from libc, not the pinned pool (mem_malloc would
 * place blocks of 1 KiB and more there). Initial sequence numbers are RFC
 * 6528's: SipHash-2-4 of the 4-tuple with a secret of the stack's, plus a
 * 4 us clock (lwIP's own added the timer ticks to the last one: anyone
 * could predict them). Both hooks find the stack from lwip_state. */
struct ip4_addr;
uint32_t pinnet_tcp_hash(const struct ip4_addr *local_ip, uint16_t local_port,
			 const struct ip4_addr *remote_ip,
			 uint16_t remote_port);
uint32_t pinnet_tcp_isn(const struct ip4_addr *local_ip, uint16_t local_port,
			const struct ip4_addr *remote_ip, uint16_t remote_port);
#define LWIP_HOOK_TCP_HASH(local_ip, local_port, remote_ip, remote_port) \
	pinnet_tcp_hash(local_ip, local_port, remote_ip, remote_port)
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
	pinnet_tcp_isn(local_ip, local_port, remote_ip, remote_port)
#include <stdlib.h>
#define LWIP_TCP_PCB_HASH_ALLOC(size) malloc(size)
#define LWIP_TCP_PCB_HASH_FREE(ptr) free(ptr)

#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define ETH_PAD_SIZE 0

/* ---- observability: lwIP's own counters, per stack (struct lwip_state),
 * for a debugger or a test (pinnet's counters are pn_stack_stats()) */
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define MEM_STATS 1
#define MEMP_STATS 0 /* the pools' statistics are global, not per stack */
#define LINK_STATS 1
#define ETHARP_STATS 1
#define IP_STATS 1
/* No IPv4 reassembly: TCP here sends DF segments sized to the MTU, so
 * fragments are only ever hostile, and the fuzzer found lwIP 2.1.3's
 * reassembly losing a pbuf on a crafted fragment sequence (a leak a peer
 * could repeat until the pool is exhausted). Fragments are dropped. */
#define IP_REASSEMBLY 0
/* No fragmentation either: TCP segments bigger than the MTU are super-
 * frames the kernel segments (stack/tx.c), not IPv4 fragments. */
#define IP_FRAG 0
#define TCP_STATS 1
#define LWIP_DEBUG 0

#endif /* PINNET_LWIPOPTS_H */
