/* SPDX-License-Identifier: MIT */
/*
 * The socket table and the calls that make, connect and close sockets,
 * over lwIP's raw TCP API. lwIP's err_t is turned into -errno here, once.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "sock.h"

int errno_of(err_t e)
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

struct sock *sock_get(struct pn_stack *st, int s)
{
	if (s < 0 || (unsigned int)s >= st->nsocks)
		return NULL;
	return st->socks[s];
}

int sock_lookup(struct pn_stack *st, int s, struct sock **so)
{
	int rc = stack_enter(st);

	if (rc)
		return rc;
	*so = sock_get(st, s);
	return *so ? 0 : -EBADF;
}

/* What malloc takes for n bytes (glibc: an 8-byte header, 16-byte
 * granules). */
static size_t heap_of(size_t n)
{
	return (n + 8 + 15) & ~(size_t)15;
}

size_t sock_heap_bytes(void)
{
	return heap_of(sizeof(struct sock)) + heap_of(sizeof(struct tcp_pcb));
}

/* A new socket record with a free number: the most recently freed one
 * (a stack of them, O(1)), or the next slot, the table doubling as it
 * fills. NULL at max_conns (EMFILE) or out of memory. */
struct sock *sock_new(struct pn_stack *st)
{
	struct sock *so;
	unsigned int i;

	if (st->socks_used >= st->o.max_conns)
		return NULL;
	if (!st->nfree) {
		unsigned int n = st->nsocks ? st->nsocks * 2 : 64;
		struct sock **t;
		int *f;

		if (n > STACK_MAX_CONNS)
			n = STACK_MAX_CONNS;
		if (n <= st->nsocks)
			return NULL;
		t = realloc(st->socks, n * sizeof(*t));
		if (!t)
			return NULL;
		st->socks = t;
		f = realloc(st->free_ids, n * sizeof(*f));
		if (!f)
			return NULL; /* the bigger table stays, unused */
		st->free_ids = f;
		memset(t + st->nsocks, 0, (n - st->nsocks) * sizeof(*t));
		/* lowest numbers on top: they are handed out first */
		for (unsigned int k = n; k > st->nsocks; k--)
			st->free_ids[st->nfree++] = (int)(k - 1);
		st->nsocks = n;
	}
	so = calloc(1, sizeof(*so));
	if (!so)
		return NULL;
	i = (unsigned int)st->free_ids[--st->nfree];
	so->id = (int)i;
	so->st = st;
	st->socks[i] = so;
	st->socks_used++;
	return so;
}

void sock_free(struct sock *so)
{
	struct pn_stack *st = so->st;

	st->socks[so->id] = NULL;
	st->free_ids[st->nfree++] = so->id;
	st->socks_used--;
	ep_forget(so);
	sock_unwake(so);
	sock_unbudget(so);
	st->tx_inq -= so->inq_counted; /* it holds nothing of the budget */
	sock_untime(so);
	sock_unout(so);
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

PN_EXPORT int pn_socket(struct pn_stack *st, int domain, int type, int protocol)
{
	struct sock *so;
	int rc = stack_enter(st);

	if (rc)
		return rc;
	if (domain != AF_INET)
		return -EAFNOSUPPORT;
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM)
		return -EPROTONOSUPPORT;
	if (protocol != 0 && protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	so = sock_new(st);
	if (!so)
		return st->socks_used >= st->o.max_conns ? -EMFILE : -ENOMEM;
	so->pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!so->pcb) {
		sock_free(so);
		return -ENOMEM;
	}
	so->nonblock = type & SOCK_NONBLOCK;
	so->sndbuf_set = st->o.send_buffer;
	sock_setup_pcb(so, so->pcb);
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
	struct sock *so;
	ip_addr_t ip;
	u16_t port;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
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
	struct sock *so;
	struct tcp_pcb *lpcb;
	err_t err = ERR_OK;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
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
	tcp_accept(lpcb, sock_on_accept);
	return 0;
}

PN_EXPORT int pn_accept(struct pn_stack *st, int s, struct sockaddr *addr,
			socklen_t *len, int flags)
{
	struct sock *l, *so;
	int rc = sock_lookup(st, s, &l);

	if (rc)
		return rc;
	if (!l->listening)
		return -EINVAL;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	rc = sock_wait(l, POLLIN, l->nonblock);
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
	struct sock *so;
	ip_addr_t ip;
	u16_t port;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (so->connected)
		return -EISCONN;
	if (so->connecting)
		return -EALREADY;
	if (so->listening || !so->pcb)
		return so->err ? so->err : -EINVAL;
	rc = to_lwip(addr, len, &ip, &port);
	if (rc)
		return rc;
	rc = errno_of(tcp_connect(so->pcb, &ip, port, sock_on_connected));
	if (rc)
		return rc;
	so->connecting = true;
	if (so->nonblock)
		return -EINPROGRESS;
	while (so->connecting) {
		rc = stack_run(st, -1);
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

PN_EXPORT int pn_shutdown(struct pn_stack *st, int s, int how)
{
	struct sock *so;
	int rd = how == SHUT_RD || how == SHUT_RDWR;
	int wr = how == SHUT_WR || how == SHUT_RDWR;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!rd && !wr)
		return -EINVAL;
	if (!so->pcb || !so->connected || so->listening)
		return -ENOTCONN;
	if (wr)
		so->shut_wr = true;
	if (rd)
		so->shut_rd = true;
	if (rd)
		sock_rwnd_release(so); /* nothing more is read */
	rc = errno_of(tcp_shutdown(so->pcb, rd, wr));
	sock_notify(so); /* HUP, RDHUP, OUT may be new */
	return rc;
}

static int sock_close(struct sock *so)
{
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
	sock_close_pcb(so);
	sock_free(so);
	return 0;
}

PN_EXPORT int pn_close(struct pn_stack *st, int s)
{
	struct sock *so;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	return sock_close(so);
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
			sock_account(so);
		}
	}
	for (unsigned int i = 0; i < st->nsocks; i++)
		if (st->socks[i] && !st->socks[i]->listener)
			sock_close(st->socks[i]);
	for (unsigned int i = 0; i < st->nsocks; i++)
		if (st->socks[i])
			sock_free(st->socks[i]);
}

PN_EXPORT int pn_getsockname(struct pn_stack *st, int s, struct sockaddr *addr,
			     socklen_t *len)
{
	struct sock *so;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!so->pcb)
		return -EINVAL;
	from_lwip(&so->pcb->local_ip, so->pcb->local_port, addr, len);
	return 0;
}

PN_EXPORT int pn_getpeername(struct pn_stack *st, int s, struct sockaddr *addr,
			     socklen_t *len)
{
	struct sock *so;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!so->pcb || !so->connected || so->listening)
		return -ENOTCONN;
	from_lwip(&so->pcb->remote_ip, so->pcb->remote_port, addr, len);
	return 0;
}
