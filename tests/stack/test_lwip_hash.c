/* SPDX-License-Identifier: MIT */
/*
 * Unit: lwIP's table of connections by 4-tuple (patch 0005) and the keyed
 * hashes behind its hooks (stack/tcp_hash.c). Two lwIP stacks in one
 * process, A (server) and B (client), joined by a wire in memory: B opens
 * 3000 connections to A, both send on every one in random order, and each
 * message must reach the pcb of its own connection on either side while
 * connections move to TIME-WAIT, time out there or in FIN-WAIT-2, are
 * reset, killed for memory and aborted by an address change. After each
 * step the table and the lists must agree exactly. Then RFC 6528's ISNs:
 * the same tuple later starts higher, other tuples start elsewhere.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/priv/state.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include "cu_run.h"
#include "lwip_alone.h" /* allocator, output and 4-tuple hooks */
#define PAIR_FAIL(msg) CU_FAIL(msg)
#include "lwip_pair.h" /* A and B, the wire between them */

u32_t sys_now(void);
u32_t sys_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

#define NCONN 3000
#define PORT0 20000 /* B's port for connection i: PORT0 + i */
#define SPORT 80 /* A's listener */
#define MAGIC 0x504e4854u
#define BATCH 100 /* connections opened at once (the listen backlog) */

/* ---- the connections ------------------------------------------------------ */

struct conn {
	struct tcp_pcb *pcb; /* NULL: closed here, or gone */
	unsigned int rx; /* messages that reached this connection's pcb */
	bool established, fin, gone;
};

static struct conn a_conn[NCONN], b_conn[NCONN];
static unsigned int misrouted; /* messages that reached another pcb */
static bool b_close_on_fin = true;

static int conn_index(const struct conn *table, const struct conn *c)
{
	return (int)(c - table);
}

/* Every message names the connection it was sent on (B's index); the
 * receiving pcb must be that connection's */
static void take(struct conn *table, struct conn *c, struct tcp_pcb *pcb,
		 struct pbuf *p, bool echo)
{
	u8_t buf[512];
	u16_t n = pbuf_copy_partial(p, buf, sizeof(buf), 0);

	CU_ASSERT_EQUAL(n % 8, 0);
	for (u16_t off = 0; off + 8 <= n; off += 8) {
		u32_t magic, idx;

		memcpy(&magic, buf + off, 4);
		memcpy(&idx, buf + off + 4, 4);
		if (magic == MAGIC && (int)idx == conn_index(table, c) &&
		    c->pcb == pcb)
			c->rx++;
		else
			misrouted++;
	}
	if (echo) {
		CU_ASSERT_EQUAL(tcp_write(pcb, buf, n, TCP_WRITE_FLAG_COPY),
				ERR_OK);
		tcp_output(pcb);
	}
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
}

static err_t a_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct conn *c = arg;

	(void)err;
	if (!c) { /* closed here already: the FIN, or data after it */
		if (p) {
			tcp_recved(pcb, p->tot_len);
			pbuf_free(p);
		}
		return ERR_OK;
	}
	if (!p) {
		c->fin = true;
		tcp_arg(pcb, NULL);
		c->pcb = NULL;
		tcp_close(pcb);
		return ERR_OK;
	}
	take(a_conn, c, pcb, p, true);
	return ERR_OK;
}

static void conn_err(void *arg, err_t err)
{
	struct conn *c = arg;

	(void)err;
	if (c) {
		c->pcb = NULL;
		c->gone = true;
	}
}

static err_t a_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	int i = pcb->remote_port - PORT0;

	(void)arg;
	(void)err;
	CU_ASSERT_FATAL(i >= 0 && i < NCONN);
	CU_ASSERT_PTR_NULL(a_conn[i].pcb);
	memset(&a_conn[i], 0, sizeof(a_conn[i]));
	a_conn[i].pcb = pcb;
	a_conn[i].established = true;
	tcp_arg(pcb, &a_conn[i]);
	tcp_recv(pcb, a_recv);
	tcp_err(pcb, conn_err);
	return ERR_OK;
}

static err_t b_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct conn *c = arg;

	(void)err;
	if (!c) { /* closed here already: the FIN, or data after it */
		if (p) {
			tcp_recved(pcb, p->tot_len);
			pbuf_free(p);
		}
		return ERR_OK;
	}
	if (!p) {
		c->fin = true;
		if (b_close_on_fin) {
			tcp_arg(pcb, NULL);
			c->pcb = NULL;
			tcp_close(pcb);
		}
		return ERR_OK;
	}
	take(b_conn, c, pcb, p, false);
	return ERR_OK;
}

static err_t b_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)pcb;
	(void)err;
	((struct conn *)arg)->established = true;
	return ERR_OK;
}

/* ---- what the table must hold ------------------------------------------- */

static unsigned int list_len(struct tcp_pcb *pcb)
{
	unsigned int n = 0;

	for (; pcb; pcb = pcb->next)
		n++;
	return n;
}

/*
 * White box: every pcb on tcp_active_pcbs and tcp_tw_pcbs is found by its
 * tuple (itself, not another), under the hook's hash, in the bucket of
 * that hash; the table holds as many pcbs as the lists, so nothing else;
 * it has grown to at least as many buckets as pcbs; chains stay short.
 */
static void check_table(struct side *s)
{
	struct tcp_pcb *lists[2];
	unsigned int n = 0, m = 0, longest = 0;
	u32_t buckets;

	lwip_state = &s->st;
	lists[0] = tcp_active_pcbs;
	lists[1] = tcp_tw_pcbs;
	/* patch 0006: every pcb on the busy list is an active one, linked
	 * both ways; every active one with timer work is on it */
	for (struct tcp_pcb **pp = &tcp_busy_pcbs; *pp;
	     pp = &(*pp)->busy_next) {
		CU_ASSERT_PTR_EQUAL((*pp)->busy_pprev, pp);
		CU_ASSERT_PTR_EQUAL((*pp)->on_list, &tcp_active_pcbs);
		if (++m > 2 * NCONN + 16)
			break; /* a cycle */
	}
	m = 0;
	for (int l = 0; l < 2; l++)
		for (struct tcp_pcb **pp = l ? &tcp_tw_pcbs : &tcp_active_pcbs;
		     *pp; pp = &(*pp)->next) {
			CU_ASSERT_PTR_EQUAL((*pp)->pprev, pp);
			CU_ASSERT_PTR_EQUAL((*pp)->on_list,
					    l ? &tcp_tw_pcbs :
						&tcp_active_pcbs);
			if (!l && !tcp_pcb_quiet(*pp))
				CU_ASSERT_PTR_NOT_NULL((*pp)->busy_pprev);
			if (l)
				CU_ASSERT_PTR_NULL((*pp)->busy_pprev);
		}
	for (int l = 0; l < 2; l++)
		for (struct tcp_pcb *pcb = lists[l]; pcb; pcb = pcb->next) {
			n++;
			CU_ASSERT_EQUAL(pcb->hash,
					pinnet_tcp_hash(&pcb->local_ip,
							pcb->local_port,
							&pcb->remote_ip,
							pcb->remote_port));
			CU_ASSERT_PTR_EQUAL(tcp_hash_lookup(&pcb->local_ip,
							    pcb->local_port,
							    &pcb->remote_ip,
							    pcb->remote_port,
							    NETIF_NO_INDEX),
					    pcb);
			CU_ASSERT_EQUAL(pcb->state == TIME_WAIT, l == 1);
		}
	buckets = s->st.tcp_hash_mask + 1;
	for (u32_t b = 0; b < buckets; b++) {
		unsigned int chain = 0;

		for (struct tcp_pcb *pcb = s->st.tcp_hash[b]; pcb;
		     pcb = pcb->hash_next) {
			CU_ASSERT_EQUAL(pcb->hash & s->st.tcp_hash_mask, b);
			chain++;
			if (++m > 2 * NCONN + 16)
				break; /* a cycle */
		}
		if (chain > longest)
			longest = chain;
	}
	CU_ASSERT_EQUAL(m, n);
	CU_ASSERT_EQUAL(s->st.tcp_hash_count, n);
	CU_ASSERT(buckets >= LWIP_TCP_PCB_HASH_MIN);
	CU_ASSERT(buckets >= n);
	CU_ASSERT(longest <= 12); /* a keyed hash: about 5 for 3000 in 4096 */
}

/* One message on every live connection of a side, in random order; every
 * one must reach its own connection's pcb on the other side, and A's echo
 * B's */
static void send_round(struct side *s, struct conn *table)
{
	static int order[NCONN];
	static unsigned int rng = 12345;
	unsigned int a_rx[NCONN], b_rx[NCONN];
	unsigned int bad = misrouted;

	for (int i = 0; i < NCONN; i++) {
		order[i] = i;
		a_rx[i] = a_conn[i].rx;
		b_rx[i] = b_conn[i].rx;
	}
	for (int i = NCONN - 1; i > 0; i--) {
		int j, t;

		rng = rng * 1103515245u + 12345u;
		j = (int)((rng >> 8) % (unsigned int)(i + 1));
		t = order[i], order[i] = order[j], order[j] = t;
	}
	lwip_state = &s->st;
	for (int k = 0; k < NCONN; k++) {
		struct conn *c = &table[order[k]];
		u32_t msg[2] = { MAGIC, (u32_t)order[k] };

		if (!c->pcb || !c->established)
			continue;
		CU_ASSERT_EQUAL(tcp_write(c->pcb, msg, 8, TCP_WRITE_FLAG_COPY),
				ERR_OK);
		tcp_output(c->pcb);
	}
	pump();
	CU_ASSERT_EQUAL(misrouted, bad);
	for (int i = 0; i < NCONN; i++) {
		bool live = a_conn[i].pcb && b_conn[i].pcb;

		if (table[i].pcb && table[i].established) {
			/* this side sent: the other received, A echoed */
			CU_ASSERT_EQUAL(a_conn[i].rx - a_rx[i],
					s == &B ? live : 0);
			CU_ASSERT_EQUAL(b_conn[i].rx - b_rx[i], live);
		}
	}
}

static unsigned int live(const struct conn *table)
{
	unsigned int n = 0;

	for (int i = 0; i < NCONN; i++)
		n += table[i].pcb != NULL;
	return n;
}

/* ---- the tests ------------------------------------------------------------ */

static int suite_init(void)
{
	struct tcp_pcb *l;

	/* the keys a stack draws at creation */
	if (tcp_keys_init(&lwip_alone_keys))
		return -1;
	pair_init();
	lwip_state = &A.st;
	l = tcp_new();
	if (!l || tcp_bind(l, &A.ip, SPORT) != ERR_OK)
		return -1;
	l = tcp_listen(l);
	if (!l)
		return -1;
	tcp_accept(l, a_accept);
	return 0;
}

/* 3000 connections from B to A, 100 at a time; the tables grow from 256
 * buckets to 4096; messages both ways reach their own connections */
static void test_connections(void)
{
	for (int i = 0; i < NCONN; i += BATCH) {
		lwip_state = &B.st;
		for (int j = i; j < i + BATCH; j++) {
			struct tcp_pcb *pcb = tcp_new();

			CU_ASSERT_PTR_NOT_NULL_FATAL(pcb);
			CU_ASSERT_EQUAL_FATAL(
				tcp_bind(pcb, &B.ip, (u16_t)(PORT0 + j)),
				ERR_OK);
			b_conn[j].pcb = pcb;
			tcp_arg(pcb, &b_conn[j]);
			tcp_recv(pcb, b_recv);
			tcp_err(pcb, conn_err);
			CU_ASSERT_EQUAL_FATAL(
				tcp_connect(pcb, &A.ip, SPORT, b_connected),
				ERR_OK);
		}
		pump();
	}
	for (int i = 0; i < NCONN; i++) {
		CU_ASSERT(b_conn[i].established);
		CU_ASSERT(a_conn[i].established);
	}
	lwip_state = &A.st;
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN);
	lwip_state = &B.st;
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN);
	CU_ASSERT_EQUAL(A.st.tcp_hash_mask + 1, 4096);
	CU_ASSERT_EQUAL(B.st.tcp_hash_mask + 1, 4096);
	CU_ASSERT_PTR_NOT_EQUAL(A.st.tcp_hash, A.st.tcp_hash_first);
	check_table(&A);
	check_table(&B);
	for (int r = 0; r < 3; r++) {
		send_round(&B, b_conn);
		send_round(&A, a_conn);
	}
	for (int i = 0; i < NCONN; i++) {
		CU_ASSERT_EQUAL(a_conn[i].rx, 3);
		CU_ASSERT_EQUAL(b_conn[i].rx, 6);
	}
	CU_ASSERT_EQUAL(misrouted, 0);

	/* a pcb whose local address changes moves to its new bucket
	 * (tcp_output() gives one late) */
	lwip_state = &B.st;
	{
		struct tcp_pcb *pcb = b_conn[0].pcb;
		ip4_addr_t was = pcb->local_ip;

		IP4_ADDR(&pcb->local_ip, 10, 77, 0, 99);
		tcp_hash_rekey(pcb);
		check_table(&B);
		pcb->local_ip = was;
		tcp_hash_rekey(pcb);
		check_table(&B);
	}
}

/* B closes 1000 connections first: they wait in TIME-WAIT on B, where a
 * retransmitted FIN must find them (an ACK, not a reset), until the slow
 * timer drops them; then such a FIN finds nothing (a reset) */
static void test_time_wait(void)
{
	unsigned int n;

	lwip_state = &B.st;
	for (int i = 0; i < 1000; i++) {
		struct tcp_pcb *pcb = b_conn[i].pcb;

		tcp_arg(pcb, NULL);
		b_conn[i].pcb = NULL;
		CU_ASSERT_EQUAL(tcp_close(pcb), ERR_OK);
	}
	pump();
	lwip_state = &B.st;
	CU_ASSERT_EQUAL(list_len(tcp_tw_pcbs), 1000);
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN - 1000);
	lwip_state = &A.st;
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN - 1000);
	check_table(&A);
	check_table(&B);
	send_round(&B, b_conn);

	/* a retransmitted FIN for each: the TIME-WAIT pcb restarts its timer
	 * and acknowledges */
	lwip_state = &B.st;
	tcp_ticks = 777;
	n = 0;
	for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb; pcb = pcb->next) {
		struct frame *f;
		struct seg sg = { 0 };

		capturing = true;
		inject(&B, SPORT, pcb->local_port, pcb->rcv_nxt - 1,
		       pcb->snd_nxt, TCP_FIN | TCP_ACK);
		capturing = false;
		f = fq_pop(&captured);
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		CU_ASSERT_FATAL(parse_seg(f, &sg));
		CU_ASSERT_EQUAL(sg.flags, TCP_ACK);
		CU_ASSERT_EQUAL(sg.sport, pcb->local_port);
		CU_ASSERT_EQUAL(sg.ack, pcb->rcv_nxt);
		CU_ASSERT_EQUAL(pcb->tmr, 777);
		CU_ASSERT_PTR_NULL(captured.head);
		free(f);
		fq_free(&captured);
		n++;
	}
	CU_ASSERT_EQUAL(n, 1000);

	/* 2 MSL later the slow timer drops them all, at its next walk of
	 * the TIME-WAIT pcbs (every TCP_TW_SCAN_TICKS, patch 0006) */
	lwip_state = &B.st;
	tcp_ticks += 2 * TCP_MSL / TCP_SLOW_INTERVAL + 1;
	for (int k = 0; k < TCP_TW_SCAN_TICKS && tcp_tw_pcbs; k++)
		tcp_slowtmr();
	CU_ASSERT_PTR_NULL(tcp_tw_pcbs);
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN - 1000);
	check_table(&B);
	for (int i = 0; i < 1000; i += 100) {
		struct frame *f;
		struct seg sg = { 0 };

		capturing = true;
		inject(&B, SPORT, (u16_t)(PORT0 + i), 1, 1, TCP_FIN | TCP_ACK);
		capturing = false;
		f = fq_pop(&captured);
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		CU_ASSERT_FATAL(parse_seg(f, &sg));
		CU_ASSERT(sg.flags & TCP_RST);
		free(f);
		fq_free(&captured);
	}
	send_round(&B, b_conn);
	send_round(&A, a_conn);
	CU_ASSERT_EQUAL(misrouted, 0);
}

/* A closes 500 connections whose B side does not close: A waits in
 * FIN-WAIT-2 until the slow timer drops its pcbs (unlinked by hand in
 * tcp_slowtmr); B's next data then finds no connection on A, which resets
 * B's */
static void test_fin_wait_2(void)
{
	b_close_on_fin = false;
	lwip_state = &A.st;
	for (int i = 1000; i < 1500; i++)
		CU_ASSERT_EQUAL(tcp_close(a_conn[i].pcb), ERR_OK);
	pump();
	lwip_state = &A.st;
	for (int i = 1000; i < 1500; i++) {
		CU_ASSERT_EQUAL(a_conn[i].pcb->state, FIN_WAIT_2);
		CU_ASSERT(b_conn[i].fin);
	}
	check_table(&A);
	check_table(&B);
	lwip_state = &A.st;
	tcp_ticks += TCP_FIN_WAIT_TIMEOUT / TCP_SLOW_INTERVAL + 1;
	tcp_slowtmr();
	for (int i = 1000; i < 1500; i++)
		CU_ASSERT(a_conn[i].gone);
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN - 1500);
	check_table(&A);
	b_close_on_fin = true;

	lwip_state = &B.st;
	for (int i = 1000; i < 1500; i++) {
		u32_t msg[2] = { MAGIC, (u32_t)i };

		CU_ASSERT_EQUAL(
			tcp_write(b_conn[i].pcb, msg, 8, TCP_WRITE_FLAG_COPY),
			ERR_OK);
		tcp_output(b_conn[i].pcb);
	}
	pump();
	for (int i = 1000; i < 1500; i++)
		CU_ASSERT(b_conn[i].gone);
	lwip_state = &B.st;
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN - 1500);
	check_table(&A);
	check_table(&B);
	send_round(&B, b_conn);
	CU_ASSERT_EQUAL(misrouted, 0);
}

/* Out of memory for a new pcb, lwIP kills the oldest TIME-WAIT pcb, then
 * one of lower priority (tcp_kill_timewait, tcp_kill_prio) */
static void test_kill(void)
{
	struct tcp_pcb *pcb;

	lwip_state = &B.st;
	for (int i = 1500; i < 1600; i++) {
		pcb = b_conn[i].pcb;
		tcp_arg(pcb, NULL);
		b_conn[i].pcb = NULL;
		CU_ASSERT_EQUAL(tcp_close(pcb), ERR_OK);
	}
	pump();
	lwip_state = &B.st;
	CU_ASSERT_EQUAL(list_len(tcp_tw_pcbs), 100);
	check_table(&B);

	lwip_alone_fail_allocs = 1; /* the pcb: a TIME-WAIT one goes */
	pcb = tcp_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(pcb);
	CU_ASSERT_EQUAL(list_len(tcp_tw_pcbs), 99);
	check_table(&B);
	CU_ASSERT_EQUAL(tcp_close(pcb), ERR_OK);

	/* four failures: TIME-WAIT, LAST-ACK, CLOSING, then lower priority */
	lwip_state = &B.st;
	tcp_setprio(b_conn[1600].pcb, TCP_PRIO_MIN);
	lwip_alone_fail_allocs = 4;
	pcb = tcp_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(pcb);
	CU_ASSERT_EQUAL(lwip_alone_fail_allocs, 0);
	CU_ASSERT(b_conn[1600].gone);
	CU_ASSERT_EQUAL(list_len(tcp_tw_pcbs), 98);
	CU_ASSERT_EQUAL(list_len(tcp_active_pcbs), NCONN - 1601);
	check_table(&B);
	CU_ASSERT_EQUAL(tcp_close(pcb), ERR_OK);
	pump(); /* the killed one's reset: A's side goes */
	CU_ASSERT(a_conn[1600].gone);
	check_table(&A);
	send_round(&B, b_conn);
	CU_ASSERT_EQUAL(misrouted, 0);
	CU_ASSERT_EQUAL(live(b_conn), NCONN - 1601);
}

/* A's address changes: lwIP aborts every connection on the old one
 * (tcp_netif_ip_addr_changed), and B's get the resets */
static void test_address_change(void)
{
	ip4_addr_t a2;

	IP4_ADDR(&a2, 10, 77, 0, 3);
	lwip_state = &A.st;
	netif_set_ipaddr(&A.nif, &a2);
	CU_ASSERT_PTR_NULL(tcp_active_pcbs);
	CU_ASSERT_EQUAL(live(a_conn), 0);
	check_table(&A);
	CU_ASSERT_EQUAL(A.st.tcp_hash_count, 0);
	pump();
	CU_ASSERT_EQUAL(live(b_conn), 0);
	lwip_state = &B.st;
	CU_ASSERT_PTR_NULL(tcp_active_pcbs);
	CU_ASSERT_EQUAL(list_len(tcp_tw_pcbs), 98);
	check_table(&B);
}

/* RFC 6528, through lwIP: a connection with the same 4-tuple later starts
 * higher by the 4 us clock; one to another port elsewhere; SO_REUSEADDR
 * cannot open a second connection with a tuple in use (tcp_connect looks
 * it up in the table). To A's old address, which B's ARP knows: the SYNs
 * are captured and dropped. */
static void test_isn_connect(void)
{
	struct timespec pause = { 0, 5000000 };
	struct tcp_pcb *p1, *p2, *p3;
	u32_t isn1, isn2, isn3, d;
	u32_t t1, t2, t1_end, t2_end;

	lwip_state = &B.st;
	capturing = true; /* the SYNs go nowhere */
	p1 = tcp_new();
	p2 = tcp_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(p1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p2);
	ip_set_option(p1, SOF_REUSEADDR);
	ip_set_option(p2, SOF_REUSEADDR);
	CU_ASSERT_EQUAL(tcp_bind(p1, &B.ip, 30000), ERR_OK);
	CU_ASSERT_EQUAL(tcp_bind(p2, &B.ip, 30000), ERR_OK);
	t1 = sys_now();
	CU_ASSERT_EQUAL_FATAL(tcp_connect(p1, &A.ip, SPORT, NULL), ERR_OK);
	t1_end = sys_now();
	isn1 = p1->lastack + 1;
	CU_ASSERT_EQUAL(tcp_connect(p2, &A.ip, SPORT, NULL), ERR_USE);
	CU_ASSERT_EQUAL_FATAL(tcp_connect(p2, &A.ip, SPORT + 1, NULL), ERR_OK);
	isn3 = p2->lastack + 1;
	check_table(&B);
	tcp_abort(p1);
	tcp_abort(p2);

	nanosleep(&pause, NULL);
	p3 = tcp_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(p3);
	CU_ASSERT_EQUAL(tcp_bind(p3, &B.ip, 30000), ERR_OK);
	t2 = sys_now();
	CU_ASSERT_EQUAL_FATAL(tcp_connect(p3, &A.ip, SPORT, NULL), ERR_OK);
	t2_end = sys_now();
	isn2 = p3->lastack + 1;
	tcp_abort(p3);
	capturing = false;
	fq_free(&captured);

	/* 250 per ms of the clock the ISN read, some time within each
	 * connect (a millisecond or more under valgrind: the bounds are the
	 * clock before and after each) */
	d = isn2 - isn1;
	CU_ASSERT(t2 - t1_end >= 5);
	CU_ASSERT_EQUAL(d % 250, 0);
	CU_ASSERT(d >= 250u * (t2 - t1_end - 1) &&
		  d <= 250u * (t2_end - t1 + 1));
	/* another tuple, the same moment: its own offset */
	CU_ASSERT_NOT_EQUAL(isn3, isn1);
	CU_ASSERT_NOT_EQUAL(isn1, 6510u); /* lwIP's own first ISN */
	check_table(&B);
}

static unsigned int popcount32(u32_t v)
{
	return (unsigned int)__builtin_popcount(v);
}

/* The keyed functions themselves, with fixed keys (deterministic) */
static void test_keyed_functions(void)
{
	struct tcp_keys k1, k2;
	ip4_addr_t l, r;
	unsigned long bits = 0, hbits = 0;
	u32_t base, hbase;

	memset(&k1, 0x11, sizeof(k1));
	memset(&k2, 0x22, sizeof(k2));
	IP4_ADDR(&l, 192, 0, 2, 1);
	IP4_ADDR(&r, 198, 51, 100, 7);

	/* ISN: M + F(tuple, key), M in 4 us ticks */
	base = tcp_tuple_isn(&k1, &l, 80, &r, 40000, 1000000000ull);
	CU_ASSERT_EQUAL(tcp_tuple_isn(&k1, &l, 80, &r, 40000, 1000000000ull),
			base);
	CU_ASSERT_EQUAL(tcp_tuple_isn(&k1, &l, 80, &r, 40000, 1001000000ull) -
				base,
			250);
	CU_ASSERT_EQUAL(tcp_tuple_isn(&k1, &l, 80, &r, 40000, 1000003999ull),
			base);
	CU_ASSERT_EQUAL(
		tcp_tuple_isn(&k1, &l, 80, &r, 40000, 1000004000ull) - base, 1);
	/* another stack's key: another ISN for the same tuple */
	CU_ASSERT_NOT_EQUAL(
		tcp_tuple_isn(&k2, &l, 80, &r, 40000, 1000000000ull), base);
	/* tuples one bit apart: unrelated ISNs and hashes (about half the
	 * bits differ on average) */
	hbase = tcp_tuple_hash(&k1, &l, 80, &r, 40000);
	for (u16_t i = 0; i < 16; i++) {
		u16_t port = (u16_t)(40000 ^ (1u << i));
		ip4_addr_t r2;

		ip4_addr_set_u32(&r2, ip4_addr_get_u32(&r) ^ (1u << i));
		bits += popcount32(
			tcp_tuple_isn(&k1, &l, 80, &r, port, 1000000000ull) ^
			base);
		bits += popcount32(
			tcp_tuple_isn(&k1, &l, 80, &r2, 40000, 1000000000ull) ^
			base);
		hbits += popcount32(tcp_tuple_hash(&k1, &l, 80, &r, port) ^
				    hbase);
		hbits += popcount32(tcp_tuple_hash(&k1, &l, 80, &r2, 40000) ^
				    hbase);
	}
	CU_ASSERT(bits >= 32 * 12 && bits <= 32 * 20);
	CU_ASSERT(hbits >= 32 * 12 && hbits <= 32 * 20);
	/* the ports are not interchangeable, nor the addresses */
	CU_ASSERT_NOT_EQUAL(tcp_tuple_hash(&k1, &l, 40000, &r, 80), hbase);
	CU_ASSERT_NOT_EQUAL(tcp_tuple_hash(&k1, &r, 80, &l, 40000), hbase);
	/* the seed keys the hash */
	CU_ASSERT_NOT_EQUAL(tcp_tuple_hash(&k2, &l, 80, &r, 40000), hbase);

	/* a stack's keys are its own */
	CU_ASSERT_EQUAL(tcp_keys_init(&k1), 0);
	CU_ASSERT_EQUAL(tcp_keys_init(&k2), 0);
	CU_ASSERT(memcmp(&k1, &k2, sizeof(k1)) != 0);
}

/* The rest goes; releasing a state frees its grown table */
static void test_release(void)
{
	lwip_state = &B.st;
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	CU_ASSERT_EQUAL(B.st.tcp_hash_count, 0);
	check_table(&B);
	lwip_state = &A.st;
	while (tcp_listen_pcbs.pcbs)
		tcp_close(tcp_listen_pcbs.pcbs);
	pump();
	fq_free(&A.in);
	fq_free(&B.in);
	lwip_state = &A.st;
	netif_remove(&A.nif);
	lwip_state_release();
	CU_ASSERT_PTR_EQUAL(A.st.tcp_hash, A.st.tcp_hash_first);
	lwip_state = &B.st;
	netif_remove(&B.nif);
	lwip_state_release();
	CU_ASSERT_PTR_EQUAL(B.st.tcp_hash, B.st.tcp_hash_first);
	CU_ASSERT_EQUAL(B.st.tcp_hash_mask + 1, LWIP_TCP_PCB_HASH_MIN);
	lwip_state = NULL;
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_keyed_functions),
	CU_TEST_ENTRY(test_connections),
	CU_TEST_ENTRY(test_time_wait),
	CU_TEST_ENTRY(test_fin_wait_2),
	CU_TEST_ENTRY(test_kill),
	CU_TEST_ENTRY(test_address_change),
	CU_TEST_ENTRY(test_isn_connect),
	CU_TEST_ENTRY(test_release),
};

int main(void)
{
	return CU_RUN("lwip_hash", tests, suite_init, NULL, NULL, NULL);
}
