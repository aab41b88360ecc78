/* SPDX-License-Identifier: MIT */
/*
 * Private to stack/: the socket record and what the socket files share.
 * sock.c keeps the table and the calls that make, connect and close
 * sockets; sock_lwip.c lwIP's callbacks and the per-socket timers;
 * poll.c readiness and waiting; sock_io.c send and receive; sockopt.c
 * options; zc.c zero copy.
 */
#ifndef PINNET_SOCK_H
#define PINNET_SOCK_H

#include "stack_impl.h"

/* A zero-copy send buffer, held until the peer acknowledged its end: a
 * pool buffer, or a file's mapping (zc.c) the bytes were sent from. */
struct fmap;
struct zc_tx {
	struct zc_tx *next;
	void *buf; /* a pool buffer; NULL: fm */
	struct fmap *fm;
	uint64_t end; /* stream offset just past its last byte */
};

struct ep_item;

struct sock {
	int id; /* index in the stack's table */
	struct pn_stack *st;
	struct tcp_pcb *pcb; /* NULL once lwIP freed it (error, close) */
	bool listening; /* pcb is a listen pcb */
	bool connecting; /* connect sent, not yet established */
	bool connected; /* established at least once */
	bool eof; /* the peer sent FIN */
	bool shut_wr; /* we sent FIN */
	bool shut_rd; /* SHUT_RD */
	bool nospace; /* a send or a look found no send room: the ACK that
		       * makes room is an EPOLLOUT edge (Linux's SOCK_NOSPACE) */
	bool on_wake; /* on st->wake: its room is to be looked at */
	bool on_timed; /* on st->timed: corked, or a user timeout set */
	bool nonblock;
	bool corked; /* MSG_MORE data waits for more, or the next check */
	bool reuseaddr, keepalive, nodelay; /* options before the pcb exists */
	bool linger_on;
	int linger_s;
	uint32_t keep_idle_ms, keep_intvl_ms, keep_cnt; /* 0: lwIP's default */
	uint32_t user_timeout_ms; /* TCP_USER_TIMEOUT; 0 off */
	uint64_t last_progress_ms; /* stack_now_ms() of the last ACK of our
				    * data, or of the first unacked byte */
	uint64_t sent_total; /* bytes handed to lwIP */
	uint64_t unblock_gen; /* not writable before st->rx_gen reaches it */
	uint64_t acked_total; /* bytes the peer acknowledged */
	uint32_t sndbuf_set; /* SO_SNDBUF's fixed limit; 0: sized by need */
	uint32_t notsent_lowat; /* TCP_NOTSENT_LOWAT; 0: not set */
	/* the path's bandwidth-delay product (sock_note_flight()): a
	 * round-trip sample running (from rs_t_ns, 0: none, until rs_seq is
	 * acknowledged, rs_acked0 acknowledged at its start), the least
	 * round trip lately and the most delivered per second lately */
	uint32_t rs_seq, min_rtt_ns;
	uint64_t rs_t_ns, rs_acked0, min_rtt_t_ns;
	uint64_t max_bw, max_bw_t_ns; /* bytes per second */
	uint32_t rwnd_target; /* the receive window now (sock_rwnd_*) */
	uint32_t rwnd_debt; /* window held back from lwIP's TCP_WND */
	bool rx_drained; /* the application's last read emptied the queue */
	struct zc_tx *zc_head, *zc_tail; /* zero-copy buffers in flight */
	struct pbuf *zc_rx; /* the segment lent by pn_recv_zc() */
	int err; /* pending -errno (reset, timeout, refused) */
	struct pbuf **rxq; /* received segments, not yet read: a FIFO ring */
	unsigned int rx_head, rx_n, rx_cap;
	uint16_t rx_off; /* bytes of the oldest segment already read */
	struct sock **acceptq; /* listeners: established, not yet accepted */
	unsigned int acc_head, acc_n, acc_max;
	struct sock *listener; /* queued in this listener's acceptq */
	struct sock *wake_next; /* st->wake */
	uint32_t inq_counted; /* its part of st->tx_inq */
	bool on_budget; /* waits for room in the send budget */
	bool budget_grant; /* let in: may fill its own limit */
	uint64_t budget_since_ns; /* on the list since */
	struct sock *budget_next, *budget_prev; /* st->budget_head list */
	struct sock *timed_next; /* st->timed */
	bool on_out; /* on st->out: its output waits for the loop's push */
	struct sock *out_next; /* st->out */
	struct ep_item *eps; /* its registrations in readiness sets */
};

/* The socket lists st->wake, st->timed and st->out are singly linked,
 * each through a next field of its own (at off in struct sock): unlink so,
 * which is on the list at *head. */
static inline void sock_list_unlink(struct sock **head, struct sock *so,
				    size_t off)
{
	struct sock **pp = head;

	while (*pp != so)
		pp = (struct sock **)((char *)*pp + off);
	*pp = *(struct sock **)((char *)so + off);
}

/* sock.c */
int errno_of(err_t e);
/* Enter st (stack_enter()) and find socket s: 0, -EINVAL, -EPERM, -EBADF. */
int sock_lookup(struct pn_stack *st, int s, struct sock **so);
struct sock *sock_get(struct pn_stack *st, int s); /* NULL if none */
struct sock *sock_new(struct pn_stack *st);
void sock_free(struct sock *so);

/* sock_lwip.c */
void sock_time(struct sock *so); /* on st->timed (sock_check_timeouts) */
void sock_untime(struct sock *so); /* off it (the socket goes) */
void sock_setup_pcb(struct sock *so, struct tcp_pcb *pcb);
void sock_apply_keepalive(struct sock *so);
err_t sock_on_accept(void *arg, struct tcp_pcb *newpcb, err_t err);
err_t sock_on_connected(void *arg, struct tcp_pcb *pcb, err_t err);
void sock_close_pcb(struct sock *so);

/* sock_io.c */
/* What a send queued goes to lwIP's output: now if a whole wire segment
 * waits, else at the loop's next push (stack_output()). */
void sock_output(struct sock *so);
void sock_unout(struct sock *so); /* off st->out (the socket goes) */

/* poll.c */
/* What may be queued, at least this much (the default low-water mark) */
#ifndef SEND_LOWAT_DEFAULT /* -D for experiments: 1048576u turns it off */
#define SEND_LOWAT_DEFAULT (64u * 1024)
#endif
#define MIN_RTT_WINDOW_NS 10000000000ull /* BBR's min_rtt window */
#define MAX_BW_DECAY_NS 200000000ull /* the rate halves unrenewed */
uint32_t sock_send_limit(const struct sock *so);
uint32_t sock_send_room(const struct sock *so); /* pcb set */
void sock_note_flight(struct sock *so, uint32_t acked);
bool sock_writable(const struct sock *so, unsigned int margin);
void sock_send_blocked(struct sock *so);
/* What the socket has queued, counted again in the stack's send budget:
 * after its sends, its ACKs, and when it lets go of its pcb. */
void sock_account(struct sock *so);
/* A send or a look found no room: the ACK that makes room is an EPOLLOUT
 * edge, and a socket the budget held back waits its turn for it. */
void sock_out_of_room(struct sock *so);
void sock_unbudget(struct sock *so); /* off the budget's list (it goes) */
uint32_t sock_events(struct sock *so); /* EPOLL* as Linux's tcp_poll */
short sock_revents(struct sock *so, short events);
int sock_wait(struct sock *so, short events, bool nonblock);
int sock_wait_ready(struct pn_stack *st, int timeout_ms, int (*look)(void *),
		    void *arg);
/* Send room may have come (an ACK): look at it after this turn's input. */
void sock_wake_later(struct sock *so);
void sock_unwake(struct sock *so); /* off st->wake (the socket goes) */

/* epoll.c */
void ep_notify(struct sock *so);
/* The socket's state changed: its registrations go on their ready lists. */
static inline void sock_notify(struct sock *so)
{
	if (so->eps)
		ep_notify(so);
}
void ep_forget(struct sock *so); /* the socket goes: out of every set */

/* sock_io.c */
size_t rx_queued(const struct sock *so);

/* zc.c */
void zc_release(struct pn_stack *st, struct zc_tx **head, struct zc_tx **tail,
		uint64_t acked, bool all);
bool zc_hand_to_zombie(struct sock *so, struct tcp_pcb *pcb);

/* Whether data may be queued now: 0, or the -errno a send returns. */
static inline int sock_can_send(const struct sock *so)
{
	if (so->err)
		return so->err == -ECONNRESET ? -ECONNRESET : -EPIPE;
	if (so->shut_wr || (!so->pcb && so->connected))
		return -EPIPE;
	if (!so->pcb || !so->connected)
		return so->connecting ? -EAGAIN : -ENOTCONN;
	return 0;
}

/* The receive window sized by need (sock_lwip.c) */
#ifndef RWND_INIT /* -D for experiments: 1048576u turns it off */
#define RWND_INIT (64u * 1024) /* Linux's first window, about */
#endif
void sock_rwnd_start(struct sock *so); /* established: the first window */
void sock_rwnd_release(struct sock *so); /* closing: give it all back */

/* The window opens by n bytes the application took. */
static inline void sock_recved(struct sock *so, size_t n)
{
	while (n && so->pcb) {
		u16_t c = (u16_t)(n > 0xffff ? 0xffff : n);

		tcp_recved(so->pcb, c);
		n -= c;
	}
}

#endif
