/* SPDX-License-Identifier: MIT */
/*
 * lwIP's side of a socket: the callbacks lwIP calls for a pcb (data in,
 * data acknowledged, errors, new connections), the pcb's set-up and
 * close, and the per-socket timers the stack's loop runs (user timeout,
 * corked data).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "sock.h"

static void sock_rwnd_grow(struct sock *so, struct tcp_pcb *pcb);

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct sock *so = arg;

	if (!so) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) {
		so->eof = true;
		sock_notify(so);
		return ERR_OK;
	}
	if (err != ERR_OK) {
		pbuf_free(p);
		return err;
	}
	/* one entry per segment: chaining them would overflow tot_len (u16)
	 * once more than 64 KiB wait */
	if (so->rx_n == so->rx_cap) {
		unsigned int cap = so->rx_cap ? so->rx_cap * 2 : 64;
		struct pbuf **q = malloc(cap * sizeof(*q));

		if (!q)
			return ERR_MEM; /* lwIP keeps p and offers it again */
		for (unsigned int i = 0; i < so->rx_n; i++)
			q[i] = so->rxq[(so->rx_head + i) % so->rx_cap];
		free(so->rxq);
		so->rxq = q;
		so->rx_cap = cap;
		so->rx_head = 0;
	}
	so->rxq[(so->rx_head + so->rx_n) % so->rx_cap] = p;
	so->rx_n++;
	sock_rwnd_grow(so, pcb);
	sock_notify(so);
	return ERR_OK;
}

/*
 * The receive window, sized by need. lwIP announces its whole TCP_WND
 * (1 MiB) to every connection, so a peer can park 1 MiB in the pool for
 * each slow reader. As Linux's receive autotuning does, a connection
 * starts with a 64 KiB window and it doubles, up to TCP_WND, each time the
 * sender came within a quarter of the window's right edge we announced
 * while the application keeps up (its last read emptied the queue): the
 * path wants more. A slow reader, whose queue
 * never empties, stays at what it has. The rest of lwIP's window is held
 * back (rwnd_debt) and given back when the connection closes, so lwIP's
 * "unread data: reset" test sees the whole window. Segments out of order
 * are only taken within the window, so their queue is bounded by it too.
 */
void sock_rwnd_start(struct sock *so)
{
	struct tcp_pcb *pcb = so->pcb;

	if (!pcb || so->rwnd_target || !(pcb->flags & TF_WND_SCALE) ||
	    pcb->rcv_wnd != TCP_WND)
		return; /* no scaling (64 KiB at most anyway), or data came */
	so->rwnd_target = RWND_INIT;
	so->rwnd_debt = TCP_WND - RWND_INIT;
	/* the handshake carried at most 65535 (a SYN's window is not
	 * scaled), but lwIP notes its whole window as announced: the right
	 * edge goes back to what the peer was told */
	pcb->rcv_wnd = pcb->rcv_ann_wnd = RWND_INIT;
	pcb->rcv_ann_right_edge = pcb->rcv_nxt + RWND_INIT;
}

static void sock_rwnd_grow(struct sock *so, struct tcp_pcb *pcb)
{
	uint32_t inc;

	/* what the sender may still send, as we last told it: little
	 * means it is held back by the window */
	if (!so->rwnd_debt || !so->rx_drained ||
	    pcb->rcv_ann_right_edge - pcb->rcv_nxt >= so->rwnd_target / 4)
		return;
	inc = so->rwnd_target < so->rwnd_debt ? so->rwnd_target : so->rwnd_debt;
	so->rwnd_target += inc;
	so->rwnd_debt -= inc;
	so->rx_drained = false;
	so->st->stats.rwnd_grows++;
	sock_recved(so, inc);
}

void sock_rwnd_release(struct sock *so)
{
	struct tcp_pcb *pcb = so->pcb;

	if (!pcb || !so->rwnd_debt)
		return;
	pcb->rcv_wnd += so->rwnd_debt; /* quietly: the connection ends */
	so->rwnd_target += so->rwnd_debt;
	so->rwnd_debt = 0;
}

/* A connection that died while waiting to be accepted leaves the queue. */
static void unqueue(struct sock *l, struct sock *so)
{
	for (unsigned int k = 0; k < l->acc_n; k++) {
		unsigned int i = (l->acc_head + k) % l->acc_max;

		if (l->acceptq[i] != so)
			continue;
		for (; k + 1 < l->acc_n; k++) {
			unsigned int a = (l->acc_head + k) % l->acc_max;

			l->acceptq[a] = l->acceptq[(a + 1) % l->acc_max];
		}
		l->acc_n--;
		return;
	}
}

static void on_err(void *arg, err_t err)
{
	struct sock *so = arg;

	if (!so)
		return;
	/* lwIP has freed the pcb */
	so->pcb = NULL;
	sock_account(so);
	if (err == ERR_CLSD) {
		/* not an error: both sides closed and the last ACK came
		 * (LAST_ACK), or the pcb closed quietly */
		so->connecting = false;
		sock_notify(so);
		return;
	}
	if (so->connecting && err == ERR_RST)
		so->err = -ECONNREFUSED;
	else if (err == ERR_ABRT && (so->connecting || so->connected))
		so->err = -ETIMEDOUT; /* retransmissions ran out */
	else
		so->err = errno_of(err);
	so->connecting = false;
	if (so->listener) {
		unqueue(so->listener, so);
		sock_free(so);
		return;
	}
	sock_notify(so);
}

/* Our data was acknowledged: the user timeout starts again. */
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct sock *so = arg;

	(void)pcb;
	if (so) {
		so->last_progress_ms = stack_now_ms();
		so->acked_total += len;
		sock_account(so);
		if (so->pcb)
			sock_note_flight(so, len);
		zc_release(so->st, &so->zc_head, &so->zc_tail, so->acked_total,
			   false);
		if (so->nospace)
			sock_wake_later(so); /* room now? after this input */
	}
	return ERR_OK;
}

void sock_apply_keepalive(struct sock *so)
{
	if (!so->pcb || so->listening)
		return;
	if (so->keepalive) {
		ip_set_option(so->pcb, SOF_KEEPALIVE);
		tcp_busy_add(so->pcb); /* lwIP's slow timer keeps it alive */
	} else {
		ip_reset_option(so->pcb, SOF_KEEPALIVE);
	}
	if (so->keep_idle_ms)
		so->pcb->keep_idle = so->keep_idle_ms;
	if (so->keep_intvl_ms)
		so->pcb->keep_intvl = so->keep_intvl_ms;
	if (so->keep_cnt)
		so->pcb->keep_cnt = so->keep_cnt;
}

void sock_setup_pcb(struct sock *so, struct tcp_pcb *pcb)
{
	so->pcb = pcb;
	tcp_arg(pcb, so);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	if (so->nodelay)
		tcp_nagle_disable(pcb);
	/* segments of up to 64 KiB, which tx.c writes as super-frames */
	pcb->gso_max = so->st->gso_off ? 0 : STACK_GSO_MAX;
	sock_apply_keepalive(so);
	/* RFC 6298's initial RTO of 1 s, not lwIP's 3 s, until the first
	 * round-trip sample (a lost first segment cost 6 s with backoff) */
	if (pcb->sa == 0 && pcb->sv > 1000 / TCP_SLOW_INTERVAL)
		pcb->sv = pcb->rto = 1000 / TCP_SLOW_INTERVAL;
}

/* lwIP's LWIP_HOOK_TCP_INPACKET_PCB (configs/lwipopts.h): ERR_OK lets
 * lwIP take the segment. A connection's segment notes it for the loss
 * recovery pass after the batch (tcp_ext.c). At max_conns, counting the connections a
 * listener has in hand (SYN received, not yet established), a new SYN is
 * dropped, as a kernel listener drops one when its queue is full: no
 * reset, the client retries; every established connection goes on. */
signed char pinnet_tcp_in_hook(struct tcp_pcb *pcb, const struct tcp_hdr *hdr)
{
	struct pn_stack *st;
	const struct tcp_pcb_listen *l;

	if (pcb->state != LISTEN) {
		tcp_loss_note(pcb); /* loss recovery looks after input */
		return ERR_OK;
	}
	if ((TCPH_FLAGS(hdr) & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return ERR_OK;
	st = stack_current();
	l = (const struct tcp_pcb_listen *)pcb;
	if (st->socks_used + l->accepts_pending < st->o.max_conns)
		return ERR_OK;
	st->stats.syn_refused++;
	return ERR_MEM;
}

err_t sock_on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct sock *l = arg, *so;

	if (err != ERR_OK || !newpcb || !l)
		return ERR_VAL;
	if (l->acc_n == l->acc_max || !(so = sock_new(l->st))) {
		l->st->stats.accept_overflow++;
		tcp_abort(newpcb);
		return ERR_ABRT;
	}
	so->nodelay = l->nodelay;
	so->keepalive = l->keepalive;
	so->sndbuf_set = l->sndbuf_set; /* inherited, as on Linux */
	so->notsent_lowat = l->notsent_lowat;
	so->connected = true;
	so->listener = l;
	sock_setup_pcb(so, newpcb);
	sock_rwnd_start(so);
	l->acceptq[(l->acc_head + l->acc_n) % l->acc_max] = so;
	l->acc_n++;
	sock_notify(l);
	return ERR_OK;
}

err_t sock_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct sock *so = arg;

	(void)pcb;
	if (so) {
		so->connecting = false;
		so->connected = err == ERR_OK;
		if (err == ERR_OK)
			sock_rwnd_start(so);
		if (err != ERR_OK)
			so->err = errno_of(err);
		sock_notify(so);
	}
	return ERR_OK;
}

/* The socket lets go of its pcb: a graceful close (lwIP finishes it),
 * or a reset for SO_LINGER 0. */
void sock_close_pcb(struct sock *so)
{
	struct tcp_pcb *pcb = so->pcb;

	if (!pcb)
		return;
	sock_rwnd_release(so); /* the window held back, quietly */
	tcp_arg(pcb, NULL);
	so->pcb = NULL;
	sock_account(so); /* what lwIP still sends is no longer the socket's */
	if (so->listening) {
		tcp_accept(pcb, NULL);
		tcp_close(pcb);
		return;
	}
	tcp_recv(pcb, NULL); /* lwIP's default frees what still arrives */
	tcp_err(pcb, NULL);
	tcp_sent(pcb, NULL);
	if (so->linger_on && so->linger_s == 0) {
		tcp_abort(pcb); /* frees every segment: zc buffers can go */
		return;
	}
	/* unread data is dropped, not answered with a reset: lwIP resets
	 * when the window was not given back */
	for (unsigned int i = 0; i < so->rx_n; i++) {
		struct pbuf *p = so->rxq[(so->rx_head + i) % so->rx_cap];

		tcp_recved(pcb, (u16_t)(p->tot_len - (i ? 0 : so->rx_off)));
	}
	if (so->zc_head && !zc_hand_to_zombie(so, pcb)) {
		tcp_abort(pcb);
		return;
	}
	if (tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb); /* the zombie, if any, hears of it */
}

void sock_time(struct sock *so)
{
	if (so->on_timed)
		return;
	so->on_timed = true;
	so->timed_next = so->st->timed;
	so->st->timed = so;
}

void sock_untime(struct sock *so)
{
	if (!so->on_timed)
		return;
	sock_list_unlink(&so->st->timed, so, offsetof(struct sock, timed_next));
	so->on_timed = false;
}

/* From the stack's loop, every 50 ms: TCP_USER_TIMEOUT (data unacknowledged
 * longer aborts the connection with ETIMEDOUT, as on Linux) and MSG_MORE
 * data that no further send came to push. now is stack_now_ms(). Only the
 * sockets on st->timed (corked ones, those with a user timeout) are
 * looked at: idle connections cost nothing here. */
void sock_check_timeouts(struct pn_stack *st, uint64_t now)
{
	struct sock **pp = &st->timed;

	while (*pp) {
		struct sock *so = *pp;

		if (!so->pcb || so->listening ||
		    (!so->corked && !so->user_timeout_ms)) {
			*pp = so->timed_next; /* nothing to watch any more */
			so->on_timed = false;
			continue;
		}
		pp = &so->timed_next;
		if (so->corked) {
			so->corked = false;
			tcp_output(so->pcb);
		}
		if (!so->user_timeout_ms ||
		    (!so->pcb->unacked && !so->pcb->unsent))
			continue;
		if (now - so->last_progress_ms < so->user_timeout_ms)
			continue;
		tcp_arg(so->pcb, NULL);
		tcp_abort(so->pcb);
		so->pcb = NULL;
		sock_account(so);
		so->err = -ETIMEDOUT;
		so->connecting = false;
		sock_notify(so);
	}
}
