/* SPDX-License-Identifier: MIT */
/*
 * One stack per thread over lwIP, whose state is global: the stack code
 * and lwIP are linked into one relocatable object, and the build makes
 * several copies of it (meson option stack_copies), each with every symbol
 * made local but its table of entry points, pn_stack_ops_<k>. Each copy has
 * its own lwIP globals, so stacks in different copies share nothing and
 * need no locks. stack/api.c exports the public functions: a stack is
 * created in a free copy and every call goes through the copy's table
 * (struct pn_stack begins with a pointer to it).
 *
 * PN_STACK_CALLS lists the calls that take the stack first and return an
 * int or ssize_t (-EINVAL for a NULL stack): X(type, name, (params), (args)).
 */
#ifndef PINNET_STACK_OPS_H
#define PINNET_STACK_OPS_H

#include "pinnet/stack.h"

#define PN_STACK_CALLS(X)                                                      \
	X(int, poll,                                                           \
	  (struct pn_stack * st, struct pn_pollfd * fds, unsigned int n,       \
	   int timeout_ms),                                                    \
	  (st, fds, n, timeout_ms))                                            \
	X(int, socket,                                                         \
	  (struct pn_stack * st, int domain, int type, int proto),             \
	  (st, domain, type, proto))                                           \
	X(int, bind,                                                           \
	  (struct pn_stack * st, int s, const struct sockaddr *a,              \
	   socklen_t len),                                                     \
	  (st, s, a, len))                                                     \
	X(int, listen, (struct pn_stack * st, int s, int backlog),             \
	  (st, s, backlog))                                                    \
	X(int, accept,                                                         \
	  (struct pn_stack * st, int s, struct sockaddr *a, socklen_t *len,    \
	   int flags),                                                         \
	  (st, s, a, len, flags))                                              \
	X(int, connect,                                                        \
	  (struct pn_stack * st, int s, const struct sockaddr *a,              \
	   socklen_t len),                                                     \
	  (st, s, a, len))                                                     \
	X(ssize_t, send,                                                       \
	  (struct pn_stack * st, int s, const void *buf, size_t len,           \
	   int flags),                                                         \
	  (st, s, buf, len, flags))                                            \
	X(ssize_t, recv,                                                       \
	  (struct pn_stack * st, int s, void *buf, size_t len, int flags),     \
	  (st, s, buf, len, flags))                                            \
	X(int, shutdown, (struct pn_stack * st, int s, int how), (st, s, how)) \
	X(int, close, (struct pn_stack * st, int s), (st, s))                  \
	X(int, getsockname,                                                    \
	  (struct pn_stack * st, int s, struct sockaddr *a, socklen_t *len),   \
	  (st, s, a, len))                                                     \
	X(int, getpeername,                                                    \
	  (struct pn_stack * st, int s, struct sockaddr *a, socklen_t *len),   \
	  (st, s, a, len))                                                     \
	X(int, setsockopt,                                                     \
	  (struct pn_stack * st, int s, int level, int name, const void *val,  \
	   socklen_t len),                                                     \
	  (st, s, level, name, val, len))                                      \
	X(int, getsockopt,                                                     \
	  (struct pn_stack * st, int s, int level, int name, void *val,        \
	   socklen_t *len),                                                    \
	  (st, s, level, name, val, len))                                      \
	X(ssize_t, sendv,                                                      \
	  (struct pn_stack * st, int s, const struct iovec *iov, int iovcnt),  \
	  (st, s, iov, iovcnt))                                                \
	X(ssize_t, recvv,                                                      \
	  (struct pn_stack * st, int s, const struct iovec *iov, int iovcnt),  \
	  (st, s, iov, iovcnt))                                                \
	X(ssize_t, recv_zc,                                                    \
	  (struct pn_stack * st, int s, struct pn_zc_rx *zc), (st, s, zc))     \
	X(int, recv_zc_done,                                                   \
	  (struct pn_stack * st, int s, struct pn_zc_rx *zc), (st, s, zc))     \
	X(ssize_t, send_zc,                                                    \
	  (struct pn_stack * st, int s, void *buf, size_t len),                \
	  (st, s, buf, len))                                                   \
	X(int, stack_stats,                                                    \
	  (const struct pn_stack *st, struct pn_stack_stats *s), (st, s))      \
	X(int, stack_drop_privileges, (struct pn_stack * st), (st))            \
	X(int, stack_fd, (struct pn_stack * st), (st))                         \
	X(int, stack_timeout, (struct pn_stack * st), (st))                    \
	X(int, stack_process, (struct pn_stack * st, int timeout_ms),          \
	  (st, timeout_ms))

#define PN_STACK_OPS_FIELD(type, name, params, args) type(*name) params;

struct pn_stack_ops {
	PN_STACK_CALLS(PN_STACK_OPS_FIELD)
	struct pn_stack *(*stack_create)(const struct pn_stack_opts *opts);
	void (*stack_destroy)(struct pn_stack *st);
	int (*stack_pool_config)(struct pn_pool_config *cfg);
	const char *(*stack_last_error)(const struct pn_stack *st);
	struct pn_pool *(*stack_pool)(const struct pn_stack *st);
	void *(*send_buf)(struct pn_stack *st, size_t size);
	void (*send_buf_free)(struct pn_stack *st, void *buf);
};

/* in every copy (renamed pn_stack_ops_<k> by the build) */
extern const struct pn_stack_ops pn_stack_ops_copy;

#endif
