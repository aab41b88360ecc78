/* SPDX-License-Identifier: MIT */
/*
 * One application, two transports: pinnet's applications talk to this small
 * interface, implemented on the pinnet stack and on kernel sockets (chosen
 * with --kernel), so every comparison runs the same application code.
 * Sockets are ints; readiness uses struct pn_pollfd for both; errors are
 * -errno.
 */
#ifndef PINNET_TOOLS_NET_H
#define PINNET_TOOLS_NET_H

#include <sys/epoll.h>
#include <sys/types.h>

#include "app.h"
#include "pinnet/stack.h"

struct net;

/* Start the transport (the stack, or nothing for the kernel). NULL on
 * failure, with the reason printed. */
struct net *net_open(struct app_opts *ao);

/* Close every socket still open and stop the transport. */
void net_destroy(struct net *n);

/* A non-blocking listening socket on port, or -1 (error printed). */
int net_listen(struct net *n, unsigned int port);

/* A blocking TCP connection to ip:port (ip in network order); -errno. */
int net_connect(struct net *n, uint32_t ip, unsigned int port);

int net_accept(struct net *n, int ls); /* new non-blocking socket, -EAGAIN */
ssize_t net_send(struct net *n, int s, const void *buf, size_t len);
/* net_send, telling the stack more follows at once (MSG_MORE): the two
 * leave together, with no Nagle wait between them */
ssize_t net_send_more(struct net *n, int s, const void *buf, size_t len,
		      bool more);
/* Up to count bytes of file fd from *off (moved on) to s: sendfile(2) on
 * kernel sockets, pn_sendfile() on the stack (the file read into pool
 * buffers and sent from them). Bytes queued, 0 at the file's end, -errno
 * (-EAGAIN: no room). */
ssize_t net_sendfile(struct net *n, int s, int fd, off_t *off, size_t count);
/* TCP_NODELAY on: small writes leave at once (what MSG_MORE does not
 * hold). 0 or -errno. */
int net_set_nodelay(struct net *n, int s);
ssize_t net_recv(struct net *n, int s, void *buf, size_t len);
/* Take up to max received bytes and drop them (a sink, as iperf3's server
 * is): recv(2) into a scratch buffer on kernel sockets; on the stack, the
 * segments are borrowed where they lie and given back (pn_recv_zc), so
 * nothing is copied. Bytes taken, 0 at the end of stream, -errno. */
ssize_t net_recv_discard(struct net *n, int s, size_t max);
int net_shutdown_wr(struct net *n, int s);
int net_close(struct net *n, int s);
int net_set_nonblock(struct net *n, int s, int on);
int net_poll(struct net *n, struct pn_pollfd *fds, unsigned int nfds,
	     int timeout_ms);

/*
 * Readiness sets: epoll(7) on kernel sockets, pn_epoll_* on the stack; the
 * same events, flags and ops (EPOLLIN, EPOLLET, EPOLL_CTL_ADD ...). The
 * stack closes a socket's registrations with it, as the kernel does.
 */
int net_epoll_create(struct net *n); /* the set or -errno */
int net_epoll_ctl(struct net *n, int ep, int op, int s, uint32_t events,
		  void *ptr);
/* Ready sockets into evs (data.ptr as registered); 0 on timeout or a
 * signal; -errno */
int net_epoll_wait(struct net *n, int ep, struct epoll_event *evs, int max,
		   int timeout_ms);
void net_epoll_close(struct net *n, int ep);

/* Counters to stderr (the stack's and the pool's; nothing for kernel). */
void net_report(struct net *n);

/* The stack, or NULL on the kernel transport. */
struct pn_stack *net_stack(struct net *n);

#endif
