/* SPDX-License-Identifier: MIT */
/*
 * pinnet stack: a user-space TCP/IP stack (lwIP) whose frames move through
 * io_uring fixed buffers of the elastic pinned pool, with a socket-like API.
 *
 * A stack owns an io_uring ring, a pool on that ring and one network
 * interface: an AF_PACKET socket on an Ethernet interface (with
 * PACKET_VNET_HDR, so a kernel peer's checksum offload and GSO work) or a TAP
 * device. lwIP runs without threads (NO_SYS): every call below runs the
 * stack from the calling thread.
 *
 * Threads. A process may run any number of stacks (memory is the limit),
 * each with its own lwIP state, and they share nothing: no locks. A stack
 * is driven by one thread at a time, its driver: the thread that created
 * it, until it hands the stack over. Every call that takes a stack, but
 * pn_stack_last_error(), pn_stack_pool(), pn_send_buf_free() and
 * pn_stack_attach(), must come from the driver; from another thread it
 * returns -EPERM (or NULL with errno EPERM) and changes nothing. One
 * thread may drive several stacks.
 *
 * Handing a stack to another thread: the driver calls pn_stack_detach(),
 * then the new thread calls pn_stack_attach() (the stack's pool moves with
 * it). By default the stack's ring is single-issuer (faster), and the
 * kernel binds it to the thread that first runs the stack: a stack can be
 * handed over freely until its driver's first call after creation starts
 * it (for example, created by a main thread, driven by a worker), but not
 * after. A stack created with PN_STACK_MOVABLE can be handed over at any
 * time, at some cost in request rate.
 *
 * Sockets are small integers local to the stack. Calls return 0 (or a count)
 * or -errno with POSIX meanings; they never set errno, except the
 * constructor, which returns NULL with errno set.
 */
#ifndef PINNET_STACK_H
#define PINNET_STACK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "pinnet/conn_stats.h"
#include "pinnet/pool.h"
#include "pinnet/pool_config.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pn_stack;

enum pn_backend {
	PN_BACKEND_PACKET = 0, /* AF_PACKET socket bound to iface */
	PN_BACKEND_TAP = 1, /* TAP device named iface (created if missing) */
};

/* pn_stack_opts.flags */
#define PN_STACK_MOVABLE 0x1u /* may change threads after it ran (see above) */

/*
 * The stack's options. sz is the caller's sizeof: a caller built against
 * an older header passes a smaller struct (the fields it lacks are zero);
 * a bigger one is refused (E2BIG) if a field this library does not know
 * is set.
 */
struct pn_stack_opts {
	size_t sz; /* sizeof(struct pn_stack_opts) */
	const char *iface; /* interface (packet) or TAP device name */
	enum pn_backend backend;
	struct in_addr addr; /* the stack's IPv4 address */
	unsigned int prefix; /* prefix length, 1..32 */
	struct in_addr gw; /* default gateway; 0.0.0.0 none */
	uint8_t mac[6]; /* the stack's MAC; all zero: a random local one */
	const struct pn_pool_opts *pool; /* NULL: the stack's defaults */
	unsigned int rx_depth; /* receive buffers posted at most, by need
				* from 4 (default: half the receive class's
				* base, 4 to 32: 16); a TAP: reads (4) */
	unsigned int flags; /* PN_STACK_* */
	/* sockets open at once, connections waiting to be accepted
	 * included (0: 1048576). At the limit a new connection's SYN is
	 * dropped (counted in syn_refused; the client retries, as when a
	 * kernel listener's queue is full) and pn_socket() fails with
	 * EMFILE; established connections go on. */
	unsigned int max_conns;
	/* each socket's send buffer: 0 sized by need (see pn_setsockopt());
	 * else fixed at this many bytes (4608 to 1048576), as SO_SNDBUF
	 * fixes one socket's */
	unsigned int send_buffer;
	/* what all the connections together may queue to send (bytes, in
	 * lwIP's send buffers: not yet sent, or sent and not yet
	 * acknowledged), as Linux's tcp_mem bounds the memory of all its
	 * sockets. It admits sends, not bytes: a socket that finds it
	 * nearly used up waits its turn (not writable), and as ACKs free
	 * room the oldest waiters are let in and may each fill their own
	 * limit; one that waited 20 ms is let in anyway while less than
	 * twice the budget is queued, so connections whose data cannot leave
	 * stall the others less. The queued total may so pass it by the
	 * limits of the sockets let in. 0: no budget
	 * (each socket's own limit alone) */
	uint64_t send_budget;
};

/*
 * pn_stack_create - open the interface, create the ring and the pool,
 * start lwIP. The calling thread drives the new stack. Returns the stack
 * (pn_stack_destroy()) or NULL with errno: EINVAL (options), E2BIG (opts
 * bigger than this library knows, with unknown fields set), EPERM/EACCES
 * (CAP_NET_RAW for a packet socket, CAP_NET_ADMIN for TAP), ENODEV (no such
 * interface), or the pool's and ring's errors; pn_stack_last_error(NULL)
 * says which step failed and why. Nothing stays open on failure.
 *
 * Environment: PINNET_NO_GSO (set: send every segment as its own frame,
 * no segmentation offload; for comparisons). For tests:
 * PINNET_CLOCK_START_MS=N (the stack's clock, monotonic and 64-bit, reads
 * N ms at the first pn_stack_create() of the process: long uptimes),
 * PINNET_TEST_GSO_REFUSE=N (the first N super-frames are treated as
 * refused by the kernel: the single-segment fallback).
 */
struct pn_stack *pn_stack_create(const struct pn_stack_opts *opts);

/*
 * pn_stack_destroy - abort every connection, close every socket, return
 * every buffer, destroy the pool and the ring. From the driver, or from any
 * thread pn_stack_attach() would accept; otherwise it says so on stderr and
 * leaves the stack alone. NULL is a no-op.
 */
void pn_stack_destroy(struct pn_stack *st);

/*
 * pn_stack_detach - the driver gives the stack up; no thread drives it
 * until one calls pn_stack_attach(). Returns 0 or -EINVAL, -EPERM (not the
 * driver).
 */
int pn_stack_detach(struct pn_stack *st);

/*
 * pn_stack_attach - the calling thread becomes the stack's driver (and its
 * pool's owner). Returns 0 (also when it already drives it), -EBUSY
 * (another thread drives it: detach it there first), -EPERM (the stack's
 * single-issuer ring already runs on another thread: create it with
 * PN_STACK_MOVABLE to move it after it ran), -EINVAL.
 */
int pn_stack_attach(struct pn_stack *st);

/*
 * pn_stack_pool_config - fill cfg with the pool the stack uses when
 * pn_stack_opts.pool is NULL: 2 KiB frames, 64 KiB send segments and 128 KiB receive buffers
 * (one GSO super-frame), the recent-peak policy with 1 s samples and a
 * 10 s window, counters under /run/pinnet. Edit it and pass &cfg->opts.
 * Returns 0.
 */
int pn_stack_pool_config(struct pn_pool_config *cfg);

/*
 * pn_stack_drop_privileges - once the stack is up (its packet socket or
 * TAP device open, its base blocks registered), give up every capability
 * but CAP_IPC_LOCK, which growing the pool still needs (without it, growth
 * is bounded by RLIMIT_MEMLOCK), also from the bounding set, and set
 * no_new_privs. Returns 0 or -errno (EPERM when the process may not change
 * its capabilities).
 */
int pn_stack_drop_privileges(struct pn_stack *st);

/* pn_stack_last_error - a sentence on the latest failure; never NULL. */
const char *pn_stack_last_error(const struct pn_stack *st);

/* pn_stack_pool - the stack's pool (for counters and zero-copy buffers). */
struct pn_pool *pn_stack_pool(const struct pn_stack *st);

/*
 * pn_stack_process - run the stack once: submit queued I/O, wait up to
 * timeout_ms (0: do not wait, -1: until something happens) for
 * completions, feed received frames to lwIP, run lwIP's timers and the
 * pool's poll. Returns the number of completions handled or -errno.
 */
int pn_stack_process(struct pn_stack *st, int timeout_ms);

/*
 * Running the stack from the application's own event loop: wait until
 * pn_stack_fd() is readable (POLLIN; an eventfd the ring signals on every
 * completion) or pn_stack_timeout() milliseconds pass, then call
 * pn_stack_process(st, 0) and look at the sockets (pn_poll(..., 0)).
 * pn_stack_fd returns the descriptor (owned by the stack) or -errno;
 * pn_stack_timeout returns milliseconds until lwIP's next timer (at most
 * 1000). Reading the eventfd is optional: pn_stack_process() drains it.
 */
int pn_stack_fd(struct pn_stack *st);
int pn_stack_timeout(struct pn_stack *st);

/* Counters of the interface, for tools and tests. */
struct pn_stack_stats {
	uint64_t rx_frames, rx_bytes, rx_copied, rx_dropped;
	uint64_t rx_errors; /* failed reads (interface down or gone) */
	uint64_t rx_reads_armed; /* receive buffers posted now */
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t tx_zerocopy; /* frames written straight from lwIP's pbufs */
	uint64_t
		rx_csum_trusted; /* frames whose checksum the kernel vouched for */
	uint64_t rx_gso; /* GSO super-frames received */
	uint64_t tx_gso; /* super-frames written (segmentation offload) */
	uint64_t tx_gso_segs; /* segments in them */
	uint64_t tx_gso_refused; /* super-frames the kernel refused (EINVAL),
				  * sent again as single segments */
	uint64_t tx_app_bytes; /* bytes the application handed to send */
	uint64_t tx_copied; /* of those, bytes the stack copied */
	uint64_t submits; /* ring submissions of the stack's loop */
	uint64_t tx_writes; /* writes of frames and super-frames */
	uint64_t conns; /* sockets open now (listeners, unaccepted ones) */
	uint64_t syn_refused; /* SYNs dropped at max_conns */
	uint64_t accept_overflow; /* connections reset: accept queue full */
	/* heap an idle established connection costs: lwIP's pcb and the
	 * socket record (its pinned pool memory is 0 while no data waits) */
	uint64_t conn_heap_bytes;
	/* lwIP's connections now: active ones (established or in the
	 * handshake, closing after the socket went: the kernel's orphans
	 * among them), and those in TIME-WAIT */
	uint64_t tcp_active, tcp_orphans, tcp_time_wait;
	/* what the sockets hold now, in bytes: queued to send (sent and
	 * not yet acknowledged, and not yet sent), and received but not yet
	 * read (the pool memory a connection pins is these, rounded up to
	 * its buffers); their send limits and receive windows summed (what
	 * they could hold, sized by need) */
	uint64_t tx_queued, tx_unsent, rx_unread;
	uint64_t tx_limit_sum, rwnd_sum;
	uint64_t
		rwnd_grows; /* receive windows doubled (the path wanted more) */
	/* receive buffers posted by need (packet socket): the most at once,
	 * how often the receive ran short of them, and how often the
	 * posted ones went back to the pool while no frame came */
	uint64_t rx_posted_peak, rx_short, rx_given_back;
	/* the send budget (pn_stack_opts.send_budget): bytes counted
	 * against it now, and how often a socket found no room for want of
	 * it (and waited its turn), and of those how often one was let in
	 * after 20 ms without room */
	uint64_t tx_budget_used, tx_budget_waits, tx_budget_overdue;
	/* frames written that carried only an ACK (or a window update): no
	 * payload, no SYN, FIN or RST */
	uint64_t tx_pure_acks;
};

/*
 * pn_stack_stats - copy the counters into s, sz bytes of it (the caller's
 * sizeof: a smaller, older struct gets the fields it has; fields this
 * library lacks are zeroed). Returns 0 or -EINVAL (no s, sz below one
 * counter), -EPERM.
 */
int pn_stack_stats(const struct pn_stack *st, struct pn_stack_stats *s,
		   size_t sz);

/*
 * pn_stack_conn_classes - what the connections hold now, by class of
 * connection (pinnet/conn_stats.h says the classes): fills out[0..n) with
 * the first n of the PN_CONN_NCLASSES classes, indexed by enum
 * pn_conn_class. Returns how many it filled, or -EINVAL (no out), -EPERM.
 * It walks every connection and its queues: a monitor's call, once a
 * second, not one per request. The stack also publishes these every
 * second in a file beside its pool's counters (pinnet-bpf top shows it).
 */
int pn_stack_conn_classes(const struct pn_stack *st,
			  struct pn_conn_class_stats *out, unsigned int n);

/* ---- sockets (TCP) ---------------------------------------------------- */

/*
 * pn_socket - a TCP socket: domain AF_INET, type SOCK_STREAM (optionally |
 * SOCK_NONBLOCK), protocol 0 or IPPROTO_TCP. Returns the socket or -errno:
 * EAFNOSUPPORT, EPROTONOSUPPORT, EINVAL, EMFILE, ENOMEM.
 */
int pn_socket(struct pn_stack *st, int domain, int type, int protocol);

/* pn_bind - as bind(2): EADDRINUSE, EINVAL, EBADF, EAFNOSUPPORT. */
int pn_bind(struct pn_stack *st, int s, const struct sockaddr *addr,
	    socklen_t len);

/* pn_listen - as listen(2): EBADF, EINVAL (connected), ENOMEM. */
int pn_listen(struct pn_stack *st, int s, int backlog);

/*
 * pn_accept - as accept4(2); flags SOCK_NONBLOCK. Blocks (running the
 * stack) unless the listener is non-blocking: then -EAGAIN. addr may be
 * NULL. Returns the new socket or -errno.
 */
int pn_accept(struct pn_stack *st, int s, struct sockaddr *addr, socklen_t *len,
	      int flags);

/*
 * pn_connect - as connect(2). Blocking: returns 0 once established, or
 * -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, -EHOSTUNREACH. Non-blocking:
 * -EINPROGRESS; pn_poll() reports POLLOUT (or POLLERR) when it completes.
 */
int pn_connect(struct pn_stack *st, int s, const struct sockaddr *addr,
	       socklen_t len);

/*
 * pn_send - queue up to len bytes (copied). Blocking: waits for send space
 * until at least one byte is queued. flags, as send(2): MSG_DONTWAIT (do
 * not wait, this call only), MSG_NOSIGNAL (accepted: pinnet never raises
 * SIGPIPE, it returns EPIPE), MSG_MORE (more follows: the data waits for
 * the next send, at most about 50 ms, instead of leaving at once; but a
 * send that fills the buffer, short or EAGAIN, pushes what waits, as
 * Linux does before it waits for room). Returns
 * bytes queued or -errno: EAGAIN, EPIPE (shut down or closed by the peer),
 * ECONNRESET, ENOTCONN, EINVAL (another flag), EFAULT (buf NULL).
 */
ssize_t pn_send(struct pn_stack *st, int s, const void *buf, size_t len,
		int flags);

/*
 * pn_recv - copy up to len received bytes. flags, as recv(2): MSG_DONTWAIT
 * (do not wait, this call only), MSG_PEEK (copy without consuming),
 * MSG_WAITALL (wait for all len bytes, unless the stream ends, an error
 * comes, or the call is non-blocking). Returns bytes, 0 at the peer's end
 * of stream, or -errno: EAGAIN, ECONNRESET, ETIMEDOUT, ENOTCONN, EINVAL
 * (another flag), EFAULT (buf NULL).
 */
ssize_t pn_recv(struct pn_stack *st, int s, void *buf, size_t len, int flags);

/* pn_sendv / pn_recvv - pn_send()/pn_recv() over an iovec array (as
 * writev/readv); same returns. At most IOV_MAX entries. pn_sendv's pieces
 * leave together (one push, as if all but the last had MSG_MORE). */
ssize_t pn_sendv(struct pn_stack *st, int s, const struct iovec *iov,
		 int iovcnt);
ssize_t pn_recvv(struct pn_stack *st, int s, const struct iovec *iov,
		 int iovcnt);

/*
 * Zero-copy receive: borrow the oldest received segment where it lies in
 * pool buffers. zc->iov[0..iovcnt) describe its bytes (not yet read by
 * pn_recv); the application must call pn_recv_zc_done() to give them back,
 * which also opens the receive window. One borrow per socket at a time.
 * Returns bytes (> 0), 0 at the peer's end of stream, or -errno: EAGAIN
 * (non-blocking, nothing there), EBUSY (a borrow is outstanding), ENOMEM,
 * ECONNRESET, ETIMEDOUT, ENOTCONN, EBADF.
 */
#define PN_ZC_MAXIOV 16
struct pn_zc_rx {
	struct iovec iov[PN_ZC_MAXIOV]; /* the data, in order */
	int iovcnt;
	size_t len; /* total bytes in iov */
	void *handle; /* the stack's, for pn_recv_zc_done() */
};
ssize_t pn_recv_zc(struct pn_stack *st, int s, struct pn_zc_rx *zc);
int pn_recv_zc_done(struct pn_stack *st, int s, struct pn_zc_rx *zc);

/*
 * Zero-copy send: pn_send_buf() lends a pool buffer of at least size bytes
 * (NULL with errno ENOMEM/ENOBUFS); fill it and hand it over with
 * pn_send_zc(): the stack sends from it without copying and returns it to
 * the pool once the peer has acknowledged every byte (or the connection
 * ends). Returns len, or -errno as pn_send() (the buffer stays the
 * caller's on error, to retry or pn_send_buf_free()). len must fit in one
 * call: at most 65535 bytes and the send space pn_poll() reports.
 */
void *pn_send_buf(struct pn_stack *st, size_t size);
void pn_send_buf_free(struct pn_stack *st, void *buf);
ssize_t pn_send_zc(struct pn_stack *st, int s, void *buf, size_t len);

/*
 * pn_sendfile - as sendfile(2): up to count bytes of in_fd (a regular
 * file, or anything pread(2) reads), from *offset (updated) or, with
 * offset NULL, from the file's position (moved on). The stack's answer to
 * the kernel's zero-copy sendfile: a regular file is mapped (read-only,
 * shared; kept while anything sent from it is unacknowledged, and a few
 * more after) and its bytes go from the page cache into the frames where
 * they lie: no copy by the stack and no pool memory pinned for them
 * while they wait for the peer (the kernel's copy into the packet socket
 * is the only one). What cannot be mapped (a pipe's, /proc's) is read
 * into pool buffers and sent from there (each goes back once the peer
 * acknowledged it). The file's bytes are the file's at the time a frame
 * is written, as with Linux's sendfile (a retransmission sends what the
 * file then holds); a file that shrinks under a send makes its frames
 * fail (dropped, counted). Blocking as pn_send: waits for send room until
 * some bytes are queued. Returns bytes queued (fewer at the end of the
 * file; 0 at it), or -errno as pn_send, and EBADF, EINVAL (in_fd not
 * seekable), EIO and the other errors of pread(2), ENOMEM (the pool had
 * no buffer).
 */
ssize_t pn_sendfile(struct pn_stack *st, int s, int in_fd, off_t *offset,
		    size_t count);

/* pn_shutdown - SHUT_RD, SHUT_WR, SHUT_RDWR. EBADF, ENOTCONN, EINVAL. */
int pn_shutdown(struct pn_stack *st, int s, int how);

/*
 * pn_close - close the socket: a graceful close (FIN) for a connection,
 * unless SO_LINGER with a zero timeout asks for a reset. Received data not
 * read is dropped. Returns 0 or -EBADF.
 */
int pn_close(struct pn_stack *st, int s);

/* pn_getsockname / pn_getpeername - as getsockname(2)/getpeername(2). */
int pn_getsockname(struct pn_stack *st, int s, struct sockaddr *addr,
		   socklen_t *len);
int pn_getpeername(struct pn_stack *st, int s, struct sockaddr *addr,
		   socklen_t *len);

/*
 * pn_setsockopt / pn_getsockopt - SOL_SOCKET: SO_REUSEADDR, SO_KEEPALIVE,
 * SO_LINGER, SO_SNDBUF, SO_RCVBUF (accepted, not applied: the window is
 * sized by need; get: the window now), SO_ERROR (get); IPPROTO_TCP: TCP_NODELAY,
 * TCP_KEEPIDLE and TCP_KEEPINTVL (seconds), TCP_KEEPCNT, TCP_USER_TIMEOUT
 * (milliseconds; 0 off), TCP_NOTSENT_LOWAT, with Linux's values and
 * meanings. Others: -ENOPROTOOPT; bad values -EINVAL.
 *
 * The send buffer is sized by need, as Linux autotunes it: a socket may
 * queue twice the path's bandwidth-delay product (the most it delivered per
 * second lately times its least round trip, as BBR measures them) plus
 * 64 KiB (or plus TCP_NOTSENT_LOWAT when set), up to 1 MiB; getsockopt(SO_SNDBUF) says
 * what that is now. SO_SNDBUF fixes it at twice the value given (at least
 * 4608 bytes, at most 1 MiB), as Linux does. With TCP_NOTSENT_LOWAT, a
 * socket is writable while less than that waits unsent.
 *
 * The receive window too: a connection starts with 64 KiB and it doubles,
 * up to 1 MiB, whenever the sender used most of it while the application
 * kept up (its last read emptied the queue), as Linux's autotuning grows
 * it; a slow reader's stays where it was.
 */
int pn_setsockopt(struct pn_stack *st, int s, int level, int name,
		  const void *val, socklen_t len);
int pn_getsockopt(struct pn_stack *st, int s, int level, int name, void *val,
		  socklen_t *len);

/*
 * pn_ioctl - as ioctl(2) on a socket: FIONBIO (int *: non-zero makes the
 * socket non-blocking, as O_NONBLOCK through fcntl(2) would), FIONREAD
 * (int *: bytes received and not yet read; EINVAL on a listener),
 * TIOCOUTQ/SIOCOUTQ (int *: bytes sent and not yet acknowledged).
 * Returns 0 or -errno: EBADF, EFAULT (arg NULL), ENOTTY (another request).
 */
int pn_ioctl(struct pn_stack *st, int s, unsigned long request, void *arg);

/* One entry of pn_poll(): events/revents are POLLIN, POLLOUT, POLLERR,
 * POLLHUP as for poll(2). */
struct pn_pollfd {
	int sock;
	short events;
	short revents;
};

/*
 * pn_poll - wait until one of the sockets is ready or timeout_ms passes
 * (-1: forever), running the stack meanwhile. Returns the number of
 * entries with revents set, 0 on timeout, or -errno.
 */
int pn_poll(struct pn_stack *st, struct pn_pollfd *fds, unsigned int n,
	    int timeout_ms);

/* ---- readiness in epoll's shape --------------------------------------- */

/*
 * A readiness set: epoll(7) over the stack's sockets. The events, flags
 * and ops are epoll's own (<sys/epoll.h>): EPOLLIN, EPOLLOUT, EPOLLRDHUP,
 * EPOLLPRI (never reported: TCP urgent data is not delivered), EPOLLERR and
 * EPOLLHUP (always reported, as by epoll), EPOLLET, EPOLLONESHOT;
 * EPOLL_CTL_ADD/MOD/DEL; struct epoll_event with the caller's data.
 *
 * A socket's state changes (data or a FIN in, an ACK freeing send room, an
 * error, a connection to accept, a connect completing) put its
 * registrations on their set's ready list, and a wait looks only at that
 * list: its cost follows the sockets that are ready, not those
 * registered. The events reported are the socket's state when the wait
 * looks, as Linux computes them for TCP (tcp_poll): a connection reset
 * reports EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLERR|EPOLLHUP; the peer's FIN
 * EPOLLIN|EPOLLRDHUP; a socket that was never connected EPOLLOUT|EPOLLHUP.
 * Level-triggered registrations stay on the list while ready and are
 * reported in turn (a wait with few slots does not starve the others);
 * edge-triggered ones are reported once per change, as on Linux (an ACK
 * reports EPOLLOUT only after a send found the socket full); one-shot ones
 * once, until EPOLL_CTL_MOD arms them again.
 *
 * Where it differs from Linux's epoll: a set holds sockets of its own
 * stack only (kernel fds: wait on pn_stack_fd() in a kernel epoll set and
 * call pn_epoll_wait(..., 0) when it is readable); closing a socket
 * removes it from every set at once (there are no dup()ed descriptors to
 * keep it alive); a set is not itself a descriptor (no nesting, no fork).
 */

/* pn_epoll_create - a new, empty set: its number (>= 0) or -ENOMEM, -EPERM. */
int pn_epoll_create(struct pn_stack *st);

/* pn_epoll_close - the set and its registrations go. 0 or -EBADF. */
int pn_epoll_close(struct pn_stack *st, int ep);

/*
 * pn_epoll_ctl - as epoll_ctl(2), for socket s in set ep. ev may be NULL
 * for EPOLL_CTL_DEL. Returns 0 or -errno: EBADF (no such set or socket),
 * EEXIST (ADD of a registered socket), ENOENT (MOD or DEL of one that is
 * not), EINVAL (another op, EPOLLEXCLUSIVE with MOD), EFAULT (ev NULL),
 * ENOMEM.
 */
int pn_epoll_ctl(struct pn_stack *st, int ep, int op, int s,
		 const struct epoll_event *ev);

/*
 * pn_epoll_wait - as epoll_wait(2): run the stack until a registered socket
 * is ready or timeout_ms passes (0: look once, -1: forever), then fill up
 * to maxevents entries. Returns their number, 0 on timeout, or -errno:
 * EBADF, EINVAL (maxevents <= 0), EFAULT (events NULL).
 */
int pn_epoll_wait(struct pn_stack *st, int ep, struct epoll_event *events,
		  int maxevents, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* PINNET_STACK_H */
