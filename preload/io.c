/* SPDX-License-Identifier: MIT */
/*
 * Data: read, write, readv, writev, recv, send, recvfrom, sendto, recvmsg,
 * sendmsg, sendfile and glibc's _chk forms, on pinnet sockets as on the
 * kernel's:
 *  - a blocking send, write, writev, sendmsg or sendfile returns once all
 *    its bytes are queued (the stack's pn_send returns after the first
 *    that fit), unless an error or SO_SNDTIMEO comes first: then the bytes
 *    queued so far, or the error;
 *  - EPIPE raises SIGPIPE unless MSG_NOSIGNAL, as the kernel does (the
 *    stack itself never raises it);
 *  - SO_RCVTIMEO and SO_SNDTIMEO bound a blocking call's wait (EAGAIN);
 *  - recvfrom and recvmsg report no address (length 0), recvmsg no control
 *    data and no flags, as for TCP; sendto's and sendmsg's address and
 *    control data are ignored, as by Linux's TCP.
 *  - a signal handler ends a blocking call's wait with EINTR (or the
 *    bytes sent so far), unless it was installed with SA_RESTART and the
 *    socket has no timeout, as signal(7) says (sig.c: the stack's own
 *    waits would go on through any signal); a recv with MSG_WAITALL,
 *    once some bytes came, still waits on.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>

#include "preload.h"

extern void __chk_fail(void) __attribute__((noreturn));

static bool blocking(const struct pl_psock *p, int flags)
{
	return !p->nonblock && !(flags & MSG_DONTWAIT);
}

static ssize_t epipe(ssize_t rc, int flags)
{
	if (rc == -EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return pl_ret(rc);
}

/* A blocking call waits here first, as the kernel would: until ready, or
 * SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN), or a signal handler (EINTR, unless
 * it asked for SA_RESTART and the socket has no timeout); then the
 * stack's call does not wait. */
static int timed_wait(const struct pl_psock *p, int pn, short events, int flags)
{
	int ms = events == POLLIN ? p->rcvtimeo_ms : p->sndtimeo_ms;

	if (!blocking(p, flags))
		return 0;
	return pl_block(pn, events, ms ? ms : -1, !ms);
}

static ssize_t do_recv(int pn, void *buf, size_t len, int flags)
{
	struct pl_psock *p = pl_psock(pn);
	int rc;

	flags &= ~(MSG_NOSIGNAL | MSG_CMSG_CLOEXEC);
	if (!len && !(flags & MSG_PEEK)) {
		/* as Linux: a 0-byte read waits for something to read
		 * (EAGAIN if it may not), then returns 0 or the error */
		rc = blocking(p, flags) ? timed_wait(p, pn, POLLIN, flags) :
					  pl_block(pn, POLLIN, 0, false);
		if (rc)
			return rc;
		return pn_recv(pl_st, pn, buf, 0, flags);
	}
	if (blocking(p, flags) && !(flags & MSG_WAITALL)) {
		/* what is there, or the call's error, before any wait */
		ssize_t r = pn_recv(pl_st, pn, buf, len, flags | MSG_DONTWAIT);

		if (r != -EAGAIN)
			return r;
	}
	rc = timed_wait(p, pn, POLLIN, flags);
	if (rc)
		return rc;
	return pn_recv(pl_st, pn, buf, len, flags);
}

static ssize_t do_send(int pn, const void *buf, size_t len, int flags)
{
	struct pl_psock *p = pl_psock(pn);
	int f = (flags & ~MSG_NOSIGNAL) | (p->cork ? MSG_MORE : 0);
	size_t done = 0;
	ssize_t n;

	if (!blocking(p, flags))
		return pn_send(pl_st, pn, buf, len, f);
	do {
		n = timed_wait(p, pn, POLLOUT, flags);
		if (!n)
			n = pn_send(pl_st, pn, (const char *)buf + done,
				    len - done, f);
		if (n < 0)
			return done ? (ssize_t)done : n;
		done += (size_t)n;
	} while (done < len);
	return (ssize_t)done;
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static ssize_t do_sendmsg(int pn, const struct iovec *iov, int n, int flags);

/* writev: pn_sendv, again with what is left while blocking. */
static ssize_t do_sendv(int pn, const struct iovec *iov, int n)
{
	struct pl_psock *p = pl_psock(pn);
	struct iovec small[64], *copy = NULL, *v = NULL;
	size_t total, done = 0;
	ssize_t r;

	if (n < 0 || n > IOV_MAX || (n && !iov))
		return -EINVAL;
	if (p->cork) /* pn_sendv pushes at its end: piece by piece */
		return do_sendmsg(pn, iov, n, MSG_MORE);
	if (!blocking(p, 0))
		return pn_sendv(pl_st, pn, iov, n);
	total = iov_total(iov, n);
	for (;;) {
		r = timed_wait(p, pn, POLLOUT, 0);
		if (!r)
			r = pn_sendv(pl_st, pn, v ? v : iov, n);
		if (r < 0)
			break;
		done += (size_t)r;
		if (done >= total)
			break;
		/* what is left, in a copy of the vector */
		if (!v) {
			copy = n <= 64 ? small :
					 malloc((size_t)n * sizeof(*copy));
			if (!copy)
				return (ssize_t)done;
			memcpy(copy, iov, (size_t)n * sizeof(*copy));
			v = copy;
		}
		while (n && (size_t)r >= v->iov_len) {
			r -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n) {
			v->iov_base = (char *)v->iov_base + r;
			v->iov_len -= (size_t)r;
		}
	}
	if (copy != small)
		free(copy);
	return done ? (ssize_t)done : r;
}

/* recvmsg's and readv's vector with flags: into the pieces in turn, the
 * first blocking as the socket does, the rest taking what is there. */
static ssize_t do_recvv(int pn, const struct iovec *iov, int n, int flags)
{
	struct pl_psock *p = pl_psock(pn);
	size_t total = 0;
	ssize_t r;
	int rc;

	flags &= ~(MSG_NOSIGNAL | MSG_CMSG_CLOEXEC);
	if (n < 0 || n > IOV_MAX || (n && !iov))
		return -EINVAL;
	if (n == 1)
		return do_recv(pn, iov[0].iov_base, iov[0].iov_len, flags);
	if (!flags) {
		rc = timed_wait(p, pn, POLLIN, 0);
		if (rc)
			return rc;
		return pn_recvv(pl_st, pn, iov, n);
	}
	if (flags & MSG_PEEK) {
		size_t want = iov_total(iov, n), off = 0;
		char *tmp = malloc(want ? want : 1);

		if (!tmp)
			return -ENOMEM;
		r = do_recv(pn, tmp, want, flags);
		for (int i = 0; r > 0 && i < n && off < (size_t)r; i++) {
			size_t k = iov[i].iov_len;

			if (k > (size_t)r - off)
				k = (size_t)r - off;
			memcpy(iov[i].iov_base, tmp + off, k);
			off += k;
		}
		free(tmp);
		return r;
	}
	for (int i = 0; i < n; i++) {
		if (!iov[i].iov_len)
			continue;
		r = do_recv(pn, iov[i].iov_base, iov[i].iov_len,
			    total && !(flags & MSG_WAITALL) ?
				    flags | MSG_DONTWAIT :
				    flags);
		if (r <= 0)
			return total ? (ssize_t)total : r;
		total += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return (ssize_t)total;
}

static ssize_t do_sendmsg(int pn, const struct iovec *iov, int n, int flags)
{
	size_t total = 0;
	ssize_t r;

	if (!(flags & ~MSG_NOSIGNAL))
		return do_sendv(pn, iov, n);
	if (n < 0 || n > IOV_MAX || (n && !iov))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (!iov[i].iov_len)
			continue;
		/* the pieces leave together, as one sendmsg's do */
		r = do_send(pn, iov[i].iov_base, iov[i].iov_len,
			    i + 1 < n ? flags | MSG_MORE : flags);
		if (r < 0)
			return total ? (ssize_t)total : r;
		total += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return (ssize_t)total;
}

/* The pinnet socket of fd for a call from this thread: 1 (in *pn), 0 when
 * fd is not pinnet's, or -errno. */
static int pn_of(int fd, int *pn)
{
	struct pl_slot *s;
	int rc;

	if (pl_kind_of(fd, &s) != PL_PN)
		return 0;
	rc = pl_check(s);
	if (rc)
		return rc;
	*pn = s->pn;
	return 1;
}

PL_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(read)(fd, buf, len);
	if (k < 0)
		return pl_ret(k);
	return pl_ret(do_recv(pn, buf, len, 0));
}

PL_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read(fd, buf, len);
}

PL_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(write)(fd, buf, len);
	if (k < 0)
		return pl_ret(k);
	return epipe(do_send(pn, buf, len, 0), 0);
}

PL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(readv)(fd, iov, n);
	if (k < 0)
		return pl_ret(k);
	return pl_ret(do_recvv(pn, iov, n, 0));
}

PL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(writev)(fd, iov, n);
	if (k < 0)
		return pl_ret(k);
	return epipe(do_sendv(pn, iov, n), 0);
}

PL_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(recv)(fd, buf, len, flags);
	if (k < 0)
		return pl_ret(k);
	return pl_ret(do_recv(pn, buf, len, flags));
}

PL_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen,
			     int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

PL_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(send)(fd, buf, len, flags);
	if (k < 0)
		return pl_ret(k);
	return epipe(do_send(pn, buf, len, flags), flags);
}

PL_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
			   struct sockaddr *addr, socklen_t *alen)
{
	int pn = -1, k = pn_of(fd, &pn);
	ssize_t r;

	if (!k)
		return REAL(recvfrom)(fd, buf, len, flags, addr, alen);
	if (k < 0)
		return pl_ret(k);
	r = do_recv(pn, buf, len, flags);
	if (r >= 0 && addr && alen)
		*alen = 0; /* TCP: no address, as Linux says */
	return pl_ret(r);
}

PL_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
				 int flags, struct sockaddr *addr,
				 socklen_t *alen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, addr, alen);
}

PL_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *addr, socklen_t alen)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(sendto)(fd, buf, len, flags, addr, alen);
	if (k < 0)
		return pl_ret(k);
	return epipe(do_send(pn, buf, len, flags), flags);
}

PL_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	int pn = -1, k = pn_of(fd, &pn);
	ssize_t r;

	if (!k)
		return REAL(recvmsg)(fd, msg, flags);
	if (k < 0)
		return pl_ret(k);
	if (!msg)
		return pl_ret(-EFAULT);
	if (msg->msg_iovlen > IOV_MAX)
		return pl_ret(-EMSGSIZE);
	r = do_recvv(pn, msg->msg_iov, (int)msg->msg_iovlen, flags);
	if (r >= 0) {
		msg->msg_namelen = 0;
		msg->msg_controllen = 0;
		msg->msg_flags = 0;
	}
	return pl_ret(r);
}

PL_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	int pn = -1, k = pn_of(fd, &pn);

	if (!k)
		return REAL(sendmsg)(fd, msg, flags);
	if (k < 0)
		return pl_ret(k);
	if (!msg)
		return pl_ret(-EFAULT);
	if (msg->msg_iovlen > IOV_MAX)
		return pl_ret(-EMSGSIZE);
	return epipe(do_sendmsg(pn, msg->msg_iov, (int)msg->msg_iovlen, flags),
		     flags);
}

/* The checks both take on a pinnet socket: 0, or -errno; vlen capped at
 * UIO_MAXIOV, as Linux does. */
static int mmsg_args(int k, const struct mmsghdr *v, unsigned int *vlen)
{
	if (k < 0)
		return k;
	if (!v && *vlen)
		return -EFAULT;
	if (*vlen > UIO_MAXIOV)
		*vlen = UIO_MAXIOV;
	return 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * recvmmsg and sendmmsg, as Linux's on a TCP socket: a recvmsg or sendmsg
 * per message, in turn; MSG_WAITFORONE adds MSG_DONTWAIT after the first
 * message, the timeout is looked at after each (as Linux, which does not
 * bound the wait for one); the count, or -1 when the first failed (an
 * error after some is the next call's: it meets the same condition).
 */
PL_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags,
		       struct timespec *timeout)
{
	int pn = -1, k = pn_of(fd, &pn), rc;
	unsigned int n = 0;
	int64_t end = 0;

	if (!k)
		return REAL(recvmmsg)(fd, v, vlen, flags, timeout);
	rc = mmsg_args(k, v, &vlen);
	if (rc)
		return (int)pl_ret(rc);
	if (timeout) {
		if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
		    timeout->tv_nsec >= 1000000000)
			return (int)pl_ret(-EINVAL);
		end = mono_ns() + (int64_t)timeout->tv_sec * 1000000000 +
		      timeout->tv_nsec;
	}
	while (n < vlen) {
		ssize_t r = recvmsg(fd, &v[n].msg_hdr, flags & ~MSG_WAITFORONE);

		if (r < 0)
			break;
		v[n++].msg_len = (unsigned int)r;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
		if (timeout && mono_ns() >= end)
			break;
	}
	return n || !vlen ? (int)n : -1; /* errno: the first recvmsg's */
}

PL_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags)
{
	int pn = -1, k = pn_of(fd, &pn), rc;
	unsigned int n = 0;

	if (!k)
		return REAL(sendmmsg)(fd, v, vlen, flags);
	rc = mmsg_args(k, v, &vlen);
	if (rc)
		return (int)pl_ret(rc);
	while (n < vlen) {
		ssize_t r = sendmsg(fd, &v[n].msg_hdr, flags);

		if (r < 0)
			break;
		v[n++].msg_len = (unsigned int)r;
	}
	return n || !vlen ? (int)n : -1; /* errno: the first sendmsg's */
}

static ssize_t do_sendfile(int pn, int in, off_t *off, size_t count)
{
	struct pl_psock *p = pl_psock(pn);
	size_t done = 0;
	ssize_t n;

	if (!blocking(p, 0))
		return pn_sendfile(pl_st, pn, in, off, count);
	do {
		n = timed_wait(p, pn, POLLOUT, 0);
		if (!n)
			n = pn_sendfile(pl_st, pn, in, off, count - done);
		if (n <= 0)
			return done ? (ssize_t)done : n;
		done += (size_t)n;
	} while (done < count);
	return (ssize_t)done;
}

PL_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	int pn = -1, k = pn_of(out, &pn);
	struct pl_slot *s;

	if (!k) {
		if (pl_kind_of(in, &s) == PL_PN)
			return pl_ret(-EINVAL); /* from a socket: not a file */
		return REAL(sendfile)(out, in, off, count);
	}
	if (k < 0)
		return pl_ret(k);
	return epipe(do_sendfile(pn, in, off, count), 0);
}

PL_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return sendfile(out, in, off, count);
}
