/* SPDX-License-Identifier: MIT */
/*
 * Readiness: what a socket is ready for (POLLIN, POLLOUT, POLLERR,
 * POLLHUP, as poll(2) reports them), pn_poll(), and the waits of the
 * blocking calls, which run the stack until their condition holds.
 */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>

#include "lwip/priv/tcp_priv.h"
#include "sock.h"

#define STALE_NS 50000 /* pn_poll runs the loop when its latest turn is older */

/*
 * The send buffer, sized by need. lwIP gives every connection a fixed
 * TCP_SND_BUF (1 MiB) and a server that fills it pins 1 MiB of the pool per
 * connection though a veth's bandwidth-delay product is a few KiB. As
 * Linux sizes sk_sndbuf from what the path holds (tcp_sndbuf_expand():
 * twice a congestion window), a socket may queue twice the path's
 * bandwidth-delay product plus a low-water mark of data waiting to go.
 * The product is measured as BBR measures it: the most delivered per
 * second lately times the least round trip lately. (Once the product
 * instead of twice halved bench_memory's 100 downloads: 0.49x the
 * throughput.) Not what is in flight,
 * nor lwIP's cwnd: behind a busy receiver what is in flight only waits in
 * its queue, so a limit that followed it grew with itself to the cap
 * (184 MiB for 100 downloads), and lwIP grows cwnd on every ACK whether
 * the window was used or not. SO_SNDBUF fixes the limit (twice the value
 * asked, as Linux, and no autotuning after); TCP_NOTSENT_LOWAT bounds what
 * waits unsent, as Linux's.
 */
uint32_t sock_send_limit(const struct sock *so)
{
	uint64_t l, bdp;

	if (so->sndbuf_set)
		return so->sndbuf_set;
	bdp = so->max_bw * so->min_rtt_ns / 1000000000u;
	l = 2 * bdp +
	    (so->notsent_lowat ? so->notsent_lowat : SEND_LOWAT_DEFAULT);
	return l > TCP_SND_BUF ? TCP_SND_BUF : (uint32_t)l;
}

/*
 * What the socket has queued in lwIP: its send buffer's use, or, when
 * that is more, the bytes between the last acknowledged and the last
 * queued. lwIP's snd_buf stayed short for good after an ACK of part of a
 * big segment patch 0004 trimmed (patch 0009 credits it now), and with a
 * limit by need such a socket was never writable again (test_fault's
 * loss2 stalled with nothing in flight); the sequence numbers stay the
 * check.
 */
static uint32_t sock_queued(const struct tcp_pcb *pcb)
{
	uint32_t by_buf = TCP_SND_BUF - pcb->snd_buf;
	uint32_t by_seq = pcb->snd_lbb - pcb->lastack;

	return by_seq < by_buf ? by_seq : by_buf;
}

/*
 * The send budget, stack-wide (pn_stack_opts.send_budget), as Linux's
 * tcp_mem bounds what all its sockets hold: each socket's limit by need
 * follows its own path, but a thousand connections each answering 64 KiB
 * at once queued all their answers together (63 MiB of the pool for
 * 1000 x 64 KiB in bench_memory), though the one link they share drains
 * a few MiB at a time. The budget admits whole sends, not bytes: a socket
 * that finds it short (under a low-water mark of room, or others waiting
 * before it) waits its turn on st->budget_head; as ACKs free the budget
 * the oldest waiters are let in, as many as the room holds their limits,
 * and each may then fill its own limit whatever the budget says (a grant,
 * until its queue drains or it is full again). Bytes doled out as they
 * freed up made every connection send a few KiB at a time (4 KiB floors:
 * half the throughput of 1000 x 64 KiB). The head waiter is let in after
 * BUDGET_WAIT_MAX_NS whatever the room (one such each BUDGET_WAIT_MAX_NS)
 * while less than twice the budget is queued, so sockets whose data cannot leave (slow readers, closed
 * windows) holding the budget do not stall the others for long; twice
 * the budget is the hard bound.
 */
#define BUDGET_WAIT_MAX_NS 20000000ull
static uint32_t budget_room(const struct pn_stack *st)
{
	uint64_t b = st->o.send_budget;

	if (st->tx_inq >= b)
		return 0;
	return b - st->tx_inq > UINT32_MAX ? UINT32_MAX :
					     (uint32_t)(b - st->tx_inq);
}

/* The room the budget leaves the socket (UINT32_MAX: no budget for it) */
static uint32_t budget_room_for(const struct sock *so)
{
	const struct pn_stack *st = so->st;
	uint32_t b;

	if (!st->o.send_budget || so->budget_grant)
		return UINT32_MAX;
	b = budget_room(st);
	if (st->budget_head || b < SEND_LOWAT_DEFAULT)
		return 0; /* its turn comes */
	return b;
}

void sock_account(struct sock *so)
{
	uint32_t q = so->pcb && !so->listening ? sock_queued(so->pcb) : 0;

	so->st->tx_inq = so->st->tx_inq - so->inq_counted + q;
	/* a socket that starts queuing was let in (the budget had room for
	 * it): what it writes next (a body after its head) goes too, not a
	 * head left holding its buffers while the body waits its turn */
	if (q && !so->inq_counted)
		so->budget_grant = true;
	else if (!q)
		so->budget_grant = false; /* drained: the next send asks */
	so->inq_counted = q;
}

void sock_unbudget(struct sock *so)
{
	struct pn_stack *st = so->st;

	if (!so->on_budget)
		return;
	if (so->budget_prev)
		so->budget_prev->budget_next = so->budget_next;
	else
		st->budget_head = so->budget_next;
	if (so->budget_next)
		so->budget_next->budget_prev = so->budget_prev;
	else
		st->budget_tail = so->budget_prev;
	so->budget_next = so->budget_prev = NULL;
	so->on_budget = false;
}

void sock_out_of_room(struct sock *so)
{
	struct pn_stack *st = so->st;

	so->nospace = true;
	so->budget_grant = false; /* full: the grant is used */
	if (!st->o.send_budget || so->on_budget || !so->pcb ||
	    budget_room_for(so) > 0)
		return; /* its own limit, not the budget's: its ACKs wake it */
	st->stats.tx_budget_waits++;
	so->on_budget = true;
	so->budget_since_ns = stack_now_ns();
	so->budget_prev = st->budget_tail;
	if (st->budget_tail)
		st->budget_tail->budget_next = so;
	else
		st->budget_head = so;
	st->budget_tail = so;
}

/* After a turn's input: the oldest waiters are let in, as many as the
 * budget's room holds their limits; with no room, the head one once it and
 * the budget have waited BUDGET_WAIT_MAX_NS (see above). */
static void budget_admit(struct pn_stack *st)
{
	uint64_t room = budget_room(st), now;

	while (st->budget_head) {
		struct sock *so = st->budget_head;
		uint32_t want = so->pcb ? sock_send_limit(so) : 0;

		now = stack_now_ns();
		if (room) {
			st->budget_moved_ns = now;
		} else {
			/* the budget stuck (no room came for that long): one
			 * waiter per BUDGET_WAIT_MAX_NS goes anyway */
			if (now - so->budget_since_ns < BUDGET_WAIT_MAX_NS ||
			    now - st->budget_moved_ns < BUDGET_WAIT_MAX_NS ||
			    st->tx_inq >= 2 * st->o.send_budget)
				break;
			st->budget_moved_ns = now;
			st->stats.tx_budget_overdue++;
		}
		sock_unbudget(so);
		so->budget_grant = true;
		sock_wake_later(so);
		if (!room)
			break;
		room -= want < room ? want : room;
	}
}

/* Bytes the socket may queue now (0 when full). */
uint32_t sock_send_room(const struct sock *so)
{
	const struct tcp_pcb *pcb = so->pcb;
	uint32_t queued = sock_queued(pcb);
	uint32_t limit = sock_send_limit(so);
	uint32_t room, b;

	if (so->notsent_lowat &&
	    pcb->snd_lbb - pcb->snd_nxt >= so->notsent_lowat)
		return 0; /* enough waits unsent */
	room = queued >= limit ? 0 : limit - queued;
	b = budget_room_for(so);
	if (room > b)
		room = b;
	/* and what lwIP itself takes (a tcp_write() of 0 bytes succeeds: a
	 * room lwIP's snd_buf did not have made send_one() spin) */
	return room < pcb->snd_buf ? room : (uint32_t)pcb->snd_buf;
}

/*
 * A round-trip sample: from a send (acked 0) with data in flight to the
 * ACK that covers what was in flight then (acked: the bytes it covered).
 * Its time is a round trip; what was acknowledged meanwhile over that
 * time is the delivery rate.
 */
void sock_note_flight(struct sock *so, uint32_t acked)
{
	const struct tcp_pcb *pcb = so->pcb;
	uint64_t now;

	if (so->sndbuf_set)
		return; /* fixed: nothing to measure for */
	if (acked && so->rs_t_ns && TCP_SEQ_GEQ(pcb->lastack, so->rs_seq)) {
		uint64_t dt;

		now = stack_now_ns();
		dt = now - so->rs_t_ns;
		if (dt && dt < UINT32_MAX) {
			uint64_t bw = (so->acked_total - so->rs_acked0) *
				      1000000000u / dt;

			if (!so->min_rtt_ns || dt <= so->min_rtt_ns ||
			    now - so->min_rtt_t_ns > MIN_RTT_WINDOW_NS) {
				so->min_rtt_ns = (uint32_t)dt;
				so->min_rtt_t_ns = now;
			}
			if (bw >= so->max_bw) {
				so->max_bw = bw;
				so->max_bw_t_ns = now;
			} else if (now - so->max_bw_t_ns > MAX_BW_DECAY_NS) {
				so->max_bw = bw > so->max_bw / 2 ?
						     bw :
						     so->max_bw / 2;
				so->max_bw_t_ns = now;
			}
		}
		so->rs_t_ns = 0;
	}
	if (!so->rs_t_ns && pcb->snd_nxt != pcb->lastack) {
		so->rs_seq = pcb->snd_nxt;
		so->rs_t_ns = stack_now_ns();
		so->rs_acked0 = so->acked_total;
	}
}

void sock_hold_stats(const struct pn_stack *st, struct pn_stack_stats *s)
{
	for (unsigned int i = 0; i < st->nsocks; i++) {
		const struct sock *so = st->socks[i];
		const struct tcp_pcb *pcb = so ? so->pcb : NULL;

		if (!pcb || so->listening)
			continue;
		s->tx_queued += TCP_SND_BUF - pcb->snd_buf;
		s->tx_unsent += pcb->snd_lbb - pcb->snd_nxt;
		s->rx_unread += rx_queued(so);
		s->tx_limit_sum += sock_send_limit(so);
		s->rwnd_sum += so->rwnd_target ? so->rwnd_target : TCP_WND;
	}
}

/*
 * Room to queue at least a little: the send buffer (above) and lwIP's
 * segment queue (with `margin` segments to spare), and lwIP not out of
 * memory at the last write. After an ERR_MEM (segments or pbufs
 * exhausted, often by other connections) the socket is not writable until
 * the stack has taken in new frames: ACKs are what free that memory.
 * Reporting POLLOUT meanwhile made applications spin on EAGAIN without the
 * stack ever running.
 */
bool sock_writable(const struct sock *so, unsigned int margin)
{
	return so->pcb && sock_send_room(so) > 0 &&
	       tcp_sndqueuelen(so->pcb) + margin < TCP_SND_QUEUELEN &&
	       so->st->rx_gen >= so->unblock_gen;
}

/*
 * Writable as poll and epoll report it: room to queue, and as Linux asks
 * (sk_stream_is_writeable()), free room at least half of what is queued,
 * so a writer woken by an ACK finds room worth a write, and an
 * edge-triggered one is woken once when the room came, not by each ACK;
 * with TCP_NOTSENT_LOWAT, what waits unsent under half the mark (Linux's
 * wake-up rule, tcp_stream_memory_free()).
 */
static bool sock_roomy(const struct sock *so)
{
	const struct tcp_pcb *pcb;
	uint32_t queued;

	if (!sock_writable(so, 4))
		return false;
	pcb = so->pcb;
	queued = sock_queued(pcb);
	if (so->notsent_lowat &&
	    2ull * (pcb->snd_lbb - pcb->snd_nxt) >= so->notsent_lowat)
		return false;
	return sock_send_room(so) >= queued / 2;
}

/* tcp_write() failed with ERR_MEM: push what is queued, and not writable
 * until frames come in (see sock_writable()) */
void sock_send_blocked(struct sock *so)
{
	so->unblock_gen = so->st->rx_gen + 1;
	so->nospace = true;
	sock_wake_later(so);
	tcp_output(so->pcb);
}

void sock_wake_later(struct sock *so)
{
	if (so->on_wake)
		return;
	so->on_wake = true;
	so->wake_next = so->st->wake;
	so->st->wake = so;
}

void sock_unwake(struct sock *so)
{
	if (!so->on_wake)
		return;
	sock_list_unlink(&so->st->wake, so, offsetof(struct sock, wake_next));
	so->on_wake = false;
}

/* After a turn's input and timers (the rx generation has moved on, so a
 * socket blocked by ERR_MEM counts as writable again): a socket that was
 * out of room and has some now is an EPOLLOUT edge. */
void sock_wake_writers(struct pn_stack *st)
{
	struct sock *so;

	budget_admit(st);
	so = st->wake;

	st->wake = NULL;
	while (so) {
		struct sock *next = so->wake_next;

		so->on_wake = false;
		if (so->nospace && so->pcb && sock_roomy(so)) {
			so->nospace = false;
			sock_notify(so);
		}
		so = next;
	}
}

/*
 * What the socket is ready for, as Linux's tcp_poll() computes it, so that
 * poll and epoll users see what they would see on kernel sockets: HUP once
 * both directions are shut (or the connection is gone, or was never made),
 * IN|RDHUP once the receive side is (the peer's FIN, SHUT_RD), no IN/OUT
 * while a connect is in progress, OUT when the send side is shut (a send
 * does not block: it fails), ERR while an error is pending.
 */
uint32_t sock_events(struct sock *so)
{
	bool gone, rd_shut, wr_shut;
	uint32_t m = 0;

	if (so->listening)
		return so->acc_n ? EPOLLIN | EPOLLRDNORM : 0;
	gone = !so->pcb; /* reset, timed out, refused: lwIP freed it */
	rd_shut = gone || so->eof || so->shut_rd;
	wr_shut = gone || so->shut_wr;
	if ((rd_shut && wr_shut) || (!so->connected && !so->connecting))
		m |= EPOLLHUP;
	if (rd_shut)
		m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
	if (!so->connecting) {
		if (so->rx_n)
			m |= EPOLLIN | EPOLLRDNORM;
		if (wr_shut || sock_roomy(so))
			m |= EPOLLOUT | EPOLLWRNORM;
		else
			sock_out_of_room(so);
	}
	if (so->err)
		m |= EPOLLERR;
	return m;
}

short sock_revents(struct sock *so, short events)
{
	return (short)(sock_events(so) &
		       ((uint32_t)(uint16_t)events | EPOLLERR | EPOLLHUP));
}

/*
 * The wait of pn_poll() and pn_epoll_wait(): look(arg) (the number ready,
 * filled in) until it finds some or timeout_ms passes (0: one look, -1:
 * no end), running the stack between looks. Returns look's count, 0 on
 * timeout, or -errno.
 */
int sock_wait_ready(struct pn_stack *st, int timeout_ms, int (*look)(void *),
		    void *arg)
{
	uint64_t deadline = 0;

	/* the clock only when it matters: a busy loop polls with something
	 * ready or with timeout 0, and a clock read per call showed in its
	 * profile */
	if (timeout_ms > 0)
		deadline = stack_now_ms() + (uint64_t)timeout_ms;
	/* an application that always finds some socket ready still gets
	 * its completions and input taken in: a turn of the loop, without
	 * waiting, when the latest is STALE_NS old (a socket waiting for
	 * send room would otherwise wait for ever) */
	if (stack_now_ns() - st->last_run_ns > STALE_NS) {
		int rc = stack_run(st, 0);

		if (rc < 0)
			return rc;
	}
	for (;;) {
		int ready = look(arg);
		uint64_t now;
		int rc;

		if (ready || timeout_ms == 0) {
			/* what the application sent since the stack's last
			 * turn goes out (at most every 20 us): a loop that
			 * always finds some socket ready would otherwise hold
			 * its responses until a look found none */
			stack_push(st);
			return ready;
		}
		if (timeout_ms < 0) {
			rc = stack_run(st, 1000);
		} else {
			now = stack_now_ms();
			if (now >= deadline)
				return 0;
			rc = stack_run(st, deadline - now > 1000 ?
						   1000 :
						   (int)(deadline - now));
		}
		if (rc < 0)
			return rc;
	}
}

struct poll_look {
	struct pn_stack *st;
	struct pn_pollfd *fds;
	unsigned int n;
};

static int poll_look(void *arg)
{
	struct poll_look *pl = arg;
	int ready = 0;

	for (unsigned int i = 0; i < pl->n; i++) {
		struct sock *so = sock_get(pl->st, pl->fds[i].sock);

		pl->fds[i].revents =
			so ? sock_revents(so, pl->fds[i].events) : POLLNVAL;
		ready += pl->fds[i].revents != 0;
	}
	return ready;
}

static int poll_entered(struct pn_stack *st, struct pn_pollfd *fds,
			unsigned int n, int timeout_ms)
{
	struct poll_look pl = { st, fds, n };

	return sock_wait_ready(st, timeout_ms, poll_look, &pl);
}

PN_EXPORT int pn_poll(struct pn_stack *st, struct pn_pollfd *fds,
		      unsigned int n, int timeout_ms)
{
	int rc = stack_enter(st);

	if (rc)
		return rc;
	if (n && !fds)
		return -EINVAL;
	return poll_entered(st, fds, n, timeout_ms);
}

/* Run the stack until so is ready for events; -EAGAIN at once if
 * nonblock. -EBADF if the socket went meanwhile. */
int sock_wait(struct sock *so, short events, bool nonblock)
{
	struct pn_pollfd pf = { so->id, events, 0 };
	struct pn_stack *st = so->st;
	int id = so->id;

	if (sock_revents(so, events))
		return 0;
	if (nonblock)
		return -EAGAIN;
	while (!pf.revents) {
		int rc = poll_entered(st, &pf, 1, -1);

		if (rc < 0)
			return rc;
		if (!sock_get(st, id))
			return -EBADF;
	}
	return 0;
}
