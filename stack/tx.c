/* SPDX-License-Identifier: MIT */
/*
 * Transmit, with segmentation offload. lwIP builds MSS-sized segments as
 * it always did; here, at the link layer, consecutive new-data segments of
 * one connection are merged into one super-frame of up to 64 KiB that the
 * kernel segments (or, on a veth, hands to the peer whole): one write, one
 * virtio_net_hdr with VIRTIO_NET_HDR_GSO_TCPV4, gso_size the segments'
 * payload (the wire MSS less TCP options), NEEDS_CSUM with the
 * pseudo-header sum in the TCP check field, the IPv4 length and header
 * checksum made for the super-frame.
 *
 * Why at the link layer, not in lwIP: lwIP 2.1.3 keeps segment and pbuf
 * lengths in u16, checks each segment against the window whole and
 * retransmits segment by segment. Merging its segments on the way out
 * needs none of that changed, and a retransmission (a segment below the
 * connection's snd_nxt, which lwIP's output hook tells us) is sent alone,
 * so retransmissions stay MSS-sized. lwIP no longer computes TCP checksums
 * (the kernel or the peer's NIC does, from NEEDS_CSUM).
 *
 * No payload is copied: a frame lwIP built in one pool pbuf is written in
 * place (WRITE_FIXED); anything else (chains, merged segments, small
 * frames in libc memory) is written with WRITEV from where its bytes lie,
 * behind a small record in a pool buffer that holds the vnet header, the
 * super-frame's headers, the iovec and a reference to each pbuf until the
 * write completes. If the kernel refuses a GSO write (EINVAL, seen on
 * some kernels), its segments go again one by one, the refusal is counted
 * and the stack stops merging.
 */
#include <errno.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/uio.h>

#include "lwip/inet_chksum.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/tcp.h"
#include "stack_impl.h"

#define ETH_HLEN 14
#define TX_MAX_IP 65535 /* an IPv4 total length: the super-frame's bound */
#define TXR_MAXSEG 44 /* segments per super-frame (64 KiB / 1448 + 1) */
#define TXR_MAXIOV (TXR_MAXSEG * 2 + 2)
#define TXR_HDR (VNET_HDR_LEN + ETH_HLEN + 60 + 60)

/* One write in flight: what its iovec points into is held until the CQE. */
struct txrec {
	const struct tcp_pcb *pcb; /* the connection of a merge; else NULL */
	uint32_t next_seq; /* just past the last merged payload */
	uint32_t payload; /* payload bytes merged */
	uint32_t bytes; /* the merged frames' bytes, headers included */
	uint16_t seg_payload; /* the first segment's payload: gso_size */
	uint16_t hdr_len; /* Ethernet + IPv4 + TCP of the first frame */
	uint16_t nseg, niov;
	bool gso; /* written as a super-frame */
	struct pbuf *seg[TXR_MAXSEG]; /* referenced: one per frame */
	struct iovec iov[TXR_MAXIOV];
	uint8_t hdr[TXR_HDR]; /* vnet header, then the first frame's headers */
};
_Static_assert(sizeof(struct txrec) <= SMALL_BUF_SIZE,
	       "a transmit record must fit a small pool buffer");

/* ---- lwIP's output hook (configs/lwipopts.h) --------------------------- */

/* Called by lwIP for each segment it is about to send (data, and control
 * segments too): which connection, and whether it is a retransmission.
 * The link output of the same segment follows at once. */
uint32_t *pinnet_tcp_out_hook(struct pbuf *p, struct tcp_hdr *hdr,
			      const struct tcp_pcb *pcb, uint32_t *opts)
{
	struct pn_stack *st = stack_current();

	(void)p;
	if (st && pcb) { /* none for a reset without a connection */
		st->tx_tag.pcb = pcb;
		st->tx_tag.seqno = lwip_ntohl(hdr->seqno);
		st->tx_tag.rexmit = TCP_SEQ_LT(st->tx_tag.seqno, pcb->snd_nxt);
	}
	return opts;
}

/* ---- helpers ----------------------------------------------------------- */

/* The pseudo-header sum (not complemented) for a TCP length, as
 * NEEDS_CSUM wants it in the check field. */
static uint16_t pseudo_sum(const struct ip_hdr *iph, uint32_t tcp_len)
{
	uint16_t w[4];
	uint32_t s = 0;

	memcpy(w, (const char *)iph + 12, sizeof(w)); /* source, destination */
	s += (uint32_t)w[0] + w[1] + w[2] + w[3];
	s += lwip_htons(IP_PROTO_TCP) + lwip_htons((uint16_t)tcp_len);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The frame's TCP header, if it is a plain IPv4 TCP frame whose Ethernet,
 * IP and TCP headers all lie in its first pbuf. */
static struct tcp_hdr *tcp_of(struct pbuf *p, struct ip_hdr **iphp,
			      uint16_t *hdr_len)
{
	struct eth_hdr *eth = p->payload;
	struct ip_hdr *iph;
	struct tcp_hdr *th;
	unsigned int ihl, thl;

	if (p->len < ETH_HLEN + IP_HLEN + TCP_HLEN ||
	    eth->type != PP_HTONS(ETHTYPE_IP))
		return NULL;
	iph = (struct ip_hdr *)((char *)p->payload + ETH_HLEN);
	ihl = IPH_HL_BYTES(iph);
	if (IPH_PROTO(iph) != IP_PROTO_TCP || ihl < IP_HLEN ||
	    p->len < ETH_HLEN + ihl + TCP_HLEN)
		return NULL;
	th = (struct tcp_hdr *)((char *)iph + ihl);
	thl = TCPH_HDRLEN_BYTES(th);
	if (thl < TCP_HLEN || p->len < ETH_HLEN + ihl + thl)
		return NULL;
	*iphp = iph;
	*hdr_len = (uint16_t)(ETH_HLEN + ihl + thl);
	return th;
}

/* vnet header for one frame: NEEDS_CSUM for TCP (lwIP left the check
 * field to us: the pseudo-header sum goes in), else zero (lwIP summed). */
static void vnet_single(struct virtio_net_hdr *vh, struct pbuf *p)
{
	struct ip_hdr *iph;
	uint16_t hl;
	struct tcp_hdr *th = tcp_of(p, &iph, &hl);

	memset(vh, 0, sizeof(*vh));
	if (!th)
		return;
	th->chksum =
		pseudo_sum(iph, lwip_ntohs(IPH_LEN(iph)) - IPH_HL_BYTES(iph));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->csum_start = (uint16_t)((char *)th - (char *)p->payload);
	vh->csum_offset = 16;
	vh->hdr_len = hl;
}

static struct txrec *rec_new(struct pn_stack *st)
{
	struct txrec *r = pn_buf_alloc(st->pool, sizeof(*r), OWNER_TX);

	if (r) {
		r->pcb = NULL;
		r->nseg = r->niov = 0;
		r->payload = r->bytes = 0;
		r->gso = false;
	}
	return r;
}

/* Append a pbuf chain's bytes from offset skip to the record's iovec. */
static bool rec_iov(struct txrec *r, struct pbuf *p, size_t skip)
{
	for (; p; p = p->next) {
		if (skip >= p->len) {
			skip -= p->len;
			continue;
		}
		if (r->niov == TXR_MAXIOV)
			return false;
		r->iov[r->niov].iov_base = (char *)p->payload + skip;
		r->iov[r->niov].iov_len = p->len - skip;
		r->niov++;
		skip = 0;
	}
	return true;
}

static void rec_free(struct pn_stack *st, struct txrec *r)
{
	for (unsigned int i = 0; i < r->nseg; i++)
		pbuf_free(r->seg[i]);
	pn_buf_free(st->pool, r);
}

static void submit_rec(struct pn_stack *st, struct txrec *r)
{
	struct io_uring_sqe *sqe = stack_sqe(st);

	if (!sqe) {
		st->stats.tx_dropped += r->nseg;
		rec_free(st, r);
		return;
	}
	io_uring_prep_writev(sqe, st->fd, r->iov, r->niov, 0);
	io_uring_sqe_set_data64(sqe, (uintptr_t)r | UD_TXV);
}

/* ---- single frames ---------------------------------------------------- */

/* A frame lwIP built in one pool pbuf (segment data lives in the pool,
 * with room for the vnet header in front): written straight from it; the
 * pbuf is held until the write completes. */
static bool single_in_place(struct pn_stack *st, struct pbuf *p)
{
	struct io_uring_sqe *sqe;
	struct pn_buf_info bi;

	if (p->next || !pn_pool_owns(st->pool, p) ||
	    pn_buf_lookup(st->pool, p->payload, &bi) ||
	    pbuf_add_header(p, VNET_HDR_LEN))
		return false;
	pbuf_remove_header(p, VNET_HDR_LEN);
	vnet_single(
		(struct virtio_net_hdr *)((char *)p->payload - VNET_HDR_LEN),
		p);
	sqe = stack_sqe(st);
	if (!sqe)
		return false;
	io_uring_prep_write_fixed(sqe, st->fd,
				  (char *)p->payload - VNET_HDR_LEN,
				  p->len + VNET_HDR_LEN, 0, (int)bi.slot);
	io_uring_sqe_set_data64(sqe, (uintptr_t)p | UD_TXZC);
	pbuf_ref(p);
	st->stats.tx_zerocopy++;
	return true;
}

/* Any other frame: WRITEV from where its bytes lie, behind a record. */
static bool single_iov(struct pn_stack *st, struct pbuf *p)
{
	struct txrec *r = rec_new(st);

	if (!r)
		return false;
	vnet_single((struct virtio_net_hdr *)r->hdr, p);
	r->iov[0].iov_base = r->hdr;
	r->iov[0].iov_len = VNET_HDR_LEN;
	r->niov = 1;
	if (!rec_iov(r, p, 0)) {
		pn_buf_free(st->pool, r);
		return false;
	}
	pbuf_ref(p);
	r->seg[r->nseg++] = p;
	submit_rec(st, r);
	return true;
}

static err_t send_single(struct pn_stack *st, struct pbuf *p)
{
	if (single_in_place(st, p) || single_iov(st, p)) {
		st->stats.tx_frames++;
		st->stats.tx_bytes += p->tot_len;
		return ERR_OK;
	}
	st->stats.tx_dropped++;
	return ERR_MEM;
}

/* ---- merging -------------------------------------------------------- */

/* The open super-frame goes out: its header made for the whole, or, with
 * one segment, as a plain frame. */
void tx_flush(struct pn_stack *st)
{
	struct txrec *r = st->tx_open;
	struct virtio_net_hdr *vh;
	struct ip_hdr *iph;
	struct tcp_hdr *th;
	uint32_t tcp_len;

	if (!r)
		return;
	st->tx_open = NULL;
	if (r->nseg == 1) { /* nothing joined it: the frame as it is */
		send_single(st, r->seg[0]);
		rec_free(st, r);
		return;
	}
	vh = (struct virtio_net_hdr *)r->hdr;
	iph = (struct ip_hdr *)(r->hdr + VNET_HDR_LEN + ETH_HLEN);
	th = (struct tcp_hdr *)((char *)iph + IPH_HL_BYTES(iph));
	tcp_len = (uint32_t)(r->hdr_len - ETH_HLEN - IPH_HL_BYTES(iph)) +
		  r->payload;
	IPH_LEN_SET(iph, lwip_htons((uint16_t)(IPH_HL_BYTES(iph) + tcp_len)));
	IPH_CHKSUM_SET(iph, 0);
	IPH_CHKSUM_SET(iph, inet_chksum(iph, IPH_HL_BYTES(iph)));
	th->chksum = pseudo_sum(iph, tcp_len);
	memset(vh, 0, sizeof(*vh));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh->gso_size = r->seg_payload;
	vh->hdr_len = r->hdr_len;
	vh->csum_start = (uint16_t)(ETH_HLEN + IPH_HL_BYTES(iph));
	vh->csum_offset = 16;
	r->iov[0].iov_base = r->hdr;
	r->iov[0].iov_len = VNET_HDR_LEN + r->hdr_len;
	r->gso = true;
	st->stats.tx_frames += r->nseg;
	st->stats.tx_bytes += r->bytes;
	st->stats.tx_gso++;
	st->stats.tx_gso_segs += r->nseg;
	submit_rec(st, r);
}

/* Whether segment p (TCP header th, headers hl bytes) of connection pcb
 * continues the open super-frame r: the same connection, the next
 * sequence number, the same headers but for the sequence number, PSH and
 * the checksum, no PSH yet, full-sized segments so far, and room left. */
static bool joins(const struct txrec *r, const struct tcp_pcb *pcb,
		  const struct tcp_hdr *th, uint16_t hl, uint32_t payload)
{
	unsigned int thl = TCPH_HDRLEN_BYTES(th);
	const uint8_t *a = r->hdr + VNET_HDR_LEN + hl - thl;
	const uint8_t *b = (const uint8_t *)th;

	if (r->pcb != pcb || hl != r->hdr_len ||
	    lwip_ntohl(th->seqno) != r->next_seq || payload > r->seg_payload ||
	    r->payload % r->seg_payload || (a[13] & TCP_PSH) ||
	    r->nseg == TXR_MAXSEG || r->niov + 2 > TXR_MAXIOV ||
	    (size_t)hl - ETH_HLEN + r->payload + payload > TX_MAX_IP)
		return false;
	/* ports, ACK, offset, window, urgent pointer, options: identical */
	return !memcmp(a, b, 4) && !memcmp(a + 8, b + 8, 5) &&
	       (a[13] & ~TCP_PSH) == (b[13] & ~TCP_PSH) &&
	       !memcmp(a + 14, b + 14, 2) && !memcmp(a + 18, b + 18, thl - 18);
}

/* lwIP's link output: a new-data segment joins the open super-frame or
 * opens one; anything else goes as it is, after what is open. */
err_t tx_linkoutput(struct netif *n, struct pbuf *p)
{
	struct pn_stack *st = n->state;
	struct txrec *r = st->tx_open;
	struct tx_tag tag = st->tx_tag;
	struct ip_hdr *iph;
	struct tcp_hdr *th;
	uint32_t payload = 0;
	uint16_t hl;

	st->tx_tag.pcb = NULL; /* the tag was this frame's, or is stale */
	th = tcp_of(p, &iph, &hl);
	if (th)
		payload = lwip_ntohs(IPH_LEN(iph)) - (uint32_t)(hl - ETH_HLEN);
	if (!th || !tag.pcb || tag.rexmit || st->gso_off || !payload ||
	    lwip_ntohl(th->seqno) != tag.seqno ||
	    (TCPH_FLAGS(th) & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG)) ||
	    IPH_HL_BYTES(iph) != IP_HLEN ||
	    (lwip_ntohs(IPH_OFFSET(iph)) & ~IP_DF)) {
		tx_flush(st);
		return send_single(st, p);
	}
	if (r && !joins(r, tag.pcb, th, hl, payload)) {
		tx_flush(st);
		r = NULL;
	}
	if (!r) {
		r = rec_new(st);
		if (!r)
			return send_single(st, p);
		r->pcb = tag.pcb;
		r->hdr_len = hl;
		r->seg_payload = (uint16_t)payload;
		memcpy(r->hdr + VNET_HDR_LEN, p->payload, hl);
		r->niov = 1; /* iov[0]: the headers, made at the flush */
		st->tx_open = r;
	} else if (TCPH_FLAGS(th) & TCP_PSH) {
		/* the kernel puts the super-frame's PSH on its last segment */
		r->hdr[VNET_HDR_LEN + hl - TCPH_HDRLEN_BYTES(th) + 13] |=
			TCP_PSH;
	}
	if (!rec_iov(r, p, hl)) { /* not with the bounds joins() checks */
		tx_flush(st);
		return send_single(st, p);
	}
	pbuf_ref(p);
	r->seg[r->nseg++] = p;
	r->payload += payload;
	r->bytes += p->tot_len;
	r->next_seq = tag.seqno + payload;
	return ERR_OK;
}

/* The kernel refused a super-frame: each segment goes alone. */
static void gso_refused(struct pn_stack *st, struct txrec *r)
{
	st->stats.tx_gso_refused++;
	st->gso_off = true;
	stack_seterr(st, EINVAL,
		     "the kernel refused a GSO write on %s: segments are "
		     "sent one by one from now on",
		     st->o.iface);
	for (unsigned int i = 0; i < r->nseg; i++)
		send_single(st, r->seg[i]);
}

void tx_complete(struct pn_stack *st, uint64_t ud, int res)
{
	char *ptr = (char *)(uintptr_t)(ud & ~(uint64_t)UD_KIND_MASK);

	if ((ud & UD_KIND_MASK) == UD_TXV && ((struct txrec *)ptr)->gso &&
	    st->gso_refuse_test) {
		st->gso_refuse_test--; /* a test: as if the kernel refused */
		res = -EINVAL;
	}
	if (res == -EINVAL && (ud & UD_KIND_MASK) == UD_TXV &&
	    ((struct txrec *)ptr)->gso) {
		gso_refused(st, (struct txrec *)ptr);
		rec_free(st, (struct txrec *)ptr);
		return;
	}
	if (res < 0) {
		st->stats.tx_dropped++;
		stack_seterr(st, -res, "frame write: %s", strerror(-res));
	}
	if ((ud & UD_KIND_MASK) == UD_TXZC)
		pbuf_free((struct pbuf *)ptr);
	else
		rec_free(st, (struct txrec *)ptr);
}
