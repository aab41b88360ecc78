/* SPDX-License-Identifier: MIT */
/*
 * The layout of a pool's always-on counters file, for readers in other
 * processes (pinnet-bpf top, tests). Each pool publishes one file,
 * <stats_dir>/<pid>-<pool id>.stats (default /run/pinnet, mode 0600),
 * mapped shared by its owner, who updates it in place while it runs; a
 * reader maps it read-only and never stops the owner.
 *
 * The file holds a header, then nparts partition records at part_off
 * (part_size bytes each), then for each partition max_blocks block records
 * at block_off + (part * max_blocks + block) * block_size. Readers must use
 * the offsets and sizes from the header, so fields can be appended later.
 * Counters are 64-bit, naturally aligned, written with plain stores: a
 * reader may see a value up to one update old, never a torn one.
 */
#ifndef PINNET_POOL_STATS_H
#define PINNET_POOL_STATS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_STATS_MAGIC 0x54534e50u /* "PNST" little-endian */
#define PN_STATS_VERSION 1u
#define PN_STATS_DIR "/run/pinnet"

/* Block states, as in 001 FIG. 4 BudBufStatus plus the io_uring release. */
enum pn_block_state {
	PN_BLOCK_UNUSED = 0, /* reserved address space only */
	PN_BLOCK_ACTIVE =
		1, /* registered, below the boundary: serves allocations */
	PN_BLOCK_DRAINING =
		2, /* registered, above the boundary: waits for its buffers */
	PN_BLOCK_RELEASING =
		3, /* unregistered: waits for the kernel's tag CQE */
	PN_BLOCK_RELEASED = 4, /* memory returned; may be grown again */
};

struct pn_stats_header {
	uint32_t magic; /* PN_STATS_MAGIC */
	uint32_t version; /* PN_STATS_VERSION */
	uint32_t header_size; /* sizeof(struct pn_stats_header) when written */
	uint32_t pid; /* owner process */
	uint64_t pool_id; /* unique within the process */
	char name[32]; /* pn_pool_opts.name, NUL-terminated */
	uint32_t nparts; /* partition records */
	uint32_t max_blocks; /* block records per partition */
	uint32_t part_off; /* offset of the first partition record */
	uint32_t part_size; /* bytes per partition record */
	uint32_t block_off; /* offset of the first block record */
	uint32_t block_size; /* bytes per block record */
	uint64_t wall_bytes; /* pool-wide wall */
	uint64_t pinned_bytes; /* pool-wide pinned now */
	uint64_t pinned_high; /* most pinned at once */
	uint64_t created_ms; /* CLOCK_MONOTONIC ms at creation */
	uint64_t updated_ms; /* last slow-path update or poll */
	uint64_t release_policy; /* enum pn_release_policy */
	uint64_t sample_ms, idle_ms; /* release settings */
	uint64_t bad_frees; /* frees of pointers outside every partition */
	uint64_t alive; /* 1 while the pool exists, 0 after destroy */
};

struct pn_stats_part {
	uint64_t buf_size; /* class size */
	uint64_t wall_bytes; /* partition wall */
	uint64_t base_bytes, block_bytes; /* 001 BaseSize, AddSize */
	uint64_t pinned_bytes; /* registered and not yet released */
	uint64_t boundary_bytes; /* bytes below the boundary (active blocks) */
	uint64_t in_use; /* buffers out */
	uint64_t free; /* free buffers in active blocks */
	uint64_t high_water; /* most buffers out at once */
	uint64_t reclaimed; /* leaked buffers taken back (000 block 412) */
	uint64_t grows, grow_refused; /* 000 FIG. 8 outcomes */
	uint64_t drains; /* blocks set draining */
	uint64_t releases[8]; /* by enum pn_release_reason */
	uint64_t shrink_refused; /* leak policy refuse */
	uint64_t queued, dequeued, queue_len; /* 001 FIFO at the wall */
	uint64_t waits; /* pn_buf_alloc() calls that waited at the wall */
	uint64_t refusals; /* allocations refused (timeout, wall) */
	uint64_t leaks; /* buffers declared leaked */
	uint64_t errors; /* bad frees in this partition */
	uint64_t underuse; /* underuse events raised */
	uint64_t fallbacks; /* served by a larger class (000 [0038]) */
};

struct pn_stats_block {
	uint64_t state; /* enum pn_block_state */
	uint64_t slot; /* registered-table slot, or UINT64_MAX */
	uint64_t addr; /* start address in the owner's address space */
	uint64_t bytes; /* 001 TotalSpace */
	uint64_t in_use; /* buffers out in this block */
	/* 001 TimeStamp: last allocation (ms); like in_use of an active
	 * block, refreshed by the owner's pn_pool_poll() (every 10 ms) */
	uint64_t last_alloc_ms;
	uint64_t state_ms; /* when the state last changed (ms) */
};

#ifdef __cplusplus
}
#endif

#endif /* PINNET_POOL_STATS_H */
