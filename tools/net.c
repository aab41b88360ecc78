/* SPDX-License-Identifier: MIT */
/* The two transports behind net.h: pinnet's API and kernel sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

struct net {
	bool kernel;
	struct pn_stack *st;
	struct pollfd *pfd; /* kernel poll() scratch */
	unsigned int npfd;
};

struct net *net_open(struct app_opts *ao)
{
	struct net *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->kernel = ao->kernel;
	if (!n->kernel) {
		n->st = app_stack(ao);
		if (!n->st) {
			free(n);
			return NULL;
		}
	}
	return n;
}

void net_destroy(struct net *n)
{
	if (!n)
		return;
	if (n->st)
		pn_stack_destroy(n->st);
	free(n->pfd);
	free(n);
}

struct pn_stack *net_stack(struct net *n)
{
	return n->st;
}

static int neg(int rc)
{
	return rc < 0 ? -errno : rc;
}

int net_listen(struct net *n, unsigned int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port) };
	int one = 1, s, rc;

	if (!n->kernel) {
		struct app_opts ao = { .port = port };

		return app_listen(n->st, &ao);
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		perror("socket");
		return -1;
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(s, (struct sockaddr *)&sin, sizeof(sin));
	if (!rc)
		rc = listen(s, 1024);
	if (rc) {
		fprintf(stderr, "kernel: listen on port %u: %s\n", port,
			strerror(errno));
		close(s);
		return -1;
	}
	return s;
}

int net_connect(struct net *n, uint32_t ip, unsigned int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = ip };
	int s, rc;

	if (!n->kernel) {
		s = pn_socket(n->st, AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			return s;
		rc = pn_connect(n->st, s, (struct sockaddr *)&sin, sizeof(sin));
		if (rc) {
			pn_close(n->st, s);
			return rc;
		}
		return s;
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin))) {
		rc = -errno;
		close(s);
		return rc;
	}
	return s;
}

int net_accept(struct net *n, int ls)
{
	int s;

	if (!n->kernel)
		return pn_accept(n->st, ls, NULL, NULL, SOCK_NONBLOCK);
	s = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	return s < 0 ? -errno : s;
}

ssize_t net_send_more(struct net *n, int s, const void *buf, size_t len,
		      bool more)
{
	int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
	ssize_t r;

	if (!n->kernel)
		return pn_send(n->st, s, buf, len, flags);
	r = send(s, buf, len, flags);
	return r < 0 ? -errno : r;
}

ssize_t net_send(struct net *n, int s, const void *buf, size_t len)
{
	return net_send_more(n, s, buf, len, false);
}

int net_set_nodelay(struct net *n, int s)
{
	int one = 1;

	if (!n->kernel)
		return pn_setsockopt(n->st, s, IPPROTO_TCP, TCP_NODELAY, &one,
				     sizeof(one));
	return setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ?
		       -errno :
		       0;
}

ssize_t net_recv(struct net *n, int s, void *buf, size_t len)
{
	ssize_t r;

	if (!n->kernel)
		return pn_recv(n->st, s, buf, len, 0);
	r = recv(s, buf, len, 0);
	return r < 0 ? -errno : r;
}

int net_shutdown_wr(struct net *n, int s)
{
	if (!n->kernel)
		return pn_shutdown(n->st, s, SHUT_WR);
	return neg(shutdown(s, SHUT_WR));
}

int net_close(struct net *n, int s)
{
	if (!n->kernel)
		return pn_close(n->st, s);
	return neg(close(s));
}

int net_set_nonblock(struct net *n, int s, int on)
{
	int fl;

	if (!n->kernel)
		return 0; /* pinnet sockets from net_accept are non-blocking */
	fl = fcntl(s, F_GETFL);
	if (fl < 0)
		return -errno;
	return neg(fcntl(s, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}

int net_poll(struct net *n, struct pn_pollfd *fds, unsigned int nfds,
	     int timeout_ms)
{
	int rc;

	if (!n->kernel)
		return pn_poll(n->st, fds, nfds, timeout_ms);
	if (nfds > n->npfd) {
		struct pollfd *p = realloc(n->pfd, nfds * sizeof(*p));

		if (!p)
			return -ENOMEM;
		n->pfd = p;
		n->npfd = nfds;
	}
	for (unsigned int i = 0; i < nfds; i++)
		n->pfd[i] = (struct pollfd){ fds[i].sock, fds[i].events, 0 };
	rc = poll(n->pfd, nfds, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	for (unsigned int i = 0; i < nfds; i++)
		fds[i].revents = n->pfd[i].revents;
	return rc;
}

ssize_t net_sendfile(struct net *n, int s, int fd, off_t *off, size_t count)
{
	ssize_t r;

	if (!n->kernel)
		return pn_sendfile(n->st, s, fd, off, count);
	r = sendfile(s, fd, off, count);
	return r < 0 ? -errno : r;
}

ssize_t net_recv_discard(struct net *n, int s, size_t max)
{
	static char sink[256 * 1024];
	struct pn_zc_rx zc;
	size_t got = 0;
	ssize_t r;

	if (n->kernel) {
		r = recv(s, sink, max < sizeof(sink) ? max : sizeof(sink), 0);
		return r < 0 ? -errno : r;
	}
	while (got < max) {
		r = pn_recv_zc(n->st, s, &zc);
		if (r == -ENOMEM) /* a chain longer than the borrow's iov */
			r = pn_recv(n->st, s, sink,
				    max - got < sizeof(sink) ? max - got :
							       sizeof(sink),
				    MSG_DONTWAIT);
		else if (r > 0 && (r = pn_recv_zc_done(n->st, s, &zc)) == 0)
			r = (ssize_t)zc.len;
		if (r <= 0)
			return got ? (ssize_t)got : r;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int net_epoll_create(struct net *n)
{
	if (!n->kernel)
		return pn_epoll_create(n->st);
	return neg(epoll_create1(EPOLL_CLOEXEC));
}

int net_epoll_ctl(struct net *n, int ep, int op, int s, uint32_t events,
		  void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (!n->kernel)
		return pn_epoll_ctl(n->st, ep, op, s, &ev);
	return neg(epoll_ctl(ep, op, s, &ev));
}

int net_epoll_wait(struct net *n, int ep, struct epoll_event *evs, int max,
		   int timeout_ms)
{
	int rc;

	if (!n->kernel)
		return pn_epoll_wait(n->st, ep, evs, max, timeout_ms);
	rc = epoll_wait(ep, evs, max, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return rc;
}

void net_epoll_close(struct net *n, int ep)
{
	if (!n->kernel)
		pn_epoll_close(n->st, ep);
	else
		close(ep);
}

void net_report(struct net *n)
{
	if (n->st)
		app_report(n->st);
}
