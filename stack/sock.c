/* SPDX-License-Identifier: MIT */
/*
 * The socket-like API over lwIP's raw TCP API. Received pbufs queue on the
 * socket until read (the window opens as the application reads); sends are
 * copied into lwIP's send buffer. Blocking calls run the stack until their
 * condition holds. lwIP's err_t is turned into -errno here, once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>

#include "export.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "stack_impl.h"

#define MAX_SOCKS 65536
/* <netinet/tcp.h> clashes with lwIP (TCP_MSS): the options' Linux values */
#define LINUX_TCP_NODELAY 1
#define LINUX_TCP_KEEPIDLE 4
#define LINUX_TCP_KEEPINTVL 5
#define LINUX_TCP_KEEPCNT 6
#define LINUX_TCP_USER_TIMEOUT 18

static int errno_of(err_t e)
{
	switch (e) {
	case ERR_OK:
		return 0;
	case ERR_MEM:
	case ERR_BUF:
		return -ENOMEM;
	case ERR_TIMEOUT:
		return -ETIMEDOUT;
	case ERR_RTE:
		return -EHOSTUNREACH;
	case ERR_INPROGRESS:
		return -EINPROGRESS;
	case ERR_VAL:
	case ERR_ARG:
		return -EINVAL;
	case ERR_WOULDBLOCK:
		return -EAGAIN;
	case ERR_USE:
		return -EADDRINUSE;
	case ERR_ALREADY:
		return -EALREADY;
	case ERR_ISCONN:
		return -EISCONN;
	case ERR_CONN:
		return -ENOTCONN;
	case ERR_IF:
		return -ENETUNREACH;
	case ERR_ABRT:
		return -ECONNABORTED;
	case ERR_RST:
		return -ECONNRESET;
	case ERR_CLSD:
		return -EPIPE;
	default:
		return -EIO;
	}
}

static struct sock *get(struct pn_stack *st, int s)
{
	if (!st || s < 0 || (unsigned int)s >= st->nsocks)
		return NULL;
	return st->socks[s];
}

static struct sock *sock_new(struct pn_stack *st)
{
	unsigned int i;
	struct sock *so;

	for (i = 0; i < st->nsocks && st->socks[i]; i++)
		;
	if (i == st->nsocks) {
		unsigned int n = st->nsocks ? st->nsocks * 2 : 64;
		struct sock **t;

		if (n > MAX_SOCKS)
			n = MAX_SOCKS;
		if (i >= n)
			return NULL;
		t = realloc(st->socks, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + st->nsocks, 0, (n - st->nsocks) * sizeof(*t));
		st->socks = t;
		st->nsocks = n;
	}
	so = calloc(1, sizeof(*so));
	if (!so)
		return NULL;
	so->id = (int)i;
	so->st = st;
	st->socks[i] = so;
	return so;
}

/* Zero-copy send buffers whose bytes the peer acknowledged go back. */
static void zc_release(struct pn_stack *st, struct zc_tx **head,
		       struct zc_tx **tail, uint64_t acked, bool all)
{
	while (*head && (all || (*head)->end <= acked)) {
		struct zc_tx *z = *head;

		*head = z->next;
		pn_buf_free(st->pool, z->buf);
		free(z);
	}
	if (!*head)
		*tail = NULL;
}

static void sock_free(struct sock *so)
{
	so->st->socks[so->id] = NULL;
	zc_release(so->st, &so->zc_head, &so->zc_tail, 0, true);
	if (so->zc_rx)
		pbuf_free(so->zc_rx);
	for (; so->rx_n; so->rx_n--) {
		pbuf_free(so->rxq[so->rx_head]);
		so->rx_head = (so->rx_head + 1) % so->rx_cap;
	}
	free(so->rxq);
	free(so->acceptq);
	free(so);
}

/* ---- lwIP callbacks -------------------------------------------------------- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct sock *so = arg;

	(void)pcb;
	if (!so) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) {
		so->eof = true;
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
	return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
	struct sock *so = arg;

	if (!so)
		return;
	/* lwIP has freed the pcb */
	so->pcb = NULL;
	if (so->connecting && err == ERR_RST)
		so->err = -ECONNREFUSED;
	else if (err == ERR_ABRT && (so->connecting || so->connected))
		so->err = -ETIMEDOUT; /* retransmissions ran out */
	else
		so->err = errno_of(err);
	so->connecting = false;
	if (so->listener) {
		/* died while waiting to be accepted: drop it from the queue */
		struct sock *l = so->listener;

		for (unsigned int k = 0; k < l->acc_n; k++) {
			unsigned int i = (l->acc_head + k) % l->acc_max;

			if (l->acceptq[i] == so) {
				for (; k + 1 < l->acc_n; k++) {
					unsigned int a =
						(l->acc_head + k) % l->acc_max;
					unsigned int b = (a + 1) % l->acc_max;

					l->acceptq[a] = l->acceptq[b];
				}
				l->acc_n--;
				break;
			}
		}
		sock_free(so);
	}
}

static int64_t now_ms(void);

/* Our data was acknowledged: the user timeout starts again. */
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct sock *so = arg;

	(void)pcb;
	if (so) {
		so->last_progress_ms = (uint64_t)now_ms();
		so->acked_total += len;
		zc_release(so->st, &so->zc_head, &so->zc_tail, so->acked_total,
			   false);
	}
	return ERR_OK;
}

/* After pn_close() with zero-copy buffers still unacknowledged: a small
 * record that keeps returning them as the peer acknowledges, and frees
 * itself when none are left or the connection dies. */
struct zc_zombie {
	struct pn_stack *st;
	struct zc_tx *head, *tail;
	uint64_t acked;
};

static err_t zombie_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct zc_zombie *z = arg;

	z->acked += len;
	zc_release(z->st, &z->head, &z->tail, z->acked, false);
	if (!z->head) {
		tcp_arg(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		free(z);
	}
	return ERR_OK;
}

static void zombie_err(void *arg, err_t err)
{
	struct zc_zombie *z = arg;

	(void)err; /* lwIP freed the pcb and every segment */
	zc_release(z->st, &z->head, &z->tail, 0, true);
	free(z);
}

static void apply_keepalive(struct sock *so)
{
	if (!so->pcb || so->listening)
		return;
	if (so->keepalive)
		ip_set_option(so->pcb, SOF_KEEPALIVE);
	else
		ip_reset_option(so->pcb, SOF_KEEPALIVE);
	if (so->keep_idle_ms)
		so->pcb->keep_idle = so->keep_idle_ms;
	if (so->keep_intvl_ms)
		so->pcb->keep_intvl = so->keep_intvl_ms;
	if (so->keep_cnt)
		so->pcb->keep_cnt = so->keep_cnt;
}

static void setup_pcb(struct sock *so, struct tcp_pcb *pcb)
{
	so->pcb = pcb;
	tcp_arg(pcb, so);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	if (so->nodelay)
		tcp_nagle_disable(pcb);
	apply_keepalive(so);
	/* RFC 6298's initial RTO of 1 s, not lwIP's 3 s, until the first
	 * round-trip sample (a lost first segment cost 6 s with backoff) */
	if (pcb->sa == 0 && pcb->sv > 1000 / TCP_SLOW_INTERVAL)
		pcb->sv = pcb->rto = 1000 / TCP_SLOW_INTERVAL;
}

/* TCP_USER_TIMEOUT: data unacknowledged for longer aborts the connection
 * (ETIMEDOUT), as on Linux. Checked from the stack's loop. */
void sock_check_timeouts(struct pn_stack *st, uint64_t now)
{
	for (unsigned int i = 0; i < st->nsocks; i++) {
		struct sock *so = st->socks[i];

		if (!so || !so->pcb || so->listening || !so->user_timeout_ms ||
		    (!so->pcb->unacked && !so->pcb->unsent))
			continue;
		if (now - so->last_progress_ms < so->user_timeout_ms)
			continue;
		tcp_arg(so->pcb, NULL);
		tcp_abort(so->pcb);
		so->pcb = NULL;
		so->err = -ETIMEDOUT;
		so->connecting = false;
	}
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct sock *l = arg, *so;

	if (err != ERR_OK || !newpcb || !l)
		return ERR_VAL;
	if (l->acc_n == l->acc_max || !(so = sock_new(l->st))) {
		tcp_abort(newpcb);
		return ERR_ABRT;
	}
	so->nodelay = l->nodelay;
	so->keepalive = l->keepalive;
	so->connected = true;
	so->listener = l;
	setup_pcb(so, newpcb);
	l->acceptq[(l->acc_head + l->acc_n) % l->acc_max] = so;
	l->acc_n++;
	return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct sock *so = arg;

	(void)pcb;
	if (so) {
		so->connecting = false;
		so->connected = err == ERR_OK;
		if (err != ERR_OK)
			so->err = errno_of(err);
	}
	return ERR_OK;
}

/* ---- waiting ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Room to queue at least a little: lwIP's send buffer and segment queue
 * (with `margin` segments to spare), and lwIP not out of memory at the last
 * write. After an ERR_MEM (segments or pbufs exhausted, often by other
 * connections) the socket is not writable until the stack has taken in
 * new frames: ACKs are what free that memory. Reporting POLLOUT meanwhile
 * made applications spin on EAGAIN without the stack ever running.
 */
static bool writable(const struct sock *so, unsigned int margin)
{
	return so->pcb && tcp_sndbuf(so->pcb) > 0 &&
	       tcp_sndqueuelen(so->pcb) + margin < TCP_SND_QUEUELEN &&
	       so->st->rx_gen >= so->unblock_gen;
}

/* tcp_write() failed with ERR_MEM: push what is queued, and not writable
 * until frames come in (see writable()) */
static void send_blocked(struct sock *so)
{
	so->unblock_gen = so->st->rx_gen + 1;
	tcp_output(so->pcb);
}

static short revents_of(struct sock *so, short events)
{
	short r = 0;

	if (so->listening) {
		if (so->acc_n)
			r |= POLLIN;
	} else {
		if (so->rx_n || so->eof || so->err)
			r |= POLLIN;
		if (so->pcb && so->connected && !so->connecting &&
		    !so->shut_wr && writable(so, 4))
			r |= POLLOUT;
		if (so->err)
			r |= POLLERR;
		if ((so->eof && so->shut_wr) || (!so->pcb && so->connected))
			r |= POLLHUP;
	}
	return r & (events | POLLERR | POLLHUP);
}

PN_EXPORT int pn_poll(struct pn_stack *st, struct pn_pollfd *fds,
		      unsigned int n, int timeout_ms)
{
	int64_t deadline = INT64_MAX;

	if (!st || (n && !fds))
		return -EINVAL;
	/* the clock only when it matters: a busy loop polls with something
	 * ready or with timeout 0, and a clock read per call showed in its
	 * profile (4%) */
	if (timeout_ms > 0)
		deadline = now_ms() + timeout_ms;
	for (;;) {
		int ready = 0;
		int64_t left;

		for (unsigned int i = 0; i < n; i++) {
			struct sock *so = get(st, fds[i].sock);

			fds[i].revents =
				so ? revents_of(so, fds[i].events) : POLLNVAL;
			ready += fds[i].revents != 0;
		}
		if (ready || timeout_ms == 0)
			return ready;
		left = timeout_ms < 0 ? 1000 : deadline - now_ms();
		if (left <= 0)
			return 0;
		pn_stack_process(st, left > 1000 ? 1000 : (int)left);
	}
}

/* Run the stack until cond(so) holds; -EAGAIN at once for non-blocking. */
static int wait_for(struct sock *so, short events)
{
	struct pn_pollfd pf = { so->id, events, 0 };
	int id = so->id;
	struct pn_stack *st = so->st;

	if (revents_of(so, events))
		return 0;
	if (so->nonblock)
		return -EAGAIN;
	while (!pf.revents) {
		int rc = pn_poll(st, &pf, 1, -1);

		if (rc < 0)
			return rc;
		if (!get(st, id))
			return -EBADF;
	}
	return 0;
}

/* ---- the API --------------------------------------------------------------------- */

PN_EXPORT int pn_socket(struct pn_stack *st, int domain, int type, int protocol)
{
	struct sock *so;

	if (!st)
		return -EINVAL;
	if (domain != AF_INET)
		return -EAFNOSUPPORT;
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM)
		return -EPROTONOSUPPORT;
	if (protocol != 0 && protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	so = sock_new(st);
	if (!so)
		return st->nsocks >= MAX_SOCKS ? -EMFILE : -ENOMEM;
	so->pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!so->pcb) {
		sock_free(so);
		return -ENOMEM;
	}
	so->nonblock = type & SOCK_NONBLOCK;
	setup_pcb(so, so->pcb);
	return so->id;
}

static int to_lwip(const struct sockaddr *addr, socklen_t len, ip_addr_t *ip,
		   u16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;

	if (!addr || len < sizeof(*sin))
		return -EINVAL;
	if (sin->sin_family != AF_INET)
		return -EAFNOSUPPORT;
	ip_addr_set_ip4_u32(ip, sin->sin_addr.s_addr);
	*port = ntohs(sin->sin_port);
	return 0;
}

static void from_lwip(const ip_addr_t *ip, u16_t port, struct sockaddr *addr,
		      socklen_t *len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	sin.sin_addr.s_addr = ip4_addr_get_u32(ip_2_ip4(ip));
	sin.sin_port = htons(port);
	if (addr && len) {
		memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
		*len = sizeof(sin);
	}
}

PN_EXPORT int pn_bind(struct pn_stack *st, int s, const struct sockaddr *addr,
		      socklen_t len)
{
	struct sock *so = get(st, s);
	ip_addr_t ip;
	u16_t port;
	int rc;

	if (!so)
		return -EBADF;
	if (!so->pcb || so->listening || so->connected || so->connecting)
		return -EINVAL;
	rc = to_lwip(addr, len, &ip, &port);
	if (rc)
		return rc;
	if (so->reuseaddr)
		ip_set_option(so->pcb, SOF_REUSEADDR);
	return errno_of(tcp_bind(so->pcb, &ip, port));
}

PN_EXPORT int pn_listen(struct pn_stack *st, int s, int backlog)
{
	struct sock *so = get(st, s);
	struct tcp_pcb *lpcb;
	err_t err = ERR_OK;

	if (!so)
		return -EBADF;
	if (so->listening)
		return 0;
	if (!so->pcb || so->connected || so->connecting)
		return -EINVAL;
	if (backlog <= 0 || backlog > 4096)
		backlog = 4096;
	so->acceptq = calloc((size_t)backlog, sizeof(*so->acceptq));
	if (!so->acceptq)
		return -ENOMEM;
	so->acc_max = (unsigned int)backlog;
	lpcb = tcp_listen_with_backlog_and_err(so->pcb, 255, &err);
	if (!lpcb) {
		free(so->acceptq);
		so->acceptq = NULL;
		return errno_of(err);
	}
	so->pcb = lpcb; /* the old pcb is freed by lwIP */
	so->listening = true;
	tcp_arg(lpcb, so);
	tcp_accept(lpcb, on_accept);
	return 0;
}

PN_EXPORT int pn_accept(struct pn_stack *st, int s, struct sockaddr *addr,
			socklen_t *len, int flags)
{
	struct sock *l = get(st, s), *so;
	int rc;

	if (!l)
		return -EBADF;
	if (!l->listening)
		return -EINVAL;
	rc = wait_for(l, POLLIN);
	if (rc)
		return rc;
	so = l->acceptq[l->acc_head];
	l->acc_head = (l->acc_head + 1) % l->acc_max;
	l->acc_n--;
	so->listener = NULL;
	so->nonblock = flags & SOCK_NONBLOCK;
	if (so->pcb)
		from_lwip(&so->pcb->remote_ip, so->pcb->remote_port, addr, len);
	return so->id;
}

PN_EXPORT int pn_connect(struct pn_stack *st, int s,
			 const struct sockaddr *addr, socklen_t len)
{
	struct sock *so = get(st, s);
	ip_addr_t ip;
	u16_t port;
	int rc;

	if (!so)
		return -EBADF;
	if (so->connected)
		return -EISCONN;
	if (so->connecting)
		return -EALREADY;
	if (so->listening || !so->pcb)
		return so->err ? so->err : -EINVAL;
	rc = to_lwip(addr, len, &ip, &port);
	if (rc)
		return rc;
	rc = errno_of(tcp_connect(so->pcb, &ip, port, on_connected));
	if (rc)
		return rc;
	so->connecting = true;
	if (so->nonblock)
		return -EINPROGRESS;
	while (so->connecting) {
		rc = pn_stack_process(st, -1);
		if (rc < 0)
			return rc;
	}
	if (so->err) {
		rc = so->err;
		so->err = 0;
		return rc;
	}
	return 0;
}

/* Whether data may be queued now: 0, or the -errno a send returns. */
static int can_send(const struct sock *so)
{
	if (so->err)
		return so->err == -ECONNRESET ? -ECONNRESET : -EPIPE;
	if (so->shut_wr || (!so->pcb && so->connected))
		return -EPIPE;
	if (!so->pcb || !so->connected)
		return so->connecting ? -EAGAIN : -ENOTCONN;
	return 0;
}

PN_EXPORT ssize_t pn_send(struct pn_stack *st, int s, const void *buf,
			  size_t len, int flags)
{
	struct sock *so = get(st, s);
	size_t room;
	err_t err;
	int rc;

	(void)flags;
	if (!so)
		return -EBADF;
	if (so->listening)
		return -ENOTCONN;
	if (len == 0)
		return 0;
	for (;;) {
		rc = can_send(so);
		if (rc)
			return rc;
		room = tcp_sndbuf(so->pcb);
		if (writable(so, 4)) {
			size_t n = len > room ? room : len;

			if (n > 0xffff)
				n = 0xffff; /* tcp_write takes a u16 */
			if (!so->pcb->unacked && !so->pcb->unsent)
				so->last_progress_ms =
					(uint64_t)now_ms(); /* a new wait */
			err = tcp_write(so->pcb, buf, (u16_t)n,
					TCP_WRITE_FLAG_COPY);
			if (err != ERR_MEM) {
				len = n;
				break;
			}
			send_blocked(so); /* out of segments or pbufs */
		}
		rc = wait_for(so, POLLOUT);
		if (rc)
			return rc;
	}
	if (err == ERR_OK)
		so->sent_total += len;
	if (err != ERR_OK)
		return errno_of(err);
	tcp_output(so->pcb);
	return (ssize_t)len;
}

PN_EXPORT ssize_t pn_recv(struct pn_stack *st, int s, void *buf, size_t len,
			  int flags)
{
	struct sock *so = get(st, s);
	size_t got = 0;
	int rc;

	(void)flags;
	if (!so)
		return -EBADF;
	if (so->listening)
		return -ENOTCONN;
	if (!so->connected && !so->rx_n)
		return so->err ? so->err : -ENOTCONN;
	if (len == 0)
		return 0;
	rc = wait_for(so, POLLIN);
	if (rc)
		return rc;
	while (so->rx_n && got < len) {
		struct pbuf *p = so->rxq[so->rx_head];
		size_t want = p->tot_len - so->rx_off;
		u16_t n;

		if (want > len - got)
			want = len - got;
		n = pbuf_copy_partial(p, (char *)buf + got, (u16_t)want,
				      so->rx_off);
		got += n;
		so->rx_off = (u16_t)(so->rx_off + n);
		if (so->rx_off >= p->tot_len) {
			/* the segment is read: its buffers go back */
			pbuf_free(p);
			so->rx_head = (so->rx_head + 1) % so->rx_cap;
			so->rx_n--;
			so->rx_off = 0;
		}
		if (!n)
			break;
	}
	/* the window opens by what the application took */
	for (size_t left = got; left && so->pcb;) {
		u16_t c = (u16_t)(left > 0xffff ? 0xffff : left);

		tcp_recved(so->pcb, c);
		left -= c;
	}
	if (got)
		return (ssize_t)got;
	if (so->err) {
		rc = so->err;
		so->err = 0;
		return rc;
	}
	return 0; /* end of stream */
}

PN_EXPORT int pn_shutdown(struct pn_stack *st, int s, int how)
{
	struct sock *so = get(st, s);
	int rd = how == SHUT_RD || how == SHUT_RDWR;
	int wr = how == SHUT_WR || how == SHUT_RDWR;

	if (!so)
		return -EBADF;
	if (!rd && !wr)
		return -EINVAL;
	if (!so->pcb || !so->connected || so->listening)
		return -ENOTCONN;
	if (wr)
		so->shut_wr = true;
	return errno_of(tcp_shutdown(so->pcb, rd, wr));
}

static void close_pcb(struct sock *so)
{
	struct tcp_pcb *pcb = so->pcb;

	if (!pcb)
		return;
	tcp_arg(pcb, NULL);
	so->pcb = NULL;
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
		u16_t left = (u16_t)(p->tot_len - (i ? 0 : so->rx_off));

		tcp_recved(pcb, left);
	}
	if (so->zc_head) {
		struct zc_zombie *z = calloc(1, sizeof(*z));

		if (!z) {
			tcp_abort(pcb);
			return;
		}
		*z = (struct zc_zombie){ so->st, so->zc_head, so->zc_tail,
					 so->acked_total };
		so->zc_head = so->zc_tail = NULL;
		tcp_arg(pcb, z);
		tcp_sent(pcb, zombie_sent);
		tcp_err(pcb, zombie_err);
	}
	if (tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb); /* the zombie, if any, hears of it */
}

PN_EXPORT int pn_close(struct pn_stack *st, int s)
{
	struct sock *so = get(st, s);

	if (!so)
		return -EBADF;
	if (so->listening) {
		while (so->acc_n) {
			struct sock *c = so->acceptq[so->acc_head];

			so->acc_head = (so->acc_head + 1) % so->acc_max;
			so->acc_n--;
			if (c->pcb) {
				tcp_arg(c->pcb, NULL);
				tcp_abort(c->pcb);
				c->pcb = NULL;
			}
			sock_free(c);
		}
	}
	close_pcb(so);
	sock_free(so);
	return 0;
}

void sock_abort_all(struct pn_stack *st)
{
	for (unsigned int i = 0; i < st->nsocks; i++) {
		struct sock *so = st->socks[i];

		if (!so)
			continue;
		if (so->pcb && !so->listening) {
			tcp_arg(so->pcb, NULL);
			tcp_abort(so->pcb);
			so->pcb = NULL;
		}
	}
	for (unsigned int i = 0; i < st->nsocks; i++)
		if (st->socks[i] && !st->socks[i]->listener)
			pn_close(st, (int)i);
	for (unsigned int i = 0; i < st->nsocks; i++)
		if (st->socks[i])
			sock_free(st->socks[i]);
}

PN_EXPORT int pn_getsockname(struct pn_stack *st, int s, struct sockaddr *addr,
			     socklen_t *len)
{
	struct sock *so = get(st, s);

	if (!so)
		return -EBADF;
	if (!so->pcb)
		return -EINVAL;
	from_lwip(&so->pcb->local_ip, so->pcb->local_port, addr, len);
	return 0;
}

PN_EXPORT int pn_getpeername(struct pn_stack *st, int s, struct sockaddr *addr,
			     socklen_t *len)
{
	struct sock *so = get(st, s);

	if (!so)
		return -EBADF;
	if (!so->pcb || !so->connected || so->listening)
		return -ENOTCONN;
	from_lwip(&so->pcb->remote_ip, so->pcb->remote_port, addr, len);
	return 0;
}

static int int_opt(const void *val, socklen_t len, int *out)
{
	if (!val || len < sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

PN_EXPORT int pn_setsockopt(struct pn_stack *st, int s, int level, int name,
			    const void *val, socklen_t len)
{
	struct sock *so = get(st, s);
	int v = 0;

	if (!so)
		return -EBADF;
	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lg;

		if (!val || len < sizeof(lg))
			return -EINVAL;
		memcpy(&lg, val, sizeof(lg));
		so->linger_on = lg.l_onoff;
		so->linger_s = lg.l_linger;
		return 0;
	}
	if (int_opt(val, len, &v))
		return -EINVAL;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_REUSEADDR:
			so->reuseaddr = v;
			if (so->pcb && v)
				ip_set_option(so->pcb, SOF_REUSEADDR);
			else if (so->pcb)
				ip_reset_option(so->pcb, SOF_REUSEADDR);
			return 0;
		case SO_KEEPALIVE:
			so->keepalive = v;
			apply_keepalive(so);
			return 0;
		case SO_RCVBUF:
		case SO_SNDBUF:
			/* lwIP's window and send buffer are fixed at build
			 * time (configs/lwipopts.h); accepted, not applied */
			return v > 0 ? 0 : -EINVAL;
		}
	} else if (level == IPPROTO_TCP) {
		switch (name) {
		case LINUX_TCP_NODELAY:
			so->nodelay = v;
			if (so->pcb && !so->listening) {
				if (v)
					tcp_nagle_disable(so->pcb);
				else
					tcp_nagle_enable(so->pcb);
			}
			return 0;
		case LINUX_TCP_KEEPIDLE: /* seconds, as on Linux */
		case LINUX_TCP_KEEPINTVL:
			if (v < 1 || v > 32767)
				return -EINVAL;
			if (name == LINUX_TCP_KEEPIDLE)
				so->keep_idle_ms = (uint32_t)v * 1000;
			else
				so->keep_intvl_ms = (uint32_t)v * 1000;
			apply_keepalive(so);
			return 0;
		case LINUX_TCP_KEEPCNT:
			if (v < 1 || v > 127)
				return -EINVAL;
			so->keep_cnt = (uint32_t)v;
			apply_keepalive(so);
			return 0;
		case LINUX_TCP_USER_TIMEOUT: /* milliseconds; 0 off */
			if (v < 0)
				return -EINVAL;
			so->user_timeout_ms = (uint32_t)v;
			return 0;
		}
	}
	return -ENOPROTOOPT;
}

PN_EXPORT int pn_getsockopt(struct pn_stack *st, int s, int level, int name,
			    void *val, socklen_t *len)
{
	struct sock *so = get(st, s);
	int v;

	if (!so)
		return -EBADF;
	if (!val || !len)
		return -EINVAL;
	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lg = { so->linger_on, so->linger_s };

		if (*len < sizeof(lg))
			return -EINVAL;
		memcpy(val, &lg, sizeof(lg));
		*len = sizeof(lg);
		return 0;
	}
	if (*len < sizeof(int))
		return -EINVAL;
	if (level == SOL_SOCKET && name == SO_REUSEADDR)
		v = so->reuseaddr;
	else if (level == SOL_SOCKET && name == SO_KEEPALIVE)
		v = so->keepalive;
	else if (level == SOL_SOCKET && name == SO_RCVBUF)
		v = TCP_WND;
	else if (level == SOL_SOCKET && name == SO_SNDBUF)
		v = TCP_SND_BUF;
	else if (level == SOL_SOCKET && name == SO_ERROR) {
		v = -so->err;
		so->err = 0;
	} else if (level == IPPROTO_TCP && name == LINUX_TCP_NODELAY)
		v = so->nodelay;
	else if (level == IPPROTO_TCP && name == LINUX_TCP_USER_TIMEOUT)
		v = (int)so->user_timeout_ms;
	else if (level == IPPROTO_TCP && name == LINUX_TCP_KEEPIDLE)
		v = (int)((so->pcb ? so->pcb->keep_idle : so->keep_idle_ms) /
			  1000);
	else if (level == IPPROTO_TCP && name == LINUX_TCP_KEEPINTVL)
		v = (int)((so->pcb ? so->pcb->keep_intvl : so->keep_intvl_ms) /
			  1000);
	else if (level == IPPROTO_TCP && name == LINUX_TCP_KEEPCNT)
		v = (int)(so->pcb ? so->pcb->keep_cnt : so->keep_cnt);
	else
		return -ENOPROTOOPT;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

/* ---- vectored and zero-copy forms ------------------------------------ */

PN_EXPORT ssize_t pn_sendv(struct pn_stack *st, int s, const struct iovec *iov,
			   int iovcnt)
{
	ssize_t total = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		ssize_t n;

		if (!iov[i].iov_len)
			continue;
		n = pn_send(st, s, iov[i].iov_base, iov[i].iov_len, 0);
		if (n < 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break; /* send space ran out: a short write, as writev */
	}
	return total;
}

PN_EXPORT ssize_t pn_recvv(struct pn_stack *st, int s, const struct iovec *iov,
			   int iovcnt)
{
	struct sock *so = get(st, s);
	ssize_t total = 0;

	if (!so)
		return -EBADF;
	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		ssize_t n;

		if (!iov[i].iov_len)
			continue;
		/* block for the first piece only, as readv */
		if (total && !so->rx_n)
			break;
		n = pn_recv(st, s, iov[i].iov_base, iov[i].iov_len, 0);
		if (n <= 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return total;
}

PN_EXPORT ssize_t pn_recv_zc(struct pn_stack *st, int s, struct pn_zc_rx *zc)
{
	struct sock *so = get(st, s);
	struct pbuf *p, *q;
	size_t skip;
	int rc;

	if (!so)
		return -EBADF;
	if (!zc)
		return -EINVAL;
	if (so->listening)
		return -ENOTCONN;
	if (so->zc_rx)
		return -EBUSY;
	if (!so->connected && !so->rx_n)
		return so->err ? so->err : -ENOTCONN;
	rc = wait_for(so, POLLIN);
	if (rc)
		return rc;
	if (!so->rx_n) {
		if (so->err) {
			rc = so->err;
			so->err = 0;
			return rc;
		}
		return 0; /* end of stream */
	}
	p = so->rxq[so->rx_head];
	skip = so->rx_off;
	zc->iovcnt = 0;
	zc->len = 0;
	for (q = p; q; q = q->next) {
		if (skip >= q->len) {
			skip -= q->len;
			continue;
		}
		if (zc->iovcnt == PN_ZC_MAXIOV)
			return -ENOMEM; /* a chain longer than the iov: use pn_recv */
		zc->iov[zc->iovcnt].iov_base = (char *)q->payload + skip;
		zc->iov[zc->iovcnt].iov_len = q->len - skip;
		zc->len += q->len - skip;
		zc->iovcnt++;
		skip = 0;
	}
	so->rx_head = (so->rx_head + 1) % so->rx_cap;
	so->rx_n--;
	so->rx_off = 0;
	so->zc_rx = p;
	zc->handle = p;
	return (ssize_t)zc->len;
}

PN_EXPORT int pn_recv_zc_done(struct pn_stack *st, int s, struct pn_zc_rx *zc)
{
	struct sock *so = get(st, s);

	if (!so)
		return -EBADF;
	if (!zc || !so->zc_rx || zc->handle != so->zc_rx)
		return -EINVAL;
	pbuf_free(so->zc_rx);
	so->zc_rx = NULL;
	zc->handle = NULL;
	for (size_t left = zc->len; left && so->pcb;) {
		u16_t c = (u16_t)(left > 0xffff ? 0xffff : left);

		tcp_recved(so->pcb, c);
		left -= c;
	}
	return 0;
}

PN_EXPORT void *pn_send_buf(struct pn_stack *st, size_t size)
{
	if (!st) {
		errno = EINVAL;
		return NULL;
	}
	return pn_buf_alloc(st->pool, size, OWNER_APP_ZC);
}

PN_EXPORT void pn_send_buf_free(struct pn_stack *st, void *buf)
{
	if (st && buf)
		pn_buf_free(st->pool, buf);
}

PN_EXPORT ssize_t pn_send_zc(struct pn_stack *st, int s, void *buf, size_t len)
{
	struct sock *so = get(st, s);
	struct zc_tx *z;
	err_t err;
	int rc;

	if (!so)
		return -EBADF;
	if (!buf || !len || len > 0xffff || !pn_pool_owns(st->pool, buf))
		return -EINVAL;
retry:
	for (;;) {
		rc = so->listening ? -ENOTCONN : can_send(so);
		if (rc)
			return rc;
		if (tcp_sndbuf(so->pcb) >= len && writable(so, 8))
			break;
		/* the whole buffer must fit: wait for acknowledgements */
		if (so->nonblock)
			return -EAGAIN;
		rc = pn_stack_process(st, 10);
		if (rc < 0)
			return rc;
	}
	z = malloc(sizeof(*z));
	if (!z)
		return -ENOMEM;
	if (!so->pcb->unacked && !so->pcb->unsent)
		so->last_progress_ms = (uint64_t)now_ms();
	/* no copy: lwIP's segments point into the pool buffer */
	err = tcp_write(so->pcb, buf, (u16_t)len, 0);
	if (err != ERR_OK) {
		free(z);
		if (err != ERR_MEM)
			return errno_of(err);
		send_blocked(so); /* out of segments or pbufs */
		if (so->nonblock)
			return -EAGAIN;
		goto retry; /* the loop above runs the stack until then */
	}
	so->sent_total += len;
	*z = (struct zc_tx){ NULL, buf, so->sent_total };
	if (so->zc_tail)
		so->zc_tail->next = z;
	else
		so->zc_head = z;
	so->zc_tail = z;
	tcp_output(so->pcb);
	return (ssize_t)len;
}
