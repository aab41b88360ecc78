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
 * network I/O on one thread.
 *
 * fork(): one process of a program drives a stack at a time (two on one
 * address would reset each other's connections), and a child never
 * touches its parent's stack (its ring and pool are the parent's and not
 * even mapped in the child: MADV_DONTFORK). A process whose pinnet
 * sockets are all listeners, none of them waited on in an epoll set
 * (nginx's master), hands them to the child at fork: its stack goes, and
 * the child makes its own with the listeners again (struct pl_lrec in
 * preload.h). Any other parent keeps its stack: the child's calls on the
 * inherited pinnet sockets fail with EPERM, but close(), which only lets
 * go of the descriptor. A child forked before the parent had a stack makes
 * its own.
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
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>

#include "config.h"
#include "preload.h"

struct pl_real pl_real;
struct pn_stack *pl_st;
__thread bool pl_is_driver __attribute__((tls_model("initial-exec")));
atomic_bool pl_forked;
struct in_addr pl_addr, pl_mask;
bool pl_enabled;
bool pl_debug;
int64_t pl_busy_poll_ns;

static struct pl_config cfg;
static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static int st_failed; /* the stack could not start: its errno */
static pid_t driver_tid;
static atomic_int nlrecs; /* listeners without a stack here (pl_lrec) */

/* How long a child forked with listeners waits for the process that
 * drives the stack to let it go (an nginx worker replaced on SIGHUP
 * exits once its connections are done): then the child goes on without
 * (its calls on them fail with EPERM). */
#define FORK_WAIT_MS 5000

/*
 * Who drives the stack among the processes of this program (forked from
 * one another): a robust, process-shared mutex in memory every fork
 * shares, held by the thread that drives the stack. A holder that dies
 * lets go of it with its life (EOWNERDEAD to the next).
 */
struct family {
	pthread_mutex_t mu;
	_Atomic int owner; /* the pid holding mu, for the messages */
	/* a process that handed its listeners over at fork may not take the
	 * stack back before its child had its turn (the child clears it),
	 * nor for long if it never comes (a fork that failed) */
	_Atomic int heir_of;
	_Atomic int64_t heir_until_ms;
};
static struct family *fam;
static bool fam_held; /* this process holds fam->mu */

static void family_init(void)
{
	pthread_mutexattr_t a;
	struct family *f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (f == MAP_FAILED)
		return; /* no lock: each process on its own, as before */
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(&f->mu, &a)) {
		munmap(f, sizeof(*f));
		f = NULL;
	}
	pthread_mutexattr_destroy(&a);
	fam = f;
}

/* The lock, waiting up to wait_ms: 0 or -EBUSY (another process has it). */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int family_claim(int wait_ms)
{
	struct timespec ts;
	int rc;

	if (!fam || fam_held)
		return 0;
	if (atomic_load(&fam->heir_of) == (int)getpid() &&
	    mono_ms() < atomic_load(&fam->heir_until_ms))
		return -EBUSY; /* the child's turn first */
	if (wait_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		rc = pthread_mutex_timedlock(&fam->mu, &ts);
	} else {
		rc = pthread_mutex_trylock(&fam->mu);
	}
	if (rc == EOWNERDEAD) /* its holder died: nothing to repair */
		rc = pthread_mutex_consistent(&fam->mu);
	if (rc)
		return -EBUSY;
	fam_held = true;
	atomic_store(&fam->owner, (int)getpid());
	return 0;
}

static void family_release(void)
{
	if (!fam_held)
		return;
	atomic_store(&fam->owner, 0);
	fam_held = false;
	pthread_mutex_unlock(&fam->mu);
}

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
	R(sigaction);
	R(recvmmsg);
	R(sendmmsg);
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

static void lrec_unref(struct pl_lrec *r)
{
	if (atomic_fetch_sub(&r->refs, 1) == 1) {
		free(r);
		atomic_fetch_sub(&nlrecs, 1);
	}
}

void pl_forget(int fd, struct pl_slot *s)
{
	struct pl_lrec *r;

	(void)fd;
	if (!s)
		return;
	atomic_store_explicit(&s->kind, PL_NONE, memory_order_release);
	free_regs(take_regs(s));
	r = s->lrec;
	s->lrec = NULL;
	if (r)
		lrec_unref(r);
}

/* fn for every slot there is. */
static void each_slot(void (*fn)(struct pl_slot *s, void *arg), void *arg)
{
	for (unsigned int c = 0; c < NCHUNKS; c++) {
		struct pl_slot *ch =
			atomic_load_explicit(&chunks[c], memory_order_acquire);

		for (unsigned int i = 0; ch && i < CHUNK; i++)
			fn(&ch[i], arg);
	}
}

void pl_fresh(int fd)
{
	struct pl_slot *s;
	enum pl_kind k = pl_kind_of(fd, &s);

	if (k == PL_NONE)
		return;
	bool rec = s->lrec != NULL;

	if (pl_debug)
		pl_log("pinnet: fd %d was closed without close() (libc's own?): its pinnet state goes",
		       fd);
	pl_forget(fd, s);
	if (pl_forked || rec || (k != PL_PN && k != PL_EP))
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

static int revive(struct pl_slot *s);

int pl_check(struct pl_slot *s)
{
	static atomic_bool said_thread, said_fork;

	if (s && s->lrec)
		return revive(s);
	if (pl_is_driver)
		return 0;
	if (pl_forked) {
		if (!atomic_exchange(&said_fork, true))
			pl_log("pinnet: process %d, a fork()ed child, used a pinnet socket of its parent, which kept its stack (it had connections, or waited on its listeners): a child cannot use its parent's stack; the call fails with EPERM",
			       (int)getpid());
	} else if (!atomic_exchange(&said_thread, true)) {
		pl_log("pinnet: thread %d used a pinnet socket, but thread %d drives the stack (one stack per process, driven by the thread that first needed it): the call fails with EPERM",
		       (int)tid(), (int)driver_tid);
	}
	return -EPERM;
}

/* The stack for a call on this thread, made if needed: wait_ms is how long
 * to wait for another process of the program to let the stack go; quiet:
 * say nothing when it does not. */
static int stack_make(int wait_ms, bool quiet)
{
	static atomic_bool said_family;
	struct pn_stack *st;
	char a[INET_ADDRSTRLEN];
	int fd;

	if (pl_st || pl_forked)
		return pl_check(NULL);
	pthread_mutex_lock(&st_lock);
	if (pl_st || st_failed) {
		int err = st_failed;

		pthread_mutex_unlock(&st_lock);
		return pl_st ? pl_check(NULL) : -err;
	}
	inet_ntop(AF_INET, &pl_addr, a, sizeof(a));
	if (family_claim(wait_ms)) {
		char who[48] = "the child it handed its listeners to";
		int owner = atomic_load(&fam->owner);

		pthread_mutex_unlock(&st_lock);
		if (owner)
			snprintf(who, sizeof(who), "process %d of this program",
				 owner);
		if (pl_debug ||
		    (!quiet && !atomic_exchange(&said_family, true)))
			pl_log("pinnet: process %d needs the stack on %s (%s), but %s drives it (one stack per address: two would reset each other's connections; listeners go to the child forked after they were made); the call fails with EPERM",
			       (int)getpid(), cfg.iface, a, who);
		return -EPERM;
	}
	st = pn_stack_create(&cfg.so);
	if (!st) {
		st_failed = errno ? errno : EIO;
		family_release();
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
		family_release();
		st_failed = -fd;
		pthread_mutex_unlock(&st_lock);
		return fd;
	}
	pl_is_driver = true;
	driver_tid = tid();
	pl_st = st;
	pthread_mutex_unlock(&st_lock);
	if (pl_debug)
		pl_log("pinnet: stack up on %s, %s/%u, in process %d, driven by thread %d",
		       cfg.iface, a, cfg.so.prefix, (int)getpid(),
		       (int)driver_tid);
	return 0;
}

int pl_stack(void)
{
	return stack_make(0, false);
}

static void forget_ep(struct pl_slot *s, void *arg)
{
	(void)arg;
	if (atomic_load_explicit(&s->kind, memory_order_relaxed) == PL_EP)
		pl_forget(-1, s);
}

/* Every pinnet socket closed as the kernel closes a process's (a FIN after
 * the data), then the stack goes: its sockets finish for up to a second
 * (pn_stack_destroy), the epoll sets forget their shadows, and another
 * process of the program may make a stack. On the driver. */
static void stack_down(void)
{
	pl_run_deferred();
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
	driver_tid = 0;
	each_slot(forget_ep, NULL);
	family_release();
}

static void on_fork_prepare(void);
static void on_fork_parent(void);
static void on_fork_child(void);

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
	pl_busy_poll_ns = (int64_t)cfg.busy_poll_us * 1000;
	pl_mask.s_addr = cfg.so.prefix >= 32 ?
				 0xffffffffu :
				 htonl(~(0xffffffffu >> cfg.so.prefix));
	if (!memcmp(cfg.so.mac, "\0\0\0\0\0\0", 6)) {
		/* chosen here, not by each stack: every process of the
		 * program answers with the same MAC, so a stack made again
		 * after a fork is where the peers' ARP caches say */
		while (getrandom(cfg.so.mac, 6, 0) != 6)
			;
		cfg.so.mac[0] = (uint8_t)((cfg.so.mac[0] & 0xfe) | 0x02);
	}
	family_init();
	pl_enabled = true;
	pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
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
	stack_down();
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
	len = sizeof(fl);
	if (!REAL(getsockopt)(fd, IPPROTO_TCP, TCP_CORK, &fl, &len))
		pl_psock(pn)->cork = fl != 0; /* kept by the library from now */
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

/* ---- fork: listeners handed to the child ---------------------------------- */

/* Is every pinnet socket a listener (none with a connection held for the
 * next accept), and no epoll set waiting on the stack? Then this process
 * serves nothing itself and its listeners may go to a child. */
static void find_ep(struct pl_slot *s, void *arg)
{
	if (atomic_load_explicit(&s->kind, memory_order_relaxed) == PL_EP)
		*(bool *)arg = true;
}

static bool listeners_only(void)
{
	bool ep = false, any = false;

	for (unsigned int i = 0; i < npsocks; i++) {
		const struct pl_psock *p = psocks[i];

		if (!p || p->refs <= 0)
			continue;
		if (!p->listening || p->held >= 0)
			return false;
		any = true;
	}
	if (!any)
		return false;
	each_slot(find_ep, &ep);
	return !ep;
}

/* What making pinnet listener pn again takes: NULL when it cannot be
 * read (or no memory). */
static struct pl_lrec *lrec_make(int pn)
{
	const struct pl_psock *p = pl_psock(pn);
	struct pl_lrec *r = calloc(1, sizeof(*r));
	socklen_t len = sizeof(r->addr);

	if (!r)
		return NULL;
	if (pn_getsockname(pl_st, pn, (struct sockaddr *)&r->addr, &len)) {
		free(r);
		return NULL;
	}
	r->backlog = p->backlog;
	r->nonblock = p->nonblock;
	r->rcvtimeo_ms = p->rcvtimeo_ms;
	r->sndtimeo_ms = p->sndtimeo_ms;
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		struct pl_lopt *o = &r->opts[r->nopts];

		o->len = sizeof(o->v);
		if (pn_getsockopt(pl_st, pn, copied[i].level, copied[i].name,
				  &o->v, &o->len) == 0) {
			o->level = copied[i].level;
			o->name = copied[i].name;
			r->nopts++;
		}
	}
	return r;
}

struct handover {
	struct pl_lrec **by_pn; /* the record of each listener */
	int moved; /* descriptors that now hold a record */
};

static void to_lrec(struct pl_slot *s, void *arg)
{
	struct handover *h = arg;
	struct pl_lrec *r;

	if (atomic_load_explicit(&s->kind, memory_order_relaxed) != PL_PN ||
	    s->lrec || s->pn < 0 || (unsigned int)s->pn >= npsocks)
		return;
	r = h->by_pn[s->pn];
	if (!r)
		return;
	if (atomic_fetch_add(&r->refs, 1) == 0)
		atomic_fetch_add(&nlrecs, 1);
	s->lrec = r;
	s->pn = -1;
	h->moved++;
}

/*
 * In the parent, before fork: a process with only listeners (nginx's
 * master after it opened them) lets its stack go, each listener's
 * descriptor keeping what making it again needs, so that the child can
 * make its own stack. Connections still in a listener's queue are reset
 * (the stack goes); the listeners close quietly. Any other process keeps
 * its stack, and its child may not use it.
 */
static void on_fork_prepare(void)
{
	struct handover h = { 0 };
	struct pn_stack_stats ss = { 0 };

	if (!pl_st || !pl_is_driver || pl_forked)
		goto lock;
	pl_run_deferred();
	if (!listeners_only())
		goto lock;
	h.by_pn = calloc(npsocks, sizeof(*h.by_pn));
	if (!h.by_pn)
		goto lock;
	for (unsigned int i = 0; i < npsocks; i++) {
		if (!psocks[i] || psocks[i]->refs <= 0)
			continue;
		h.by_pn[i] = lrec_make((int)i);
		if (!h.by_pn[i])
			goto out; /* keep the stack: the child cannot have it */
	}
	pn_stack_stats(pl_st, &ss, sizeof(ss));
	each_slot(to_lrec, &h);
	if (pl_debug)
		pl_log("pinnet: process %d forks with listeners only: %d descriptors go to the child, the stack goes (%llu queued connections reset)",
		       (int)getpid(), h.moved,
		       (unsigned long long)(ss.tcp_active - ss.tcp_orphans));
	stack_down();
	if (fam) {
		atomic_store(&fam->heir_until_ms,
			     mono_ms() + FORK_WAIT_MS + 1000);
		atomic_store(&fam->heir_of, (int)getpid());
	}
out:
	for (unsigned int i = 0; i < npsocks; i++)
		if (h.by_pn[i] && !atomic_load(&h.by_pn[i]->refs))
			free(h.by_pn[i]); /* named by no descriptor */
	free(h.by_pn);
lock:
	/* not held by another thread across the fork: the child makes its
	 * stack under it */
	pthread_mutex_lock(&st_lock);
}

static void on_fork_parent(void)
{
	pthread_mutex_unlock(&st_lock);
}

struct revival {
	struct pl_lrec *r;
	int pn;
};

static void to_pn(struct pl_slot *s, void *arg)
{
	struct revival *v = arg;

	if (s->lrec != v->r)
		return;
	s->pn = v->pn;
	s->lrec = NULL;
	pl_psock(v->pn)->refs++;
	lrec_unref(v->r);
}

/*
 * Listener record s->lrec made again on this process's stack (made if
 * needed), behind every descriptor that names it: 0 or -errno (EPERM:
 * another process of the program drives the stack).
 */
static int revive(struct pl_slot *s)
{
	struct pl_lrec *r;
	struct pl_psock *p;
	char a[INET_ADDRSTRLEN];
	int pn, rc = pl_stack();

	if (rc)
		return rc;
	r = s->lrec;
	if (!r) /* made again meanwhile */
		return 0;
	inet_ntop(AF_INET, &r->addr.sin_addr, a, sizeof(a));
	pn = pn_socket(pl_st, AF_INET,
		       SOCK_STREAM | (r->nonblock ? SOCK_NONBLOCK : 0), 0);
	if (pn < 0) {
		rc = pn;
		goto err;
	}
	for (unsigned int i = 0; i < r->nopts; i++)
		pn_setsockopt(pl_st, pn, r->opts[i].level, r->opts[i].name,
			      &r->opts[i].v, r->opts[i].len);
	rc = pn_bind(pl_st, pn, (const struct sockaddr *)&r->addr,
		     sizeof(r->addr));
	if (!rc)
		rc = pn_listen(pl_st, pn, r->backlog);
	if (!rc)
		rc = pl_psock_new(pn, r->nonblock);
	if (rc) {
		pn_close(pl_st, pn);
		goto err;
	}
	p = pl_psock(pn);
	p->refs = 0; /* one per descriptor, below */
	p->listening = true;
	p->backlog = r->backlog;
	p->rcvtimeo_ms = r->rcvtimeo_ms;
	p->sndtimeo_ms = r->sndtimeo_ms;
	if (pl_debug)
		pl_log("pinnet: process %d: the listener on %s:%u is pinnet socket %d again",
		       (int)getpid(), a, ntohs(r->addr.sin_port), pn);
	each_slot(to_pn, &(struct revival){ r, pn });
	return 0;
err:
	pl_log("pinnet: process %d: the listener on %s:%u could not be made again on this process's stack: %s",
	       (int)getpid(), a, ntohs(r->addr.sin_port), strerror(-rc));
	return rc;
}

static void revive_one(struct pl_slot *s, void *arg)
{
	(void)arg;
	if (s->lrec && pl_st)
		revive(s);
}

/*
 * In the child. Of a parent that kept its stack: that stack is not ours
 * (its ring and pool are not even mapped here). Of one that handed its
 * listeners over: the stack is made now, while the child still has the
 * parent's privileges (nginx's worker gives them up next), waiting a while
 * for a process that still drives one (an nginx worker replaced on
 * SIGHUP), and the listeners are made again on it; when that fails, a
 * later call on them tries again and says why. A child of a parent
 * without a stack (a server that daemonizes before it opens its sockets,
 * as redis --daemonize yes) makes one when it needs it.
 */
static void on_fork_child(void)
{
	pthread_mutex_unlock(&st_lock);
	fam_held = false; /* the parent's, if it holds it */
	if (pl_st) {
		pl_forked = true;
		pl_is_driver = false;
		return;
	}
	if (atomic_load(&nlrecs) && !stack_make(FORK_WAIT_MS, true))
		each_slot(revive_one, NULL);
	if (fam && atomic_load(&fam->heir_of) == (int)getppid())
		atomic_store(&fam->heir_of, 0); /* had its turn */
}
