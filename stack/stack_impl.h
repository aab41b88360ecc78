/* SPDX-License-Identifier: MIT */
/*
 * Private to stack/: the stack's data structures. lwIP types stay here and
 * in the stack sources; the public header speaks POSIX.
 */
#ifndef PINNET_STACK_IMPL_H
#define PINNET_STACK_IMPL_H

#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/state.h"
#include "lwip/tcp.h"
#include "pinnet/pool.h"
#include "pinnet/stack.h"
#include "tcp_ext.h"

/* Every RX buffer starts with this record, then the virtio_net_hdr, then
 * the frame: the pbuf that lwIP holds lives in the buffer it describes. */
struct rxbuf {
	struct pbuf_custom pc; /* handed to lwIP; freed through rx_pbuf_free */
	struct pn_stack *st;
};
#define RX_HDR 64 /* bytes reserved for struct rxbuf */
#define VNET_HDR_LEN 10 /* struct virtio_net_hdr */
#define RX_BUF_SIZE (128 * 1024) /* one GSO super-frame: 64 KiB + headers */
#define SMALL_BUF_SIZE 2048 /* one MTU frame with its headers */
#define SEG_BUF_SIZE 65536 /* one offloaded TCP segment (tcp_write) */
/* The biggest TCP segment lwIP builds with segmentation offload (payload
 * and options): its pbuf (struct, headers, data) fits SEG_BUF_SIZE and
 * its IPv4 length 65535 */
#define STACK_GSO_MAX (SEG_BUF_SIZE - 256)
#define STACK_MAX_CONNS (1u << 20) /* pn_stack_opts.max_conns, at most */
#define RX_COPY_MAX (SMALL_BUF_SIZE - RX_HDR - VNET_HDR_LEN)

/* Owner tags of the stack's buffers (leak reports name them). */
#define OWNER_RX 0xffff0001u
#define OWNER_TX 0xffff0002u
#define OWNER_LWIP 0xffff0003u /* lwIP's own pbufs (segment data) */
#define OWNER_APP_ZC 0xffff0004u /* lent by pn_send_buf() */

/* SQE user_data: a buffer address (>= 8 B aligned) | kind. */
#define UD_RX 1u
#define UD_TXV 2u /* a WRITEV behind a transmit record (tx.c) */
#define UD_TXZC 3u /* a frame written straight from an lwIP pbuf */
#define UD_TXZC_GSO 4u /* the same, a super-frame */
#define UD_RXM 5u /* the multishot receive (io.c); no buffer address */
#define UD_KIND_MASK 7u

/* What lwIP's output hook said of the segment it sends next (tx.c). */
struct tx_tag {
	const struct tcp_pcb *pcb; /* NULL: no tag (not a data segment) */
	uint32_t seqno;
	bool rexmit; /* below the connection's snd_nxt */
};
struct txrec;

struct sock;
struct ep;

struct pn_stack {
	struct lwip_state lwip; /* lwIP's globals for this stack */
	_Atomic(const void *) driver; /* stack_self() of the driving thread */
	bool started; /* the ring is enabled, the reads armed */
	bool ring_bound; /* single issuer: the ring serves one thread */
	const void *ring_thread; /* that thread, once started */
	struct io_uring ring;
	struct pn_pool *pool;
	struct pn_stack_opts o;
	int fd; /* packet socket or TAP device */
	int evfd; /* eventfd the ring signals, for outside loops; -1 */
	int ifindex;
	struct netif netif;
	uint8_t mac[6];
	unsigned int rx_inflight; /* buffers posted for receive */
	/* io.c: the packet socket receives with one multishot recv into a
	 * ring of provided buffers; NULL: one read per buffer (TAP) */
	struct io_uring_buf_ring *rxm_br;
	void **rxm_bufs; /* index = buffer id; NULL: not posted */
	uint16_t *rxm_free; /* a stack of free buffer ids */
	unsigned int rxm_nfree, rxm_entries;
	bool rxm_armed; /* the multishot recv is in the kernel */
	bool rxm_reset; /* cancelled to give back buffers: reset the ring */
	/* buffers posted by need: rx_target between rx_floor and rx_max,
	 * doubled when the recv ran out, halved when it has not for a while */
	unsigned int rx_target, rx_floor, rx_max;
	uint64_t rx_dry_ms; /* the recv last ran out of buffers (or shrank) */
	uint64_t rx_frame_ms; /* the latest frame */
	unsigned int sq_unsubmitted; /* SQEs prepared since the last submit */
	struct sock **socks; /* index = socket number; NULL: free */
	unsigned int nsocks; /* slots in socks */
	unsigned int socks_used; /* of them, open sockets */
	int *free_ids; /* a stack of free socket numbers */
	unsigned int nfree;
	struct sock *timed; /* sockets the 50 ms check looks at */
	struct sock *wake; /* sockets whose send room an ACK may have freed */
	struct sock *out; /* sockets whose short sends wait for the push */
	/* the send budget (o.send_budget): the bytes the sockets have
	 * queued in lwIP, summed (sock_account()), and the sockets waiting
	 * for room in it, oldest first */
	uint64_t tx_inq;
	struct sock *budget_head, *budget_tail;
	uint64_t budget_moved_ns; /* a waiter was let in lately */
	struct ep **eps; /* readiness sets (epoll.c); index = set number */
	unsigned int neps;
	struct pn_stack_stats stats;
	uint64_t now_ms; /* stack_now_ms() at the latest loop turn: sys_now() */
	uint64_t next_pool_poll_ms; /* stack_now_ms() times */
	uint64_t next_sock_check_ms; /* user timeouts */
	uint64_t rx_backoff_until_ms; /* the interface failed: pause reads */
	uint64_t busy_until_ns; /* busy-poll the ring until then */
	uint64_t last_submit_ns; /* the loop's or stack_push()'s latest */
	uint64_t last_run_ns; /* the loop's latest turn */
	uint64_t rx_gen; /* loop turns that reaped completions */
	struct fmap *fmaps; /* files pn_sendfile() sends from (zc.c) */
	unsigned int fmaps_idle; /* of them, mappings nothing is sent from */
	uint16_t csum_default; /* netif checksum flags when not trusted */
	struct tx_tag tx_tag; /* tx.c: the next segment's connection */
	struct txrec *tx_open; /* tx.c: the super-frame being merged */
	bool gso_off; /* the kernel refused a GSO write: no more merging */
	unsigned int gso_refuse_test; /* PINNET_TEST_GSO_REFUSE: pretend */
	struct tcp_keys tcp_keys; /* the 4-tuple's hash and ISNs (tcp_hash.c) */
	/* conn_stats.c: the connection classes file, beside the pool's */
	struct pn_conns_header *conns_sh; /* NULL: none */
	uint64_t next_conns_ms;
	char conns_path[160];
	char err[256];
};

/* ---- threads and entry (stack.c) ------------------------------------- */

/* A mark per thread: its address tells the threads apart. */
extern __thread char stack_thread_mark
	__attribute__((tls_model("initial-exec")));
static inline const void *stack_self(void)
{
	return &stack_thread_mark;
}

/*
 * Every public call on a stack begins here: the calling thread must be the
 * one that drives the stack (pn_stack_attach() in stack.h), and lwIP's
 * state for this thread becomes the stack's. 0, -EINVAL (NULL) or -EPERM.
 */
int stack_start(struct pn_stack *st);
static inline int stack_enter(struct pn_stack *st)
{
	if (__builtin_expect(!st, 0))
		return -EINVAL;
	if (__builtin_expect(
		    atomic_load_explicit(&st->driver, memory_order_relaxed) ==
				    stack_self() &&
			    st->started,
		    1)) {
		lwip_state = &st->lwip;
		return 0;
	}
	return stack_start(st); /* the first call, or another thread's */
}

/* The stack lwIP works on now (inside a call that entered it). */
static inline struct pn_stack *stack_current(void)
{
	return lwip_state ?
		       (struct pn_stack *)((char *)lwip_state -
					   offsetof(struct pn_stack, lwip)) :
		       NULL;
}

/* ---- the stack's one clock (stack.c): monotonic, 64-bit, never wraps;
 * lwIP's sys_now() is its low 32 bits */
uint64_t stack_now_ns(void);
static inline uint64_t stack_now_ms(void)
{
	return stack_now_ns() / 1000000u;
}

/* stack.c */
int stack_seterr(struct pn_stack *st, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct io_uring_sqe *stack_sqe(struct pn_stack *st);
int stack_run(struct pn_stack *st, int timeout_ms); /* pn_stack_process */
void stack_push(struct pn_stack *st); /* queued output out, one submit */

/* io.c: the interface on io_uring */
int io_open(struct pn_stack *st);
void io_close(struct pn_stack *st);
void io_rearm_rx(struct pn_stack *st);
int io_rx_start(struct pn_stack *st);
void io_rx_tick(struct pn_stack *st, uint64_t now_ms);
void io_rx_stop(struct pn_stack *st);
void io_complete(struct pn_stack *st, const struct io_uring_cqe *cqe);
err_t io_netif_init(struct netif *n);

/* tx.c: transmit and segmentation offload */
err_t tx_linkoutput(struct netif *n, struct pbuf *p);
void tx_flush(struct pn_stack *st); /* the open super-frame goes out */
void tx_complete(struct pn_stack *st, uint64_t ud, int res);

/* sock.c */
void sock_abort_all(struct pn_stack *st);
void sock_check_timeouts(struct pn_stack *st, uint64_t now_ms);
size_t sock_heap_bytes(void); /* an idle connection's: pcb + socket */
/* Add up what the sockets hold (pn_stack_stats()). */
void sock_hold_stats(const struct pn_stack *st, struct pn_stack_stats *s);
void zc_unmap_all(struct pn_stack *st); /* zc.c: the stack goes */

/* conn_stats.c: the connection classes file (open after the pool, close
 * before it goes), brought up to date by the loop once a second */
void conn_stats_open(struct pn_stack *st);
void conn_stats_publish(struct pn_stack *st, uint64_t now_ms);
void conn_stats_close(struct pn_stack *st);

/* poll.c: the sockets on st->wake that have send room are notified */
void sock_wake_writers(struct pn_stack *st);
/* The output sock_output() left for the push goes to lwIP (sock_io.c). */
void stack_output(struct pn_stack *st);

/* epoll.c: every readiness set goes (the stack's destruction) */
void ep_free_all(struct pn_stack *st);

#endif
