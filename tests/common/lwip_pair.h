/* SPDX-License-Identifier: MIT */
/*
 * Two lwIP stacks in one process, A and B, joined by a wire in memory:
 * each side's frames queue for the other until pump() delivers them (and
 * runs the fast timer for delayed ACKs, until the wire is quiet). For the
 * programs that run lwIP alone (lwip_alone.h first): the pcb table's test
 * and its benchmark. Addresses 10.77.0.N with MAC 02:70:6e:68:00:N, static
 * ARP entries for each other (pair_init()).
 */
#ifndef PINNET_TEST_LWIP_PAIR_H
#define PINNET_TEST_LWIP_PAIR_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/inet_chksum.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/state.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/tcp.h"
#include "lwip/tcp.h"
#include "netif/ethernet.h"

/* what the including program does when the wire fails: a test's assertion */
#ifndef PAIR_FAIL
#include <stdio.h>
#define PAIR_FAIL(msg) (fprintf(stderr, "lwip_pair: %s\n", msg), abort())
#endif

struct frame {
	struct frame *next;
	u16_t len;
	u8_t data[];
};

struct fq {
	struct frame *head, *tail;
};

struct side {
	struct lwip_state st;
	struct netif nif;
	ip4_addr_t ip;
	u8_t mac[6];
	struct fq in; /* frames on their way to this side */
	struct side *peer;
};

static struct side A, B;
static struct fq captured; /* a side's output while capturing */
static bool capturing;

static inline void fq_push(struct fq *q, struct frame *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
}

static inline struct frame *fq_pop(struct fq *q)
{
	struct frame *f = q->head;

	if (f) {
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
	}
	return f;
}

static inline void fq_free(struct fq *q)
{
	struct frame *f;

	while ((f = fq_pop(q)))
		free(f);
}

static inline err_t side_output(struct netif *n, struct pbuf *p)
{
	struct side *s = n->state;
	struct frame *f = malloc(sizeof(*f) + p->tot_len);

	if (!f)
		return ERR_MEM;
	f->len = pbuf_copy_partial(p, f->data, p->tot_len, 0);
	fq_push(capturing ? &captured : &s->peer->in, f);
	return ERR_OK;
}

static inline err_t side_netif_init(struct netif *n)
{
	struct side *s = n->state;

	n->linkoutput = side_output;
	n->output = etharp_output;
	n->mtu = 1500;
	n->hwaddr_len = 6;
	memcpy(n->hwaddr, s->mac, 6);
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
		   NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

static inline void deliver(struct side *s, struct frame *f)
{
	struct pbuf *p;

	lwip_state = &s->st;
	p = pbuf_alloc(PBUF_RAW, f->len, PBUF_POOL);
	if (p) {
		pbuf_take(p, f->data, f->len);
		if (s->nif.input(p, &s->nif) != ERR_OK)
			pbuf_free(p);
	}
	free(f);
}

/* Frames both ways until the wire is quiet, delayed ACKs included */
static inline void pump(void)
{
	for (int turn = 0; turn < 1000; turn++) {
		bool moved = false;
		struct side *sides[2] = { &A, &B };

		for (int i = 0; i < 2; i++) {
			struct frame *f;

			while ((f = fq_pop(&sides[i]->in))) {
				deliver(sides[i], f);
				moved = true;
			}
		}
		if (!moved) {
			lwip_state = &A.st;
			tcp_fasttmr();
			lwip_state = &B.st;
			tcp_fasttmr();
			if (!A.in.head && !B.in.head)
				return;
		}
	}
	PAIR_FAIL("the wire does not go quiet");
}

/* A segment from the peer's address to s (no options, no data) */
static inline void inject(struct side *s, u16_t sport, u16_t dport, u32_t seq,
			  u32_t ack, u8_t flags)
{
	struct frame *f = calloc(1, sizeof(*f) + 14 + 20 + 20);
	struct ip_hdr *ip;
	struct tcp_hdr *th;
	u8_t sum[12 + 20]; /* the pseudo-header, then the segment */

	if (!f) {
		PAIR_FAIL("out of memory");
		return;
	}
	ip = (struct ip_hdr *)(f->data + 14);
	th = (struct tcp_hdr *)(f->data + 34);
	f->len = 14 + 20 + 20;
	memcpy(f->data, s->mac, 6);
	memcpy(f->data + 6, s->peer->mac, 6);
	f->data[12] = 0x08;
	IPH_VHL_SET(ip, 4, 5);
	IPH_LEN_SET(ip, lwip_htons(40));
	IPH_TTL_SET(ip, 64);
	IPH_PROTO_SET(ip, IP_PROTO_TCP);
	ip4_addr_copy(ip->src, s->peer->ip);
	ip4_addr_copy(ip->dest, s->ip);
	IPH_CHKSUM_SET(ip, inet_chksum(ip, 20));
	th->src = lwip_htons(sport);
	th->dest = lwip_htons(dport);
	th->seqno = lwip_htonl(seq);
	th->ackno = lwip_htonl(ack);
	TCPH_HDRLEN_FLAGS_SET(th, 5, flags);
	th->wnd = PP_HTONS(65535);
	memcpy(sum, &s->peer->ip, 4);
	memcpy(sum + 4, &s->ip, 4);
	sum[8] = 0;
	sum[9] = IP_PROTO_TCP;
	sum[10] = 0;
	sum[11] = 20;
	memcpy(sum + 12, th, 20);
	th->chksum = inet_chksum(sum, sizeof(sum));
	deliver(s, f);
}

struct seg {
	u16_t sport, dport;
	u32_t seq, ack;
	u8_t flags;
};

static inline bool parse_seg(const struct frame *f, struct seg *sg)
{
	const struct tcp_hdr *th = (const struct tcp_hdr *)(f->data + 34);

	if (f->len < 54 || f->data[23] != IP_PROTO_TCP)
		return false;
	sg->sport = lwip_ntohs(th->src);
	sg->dport = lwip_ntohs(th->dest);
	sg->seq = lwip_ntohl(th->seqno);
	sg->ack = lwip_ntohl(th->ackno);
	sg->flags = TCPH_FLAGS(th);
	return true;
}

static inline void side_init(struct side *s, struct side *peer, u8_t last)
{
	ip4_addr_t m, g;
	const u8_t mac[6] = { 0x02, 0x70, 0x6e, 0x68, 0, last };

	memcpy(s->mac, mac, 6);
	IP4_ADDR(&s->ip, 10, 77, 0, last);
	IP4_ADDR(&m, 255, 255, 255, 0);
	IP4_ADDR(&g, 10, 77, 0, 254);
	s->peer = peer;
	lwip_state_init(&s->st);
	lwip_state = &s->st;
	lwip_init();
	netif_add(&s->nif, &s->ip, &m, &g, s, side_netif_init, ethernet_input);
	netif_set_default(&s->nif);
	netif_set_up(&s->nif);
}

/* A at 10.77.0.1, B at 10.77.0.2, each knowing the other's MAC */
static inline void pair_init(void)
{
	side_init(&A, &B, 1);
	side_init(&B, &A, 2);
	lwip_state = &A.st;
	etharp_add_static_entry(&B.ip, (struct eth_addr *)B.mac);
	lwip_state = &B.st;
	etharp_add_static_entry(&A.ip, (struct eth_addr *)A.mac);
}

#endif
