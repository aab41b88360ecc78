/* SPDX-License-Identifier: MIT */
/*
 * Signals, for the blocking calls: a blocking recv, send or accept on a
 * kernel socket ends with EINTR when a signal handler runs, unless the
 * handler was installed with SA_RESTART (then the kernel restarts the
 * call), and always with EINTR once the socket has a timeout (SO_RCVTIMEO,
 * SO_SNDTIMEO; signal(7)). The stack's waits would go on through any
 * signal (an io_uring wait ends with EINTR whatever the handler's flags),
 * so the library waits itself (pl_block(), wait.c) and must know which
 * signal ended the wait and how its handler was installed: sigaction(),
 * signal() and bsd_signal() are interposed, and a handler is installed
 * behind a small one of ours that notes the signal's number and calls it
 * with what the kernel gave (the same mask and flags, SA_SIGINFO added;
 * sigaction() reports the application's handler, not ours).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "preload.h"

static struct sigaction user[NSIG]; /* the application's handlers */
static volatile sig_atomic_t wrapped[NSIG]; /* installed behind ours */
static __thread volatile sig_atomic_t last_sig; /* since pl_sig_clear() */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *u;

	if (sig <= 0 || sig >= NSIG)
		return;
	u = &user[sig];
	last_sig = sig;
	if (u->sa_flags & SA_RESETHAND)
		wrapped[sig] = 0; /* the kernel put SIG_DFL back */
	if (u->sa_flags & SA_SIGINFO)
		u->sa_sigaction(sig, si, uc);
	else if (u->sa_handler != SIG_DFL && u->sa_handler != SIG_IGN)
		u->sa_handler(sig);
}

static bool is_handler(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) ||
	       (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN);
}

PL_EXPORT int sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	struct sigaction prev, ours;
	bool had;
	int rc;

	if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
		return REAL(sigaction)(sig, act, old);
	had = wrapped[sig];
	prev = user[sig];
	if (act && is_handler(act)) {
		ours = *act;
		ours.sa_flags |= SA_SIGINFO;
		ours.sa_sigaction = on_signal;
		user[sig] = *act; /* before the kernel can call ours */
		rc = REAL(sigaction)(sig, &ours, old);
		if (rc) {
			user[sig] = prev;
			return rc;
		}
		wrapped[sig] = 1;
	} else {
		rc = REAL(sigaction)(sig, act, old);
		if (rc)
			return rc;
		if (act)
			wrapped[sig] = 0;
	}
	if (old && had)
		*old = prev; /* the application's, not ours */
	return 0;
}

/* glibc's signal(): BSD semantics (SA_RESTART, the signal blocked while
 * its handler runs); the old handler, or SIG_ERR. */
PL_EXPORT __sighandler_t signal(int sig, __sighandler_t fn)
{
	struct sigaction a, o;

	memset(&a, 0, sizeof(a));
	a.sa_handler = fn;
	a.sa_flags = SA_RESTART;
	if (sig <= 0 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&a.sa_mask);
	sigaddset(&a.sa_mask, sig);
	if (sigaction(sig, &a, &o))
		return SIG_ERR;
	return o.sa_handler;
}

__sighandler_t bsd_signal(int sig, __sighandler_t fn); /* not declared
							  * with _GNU_SOURCE */
PL_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t fn)
{
	return signal(sig, fn);
}

void pl_sig_clear(void)
{
	last_sig = 0;
}

/* A handler ran since pl_sig_clear() (in the call's own work, between its
 * kernel waits: the kernel's poll or epoll_wait would have ended with EINTR
 * then, whatever SA_RESTART says) */
bool pl_sig_seen(void)
{
	return last_sig != 0;
}

/* The wait just ended with EINTR: was it a handler that asked for
 * SA_RESTART? (A signal we did not see, no.) */
bool pl_sig_restarts(void)
{
	int s = last_sig;

	return s > 0 && s < NSIG && (user[s].sa_flags & SA_RESTART);
}
