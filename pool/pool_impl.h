/* SPDX-License-Identifier: MIT */
/*
 * Private to pool/: the pool's data structures. Nothing outside pool/
 * includes this file.
 */
#ifndef PINNET_POOL_IMPL_H
#define PINNET_POOL_IMPL_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pinnet/pool.h"
#include "pinnet/pool_stats.h"

#define POOL_MAGIC 0x706e706f6f6c2121ull /* live */
#define POOL_DEAD 0x706e646561642121ull /* destroyed */
/* The allocation fast path compares the low half only (one instruction
 * instead of two); its slow path checks the whole magic. */
#define POOL_LIVE32 ((uint32_t)POOL_MAGIC)
_Static_assert((uint32_t)POOL_MAGIC != (uint32_t)POOL_DEAD && POOL_LIVE32 != 0,
	       "a destroyed or zeroed pool must fail the fast path's test");

/* part.flags[]: meaningful only outside active blocks, where the bitmap
 * says nothing (an active block's buffer is out iff its free bit is clear) */
#define BUF_ALLOCATED 1u /* out with a user (set when its block drains) */
#define BUF_RECLAIMED 2u /* declared leaked and taken back (000 block 412) */

/* Per buffer: who holds it and since when (leak reports, lifetimes). One
 * 8-byte store on the allocation fast path. */
struct bufmeta {
	uint32_t owner; /* owner tag from the allocation */
	uint32_t tick; /* pool ms clock at allocation (wraps after 49 days) */
};

/* Per block (001 FIG. 4 Buddy_t); the counters live in the stats file. */
struct block {
	uint32_t first; /* first buffer index in the partition */
	uint32_t nbufs; /* buffers in the block */
	uint32_t slot; /* registered-table slot while registered */
	uint32_t gen; /* registration generation: part of the tag */
	int reason; /* why it is draining/releasing (pn_release_reason) */
	bool own_vma; /* marked so its mapping never merges (block_grow()) */
};

/* An async allocation waiting at the wall (001 steps 508/516). */
struct req {
	struct req *next;
	pn_buf_cb cb;
	void *arg;
	uint32_t owner;
	uint64_t since_ms; /* pool clock when queued */
};

/* One partition (000 FIG. 6 row): buffers of one size. The fields the
 * allocation and free fast paths read come first: the first two cache
 * lines of a line-aligned struct. */
struct part {
	uint64_t *map; /* free bits: 1 = free and allocatable; + a 0 word */
	struct bufmeta *meta; /* one per buffer of the whole partition */
	uint64_t *wtick; /* per map word: pool clock at its last allocation */
	struct pn_stats_part *st; /* live counters (stats file) */
	char *base; /* first byte of the partition's reservation */
	struct req *qhead, *qtail; /* FIFO at the wall */
	uint64_t alloc_watch; /* in_use reaching this: high/low-water work */
	uint64_t free_watch; /* in_use at or below this: free is not simple */
	uint64_t act_hi; /* buffer index past blocks 0..nact-1: a free
			    below it needs no block state check */
	uint32_t hint; /* no free bit below this word */
	uint32_t buf_shift; /* log2(buf_size) */
	uint32_t buf_size; /* class size */
	uint32_t nact; /* blocks 0 .. nact-1 are all active */
	uint32_t nwords; /* bitmap words up to the highest block committed */
	uint32_t nbufs_hi; /* buffer index past the highest block committed */
	uint32_t base_bufs; /* buffers in block 0 */
	uint32_t add_bufs; /* buffers in each additional block */
	int add_shift; /* log2(add_bufs), or -1 when not a power of two */
	uint32_t max_blocks; /* blocks up to the wall */
	unsigned int idx; /* partition index */
	struct pn_stats_block *bst; /* live block records (stats file) */
	struct block *blocks; /* max_blocks entries */
	uint8_t *flags; /* BUF_* per buffer, for blocks that are not active */
	char *book; /* one mapping holding map, wtick and meta */
	size_t book_len;
	uint64_t active_cap; /* buffers in active blocks */
	uint64_t draining_in_use; /* buffers out in draining blocks */
	uint64_t low_mark; /* in_use >= this: at the low-water mark */
	uint64_t under_mark; /* in_use < this: underuse (0: never) */
	uint64_t low_water; /* grow ahead at or below this many free */
	uint64_t underuse_free; /* UINT64_MAX when off */
	uint64_t sample_hw; /* most in use since the last sample */
	uint64_t *peak; /* PEAK policy: per-sample maxima, a ring */
	unsigned int npeak; /* entries in peak */
	unsigned int peak_pos; /* next entry to write */
	double fc_mean; /* FORECAST: decaying average of sample peaks */
	double fc_dev; /* FORECAST: decaying mean deviation from it */
	bool fc_ready; /* FORECAST: the first sample has set both */
	bool grow_pending; /* low water crossed: grow in pn_pool_poll() */
	bool underuse_raised; /* edge-trigger for underuse events */
	bool underuse_shrink_pending; /* host answer to underuse, in poll */
} __attribute__((aligned(64)));

/* One pool; the fields of the fast paths fill the first cache line. */
struct pn_pool {
	uint64_t magic; /* POOL_MAGIC or POOL_DEAD */
	const char *owner_mark; /* owner thread's TLS marker; NULL once dead */
	char *region; /* the whole reservation */
	size_t region_len;
	uint64_t now_ms; /* pool clock, refreshed by poll and slow paths */
	uint64_t span_bytes; /* each partition's reservation span */
	uint32_t span_shift; /* log2(span_bytes) */
	unsigned int nparts;
	int8_t class_part[40]; /* log2(size class) -> partition, -1 none */
	struct io_uring *ring;
	struct io_uring own_ring;
	bool owns_ring;
	uint32_t *slot_map; /* slot -> (part << 16 | block) + 1; 0 free */
	unsigned int max_slots;
	unsigned int slots_used;
	struct pn_pool_opts o; /* options with defaults filled in */
	struct pn_pool_class classes[PN_POOL_MAX_CLASSES]; /* o.classes: ours */
	char name[32];
	struct pn_stats_header *sh; /* stats file mapping */
	size_t sh_len;
	char sh_path[128]; /* "" when anonymous */
	uint64_t id;
	uint64_t next_sample_ms;
	uint64_t next_psi_ms;
	uint64_t next_publish_ms; /* block in-use counts refresh */
	double fc_weight; /* FORECAST: weight of a new sample, from the half-life */
	int psi_fd;
	bool has_ipc_lock;
	unsigned int releasing; /* blocks waiting for their tag CQE */
	_Atomic(void *) remote; /* frees from other threads (Treiber stack) */
	atomic_uint waiters; /* owner waiting in pn_buf_alloc() */
	pthread_mutex_t mu; /* only for waiting at the wall */
	pthread_cond_t cv;
	char err[256]; /* pn_pool_last_error() */
	struct pn_pool *grave_next; /* destroyed pools stay findable */
	/* the partitions, nparts of them, inside the pool: the fast paths
	 * find one by address arithmetic on the pool, with no pointer to load
	 * first (one dependent load less on every allocation and free) */
	struct part parts[PN_POOL_MAX_CLASSES];
} __attribute__((aligned(64)));

/* config.c: what a pool without classes gets */
#define POOL_NDEFAULT_CLASSES 6
extern const struct pn_pool_class pool_default_classes[POOL_NDEFAULT_CLASSES];

/* pool.c */
uint64_t pool_clock_ms(void);
int pool_cond_init(pthread_cond_t *cv);
void pool_deadline(struct timespec *ts, unsigned int ms);
void pool_emit(struct pn_pool *pool, struct part *p,
	       enum pn_pool_event_type type, uint32_t block, uint64_t bytes,
	       void *addr, uint32_t owner, uint64_t age_ms, int reason,
	       int err);
int pool_seterr(struct pn_pool *pool, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pool_serve_queue(struct pn_pool *pool, struct part *p);
int pool_expire_queue(struct pn_pool *pool, struct part *p);
void pool_apply_remote(struct pn_pool *pool);

/* blocks.c: grow, drain, release, policies (000 FIG. 8/10, 001 FIG. 5/6) */
int block_grow(struct pn_pool *pool, struct part *p);
void block_drain(struct pn_pool *pool, struct part *p, uint32_t b, int reason);
void block_unregister(struct pn_pool *pool, struct part *p, uint32_t b);
int blocks_release_all(struct pn_pool *pool);
bool block_tag_cqe(struct pn_pool *pool, uint64_t tag);
int part_shrink(struct pn_pool *pool, struct part *p, uint64_t keep_bytes,
		int reason);
void budget_release(size_t bytes);

/* The block a buffer index belongs to: block 0 is the base block. */
static inline uint32_t block_of(const struct part *p, uint32_t idx)
{
	if (idx < p->base_bufs)
		return 0;
	idx -= p->base_bufs;
	return 1 +
	       (p->add_shift >= 0 ? idx >> p->add_shift : idx / p->add_bufs);
}

/* Is buffer idx out with a user? */
static inline bool buf_is_out(const struct part *p, uint32_t idx)
{
	if (p->bst[block_of(p, idx)].state == PN_BLOCK_ACTIVE)
		return !(p->map[idx / 64] & (1ull << (idx % 64)));
	return p->flags[idx] & BUF_ALLOCATED;
}

/* The fast paths compare in_use with one threshold each instead of testing
 * every condition: an allocation that brings in_use to alloc_watch may set
 * a new high water or cross the low-water mark; a free with in_use at or
 * below free_watch may cross the underuse mark or has a queue to serve.
 * Recomputed whenever sample_hw, the marks or the queue change. */
static inline void part_update_watch(struct part *p)
{
	uint64_t hw = p->sample_hw + 1;

	p->alloc_watch = hw < p->low_mark ? hw : p->low_mark;
	p->free_watch = p->qhead ? UINT64_MAX : p->under_mark;
}

/* blocks.c */
uint64_t block_in_use(const struct part *p, uint32_t b);
uint64_t block_last_alloc(const struct pn_pool *pool, struct part *p,
			  uint32_t b);
void part_update_marks(struct part *p);
uint64_t forecast_keep(const struct pn_pool *pool, const struct part *p);
void pool_publish(struct pn_pool *pool);

/* stats.c: the counters file */
int stats_open(struct pn_pool *pool);
void stats_close(struct pn_pool *pool);

static inline void *buf_addr(const struct part *p, uint64_t idx)
{
	return p->base + (idx << p->buf_shift);
}

#endif
