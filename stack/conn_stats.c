/* SPDX-License-Identifier: MIT */
/*
 * What the connections hold, by class of connection (pinnet/conn_stats.h
 * says the classes): for pn_stack_conn_classes(), and published every
 * second in <pid>-<pool id>.conns beside the pool's counters file, so
 * that an operator sees in pinnet-bpf top which connections pin the pool
 * (downloads at the network's pace, slow readers behind a full window,
 * an application that does not read) and how much.
 *
 * Each update walks every socket and its queues (and lwIP's connections
 * that outlived their socket): a second's interval keeps that off the
 * data path (100k idle sockets: well under a millisecond a second).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lwip/priv/tcp_priv.h"
#include "sock.h"

#define CONNS_INTERVAL_MS 1000

static const char *const class_names[PN_CONN_NCLASSES] = {
	[PN_CONN_OPENING_CLOSING] = "opening-closing",
	[PN_CONN_PEER_WINDOW] = "peer-window",
	[PN_CONN_SENDING] = "sending",
	[PN_CONN_UNREAD] = "unread",
	[PN_CONN_IDLE] = "idle",
};

/* The pool buffers a pbuf chain's bytes lie in, each once: *last is the
 * buffer counted latest (a split segment and its remainder share one). */
static uint64_t held(const struct pn_pool *pool, const struct pbuf *p,
		     const void **last)
{
	struct pn_buf_info bi;
	uint64_t n = 0;

	for (; p; p = p->next) {
		if (!p->payload || !pn_pool_owns(pool, p->payload) ||
		    pn_buf_lookup(pool, p->payload, &bi) || bi.addr == *last)
			continue;
		*last = bi.addr;
		n += bi.size;
	}
	return n;
}

static uint64_t held_segs(const struct pn_pool *pool, const struct tcp_seg *seg,
			  const void **last)
{
	uint64_t n = 0;

	for (; seg; seg = seg->next)
		n += held(pool, seg->p, last);
	return n;
}

/* One connection (so NULL: lwIP's, its socket gone) into its class. */
static void add_conn(const struct pn_stack *st, const struct sock *so,
		     const struct tcp_pcb *pcb, struct pn_conn_class_stats *c)
{
	const void *last = NULL;
	uint32_t inflight = pcb->snd_nxt - pcb->lastack;
	uint32_t unsent = pcb->snd_lbb - pcb->snd_nxt;
	uint64_t unread = so ? rx_queued(so) : 0, ooseq = 0, pinned;
	enum pn_conn_class k;

#if TCP_QUEUE_OOSEQ
	for (const struct tcp_seg *s = pcb->ooseq; s; s = s->next)
		ooseq += s->len;
#endif
	if (pcb->state != ESTABLISHED && pcb->state != CLOSE_WAIT)
		k = PN_CONN_OPENING_CLOSING;
	else if (unsent && pcb->snd_wnd <= pcb->cwnd &&
		 (uint64_t)inflight + pcb->mss > pcb->snd_wnd)
		k = PN_CONN_PEER_WINDOW;
	else if (inflight || unsent)
		k = PN_CONN_SENDING;
	else if (unread)
		k = PN_CONN_UNREAD;
	else
		k = PN_CONN_IDLE;
	c += k;
	pinned = held_segs(st->pool, pcb->unacked, &last) +
		 held_segs(st->pool, pcb->unsent, &last);
#if TCP_QUEUE_OOSEQ
	pinned += held_segs(st->pool, pcb->ooseq, &last);
#endif
	if (so)
		for (unsigned int i = 0; i < so->rx_n; i++)
			pinned += held(st->pool,
				       so->rxq[(so->rx_head + i) % so->rx_cap],
				       &last);
	c->conns++;
	c->tx_queued += (uint64_t)inflight + unsent;
	c->tx_inflight += inflight;
	c->tx_unsent += unsent;
	c->rx_unread += unread;
	c->rx_ooseq += ooseq;
	c->pinned_bytes += pinned;
	c->tx_limit_sum += so ? sock_send_limit(so) : 0;
	c->rwnd_sum += so && so->rwnd_target ? so->rwnd_target : TCP_WND;
}

static void classes_of(const struct pn_stack *st,
		       struct pn_conn_class_stats c[PN_CONN_NCLASSES])
{
	memset(c, 0, PN_CONN_NCLASSES * sizeof(*c));
	for (int k = 0; k < PN_CONN_NCLASSES; k++)
		snprintf(c[k].name, sizeof(c[k].name), "%s", class_names[k]);
	for (unsigned int i = 0; i < st->nsocks; i++) {
		const struct sock *so = st->socks[i];

		if (so && so->pcb && !so->listening)
			add_conn(st, so, so->pcb, c);
	}
	/* closed by the application, still sending what it queued */
	for (const struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		if (!pcb->callback_arg)
			add_conn(st, NULL, pcb, c);
}

PN_EXPORT int pn_stack_conn_classes(const struct pn_stack *st,
				    struct pn_conn_class_stats *out,
				    unsigned int n)
{
	struct pn_conn_class_stats c[PN_CONN_NCLASSES];
	int rc = stack_enter((struct pn_stack *)st);

	if (rc)
		return rc;
	if (!out)
		return -EINVAL;
	if (n > PN_CONN_NCLASSES)
		n = PN_CONN_NCLASSES;
	classes_of(st, c);
	memcpy(out, c, n * sizeof(*c));
	return (int)n;
}

/* ---- the counters file ------------------------------------------------ */

static size_t conns_file_len(void)
{
	return 4096; /* header and every class record, one page */
}
#define CONNS_CLASS_OFF \
	256 /* where the class records start: room for the header to grow */
_Static_assert(CONNS_CLASS_OFF + PN_CONN_NCLASSES *
					 sizeof(struct pn_conn_class_stats) <=
		       4096,
	       "the connection classes file is one page");

/* Beside the pool's counters file, when the pool has one; else none (a
 * stack without published counters still answers pn_stack_conn_classes). */
void conn_stats_open(struct pn_stack *st)
{
	const char *pool_path = pn_pool_stats_path(st->pool);
	size_t n = strlen(pool_path), len = conns_file_len();
	struct pn_conns_header *h;
	const char *dash;
	void *m;
	int fd;

	st->conns_sh = NULL;
	st->conns_path[0] = 0;
	if (n < 6 || strcmp(pool_path + n - 6, ".stats") ||
	    n + 1 > sizeof(st->conns_path))
		return;
	snprintf(st->conns_path, sizeof(st->conns_path), "%.*s.conns",
		 (int)(n - 6), pool_path);
	fd = open(st->conns_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (ftruncate(fd, (off_t)len)) {
		close(fd);
		goto fail_unlink;
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		goto fail_unlink;
	h = m;
	h->version = PN_CONNS_VERSION;
	h->header_size = sizeof(*h);
	h->pid = (uint32_t)getpid();
	/* <pid>-<pool id>.stats: the id follows the last '-' */
	dash = strrchr(pool_path, '-');
	h->pool_id = dash ? strtoull(dash + 1, NULL, 10) : 0;
	h->nclasses = PN_CONN_NCLASSES;
	h->class_off = CONNS_CLASS_OFF;
	_Static_assert(sizeof(*h) <= CONNS_CLASS_OFF,
		       "the header outgrew class_off");
	h->class_size = sizeof(struct pn_conn_class_stats);
	h->interval_ms = CONNS_INTERVAL_MS;
	h->alive = 1;
	__atomic_store_n(&h->magic, PN_CONNS_MAGIC, __ATOMIC_RELEASE);
	st->conns_sh = h;
	st->next_conns_ms = 0;
	return;
fail_unlink:
	unlink(st->conns_path);
fail:
	st->conns_path[0] = 0;
}

/* From the loop, every CONNS_INTERVAL_MS. */
void conn_stats_publish(struct pn_stack *st, uint64_t now_ms)
{
	struct pn_conns_header *h = st->conns_sh;
	struct pn_conn_class_stats c[PN_CONN_NCLASSES];
	struct pn_conn_class_stats *rec;

	if (!h || now_ms < st->next_conns_ms)
		return;
	st->next_conns_ms = now_ms + CONNS_INTERVAL_MS;
	classes_of(st, c);
	rec = (struct pn_conn_class_stats *)((char *)h + h->class_off);
	__atomic_fetch_add(&h->seq, 1, __ATOMIC_RELEASE);
	for (int k = 0; k < PN_CONN_NCLASSES; k++)
		rec[k] = c[k];
	h->send_budget = st->o.send_budget;
	h->budget_used = st->tx_inq;
	h->budget_waits = st->stats.tx_budget_waits;
	h->budget_overdue = st->stats.tx_budget_overdue;
	h->rx_frames = st->stats.rx_frames;
	h->tx_frames = st->stats.tx_frames;
	h->tx_pure_acks = st->stats.tx_pure_acks;
	h->tx_writes = st->stats.tx_writes;
	h->submits = st->stats.submits;
	h->updated_ms = now_ms;
	__atomic_fetch_add(&h->seq, 1, __ATOMIC_RELEASE);
}

void conn_stats_close(struct pn_stack *st)
{
	if (!st->conns_sh)
		return;
	st->conns_sh->alive = 0;
	munmap(st->conns_sh, conns_file_len());
	st->conns_sh = NULL;
	unlink(st->conns_path);
	st->conns_path[0] = 0;
}
