/* SPDX-License-Identifier: MIT */
/*
 * pinnet-perf's sockperf server (TCP): every client message that asks for a
 * reply comes back, for sockperf ping-pong and under-load. Connections are
 * allocated as they come and registered edge-triggered in the main loop's
 * readiness set, each event served until the socket would block.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "perf.h"

/* sockperf's TCP messages: a 14-byte header in network order (sequence
 * number, flags, total length), then the payload; the server returns every
 * client message that asks for a reply, with the client bit cleared. */
#define SP_HDR 14
#define SP_CLIENT 1
#define SP_PONG 2
#define SP_WARMUP 4
#define SP_MAXMSG 65536

/* Connections are allocated as they come: this is a bound, not a table */
#define SP_MAXCONN (1 << 20)
#define SP_TXMAX (4 * SP_MAXMSG) /* replies held for a client not reading */

/* A connection costs its record only, unless it holds the start of a
 * message (rx) or replies a full send buffer left over (tx). */
struct spconn {
	struct spconn *prev, *next; /* every open connection */
	int sock;
	char *rx; /* received, not yet parsed, or NULL */
	size_t rlen;
	char *tx; /* replies not yet sent, or NULL */
	size_t tlen, toff;
};

static struct spconn *spcs; /* the open connections */
static unsigned int nspc;
static uint64_t sp_msgs, sp_replies, sp_refused;
/* one connection's input (what it held, then what came) and the replies
 * to one read: a partial message is under SP_MAXMSG, a read then fills
 * the rest */
static char sp_in[2 * SP_MAXMSG], sp_out[2 * SP_MAXMSG];

/* The connection goes (its socket leaves the readiness set with it). */
static void sp_drop(struct spconn *c)
{
	net_close(net, c->sock);
	free(c->rx);
	free(c->tx);
	if (c->prev)
		c->prev->next = c->next;
	else
		spcs = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nspc--;
	free(c);
}

/* Send what is held; false when the connection failed. */
static bool sp_flush(struct spconn *c)
{
	while (c->toff < c->tlen) {
		ssize_t w = net_send(net, c->sock, c->tx + c->toff,
				     c->tlen - c->toff);

		if (w == -EAGAIN)
			return true;
		if (w < 0)
			return false;
		c->toff += (size_t)w;
	}
	free(c->tx);
	c->tx = NULL;
	c->tlen = c->toff = 0;
	return true;
}

/* Send replies, holding what the send buffer has no room for; false when
 * the connection failed or holds too much (the client does not read).
 * Nothing held: straight out, until a send says EAGAIN: on the stack only
 * a send that found no room arms the edge-triggered EPOLLOUT (a short one
 * does not, where Linux's would), so stopping at a short send could wait
 * for good. */
static bool sp_queue(struct spconn *c, const char *p, size_t n)
{
	size_t left;
	char *t;

	while (!c->tx && n) {
		ssize_t w = net_send(net, c->sock, p, n);

		if (w == -EAGAIN)
			break;
		if (w < 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	if (!n)
		return true;
	left = c->tlen - c->toff;
	if (left + n > SP_TXMAX)
		return false;
	if (c->toff) {
		memmove(c->tx, c->tx + c->toff, left);
		c->toff = 0;
	}
	t = realloc(c->tx, left + n);
	if (!t)
		return false;
	memcpy(t + left, p, n);
	c->tx = t;
	c->tlen = left + n;
	return true;
}

/*
 * Send what is held, then read and answer every complete message that asks
 * for a reply, until the socket would block (sockets are registered
 * edge-triggered). false when the connection is to go: an error, the
 * client's end of stream, or what is not sockperf.
 */
static bool sp_serve(struct spconn *c)
{
	size_t have = c->rlen;

	if (c->tx && !sp_flush(c))
		return false;
	if (have)
		memcpy(sp_in, c->rx, have);
	free(c->rx);
	c->rx = NULL;
	c->rlen = 0;
	for (;;) {
		ssize_t r = net_recv(net, c->sock, sp_in + have,
				     sizeof(sp_in) - have);
		size_t off = 0, olen = 0;

		if (r == -EAGAIN)
			break;
		if (r <= 0)
			return false;
		have += (size_t)r;
		while (have - off >= SP_HDR) {
			unsigned char *m = (unsigned char *)sp_in + off;
			uint16_t flags = (uint16_t)(m[8] << 8 | m[9]);
			uint32_t len = (uint32_t)m[10] << 24 |
				       (uint32_t)m[11] << 16 |
				       (uint32_t)m[12] << 8 | m[13];

			if (len < SP_HDR || len > SP_MAXMSG)
				return false; /* not sockperf: drop the connection */
			if (have - off < len)
				break;
			sp_msgs++;
			if ((flags & SP_CLIENT) && !(flags & SP_WARMUP) &&
			    (flags & SP_PONG)) {
				memcpy(sp_out + olen, m, len);
				sp_out[olen + 9] = (char)(flags & ~SP_CLIENT);
				sp_out[olen + 8] =
					(char)((flags & ~SP_CLIENT) >> 8);
				olen += len;
				sp_replies++;
			}
			off += len;
		}
		if (olen && !sp_queue(c, sp_out, olen))
			return false;
		memmove(sp_in, sp_in + off, have - off);
		have -= off;
	}
	if (have) {
		c->rx = malloc(have);
		if (!c->rx)
			return false;
		memcpy(c->rx, sp_in, have);
		c->rlen = have;
	}
	return true;
}

void sp_accept(int ep, int ls)
{
	struct spconn *c;
	int s;

	while ((s = net_accept(net, ls)) >= 0) {
		c = nspc < SP_MAXCONN ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			sp_refused++;
			net_close(net, s);
			continue;
		}
		c->sock = s;
		c->next = spcs;
		if (spcs)
			spcs->prev = c;
		spcs = c;
		nspc++;
		net_set_nodelay(net, s);
		/* the registration reports what is there already */
		if (net_epoll_ctl(net, ep, EPOLL_CTL_ADD, s,
				  EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c))
			sp_drop(c);
	}
}

void sp_ready(void *conn)
{
	struct spconn *c = conn;

	if (!sp_serve(c))
		sp_drop(c);
}

void sp_close_all(void)
{
	while (spcs)
		sp_drop(spcs);
}

void sp_report(void)
{
	if (sp_msgs)
		printf("pinnet-perf: sockperf: %llu messages, %llu replies\n",
		       (unsigned long long)sp_msgs,
		       (unsigned long long)sp_replies);
	if (sp_refused)
		fprintf(stderr,
			"pinnet-perf: sockperf: %llu connections refused (out of memory or %u open)\n",
			(unsigned long long)sp_refused, SP_MAXCONN);
}
