/* SPDX-License-Identifier: MIT */
/*
 * Waiting: poll, ppoll, select, pselect and epoll over sets that mix
 * kernel descriptors (timers, pipes, eventfds, signalfds, kernel sockets)
 * and pinnet sockets.
 *
 * An application's epoll set stays a kernel epoll set: its kernel members
 * are registered there as always. Its pinnet members go to a shadow set of
 * the stack's (pn_epoll_*), made at the first one, and the stack's own
 * descriptor (pn_stack_fd(), an eventfd the ring signals on every
 * completion) joins the kernel set with a reserved data value that is
 * never handed to the application. A wait:
 *  1. takes what is ready on both sides without waiting (the stack runs
 *     when its last turn is older than 50 us, and pushes what was sent);
 *     when one side fills every slot, the other goes first next time, so
 *     neither starves the other;
 *  2. when nothing is, runs the stack once (what the application sent
 *     leaves, what came in is taken in) and looks again;
 *  3. then, for up to busy_poll microseconds (PINNET_BUSY_POLL, 200 by
 *     default), looks at both again and again without sleeping (the
 *     kernel set with a zero timeout, a turn of the stack, its sockets),
 *     never past the caller's timeout;
 *  4. then sleeps in the kernel set for at most min(timeout, the stack's
 *     next timer), and when it wakes (the stack's descriptor, a kernel
 *     member, a timer due) runs the stack once and takes what both sides
 *     have, returning as soon as there is something.
 * The busy poll is what a kernel-bypass stack's wait is for: a sleep in
 * the kernel and the wake-up that ends it (the ring's eventfd, then the
 * scheduler) cost more than the gap between a server's bursts. Measured
 * on a 2-CPU VM, redis-server under redis-benchmark -P 16 (GET, 10 and 12
 * interleaved rounds): 0.976x and 0.982x the kernel's rate sleeping at
 * once, 0.999x and 1.028x with 200 us (the server's sleeps had waited
 * 0.1 ms on average to run again, the kernel server's 7 us).
 * poll and select do the same over a pollfd array: the pinnet entries are
 * asked with pn_poll(), the kernel ones, with the stack's descriptor
 * added, wait in the kernel's poll.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "preload.h"

extern void __chk_fail(void) __attribute__((noreturn));

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ms(void)
{
	return now_ns() / 1000000;
}

/* The busy poll of a wait (step 3 above): when it ends, from the wait's
 * first look; 0 for none. */
static int64_t spin_end(void)
{
	return pl_busy_poll_ns ? now_ns() + pl_busy_poll_ns : 0;
}

/* Still polling: another look without sleeping. (Without a
 * sched_yield() between looks: with one, redis-server's rate above was
 * 0.978x against 0.999x without, in the same run; the poll is short.) */
static bool spinning(int64_t end)
{
	return end && now_ns() < end;
}

/* How long the next kernel wait may be: the caller's time left, and no
 * longer than the stack's next timer; 0 while the wait busy-polls (spin:
 * its spin_end()). */
static int wait_ms(int timeout, int64_t deadline, int64_t spin)
{
	int t;

	if (spinning(spin))
		return 0;
	t = pn_stack_timeout(pl_st);

	if (t < 0)
		t = 1;
	if (timeout >= 0) {
		int64_t left = deadline - now_ms();

		if (left < 0)
			left = 0;
		if (left < t)
			t = (int)left;
	}
	return t;
}

/* ---- poll ------------------------------------------------------------- */

static int ms_of(const struct timespec *ts)
{
	long long ms;

	if (!ts)
		return -1;
	ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The kernel entries now (none: no call). */
static int kernel_now(struct pollfd *kp, nfds_t k)
{
	int r = k ? REAL(poll)(kp, k, 0) : 0;

	return r < 0 ? -errno : r;
}

/* The kernel entries and the stack's descriptor (kp[k]) for up to ms. */
static int kernel_wait(struct pollfd *kp, nfds_t k, int ms,
		       const sigset_t *mask)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	int r = mask ? REAL(ppoll)(kp, k + 1, &ts, mask) :
		       REAL(poll)(kp, k + 1, ms);

	if (r < 0)
		return -errno; /* EINTR: a signal, as poll's */
	return r - (kp[k].revents != 0);
}

int pl_block(int pn, short events, int ms, bool restart)
{
	struct pn_pollfd p = { pn, events, 0 };
	struct pollfd kp;
	int64_t deadline = ms > 0 ? now_ms() + ms : 0, spin = 0;
	int r;

	pl_sig_clear();
	for (;;) {
		r = pn_poll(pl_st, &p, 1, 0);
		if (r)
			return r < 0 ? r : 0;
		if (!ms || (ms > 0 && now_ms() >= deadline))
			return -EAGAIN;
		if (!spin)
			spin = spin_end();
		/* what was sent leaves, what came is taken in */
		pn_stack_process(pl_st, 0);
		r = pn_poll(pl_st, &p, 1, 0);
		if (r)
			return r < 0 ? r : 0;
		/* a handler that ran while the stack worked would have
		 * ended the kernel's wait (seen in CI: a recv with
		 * SO_RCVTIMEO slept to its timeout, EAGAIN, where the
		 * kernel's ends with EINTR); one that asked for SA_RESTART
		 * on a socket without a timeout lets the call go on */
		if (pl_sig_seen()) {
			if (!(restart && pl_sig_restarts()))
				return -EINTR;
			pl_sig_clear();
		}
		/* then the stack's descriptor, in the kernel's poll: a
		 * signal ends it, as it ends a blocking call on a kernel
		 * socket */
		kp = (struct pollfd){ pn_stack_fd(pl_st), POLLIN, 0 };
		r = kernel_wait(&kp, 0, wait_ms(ms, deadline, spin), NULL);
		if (r == -EINTR) {
			if (!(restart && pl_sig_restarts()))
				return -EINTR;
			pl_sig_clear();
		} else if (r < 0) {
			return r;
		}
		pn_stack_process(pl_st, 0);
	}
}

/* poll over fds, some of them pinnet's: the count or -1 with errno. */
static int mixed_poll(struct pollfd *fds, nfds_t n, int timeout,
		      const sigset_t *mask)
{
	struct pn_pollfd small_p[32], *pp;
	struct pollfd small_k[33], *kp;
	nfds_t small_i[64], *idx; /* where each entry came from */
	nfds_t m = 0, k = 0;
	int64_t deadline = timeout > 0 ? now_ms() + timeout : 0;
	int rc = 0, r1, r2, ready = 0;

	/* listeners a fork left without a stack here are made again first */
	for (nfds_t i = 0; i < n && !rc; i++) {
		struct pl_slot *s;

		if (pl_kind_of(fds[i].fd, &s) == PL_PN && s->lrec)
			rc = pl_check(s);
	}
	if (!rc)
		rc = pl_check(NULL);
	if (rc)
		return (int)pl_ret(rc);
	pl_run_deferred();
	if (n <= 32) {
		pp = small_p;
		kp = small_k;
		idx = small_i;
	} else {
		pp = malloc(n * sizeof(*pp));
		kp = malloc((n + 1) * sizeof(*kp));
		idx = malloc(2 * n * sizeof(*idx));
		if (!pp || !kp || !idx) {
			free(pp);
			free(kp);
			free(idx);
			return (int)pl_ret(-ENOMEM);
		}
	}
	for (nfds_t i = 0; i < n; i++) {
		struct pl_slot *s;

		if (pl_kind_of(fds[i].fd, &s) == PL_PN) {
			pp[m] = (struct pn_pollfd){ s->pn, fds[i].events, 0 };
			idx[m++] = i;
		} else {
			kp[k] = fds[i];
			idx[n + k++] = i;
		}
	}
	kp[k] = (struct pollfd){ pn_stack_fd(pl_st), POLLIN, 0 };
	pl_sig_clear();
	r1 = pn_poll(pl_st, pp, (unsigned int)m, 0);
	r2 = r1 < 0 ? 0 : kernel_now(kp, k);
	if (r1 >= 0 && r2 >= 0 && !(r1 + r2) && timeout) {
		/* nothing yet: what was sent leaves, what came is taken
		 * in, then a look again */
		int64_t spin = spin_end();

		pn_stack_process(pl_st, 0);
		r1 = pn_poll(pl_st, pp, (unsigned int)m, 0);
		while (r1 == 0 && r2 == 0) {
			if (timeout > 0 && now_ms() >= deadline)
				break;
			/* a handler that ran while the stack worked would
			 * have ended the kernel's poll (seen in CI: poll and
			 * epoll_wait slept to their timeout instead) */
			if (pl_sig_seen()) {
				r2 = -EINTR;
				break;
			}
			r2 = kernel_wait(
				kp, k, wait_ms(timeout, deadline, spin), mask);
			if (r2 < 0)
				break;
			/* woken by the ring, a timer due or a kernel
			 * member: the stack's turn, then its sockets */
			pn_stack_process(pl_st, 0);
			r1 = pn_poll(pl_st, pp, (unsigned int)m, 0);
		}
	}
	rc = r1 < 0 ? r1 : r2 < 0 ? r2 : 0;
	if (!rc) {
		for (nfds_t j = 0; j < m; j++)
			fds[idx[j]].revents = pp[j].revents;
		for (nfds_t j = 0; j < k; j++)
			fds[idx[n + j]].revents = kp[j].revents;
		for (nfds_t i = 0; i < n; i++)
			ready += fds[i].revents != 0;
	}
	if (pp != small_p) {
		free(pp);
		free(kp);
		free(idx);
	}
	return rc ? (int)pl_ret(rc) : ready;
}

static bool has_pinnet(const struct pollfd *fds, nfds_t n)
{
	struct pl_slot *s;

	for (nfds_t i = 0; i < n; i++)
		if (pl_kind_of(fds[i].fd, &s) == PL_PN)
			return true;
	return false;
}

/* glibc declares poll()'s and ppoll()'s array write-only (access
 * attribute, for its fortified checks), though poll(2) reads each entry's
 * fd and events: GCC then warns that reading them reads uninitialized
 * memory (under -O2 with the sanitizers). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
PL_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!has_pinnet(fds, n))
		return REAL(poll)(fds, n, timeout);
	return mixed_poll(fds, n, timeout, NULL);
}

PL_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout,
			 size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

PL_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		    const sigset_t *mask)
{
	if (!has_pinnet(fds, n))
		return REAL(ppoll)(fds, n, ts, mask);
	if (ts &&
	    (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
		return (int)pl_ret(-EINVAL);
	return mixed_poll(fds, n, ms_of(ts), mask);
}
#pragma GCC diagnostic pop

PL_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n,
			  const struct timespec *ts, const sigset_t *mask,
			  size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}

/* ---- epoll ------------------------------------------------------------ */

PL_EXPORT int epoll_create1(int flags)
{
	int fd = REAL(epoll_create1)(flags);

	if (fd >= 0)
		pl_fresh(fd);
	return fd;
}

PL_EXPORT int epoll_create(int size)
{
	if (size <= 0)
		return (int)pl_ret(-EINVAL);
	return epoll_create1(0);
}

/* The shadow set of epoll set epfd, made with the stack descriptor's
 * registration at its first pinnet member. */
static int shadow_of(int epfd, struct pl_slot **sp)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = PL_STACK_DATA };
	struct pl_slot *s;
	int sh;

	if (pl_kind_of(epfd, &s) == PL_EP) {
		*sp = s;
		return 0;
	}
	/* also the kernel's check that epfd is an epoll set (EBADF,
	 * EINVAL) */
	if (REAL(epoll_ctl)(epfd, EPOLL_CTL_ADD, pn_stack_fd(pl_st), &ev) &&
	    errno != EEXIST)
		return -errno;
	s = pl_slot_make(epfd);
	if (!s)
		return -ENOMEM;
	sh = pn_epoll_create(pl_st);
	if (sh < 0)
		return sh;
	s->pn = sh;
	s->ep_kernel_first = 0;
	atomic_store_explicit(&s->kind, PL_EP, memory_order_release);
	*sp = s;
	return 0;
}

int pl_ep_add(int epfd, int pn, const struct epoll_event *ev)
{
	struct pl_slot *es;
	int rc = shadow_of(epfd, &es);

	return rc ? rc : pn_epoll_ctl(pl_st, es->pn, EPOLL_CTL_ADD, pn, ev);
}

PL_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct pl_slot *s, *es = NULL;
	enum pl_kind k = pl_kind_of(fd, &s);
	int rc;

	if (k == PL_CAND) {
		rc = REAL(epoll_ctl)(epfd, op, fd, ev);
		if (rc == 0)
			pl_cand_epoll(s, epfd, op, ev);
		return rc;
	}
	if (k != PL_PN)
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	rc = pl_check(s);
	if (rc)
		return (int)pl_ret(rc);
	if (epfd == fd)
		return (int)pl_ret(-EINVAL);
	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
		return (int)pl_ret(-EINVAL);
	rc = shadow_of(epfd, &es);
	if (!rc)
		rc = pn_epoll_ctl(pl_st, es->pn, op, s->pn, ev);
	return (int)pl_ret(rc);
}

/* Up to max of the kernel set's events, without the stack's own (*stack
 * set when it was there). */
static int kernel_take(int epfd, struct epoll_event *evs, int max, int ms,
		       const sigset_t *mask, bool *stack)
{
	int n = REAL(epoll_pwait)(epfd, evs, max, ms, mask), j = 0;

	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u64 == PL_STACK_DATA) {
			*stack = true;
			continue;
		}
		evs[j++] = evs[i];
	}
	return j;
}

/* What is ready on both sides now, the side that went second last time
 * first when one filled every slot. */
static int epoll_now(int epfd, struct pl_slot *es, struct epoll_event *evs,
		     int max)
{
	bool stack = false, kfirst = es->ep_kernel_first;
	int n = 0, r;

	if (kfirst) {
		n = kernel_take(epfd, evs, max, 0, NULL, &stack);
		if (n < 0)
			return n;
		if (stack)
			pn_stack_process(pl_st, 0);
	}
	if (n < max) {
		r = pn_epoll_wait(pl_st, es->pn, evs + n, max - n, 0);
		if (r < 0)
			return r;
		n += r;
	}
	if (!kfirst && n < max) {
		r = kernel_take(epfd, evs + n, max - n, 0, NULL, &stack);
		if (r < 0)
			return r;
		n += r;
		if (stack) {
			pn_stack_process(pl_st, 0);
			if (n < max) {
				r = pn_epoll_wait(pl_st, es->pn, evs + n,
						  max - n, 0);
				n += r > 0 ? r : 0;
			}
		}
	}
	if (n == max)
		es->ep_kernel_first = !kfirst;
	return n;
}

static int mixed_epoll(int epfd, struct pl_slot *es, struct epoll_event *evs,
		       int max, int timeout, const sigset_t *mask)
{
	int64_t deadline = timeout > 0 ? now_ms() + timeout : 0, spin;
	int rc = pl_check(NULL), n, r;

	if (rc)
		return (int)pl_ret(rc);
	if (max <= 0 || (size_t)max > INT_MAX / sizeof(*evs))
		return (int)pl_ret(-EINVAL);
	if (!evs)
		return (int)pl_ret(-EFAULT);
	pl_run_deferred();
	pl_sig_clear();
	n = epoll_now(epfd, es, evs, max);
	if (n || !timeout)
		return (int)pl_ret(n);
	/* nothing yet: what was sent leaves, what came is taken in, then a
	 * look again */
	spin = spin_end();
	pn_stack_process(pl_st, 0);
	n = pn_epoll_wait(pl_st, es->pn, evs, max, 0);
	while (!n) {
		bool stack = false;

		if (timeout > 0 && now_ms() >= deadline)
			break;
		if (pl_sig_seen()) {
			n = -EINTR; /* as in mixed_poll() */
			break;
		}
		n = kernel_take(epfd, evs, max,
				wait_ms(timeout, deadline, spin), mask, &stack);
		if (n < 0)
			break; /* EINTR: a signal, as epoll_wait's */
		/* woken by the ring, a timer due or a kernel member: the
		 * stack's turn, then its sockets */
		pn_stack_process(pl_st, 0);
		if (n < max) {
			r = pn_epoll_wait(pl_st, es->pn, evs + n, max - n, 0);
			if (r < 0)
				return (int)pl_ret(r);
			n += r;
		}
	}
	return (int)pl_ret(n);
}

PL_EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max,
			  int timeout, const sigset_t *mask)
{
	struct pl_slot *s;

	if (pl_kind_of(epfd, &s) != PL_EP)
		return REAL(epoll_pwait)(epfd, evs, max, timeout, mask);
	return mixed_epoll(epfd, s, evs, max, timeout, mask);
}

PL_EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max,
			   const struct timespec *ts, const sigset_t *mask)
{
	struct pl_slot *s;

	if (pl_kind_of(epfd, &s) != PL_EP) {
		if (!pl_real.epoll_pwait2)
			pl_resolve();
		if (!pl_real.epoll_pwait2)
			return (int)pl_ret(-ENOSYS);
		return pl_real.epoll_pwait2(epfd, evs, max, ts, mask);
	}
	if (ts &&
	    (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
		return (int)pl_ret(-EINVAL);
	/* the stack's waits are in milliseconds: rounded up */
	return mixed_epoll(epfd, s, evs, max, ms_of(ts), mask);
}

PL_EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max,
			 int timeout)
{
	return epoll_pwait(epfd, evs, max, timeout, NULL);
}

/* ---- select ------------------------------------------------------------- */

/* select over poll: the sets as pollfd entries, the answer back in the sets
 * (the kernel's mapping: readable for POLLIN, POLLHUP or POLLERR, writable
 * for POLLOUT or POLLERR, an exception for POLLPRI). */
static int select_poll(int nfds, fd_set *r, fd_set *w, fd_set *e, int ms,
		       const sigset_t *mask)
{
	struct pollfd small[64], *p = small;
	int n = 0, rc, count = 0;

	if (nfds > 64) {
		p = malloc((size_t)nfds * sizeof(*p));
		if (!p)
			return (int)pl_ret(-ENOMEM);
	}
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;

		if (r && FD_ISSET(fd, r))
			ev |= POLLIN;
		if (w && FD_ISSET(fd, w))
			ev |= POLLOUT;
		if (e && FD_ISSET(fd, e))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){ fd, ev, 0 };
	}
	rc = mixed_poll(p, (nfds_t)n, ms, mask);
	if (rc >= 0) {
		for (int i = 0; i < n; i++) {
			short re = p[i].revents;

			if (re & POLLNVAL) {
				rc = (int)pl_ret(-EBADF);
				break;
			}
			if (r && FD_ISSET(p[i].fd, r)) {
				if (re & (POLLIN | POLLHUP | POLLERR))
					count++;
				else
					FD_CLR(p[i].fd, r);
			}
			if (w && FD_ISSET(p[i].fd, w)) {
				if (re & (POLLOUT | POLLERR))
					count++;
				else
					FD_CLR(p[i].fd, w);
			}
			if (e && FD_ISSET(p[i].fd, e)) {
				if (re & POLLPRI)
					count++;
				else
					FD_CLR(p[i].fd, e);
			}
		}
		if (rc >= 0)
			rc = count;
	}
	if (p != small)
		free(p);
	return rc;
}

static bool sets_have_pinnet(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	struct pl_slot *s;

	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (int fd = 0; fd < nfds; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) ||
		     (e && FD_ISSET(fd, e))) &&
		    pl_kind_of(fd, &s) == PL_PN)
			return true;
	return false;
}

PL_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e,
		     struct timeval *tv)
{
	int64_t start;
	int ms, rc;

	if (nfds < 0 || !sets_have_pinnet(nfds, r, w, e)) {
		return REAL(select)(nfds, r, w, e, tv);
	}
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0))
		return (int)pl_ret(-EINVAL);
	ms = tv ? pl_tv_ms(tv) : -1;
	start = now_ms();
	rc = select_poll(nfds, r, w, e, ms, NULL);
	if (tv) {
		/* as Linux: the time not slept */
		int64_t left = ms - (now_ms() - start);

		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000;
		tv->tv_usec = (left % 1000) * 1000;
	}
	return rc;
}

PL_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
		      const struct timespec *ts, const sigset_t *mask)
{
	if (nfds < 0 || !sets_have_pinnet(nfds, r, w, e)) {
		return REAL(pselect)(nfds, r, w, e, ts, mask);
	}
	if (ts &&
	    (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
		return (int)pl_ret(-EINVAL);
	return select_poll(nfds, r, w, e, ms_of(ts), mask);
}
