/* SPDX-License-Identifier: MIT */
/*
 * The stack's life cycle, its thread and its loop: one io_uring ring
 * (single issuer, deferred task work), the pool registered on it, lwIP
 * driven without threads. lwIP's state is per stack (struct lwip_state,
 * from pinnet's lwIP patch 0002): each public call selects its stack's
 * state for the calling thread (stack_enter()). Each turn of the loop
 * submits what lwIP queued, waits for completions no longer than lwIP's
 * next timer, feeds frames in, runs timers and the pool's poll.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"
#include "opts.h"
#include "stack_impl.h"

#define MIB (1024ull * 1024)

/* The last field of struct pn_stack_opts: what a bigger, newer struct
 * holds past it must be zero (opts.h). Update when a field is added. */
#define STACK_OPTS_LAST send_budget
_Static_assert(sizeof(struct pn_stack_opts) - OFFSETOFEND(struct pn_stack_opts,
							  STACK_OPTS_LAST) <
		       _Alignof(struct pn_stack_opts),
	       "STACK_OPTS_LAST is not the last field of struct pn_stack_opts");
#define BUSY_POLL_NS 50000 /* poll this long after the last completion */

__thread char stack_thread_mark __attribute__((tls_model("initial-exec")));
static __thread char create_err[256];

/* ---- the clock ------------------------------------------------------------ */

/* CLOCK_MONOTONIC, shifted so that it reads PINNET_CLOCK_START_MS at the
 * first stack's creation when that variable is set (a test of long
 * uptimes: the 32-bit sys_now() lwIP sees wraps after 2^32 ms). */
static int64_t clock_shift_ns;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void clock_init(void)
{
	const char *v = getenv("PINNET_CLOCK_START_MS");
	char *end;
	unsigned long long ms;

	if (!v || !*v)
		return;
	errno = 0;
	ms = strtoull(v, &end, 10);
	if (errno || *end || ms > UINT64_MAX / 2000000ull) {
		fprintf(stderr,
			"pinnet: PINNET_CLOCK_START_MS=%s is not a number of "
			"milliseconds; ignored\n",
			v);
		return;
	}
	clock_shift_ns = (int64_t)(ms * 1000000ull) - (int64_t)mono_ns();
}

uint64_t stack_now_ns(void)
{
	return mono_ns() + (uint64_t)clock_shift_ns;
}

/* lwIP's clock (NO_SYS): the stack's milliseconds, wrapping at 32 bits as
 * lwIP expects (its timeouts compare with wrap-safe differences), as read
 * at the stack's latest loop turn: lwIP asks for every segment it sends
 * (timestamps), and a clock read costs more than a malloc. */
u32_t sys_now(void);
u32_t sys_now(void)
{
	struct pn_stack *st = stack_current();

	return (u32_t)(st ? st->now_ms : stack_now_ms());
}

/* ---- lwIP's hooks for a connection's 4-tuple (configs/lwipopts.h): the
 * hash of lwIP's pcb table and RFC 6528 ISNs, keyed with the stack's
 * secrets (tcp_hash.c) */

uint32_t pinnet_tcp_hash(const ip4_addr_t *local_ip, uint16_t local_port,
			 const ip4_addr_t *remote_ip, uint16_t remote_port)
{
	return tcp_tuple_hash(&stack_current()->tcp_keys, local_ip, local_port,
			      remote_ip, remote_port);
}

uint32_t pinnet_tcp_isn(const ip4_addr_t *local_ip, uint16_t local_port,
			const ip4_addr_t *remote_ip, uint16_t remote_port)
{
	return tcp_tuple_isn(&stack_current()->tcp_keys, local_ip, local_port,
			     remote_ip, remote_port, stack_now_ns());
}

/* ---- errors ------------------------------------------------------------- */

int stack_seterr(struct pn_stack *st, int err, const char *fmt, ...)
{
	char *dst = st ? st->err : create_err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, sizeof(st->err), fmt, ap);
	va_end(ap);
	return -err;
}

PN_EXPORT const char *pn_stack_last_error(const struct pn_stack *st)
{
	return st ? st->err : create_err;
}

PN_EXPORT struct pn_pool *pn_stack_pool(const struct pn_stack *st)
{
	return st ? st->pool : NULL;
}

PN_EXPORT int pn_stack_stats(const struct pn_stack *st,
			     struct pn_stack_stats *s, size_t sz)
{
	struct pn_stack_stats all;
	int rc = stack_enter((struct pn_stack *)st);

	if (rc)
		return rc;
	if (!s || sz < sizeof(uint64_t))
		return -EINVAL;
	all = st->stats;
	all.rx_reads_armed = st->rx_inflight;
	all.conns = st->socks_used;
	all.conn_heap_bytes = sock_heap_bytes();
	all.tx_budget_used = st->tx_inq;
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		all.tcp_active++;
		all.tcp_orphans += pcb->callback_arg == NULL;
	}
	for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb; pcb = pcb->next)
		all.tcp_time_wait++;
	sock_hold_stats(st, &all);
	memset(s, 0, sz);
	memcpy(s, &all, sz < sizeof(all) ? sz : sizeof(all));
	return 0;
}

/* An SQE, submitting what is queued when the ring is full. */
struct io_uring_sqe *stack_sqe(struct pn_stack *st)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);

	if (!sqe) {
		io_uring_submit(&st->ring);
		sqe = io_uring_get_sqe(&st->ring);
	}
	return sqe;
}

/* The stack's pool: 2 KiB frames, send segments in every power of two
 * from 4 to 64 KiB, 128 KiB receive buffers (one GSO super-frame each);
 * recent-peak release with one-second samples. The classes between 2 and
 * 64 KiB are for segments a write's size or the send room made shorter
 * than 64 KiB: with only a 64 KiB class, 100 downloads held 16 MiB of
 * data in 34 MiB of buffers (a 32 KiB segment took a 64 KiB buffer). */
PN_EXPORT int pn_stack_pool_config(struct pn_pool_config *cfg)
{
	static const struct pn_pool_class classes[] = {
		{ SMALL_BUF_SIZE, 256, 2 * MIB, 2 * MIB, 256 * MIB, 0 },
		{ 4096, 16, MIB / 4, 2 * MIB, 256 * MIB, 0 },
		{ 8192, 8, MIB / 4, 2 * MIB, 256 * MIB, 0 },
		{ 16384, 4, MIB / 4, 2 * MIB, 512 * MIB, 0 },
		{ 32768, 4, MIB / 2, 4 * MIB, 512 * MIB, 0 },
		{ SEG_BUF_SIZE, 8, 2 * MIB, 4 * MIB, 512 * MIB, 0 },
		{ RX_BUF_SIZE, 8, 4 * MIB, 4 * MIB, 512 * MIB, 0 },
	};

	if (!cfg)
		return -EINVAL;
	pn_pool_config_init(cfg);
	snprintf(cfg->name, sizeof(cfg->name), "stack");
	memcpy(cfg->classes, classes, sizeof(classes));
	cfg->opts.nclasses = sizeof(classes) / sizeof(classes[0]);
	cfg->opts.release = PN_RELEASE_PEAK;
	cfg->opts.sample_ms = 1000;
	cfg->opts.peak_window_ms = 10000;
	cfg->opts.release_max = UINT32_MAX;
	return 0;
}

/* ---- life cycle ------------------------------------------------------------- */

static int check_opts(const struct pn_stack_opts *o)
{
	if (!o || o->sz < sizeof(size_t))
		return stack_seterr(NULL, EINVAL, "opts must be set, with sz");
	if (OPTS_UNKNOWN_BYTE(o, struct pn_stack_opts, STACK_OPTS_LAST))
		return stack_seterr(
			NULL, E2BIG,
			"struct pn_stack_opts of %zu bytes sets byte %zu, past "
			"the %zu this library knows: built against a newer "
			"pinnet?",
			o->sz,
			OPTS_UNKNOWN_BYTE(o, struct pn_stack_opts,
					  STACK_OPTS_LAST),
			OFFSETOFEND(struct pn_stack_opts, STACK_OPTS_LAST));
	if (o->backend != PN_BACKEND_PACKET && o->backend != PN_BACKEND_TAP)
		return stack_seterr(NULL, EINVAL, "unknown backend %d",
				    (int)o->backend);
	if (!o->iface || !o->iface[0])
		return stack_seterr(NULL, EINVAL, "no interface given");
	if (o->prefix < 1 || o->prefix > 32)
		return stack_seterr(NULL, EINVAL, "prefix /%u: want 1..32",
				    o->prefix);
	if (!o->addr.s_addr)
		return stack_seterr(NULL, EINVAL, "no IPv4 address given");
	if (o->send_buffer &&
	    (o->send_buffer < 4608 || o->send_buffer > TCP_SND_BUF))
		return stack_seterr(
			NULL, EINVAL,
			"send_buffer %u: 4608 to %u bytes, or 0 (by need)",
			o->send_buffer, (unsigned int)TCP_SND_BUF);
	if (o->send_budget && o->send_budget < 64 * 1024)
		return stack_seterr(
			NULL, EINVAL,
			"send_budget %llu: at least 65536 bytes, or "
			"0 (none)",
			(unsigned long long)o->send_budget);
	if (o->max_conns > STACK_MAX_CONNS)
		return stack_seterr(NULL, EINVAL, "max_conns %u: at most %u",
				    o->max_conns, STACK_MAX_CONNS);
	if (o->rx_depth > 256)
		return stack_seterr(NULL, EINVAL, "rx_depth %u: at most 256",
				    o->rx_depth);
	if (o->flags & ~(unsigned int)PN_STACK_MOVABLE)
		return stack_seterr(NULL, EINVAL, "unknown flags %#x",
				    o->flags & ~(unsigned int)PN_STACK_MOVABLE);
	return 0;
}

/* The ring: single issuer and deferred task work (a higher request/response
 * rate, docs/stack.md) unless the stack must be movable between threads
 * after it ran; disabled until the thread that drives the stack starts it
 * (the kernel binds a single-issuer ring to the task that enables it). */
static int ring_init(struct pn_stack *st)
{
	struct io_uring_params p = { 0 };
	int err;

	if (st->o.flags & PN_STACK_MOVABLE)
		return io_uring_queue_init_params(512, &st->ring, &p);
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_R_DISABLED;
	err = io_uring_queue_init_params(512, &st->ring, &p);
	if (err == -EINVAL) { /* an older kernel: no single issuer */
		memset(&p, 0, sizeof(p));
		err = io_uring_queue_init_params(512, &st->ring, &p);
	}
	if (!err)
		st->ring_bound = p.flags & IORING_SETUP_SINGLE_ISSUER;
	return err;
}

/* The first call of the driving thread: enable the ring (bound to this
 * thread from now on, if single issuer) and arm the reads. */
int stack_start(struct pn_stack *st)
{
	if (atomic_load_explicit(&st->driver, memory_order_acquire) !=
	    stack_self())
		return -EPERM;
	if (!st->started) {
		if (st->ring_bound) {
			/* liburing 2.3 has no io_uring_enable_rings() */
			if (syscall(SYS_io_uring_register, st->ring.ring_fd,
				    IORING_REGISTER_ENABLE_RINGS, NULL, 0))
				return stack_seterr(st, errno,
						    "enabling the ring: %s",
						    strerror(errno));
			st->ring_thread = stack_self();
			/* this thread enters the ring by a registered index:
			 * no file lookup per io_uring_enter, which the busy
			 * poll makes often (best effort: without it the
			 * ring's fd works as before) */
			io_uring_register_ring_fd(&st->ring);
		}
		st->started = true;
		lwip_state = &st->lwip;
		io_rx_start(st);
		io_rearm_rx(st);
		io_uring_submit(&st->ring);
	}
	lwip_state = &st->lwip;
	return 0;
}

PN_EXPORT struct pn_stack *pn_stack_create(const struct pn_stack_opts *opts)
{
	struct pn_pool_config defaults;
	struct pn_pool_opts po;
	struct pn_stack *st;
	ip4_addr_t a, m, g;
	int err;

	create_err[0] = 0;
	pthread_once(&clock_once, clock_init);
	err = check_opts(opts);
	if (err) {
		errno = -err;
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(&st->o, opts,
	       opts->sz < sizeof(st->o) ? opts->sz : sizeof(st->o));
	st->o.sz = sizeof(st->o);
	if (!st->o.max_conns)
		st->o.max_conns = STACK_MAX_CONNS;
	st->fd = -1;
	st->evfd = -1;
	atomic_init(&st->driver, stack_self());
	st->gso_off = getenv("PINNET_NO_GSO") != NULL;
	if (getenv("PINNET_TEST_GSO_REFUSE"))
		st->gso_refuse_test =
			(unsigned int)atoi(getenv("PINNET_TEST_GSO_REFUSE"));
	memcpy(st->mac, st->o.mac, 6);
	if (!memcmp(st->mac, "\0\0\0\0\0\0", 6)) {
		/* a random, locally administered unicast MAC */
		while (getrandom(st->mac, 6, 0) != 6)
			;
		st->mac[0] = (uint8_t)((st->mac[0] & 0xfe) | 0x02);
	}
	err = tcp_keys_init(&st->tcp_keys); /* the 4-tuple's hash, ISNs */
	if (err) {
		stack_seterr(NULL, -err, "getrandom: %s", strerror(-err));
		goto err_free;
	}

	err = ring_init(st);
	if (err) {
		stack_seterr(NULL, -err, "io_uring_queue_init: %s",
			     strerror(-err));
		goto err_free;
	}
	/* a fork()ed child does not map the ring: it is the parent's (a
	 * single-issuer ring refuses any other task) */
	io_uring_ring_dontfork(&st->ring);
	if (st->o.pool) {
		po = *st->o.pool;
	} else {
		pn_stack_pool_config(&defaults);
		po = defaults.opts;
	}
	po.ring = &st->ring;
	st->pool = pn_pool_create(&po);
	if (!st->pool) {
		err = -errno;
		stack_seterr(NULL, errno, "pool: %s", pn_pool_last_error(NULL));
		goto err_ring;
	}
	err = io_open(st);
	if (err) {
		memcpy(create_err, st->err, sizeof(create_err));
		goto err_io;
	}
	conn_stats_open(st);

	/* lwIP's state for this stack, then lwIP's start on it */
	lwip_state_init(&st->lwip);
	lwip_state = &st->lwip;
	st->now_ms = stack_now_ms();
	lwip_init();
	a.addr = st->o.addr.s_addr;
	m.addr = st->o.prefix == 32 ? 0xffffffffu :
				      htonl(~(0xffffffffu >> st->o.prefix));
	g.addr = st->o.gw.s_addr;
	if (!netif_add(&st->netif, &a, &m, &g, st, io_netif_init,
		       ethernet_input)) {
		err = stack_seterr(NULL, ENOMEM, "netif_add failed");
		goto err_lwip;
	}
	/* TCP checksums are the kernel's or the NIC's (NEEDS_CSUM, tx.c) */
	st->csum_default = NETIF_CHECKSUM_ENABLE_ALL & ~NETIF_CHECKSUM_GEN_TCP;
	NETIF_SET_CHECKSUM_CTRL(&st->netif, st->csum_default);
	netif_set_default(&st->netif);
	netif_set_up(&st->netif);
	return st;

err_lwip:
	lwip_state_release();
	lwip_state = NULL;
err_io:
	io_close(st);
	conn_stats_close(st);
	pn_pool_destroy(st->pool);
err_ring:
	io_uring_queue_exit(&st->ring);
err_free:
	free(st);
	errno = -err;
	return NULL;
}

PN_EXPORT int pn_stack_attach(struct pn_stack *st)
{
	const void *none = NULL;

	if (!st)
		return -EINVAL;
	if (atomic_load_explicit(&st->driver, memory_order_acquire) ==
	    stack_self())
		return 0;
	if (atomic_load_explicit(&st->driver, memory_order_acquire))
		return -EBUSY;
	if (st->ring_thread && st->ring_thread != stack_self())
		return -EPERM; /* a single-issuer ring, started elsewhere */
	if (!atomic_compare_exchange_strong_explicit(
		    &st->driver, &none, stack_self(), memory_order_acquire,
		    memory_order_relaxed))
		return -EBUSY;
	pn_pool_attach(st->pool);
	return 0;
}

PN_EXPORT int pn_stack_detach(struct pn_stack *st)
{
	if (!st)
		return -EINVAL;
	if (atomic_load_explicit(&st->driver, memory_order_relaxed) !=
	    stack_self())
		return -EPERM;
	if (lwip_state == &st->lwip)
		lwip_state = NULL;
	atomic_store_explicit(&st->driver, NULL, memory_order_release);
	return 0;
}

static int reap(struct pn_stack *st)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&st->ring, head, cqe)
	{
		io_complete(st, cqe);
		n++;
	}
	io_uring_cq_advance(&st->ring, n);
	return (int)n;
}

PN_EXPORT int pn_stack_drop_privileges(struct pn_stack *st)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	bool had_ipc_lock;
	int rc = stack_enter(st);

	if (rc)
		return rc;
	if (syscall(SYS_capget, &h, d))
		return stack_seterr(st, errno, "capget: %s", strerror(errno));
	had_ipc_lock = d[0].permitted & (1u << CAP_IPC_LOCK);
	/* the bounding set first: dropping from it needs CAP_SETPCAP */
	for (int cap = 0; cap <= 63; cap++)
		if (cap != CAP_IPC_LOCK && prctl(PR_CAPBSET_READ, cap) == 1)
			prctl(PR_CAPBSET_DROP, cap);
	memset(d, 0, sizeof(d));
	if (had_ipc_lock) {
		d[0].effective = 1u << CAP_IPC_LOCK;
		d[0].permitted = 1u << CAP_IPC_LOCK;
	}
	if (syscall(SYS_capset, &h, d))
		return stack_seterr(st, errno, "capset: %s", strerror(errno));
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}

PN_EXPORT int pn_stack_fd(struct pn_stack *st)
{
	int rc = stack_enter(st);

	if (rc)
		return rc;
	if (st->evfd >= 0)
		return st->evfd;
	st->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->evfd < 0)
		return stack_seterr(st, errno, "eventfd: %s", strerror(errno));
	rc = io_uring_register_eventfd(&st->ring, st->evfd);
	if (rc) {
		close(st->evfd);
		st->evfd = -1;
		return stack_seterr(st, -rc, "io_uring_register_eventfd: %s",
				    strerror(-rc));
	}
	return st->evfd;
}

PN_EXPORT int pn_stack_timeout(struct pn_stack *st)
{
	uint32_t next;
	int rc = stack_enter(st);

	if (rc)
		return rc;
	next = sys_timeouts_sleeptime();
	return next > 1000 ? 1000 : (int)next;
}

/* Output queued since the loop's last turn (an open super-frame, SQEs)
 * goes to the kernel, when there is some and the latest submission is
 * PUSH_NS old: one submission for what a busy application sends in that
 * time, not one per call. */
#define PUSH_NS 20000
void stack_push(struct pn_stack *st)
{
	uint64_t now;

	if (!st->out && !st->tx_open && !io_uring_sq_ready(&st->ring))
		return;
	now = stack_now_ns();
	if (now - st->last_submit_ns < PUSH_NS)
		return;
	stack_output(st);
	tx_flush(st);
	io_uring_submit(&st->ring);
	st->last_submit_ns = now;
	st->stats.submits++;
}

/* One turn of the loop (pn_stack_process()), for a stack already entered. */
int stack_run(struct pn_stack *st, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	uint32_t next = sys_timeouts_sleeptime();
	uint64_t now, now_ns;
	bool signalled = false;
	int n, rc;

	if (st->evfd >= 0) {
		uint64_t v;

		if (read(st->evfd, &v, sizeof(v)) == sizeof(v))
			signalled = true;
		else if (errno != EAGAIN)
			stack_seterr(st, errno, "eventfd read: %s",
				     strerror(errno));
	}
	io_rearm_rx(st);
	stack_output(st);
	tx_flush(st);
	if (timeout_ms < 0 || (uint32_t)timeout_ms > next)
		timeout_ms = next == SYS_TIMEOUTS_SLEEPTIME_INFINITE ?
				     1000 :
				     (int)next;
	rc = 0;
	if (timeout_ms > 0 && st->busy_until_ns > stack_now_ns()) {
		/* traffic just now: poll a little before sleeping, as a NIC
		 * driver's busy-poll does (a sleep and wake-up per frame cost
		 * more than the frames themselves) */
		do {
			rc = io_uring_submit_and_get_events(&st->ring);
			if (io_uring_cq_ready(&st->ring))
				timeout_ms = 0;
			else
				sched_yield();
		} while (timeout_ms && stack_now_ns() < st->busy_until_ns);
	}
	if (timeout_ms == 0) {
		/* With deferred task work, completions are posted only when
		 * the ring is entered for events, and the ring signals the
		 * eventfd only when its list of such work goes from empty to
		 * not: once signalled (and the eventfd drained above), the
		 * work must run now even when some CQEs already wait, or the
		 * application's next sleep on the eventfd would miss the
		 * completions that follow (until a timer woke it). */
		if (signalled || !io_uring_cq_ready(&st->ring))
			rc = io_uring_submit_and_get_events(&st->ring);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ms / 1000,
			.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
		};

		rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts,
						      NULL);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY)
		return stack_seterr(st, -rc, "io_uring wait: %s",
				    strerror(-rc));
	now_ns = stack_now_ns();
	st->now_ms = now_ns / 1000000u;
	n = reap(st);
	if (n) {
		st->rx_gen++;
		st->busy_until_ns = now_ns + BUSY_POLL_NS;
		tcp_loss_recovery();
	}
	sys_check_timeouts();
	now = st->now_ms;
	if (now >= st->next_sock_check_ms) {
		st->next_sock_check_ms = now + 50;
		sock_check_timeouts(st, now);
	}
	if (now >= st->next_pool_poll_ms) {
		st->next_pool_poll_ms = now + 5;
		io_rx_tick(st, now);
		pn_pool_poll(st->pool);
	}
	if (st->conns_sh && now >= st->next_conns_ms)
		conn_stats_publish(st, now);
	sock_wake_writers(st);
	io_rearm_rx(st);
	stack_output(st);
	tx_flush(st);
	io_uring_submit(&st->ring);
	st->last_submit_ns = st->last_run_ns = now_ns;
	st->stats.submits++;
	return n;
}

PN_EXPORT int pn_stack_process(struct pn_stack *st, int timeout_ms)
{
	int rc = stack_enter(st);

	if (rc)
		return rc;
	return stack_run(st, timeout_ms);
}

#define DRAIN_MS 1000 /* closed connections' data: how long to let it go */

static bool closing_with_data(void)
{
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		if (pcb->unsent || pcb->unacked)
			return true;
	return false;
}

/* Every pcb lwIP still has (closed sockets' connections, TIME-WAIT,
 * listeners) goes, so none outlives the stack. Connections the
 * application closed finish sending first, for up to DRAIN_MS, as the
 * kernel would send them after the process exits; what is still unacked
 * then is reset (the peer learns the data is lost); the others go quietly. */
static void purge_pcbs(struct pn_stack *st)
{
	uint64_t end = stack_now_ms() + DRAIN_MS;

	while (closing_with_data() && stack_now_ms() < end)
		if (stack_run(st, 10) < 0)
			break;
	while (tcp_active_pcbs)
		tcp_abandon(tcp_active_pcbs, tcp_active_pcbs->unsent ||
						     tcp_active_pcbs->unacked);
	while (tcp_tw_pcbs)
		tcp_abandon(tcp_tw_pcbs, 0);
	while (tcp_bound_pcbs)
		tcp_abort(tcp_bound_pcbs);
	while (tcp_listen_pcbs.pcbs)
		tcp_close(tcp_listen_pcbs.pcbs);
}

PN_EXPORT void pn_stack_destroy(struct pn_stack *st)
{
	if (!st)
		return;
	if (pn_stack_attach(st) || stack_start(st)) {
		fprintf(stderr,
			"pinnet: pn_stack_destroy from a thread that does not "
			"drive the stack (pn_stack_attach): the stack is left "
			"as it is\n");
		return;
	}
	ep_free_all(st);
	sock_abort_all(st);
	purge_pcbs(st);
	/* let the resets and last frames go out */
	for (int i = 0; i < 4; i++)
		stack_run(st, 0);
	netif_set_down(&st->netif);
	netif_remove(&st->netif);
	/* cancel the reads still in flight; their buffers come back */
	st->rx_target = st->rx_max = 0; /* nothing posted again */
	if (st->rx_inflight || st->rxm_armed) {
		struct io_uring_sqe *sqe = stack_sqe(st);

		if (sqe) {
			io_uring_prep_cancel_fd(sqe, st->fd,
						IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, 0);
		}
	}
	for (int i = 0;
	     i < 100 && (st->rxm_br ? st->rxm_armed : st->rx_inflight > 0);
	     i++) {
		struct __kernel_timespec ts = { 0, 10000000 };
		struct io_uring_cqe *cqe;

		io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
		reap(st);
	}
	if (!st->rxm_armed)
		io_rx_stop(st); /* the buffers still posted come back */
	io_close(st);
	zc_unmap_all(st);
	if (st->evfd >= 0)
		close(st->evfd);
	conn_stats_close(st);
	lwip_state_release();
	lwip_state = NULL;
	pn_pool_destroy(st->pool);
	io_uring_queue_exit(&st->ring);
	free(st->socks);
	free(st->free_ids);
	free(st);
}
