/* SPDX-License-Identifier: MIT */
/*
 * The interface on io_uring: an AF_PACKET socket (PACKET_VNET_HDR) or a TAP
 * device (IFF_VNET_HDR), frames read with READ_FIXED into pool buffers and
 * handed to lwIP as custom pbufs; tx.c writes frames out. docs/stack.md
 * explains the vnet header: a kernel peer at default offloads sends
 * checksum-partial TSO super-frames; the header says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/sys.h"
#include "lwip/ip4.h"
#include "netif/ethernet.h"
#include "stack_impl.h"

/* ---- opening ------------------------------------------------------------- */

/* Keep only frames for our MAC, broadcast and multicast: an ETH_P_ALL
 * socket otherwise sees all the interface's traffic. */
static int attach_filter(struct pn_stack *st)
{
	uint32_t hi = (uint32_t)st->mac[0] << 24 | st->mac[1] << 16 |
		      st->mac[2] << 8 | st->mac[3];
	uint32_t lo = (uint32_t)st->mac[4] << 8 | st->mac[5];
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), /* dst[0] */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 4, 0), /* group bit */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), /* dst[0..3] */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 0, 3),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4), /* dst[4..5] */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0x40000), /* accept whole frame */
		BPF_STMT(BPF_RET | BPF_K, 0), /* drop */
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	if (setsockopt(st->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
		       sizeof(prog)))
		return stack_seterr(st, errno, "SO_ATTACH_FILTER: %s",
				    strerror(errno));
	return 0;
}

static int open_packet(struct pn_stack *st)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_UNICAST, .mr_alen = 6 };
	int one = 1, rcvbuf = 32 << 20, rc;

	st->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (st->fd < 0)
		return stack_seterr(st, errno,
				    "packet socket: %s (needs CAP_NET_RAW)",
				    strerror(errno));
	/* before bind: every frame carries a virtio_net_hdr both ways */
	if (setsockopt(st->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)))
		return stack_seterr(st, errno, "PACKET_VNET_HDR: %s",
				    strerror(errno));
	setsockopt(st->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		   sizeof(one));
	/* a deep socket queue absorbs bursts (many senders at once) between
	 * loop turns; without CAP_NET_ADMIN the sysctl maximum applies */
	if (setsockopt(st->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		setsockopt(st->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			   sizeof(rcvbuf));
	/* and room for many super-frames in flight: a write that finds the
	 * send buffer full waits in the ring (a 64 KiB frame takes a third
	 * of the default 208 KiB) */
	if (setsockopt(st->fd, SOL_SOCKET, SO_SNDBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		setsockopt(st->fd, SOL_SOCKET, SO_SNDBUF, &rcvbuf,
			   sizeof(rcvbuf));
	rc = attach_filter(st);
	if (rc)
		return rc;
	sll.sll_ifindex = st->ifindex;
	if (bind(st->fd, (struct sockaddr *)&sll, sizeof(sll)))
		return stack_seterr(st, errno, "bind to %s: %s", st->o.iface,
				    strerror(errno));
	/* a distinct MAC: a real NIC must accept it (veth accepts anything) */
	mr.mr_ifindex = st->ifindex;
	memcpy(mr.mr_address, st->mac, 6);
	setsockopt(st->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr));
	return 0;
}

static int open_tap(struct pn_stack *st)
{
	struct ifreq ifr;
	int hdr = VNET_HDR_LEN;

	st->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (st->fd < 0)
		return stack_seterr(st, errno, "/dev/net/tun: %s",
				    strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", st->o.iface);
	if (ioctl(st->fd, TUNSETIFF, &ifr))
		return stack_seterr(st, errno,
				    "TUNSETIFF %s: %s (needs CAP_NET_ADMIN)",
				    st->o.iface, strerror(errno));
	if (ioctl(st->fd, TUNSETVNETHDRSZ, &hdr))
		return stack_seterr(st, errno, "TUNSETVNETHDRSZ: %s",
				    strerror(errno));
	/* frames from the kernel may be checksum-partial; no GSO yet */
	ioctl(st->fd, TUNSETOFFLOAD, TUN_F_CSUM);
	st->ifindex = (int)if_nametoindex(st->o.iface);
	return 0;
}

int io_open(struct pn_stack *st)
{
	if (!st->o.iface || !st->o.iface[0] || strlen(st->o.iface) >= IFNAMSIZ)
		return stack_seterr(st, EINVAL, "no interface name given");
	if (st->o.backend == PN_BACKEND_TAP)
		return open_tap(st);
	st->ifindex = (int)if_nametoindex(st->o.iface);
	if (!st->ifindex)
		return stack_seterr(st, ENODEV, "no interface %s", st->o.iface);
	return open_packet(st);
}

void io_close(struct pn_stack *st)
{
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
}

/* ---- receive ---------------------------------------------------------------- */

/* lwIP let go of an RX pbuf: its buffer goes back to the pool. */
static void rx_pbuf_free(struct pbuf *p)
{
	struct rxbuf *rb = (struct rxbuf *)p;

	pn_buf_free(pn_stack_pool(rb->st), rb);
}

static bool arm_one(struct pn_stack *st, void *buf)
{
	struct io_uring_sqe *sqe;
	struct pn_buf_info bi;

	if (pn_buf_lookup(st->pool, buf, &bi))
		return false;
	sqe = stack_sqe(st);
	if (!sqe)
		return false;
	io_uring_prep_read_fixed(sqe, st->fd, (char *)buf + RX_HDR,
				 RX_BUF_SIZE - RX_HDR, 0, (int)bi.slot);
	io_uring_sqe_set_data64(sqe, (uintptr_t)buf | UD_RX);
	st->rx_inflight++;
	return true;
}

/*
 * The packet socket receives with one multishot recv over a ring of
 * buffers the stack provides (pool buffers, like the reads'): a frame
 * wakes one waiter, and one pass of the kernel's task work takes every
 * frame queued while buffers last. One READ_FIXED per buffer, as before,
 * put every read's poll on the socket: each frame woke them all (four
 * task-work items per frame at the default depth, in the sender's
 * context on a veth) and each finished read was submitted and armed
 * again. A TAP device is not a socket and keeps the reads; so does a
 * kernel that refuses the buffer ring.
 */
#define RXM_BGID 0x706e /* the stack's one buffer group */
#define RX_DEPTH_READS 4 /* reads in flight by default (TAP) */
#define RX_DEPTH_MAX 32 /* buffers posted at most by default (multishot) */
#define RX_SHRINK_MS 500 /* no shortage this long: post half as many */

static void rxm_post(struct pn_stack *st, void *buf, int *added)
{
	uint16_t bid = st->rxm_free[--st->rxm_nfree];

	st->rxm_bufs[bid] = buf;
	io_uring_buf_ring_add(st->rxm_br, (char *)buf + RX_HDR,
			      RX_BUF_SIZE - RX_HDR, bid,
			      io_uring_buf_ring_mask(st->rxm_entries), *added);
	(*added)++;
	st->rx_inflight++;
	if (st->rx_inflight > st->stats.rx_posted_peak)
		st->stats.rx_posted_peak = st->rx_inflight;
}

/* The ring empty and registered afresh: every buffer id free. */
static int rxm_ring_register(struct pn_stack *st)
{
	struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)st->rxm_br,
					.ring_entries = st->rxm_entries,
					.bgid = RXM_BGID };
	int rc = io_uring_register_buf_ring(&st->ring, &reg, 0);

	if (rc)
		return rc;
	io_uring_buf_ring_init(st->rxm_br);
	for (unsigned int i = 0; i < st->rxm_entries; i++)
		st->rxm_free[i] = (uint16_t)(st->rxm_entries - 1 - i);
	st->rxm_nfree = st->rxm_entries;
	return 0;
}

/* The buffers still posted go back to the pool (the recv has ended). */
static void rxm_free_posted(struct pn_stack *st)
{
	for (unsigned int i = 0; i < st->rxm_entries; i++)
		if (st->rxm_bufs[i]) {
			pn_buf_free(st->pool, st->rxm_bufs[i]);
			st->rxm_bufs[i] = NULL;
		}
	st->rx_inflight = 0;
}

/* By default the buffers posted take at most half of what the receive
 * class's base block holds (16 of 32 in the stack's own pool
 * configuration), from 4 to RX_DEPTH_MAX: the rest is room for
 * allocations of smaller classes that fall back to it while those grow.
 * Posting all of the base made the class grow under 100 downloads, and
 * with the seed's idle release a grown class keeps its top block while
 * the one below is busy (patent 001 step 611), as the base is with the
 * posted buffers: that block stayed pinned for good (bench_memory's
 * idle policy: 8 MiB at rest instead of 4). */
static unsigned int rx_default_max(struct pn_stack *st)
{
	struct pn_pool *pool = st->pool;

	for (unsigned int i = 0; i < pn_pool_nparts(pool); i++) {
		struct pn_pool_part_stats ps;
		uint64_t base;

		if (pn_pool_stats(pool, i, &ps, sizeof(ps)) ||
		    ps.buf_size < RX_BUF_SIZE)
			continue;
		if (ps.blocks_active != 1)
			return RX_DEPTH_MAX; /* grown already: no base to read */
		base = (ps.in_use + ps.free) / 2;
		return base < RX_DEPTH_READS ? RX_DEPTH_READS :
		       base > RX_DEPTH_MAX   ? RX_DEPTH_MAX :
					       (unsigned int)base;
	}
	return RX_DEPTH_READS;
}

/* One read per buffer (TAP, or no buffer ring): rx_depth of them. */
static void rx_use_reads(struct pn_stack *st)
{
	st->rx_max = st->rx_floor = st->rx_target =
		st->o.rx_depth ? st->o.rx_depth : RX_DEPTH_READS;
}

int io_rx_start(struct pn_stack *st)
{
	unsigned int n = 1;
	size_t len;
	void *br;

	if (st->o.backend == PN_BACKEND_TAP || getenv("PINNET_RX_READS")) {
		rx_use_reads(st);
		return 0;
	}
	st->rx_max = st->o.rx_depth ? st->o.rx_depth : rx_default_max(st);
	st->rx_floor = st->rx_target =
		st->rx_max < RX_DEPTH_READS ? st->rx_max : RX_DEPTH_READS;
	while (n < st->rx_max)
		n <<= 1;
	len = n * sizeof(struct io_uring_buf);
	br = mmap(NULL, len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED)
		goto reads;
	madvise(br, len, MADV_DONTFORK);
	st->rxm_br = br;
	st->rxm_entries = n;
	st->rxm_bufs = calloc(n, sizeof(*st->rxm_bufs));
	st->rxm_free = calloc(n, sizeof(*st->rxm_free));
	if (st->rxm_bufs && st->rxm_free && !rxm_ring_register(st))
		return 0;
	free(st->rxm_bufs);
	free(st->rxm_free);
	st->rxm_bufs = NULL;
	st->rxm_free = NULL;
	st->rxm_br = NULL;
	munmap(br, len);
reads:
	rx_use_reads(st);
	return 0;
}

/* After the multishot recv ended (pn_stack_destroy): the buffers still
 * posted go back to the pool, the ring to the kernel. */
void io_rx_stop(struct pn_stack *st)
{
	if (!st->rxm_br)
		return;
	rxm_free_posted(st);
	io_uring_unregister_buf_ring(&st->ring, RXM_BGID);
	munmap(st->rxm_br, st->rxm_entries * sizeof(struct io_uring_buf));
	free(st->rxm_bufs);
	free(st->rxm_free);
	st->rxm_br = NULL;
	st->rxm_bufs = NULL;
	st->rxm_free = NULL;
}

static bool rxm_arm(struct pn_stack *st)
{
	struct io_uring_sqe *sqe = stack_sqe(st);

	if (!sqe)
		return false;
	io_uring_prep_recv_multishot(sqe, st->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RXM_BGID;
	io_uring_sqe_set_data64(sqe, UD_RXM);
	st->rxm_armed = true;
	return true;
}

/*
 * How many buffers stay posted follows the traffic: rx_target starts at
 * rx_floor (4), doubles (up to rx_max: rx_depth, or rx_default_max())
 * each time the recv runs out of buffers, and halves after RX_SHRINK_MS
 * without a shortage. Buffers the kernel holds cannot be taken back one by one: when
 * more are posted than the target and no frame came for RX_SHRINK_MS, the
 * recv is cancelled and the ring registered afresh, its buffers back in
 * the pool (which can then release memory while the stack idles). On a
 * veth with 100 clients, 32 buffers served nginx 1.3-1.5x the requests of
 * 4 (each loop turn takes in at most what is posted); idle, 32 would pin
 * 4 MiB.
 */
void io_rx_tick(struct pn_stack *st, uint64_t now_ms)
{
	struct io_uring_sqe *sqe;

	if (!st->rxm_br || !st->rx_max)
		return;
	if (now_ms - st->rx_frame_ms >= RX_SHRINK_MS)
		st->rx_target = st->rx_floor; /* idle */
	if (st->rx_target > st->rx_floor &&
	    now_ms - st->rx_dry_ms >= RX_SHRINK_MS) {
		st->rx_target /= 2;
		if (st->rx_target < st->rx_floor)
			st->rx_target = st->rx_floor;
		st->rx_dry_ms = now_ms;
	}
	if (st->rx_inflight > st->rx_target && st->rxm_armed &&
	    !st->rxm_reset && now_ms - st->rx_frame_ms >= RX_SHRINK_MS) {
		sqe = stack_sqe(st);
		if (!sqe)
			return;
		io_uring_prep_cancel64(sqe, UD_RXM, 0);
		io_uring_sqe_set_data64(sqe, 0);
		st->rxm_reset = true;
	}
}

/* Keep rx_target buffers posted (in reads or in the buffer ring), and the
 * multishot recv armed. */
void io_rearm_rx(struct pn_stack *st)
{
	int added = 0;

	if (st->rx_backoff_until_ms && stack_now_ms() < st->rx_backoff_until_ms)
		return;
	st->rx_backoff_until_ms = 0;
	if (st->rxm_reset) {
		if (st->rxm_armed)
			return; /* the cancelled recv has not ended yet */
		rxm_free_posted(st);
		io_uring_unregister_buf_ring(&st->ring, RXM_BGID);
		st->rxm_reset = false;
		st->stats.rx_given_back++;
		if (rxm_ring_register(st)) {
			/* cannot happen (it was registered): receive with
			 * reads from now on */
			io_rx_stop(st);
			rx_use_reads(st);
		}
	}
	while (st->rx_inflight < st->rx_target) {
		void *buf;

		if (st->rxm_br && !st->rxm_nfree)
			break;
		buf = pn_buf_alloc(st->pool, RX_BUF_SIZE, OWNER_RX);
		if (!buf)
			break; /* the pool says why; retried next turn */
		if (st->rxm_br) {
			rxm_post(st, buf, &added);
		} else if (!arm_one(st, buf)) {
			pn_buf_free(st->pool, buf);
			break;
		}
	}
	if (added)
		io_uring_buf_ring_advance(st->rxm_br, added);
	if (st->rxm_br && !st->rxm_armed && st->rx_inflight)
		rxm_arm(st);
}

/* A big buffer whose frame was copied out goes back to receiving. */
static void rx_recycle(struct pn_stack *st, void *buf)
{
	if (st->rx_inflight >= st->rx_target || st->rxm_reset) {
		pn_buf_free(st->pool, buf);
	} else if (st->rxm_br) {
		int added = 0;

		if (!st->rxm_nfree) {
			pn_buf_free(st->pool, buf);
			return;
		}
		rxm_post(st, buf, &added);
		io_uring_buf_ring_advance(st->rxm_br, added);
	} else if (!arm_one(st, buf)) {
		pn_buf_free(st->pool, buf);
	}
}

/* Hand one frame to lwIP. trusted: the kernel vouched for (or will
 * compute) the TCP/UDP checksum, so lwIP skips checking it. */
static void deliver(struct pn_stack *st, struct rxbuf *rb, char *frame,
		    size_t len, bool trusted)
{
	struct netif *n = &st->netif;
	bool ip_only = false, marked;
	struct dsack_mark dm;
	struct pbuf *p;
	char *ip;
	err_t err;

	rb->st = st;
	rb->pc.custom_free_function = rx_pbuf_free;
	if (len > 0xffff) {
		/* BIG TCP: past a u16 pbuf; strip Ethernet, feed IPv4 */
		if (len - SIZEOF_ETH_HDR > 0xffff ||
		    ((struct eth_hdr *)frame)->type != PP_HTONS(ETHTYPE_IP))
			goto drop;
		frame += SIZEOF_ETH_HDR;
		len -= SIZEOF_ETH_HDR;
		ip_only = true;
	}
	p = pbuf_alloced_custom(PBUF_RAW, (u16_t)len, PBUF_REF, &rb->pc, frame,
				(u16_t)len);
	if (!p)
		goto drop;
	st->stats.rx_frames++;
	st->stats.rx_bytes += len;
	if (trusted) {
		st->stats.rx_csum_trusted++;
		NETIF_SET_CHECKSUM_CTRL(n, st->csum_default &
						   ~(NETIF_CHECKSUM_CHECK_TCP |
						     NETIF_CHECKSUM_CHECK_UDP));
	}
	/* lwIP checks checksums synchronously inside input */
	ip = ip_only ? frame : frame + SIZEOF_ETH_HDR;
	marked = (ip_only ||
		  ((struct eth_hdr *)frame)->type == PP_HTONS(ETHTYPE_IP)) &&
		 tcp_dsack_mark(ip, len - (size_t)(ip - frame), &dm);
	err = ip_only ? ip4_input(p, n) : n->input(p, n);
	if (marked)
		tcp_dsack_unmark(&dm);
	if (trusted)
		NETIF_SET_CHECKSUM_CTRL(n, st->csum_default);
	if (err != ERR_OK)
		pbuf_free(p);
	return;
drop:
	st->stats.rx_dropped++;
	pn_buf_free(st->pool, rb);
}

static void rx_complete(struct pn_stack *st, char *buf, int res)
{
	struct virtio_net_hdr *vh = (struct virtio_net_hdr *)(buf + RX_HDR);
	char *frame = buf + RX_HDR + VNET_HDR_LEN;
	size_t len;
	bool trusted;

	if (res < VNET_HDR_LEN + SIZEOF_ETH_HDR) {
		if (res < 0 && res != -ECANCELED && res != -EINTR) {
			/* the interface went away or down: do not spin on
			 * failing reads; try again in a while */
			stack_seterr(st, -res, "frame read on %s: %s",
				     st->o.iface, strerror(-res));
			st->stats.rx_errors++;
			st->rx_backoff_until_ms = stack_now_ms() + 100;
		}
		if (res >= 0)
			st->stats.rx_dropped++;
		pn_buf_free(st->pool, buf);
		return;
	}
	len = (size_t)res - VNET_HDR_LEN;
	trusted = vh->flags &
		  (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID);
	if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		st->stats.rx_gso++;
	if (len <= RX_COPY_MAX) {
		/* small frame: copy it out and reuse the big buffer at once */
		char *small = pn_buf_alloc(st->pool, SMALL_BUF_SIZE, OWNER_RX);

		if (small) {
			memcpy(small + RX_HDR + VNET_HDR_LEN, frame, len);
			st->stats.rx_copied++;
			rx_recycle(st, buf);
			deliver(st, (struct rxbuf *)small,
				small + RX_HDR + VNET_HDR_LEN, len, trusted);
			return;
		}
	}
	deliver(st, (struct rxbuf *)buf, frame, len, trusted);
}

/* A multishot CQE: a frame in one of the ring's buffers, or the end of
 * the recv (no IORING_CQE_F_MORE: buffers ran out, -ENOBUFS, or it was
 * cancelled), armed again at the loop's next turn. */
static void rxm_complete(struct pn_stack *st, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		st->rxm_armed = false;
		if (cqe->res == -ENOBUFS) { /* post more from now on */
			st->stats.rx_short++;
			st->rx_target = st->rx_target * 2 > st->rx_max ?
						st->rx_max :
						st->rx_target * 2;
			st->rx_dry_ms = st->now_ms;
		}
	}
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid =
			(uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		char *buf = bid < st->rxm_entries ? st->rxm_bufs[bid] : NULL;

		if (!buf)
			return; /* not ours: cannot happen */
		st->rxm_bufs[bid] = NULL;
		st->rxm_free[st->rxm_nfree++] = bid;
		st->rx_inflight--;
		st->rx_frame_ms = st->now_ms;
		rx_complete(st, buf, cqe->res);
		return;
	}
	if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED &&
	    cqe->res != -EINTR) {
		stack_seterr(st, -cqe->res, "frame receive on %s: %s",
			     st->o.iface, strerror(-cqe->res));
		st->stats.rx_errors++;
		st->rx_backoff_until_ms = stack_now_ms() + 100;
	}
}

void io_complete(struct pn_stack *st, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	char *buf = (char *)(uintptr_t)(ud & ~(uint64_t)UD_KIND_MASK);

	if (pn_pool_handle_cqe(st->pool, cqe))
		return;
	switch (ud & UD_KIND_MASK) {
	case UD_RX:
		st->rx_inflight--;
		rx_complete(st, buf, cqe->res);
		break;
	case UD_RXM:
		rxm_complete(st, cqe);
		break;
	case UD_TXV:
	case UD_TXZC:
	case UD_TXZC_GSO:
		tx_complete(st, ud, cqe->res);
		break;
	}
}

err_t io_netif_init(struct netif *n)
{
	struct pn_stack *st = n->state;
	struct ifreq ifr;
	int s;

	n->name[0] = 'p';
	n->name[1] = 'n';
	n->output = etharp_output;
	n->linkoutput = tx_linkoutput;
	n->hwaddr_len = 6;
	memcpy(n->hwaddr, st->mac, 6);
	n->mtu = 1500;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", st->o.iface);
		if (!ioctl(s, SIOCGIFMTU, &ifr) && ifr.ifr_mtu >= 576 &&
		    ifr.ifr_mtu <= 9000)
			n->mtu = (u16_t)ifr.ifr_mtu;
		close(s);
	}
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
		   NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}
