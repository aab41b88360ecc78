/* SPDX-License-Identifier: MIT */
/*
 * TCP behaviour lwIP 2.1.3 lacks (tcp_ext.c). lwIP types only.
 */
#ifndef PINNET_TCP_EXT_H
#define PINNET_TCP_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwip/tcp.h"

/* NewReno partial ACKs and early retransmit: after each input batch. */
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

#endif /* PINNET_TCP_EXT_H */
