/* SPDX-License-Identifier: MIT */
/*
 * Sockets and descriptors: socket, bind, listen, accept, connect,
 * shutdown, close, close_range, dup, fcntl, ioctl, options and names.
 *
 * Where a socket lives. socket(AF_INET, SOCK_STREAM) makes a kernel
 * socket, as without pinnet: its number is the kernel's, so the process's
 * descriptors stay one consistent space. It moves to pinnet when it binds
 * to the stack's address or to INADDR_ANY, listens without a bind, or
 * connects to an address in the stack's subnet; a bind elsewhere, or a
 * connect out of the subnet, makes it the kernel's for good. INADDR_ANY
 * listens on pinnet only (not on the kernel's interfaces too, as Gazelle
 * does): a server started under pinnet-run is meant to serve on the
 * stack, and one listener on two stacks would split its accept queue.
 * Loopback, AF_UNIX, AF_INET6 and UDP sockets stay the kernel's.
 *
 * What holds a pinnet socket's number: the kernel socket itself, kept
 * open and never bound or connected (closed with it), and for an accepted
 * connection a new unbound kernel TCP socket. A socket rather than a
 * dup()ed /dev/null, because the number must still look like what the
 * program made: fstat() says S_ISSOCK, getsockopt(SO_TYPE, SO_DOMAIN,
 * SO_PROTOCOL) and every option the stack lacks are answered by it as the
 * kernel answers them (options set there are accepted and have no effect
 * on pinnet's traffic), interface ioctls (SIOCGIFADDR...) work on it, and
 * a call that goes around this library (libc's internal calls, a raw
 * syscall) meets an unconnected socket and fails with ENOTCONN or EPIPE
 * instead of reading or writing an unrelated file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"

static bool is_inet_stream(int domain, int type, int protocol)
{
	return domain == AF_INET && (type & 0xf) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

static const struct sockaddr_in *inet_addr_of(const struct sockaddr *a,
					      socklen_t len)
{
	if (!a || len < sizeof(struct sockaddr_in) || a->sa_family != AF_INET)
		return NULL;
	return (const struct sockaddr_in *)a;
}

PL_EXPORT int socket(int domain, int type, int protocol)
{
	int fd = REAL(socket)(domain, type, protocol);
	struct pl_slot *s;

	if (fd < 0)
		return fd;
	pl_fresh(fd);
	if (pl_enabled && is_inet_stream(domain, type, protocol)) {
		s = pl_slot_make(fd);
		if (s)
			atomic_store_explicit(&s->kind, PL_CAND,
					      memory_order_release);
	}
	return fd;
}

/* The pinnet part of closing fd: its slot goes, its socket loses a name. */
static void drop(int fd, struct pl_slot *s, enum pl_kind k)
{
	bool rec = s->lrec != NULL; /* a listener on no stack here */
	int pn = s->pn;

	pl_forget(fd, s);
	if ((k != PL_PN && k != PL_EP) || rec || pl_forked || !pl_st)
		return;
	if (!pl_is_driver) {
		/* as the kernel would, the close succeeds from any thread;
		 * the driver lets go of the socket at its next call */
		pl_defer_close(pn, k == PL_EP);
		return;
	}
	if (k == PL_PN)
		pl_psock_unref(pn);
	else if (pn >= 0)
		pn_epoll_close(pl_st, pn);
}

PL_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_in *sin = inet_addr_of(addr, len);
	struct pl_slot *s;
	int rc;

	switch (pl_kind_of(fd, &s)) {
	case PL_CAND:
		if (sin && (sin->sin_addr.s_addr == pl_addr.s_addr ||
			    sin->sin_addr.s_addr == htonl(INADDR_ANY))) {
			rc = pl_to_pinnet(fd, s, EADDRNOTAVAIL, "bind");
			if (rc)
				return (int)pl_ret(rc);
			return (int)pl_ret(pn_bind(pl_st, s->pn, addr, len));
		}
		rc = REAL(bind)(fd, addr, len);
		if (rc == 0) /* bound in the kernel: the kernel's for good */
			pl_forget(fd, s);
		return rc;
	case PL_PN:
		rc = pl_check(s);
		if (!rc)
			rc = pn_bind(pl_st, s->pn, addr, len);
		return (int)pl_ret(rc);
	default:
		return REAL(bind)(fd, addr, len);
	}
}

PL_EXPORT int listen(int fd, int backlog)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct pl_slot *s;
	int rc;

	switch (pl_kind_of(fd, &s)) {
	case PL_CAND:
		/* never bound: the kernel would bind INADDR_ANY, port 0 */
		rc = pl_to_pinnet(fd, s, EADDRNOTAVAIL, "listen");
		if (!rc)
			rc = pn_bind(pl_st, s->pn, (struct sockaddr *)&any,
				     sizeof(any));
		break;
	case PL_PN:
		rc = pl_check(s);
		break;
	default:
		return REAL(listen)(fd, backlog);
	}
	if (!rc)
		rc = pn_listen(pl_st, s->pn, backlog);
	if (!rc) {
		pl_psock(s->pn)->listening = true;
		pl_psock(s->pn)->backlog = backlog;
	}
	return (int)pl_ret(rc);
}

static int set_nonblock(int pn, bool nb)
{
	struct pl_psock *p = pl_psock(pn);
	int v = nb;
	int rc;

	if (p->nonblock == nb)
		return 0;
	rc = pn_ioctl(pl_st, pn, FIONBIO, &v);
	if (!rc)
		p->nonblock = nb;
	return rc;
}

static int pn_accept4(int fd, struct pl_slot *s, struct sockaddr *addr,
		      socklen_t *len, int flags)
{
	struct pl_psock *l;
	struct pl_slot *ns;
	int c, nfd, rc = pl_check(s);

	if (rc)
		return (int)pl_ret(rc);
	l = pl_psock(s->pn);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return (int)pl_ret(-EINVAL);
	if (!l->listening)
		return (int)pl_ret(-EINVAL);
	if (l->held >= 0) {
		c = l->held;
		l->held = -1;
		if (addr && len && pn_getpeername(pl_st, c, addr, len)) {
			struct sockaddr_in none = { .sin_family = AF_INET };

			memcpy(addr, &none,
			       *len < sizeof(none) ? *len : sizeof(none));
			*len = sizeof(none);
		}
		int v = !!(flags & SOCK_NONBLOCK);

		pn_ioctl(pl_st, c, FIONBIO, &v);
	} else {
		if (!l->nonblock) {
			/* as the kernel's: SO_RCVTIMEO, or a signal */
			rc = pl_block(s->pn, POLLIN, l->rcvtimeo_ms ?: -1,
				      !l->rcvtimeo_ms);
			if (rc)
				return (int)pl_ret(rc);
		}
		c = pn_accept(pl_st, s->pn, addr, len, flags & SOCK_NONBLOCK);
		if (c < 0)
			return (int)pl_ret(c);
	}
	nfd = REAL(socket)(
		AF_INET, SOCK_STREAM | (flags & (SOCK_NONBLOCK | SOCK_CLOEXEC)),
		0);
	ns = nfd >= 0 ? pl_slot_make(nfd) : NULL;
	if (!ns) {
		int err = nfd < 0 ? errno : EMFILE;

		if (nfd >= 0)
			REAL(close)(nfd);
		/* as the kernel, the connection waits in the queue: the
		 * next accept takes it (the listener stays readable) */
		l->held = c;
		return (int)pl_ret(-err);
	}
	pl_fresh(nfd);
	rc = pl_psock_new(c, flags & SOCK_NONBLOCK);
	if (rc) {
		REAL(close)(nfd);
		l->held = c;
		return (int)pl_ret(rc);
	}
	ns->pn = c;
	atomic_store_explicit(&ns->kind, PL_PN, memory_order_release);
	return nfd;
}

PL_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct pl_slot *s;
	int nfd;

	if (pl_kind_of(fd, &s) == PL_PN)
		return pn_accept4(fd, s, addr, len, flags);
	nfd = REAL(accept4)(fd, addr, len, flags);
	if (nfd >= 0)
		pl_fresh(nfd);
	return nfd;
}

PL_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

/*
 * A blocking connect, as the kernel's: started without waiting, then the
 * library's wait, which a signal handler ends with EINTR (the connection
 * goes on; the next connect waits for it), SA_RESTART restarts, and
 * SO_SNDTIMEO ends with EINPROGRESS; then the outcome (SO_ERROR).
 */
static int blocking_connect(int pn, const struct sockaddr *addr, socklen_t len)
{
	struct pl_psock *p = pl_psock(pn);
	int one = 1, zero = 0, err = 0, rc;
	socklen_t el = sizeof(err);

	if (!p->connecting) {
		pn_ioctl(pl_st, pn, FIONBIO, &one);
		rc = pn_connect(pl_st, pn, addr, len);
		pn_ioctl(pl_st, pn, FIONBIO, &zero);
		if (rc != -EINPROGRESS)
			return rc;
		p->connecting = true;
	}
	rc = pl_block(pn, POLLOUT, p->sndtimeo_ms ? p->sndtimeo_ms : -1,
		      !p->sndtimeo_ms);
	if (rc == -EAGAIN)
		return -EINPROGRESS;
	if (rc)
		return rc; /* EINTR: still connecting */
	p->connecting = false;
	rc = pn_getsockopt(pl_st, pn, SOL_SOCKET, SO_ERROR, &err, &el);
	return rc ? rc : -err;
}

PL_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_in *sin = inet_addr_of(addr, len);
	struct pl_slot *s;
	int rc;

	switch (pl_kind_of(fd, &s)) {
	case PL_CAND:
		if (!sin)
			return REAL(connect)(fd, addr, len);
		if (sin->sin_addr.s_addr != htonl(INADDR_ANY) &&
		    (sin->sin_addr.s_addr & pl_mask.s_addr) ==
			    (pl_addr.s_addr & pl_mask.s_addr)) {
			rc = pl_to_pinnet(fd, s, ENETUNREACH, "connect");
			if (rc)
				return (int)pl_ret(rc);
			break;
		}
		pl_forget(fd, s); /* out of the subnet: the kernel's */
		return REAL(connect)(fd, addr, len);
	case PL_PN:
		rc = pl_check(s);
		if (rc)
			return (int)pl_ret(rc);
		break;
	default:
		return REAL(connect)(fd, addr, len);
	}
	if (!pl_psock(s->pn)->nonblock)
		return (int)pl_ret(blocking_connect(s->pn, addr, len));
	rc = pn_connect(pl_st, s->pn, addr, len);
	if (rc == -EINPROGRESS) {
		pl_psock(s->pn)->connecting = true;
	} else if (pl_psock(s->pn)->connecting && rc != -EALREADY) {
		/* as Linux: the first connect() after a non-blocking one
		 * completed returns 0 (its outcome), the next EISCONN */
		pl_psock(s->pn)->connecting = false;
		if (rc == -EISCONN)
			rc = 0;
	}
	return (int)pl_ret(rc);
}

PL_EXPORT int shutdown(int fd, int how)
{
	struct pl_slot *s;
	int rc;

	if (pl_kind_of(fd, &s) != PL_PN)
		return REAL(shutdown)(fd, how);
	rc = pl_check(s);
	if (!rc)
		rc = pn_shutdown(pl_st, s->pn, how);
	return (int)pl_ret(rc);
}

PL_EXPORT int close(int fd)
{
	struct pl_slot *s;
	enum pl_kind k = pl_kind_of(fd, &s);

	if (k != PL_NONE)
		drop(fd, s, k);
	return REAL(close)(fd);
}

PL_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		unsigned int end = last > INT_MAX ? INT_MAX : last;

		for (unsigned int fd = first; fd <= end; fd++) {
			struct pl_slot *s = pl_slot((int)fd);
			enum pl_kind k;

			if (!s) {
				/* a whole chunk without slots */
				fd |= 4095;
				if (fd >= INT_MAX)
					break;
				continue;
			}
			k = pl_kind_of((int)fd, &s);
			if (k != PL_NONE)
				drop((int)fd, s, k);
		}
	}
	if (pl_real.close_range || (pl_resolve(), pl_real.close_range))
		return pl_real.close_range(first, last, flags);
	return (int)syscall(SYS_close_range, first, last, flags);
}

/* nfd now names what fd names. */
static void copy_slot(int nfd, struct pl_slot *from, enum pl_kind k)
{
	struct pl_slot *ns;

	pl_fresh(nfd);
	if (k != PL_PN && k != PL_CAND)
		return; /* a dup()ed epoll set: its pinnet members stay
			 * with the original's number */
	ns = pl_slot_make(nfd);
	if (!ns)
		return;
	ns->pn = from->pn;
	if (k == PL_PN && from->lrec) {
		/* a listener on no stack here: a second name for its record */
		atomic_fetch_add(&from->lrec->refs, 1);
		ns->lrec = from->lrec;
	} else if (k == PL_PN) {
		pl_psock(from->pn)->refs++;
	}
	atomic_store_explicit(&ns->kind, k, memory_order_release);
}

PL_EXPORT int dup(int fd)
{
	struct pl_slot *s;
	enum pl_kind k = pl_kind_of(fd, &s);
	int nfd;

	if (k == PL_PN && !s->lrec && pl_check(s))
		return (int)pl_ret(-EPERM);
	nfd = REAL(dup)(fd);
	if (nfd >= 0)
		copy_slot(nfd, s, k);
	return nfd;
}

static int dup_to(int fd, int nfd, int flags, bool three)
{
	struct pl_slot *s, *ns;
	enum pl_kind k = pl_kind_of(fd, &s), nk;
	int rc;

	if (fd == nfd ||
	    (k != PL_PN && k != PL_CAND && pl_kind_of(nfd, &ns) == PL_NONE))
		return three ? REAL(dup3)(fd, nfd, flags) : REAL(dup2)(fd, nfd);
	if (k == PL_PN && !s->lrec && pl_check(s))
		return (int)pl_ret(-EPERM);
	nk = pl_kind_of(nfd, &ns);
	rc = three ? REAL(dup3)(fd, nfd, flags) : REAL(dup2)(fd, nfd);
	if (rc < 0)
		return rc;
	if (nk != PL_NONE)
		drop(nfd, ns, nk); /* the kernel closed what nfd was */
	copy_slot(nfd, s, k);
	return rc;
}

PL_EXPORT int dup2(int fd, int nfd)
{
	return dup_to(fd, nfd, 0, false);
}

PL_EXPORT int dup3(int fd, int nfd, int flags)
{
	return dup_to(fd, nfd, flags, true);
}

static int pl_fcntl(int fd, int cmd, void *arg)
{
	struct pl_slot *s;
	enum pl_kind k = pl_kind_of(fd, &s);
	int rc;

	if (k == PL_NONE || k == PL_EP)
		return REAL(fcntl)(fd, cmd, arg);
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (k == PL_PN && !s->lrec && pl_check(s))
			return (int)pl_ret(-EPERM);
		rc = REAL(fcntl)(fd, cmd, arg);
		if (rc >= 0)
			copy_slot(rc, s, k);
		return rc;
	case F_SETFL:
		if (k != PL_PN)
			break;
		rc = pl_check(s);
		if (rc)
			return (int)pl_ret(rc);
		/* the kernel socket keeps the flags F_GETFL reads */
		rc = REAL(fcntl)(fd, cmd, arg);
		if (rc == 0)
			rc = (int)pl_ret(
				set_nonblock(s->pn, (long)arg & O_NONBLOCK));
		return rc;
	default:
		break;
	}
	return REAL(fcntl)(fd, cmd, arg);
}

PL_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return pl_fcntl(fd, cmd, arg);
}

PL_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return pl_fcntl(fd, cmd, arg);
}

PL_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct pl_slot *s;
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (pl_kind_of(fd, &s) != PL_PN)
		return REAL(ioctl)(fd, req, arg);
	switch (req) {
	case FIONBIO:
		rc = pl_check(s);
		if (rc)
			return (int)pl_ret(rc);
		if (!arg)
			return (int)pl_ret(-EFAULT);
		rc = REAL(ioctl)(fd, req, arg); /* F_GETFL reads it there */
		if (rc)
			return rc;
		return (int)pl_ret(set_nonblock(s->pn, *(int *)arg != 0));
	case FIONREAD:
	case TIOCOUTQ:
		rc = pl_check(s);
		if (!rc)
			rc = pn_ioctl(pl_st, s->pn, req, arg);
		return (int)pl_ret(rc);
	default:
		/* interface requests and the like: the kernel socket */
		return REAL(ioctl)(fd, req, arg);
	}
}

static int put_int(int v, void *val, socklen_t *len)
{
	if (!val || !len)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	if (*len > sizeof(int))
		*len = sizeof(int);
	memcpy(val, &v, *len);
	return 0;
}

PL_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct pl_slot *s;
	int rc;

	if (pl_kind_of(fd, &s) != PL_PN)
		return REAL(getsockopt)(fd, level, name, val, len);
	rc = pl_check(s);
	if (rc)
		return (int)pl_ret(rc);
	if (level == SOL_SOCKET && name == SO_ACCEPTCONN)
		return (int)pl_ret(
			put_int(pl_psock(s->pn)->listening, val, len));
	if (level == IPPROTO_TCP && name == TCP_CORK) /* kept here */
		return (int)pl_ret(put_int(pl_psock(s->pn)->cork, val, len));
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
		return REAL(getsockopt)(fd, level, name, val, len);
	/* the kernel socket's TCP_INFO would describe an unconnected socket */
	if (level == IPPROTO_TCP && name == TCP_INFO)
		return (int)pl_ret(-ENOPROTOOPT);
	rc = pn_getsockopt(pl_st, s->pn, level, name, val, len);
	if (rc == -ENOPROTOOPT) /* not the stack's: as the kernel answers */
		return REAL(getsockopt)(fd, level, name, val, len);
	return (int)pl_ret(rc);
}

PL_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			 socklen_t len)
{
	struct pl_slot *s;
	int rc;

	if (pl_kind_of(fd, &s) != PL_PN)
		return REAL(setsockopt)(fd, level, name, val, len);
	rc = pl_check(s);
	if (rc)
		return (int)pl_ret(rc);
	if (level == SOL_SOCKET &&
	    (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
		/* the kernel checks the value and keeps it for getsockopt;
		 * the waits here apply it */
		struct timeval tv;
		socklen_t tl = sizeof(tv);

		rc = REAL(setsockopt)(fd, level, name, val, len);
		if (rc)
			return rc;
		if (REAL(getsockopt)(fd, level, name, &tv, &tl) == 0) {
			if (name == SO_RCVTIMEO)
				pl_psock(s->pn)->rcvtimeo_ms = pl_tv_ms(&tv);
			else
				pl_psock(s->pn)->sndtimeo_ms = pl_tv_ms(&tv);
		}
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_CORK) {
		/* the stack has MSG_MORE, not a cork: while corked every send
		 * waits for more (at most ~50 ms, the kernel's cork 200 ms),
		 * and uncorking pushes what waits, as the kernel does. Kept
		 * here, checked as the kernel checks it (tcp_setsockopt):
		 * nginx's tcp_nopush corks and uncorks every response, and
		 * two system calls on the kernel socket for that cost about
		 * a tenth of a 1 KiB response's time */
		if (len < sizeof(int))
			return (int)pl_ret(-EINVAL);
		if (!val)
			return (int)pl_ret(-EFAULT);
		pl_psock(s->pn)->cork = *(const int *)val != 0;
		if (!pl_psock(s->pn)->cork)
			pn_sendv(pl_st, s->pn, NULL, 0); /* the push */
		return 0;
	}
	rc = pn_setsockopt(pl_st, s->pn, level, name, val, len);
	if (rc == 0 && level == IPPROTO_TCP && name == TCP_NODELAY &&
	    *(const int *)val)
		/* as Linux: what Nagle held leaves now */
		pn_sendv(pl_st, s->pn, NULL, 0);
	if (rc == -ENOPROTOOPT)
		/* not the stack's: accepted (or refused) as the kernel does,
		 * without effect on pinnet's traffic */
		return REAL(setsockopt)(fd, level, name, val, len);
	return (int)pl_ret(rc);
}

PL_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct pl_slot *s;
	int rc;

	if (pl_kind_of(fd, &s) != PL_PN)
		return REAL(getsockname)(fd, addr, len);
	rc = pl_check(s);
	if (!rc)
		rc = pn_getsockname(pl_st, s->pn, addr, len);
	return (int)pl_ret(rc);
}

PL_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct pl_slot *s;
	int rc;

	if (pl_kind_of(fd, &s) != PL_PN)
		return REAL(getpeername)(fd, addr, len);
	rc = pl_check(s);
	if (!rc)
		rc = pn_getpeername(pl_st, s->pn, addr, len);
	return (int)pl_ret(rc);
}
