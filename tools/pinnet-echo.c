/* SPDX-License-Identifier: MIT */
/*
 * pinnet-echo: a TCP echo server on the pinnet stack. Every byte a client
 * sends comes back; runs until SIGINT/SIGTERM, then closes its connections
 * and destroys the stack cleanly (exit 0).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "net.h"
#include "util.h"

#define MAXCONN 4096
#define BUFSZ 65536

struct conn {
	int sock;
	char *buf; /* bytes received and not yet echoed */
	size_t len, off;
	bool in_done; /* the client finished sending */
};

static void drop(struct net *st, struct conn *c)
{
	net_close(st, c->sock);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->sock = -1;
}

/* Echo what is buffered, then read more; false when the connection ends. */
static bool serve(struct net *st, struct conn *c, short rev)
{
	ssize_t n;

	/* POLLERR/POLLHUP too: the send meets the error and the connection
	 * goes; ignored, poll would report it again at once, for ever */
	if (c->len > c->off && (rev & (POLLOUT | POLLIN | POLLERR | POLLHUP))) {
		n = net_send(st, c->sock, c->buf + c->off, c->len - c->off);
		if (n < 0 && n != -EAGAIN)
			return false;
		if (n > 0)
			c->off += (size_t)n;
		if (c->off == c->len)
			c->off = c->len = 0;
	}
	if (c->len == 0 && !c->in_done &&
	    (rev & (POLLIN | POLLERR | POLLHUP))) {
		n = net_recv(st, c->sock, c->buf, BUFSZ);
		if (n == 0) {
			c->in_done = true;
			net_shutdown_wr(st, c->sock);
		} else if (n < 0 && n != -EAGAIN) {
			return false;
		} else if (n > 0) {
			c->len = (size_t)n;
		}
	}
	return !(c->in_done && c->len == 0 && (rev & (POLLHUP | POLLERR)));
}

int main(int argc, char **argv)
{
	struct app_opts ao;
	struct net *st;
	static struct conn conns[MAXCONN];
	static struct pn_pollfd pf[MAXCONN + 1];
	int ls, rc;

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
	if (ls < 0) {
		net_destroy(st);
		return 1;
	}
	stop_on_signals();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < MAXCONN; i++)
		conns[i].sock = -1;
	if (ao.kernel)
		printf("pinnet-echo: listening on port %u (kernel sockets)\n",
		       ao.port);
	else
		printf("pinnet-echo: listening on %s:%u (%s)\n", ao.addr_str,
		       ao.port, ao.iface);
	fflush(stdout);

	while (!stop) {
		unsigned int n = 0;

		pf[n++] = (struct pn_pollfd){ ls, POLLIN, 0 };
		for (int i = 0; i < MAXCONN; i++)
			if (conns[i].sock >= 0)
				pf[n++] = (struct pn_pollfd){
					conns[i].sock,
					(short)(conns[i].len ? POLLOUT :
							       POLLIN),
					0
				};
		rc = net_poll(st, pf, n, 200);
		if (rc < 0) {
			fprintf(stderr, "pinnet-echo: poll: %s\n",
				strerror(-rc));
			break;
		}
		if (pf[0].revents & POLLIN) {
			int cs;

			while ((cs = net_accept(st, ls)) >= 0) {
				int slot = 0;

				while (slot < MAXCONN && conns[slot].sock >= 0)
					slot++;
				if (slot == MAXCONN) {
					net_close(st, cs);
					continue;
				}
				conns[slot].sock = cs;
				conns[slot].buf = malloc(BUFSZ);
				if (!conns[slot].buf)
					drop(st, &conns[slot]);
			}
		}
		for (unsigned int k = 1; k < n; k++) {
			for (int i = 0; i < MAXCONN; i++) {
				if (conns[i].sock != pf[k].sock)
					continue;
				if (pf[k].revents &&
				    !serve(st, &conns[i], pf[k].revents))
					drop(st, &conns[i]);
				break;
			}
		}
	}
	for (int i = 0; i < MAXCONN; i++)
		if (conns[i].sock >= 0)
			drop(st, &conns[i]);
	net_close(st, ls);
	net_report(st);
	net_destroy(st);
	return 0;
}
