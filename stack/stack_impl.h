/* SPDX-License-Identifier: MIT */
/*
 * Private to stack/: the stack's data structures. lwIP types stay here and
 * in the stack sources; the public header speaks POSIX.
 */
#ifndef PINNET_STACK_IMPL_H
#define PINNET_STACK_IMPL_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "pinnet/pool.h"
#include "pinnet/stack.h"
#include "stack_ops.h"
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
#define RX_COPY_MAX (SMALL_BUF_SIZE - RX_HDR - VNET_HDR_LEN)

/* Owner tags of the stack's buffers (leak reports name them). */
#define OWNER_RX 0xffff0001u
#define OWNER_TX 0xffff0002u
#define OWNER_LWIP 0xffff0003u /* lwIP's own pbufs (segment data) */
#define OWNER_APP_ZC 0xffff0004u /* lent by pn_send_buf() */

/* SQE user_data: a buffer address (>= 2 KiB aligned) | kind. */
#define UD_RX 1u
#define UD_TX 2u /* a copied frame in its own pool buffer */
#define UD_TXZC 3u /* a frame written straight from an lwIP pbuf */
#define UD_KIND_MASK 7u

/* A zero-copy send buffer, held until the peer acknowledged its end. */
struct zc_tx {
	struct zc_tx *next;
	void *buf;
	uint64_t end; /* stream offset just past its last byte */
};

struct sock {
	int id; /* index in the stack's table */
	struct pn_stack *st;
	struct tcp_pcb *pcb; /* NULL once lwIP freed it (error, close) */
	bool listening; /* pcb is a listen pcb */
	bool connecting; /* connect sent, not yet established */
	bool connected; /* established at least once */
	bool eof; /* the peer sent FIN */
	bool shut_wr; /* we sent FIN */
	bool nonblock;
	bool reuseaddr, keepalive, nodelay; /* options before the pcb exists */
	bool linger_on;
	int linger_s;
	uint32_t keep_idle_ms, keep_intvl_ms, keep_cnt; /* 0: lwIP's default */
	uint32_t user_timeout_ms; /* TCP_USER_TIMEOUT; 0 off */
	uint64_t last_progress_ms; /* last ACK of our data, or first unacked */
	uint64_t sent_total; /* bytes handed to lwIP */
	uint64_t unblock_gen; /* not writable before st->rx_gen reaches it */
	uint64_t acked_total; /* bytes the peer acknowledged */
	struct zc_tx *zc_head, *zc_tail; /* zero-copy buffers in flight */
	struct pbuf *zc_rx; /* the segment lent by pn_recv_zc() */
	int err; /* pending -errno (reset, timeout, refused) */
	struct pbuf **rxq; /* received segments, not yet read: a FIFO ring */
	unsigned int rx_head, rx_n, rx_cap;
	uint16_t rx_off; /* bytes of the oldest segment already read */
	struct sock **acceptq; /* listeners: established, not yet accepted */
	unsigned int acc_head, acc_n, acc_max;
	struct sock *listener; /* queued in this listener's acceptq */
};

struct pn_stack {
	const struct pn_stack_ops
		*ops; /* first: stack/api.c dispatches on it */
	struct io_uring ring;
	struct pn_pool *pool;
	struct pn_stack_opts o;
	int fd; /* packet socket or TAP device */
	int evfd; /* eventfd the ring signals, for outside loops; -1 */
	int ifindex;
	struct netif netif;
	uint8_t mac[6];
	unsigned int rx_inflight; /* reads submitted */
	unsigned int sq_unsubmitted; /* SQEs prepared since the last submit */
	struct sock **socks; /* index = socket number */
	unsigned int nsocks;
	struct pn_stack_stats stats;
	uint64_t next_pool_poll_ms;
	uint64_t next_sock_check_ms; /* user timeouts */
	uint64_t rx_backoff_until_ms; /* the interface failed: pause reads */
	uint64_t busy_until_ns; /* busy-poll the ring until then */
	uint64_t rx_gen; /* loop turns that reaped completions */
	uint16_t csum_default; /* netif checksum flags when not trusted */
	char err[256];
};

/* stack.c */
int stack_seterr(struct pn_stack *st, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct io_uring_sqe *stack_sqe(struct pn_stack *st);

/* io.c: the interface on io_uring */
int io_open(struct pn_stack *st);
void io_close(struct pn_stack *st);
void io_rearm_rx(struct pn_stack *st);
void io_complete(struct pn_stack *st, const struct io_uring_cqe *cqe);
err_t io_netif_init(struct netif *n);

/* mem.c */
extern struct pn_pool *stack_mem_pool;
extern bool stack_mem_live;

/* sock.c */
void sock_abort_all(struct pn_stack *st);
void sock_check_timeouts(struct pn_stack *st, uint64_t now_ms);

#endif
