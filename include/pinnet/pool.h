/* SPDX-License-Identifier: MIT */
/*
 * pinnet pool: an elastic pool of pinned buffers on io_uring registered
 * (fixed) buffers.
 *
 * The pool follows two designs (docs/pool.md summarises them and indexes
 * every figure the code cites): partitions of one buffer size each, with
 * an allocation bitmap and a boundary between the registered (pinned)
 * part and the reserved address space (000 FIG. 6-10); blocks: a
 * base block registered at creation, equal additional blocks up to a wall,
 * FIFO queueing at the wall and periodic release of idle blocks (001 FIG.
 * 3-6). Every block is one slot of the ring's registered buffer table, so a
 * buffer is ready for io_uring_prep_read_fixed()/write_fixed() on that ring.
 *
 * Threads: a pool belongs to the thread that created it. pn_buf_alloc(),
 * pn_pool_poll() and every other call except pn_buf_free() must come from
 * that thread; they take no locks. pn_buf_free() is safe from any thread:
 * from others it queues the buffer on a lock-free list that the owner
 * applies in pn_pool_poll() or when an allocation runs short.
 *
 * Errors: actions return 0 or -errno; constructors return NULL with errno
 * set. After an error pn_pool_last_error() gives a sentence that names the
 * limit and the numbers involved.
 */
#ifndef PINNET_POOL_H
#define PINNET_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct io_uring;
struct io_uring_cqe;
struct pn_pool;

/* Most partitions (size classes) one pool may have. */
#define PN_POOL_MAX_CLASSES 16
/* The smallest buffer size: one Ethernet frame with its headers. */
#define PN_POOL_MIN_BUF 2048u

/* Tag CQEs of the pool's registrations carry user_data with these top 16
 * bits; requests on a shared ring must not use user_data with them. */
#define PN_POOL_TAG_MASK 0xffff000000000000ull
#define PN_POOL_TAG_PREFIX 0x706e000000000000ull /* "pn" */

/* One partition: buffers of one size (000 FIG. 6, 001 FIG. 4). */
struct pn_pool_class {
	uint32_t buf_size; /* bytes, a power of two >= PN_POOL_MIN_BUF */
	uint32_t
		low_water; /* 000 block 238: pn_pool_poll() grows ahead when free <= this (0: when none is) */
	size_t base_bytes; /* 001 BaseSize: block 0, registered at creation */
	size_t block_bytes; /* 001 AddSize: each additional block */
	size_t wall_bytes; /* 001 BuddyWall: most this partition may pin */
	uint32_t
		underuse_free; /* 000 block 356: free > this raises underuse; 0 off */
};

/* How blocks are given back without an explicit request. */
enum pn_release_policy {
	/* only on request, underuse or pressure */
	PN_RELEASE_NONE = 0,
	/* 001 FIG. 6: the last block and the one before it idle */
	PN_RELEASE_IDLE = 1,
	/* keep what the last window's peak needs, plus low_water */
	PN_RELEASE_PEAK = 2,
	/* keep a forecast of demand: a decaying average of each sample's
	 * peak plus headroom in decaying mean deviations, plus low_water */
	PN_RELEASE_FORECAST = 3,
};

/* What a shrink does with buffers still out after the leak timeout
 * (000 FIG. 10 blocks 410-412). */
enum pn_leak_policy {
	PN_LEAK_REFUSE = 0, /* report them, keep the block: the safe default */
	PN_LEAK_RECLAIM =
		1, /* report them, take them back, release the block */
};

/* Why a block was released (also the index of the per-reason counters). */
enum pn_release_reason {
	PN_REASON_API = 0, /* pn_pool_shrink() */
	PN_REASON_IDLE = 1, /* 001 FIG. 6 policy */
	PN_REASON_PEAK = 2, /* recent-peak policy */
	PN_REASON_UNDERUSE = 3, /* 000 block 356-358 answered with a shrink */
	PN_REASON_PRESSURE =
		4, /* memory pressure (PSI) or pn_pool_pressure() */
	PN_REASON_DESTROY = 5, /* pn_pool_destroy() */
	PN_REASON_FORECAST = 6, /* demand-forecast policy */
	PN_REASON_NR = 7,
};

/* Slow-path events, delivered to pn_pool_opts.on_event (and USDT probes). */
enum pn_pool_event_type {
	PN_EV_GROW = 1, /* a block was registered */
	PN_EV_GROW_REFUSED, /* a grow was refused: err and the message say why */
	PN_EV_DRAIN, /* a block stopped serving allocations */
	PN_EV_RELEASE, /* a block's memory went back to the system */
	PN_EV_SHRINK_REFUSED, /* leak policy refuse: the block is active again */
	PN_EV_LEAK, /* a buffer still out at the leak timeout */
	PN_EV_QUEUED, /* an async request waits at the wall */
	PN_EV_DEQUEUED, /* a queued request got its buffer (or its error) */
	PN_EV_UNDERUSE, /* free buffers rose above underuse_free */
	PN_EV_BAD_FREE, /* pn_buf_free() of a pointer it must not free */
};

struct pn_pool_event {
	enum pn_pool_event_type type;
	uint32_t buf_size; /* the partition's buffer size */
	uint32_t block; /* block index in the partition, or UINT32_MAX */
	/* block bytes (grow, grow refused: 0 when no block is left, drain,
	 * release, shrink refused), buffer size (leak, queued, dequeued),
	 * free buffers (underuse) */
	uint64_t bytes;
	void *addr; /* the block (grow, release), the buffer (leak, dequeued, bad free), else NULL */
	uint32_t owner; /* the owner tag (leak, queued, dequeued) */
	uint64_t age_ms; /* buffer age (leak), wait (dequeued) */
	int reason; /* enum pn_release_reason (drain, release, leak, shrink refused, underuse) */
	int err; /* -errno (grow refused, shrink refused, dequeued with an error, bad free), else 0 */
	const char *msg; /* a sentence for humans; valid during the call */
};

typedef void (*pn_pool_event_fn)(void *arg, const struct pn_pool_event *ev);

/* Completion of pn_buf_alloc_async(): buf is the buffer, or NULL with err
 * -ETIMEDOUT (queue timeout) or -ECANCELED (pool destroyed). */
typedef void (*pn_buf_cb)(void *arg, void *buf, int err);

/*
 * Options for pn_pool_create(). Zero means "the default" for every field.
 * sz is sizeof(struct pn_pool_opts) as the caller compiled it, so the
 * struct can grow (fields are only ever appended): with a smaller sz (an
 * older header) the fields past it take their defaults; with a larger sz
 * (a newer header) every byte past the fields this library knows must be
 * zero, or pn_pool_create() fails with E2BIG instead of ignoring an
 * option. Zero the whole struct (a designated initializer or memset).
 */
struct pn_pool_opts {
	size_t sz; /* sizeof(struct pn_pool_opts) */
	const char *name; /* shown by tools; default "pool" */
	struct io_uring *
		ring; /* ring whose buffer table the pool owns; NULL: own ring */
	unsigned int
		max_slots; /* registered-table size to create (default 1024, max 16384) */
	unsigned int
		nclasses; /* entries in classes; 0: defaults (2 KiB .. 256 KiB) */
	const struct pn_pool_class *classes; /* ascending buf_size */
	size_t wall_bytes; /* pool-wide pinned maximum; 0: sum of partition walls */
	bool fallback; /* 000 [0038]: serve from a larger class when one is at its wall */
	bool no_thp; /* do not ask for transparent huge pages on blocks */
	unsigned int
		wait_ms; /* pn_buf_alloc() at the wall: wait this long (CLOCK_MONOTONIC) for a free from another thread */
	unsigned int
		queue_timeout_ms; /* async requests waiting longer are refused; 0 never */
	unsigned int
		grow_wait_ms; /* a grow waits this long (CLOCK_MONOTONIC) for the process budget */
	enum pn_release_policy
		release; /* 0 is PN_RELEASE_NONE; pn_pool_config_init() picks IDLE */
	unsigned int sample_ms; /* release sample period (001: 60000) */
	unsigned int idle_ms; /* idle period (001: 300000) */
	unsigned int
		release_max; /* blocks released per sample: 0 = 1 as in 001; UINT_MAX all */
	unsigned int
		peak_window_ms; /* PN_RELEASE_PEAK window; default 10 samples */
	unsigned int leak_timeout_ms; /* 000 block 410; default 30000 */
	enum pn_leak_policy leak_policy; /* default PN_LEAK_REFUSE */
	bool underuse_shrink; /* answer an underuse event with a shrink */
	bool psi; /* shrink on memory pressure from /proc/pressure/memory */
	unsigned int
		psi_stall_us; /* PSI trigger: stall per window (default 150000) */
	unsigned int
		psi_window_us; /* PSI trigger window (default 2000000: unprivileged triggers need whole 2 s) */
	const char *
		stats_dir; /* counters file folder; default /run/pinnet; "" none */
	pn_pool_event_fn on_event; /* slow-path events; may be NULL */
	void *event_arg; /* passed to on_event */
	bool eager_free; /* a released block's pages: MADV_DONTNEED (resident
			    memory drops at once) instead of MADV_FREE (the
			    kernel takes them when it needs them; a regrow
			    before that reuses them without zeroing) */
	unsigned int
		forecast_halflife_ms; /* PN_RELEASE_FORECAST: half-life of the decaying average and deviation; default 4 samples */
	unsigned int
		forecast_headroom_pct; /* PN_RELEASE_FORECAST: headroom, percent of the mean deviation; default 200 (2 deviations) */
};

/*
 * pn_pool_create - reserve every partition's address space, register the
 * base blocks and publish the counters file.
 *
 * With opts->ring NULL the pool creates and owns a ring. With a ring, the
 * caller keeps owning it, must not have registered buffers on it, and must
 * hand the pool every CQE whose user_data has PN_POOL_TAG_PREFIX
 * (pn_pool_handle_cqe()); the ring must outlive the pool.
 *
 * opts, its classes array and name are copied and stats_dir is read only
 * during the call: the caller may free them afterwards. ring and event_arg
 * stay the caller's.
 *
 * Returns the pool, owned by the caller (pn_pool_destroy()), or NULL with
 * errno: EINVAL (bad options, or sz below sizeof(size_t)), E2BIG (a
 * non-zero byte past the fields this library knows: an option of a newer
 * header), ENOMEM (address space or a budget), or the ring's registration
 * error; pn_pool_last_error(NULL) says which.
 */
struct pn_pool *pn_pool_create(const struct pn_pool_opts *opts);

/*
 * pn_pool_destroy - refuse queued requests (-ECANCELED), unregister and
 * return every block, remove the counters file. Buffers still out are
 * reported as leaks (PN_EV_LEAK) and become invalid. No I/O may still use
 * pool buffers. NULL is a no-op. Later calls on the pool fail with -EBADF.
 */
void pn_pool_destroy(struct pn_pool *pool);

/*
 * pn_pool_last_error - the sentence describing the latest error on this
 * thread (create) or pool; never NULL; owned by the pool/thread.
 */
const char *pn_pool_last_error(const struct pn_pool *pool);

/*
 * pn_pool_stats_path - the path of the pool's counters file
 * (pinnet/pool_stats.h), or "" when its counters are kept private (no
 * stats_dir, or the file could not be made); never NULL. Owned by the pool.
 */
const char *pn_pool_stats_path(const struct pn_pool *pool);

/*
 * pn_buf_alloc - a buffer of at least size bytes (rounded up to its class,
 * 001), lowest free address first. owner is a tag the caller chooses (a
 * connection id, say) that leak reports show.
 *
 * Returns the buffer, owned by the caller until pn_buf_free(), or NULL with
 * errno: EINVAL (size 0 or above the largest class), EBADF (destroyed pool),
 * ENOBUFS (at the wall and nothing freed within wait_ms; the message names
 * the wall), or the error of a refused grow.
 */
void *pn_buf_alloc(struct pn_pool *pool, size_t size, uint32_t owner);

/*
 * pn_buf_alloc_async - like pn_buf_alloc() but at the wall the request is
 * queued FIFO (001 steps 506-516) and served by a later free.
 *
 * Returns 0 when cb was already called with a buffer, 1 when the request is
 * queued (cb runs later, from pn_buf_free() or pn_pool_poll() on the owner
 * thread), or -errno (EINVAL, EBADF, ENOMEM) with cb not called.
 */
int pn_buf_alloc_async(struct pn_pool *pool, size_t size, uint32_t owner,
		       pn_buf_cb cb, void *arg);

/*
 * pn_pool_attach - make the calling thread the pool's owner (the thread
 * whose calls the rules above allow), to hand a pool from one thread to
 * another. The previous owner must have made its last call before, with
 * a happens-before edge to this one (a mutex, a join, a queue). Returns 0
 * or -EINVAL.
 */
int pn_pool_attach(struct pn_pool *pool);

/*
 * pn_buf_free - give a buffer back (000 FIG. 9). Safe from any thread.
 *
 * Returns 0, or -errno without touching the pool's state: EBADF (destroyed
 * pool), EINVAL (not a buffer this pool gave out), EALREADY (double free),
 * ESTALE (the buffer's block was released or its buffer reclaimed as
 * leaked). Each error also counts in the partition's errors counter. From a
 * thread other than the owner the checks happen when the owner applies the
 * free, and only the counter records them.
 */
int pn_buf_free(struct pn_pool *pool, void *buf);

/* Where a buffer lives, for fixed-buffer I/O on the pool's ring. */
struct pn_buf_info {
	void *addr; /* start of the buffer */
	uint32_t size; /* the class size: usable bytes from addr */
	uint32_t slot; /* buf_index for read_fixed/write_fixed */
	uint32_t owner; /* owner tag given at allocation */
	uint32_t block; /* block index within its partition */
};

/*
 * pn_buf_lookup - the buffer that contains addr (any byte inside it).
 * Returns 0 and fills info, or -EINVAL (not in a live buffer of this pool),
 * -EBADF (destroyed pool).
 */
int pn_buf_lookup(const struct pn_pool *pool, const void *addr,
		  struct pn_buf_info *info);

/*
 * pn_pool_owns - is p inside the pool's reserved address range? A cheap
 * range check (no buffer state); also answers for a destroyed pool, so a
 * late free can tell pool memory from heap memory.
 */
bool pn_pool_owns(const struct pn_pool *pool, const void *p);

/* pn_pool_ring - the ring whose buffer table holds the pool's blocks. */
struct io_uring *pn_pool_ring(const struct pn_pool *pool);

/*
 * pn_pool_poll - the pool's periodic work; call it from the owner's loop
 * (every few ms; at least once per sample period): applies frees from other
 * threads, grows partitions at their low-water mark, reaps tag CQEs when the
 * pool owns its ring, times out queued requests, declares leaks, runs the
 * release policy and reacts to memory pressure.
 * Returns the number of events handled, or -EBADF.
 */
int pn_pool_poll(struct pn_pool *pool);

/*
 * pn_pool_handle_cqe - for a caller-owned ring: returns true (and consumes
 * it) when cqe is one of the pool's tag completions, false otherwise.
 */
bool pn_pool_handle_cqe(struct pn_pool *pool, const struct io_uring_cqe *cqe);

/*
 * pn_pool_grow - register one more block in the partition serving buf_size
 * (000 FIG. 8); a draining block, if there is one, serves again instead.
 * Returns 0, or -errno: EINVAL (no such class), ENOSPC (the partition or
 * pool wall, or no registered-buffer slot left), EDQUOT (process budget),
 * ENOMEM (RLIMIT_MEMLOCK or the kernel refused to pin), EBADF (destroyed
 * pool); pn_pool_last_error() names the limit.
 */
int pn_pool_grow(struct pn_pool *pool, size_t buf_size);

/*
 * pn_pool_shrink - move the partition's boundary down so that at most
 * keep_bytes stay pinned (never below the base block): blocks above it drain
 * and are released once empty and confirmed by the kernel (000 FIG. 10).
 * Returns the number of blocks set draining, or -EINVAL (no such class),
 * -EBADF (destroyed pool).
 */
int pn_pool_shrink(struct pn_pool *pool, size_t buf_size, size_t keep_bytes);

/*
 * pn_pool_pressure - the host needs memory (000 [0045]): every partition
 * shrinks to what its buffers in use need. Called on PSI events when
 * opts.psi is set. Returns blocks set draining, or -EBADF.
 */
int pn_pool_pressure(struct pn_pool *pool);

/*
 * pn_pool_psi_fd - the PSI trigger file descriptor (POLLPRI when memory
 * pressure crosses the trigger) for the caller's own event loop, or -1.
 */
int pn_pool_psi_fd(const struct pn_pool *pool);

/* A snapshot of one partition's counters (pn_pool_stats()). Fields are only
 * ever appended: pn_pool_stats() takes the caller's sizeof. */
struct pn_pool_part_stats {
	uint32_t buf_size;
	uint32_t blocks_active; /* serving allocations (below the boundary) */
	uint32_t blocks_draining; /* above the boundary, buffers still out */
	uint32_t blocks_releasing; /* unregistered, waiting for the tag CQE */
	uint64_t pinned_bytes; /* registered and not yet confirmed released */
	uint64_t in_use; /* buffers out */
	uint64_t free; /* buffers free below the boundary */
	uint64_t high_water; /* most buffers out at once */
	uint64_t grows, grow_refused, drains;
	/* by reason, PN_REASON_API .. PN_REASON_DESTROY (the struct's first
	 * version: the array keeps its size); PN_REASON_FORECAST's count is
	 * releases_forecast */
	uint64_t releases[PN_REASON_DESTROY + 1];
	uint64_t queued, dequeued, queue_len, waits, refusals, leaks, errors;
	uint64_t underuse;
	uint64_t releases_forecast; /* blocks released by PN_RELEASE_FORECAST */
	uint64_t forecast; /* buffers the forecast of PN_RELEASE_FORECAST
			      keeps (average + headroom, before low_water),
			      kept whatever the policy; 0 before the first
			      sample */
};

/*
 * pn_pool_stats - copy partition i's counters (i < pn_pool_nparts()) into
 * st, which the caller owns; the pool keeps nothing of it.
 *
 * sz is sizeof(*st) as the caller compiled it, so the struct can grow: the
 * first min(sz, sizeof here) bytes are filled, and bytes past those (fields
 * of a newer header this library does not have) are set to zero. sz must
 * cover at least the struct's first version (every field up to underuse),
 * which catches sz 0 and sizeof a pointer.
 *
 * Returns 0, or -errno with st untouched: EINVAL (no such partition, st
 * NULL, sz too small), EBADF (destroyed pool).
 */
int pn_pool_stats(const struct pn_pool *pool, unsigned int i,
		  struct pn_pool_part_stats *st, size_t sz);

/* pn_pool_nparts - the number of partitions (0 for a destroyed pool). */
unsigned int pn_pool_nparts(const struct pn_pool *pool);

/* pn_pool_pinned - bytes the pool has registered and not yet released. */
size_t pn_pool_pinned(const struct pn_pool *pool);

/*
 * pn_budget_set - the process-wide budget of pinned bytes shared by all
 * pools (0: none). Grows beyond it wait grow_wait_ms for another pool to
 * release, then fail with -EDQUOT. Returns 0.
 */
int pn_budget_set(size_t bytes);

/* pn_budget_used - pinned bytes of all pools in this process. */
size_t pn_budget_used(void);

#ifdef __cplusplus
}
#endif

#endif /* PINNET_POOL_H */
