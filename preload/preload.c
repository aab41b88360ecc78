/* SPDX-License-Identifier: MIT */
/*
 * libpinnet-preload: the process's one stack, its driver thread, the
 * descriptor table and libc's own functions. The interposed calls are in
 * sock.c (sockets, descriptors, options), io.c (data) and wait.c (poll,
 * select, epoll).
 *
 * One stack per process, made on the first call that needs it (a bind to
 * the stack's address, a connect into its subnet), by that call's thread,
 * which drives it from then on: pinnet's stacks are lock-free and
 * single-threaded, so a pinnet socket used from another thread fails with
 * EPERM (said once on stderr), never silently. redis and nginx do their
 * network I/O on one thread. A fork()ed child does not touch its parent's
 * stack (its ring and pool are the parent's): its calls on inherited
 * pinnet sockets fail with EPERM, but close(), which only lets go of the
 * descriptor; a child forked before the parent had a stack makes its own.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>

#include "config.h"
#include "preload.h"

struct pl_real pl_real;
struct pn_stack *pl_st;
__thread bool pl_is_driver;
atomic_bool pl_forked;
struct in_addr pl_addr, pl_mask;
bool pl_enabled;
bool pl_debug;

static struct pl_config cfg;
static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static int st_failed; /* the stack could not start: its errno */
static pid_t driver_tid;

/* ---- libc's functions ------------------------------------------------- */

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f && strcmp(name, "close_range") && strcmp(name, "epoll_pwait2")) {
		/* nothing can work without libc's own call */
		static const char msg[] =
			"pinnet: libc's socket calls not found (dlsym RTLD_NEXT)\n";

		syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		abort();
	}
	return f;
}

void pl_resolve(void)
{
	struct pl_real r;

#define R(f) r.f = next(#f)
	R(socket);
	R(bind);
	R(listen);
	R(accept4);
	R(connect);
	R(read);
	R(write);
	R(readv);
	R(writev);
	R(recv);
	R(send);
	R(recvfrom);
	R(sendto);
	R(recvmsg);
	R(sendmsg);
	R(sendfile);
	R(shutdown);
	R(close);
	R(close_range);
	R(dup);
	R(dup2);
	R(dup3);
	R(ioctl);
	R(getsockopt);
	R(setsockopt);
	R(getsockname);
	R(getpeername);
	R(poll);
	R(ppoll);
	R(select);
	R(pselect);
	R(epoll_create1);
	R(epoll_ctl);
	R(epoll_pwait);
	R(epoll_pwait2); /* glibc 2.35+ */
#undef R
	/* glibc 2.28+: fcntl64 is the call; fcntl may be its compat alias */
	r.fcntl = dlsym(RTLD_NEXT, "fcntl64");
	if (!r.fcntl)
		r.fcntl = next("fcntl");
	pl_real = r;
}

void pl_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (REAL(write)(2, buf, (size_t)n) < 0)
		return;
}

/* ---- the descriptor table --------------------------------------------- */

/*
 * Slots in chunks that are made once and never freed, so a lookup from any
 * thread needs no lock: every read() and write() of the process asks, and
 * most are not pinnet's.
 */
#define CHUNK_BITS 12
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS 1024 /* descriptors below 4 Mi */

static _Atomic(struct pl_slot *) chunks[NCHUNKS];
static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;

struct pl_slot *pl_slot(int fd)
{
	struct pl_slot *c;

	if (fd < 0 || (unsigned int)fd >= NCHUNKS * CHUNK)
		return NULL;
	c = atomic_load_explicit(&chunks[(unsigned int)fd >> CHUNK_BITS],
				 memory_order_acquire);
	return c ? &c[(unsigned int)fd & (CHUNK - 1)] : NULL;
}

struct pl_slot *pl_slot_make(int fd)
{
	struct pl_slot *s = pl_slot(fd), *c;

	if (s || fd < 0 || (unsigned int)fd >= NCHUNKS * CHUNK)
		return s;
	pthread_mutex_lock(&chunk_lock);
	c = atomic_load_explicit(&chunks[(unsigned int)fd >> CHUNK_BITS],
				 memory_order_acquire);
	if (!c) {
		c = calloc(CHUNK, sizeof(*c));
		if (c)
			atomic_store_explicit(
				&chunks[(unsigned int)fd >> CHUNK_BITS], c,
				memory_order_release);
	}
	pthread_mutex_unlock(&chunk_lock);
	return c ? &c[(unsigned int)fd & (CHUNK - 1)] : NULL;
}

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

/* The candidate's registrations, taken off it. */
static struct pl_reg *take_regs(struct pl_slot *s)
{
	struct pl_reg *r;

	if (!s->regs)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	r = s->regs;
	s->regs = NULL;
	pthread_mutex_unlock(&reg_lock);
	return r;
}

static void free_regs(struct pl_reg *r)
{
	while (r) {
		struct pl_reg *n = r->next;

		free(r);
		r = n;
	}
}

void pl_cand_epoll(struct pl_slot *s, int epfd, int op,
		   const struct epoll_event *ev)
{
	struct pl_reg **pp, *r;

	pthread_mutex_lock(&reg_lock);
	for (pp = &s->regs; *pp && (*pp)->epfd != epfd; pp = &(*pp)->next)
		;
	r = *pp;
	if (op == EPOLL_CTL_DEL) {
		if (r) {
			*pp = r->next;
			free(r);
		}
	} else if (ev) {
		if (!r) {
			r = calloc(1, sizeof(*r));
			if (r) {
				r->epfd = epfd;
				*pp = r;
			}
		}
		if (r)
			r->ev = *ev;
	}
	pthread_mutex_unlock(&reg_lock);
}

void pl_forget(int fd, struct pl_slot *s)
{
	(void)fd;
	if (!s)
		return;
	atomic_store_explicit(&s->kind, PL_NONE, memory_order_release);
	free_regs(take_regs(s));
}

void pl_fresh(int fd)
{
	struct pl_slot *s;
	enum pl_kind k = pl_kind_of(fd, &s);

	if (k == PL_NONE)
		return;
	if (pl_debug)
		pl_log("pinnet: fd %d was closed without close() (libc's own?): its pinnet state goes",
		       fd);
	pl_forget(fd, s);
	if (pl_forked || (k != PL_PN && k != PL_EP))
		return;
	if (pl_is_driver) {
		if (k == PL_PN)
			pl_psock_unref(s->pn);
		else if (s->pn >= 0)
			pn_epoll_close(pl_st, s->pn);
	} else {
		pl_defer_close(s->pn, k == PL_EP);
	}
}

/* ---- pinnet sockets' records (driver only) ---------------------------- */

static struct pl_psock **psocks;
static unsigned int npsocks;

struct pl_psock *pl_psock(int s)
{
	return s >= 0 && (unsigned int)s < npsocks ? psocks[s] : NULL;
}

int pl_psock_new(int s, bool nonblock)
{
	struct pl_psock *p;

	if (s < 0)
		return -EINVAL;
	if ((unsigned int)s >= npsocks) {
		unsigned int n = npsocks ? npsocks : 256;
		struct pl_psock **t;

		while (n <= (unsigned int)s)
			n *= 2;
		t = realloc(psocks, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		memset(t + npsocks, 0, (n - npsocks) * sizeof(*t));
		psocks = t;
		npsocks = n;
	}
	p = psocks[s];
	if (!p) {
		p = malloc(sizeof(*p));
		if (!p)
			return -ENOMEM;
		psocks[s] = p;
	}
	memset(p, 0, sizeof(*p));
	p->refs = 1;
	p->nonblock = nonblock;
	p->held = -1;
	return 0;
}

void pl_psock_unref(int s)
{
	struct pl_psock *p = pl_psock(s);

	if (!p || p->refs <= 0)
		return;
	if (--p->refs)
		return;
	if (p->held >= 0)
		pn_close(pl_st, p->held);
	pn_close(pl_st, s);
}

/* ---- closes from other threads ------------------------------------------ */

struct deferred {
	int pn;
	bool is_ep;
};
static struct deferred *dq;
static size_t dq_n, dq_cap;
static atomic_bool dq_pending;
static pthread_mutex_t dq_lock = PTHREAD_MUTEX_INITIALIZER;

void pl_defer_close(int pn, bool is_ep)
{
	pthread_mutex_lock(&dq_lock);
	if (dq_n == dq_cap) {
		size_t n = dq_cap ? dq_cap * 2 : 16;
		struct deferred *t = realloc(dq, n * sizeof(*t));

		if (!t) {
			pthread_mutex_unlock(&dq_lock);
			return; /* the socket stays open: a leak, not a crash */
		}
		dq = t;
		dq_cap = n;
	}
	dq[dq_n++] = (struct deferred){ pn, is_ep };
	atomic_store(&dq_pending, true);
	pthread_mutex_unlock(&dq_lock);
}

void pl_run_deferred(void)
{
	if (!atomic_load_explicit(&dq_pending, memory_order_relaxed))
		return;
	pthread_mutex_lock(&dq_lock);
	for (size_t i = 0; i < dq_n; i++) {
		if (dq[i].is_ep)
			pn_epoll_close(pl_st, dq[i].pn);
		else
			pl_psock_unref(dq[i].pn);
	}
	dq_n = 0;
	atomic_store(&dq_pending, false);
	pthread_mutex_unlock(&dq_lock);
}

/* ---- the stack -------------------------------------------------------- */

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

int pl_check(void)
{
	static atomic_bool said_thread, said_fork;

	if (pl_is_driver)
		return 0;
	if (pl_forked) {
		if (!atomic_exchange(&said_fork, true))
			pl_log("pinnet: process %d, a fork()ed child, used a pinnet socket of its parent: a child cannot use its parent's stack (not supported yet); the call fails with EPERM",
			       (int)getpid());
	} else if (!atomic_exchange(&said_thread, true)) {
		pl_log("pinnet: thread %d used a pinnet socket, but thread %d drives the stack (one stack per process, driven by the thread that first needed it): the call fails with EPERM",
		       (int)tid(), (int)driver_tid);
	}
	return -EPERM;
}

int pl_stack(void)
{
	struct pn_stack *st;
	char a[INET_ADDRSTRLEN];
	int fd;

	if (pl_st || pl_forked)
		return pl_check();
	pthread_mutex_lock(&st_lock);
	if (pl_st || st_failed) {
		int err = st_failed;

		pthread_mutex_unlock(&st_lock);
		return pl_st ? pl_check() : -err;
	}
	inet_ntop(AF_INET, &pl_addr, a, sizeof(a));
	st = pn_stack_create(&cfg.so);
	if (!st) {
		st_failed = errno ? errno : EIO;
		pthread_mutex_unlock(&st_lock);
		pl_log("pinnet: cannot start the stack on %s (%s/%u): %s; its sockets fail from now on",
		       cfg.iface, a, cfg.so.prefix, pn_stack_last_error(NULL));
		return -st_failed;
	}
	fd = pn_stack_fd(st);
	if (fd < 0) {
		pl_log("pinnet: the stack's descriptor: %s",
		       pn_stack_last_error(st));
		pn_stack_destroy(st);
		st_failed = -fd;
		pthread_mutex_unlock(&st_lock);
		return fd;
	}
	pl_is_driver = true;
	driver_tid = tid();
	pl_st = st;
	pthread_mutex_unlock(&st_lock);
	if (pl_debug)
		pl_log("pinnet: stack up on %s, %s/%u, driven by thread %d",
		       cfg.iface, a, cfg.so.prefix, (int)driver_tid);
	return 0;
}

/* A child of a process with a stack must not touch it (the ring and the
 * pool are the parent's). A child of one without (a server that
 * daemonizes before it opens its sockets, as redis --daemonize yes) is free
 * to make its own. */
static void on_fork_child(void)
{
	if (!pl_st)
		return;
	pl_forked = true;
	pl_is_driver = false;
}

__attribute__((constructor)) static void pl_init(void)
{
	int rc;

	pl_resolve();
	pl_debug = getenv("PINNET_DEBUG") && *getenv("PINNET_DEBUG") &&
		   strcmp(getenv("PINNET_DEBUG"), "0");
	pl_config_init(&cfg);
	rc = pl_config_env(&cfg);
	if (rc < 0 || (rc == 1 && pl_config_finish(&cfg))) {
		pl_log("pinnet: %s: every socket stays in the kernel", cfg.err);
		return;
	}
	if (rc == 0) {
		pl_log("pinnet: no stack configured (PINNET_IFACE/PINNET_ADDR or PINNET_CONFIG): every socket stays in the kernel");
		return;
	}
	pl_addr = cfg.so.addr;
	pl_mask.s_addr = cfg.so.prefix >= 32 ?
				 0xffffffffu :
				 htonl(~(0xffffffffu >> cfg.so.prefix));
	pl_enabled = true;
	pthread_atfork(NULL, NULL, on_fork_child);
}

/*
 * At exit, as the kernel does for a process's sockets: every pinnet
 * socket still open is closed (a FIN after its data), then the stack lets
 * them finish for up to a second and goes (pn_stack_destroy). Only from
 * the driver: an exit from another thread leaves the stack alone.
 */
__attribute__((destructor)) static void pl_fini(void)
{
	if (!pl_st || !pl_is_driver)
		return;
	for (unsigned int i = 0; i < npsocks; i++) {
		struct pl_psock *p = psocks[i];

		if (p && p->refs > 0) {
			p->refs = 1;
			pl_psock_unref((int)i);
		}
	}
	pn_stack_destroy(pl_st);
	pl_st = NULL;
	pl_is_driver = false;
}

/* ---- a candidate moves to pinnet ------------------------------------------ */

/* The kernel socket's options that the stack has too: copied over. */
static const struct {
	int level, name;
} copied[] = {
	{ SOL_SOCKET, SO_REUSEADDR },  { SOL_SOCKET, SO_KEEPALIVE },
	{ SOL_SOCKET, SO_LINGER },     { IPPROTO_TCP, TCP_NODELAY },
	{ IPPROTO_TCP, TCP_KEEPIDLE }, { IPPROTO_TCP, TCP_KEEPINTVL },
	{ IPPROTO_TCP, TCP_KEEPCNT },  { IPPROTO_TCP, TCP_USER_TIMEOUT },
};

int pl_tv_ms(const struct timeval *tv)
{
	long long ms;

	if (tv->tv_sec < 0 || (!tv->tv_sec && !tv->tv_usec))
		return 0;
	ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int pl_to_pinnet(int fd, struct pl_slot *s, int no_stack, const char *why)
{
	struct pl_reg *regs;
	struct timeval tv;
	socklen_t len;
	bool nb;
	int pn, rc, fl;

	rc = pl_stack();
	if (rc) {
		if (!st_failed)
			return rc; /* EPERM: thread or fork, said */
		return st_failed == EPERM || st_failed == EACCES ? -EACCES :
								   -no_stack;
	}
	fl = REAL(fcntl)(fd, F_GETFL);
	nb = fl >= 0 && (fl & O_NONBLOCK);
	pn = pn_socket(pl_st, AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0),
		       0);
	if (pn < 0)
		return pn;
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		union {
			int i;
			struct linger l;
		} v;

		len = sizeof(v);
		if (REAL(getsockopt)(fd, copied[i].level, copied[i].name, &v,
				     &len) == 0)
			pn_setsockopt(pl_st, pn, copied[i].level,
				      copied[i].name, &v, len);
	}
	rc = pl_psock_new(pn, nb);
	if (rc) {
		pn_close(pl_st, pn);
		return rc;
	}
	len = sizeof(tv);
	if (!REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len))
		pl_psock(pn)->rcvtimeo_ms = pl_tv_ms(&tv);
	len = sizeof(tv);
	if (!REAL(getsockopt)(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len))
		pl_psock(pn)->sndtimeo_ms = pl_tv_ms(&tv);
	s->pn = pn;
	atomic_store_explicit(&s->kind, PL_PN, memory_order_release);
	if (pl_debug)
		pl_log("pinnet: fd %d is pinnet socket %d (%s)", fd, pn, why);
	/* epoll sets it joined as a kernel socket: now the pinnet socket's
	 * registrations, the kernel socket's gone */
	for (struct pl_reg *r = regs = take_regs(s); r; r = r->next) {
		if (REAL(epoll_ctl)(r->epfd, EPOLL_CTL_DEL, fd, NULL))
			continue; /* the set was closed */
		rc = pl_ep_add(r->epfd, pn, &r->ev);
		if (rc)
			pl_log("pinnet: fd %d: its registration in epoll set %d could not follow it to pinnet: %s",
			       fd, r->epfd, strerror(-rc));
	}
	free_regs(regs);
	return 0;
}
