/* SPDX-License-Identifier: MIT */
/*
 * libpinnet-preload's internals: libc's own functions (found with
 * dlsym(RTLD_NEXT)), the table of descriptors that are pinnet's, the one
 * stack of the process and its driver thread.
 *
 * Every descriptor the application holds is a real one. A TCP/IPv4 socket
 * starts as a kernel socket (socket() makes one), a candidate; when it
 * binds to the stack's address or INADDR_ANY, listens unbound, or connects
 * into the stack's subnet, a pinnet socket takes its place behind the same
 * number (the kernel socket stays open as the number's holder, see
 * sock.c). Anything else (other families, UDP, loopback, other addresses)
 * is the kernel's and passes straight to libc.
 */
#ifndef PINNET_PRELOAD_H
#define PINNET_PRELOAD_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "pinnet/stack.h"

#define PL_EXPORT __attribute__((visibility("default")))

/* glibc's checked forms (_FORTIFY_SOURCE), which Debian's binaries import */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		const sigset_t *mask, size_t fdslen);

/* ---- libc's functions ------------------------------------------------- */

struct pl_real {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*close_range)(unsigned int, unsigned int, int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int,
			    const struct timespec *, const sigset_t *);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int,
			struct timespec *);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
};

extern struct pl_real pl_real;

/* Fill pl_real (also lazily: a constructor of another library may call
 * us before ours ran). */
void pl_resolve(void);
#define REAL(f) (pl_real.f ? pl_real.f : (pl_resolve(), pl_real.f))

/* ---- the descriptor table --------------------------------------------- */

enum pl_kind {
	PL_NONE = 0, /* the kernel's: straight to libc */
	PL_CAND, /* a kernel TCP/IPv4 socket that may still move to pinnet */
	PL_PN, /* a pinnet socket (slot.pn) */
	PL_EP, /* an epoll set with pinnet members (slot.pn: the shadow set) */
};

/* A candidate's registration in an epoll set, moved with it. */
struct pl_reg {
	int epfd;
	struct epoll_event ev;
	struct pl_reg *next;
};

struct pl_lrec;

struct pl_slot {
	_Atomic uint8_t kind; /* enum pl_kind */
	uint8_t ep_kernel_first; /* PL_EP: the kernel side goes first next */
	uint64_t ep_kernel_due_ns; /* PL_EP: while the stack's sockets have
				    * events, the kernel side's next look */
	int pn; /* PL_PN: the pinnet socket (-1 while lrec); PL_EP: the
		 * shadow set */
	struct pl_reg *regs; /* PL_CAND: its epoll registrations */
	struct pl_lrec *lrec; /* PL_PN: a listener on no stack of this
			       * process yet (after a fork), see below */
};

/* The slot of fd, or NULL when none was ever made (then it is PL_NONE). */
struct pl_slot *pl_slot(int fd);
/* The slot of fd, made if needed; NULL for an fd beyond the table. */
struct pl_slot *pl_slot_make(int fd);

static inline enum pl_kind pl_kind_of(int fd, struct pl_slot **sp)
{
	struct pl_slot *s = pl_slot(fd);

	*sp = s;
	return s ? (enum pl_kind)atomic_load_explicit(&s->kind,
						      memory_order_acquire) :
		   PL_NONE;
}

/* A number the kernel just gave us (socket, accept, dup, epoll_create): a
 * slot it still has is stale (closed behind our back, e.g. by libc's own
 * close inside fclose()) and is dropped. */
void pl_fresh(int fd);

/* Forget what fd was (before the kernel's close of it). */
void pl_forget(int fd, struct pl_slot *s);

/* A candidate's epoll_ctl that the kernel took: noted, so that the
 * registration follows the socket to pinnet (wait.c moves it). */
void pl_cand_epoll(struct pl_slot *s, int epfd, int op,
		   const struct epoll_event *ev);
/* Register pinnet socket pn in epoll set epfd (its shadow set). 0 or
 * -errno. */
int pl_ep_add(int epfd, int pn, const struct epoll_event *ev);

/* ---- pinnet sockets ----------------------------------------------------- */

struct pl_psock {
	int refs; /* descriptors naming it (dup) */
	bool nonblock;
	bool listening;
	int backlog; /* listening: listen()'s, for a re-creation after fork */
	bool connecting; /* a non-blocking connect said EINPROGRESS */
	bool cork; /* TCP_CORK: every send waits for more (MSG_MORE) */
	int held; /* accepted, but no descriptor could be made: the next accept's */
	int rcvtimeo_ms, sndtimeo_ms; /* SO_RCVTIMEO/SO_SNDTIMEO; 0: none */
};

/* The record of pinnet socket s (driver only). */
struct pl_psock *pl_psock(int s);
int pl_psock_new(int s, bool nonblock);
/* One descriptor less: the socket closes with its last. */
void pl_psock_unref(int s);

/* ---- the stack -------------------------------------------------------- */

extern struct pn_stack *pl_st; /* NULL until made */
/* initial-exec: the library is preloaded, so its TLS is static and a read
 * costs no __tls_get_addr() call (pl_check() reads it on every call) */
extern __thread bool pl_is_driver __attribute__((
	tls_model("initial-exec"))); /* this thread drives pl_st */
extern atomic_bool pl_forked; /* a fork()ed child of a process that kept
				* its stack: that stack is not ours */
extern struct in_addr pl_addr, pl_mask; /* the stack's address, netmask */
extern bool pl_enabled; /* the environment names a stack */
extern bool pl_debug; /* PINNET_DEBUG: say where sockets go */
extern int64_t pl_busy_poll_ns; /* busy_poll (config.h), in ns */

/* The stack, made if needed, for a call on this thread: 0 or -errno
 * (EPERM: another thread drives it, or a forked child; the stack's own
 * errno when it could not start, the reason said once on stderr). */
int pl_stack(void);

/*
 * 0 when this thread may use the pinnet socket of slot s (NULL: any of the
 * stack's), else -EPERM with the cause said once. A listener that a fork
 * left without a stack here (s->lrec) is first made again on this
 * process's stack (made if needed): then 0 and s->pn is set, or the
 * reason it could not be (-EPERM: another process of the program drives
 * the stack).
 */
int pl_check(struct pl_slot *s);

/*
 * A listening socket across fork(). Two stacks on one address would each
 * answer the other's segments with resets, so one process of a program
 * (the processes forked from one another) drives a stack at a time (a
 * process-shared lock says which). A process whose pinnet sockets are all
 * listeners and which waits on none in an epoll set (nginx's master after
 * it opened its listeners) hands them over at fork: its stack goes before
 * the fork (the listeners quietly, a connection still queued on one is
 * reset), each listener's descriptor keeps what making it again needs,
 * and the child makes its own stack at once (still with the parent's
 * privileges: nginx's worker drops them next) with every listener bound
 * and listening again behind the same number. Any process that later
 * uses such a descriptor makes it again on its own stack, if it may.
 */
struct pl_lrec {
	atomic_int refs; /* descriptors naming it (dup) */
	struct sockaddr_in addr; /* where it was bound */
	int backlog;
	bool nonblock;
	int rcvtimeo_ms, sndtimeo_ms;
	unsigned int nopts;
	struct pl_lopt {
		int level, name;
		socklen_t len;
		union {
			int i;
			struct linger l;
		} v;
	} opts[8]; /* the stack's options it had (SO_REUSEADDR...) */
};

/* Sockets and sets a thread that is not the driver closed: the driver
 * closes them at its next call. */
void pl_defer_close(int pn, bool is_ep);
void pl_run_deferred(void);

/* errno from a -errno return, -1; or the return itself. */
static inline long pl_ret(long rc)
{
	if (rc < 0) {
		extern int *__errno_location(void);
		*__errno_location() = (int)-rc;
		return -1;
	}
	return rc;
}

void pl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Move candidate fd to pinnet: a pinnet socket with the kernel socket's
 * blocking mode and options takes its place. 0 (the slot is PL_PN), or
 * -errno: EPERM (another thread drives the stack, or a forked child),
 * EACCES (the stack could not start for want of privileges), no_stack
 * (it could not start for another reason: said on stderr), EMFILE...
 */
int pl_to_pinnet(int fd, struct pl_slot *s, int no_stack, const char *why);

/* A timeval as milliseconds, rounded up (0: none). */
int pl_tv_ms(const struct timeval *tv);

/* The wait of a blocking call on pinnet socket pn for events, up to ms
 * (-1: no limit), as the kernel's: 0 ready, -EAGAIN on time out, -EINTR
 * when a signal handler ran, unless restart and the handler asked for
 * SA_RESTART (then the wait goes on), -errno. */
int pl_block(int pn, short events, int ms, bool restart);

/* sig.c: which signal ended a wait, and whether its handler restarts */
void pl_sig_clear(void);
bool pl_sig_seen(void);
bool pl_sig_restarts(void);

/* Reserved epoll data: the stack's descriptor in an application's set. */
#define PL_STACK_DATA 0x706e5f737461636bull /* "pn_stack" */

#endif
