/* SPDX-License-Identifier: MIT */
/*
 * Blocks: growing the registered part of a partition (000 FIG. 8, 001 steps
 * 514-520), draining and releasing blocks (000 FIG. 10), the kernel's tag
 * CQE as the release confirmation, the host budget, and the release
 * policies run from pn_pool_poll() (001 FIG. 6 and a recent-peak policy).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "export.h"
#include "pool_impl.h"
#include "probes.h"

/* ---- the host budget (000 FIG. 8 blocks 302-306) ----------------------- */

/* Process-wide: pinned bytes of all pools, and the optional budget. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC: set up by budget_init() */
	int cv_err; /* -errno if cv could not be set up */
	size_t limit; /* 0: no budget */
	size_t used; /* pinned by all pools of this process */
} budget = { .mu = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t budget_once = PTHREAD_ONCE_INIT;

/* A static initializer would give cv the wall clock: set it up once, before
 * its first use, with the monotonic clock of pool_cond_init(). */
static void budget_init(void)
{
	budget.cv_err = pool_cond_init(&budget.cv);
}

PN_EXPORT int pn_budget_set(size_t bytes)
{
	pthread_once(&budget_once, budget_init);
	pthread_mutex_lock(&budget.mu);
	budget.limit = bytes;
	pthread_cond_broadcast(&budget.cv);
	pthread_mutex_unlock(&budget.mu);
	return 0;
}

PN_EXPORT size_t pn_budget_used(void)
{
	size_t u;

	pthread_mutex_lock(&budget.mu);
	u = budget.used;
	pthread_mutex_unlock(&budget.mu);
	return u;
}

void budget_release(size_t bytes)
{
	pthread_once(&budget_once, budget_init);
	pthread_mutex_lock(&budget.mu);
	budget.used -= bytes;
	pthread_cond_broadcast(&budget.cv);
	pthread_mutex_unlock(&budget.mu);
}

/* Ask the host for bytes: granted at once, after waiting up to
 * grow_wait_ms for another pool to release (block 306), or refused. */
static int budget_take(struct pn_pool *pool, struct part *p, size_t bytes)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	struct timespec ts;
	int rc = 0;

	pthread_once(&budget_once, budget_init);
	if (budget.cv_err)
		return pool_seterr(
			pool, -budget.cv_err,
			"class %u: budget wait: pthread_cond_init: %s",
			p->buf_size, strerror(-budget.cv_err));
	if (!pool->has_ipc_lock)
		getrlimit(RLIMIT_MEMLOCK, &rl);
	pool_deadline(&ts, pool->o.grow_wait_ms);
	pthread_mutex_lock(&budget.mu);
	if (rl.rlim_cur != RLIM_INFINITY && budget.used + bytes > rl.rlim_cur) {
		rc = pool_seterr(
			pool, ENOMEM,
			"class %u: RLIMIT_MEMLOCK reached: %zu bytes pinned + %zu > limit %llu (no CAP_IPC_LOCK; raise ulimit -l or grant CAP_IPC_LOCK)",
			p->buf_size, budget.used, bytes,
			(unsigned long long)rl.rlim_cur);
		goto out;
	}
	while (budget.limit && budget.used + bytes > budget.limit) {
		if (!pool->o.grow_wait_ms ||
		    pthread_cond_timedwait(&budget.cv, &budget.mu, &ts) ==
			    ETIMEDOUT) {
			if (budget.limit &&
			    budget.used + bytes > budget.limit) {
				rc = pool_seterr(
					pool, EDQUOT,
					"class %u: process budget reached: %zu bytes pinned + %zu > budget %zu (waited %u ms)",
					p->buf_size, budget.used, bytes,
					budget.limit, pool->o.grow_wait_ms);
				goto out;
			}
		}
	}
	budget.used += bytes;
out:
	pthread_mutex_unlock(&budget.mu);
	return rc;
}

/* ---- helpers ------------------------------------------------------------- */

/* Buffers i .. end-1 that share i's bitmap word: returns how many, with
 * their bits in that word in *mask (so loops go a word at a time). */
static inline uint32_t word_run(uint32_t i, uint32_t end, uint64_t *mask)
{
	uint32_t k = end - i < 64 - i % 64 ? end - i : 64 - i % 64;

	*mask = k == 64 ? ~0ull : ((1ull << k) - 1) << (i % 64);
	return k;
}

static void set_bits(uint64_t *map, uint32_t first, uint32_t n)
{
	uint64_t mask;

	for (uint32_t i = first, k; i < first + n; i += k) {
		k = word_run(i, first + n, &mask);
		map[i / 64] |= mask;
	}
}

static void clear_bits(uint64_t *map, uint32_t first, uint32_t n)
{
	uint64_t mask;

	for (uint32_t i = first, k; i < first + n; i += k) {
		k = word_run(i, first + n, &mask);
		map[i / 64] &= ~mask;
	}
}

static size_t block_bytes(const struct part *p, uint32_t b)
{
	return (size_t)p->blocks[b].nbufs << p->buf_shift;
}

static void set_state(struct pn_pool *pool, struct part *p, uint32_t b,
		      enum pn_block_state s)
{
	p->bst[b].state = s;
	p->bst[b].state_ms = pool->now_ms;
	/* the run of active blocks from block 0: a free below act_hi needs no
	 * state check (blocks grow upwards and shrink from the top, so it is
	 * usually every block that is active) */
	if (s != PN_BLOCK_ACTIVE && b < p->nact)
		p->nact = b;
	while (p->nact < p->max_blocks &&
	       p->bst[p->nact].state == PN_BLOCK_ACTIVE)
		p->nact++;
	p->act_hi = p->nact ? p->blocks[p->nact - 1].first +
				      p->blocks[p->nact - 1].nbufs :
			      0;
}

static int refuse_grow(struct pn_pool *pool, struct part *p, size_t bytes,
		       int err)
{
	p->st->grow_refused++;
	PN_PROBE(grow_refused, p->buf_size, bytes, err);
	pool_emit(pool, p, PN_EV_GROW_REFUSED, UINT32_MAX, bytes, NULL, 0, 0, 0,
		  err);
	return err;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The low-water and underuse thresholds as in-use counts, so the fast
 * paths compare one counter; recomputed whenever capacity changes. */
void part_update_marks(struct part *p)
{
	uint64_t cap = p->active_cap + p->draining_in_use;

	p->low_mark = cap > p->low_water ? cap - p->low_water : 0;
	p->under_mark = cap > p->underuse_free ? cap - p->underuse_free : 0;
	p->st->free = cap - p->st->in_use;
	part_update_watch(p);
}

/* Buffers out in block b: an active block's are its clear free bits. */
uint64_t block_in_use(const struct part *p, uint32_t b)
{
	const struct block *bl = &p->blocks[b];
	uint32_t i = bl->first, end = bl->first + bl->nbufs;
	uint64_t nfree = 0;

	if (p->bst[b].state != PN_BLOCK_ACTIVE)
		return p->bst[b].in_use;
	while (i < end) {
		uint32_t n = end - i < 64 - i % 64 ? end - i : 64 - i % 64;
		uint64_t mask = n == 64 ? ~0ull : ((1ull << n) - 1) << (i % 64);

		nfree += (uint64_t)__builtin_popcountll(p->map[i / 64] & mask);
		i += n;
	}
	return bl->nbufs - nfree;
}

/* 001 TimeStamp: when block b last gave out a buffer. The allocation fast
 * path stamps only the bitmap word it took from (one store, no block
 * lookup); this folds those stamps into the block's record. A word wholly
 * inside the block gives its stamp; a word shared with other blocks (blocks
 * of fewer than 64 buffers, or not 64-aligned) is resolved with the
 * per-buffer ticks of the block's own buffers. Returns the time and keeps
 * it in the stats file. */
uint64_t block_last_alloc(const struct pn_pool *pool, struct part *p,
			  uint32_t b)
{
	const struct block *bl = &p->blocks[b];
	uint32_t i = bl->first, end = bl->first + bl->nbufs;
	uint32_t now32 = (uint32_t)pool->now_ms;
	uint64_t t = p->bst[b].last_alloc_ms;

	while (i < end) {
		uint32_t n = end - i < 64 - i % 64 ? end - i : 64 - i % 64;
		uint64_t wt = p->wtick[i / 64];

		if (wt > t && n == 64) {
			t = wt;
		} else if (wt > t) {
			/* the tick is the clock's low 32 bits: its age */
			for (uint32_t j = i; j < i + n; j++) {
				uint32_t age = now32 - p->meta[j].tick;
				uint64_t bt = pool->now_ms - age;

				if (bt > t && bt <= wt)
					t = bt;
			}
		}
		i += n;
	}
	p->bst[b].last_alloc_ms = t;
	return t;
}

/* Refresh what the fast paths leave to the poll: per-block in-use counts
 * and last-allocation times of active blocks and the partition's free
 * count. */
void pool_publish(struct pn_pool *pool)
{
	for (unsigned int i = 0; i < pool->nparts; i++) {
		struct part *p = &pool->parts[i];

		for (uint32_t b = 0; b < p->max_blocks; b++)
			if (p->bst[b].state == PN_BLOCK_ACTIVE) {
				p->bst[b].in_use = block_in_use(p, b);
				block_last_alloc(pool, p, b);
			}
		p->st->free =
			p->active_cap + p->draining_in_use - p->st->in_use;
	}
	pool->sh->updated_ms = pool->now_ms;
}

/* A draining block serves allocations again (the boundary moves back up). */
static void reactivate(struct pn_pool *pool, struct part *p, uint32_t b)
{
	struct block *bl = &p->blocks[b];
	uint32_t nfree = 0;

	for (uint32_t i = bl->first; i < bl->first + bl->nbufs; i++) {
		if (!(p->flags[i] & BUF_ALLOCATED)) {
			p->map[i / 64] |= 1ull << (i % 64);
			nfree++;
		}
	}
	if (bl->first / 64 < p->hint)
		p->hint = bl->first / 64;
	p->active_cap += bl->nbufs;
	p->draining_in_use -= bl->nbufs - nfree;
	p->st->boundary_bytes += block_bytes(p, b);
	set_state(pool, p, b, PN_BLOCK_ACTIVE);
	part_update_marks(p);
}

/* ---- grow: 000 FIG. 8, 001 step 518 -------------------------------------- */

int block_grow(struct pn_pool *pool, struct part *p)
{
	const struct pn_pool_class *c = &pool->o.classes[p->idx];
	struct pn_stats_block *bs;
	struct block *bl;
	struct iovec iov;
	__u64 tag;
	uint32_t b, slot;
	size_t bytes;
	int64_t t0 __attribute__((unused)) = now_ns(); /* probe only */
	char *addr;
	int rc;

	pool->now_ms = pool_clock_ms();
	/* the lowest block not serving: a draining one comes back for free */
	for (b = 0; b < p->max_blocks; b++) {
		uint64_t s = p->bst[b].state;

		if (s == PN_BLOCK_DRAINING) {
			reactivate(pool, p, b);
			return 0;
		}
		if (s == PN_BLOCK_UNUSED || s == PN_BLOCK_RELEASED)
			break;
	}
	if (b == p->max_blocks) {
		pool_seterr(pool, ENOSPC,
			    "class %u: partition wall reached: %" PRIu64
			    " of %zu bytes pinned in %u blocks",
			    p->buf_size, p->st->pinned_bytes, c->wall_bytes,
			    p->max_blocks);
		return refuse_grow(pool, p, 0, -ENOSPC);
	}
	bl = &p->blocks[b];
	bs = &p->bst[b];
	bytes = block_bytes(p, b);
	addr = buf_addr(p, bl->first);
	if (p->st->pinned_bytes + bytes > c->wall_bytes) {
		pool_seterr(pool, ENOSPC,
			    "class %u: partition wall reached: %" PRIu64
			    " + %zu bytes > wall %zu",
			    p->buf_size, p->st->pinned_bytes, bytes,
			    c->wall_bytes);
		return refuse_grow(pool, p, bytes, -ENOSPC);
	}
	if (pool->sh->pinned_bytes + bytes > pool->o.wall_bytes) {
		pool_seterr(pool, ENOSPC,
			    "class %u: pool wall reached: %" PRIu64
			    " + %zu bytes > pool wall %zu",
			    p->buf_size, pool->sh->pinned_bytes, bytes,
			    pool->o.wall_bytes);
		return refuse_grow(pool, p, bytes, -ENOSPC);
	}
	if (pool->slots_used >= pool->max_slots) {
		pool_seterr(
			pool, ENOSPC,
			"class %u: all %u registered-buffer slots in use (max_slots)",
			p->buf_size, pool->max_slots);
		return refuse_grow(pool, p, bytes, -ENOSPC);
	}
	rc = budget_take(pool, p, bytes);
	if (rc)
		return refuse_grow(pool, p, bytes, rc);

	/* Odd blocks carry MADV_RANDOM, so no two neighbouring blocks share
	 * a mapping: releasing one then changes the protection of a mapping
	 * of its own instead of splitting it off its neighbour's, and growing
	 * it again merges nothing (measured on a 2 MiB THP block: mprotect
	 * 1.3 instead of 2.0 us each way). MADV_RANDOM only turns off swap
	 * readahead and reclaim's use of the accessed bit for the range:
	 * pool memory is pinned while registered and lazily freed once
	 * released, never swapped in. Each such block is one more mapping of
	 * the process (65530 by default), so only partitions of up to 1024
	 * blocks do it. Set once; the flag outlives protection changes. */
	if ((b & 1) && !bl->own_vma && p->max_blocks <= 1024)
		bl->own_vma = !madvise(addr, bytes, MADV_RANDOM);
	/* commit: below the boundary now, pre-touched, huge pages if we can */
	if (mprotect(addr, bytes, PROT_READ | PROT_WRITE)) {
		rc = pool_seterr(pool, ENOMEM, "class %u: mprotect: %s",
				 p->buf_size, strerror(errno));
		goto err_budget;
	}
	if (!pool->o.no_thp)
		madvise(addr, bytes, MADV_HUGEPAGE);
	for (size_t off = 0; off < bytes; off += 4096)
		((volatile char *)addr)[off] = 0;

	for (slot = 0; slot < pool->max_slots && pool->slot_map[slot]; slot++)
		;
	bl->gen++;
	tag = PN_POOL_TAG_PREFIX | (uint64_t)slot << 32 | bl->gen;
	iov.iov_base = addr;
	iov.iov_len = bytes;
	rc = io_uring_register_buffers_update_tag(pool->ring, slot, &iov, &tag,
						  1);
	if (rc < 0) {
		struct rlimit rl;

		getrlimit(RLIMIT_MEMLOCK, &rl);
		if (rc == -ENOMEM)
			pool_seterr(
				pool, ENOMEM,
				"class %u: the kernel refused to pin %zu bytes: RLIMIT_MEMLOCK (%llu, shared by all of this user's processes)%s",
				p->buf_size, bytes,
				(unsigned long long)rl.rlim_cur,
				pool->has_ipc_lock ? "" :
						     " without CAP_IPC_LOCK");
		else
			pool_seterr(
				pool, -rc,
				"class %u: registering %zu bytes in slot %u: %s",
				p->buf_size, bytes, slot, strerror(-rc));
		goto err_touch;
	}
	pool->slot_map[slot] = (p->idx << 16 | b) + 1;
	pool->slots_used++;
	bl->slot = slot;
	memset(p->flags + bl->first, 0, bl->nbufs);
	set_bits(p->map, bl->first, bl->nbufs);
	if ((bl->first + bl->nbufs + 63) / 64 > p->nwords)
		p->nwords = (bl->first + bl->nbufs + 63) / 64;
	if (bl->first + bl->nbufs > p->nbufs_hi)
		p->nbufs_hi = bl->first + bl->nbufs;
	if (bl->first / 64 < p->hint)
		p->hint = bl->first / 64;
	bs->slot = slot;
	bs->addr = (uintptr_t)addr;
	bs->bytes = bytes;
	bs->in_use = 0;
	bs->last_alloc_ms = pool->now_ms; /* a new block is not idle yet */
	set_state(pool, p, b, PN_BLOCK_ACTIVE);
	p->st->pinned_bytes += bytes;
	p->st->boundary_bytes += bytes;
	p->active_cap += bl->nbufs;
	part_update_marks(p);
	p->st->grows++;
	pool->sh->pinned_bytes += bytes;
	if (pool->sh->pinned_bytes > pool->sh->pinned_high)
		pool->sh->pinned_high = pool->sh->pinned_bytes;
	PN_PROBE(grow, p->buf_size, b, bytes, slot, now_ns() - t0);
	pool_emit(pool, p, PN_EV_GROW, b, bytes, addr, 0, 0, 0, 0);
	return 0;

err_touch:
	madvise(addr, bytes, MADV_DONTNEED);
	mprotect(addr, bytes, PROT_NONE);
err_budget:
	budget_release(bytes);
	return refuse_grow(pool, p, bytes, rc);
}

/* ---- shrink: 000 FIG. 10 ------------------------------------------------- */

/* Block 402: the boundary moves below block b; it serves no allocation. */
void block_drain(struct pn_pool *pool, struct part *p, uint32_t b, int reason)
{
	struct block *bl = &p->blocks[b];
	uint64_t in_use = block_in_use(p, b);

	block_last_alloc(pool, p, b); /* final: it takes no more allocations */
	/* outside active blocks the flags say which buffers are out; a word
	 * with every buffer free (the usual case: blocks drain when idle) is
	 * one memset */
	for (uint32_t i = bl->first, k, end = bl->first + bl->nbufs; i < end;
	     i += k) {
		uint64_t mask, m;

		k = word_run(i, end, &mask);
		m = p->map[i / 64];
		if ((m & mask) == mask) {
			memset(p->flags + i, 0, k);
			continue;
		}
		for (uint32_t j = i; j < i + k; j++)
			p->flags[j] =
				m & (1ull << (j % 64)) ? 0 : BUF_ALLOCATED;
	}
	clear_bits(p->map, bl->first, bl->nbufs);
	p->bst[b].in_use = in_use;
	p->active_cap -= bl->nbufs;
	p->draining_in_use += in_use;
	part_update_marks(p);
	p->st->boundary_bytes -= block_bytes(p, b);
	p->st->drains++;
	bl->reason = reason;
	set_state(pool, p, b, PN_BLOCK_DRAINING);
	PN_PROBE(drain, p->buf_size, b, in_use, reason);
	pool_emit(pool, p, PN_EV_DRAIN, b, block_bytes(p, b), NULL, 0, 0,
		  reason, 0);
	if (!in_use)
		block_unregister(pool, p, b);
}

static int reap_tags(struct pn_pool *pool);

/* Blocks 404-406: no buffer is out; take the block out of the kernel's
 * buffer table. The tag CQE says when no I/O uses it any more. */
void block_unregister(struct pn_pool *pool, struct part *p, uint32_t b)
{
	struct block *bl = &p->blocks[b];
	struct iovec iov = { NULL, 0 };
	__u64 notag = 0;
	int rc;

	rc = io_uring_register_buffers_update_tag(pool->ring, bl->slot, &iov,
						  &notag, 1);
	if (rc < 0) {
		/* stays draining; the next poll's leak check retries */
		pool_seterr(pool, -rc,
			    "class %u block %u: unregistering slot %u: %s",
			    p->buf_size, b, bl->slot, strerror(-rc));
		return;
	}
	set_state(pool, p, b, PN_BLOCK_RELEASING);
	pool->releasing++;
	/* with no I/O holding the slot the kernel has posted the tag CQE
	 * already: on the pool's own ring, take it now, so the release
	 * completes in this call instead of at the next pn_pool_poll() */
	if (pool->owns_ring && io_uring_cq_ready(pool->ring))
		reap_tags(pool);
}

/* The kernel's confirmation: the memory may go back to the system. */
static void block_released(struct pn_pool *pool, struct part *p, uint32_t b)
{
	struct block *bl = &p->blocks[b];
	size_t bytes = block_bytes(p, b);
	char *addr = buf_addr(p, bl->first);

	/* unpinned now: the slot, the counters and the budget first, so a
	 * grow waiting for the budget in another thread goes on while the
	 * pages are handed back below */
	pool->slot_map[bl->slot] = 0;
	pool->slots_used--;
	bl->slot = UINT32_MAX;
	p->bst[b].slot = UINT64_MAX;
	p->bst[b].in_use = 0;
	set_state(pool, p, b, PN_BLOCK_RELEASED);
	p->st->pinned_bytes -= bytes;
	p->st->releases[bl->reason]++;
	pool->sh->pinned_bytes -= bytes;
	pool->releasing--;
	budget_release(bytes);
	/* MADV_FREE by default: the pages are the kernel's to take whenever
	 * it needs memory, and a block grown again before that reuses them;
	 * after MADV_DONTNEED (eager_free) every regrow faults and zeroes
	 * each page again. Then no access reaches them (a stale pointer
	 * faults instead of dirtying a freed page again). */
	madvise(addr, bytes, pool->o.eager_free ? MADV_DONTNEED : MADV_FREE);
	mprotect(addr, bytes, PROT_NONE);
	PN_PROBE(release, p->buf_size, b, bytes, bl->reason);
	pool_emit(pool, p, PN_EV_RELEASE, b, bytes, addr, 0, 0, bl->reason, 0);
}

bool block_tag_cqe(struct pn_pool *pool, uint64_t tag)
{
	uint32_t slot, v, b;
	struct part *p;

	if ((tag & PN_POOL_TAG_MASK) != PN_POOL_TAG_PREFIX)
		return false;
	slot = (uint32_t)(tag >> 32) & 0xffff;
	if (slot >= pool->max_slots || !(v = pool->slot_map[slot]))
		return true;
	p = &pool->parts[(v - 1) >> 16];
	b = (v - 1) & 0xffff;
	if (p->blocks[b].gen == (uint32_t)tag &&
	    p->bst[b].state == PN_BLOCK_RELEASING)
		block_released(pool, p, b);
	return true;
}

PN_EXPORT bool pn_pool_handle_cqe(struct pn_pool *pool,
				  const struct io_uring_cqe *cqe)
{
	if (!pool || pool->magic != POOL_MAGIC || !cqe)
		return false;
	if ((cqe->user_data & PN_POOL_TAG_MASK) != PN_POOL_TAG_PREFIX)
		return false;
	pool->now_ms = pool_clock_ms();
	return block_tag_cqe(pool, cqe->user_data);
}

/* Report every buffer of block b still out as leaked; with reclaim, take
 * them back (000 block 412). Returns how many. */
static int report_leaks(struct pn_pool *pool, struct part *p, uint32_t b,
			bool reclaim)
{
	struct block *bl = &p->blocks[b];
	int n = 0;

	bool draining = p->bst[b].state == PN_BLOCK_DRAINING;

	for (uint32_t i = bl->first; i < bl->first + bl->nbufs; i++) {
		struct bufmeta *m = &p->meta[i];
		uint64_t age = (uint32_t)pool->now_ms - m->tick;

		if (!buf_is_out(p, i))
			continue;
		n++;
		p->st->leaks++;
		pool_seterr(
			pool, 0,
			"class %u block %u: buffer %p (owner %u) out for %" PRIu64
			" ms at the leak timeout",
			p->buf_size, b, buf_addr(p, i), m->owner, age);
		PN_PROBE(leak, p->buf_size, b, buf_addr(p, i), m->owner, age);
		pool_emit(pool, p, PN_EV_LEAK, b, p->buf_size, buf_addr(p, i),
			  m->owner, age, bl->reason, 0);
		if (reclaim) {
			p->st->reclaimed++;
			p->flags[i] = BUF_RECLAIMED;
			p->st->in_use--;
			if (draining) {
				p->bst[b].in_use--;
				p->draining_in_use--;
			}
		}
	}
	return n;
}

/* 000 block 410-412: buffers of a draining block still out after the leak
 * timeout are leaks; the policy refuses the shrink or reclaims them. */
static int leak_check(struct pn_pool *pool, struct part *p, uint32_t b)
{
	bool reclaim = pool->o.leak_policy == PN_LEAK_RECLAIM;
	int n = report_leaks(pool, p, b, reclaim);

	if (reclaim) {
		block_unregister(pool, p, b);
		return n;
	}
	p->st->shrink_refused++;
	PN_PROBE(shrink_refused, p->buf_size, b, p->bst[b].in_use);
	pool_seterr(
		pool, EBUSY,
		"class %u block %u: shrink refused: %d buffers still out after %u ms (leak policy refuse)",
		p->buf_size, b, n, pool->o.leak_timeout_ms);
	pool_emit(pool, p, PN_EV_SHRINK_REFUSED, b, block_bytes(p, b), NULL, 0,
		  0, p->blocks[b].reason, -EBUSY);
	reactivate(pool, p, b);
	return n;
}

int part_shrink(struct pn_pool *pool, struct part *p, uint64_t keep_bytes,
		int reason)
{
	int n = 0;

	pool->now_ms = pool_clock_ms();
	for (uint32_t b = p->max_blocks; b-- > 1;) {
		if (p->st->boundary_bytes <= keep_bytes)
			break;
		if (p->bst[b].state != PN_BLOCK_ACTIVE)
			continue;
		block_drain(pool, p, b, reason);
		n++;
	}
	return n;
}

/* The partition of an API call's class: NULL with errno (and the pool's
 * last error) set for a bad pool or a size that is no class. */
static struct part *part_of_size(struct pn_pool *pool, size_t buf_size)
{
	if (!pool || pool->magic != POOL_MAGIC) {
		errno = EBADF;
		return NULL;
	}
	for (unsigned int i = 0; i < pool->nparts; i++)
		if (pool->parts[i].buf_size == buf_size)
			return &pool->parts[i];
	pool_seterr(pool, EINVAL, "no class of %zu bytes", buf_size);
	errno = EINVAL;
	return NULL;
}

PN_EXPORT int pn_pool_shrink(struct pn_pool *pool, size_t buf_size,
			     size_t keep_bytes)
{
	struct part *p = part_of_size(pool, buf_size);

	return p ? part_shrink(pool, p, keep_bytes, PN_REASON_API) : -errno;
}

PN_EXPORT int pn_pool_grow(struct pn_pool *pool, size_t buf_size)
{
	struct part *p = part_of_size(pool, buf_size);

	return p ? block_grow(pool, p) : -errno;
}

/* 000 [0045]: the rest of the system needs memory: keep what is in use. */
PN_EXPORT int pn_pool_pressure(struct pn_pool *pool)
{
	int n = 0;

	if (!pool || pool->magic != POOL_MAGIC)
		return -EBADF;
	for (unsigned int i = 0; i < pool->nparts; i++) {
		struct part *p = &pool->parts[i];

		uint64_t need = p->st->in_use, keep = p->base_bufs;

		/* the blocks that in-use buffers need, rounded up */
		while (keep < need)
			keep += p->add_bufs;
		n += part_shrink(pool, p, keep << p->buf_shift,
				 PN_REASON_PRESSURE);
	}
	return n;
}

/* Destroy: every block goes; buffers still out are reported as leaks. */
int blocks_release_all(struct pn_pool *pool)
{
	for (unsigned int i = 0; i < pool->nparts; i++) {
		struct part *p = &pool->parts[i];

		for (uint32_t b = 0; b < p->max_blocks; b++) {
			uint64_t s = p->bst[b].state;

			if (s == PN_BLOCK_ACTIVE || s == PN_BLOCK_DRAINING) {
				p->blocks[b].reason = PN_REASON_DESTROY;
				report_leaks(pool, p, b, true);
				pool->releasing++; /* as if unregistered */
			} else if (s != PN_BLOCK_RELEASING) {
				continue;
			}
			block_released(pool, p, b);
		}
	}
	return 0;
}

/* ---- release policies (001 FIG. 6 and recent peak) ---------------------- */

static uint32_t highest_active(const struct part *p, uint32_t below)
{
	while (below-- > 0)
		if (p->bst[below].state == PN_BLOCK_ACTIVE)
			return below;
	return UINT32_MAX;
}

static bool block_idle(const struct pn_pool *pool, struct part *p, uint32_t b)
{
	return block_in_use(p, b) == 0 &&
	       pool->now_ms - block_last_alloc(pool, p, b) >= pool->o.idle_ms;
}

/* 001 FIG. 6: release the last additional block when it and the block
 * before it had no allocation for the idle period (one idle block of
 * headroom stays). release_max blocks per sample (001: one). */
static int policy_idle(struct pn_pool *pool, struct part *p)
{
	unsigned int n = 0;

	while (n < pool->o.release_max) {
		uint32_t last = highest_active(p, p->max_blocks), prev;

		if (last == UINT32_MAX || last == 0) /* step 604 */
			break;
		if (!block_idle(pool, p, last)) /* step 610 */
			break;
		prev = highest_active(p, last);
		if (prev == UINT32_MAX || !block_idle(pool, p, prev)) /* 611 */
			break;
		block_drain(pool, p, last, PN_REASON_IDLE); /* step 612 */
		n++;
	}
	return (int)n;
}

/* Drain, from the top down, every empty active block above block 0 whose
 * buffers the partition can spare while keeping at least need buffers
 * below the boundary; stop at the first block that holds a buffer or that
 * would leave too few. Returns the blocks set draining. */
static int release_above(struct pn_pool *pool, struct part *p, uint64_t need,
			 int reason)
{
	uint64_t have = p->st->boundary_bytes >> p->buf_shift;
	int n = 0;

	for (uint32_t b = highest_active(p, p->max_blocks);
	     b != UINT32_MAX && b > 0; b = highest_active(p, b)) {
		if (block_in_use(p, b) || have - p->blocks[b].nbufs < need)
			break;
		have -= p->blocks[b].nbufs;
		block_drain(pool, p, b, reason);
		n++;
	}
	return n;
}

/* Recent peak (as jemalloc's decay and tcmalloc's release window): keep the
 * blocks that the peak of the last peak_window_ms needs plus the low-water
 * headroom (so a release never triggers an immediate grow-ahead); release
 * every empty block above that at once. */
static int policy_peak(struct pn_pool *pool, struct part *p)
{
	uint64_t peak = 0;

	for (unsigned int i = 0; i < p->npeak; i++)
		if (p->peak[i] > peak)
			peak = p->peak[i];
	return release_above(pool, p, peak + (p->low_water ? p->low_water : 1),
			     PN_REASON_PEAK);
}

/*
 * The forecast of demand (PN_RELEASE_FORECAST), updated once per sample
 * with the sample's peak in use: a decaying average and a decaying mean
 * deviation from it, the way TCP estimates a round trip (RFC 6298: the
 * deviation first, from the old average), with one weight for both from
 * forecast_halflife_ms. The first sample sets the average to the peak and
 * the deviation to half of it, as RFC 6298 does with its first measure.
 */
static void forecast_update(struct pn_pool *pool, struct part *p, uint64_t peak)
{
	double d = (double)peak, err = d - p->fc_mean;

	if (!p->fc_ready) {
		p->fc_mean = d;
		p->fc_dev = d / 2;
		p->fc_ready = true;
		return;
	}
	p->fc_dev += pool->fc_weight * ((err < 0 ? -err : err) - p->fc_dev);
	p->fc_mean += pool->fc_weight * err;
}

/* Buffers the forecast keeps: the average plus forecast_headroom_pct of
 * the deviation, rounded up. */
uint64_t forecast_keep(const struct pn_pool *pool, const struct part *p)
{
	double keep =
		p->fc_mean + p->fc_dev * pool->o.forecast_headroom_pct / 100.0;
	uint64_t k = (uint64_t)keep;

	return (double)k < keep ? k + 1 : k;
}

/* Keep what the forecast says demand will be, plus low_water (at least 1,
 * as the peak policy), and release every empty block above that at once:
 * after a burst the kept size falls as the average decays, faster when
 * demand has been steady (small deviation), slower when it swings. */
static int policy_forecast(struct pn_pool *pool, struct part *p)
{
	return release_above(pool, p,
			     forecast_keep(pool, p) +
				     (p->low_water ? p->low_water : 1),
			     PN_REASON_FORECAST);
}

static int sample(struct pn_pool *pool, struct part *p)
{
	forecast_update(pool, p, p->sample_hw);
	p->peak[p->peak_pos] = p->sample_hw;
	p->peak_pos = (p->peak_pos + 1) % p->npeak;
	p->sample_hw = p->st->in_use;
	part_update_watch(p);
	switch (pool->o.release) {
	case PN_RELEASE_IDLE:
		return policy_idle(pool, p);
	case PN_RELEASE_PEAK:
		return policy_peak(pool, p);
	case PN_RELEASE_FORECAST:
		return policy_forecast(pool, p);
	default:
		return 0;
	}
}

static int reap_tags(struct pn_pool *pool)
{
	struct io_uring_cqe *cqe;
	int n = 0;

	/* a tag CQE is usually in the ring already (the kernel posts it when
	 * the slot's last reference goes, at the unregister itself when no
	 * I/O holds one): enter the kernel for pending work only when
	 * nothing is there yet */
	if (pool->releasing && !io_uring_cq_ready(pool->ring))
		io_uring_get_events(pool->ring);
	while (io_uring_peek_cqe(pool->ring, &cqe) == 0) {
		block_tag_cqe(pool, cqe->user_data);
		io_uring_cqe_seen(pool->ring, cqe);
		n++;
	}
	return n;
}

PN_EXPORT int pn_pool_poll(struct pn_pool *pool)
{
	int n = 0;

	if (!pool || pool->magic != POOL_MAGIC)
		return -EBADF;
	pool->now_ms = pool_clock_ms();
	pool_apply_remote(pool);
	if (pool->owns_ring)
		n += reap_tags(pool);
	for (unsigned int i = 0; i < pool->nparts; i++) {
		struct part *p = &pool->parts[i];

		if (p->grow_pending) {
			p->grow_pending = false;
			if (p->st->in_use >= p->low_mark &&
			    !block_grow(pool, p))
				n++;
		}
		if (p->qhead) {
			pool_serve_queue(pool, p);
			if (pool->o.queue_timeout_ms)
				n += pool_expire_queue(pool, p);
		}
		if (p->underuse_raised && p->st->in_use >= p->under_mark)
			p->underuse_raised = false;
		if (p->underuse_shrink_pending) {
			p->underuse_shrink_pending = false;
			n += part_shrink(pool, p,
					 (p->st->in_use + p->underuse_free)
						 << p->buf_shift,
					 PN_REASON_UNDERUSE);
		}
		for (uint32_t b = 0; b < p->max_blocks; b++) {
			if (p->bst[b].state == PN_BLOCK_DRAINING &&
			    pool->now_ms - p->bst[b].state_ms >=
				    pool->o.leak_timeout_ms)
				n += leak_check(pool, p, b);
		}
	}
	if (pool->psi_fd >= 0 && pool->now_ms >= pool->next_psi_ms) {
		struct pollfd pfd = { .fd = pool->psi_fd, .events = POLLPRI };

		pool->next_psi_ms = pool->now_ms + 100;
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLPRI))
			n += pn_pool_pressure(pool);
	}
	if (pool->now_ms >= pool->next_sample_ms) {
		pool->next_sample_ms = pool->now_ms + pool->o.sample_ms;
		for (unsigned int i = 0; i < pool->nparts; i++)
			n += sample(pool, &pool->parts[i]);
	}
	if (pool->owns_ring && pool->releasing)
		n += reap_tags(pool);
	if (pool->now_ms >= pool->next_publish_ms) {
		pool->next_publish_ms = pool->now_ms + 10;
		pool_publish(pool);
	}
	pool->sh->updated_ms = pool->now_ms;
	return n;
}
