/* SPDX-License-Identifier: MIT */
/*
 * pinnet-perf's sockperf server (TCP): every client message that asks for a
 * reply comes back, for sockperf ping-pong and under-load.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

struct spconn {
	int sock;
	char *rx; /* received, not yet parsed */
	size_t rlen;
	char *tx; /* replies not yet sent */
	size_t tlen, toff;
};

static struct spconn spc[SP_MAXCONN];
static uint64_t sp_msgs, sp_replies;

static void sp_drop(struct spconn *c)
{
	net_close(net, c->sock);
	free(c->rx);
	free(c->tx);
	memset(c, 0, sizeof(*c));
	c->sock = -1;
}

/* Send what is queued; false when the connection failed. */
static bool sp_flush(struct spconn *c)
{
	while (c->toff < c->tlen) {
		ssize_t w = net_send(net, c->sock, c->tx + c->toff,
				     c->tlen - c->toff);

		if (w == -EAGAIN)
			break;
		if (w < 0)
			return false;
		c->toff += (size_t)w;
	}
	if (c->toff == c->tlen)
		c->toff = c->tlen = 0;
	return true;
}

/* Read, answer every complete message that asks for a reply. */
static bool sp_serve(struct spconn *c, short rev)
{
	if ((rev & POLLOUT) && !sp_flush(c))
		return false;
	if (!(rev & (POLLIN | POLLERR | POLLHUP)))
		return true;
	for (;;) {
		ssize_t r = net_recv(net, c->sock, c->rx + c->rlen,
				     2 * SP_MAXMSG - c->rlen);
		size_t off = 0;

		if (r == -EAGAIN)
			break;
		if (r <= 0)
			return false;
		c->rlen += (size_t)r;
		while (c->rlen - off >= SP_HDR) {
			unsigned char *m = (unsigned char *)c->rx + off;
			uint16_t flags = (uint16_t)(m[8] << 8 | m[9]);
			uint32_t len = (uint32_t)m[10] << 24 |
				       (uint32_t)m[11] << 16 |
				       (uint32_t)m[12] << 8 | m[13];

			if (len < SP_HDR || len > SP_MAXMSG)
				return false; /* not sockperf: drop the connection */
			if (c->rlen - off < len)
				break;
			sp_msgs++;
			if ((flags & SP_CLIENT) && !(flags & SP_WARMUP) &&
			    (flags & SP_PONG)) {
				if (c->tlen + len > 4 * SP_MAXMSG)
					return false; /* the client does not read */
				memcpy(c->tx + c->tlen, m, len);
				c->tx[c->tlen + 9] = (char)(flags & ~SP_CLIENT);
				c->tx[c->tlen + 8] =
					(char)((flags & ~SP_CLIENT) >> 8);
				c->tlen += len;
				sp_replies++;
			}
			off += len;
		}
		memmove(c->rx, c->rx + off, c->rlen - off);
		c->rlen -= off;
	}
	return sp_flush(c);
}

void sp_accept(int ls)
{
	int s;

	while ((s = net_accept(net, ls)) >= 0) {
		int i = 0;

		while (i < SP_MAXCONN && spc[i].sock >= 0)
			i++;
		if (i == SP_MAXCONN) {
			net_close(net, s);
			continue;
		}
		spc[i].sock = s;
		spc[i].rx = malloc(2 * SP_MAXMSG);
		spc[i].tx = malloc(4 * SP_MAXMSG);
		if (!spc[i].rx || !spc[i].tx)
			sp_drop(&spc[i]);
		if (net_stack(net)) {
			int one = 1;

			pn_setsockopt(net_stack(net), s, IPPROTO_TCP,
				      TCP_NODELAY, &one, sizeof(one));
		} else {
			int one = 1;

			setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		}
	}
}

void sp_init(void)
{
	for (int i = 0; i < SP_MAXCONN; i++)
		spc[i].sock = -1;
}

unsigned int sp_pollfds(struct pn_pollfd *pf, int *idx, unsigned int n)
{
	for (int i = 0; i < SP_MAXCONN; i++)
		if (spc[i].sock >= 0) {
			pf[n] = (struct pn_pollfd){
				spc[i].sock,
				(short)(POLLIN | (spc[i].tlen ? POLLOUT : 0)), 0
			};
			idx[n++] = i;
		}
	return n;
}

void sp_ready(int i, short revents)
{
	if (!sp_serve(&spc[i], revents))
		sp_drop(&spc[i]);
}

void sp_close_all(void)
{
	for (int i = 0; i < SP_MAXCONN; i++)
		if (spc[i].sock >= 0)
			sp_drop(&spc[i]);
}

void sp_report(void)
{
	if (sp_msgs)
		printf("pinnet-perf: sockperf: %llu messages, %llu replies\n",
		       (unsigned long long)sp_msgs,
		       (unsigned long long)sp_replies);
}
