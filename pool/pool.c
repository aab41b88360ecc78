/* SPDX-License-Identifier: MIT */
/*
 * The pool's life cycle and its fast paths: allocation (000 FIG. 7, 001 FIG.
 * 5), free (000 FIG. 9), FIFO queueing at the wall (001 steps 506-516),
 * frees from other threads, lookup for fixed-buffer I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "opts.h"
#include "pool_impl.h"
#include "probes.h"

#define MIB (1024ull * 1024)
#define THP_BYTES (2 * MIB) /* a transparent huge page (x86-64, arm64 4K) */

/* The last field of struct pn_pool_opts: a caller's bytes after it must be
 * zero (opts.h). Fields are only appended; name the new last one here. */
#define POOL_OPTS_LAST forecast_headroom_pct
_Static_assert(sizeof(struct pn_pool_opts) - OFFSETOFEND(struct pn_pool_opts,
							 POOL_OPTS_LAST) <
		       _Alignof(struct pn_pool_opts),
	       "POOL_OPTS_LAST is not the last field of struct pn_pool_opts");

/* Marks the owner thread: a value that differs per live thread. The
 * thread pointer (the TLS base) is one register read away (one load of
 * %fs:0 on x86-64); elsewhere the address of a thread-local variable. */
#if defined(__has_builtin) && __has_builtin(__builtin_thread_pointer)
#define OWNER_MARK() ((const char *)__builtin_thread_pointer())
#else
static __thread char tls_mark __attribute__((tls_model("initial-exec")));
#define OWNER_MARK() ((const char *)OWNER_MARK())
#endif

/* Destroyed pools stay mapped here so a late call finds POOL_DEAD. */
static pthread_mutex_t grave_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pn_pool *graveyard;
static atomic_ullong next_pool_id = 1;
static __thread char create_err[256];

uint64_t pool_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A condition variable whose timed waits count on CLOCK_MONOTONIC: a step
 * of the wall clock (settimeofday, NTP) must neither cut a wait short nor
 * stretch it. Deadlines for it come from pool_deadline(). Returns 0 or
 * -errno.
 */
int pool_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int err;

	err = pthread_condattr_init(&attr);
	if (err)
		return -err;
	err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return -err;
}

/* The absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait()
 * on a condition variable made by pool_cond_init(). */
void pool_deadline(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int pool_seterr(struct pn_pool *pool, int err, const char *fmt, ...)
{
	char *dst = pool ? pool->err : create_err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, sizeof(pool->err), fmt, ap);
	va_end(ap);
	return -err;
}

PN_EXPORT const char *pn_pool_last_error(const struct pn_pool *pool)
{
	if (!pool)
		return create_err;
	if (pool->magic != POOL_MAGIC)
		return "pool was destroyed";
	return pool->err;
}

/* Slow-path event: USDT probe and the user's callback. */
void pool_emit(struct pn_pool *pool, struct part *p,
	       enum pn_pool_event_type type, uint32_t block, uint64_t bytes,
	       void *addr, uint32_t owner, uint64_t age_ms, int reason, int err)
{
	struct pn_pool_event ev = {
		.type = type,
		.buf_size = p ? p->buf_size : 0,
		.block = block,
		.bytes = bytes,
		.addr = addr,
		.owner = owner,
		.age_ms = age_ms,
		.reason = reason,
		.err = err,
		.msg = pool->err,
	};

	if (pool->sh)
		pool->sh->updated_ms = pool->now_ms;
	if (pool->o.on_event)
		pool->o.on_event(pool->o.event_arg, &ev);
}

/* ---- options --------------------------------------------------------- */

/* 2^-x for x >= 0, without libm: 2^-floor(x) times e^-(frac(x) ln 2) from
 * its series (relative error below 2e-5, plenty for a decay weight). */
static double pow2_neg(double x)
{
	double f, y, t, sum = 1;
	unsigned int n = 0;

	if (x > 60)
		return 0;
	while (x >= 1) {
		x -= 1;
		n++;
	}
	y = x * 0.69314718055994531;
	t = 1;
	for (int k = 1; k <= 7; k++) {
		t *= -y / k;
		sum += t;
	}
	f = sum;
	while (n--)
		f /= 2;
	return f;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static unsigned int log2u(uint64_t x)
{
	return 63 - (unsigned int)__builtin_clzll(x);
}

static int check_class(const struct pn_pool_class *c, unsigned int i,
		       uint32_t prev)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!is_pow2(c->buf_size) || c->buf_size < PN_POOL_MIN_BUF ||
	    c->buf_size > (1u << 30))
		return pool_seterr(
			NULL, EINVAL,
			"class %u: buf_size %u is not a power of two between %u and 1 GiB",
			i, c->buf_size, PN_POOL_MIN_BUF);
	if (c->buf_size <= prev)
		return pool_seterr(
			NULL, EINVAL,
			"class %u: buf_size %u not above the previous class (%u)",
			i, c->buf_size, prev);
	if (!c->base_bytes || c->base_bytes % c->buf_size ||
	    c->base_bytes % (size_t)page)
		return pool_seterr(
			NULL, EINVAL,
			"class %u: base_bytes %zu must be a non-zero multiple of %u and of the page size",
			i, c->base_bytes, c->buf_size);
	if (!c->block_bytes || c->block_bytes % c->buf_size ||
	    c->block_bytes % (size_t)page)
		return pool_seterr(
			NULL, EINVAL,
			"class %u: block_bytes %zu must be a non-zero multiple of %u and of the page size",
			i, c->block_bytes, c->buf_size);
	if (c->wall_bytes < c->base_bytes)
		return pool_seterr(
			NULL, EINVAL,
			"class %u: wall_bytes %zu below base_bytes %zu", i,
			c->wall_bytes, c->base_bytes);
	if (c->base_bytes > (1ull << 30) || c->block_bytes > (1ull << 30))
		return pool_seterr(
			NULL, EINVAL,
			"class %u: a block may be 1 GiB at most (one registered buffer)",
			i);
	if ((c->wall_bytes - c->base_bytes) / c->block_bytes + 1 > 65536)
		return pool_seterr(
			NULL, EINVAL,
			"class %u: wall %zu / block %zu gives more than 65536 blocks",
			i, c->wall_bytes, c->block_bytes);
	return 0;
}

static void fill_defaults(struct pn_pool_opts *o)
{
	if (!o->name)
		o->name = "pool";
	if (!o->max_slots)
		o->max_slots = 1024;
	if (!o->nclasses) {
		o->classes = pool_default_classes;
		o->nclasses = POOL_NDEFAULT_CLASSES;
	}
	if (!o->sample_ms)
		o->sample_ms = 60000;
	if (!o->idle_ms)
		o->idle_ms = 300000;
	if (!o->release_max)
		o->release_max = 1;
	if (!o->peak_window_ms)
		o->peak_window_ms = 10 * o->sample_ms;
	if (!o->leak_timeout_ms)
		o->leak_timeout_ms = 30000;
	if (!o->forecast_halflife_ms)
		o->forecast_halflife_ms = 4 * o->sample_ms;
	if (!o->forecast_headroom_pct)
		o->forecast_headroom_pct = 200;
	if (!o->psi_stall_us)
		o->psi_stall_us = 150000;
	if (!o->psi_window_us)
		o->psi_window_us = 2000000;
	if (!o->stats_dir)
		o->stats_dir = PN_STATS_DIR;
}

/* ---- create / destroy ------------------------------------------------- */

/* Zeroed memory on a cache-line boundary (struct part and struct pn_pool
 * keep their fast-path fields in their first lines); free() releases it. */
static void *zalloc_lines(size_t len)
{
	size_t n = (len + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, n ? n : 64);

	if (p)
		memset(p, 0, n);
	return p;
}

/* n rounded up to 4 KiB: the period of address aliasing in the CPU's
 * store-to-load check (whatever the page size). */
static size_t up_4k(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static void *map_noreserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Reserve address space for every partition (000 [0030]): PROT_NONE, no
 * memory, aligned to 2 MiB so blocks can use huge pages. */
static int reserve_region(struct pn_pool *pool, size_t span)
{
	size_t len = span * pool->nparts, align = 2 * MIB;
	char *raw, *start;

	raw = mmap(NULL, len + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return pool_seterr(
			NULL, ENOMEM,
			"cannot reserve %zu MiB of address space: %s",
			len >> 20, strerror(errno));
	start = (char *)(((uintptr_t)raw + align - 1) &
			 ~(uintptr_t)(align - 1));
	if (start > raw)
		munmap(raw, (size_t)(start - raw));
	if (start + len < raw + len + align)
		munmap(start + len,
		       (size_t)(raw + len + align - (start + len)));
	pool->region = start;
	pool->region_len = len;
	return 0;
}

/*
 * Bytes of a class's reservation left unused in front of block 0, so that
 * every additional block starts on a 2 MiB boundary. Only a whole aligned
 * 2 MiB range can be a transparent huge page: a block that straddles the
 * boundaries gets small pages only, and each grow faults, zeroes and pins
 * 512 of them instead of one huge page. Block 0 ends on the boundary
 * instead. Kept a multiple of the buffer size, so buffers stay aligned to
 * their size.
 */
static size_t class_lead(const struct pn_pool_class *c)
{
	size_t lead = (THP_BYTES - c->base_bytes % THP_BYTES) % THP_BYTES;

	return lead % c->buf_size ? 0 : lead;
}

/* The index of the lowest set bit of v (v != 0), as a 64-bit value. GCC's
 * __builtin_ctzll() returns an int: it sign-extends the result and clears
 * the destination first (a false dependency of tzcnt on some CPUs); bsf
 * needs neither for v != 0. */
static inline uint64_t lowest_bit(uint64_t v)
{
#if defined(__x86_64__)
	uint64_t i;

	__asm__("bsfq %1, %0" : "=r"(i) : "rm"(v) : "cc");
	return i;
#else
	return (uint64_t)__builtin_ctzll(v);
#endif
}

/* v with bit i % 64 set: bts takes the bit number modulo 64 itself, where
 * the C shift needs a mask first. */
static inline uint64_t set_bit(uint64_t v, uint64_t i)
{
#if defined(__x86_64__)
	__asm__("btsq %1, %0" : "+r"(v) : "r"(i) : "cc");
	return v;
#else
	return v | 1ull << (i % 64);
#endif
}

/* x rotated right by n (0 < n < 64): one instruction */
static inline uint64_t ror64(uint64_t x, unsigned int n)
{
	return x >> n | x << (64 - n);
}

/* addr's offset from the start of block 0 of its partition p; huge (so
 * past every index bound) for an address in the lead in front of it */
static inline uint64_t part_off(const struct part *p, const void *addr)
{
	return (uintptr_t)addr - (uintptr_t)p->base;
}

static int init_part(struct pn_pool *pool, unsigned int i,
		     const struct pn_pool_class *c, size_t span)
{
	struct part *p = &pool->parts[i];
	size_t nbufs, words, colour, off_wtick, off_meta;

	p->idx = i;
	p->buf_size = c->buf_size;
	p->buf_shift = log2u(c->buf_size);
	p->base_bufs = (uint32_t)(c->base_bytes >> p->buf_shift);
	p->add_bufs = (uint32_t)(c->block_bytes >> p->buf_shift);
	p->max_blocks =
		(uint32_t)((c->wall_bytes - c->base_bytes) / c->block_bytes) +
		1;
	p->base = pool->region + span * i + class_lead(c);
	p->low_water = c->low_water;
	p->underuse_free = c->underuse_free ? c->underuse_free : UINT64_MAX;
	nbufs = p->base_bufs + (size_t)(p->max_blocks - 1) * p->add_bufs;
	words = (nbufs + 63) / 64;
	/* the bitmap (with one more word, always 0: the fast path reads
	 * map[hint] with hint up to nwords and needs no bound check), the
	 * word stamps and the buffer records in one mapping, each array
	 * starting at its own offset within a page ("colour"). Arrays that
	 * all start at offset 0 make the fast paths' loads and stores of
	 * map[0], wtick[0] and meta[0] alias in the low 12 address bits, and
	 * the CPU then stalls loads behind unrelated stores (4K aliasing). */
	colour = (i % 8) * 128;
	off_wtick =
		up_4k(colour + (words + 1) * sizeof(uint64_t)) + 1024 + colour;
	off_meta = up_4k(off_wtick + words * sizeof(uint64_t)) + 2048 + colour;
	p->book_len = off_meta + nbufs * sizeof(struct bufmeta);
	p->book = map_noreserve(p->book_len);
	if (p->book) {
		p->map = (uint64_t *)(p->book + colour);
		p->wtick = (uint64_t *)(p->book + off_wtick);
		p->meta = (struct bufmeta *)(p->book + off_meta);
	}
	p->flags = map_noreserve(nbufs);
	p->add_shift = is_pow2(p->add_bufs) ? (int)log2u(p->add_bufs) : -1;
	p->blocks = calloc(p->max_blocks, sizeof(*p->blocks));
	p->npeak = pool->o.peak_window_ms / pool->o.sample_ms;
	if (p->npeak < 1)
		p->npeak = 1;
	p->peak = calloc(p->npeak, sizeof(*p->peak));
	if (!p->book || !p->flags || !p->blocks || !p->peak)
		return pool_seterr(NULL, ENOMEM,
				   "out of memory for partition %u bookkeeping",
				   c->buf_size);
	for (uint32_t b = 0; b < p->max_blocks; b++) {
		p->blocks[b].first =
			b == 0 ? 0 : p->base_bufs + (b - 1) * p->add_bufs;
		p->blocks[b].nbufs = b == 0 ? p->base_bufs : p->add_bufs;
		p->blocks[b].slot = UINT32_MAX;
	}
	return 0;
}

static void free_parts(struct pn_pool *pool)
{
	for (unsigned int i = 0; i < pool->nparts; i++) {
		struct part *p = &pool->parts[i];
		size_t nbufs = p->base_bufs +
			       (size_t)(p->max_blocks ? p->max_blocks - 1 : 0) *
				       p->add_bufs;

		if (p->book)
			munmap(p->book, p->book_len);
		if (p->flags)
			munmap(p->flags, nbufs);
		free(p->blocks);
		free(p->peak);
		memset(p, 0, sizeof(*p));
	}
}

/* Does the effective capability set hold CAP_IPC_LOCK (bit 14)? */
static bool have_ipc_lock(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff & (1ull << 14);
}

static void open_psi(struct pn_pool *pool)
{
	char trig[64];
	int fd, n;

	pool->psi_fd = -1;
	if (!pool->o.psi)
		return;
	fd = open("/proc/pressure/memory", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		pool_seterr(pool, 0, "PSI off: /proc/pressure/memory: %s",
			    strerror(errno));
		return;
	}
	n = snprintf(trig, sizeof(trig), "some %u %u", pool->o.psi_stall_us,
		     pool->o.psi_window_us);
	if (write(fd, trig, (size_t)n + 1) < 0) {
		pool_seterr(pool, 0, "PSI off: trigger \"%s\": %s", trig,
			    strerror(errno));
		close(fd);
		return;
	}
	pool->psi_fd = fd;
}

PN_EXPORT struct pn_pool *pn_pool_create(const struct pn_pool_opts *opts)
{
	struct pn_pool *pool;
	size_t span = 0, unknown;
	uint64_t wall_sum = 0;
	int err;

	create_err[0] = 0;
	if (!opts || opts->sz < sizeof(size_t)) {
		pool_seterr(NULL, EINVAL, "opts must be set, with sz");
		errno = EINVAL;
		return NULL;
	}
	unknown = OPTS_UNKNOWN_BYTE(opts, struct pn_pool_opts, POOL_OPTS_LAST);
	if (unknown) {
		pool_seterr(
			NULL, E2BIG,
			"opts: byte %zu of sz %zu is set, past the %zu bytes of struct pn_pool_opts this libpinnet knows (an option of a newer pinnet/pool.h it cannot honour)",
			unknown, opts->sz,
			OFFSETOFEND(struct pn_pool_opts, POOL_OPTS_LAST));
		errno = E2BIG;
		return NULL;
	}
	pool = zalloc_lines(sizeof(*pool));
	if (!pool) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(&pool->o, opts,
	       opts->sz < sizeof(pool->o) ? opts->sz : sizeof(pool->o));
	pool->o.sz = sizeof(pool->o);
	fill_defaults(&pool->o);
	snprintf(pool->name, sizeof(pool->name), "%s", pool->o.name);
	pool->o.name = pool->name;
	pool->psi_fd = -1;
	pthread_mutex_init(&pool->mu, NULL);
	err = pool_cond_init(&pool->cv);
	if (err) {
		pool_seterr(NULL, -err, "pthread_cond_init: %s",
			    strerror(-err));
		goto err_mutex;
	}
	memset(pool->class_part, -1, sizeof(pool->class_part));

	err = -EINVAL;
	if (pool->o.nclasses > PN_POOL_MAX_CLASSES) {
		pool_seterr(NULL, EINVAL, "%u classes: at most %d",
			    pool->o.nclasses, PN_POOL_MAX_CLASSES);
		goto err_free;
	}
	if (pool->o.max_slots > 16384) {
		pool_seterr(NULL, EINVAL,
			    "max_slots %u: io_uring allows 16384 at most",
			    pool->o.max_slots);
		goto err_free;
	}
	if (pool->o.release > PN_RELEASE_FORECAST ||
	    pool->o.leak_policy > PN_LEAK_RECLAIM) {
		pool_seterr(NULL, EINVAL, "unknown release or leak policy");
		goto err_free;
	}
	for (unsigned int i = 0; i < pool->o.nclasses; i++) {
		const struct pn_pool_class *c = &pool->o.classes[i];
		size_t vsz;

		err = check_class(c, i,
				  i ? pool->o.classes[i - 1].buf_size : 0);
		if (err)
			goto err_free;
		vsz = class_lead(c) + c->base_bytes +
		      (c->wall_bytes - c->base_bytes) / c->block_bytes *
			      c->block_bytes;
		if (vsz > span)
			span = vsz;
		wall_sum += c->wall_bytes;
	}
	/* the caller's array may be gone after create: keep a copy */
	memcpy(pool->classes, pool->o.classes,
	       pool->o.nclasses * sizeof(pool->classes[0]));
	pool->o.classes = pool->classes;
	span = (size_t)1 << (log2u(span) + !is_pow2(span));
	if (span < 2 * MIB)
		span = 2 * MIB;
	pool->span_shift = log2u(span);
	pool->span_bytes = span;
	if (!pool->o.wall_bytes || pool->o.wall_bytes > wall_sum)
		pool->o.wall_bytes = wall_sum;
	pool->nparts = pool->o.nclasses;
	pool->max_slots = pool->o.max_slots;
	pool->slot_map = calloc(pool->max_slots, sizeof(*pool->slot_map));
	err = -ENOMEM;
	if (!pool->slot_map)
		goto err_free;
	/* size classes: a request rounds up to the first class that fits */
	for (unsigned int l = 0, i = 0; l < 40; l++) {
		while (i < pool->nparts &&
		       log2u(pool->o.classes[i].buf_size) < l)
			i++;
		if (i < pool->nparts)
			pool->class_part[l] = (int8_t)i;
	}

	err = reserve_region(pool, span);
	if (err)
		goto err_free;
	/* a fork()ed child gets none of it: the registered blocks are
	 * pinned, and the kernel would copy every pinned page into the child
	 * at fork (they cannot be shared copy-on-write), for a child that
	 * must never touch them anyway (the ring is the parent's) */
	madvise(pool->region, pool->region_len, MADV_DONTFORK);
	for (unsigned int i = 0; i < pool->nparts; i++) {
		err = init_part(pool, i, &pool->o.classes[i], span);
		if (err)
			goto err_unmap;
	}

	if (pool->o.ring) {
		pool->ring = pool->o.ring;
	} else {
		err = io_uring_queue_init(16, &pool->own_ring, 0);
		if (err) {
			pool_seterr(NULL, -err, "io_uring_queue_init: %s",
				    strerror(-err));
			goto err_unmap;
		}
		pool->ring = &pool->own_ring;
		pool->owns_ring = true;
	}
	err = io_uring_register_buffers_sparse(pool->ring, pool->max_slots);
	if (err) {
		pool_seterr(
			NULL, -err,
			"registering a sparse table of %u buffer slots: %s%s",
			pool->max_slots, strerror(-err),
			err == -EBUSY ?
				" (the ring already has registered buffers)" :
				"");
		goto err_ring;
	}

	pool->id = atomic_fetch_add(&next_pool_id, 1);
	pool->has_ipc_lock = have_ipc_lock();
	pool->now_ms = pool_clock_ms();
	pool->next_sample_ms = pool->now_ms + pool->o.sample_ms;
	pool->fc_weight = 1 - pow2_neg((double)pool->o.sample_ms /
				       pool->o.forecast_halflife_ms);
	err = stats_open(pool);
	if (err)
		goto err_unreg;
	pool->o.stats_dir = NULL; /* the caller's string: used only above */
	pool->magic = POOL_MAGIC;
	pool->owner_mark =
		OWNER_MARK(); /* the free fast path's liveness test */

	/* 001 step 502: the base blocks are registered at creation */
	for (unsigned int i = 0; i < pool->nparts; i++) {
		err = block_grow(pool, &pool->parts[i]);
		if (err) {
			snprintf(create_err, sizeof(create_err),
				 "base block of class %u: %.200s",
				 pool->parts[i].buf_size, pool->err);
			goto err_blocks;
		}
	}
	open_psi(pool);
	return pool;

err_blocks:
	blocks_release_all(pool);
	stats_close(pool);
	pool->magic = 0;
	pool->owner_mark = NULL;
err_unreg:
	io_uring_unregister_buffers(pool->ring);
err_ring:
	if (pool->owns_ring)
		io_uring_queue_exit(&pool->own_ring);
err_unmap:
	munmap(pool->region, pool->region_len);
err_free:
	free_parts(pool);
	free(pool->slot_map);
	pthread_cond_destroy(&pool->cv);
err_mutex:
	pthread_mutex_destroy(&pool->mu);
	free(pool);
	errno = -err;
	return NULL;
}

static void cancel_queue(struct pn_pool *pool, struct part *p, int err)
{
	struct req *r;

	while ((r = p->qhead)) {
		p->qhead = r->next;
		p->st->queue_len--;
		p->st->dequeued++;
		PN_PROBE(dequeued, p->buf_size, (void *)0,
			 pool->now_ms - r->since_ms, err, r->owner);
		r->cb(r->arg, NULL, err);
		free(r);
	}
	p->qtail = NULL;
	part_update_watch(p);
}

PN_EXPORT void pn_pool_destroy(struct pn_pool *pool)
{
	if (!pool || pool->magic != POOL_MAGIC)
		return;
	pool->now_ms = pool_clock_ms();
	pool_apply_remote(pool);
	for (unsigned int i = 0; i < pool->nparts; i++)
		cancel_queue(pool, &pool->parts[i], -ECANCELED);
	blocks_release_all(pool);
	if (pool->psi_fd >= 0)
		close(pool->psi_fd);
	io_uring_unregister_buffers(pool->ring);
	if (pool->owns_ring)
		io_uring_queue_exit(&pool->own_ring);
	stats_close(pool);
	munmap(pool->region, pool->region_len);
	free_parts(pool);
	free(pool->slot_map);
	pool->slot_map = NULL;
	pool->nparts = 0;
	pool->magic = POOL_DEAD;
	pool->owner_mark = NULL; /* late frees take the checked path */
	/* keep the small struct so late calls see POOL_DEAD, not freed memory */
	pthread_mutex_lock(&grave_mu);
	pool->grave_next = graveyard;
	graveyard = pool;
	pthread_mutex_unlock(&grave_mu);
}

/* ---- allocation -------------------------------------------------------- */

static inline struct part *class_of(struct pn_pool *pool, size_t size)
{
	unsigned int l;
	int i;

	if (!size || size > (1ull << 30))
		return NULL;
	l = size <= PN_POOL_MIN_BUF ? 11 : log2u(size - 1) + 1;
	i = pool->class_part[l];
	return i < 0 ? NULL : &pool->parts[i];
}

/* in_use reached alloc_watch: a new high water since the last sample
 * and, at the low-water mark, grow ahead of need (000 block 238). Returns
 * b, the buffer just taken, so the fast path calls it as its tail and
 * keeps nothing alive across the call. */
static __attribute__((noinline)) void *take_watch(struct part *p, void *b)
{
	struct pn_stats_part *st = p->st;

	if (st->in_use > p->sample_hw) {
		p->sample_hw = st->in_use;
		if (st->in_use > st->high_water)
			st->high_water = st->in_use;
	}
	if (st->in_use >= p->low_mark)
		p->grow_pending = true;
	part_update_watch(p);
	return b;
}

/* Take buffer w * 64 + (lowest set bit of v), v being map[w] and not 0:
 * record its owner and time, count it. */
static inline __attribute__((always_inline)) void *
take_from(struct pn_pool *pool, struct part *p, uint32_t w, uint64_t v,
	  uint32_t owner)
{
	uint64_t idx = (uint64_t)w * 64 + lowest_bit(v);
	uint64_t in_use;

	p->map[w] = v & (v - 1);
	p->meta[idx] = (struct bufmeta){ owner, (uint32_t)pool->now_ms };
	/* 001 TimeStamp, per bitmap word: block_last_alloc() turns it into
	 * the block's; the block's in-use count is its bitmap's */
	p->wtick[w] = pool->now_ms;
	in_use = ++p->st->in_use;
	if (__builtin_expect(in_use >= p->alloc_watch, 0))
		return take_watch(p, buf_addr(p, idx));
	return buf_addr(p, idx);
}

/* Take the lowest free buffer below the boundary (001 step 512: base block
 * first, then blocks in order), or return NULL. */
static void *take(struct pn_pool *pool, struct part *p, uint32_t owner)
{
	uint32_t w = p->hint;

	while (w < p->nwords && !p->map[w])
		w++;
	p->hint = w;
	if (w >= p->nwords)
		return NULL;
	return take_from(pool, p, w, p->map[w], owner);
}

/* Nothing free below the boundary: apply remote frees, grow (000 block 250,
 * 001 step 518), fall back to a larger class (000 [0038]). */
static void *alloc_slow(struct pn_pool *pool, struct part *p, uint32_t owner,
			int *err)
{
	void *b;

	pool->now_ms = pool_clock_ms();
	pool_apply_remote(pool);
	if ((b = take(pool, p, owner)))
		return b;
	*err = block_grow(pool, p);
	if (!*err && (b = take(pool, p, owner)))
		return b;
	if (pool->o.fallback) {
		for (unsigned int i = p->idx + 1; i < pool->nparts; i++) {
			struct part *q = &pool->parts[i];

			if (q->qhead)
				continue;
			b = take(pool, q, owner);
			if (!b && !block_grow(pool, q))
				b = take(pool, q, owner);
			if (b) {
				q->st->fallbacks++;
				return b;
			}
		}
		char why[sizeof(pool->err)];

		memcpy(why, pool->err, sizeof(why));
		pool_seterr(pool, -*err,
			    "%.200s; larger classes have none either", why);
	}
	return NULL;
}

/* 000 blocks 250-254: wait up to wait_ms for a free from another thread. */
static void *alloc_wait(struct pn_pool *pool, struct part *p, uint32_t owner)
{
	uint64_t deadline = pool->now_ms + pool->o.wait_ms;
	struct timespec ts;
	void *b = NULL;

	p->st->waits++;
	pool_deadline(&ts, pool->o.wait_ms);
	pthread_mutex_lock(&pool->mu);
	atomic_fetch_add(&pool->waiters, 1);
	for (;;) {
		int err = 0;

		if (atomic_load(&pool->remote)) {
			pthread_mutex_unlock(&pool->mu);
			b = alloc_slow(pool, p, owner, &err);
			pthread_mutex_lock(&pool->mu);
			if (b)
				break;
		}
		if (pool_clock_ms() >= deadline ||
		    pthread_cond_timedwait(&pool->cv, &pool->mu, &ts) ==
			    ETIMEDOUT) {
			if (atomic_load(&pool->remote))
				continue;
			break;
		}
	}
	atomic_fetch_sub(&pool->waiters, 1);
	pthread_mutex_unlock(&pool->mu);
	pool->now_ms = pool_clock_ms();
	return b;
}

static void refuse(struct pn_pool *pool, struct part *p, size_t size, int err)
{
	p->st->refusals++;
	PN_PROBE(refused, p->buf_size, size, err);
}

/* Everything but the fast path of pn_buf_alloc(): kept out of line so the
 * fast path stays a handful of instructions with no stack frame to speak of. */
static __attribute__((noinline, cold)) void *
alloc_slowpath(struct pn_pool *pool, size_t size, uint32_t owner)
{
	struct part *p;
	void *b;
	int err = 0;

	if (!pool || pool->magic != POOL_MAGIC) {
		errno = EBADF;
		return NULL;
	}
	p = class_of(pool, size);
	if (!p) {
		pool_seterr(pool, EINVAL,
			    "size %zu: no class serves it (largest is %u)",
			    size, pool->parts[pool->nparts - 1].buf_size);
		errno = EINVAL;
		return NULL;
	}
	/* 001 step 506: while requests are queued, new ones do not jump them;
	 * else a free buffer past the hint word, then the slow work */
	if (!p->qhead && (b = take(pool, p, owner)))
		return b;
	b = p->qhead ? NULL : alloc_slow(pool, p, owner, &err);
	if (!b && pool->o.wait_ms)
		b = alloc_wait(pool, p, owner);
	if (b)
		return b;
	if (p->qhead)
		pool_seterr(pool, ENOBUFS,
			    "class %u: %" PRIu64
			    " requests already queued at the wall",
			    p->buf_size, p->st->queue_len);
	else if (pool->o.wait_ms) {
		char why[sizeof(pool->err)];

		memcpy(why, pool->err, sizeof(why));
		pool_seterr(pool, ENOBUFS,
			    "class %u: no buffer freed within %u ms (%.180s)",
			    p->buf_size, pool->o.wait_ms, why);
	}
	if (!err || err == -ENOSPC)
		err = -ENOBUFS;
	refuse(pool, p, size, err);
	errno = -err;
	return NULL;
}

PN_EXPORT void *pn_buf_alloc(struct pn_pool *pool, size_t size, uint32_t owner)
{
	struct part *p;
	uint64_t v;
	uint32_t w;

	/* the fast path: a live pool, no queue, a free bit in the hint word
	 * (1..2048 bytes is always the first class; map[hint] is 0 when the
	 * hint is past the committed words) */
	if (__builtin_expect(!pool || (uint32_t)pool->magic != POOL_LIVE32, 0))
		goto slow;
	if (__builtin_expect(size - 1 < PN_POOL_MIN_BUF, 1))
		p = &pool->parts[0];
	else if (!(p = class_of(pool, size)))
		goto slow;
	if (__builtin_expect(p->qhead != NULL, 0))
		goto slow;
	w = p->hint;
	v = p->map[w];
	if (__builtin_expect(!v, 0))
		goto slow;
	return take_from(pool, p, w, v, owner);
slow:
	return alloc_slowpath(pool, size, owner);
}

PN_EXPORT int pn_buf_alloc_async(struct pn_pool *pool, size_t size,
				 uint32_t owner, pn_buf_cb cb, void *arg)
{
	struct part *p;
	struct req *r;
	void *b = NULL;
	int err = 0;

	if (!pool || pool->magic != POOL_MAGIC)
		return -EBADF;
	p = class_of(pool, size);
	if (!p || !cb)
		return pool_seterr(
			pool, EINVAL,
			"size %zu: no class serves it, or no callback", size);
	if (!p->qhead) {
		b = take(pool, p, owner);
		if (!b)
			b = alloc_slow(pool, p, owner, &err);
		if (b) {
			PN_PROBE(async_alloc, p->buf_size, b, owner);
			cb(arg, b, 0);
			return 0;
		}
	}
	/* 001 steps 508/516: queue FIFO until a free serves it */
	r = malloc(sizeof(*r));
	if (!r)
		return pool_seterr(pool, ENOMEM,
				   "out of memory for a queued request");
	*r = (struct req){
		.cb = cb, .arg = arg, .owner = owner, .since_ms = pool->now_ms
	};
	if (p->qtail)
		p->qtail->next = r;
	else
		p->qhead = r;
	p->qtail = r;
	part_update_watch(p); /* frees serve the queue first */
	p->st->queued++;
	p->st->queue_len++;
	PN_PROBE(queued, p->buf_size, p->st->queue_len, owner);
	pool_emit(pool, p, PN_EV_QUEUED, UINT32_MAX, p->buf_size, NULL, owner,
		  0, 0, 0);
	return 1;
}

/* Give queued requests the free buffers, oldest first (001: on release). */
void pool_serve_queue(struct pn_pool *pool, struct part *p)
{
	struct req *r;
	void *b;

	while ((r = p->qhead)) {
		b = take(pool, p, r->owner);
		if (!b)
			return;
		p->qhead = r->next;
		if (!p->qhead) {
			p->qtail = NULL;
			part_update_watch(p);
		}
		p->st->queue_len--;
		p->st->dequeued++;
		PN_PROBE(dequeued, p->buf_size, b, pool->now_ms - r->since_ms,
			 0, r->owner);
		pool_emit(pool, p, PN_EV_DEQUEUED, UINT32_MAX, p->buf_size, b,
			  r->owner, pool->now_ms - r->since_ms, 0, 0);
		r->cb(r->arg, b, 0);
		free(r);
	}
}

/* Refuse queued requests older than queue_timeout_ms; returns how many. */
int pool_expire_queue(struct pn_pool *pool, struct part *p)
{
	struct req *r;
	int n = 0;

	while ((r = p->qhead) &&
	       pool->now_ms - r->since_ms >= pool->o.queue_timeout_ms) {
		p->qhead = r->next;
		if (!p->qhead) {
			p->qtail = NULL;
			part_update_watch(p);
		}
		p->st->queue_len--;
		p->st->dequeued++;
		p->st->refusals++;
		pool_seterr(pool, ETIMEDOUT,
			    "class %u: queued request waited %" PRIu64
			    " ms at the wall (queue_timeout_ms %u)",
			    p->buf_size, pool->now_ms - r->since_ms,
			    pool->o.queue_timeout_ms);
		PN_PROBE(dequeued, p->buf_size, (void *)0,
			 pool->now_ms - r->since_ms, -ETIMEDOUT, r->owner);
		pool_emit(pool, p, PN_EV_DEQUEUED, UINT32_MAX, p->buf_size,
			  NULL, r->owner, pool->now_ms - r->since_ms, 0,
			  -ETIMEDOUT);
		r->cb(r->arg, NULL, -ETIMEDOUT);
		free(r);
		n++;
	}
	return n;
}

/* ---- free ---------------------------------------------------------------- */

static int bad_free(struct pn_pool *pool, struct part *p, void *buf, int err,
		    const char *why)
{
	if (p)
		p->st->errors++;
	else
		pool->sh->bad_frees++;
	pool_seterr(pool, -err, "pn_buf_free(%p): %s", buf, why);
	PN_PROBE(bad_free, buf, err);
	pool_emit(pool, p, PN_EV_BAD_FREE, UINT32_MAX, 0, buf, 0, 0, 0, err);
	return err;
}

/* 000 FIG. 9 on the owner thread: validate, clear the bit, serve the queue,
 * check for underuse; a draining block that empties is unregistered. */
static int free_local(struct pn_pool *pool, void *buf)
{
	uintptr_t off = (uintptr_t)buf - (uintptr_t)pool->region;
	struct part *p;
	struct pn_stats_block *bs;
	struct pn_stats_part *st;
	uint32_t idx, blk;
	uint64_t poff, bit;

	if (__builtin_expect(off >= pool->region_len, 0))
		return bad_free(pool, NULL, buf, -EINVAL,
				"not a buffer of this pool");
	p = &pool->parts[off >> pool->span_shift];
	poff = part_off(p, buf);
	if (__builtin_expect(poff & (p->buf_size - 1), 0) ||
	    poff >> p->buf_shift >= p->nbufs_hi)
		return bad_free(pool, p, buf, -EINVAL,
				"not the start of a buffer this pool gave out");
	idx = (uint32_t)(poff >> p->buf_shift);
	blk = block_of(p, idx);
	bs = &p->bst[blk];
	st = p->st;
	bit = 1ull << (idx % 64);
	switch (bs->state) {
	case PN_BLOCK_ACTIVE:
		if (p->map[idx / 64] & bit)
			return bad_free(pool, p, buf, -EALREADY, "double free");
		p->map[idx / 64] |= bit;
		if (idx / 64 < p->hint)
			p->hint = idx / 64;
		st->in_use--;
		if (p->qhead)
			pool_serve_queue(pool, p);
		/* 000 block 356-358: too many free buffers: tell the host */
		if (st->in_use < p->under_mark && !p->underuse_raised) {
			uint64_t nfree =
				p->active_cap + p->draining_in_use - st->in_use;

			p->underuse_raised = true;
			st->underuse++;
			PN_PROBE(underuse, p->buf_size, nfree,
				 p->underuse_free);
			pool_emit(pool, p, PN_EV_UNDERUSE, UINT32_MAX, nfree,
				  NULL, 0, 0, PN_REASON_UNDERUSE, 0);
			if (pool->o.underuse_shrink)
				p->underuse_shrink_pending = true;
		}
		return 0;
	case PN_BLOCK_DRAINING:
		if (!(p->flags[idx] & BUF_ALLOCATED))
			break;
		p->flags[idx] = 0;
		bs->in_use--;
		st->in_use--;
		p->draining_in_use--;
		part_update_marks(p);
		/* 000 block 404-406: the drained block's last buffer is back */
		if (bs->in_use == 0)
			block_unregister(pool, p, blk);
		return 0;
	case PN_BLOCK_UNUSED:
		return bad_free(pool, p, buf, -EINVAL,
				"not a buffer this pool gave out");
	default:
		break;
	}
	if (p->flags[idx] & BUF_RECLAIMED)
		return bad_free(pool, p, buf, -ESTALE,
				"buffer was declared leaked and reclaimed");
	if (bs->state == PN_BLOCK_RELEASED || bs->state == PN_BLOCK_RELEASING)
		return bad_free(pool, p, buf, -ESTALE,
				"its block was released");
	return bad_free(pool, p, buf, -EALREADY, "double free");
}

void pool_apply_remote(struct pn_pool *pool)
{
	void *b = atomic_exchange(&pool->remote, NULL);

	while (b) {
		void *next = *(void **)b;

		free_local(pool, b);
		b = next;
	}
}

/* Every free that is not the common case: another thread, a bad pointer, a
 * draining block, a queue to serve, an underuse edge. */
static __attribute__((noinline)) int free_slowpath(struct pn_pool *pool,
						   void *buf)
{
	if (__builtin_expect(!pool || pool->magic != POOL_MAGIC, 0))
		return -EBADF;
	if (__builtin_expect(pool->owner_mark == OWNER_MARK(), 1))
		return free_local(pool, buf);
	/* another thread: check what can be checked without the owner's state,
	 * then hand the buffer over through the lock-free list */
	if ((uintptr_t)buf - (uintptr_t)pool->region >= pool->region_len)
		return -EINVAL;
	void *head = atomic_load(&pool->remote);
	do {
		*(void **)buf = head;
	} while (!atomic_compare_exchange_weak(&pool->remote, &head, buf));
	if (atomic_load(&pool->waiters)) {
		pthread_mutex_lock(&pool->mu);
		pthread_cond_signal(&pool->cv);
		pthread_mutex_unlock(&pool->mu);
	}
	return 0;
}

PN_EXPORT int pn_buf_free(struct pn_pool *pool, void *buf)
{
	struct pn_stats_part *st;
	struct part *p;
	uintptr_t off;
	uint64_t poff, idx, *word, v;

	/* the fast path: a live pool (owner_mark is NULL once destroyed), the
	 * owner thread, a buffer out in the run of active blocks from block 0,
	 * no queue, no underuse edge; everything else takes free_slowpath() */
	if (__builtin_expect(!pool || pool->owner_mark != OWNER_MARK(), 0))
		return free_slowpath(pool, buf);
	off = (uintptr_t)buf - (uintptr_t)pool->region;
	/* The first partition (the smallest class: frames) is the predicted
	 * case: its fields sit at a fixed place in the pool, so the CPU loads
	 * them while buf is still on its way from the allocation instead of
	 * after decoding it, which takes those loads off the chain from one
	 * allocation to the next free. Any other partition costs a branch. */
	if (__builtin_expect(off < pool->span_bytes, 1))
		p = &pool->parts[0];
	else if (off < pool->region_len)
		p = &pool->parts[off >> pool->span_shift];
	else
		return free_slowpath(pool, buf);
	/* the start of a buffer below the end of the active run, in one
	 * test: rotated right by the buffer size's bits, an aligned offset is
	 * the buffer's index and any other one is huge (its low bits land on
	 * top), as is an address in the lead before block 0 */
	poff = part_off(p, buf);
	idx = ror64(poff, p->buf_shift);
	if (__builtin_expect(idx >= p->act_hi, 0))
		return free_slowpath(pool, buf);
	word = &p->map[idx / 64];
	v = *word;
	st = p->st;
	/* a set bit is a double free */
	if (__builtin_expect(
		    ((v >> (idx % 64)) & 1) || st->in_use <= p->free_watch, 0))
		return free_slowpath(pool, buf);
	*word = set_bit(v, idx);
	if (idx / 64 < p->hint)
		p->hint = (uint32_t)(idx / 64);
	st->in_use--;
	return 0;
}

/* ---- lookup and small accessors ---------------------------------------- */

PN_EXPORT int pn_buf_lookup(const struct pn_pool *pool, const void *addr,
			    struct pn_buf_info *info)
{
	uintptr_t off;
	const struct part *p;
	uint32_t idx, blk;
	uint64_t poff;

	if (!pool || pool->magic != POOL_MAGIC)
		return -EBADF;
	off = (uintptr_t)addr - (uintptr_t)pool->region;
	if (off >= pool->region_len)
		return -EINVAL;
	p = &pool->parts[off >> pool->span_shift];
	poff = part_off(p, addr);
	if (poff >> p->buf_shift >= p->nbufs_hi)
		return -EINVAL;
	idx = (uint32_t)(poff >> p->buf_shift);
	blk = block_of(p, idx);
	if (p->bst[blk].state != PN_BLOCK_ACTIVE &&
	    p->bst[blk].state != PN_BLOCK_DRAINING)
		return -EINVAL;
	if (!buf_is_out(p, idx))
		return -EINVAL;
	info->addr = buf_addr(p, idx);
	info->size = p->buf_size;
	info->slot = p->blocks[blk].slot;
	info->owner = p->meta[idx].owner;
	info->block = blk;
	return 0;
}

PN_EXPORT bool pn_pool_owns(const struct pn_pool *pool, const void *p)
{
	if (!pool || (pool->magic != POOL_MAGIC && pool->magic != POOL_DEAD))
		return false;
	return (uintptr_t)p - (uintptr_t)pool->region < pool->region_len;
}

PN_EXPORT struct io_uring *pn_pool_ring(const struct pn_pool *pool)
{
	return pool && pool->magic == POOL_MAGIC ? pool->ring : NULL;
}

PN_EXPORT unsigned int pn_pool_nparts(const struct pn_pool *pool)
{
	return pool && pool->magic == POOL_MAGIC ? pool->nparts : 0;
}

PN_EXPORT const char *pn_pool_stats_path(const struct pn_pool *pool)
{
	return pool && pool->magic == POOL_MAGIC ? pool->sh_path : "";
}

PN_EXPORT size_t pn_pool_pinned(const struct pn_pool *pool)
{
	return pool && pool->magic == POOL_MAGIC ? pool->sh->pinned_bytes : 0;
}

PN_EXPORT int pn_pool_psi_fd(const struct pn_pool *pool)
{
	return pool && pool->magic == POOL_MAGIC ? pool->psi_fd : -1;
}

/* The first version of struct pn_pool_part_stats: the least a caller's
 * struct may hold. Fixed for good; appended fields do not move it. */
#define PART_STATS_MIN OFFSETOFEND(struct pn_pool_part_stats, underuse)

PN_EXPORT int pn_pool_stats(const struct pn_pool *pool, unsigned int i,
			    struct pn_pool_part_stats *out, size_t sz)
{
	struct pn_pool_part_stats snap, *s = &snap;
	const struct part *p;
	const struct pn_stats_part *st;

	if (!pool || pool->magic != POOL_MAGIC)
		return -EBADF;
	if (i >= pool->nparts || !out || sz < PART_STATS_MIN)
		return -EINVAL;
	p = &pool->parts[i];
	st = p->st;
	memset(s, 0, sizeof(*s));
	s->buf_size = p->buf_size;
	for (uint32_t b = 0; b < p->max_blocks; b++) {
		switch (p->bst[b].state) {
		case PN_BLOCK_ACTIVE:
			s->blocks_active++;
			break;
		case PN_BLOCK_DRAINING:
			s->blocks_draining++;
			break;
		case PN_BLOCK_RELEASING:
			s->blocks_releasing++;
			break;
		}
	}
	s->pinned_bytes = st->pinned_bytes;
	s->in_use = st->in_use;
	s->free = p->active_cap + p->draining_in_use - st->in_use;
	s->high_water = st->high_water;
	s->grows = st->grows;
	s->grow_refused = st->grow_refused;
	s->drains = st->drains;
	for (int r = 0; r <= PN_REASON_DESTROY; r++)
		s->releases[r] = st->releases[r];
	s->releases_forecast = st->releases[PN_REASON_FORECAST];
	s->forecast = p->fc_ready ? forecast_keep(pool, p) : 0;
	s->queued = st->queued;
	s->dequeued = st->dequeued;
	s->queue_len = st->queue_len;
	s->waits = st->waits;
	s->refusals = st->refusals;
	s->leaks = st->leaks;
	s->errors = st->errors;
	s->underuse = st->underuse;
	/* the caller's struct: as much as both know, zeros past ours */
	memcpy(out, s, sz < sizeof(*s) ? sz : sizeof(*s));
	if (sz > sizeof(*s))
		memset((char *)out + sizeof(*s), 0, sz - sizeof(*s));
	return 0;
}

PN_EXPORT int pn_pool_attach(struct pn_pool *pool)
{
	if (!pool || pool->magic != POOL_MAGIC)
		return -EINVAL;
	/* frees racing with the move take the checked path, which is right
	 * for either owner */
	__atomic_store_n(&pool->owner_mark, OWNER_MARK(), __ATOMIC_RELEASE);
	return 0;
}
