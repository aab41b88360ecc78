/* SPDX-License-Identifier: MIT */
/*
 * TCP behaviour lwIP 2.1.3 lacks (tcp_ext.c), and the keyed hashes of a
 * connection's 4-tuple behind lwIP's hooks (tcp_hash.c). lwIP types only.
 */
#ifndef PINNET_TCP_EXT_H
#define PINNET_TCP_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwip/tcp.h"

/* NewReno partial ACKs and early retransmit: after each input batch, for
 * the connections noted during it (tcp_loss_note(), from the input hook) */
void tcp_loss_note(struct tcp_pcb *pcb);
void tcp_loss_recovery(void);

/* D-SACK for a data segment wholly below rcv_nxt: mark before lwIP takes
 * the frame (ip4: its IPv4 header, len bytes from there), unmark after. */
struct dsack_mark {
	struct tcp_pcb *pcb;
	ip4_addr_t local_ip, remote_ip; /* its 4-tuple, to find it again */
	uint16_t local_port, remote_port;
	struct tcp_sack_range saved[LWIP_TCP_MAX_SACK_NUM];
};
bool tcp_dsack_mark(const void *ip4, size_t len, struct dsack_mark *m);
void tcp_dsack_unmark(const struct dsack_mark *m);

/*
 * A stack's secrets for the keyed hashes of a connection's 4-tuple (local
 * address and port, remote address and port; addresses in network byte
 * order, ports in host order, as lwIP holds them).
 */
struct tcp_keys {
	uint64_t hash_seed; /* XXH3's seed: lwIP's pcb table (patch 0005) */
	unsigned char isn_key[16]; /* SipHash-2-4's key: RFC 6528 ISNs */
};

/* Draws both from getrandom(): 0, or -errno. */
int tcp_keys_init(struct tcp_keys *k);
/* The hash by which lwIP's table finds a connection (LWIP_HOOK_TCP_HASH). */
uint32_t tcp_tuple_hash(const struct tcp_keys *k, const ip4_addr_t *local_ip,
			uint16_t local_port, const ip4_addr_t *remote_ip,
			uint16_t remote_port);
/* RFC 6528's initial sequence number (LWIP_HOOK_TCP_ISN): the keyed hash
 * of the tuple plus now_ns in 4 us units. */
uint32_t tcp_tuple_isn(const struct tcp_keys *k, const ip4_addr_t *local_ip,
		       uint16_t local_port, const ip4_addr_t *remote_ip,
		       uint16_t remote_port, uint64_t now_ns);

#endif /* PINNET_TCP_EXT_H */
