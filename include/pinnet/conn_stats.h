/* SPDX-License-Identifier: MIT */
/*
 * What a stack's connections hold, by class of connection: the counters
 * pn_stack_conn_classes() returns, and the layout of the file a stack
 * publishes them in for readers in other processes (pinnet-bpf top).
 *
 * A connection's class is what it is waiting for now, the first that
 * holds of:
 *   opening-closing  not established (handshake, or closing with data)
 *   peer-window      data waits unsent and the peer's receive window is
 *                    full: a slow reader at the other end
 *   sending          data queued (in flight or unsent), the network's pace
 *   unread           data received that the application has not read
 *   idle             nothing queued either way
 * For each class: the connections in it and, summed over them, the bytes
 * queued to send (in flight and unsent), in flight, unsent, received and
 * unread, held out of order, their send limits and receive windows (what
 * they could hold, sized by need), and the pool memory their queues hold:
 * the buffers their segments lie in, each counted once per connection (a
 * buffer two connections share is counted by both; one whose bytes are
 * partly acknowledged counts whole, as it stays pinned whole).
 *
 * The file: <stats_dir>/<pid>-<pool id>.conns, beside the pool's
 * <pid>-<pool id>.stats (pool_stats.h), mode 0600, mapped shared by the
 * stack's process, which rewrites it in place every interval_ms while the
 * stack runs and removes it when the stack goes. It holds a header, then
 * nclasses records at class_off, class_size bytes each; readers use the
 * offsets and sizes from the header, so fields can be appended. Counters
 * are 64-bit, naturally aligned, plain stores: a reader may see a record
 * half way through one update (a class's fields from two neighbouring
 * intervals), never a torn value; seq is odd while an update is under way.
 */
#ifndef PINNET_CONN_STATS_H
#define PINNET_CONN_STATS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_CONNS_MAGIC 0x4b534e50u /* "PNSK" little-endian */
#define PN_CONNS_VERSION 1u

enum pn_conn_class {
	PN_CONN_OPENING_CLOSING = 0,
	PN_CONN_PEER_WINDOW = 1,
	PN_CONN_SENDING = 2,
	PN_CONN_UNREAD = 3,
	PN_CONN_IDLE = 4,
	PN_CONN_NCLASSES = 5,
};

struct pn_conn_class_stats {
	char name[16]; /* "idle", "sending", ... NUL-terminated */
	uint64_t conns;
	uint64_t tx_queued; /* sent and not acknowledged, and unsent */
	uint64_t tx_inflight; /* sent and not acknowledged */
	uint64_t tx_unsent;
	uint64_t rx_unread; /* received in order, not read */
	uint64_t rx_ooseq; /* received out of order, held */
	uint64_t pinned_bytes; /* pool buffers the queues hold */
	uint64_t tx_limit_sum; /* send limits (sized by need) */
	uint64_t rwnd_sum; /* receive windows */
};

struct pn_conns_header {
	uint32_t magic; /* PN_CONNS_MAGIC */
	uint32_t version; /* PN_CONNS_VERSION */
	uint32_t header_size; /* sizeof(struct pn_conns_header) when written */
	uint32_t pid; /* owner process */
	uint64_t pool_id; /* the stack's pool (its .stats file) */
	uint32_t nclasses; /* class records */
	uint32_t class_off; /* offset of the first */
	uint32_t class_size; /* bytes per record */
	uint32_t reserved;
	uint64_t seq; /* updates begun and ended: odd while one runs */
	uint64_t updated_ms; /* CLOCK_MONOTONIC ms of the last update */
	uint64_t interval_ms; /* between updates */
	uint64_t alive; /* 1 while the stack exists */
	/* the stack's send budget (pn_stack_opts.send_budget; 0 none), what
	 * is counted against it, and the sockets that waited for it and were
	 * let in without room (present when header_size covers them) */
	uint64_t send_budget, budget_used, budget_waits, budget_overdue;
	/* the interface's frames since the stack began (pn_stack_stats):
	 * read and written, of those written the ones that carried only an
	 * ACK, the writes (a super-frame is one) and the ring's submissions
	 * (present when header_size covers them) */
	uint64_t rx_frames, tx_frames, tx_pure_acks, tx_writes, submits;
};

#ifdef __cplusplus
}
#endif

#endif /* PINNET_CONN_STATS_H */
