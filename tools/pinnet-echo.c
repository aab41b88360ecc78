/* SPDX-License-Identifier: MIT */
/*
 * pinnet-echo: a TCP echo server on the pinnet stack. Every byte a client
 * sends comes back; runs until SIGINT/SIGTERM, then closes its connections
 * and destroys the stack cleanly (exit 0).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "net.h"
#include "util.h"

/* Connections are allocated as they come: this is a bound, not a table */
#define MAXCONN (1 << 20)
#define BUFSZ 65536
#define EVENTS 256 /* readiness events taken per wait */

/* A connection costs its record only, while all it received was echoed:
 * the bytes a full send buffer left over are kept in buf, allocated then. */
struct conn {
	int sock;
	char *buf; /* bytes received and not yet echoed, or NULL */
	size_t len, off;
	bool in_done; /* the client finished sending */
};

static char scratch[BUFSZ];
static unsigned int nconns;
static struct conn **all; /* every connection, for the exit */
static unsigned int nall;

static void drop(struct net *st, struct conn *c)
{
	net_close(st, c->sock); /* a graceful close: what is queued leaves */
	free(c->buf);
	c->sock = -1; /* freed at the exit, or reused by the next accept */
	c->buf = NULL;
	nconns--;
}

/*
 * Echo what is buffered, then read and echo more, until the socket would
 * block (sockets are registered edge-triggered). false when the connection
 * is to go: an error, or the client's end of stream with everything
 * echoed (the close sends what is queued, then FIN).
 */
static bool serve(struct net *st, struct conn *c)
{
	ssize_t n, s;

	for (;;) {
		while (c->off < c->len) {
			n = net_send(st, c->sock, c->buf + c->off,
				     c->len - c->off);
			if (n == -EAGAIN)
				return true;
			if (n < 0)
				return false;
			c->off += (size_t)n;
		}
		free(c->buf);
		c->buf = NULL;
		c->len = c->off = 0;
		if (c->in_done)
			return false;
		n = net_recv(st, c->sock, scratch, sizeof(scratch));
		if (n == -EAGAIN)
			return true;
		if (n == 0) {
			c->in_done = true;
			continue;
		}
		if (n < 0)
			return false;
		s = net_send(st, c->sock, scratch, (size_t)n);
		if (s == -EAGAIN)
			s = 0;
		else if (s < 0)
			return false;
		if (s < n) {
			c->buf = malloc((size_t)(n - s));
			if (!c->buf)
				return false;
			memcpy(c->buf, scratch + s, (size_t)(n - s));
			c->len = (size_t)(n - s);
		}
	}
}

/* A record for a new connection: a free one, or a new one. */
static struct conn *conn_new(void)
{
	static unsigned int cap, scan;
	struct conn *c;

	for (unsigned int i = 0; i < nall && nconns < nall; i++) {
		c = all[scan++ % nall];
		if (c->sock < 0)
			return c;
	}
	if (nall == cap) {
		unsigned int ncap = cap ? cap * 2 : 1024;
		struct conn **t = realloc(all, ncap * sizeof(*t));

		if (!t)
			return NULL;
		all = t;
		cap = ncap;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		all[nall++] = c;
	return c;
}

int main(int argc, char **argv)
{
	static struct epoll_event evs[EVENTS];
	struct app_opts ao;
	struct net *st;
	uint64_t refused = 0;
	int ls, ep, rc;

	rc = app_parse(
		&ao, argc, argv, "pinnet-echo",
		"A TCP echo server on the pinnet stack (or, with --kernel, on kernel\nsockets: the same code for comparisons).",
		7);
	if (rc >= 0)
		return rc;
	st = net_open(&ao);
	if (!st)
		return 1;
	ls = net_listen(st, ao.port);
	ep = ls < 0 ? -1 : net_epoll_create(st);
	if (ep < 0 || net_epoll_ctl(st, ep, EPOLL_CTL_ADD, ls, EPOLLIN, NULL)) {
		if (ls >= 0)
			fprintf(stderr, "pinnet-echo: readiness set: %s\n",
				strerror(ep < 0 ? -ep : EIO));
		net_destroy(st);
		return 1;
	}
	stop_on_signals();
	signal(SIGPIPE, SIG_IGN);
	if (ao.kernel)
		printf("pinnet-echo: listening on port %u (kernel sockets)\n",
		       ao.port);
	else
		printf("pinnet-echo: listening on %s:%u (%s)\n", ao.addr_str,
		       ao.port, ao.iface);
	fflush(stdout);

	while (!stop) {
		rc = net_epoll_wait(st, ep, evs, EVENTS, 200);
		if (rc < 0) {
			fprintf(stderr, "pinnet-echo: wait: %s\n",
				strerror(-rc));
			break;
		}
		for (int k = 0; k < rc; k++) {
			struct conn *c = evs[k].data.ptr;
			int cs;

			if (c) {
				if (!serve(st, c))
					drop(st, c);
				continue;
			}
			while ((cs = net_accept(st, ls)) >= 0) {
				c = nconns < MAXCONN ? conn_new() : NULL;
				if (!c) {
					if (!refused++)
						fprintf(stderr,
							"pinnet-echo: connection refused (%s); counting the others\n",
							nconns < MAXCONN ?
								"out of memory" :
								"connection limit");
					net_close(st, cs);
					continue;
				}
				*c = (struct conn){ .sock = cs };
				nconns++;
				if (net_epoll_ctl(st, ep, EPOLL_CTL_ADD, cs,
						  EPOLLIN | EPOLLOUT |
							  EPOLLRDHUP | EPOLLET,
						  c) < 0 ||
				    !serve(st, c))
					drop(st, c);
			}
		}
	}
	for (unsigned int i = 0; i < nall; i++) {
		if (all[i]->sock >= 0)
			drop(st, all[i]);
		free(all[i]);
	}
	free(all);
	if (refused)
		fprintf(stderr,
			"pinnet-echo: %" PRIu64 " connections refused\n",
			refused);
	net_epoll_close(st, ep);
	net_close(st, ls);
	net_report(st);
	net_destroy(st);
	return 0;
}
