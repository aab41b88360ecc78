/* SPDX-License-Identifier: MIT */
/*
 * Transmit, with segmentation offload.
 *
 * lwIP builds segments of up to 64 KiB when segmentation is offloaded
 * (pcb->gso_max, pinnet's lwIP patch 0004: a whole number of wire
 * segments, cut to what the window allows, trimmed to one wire segment
 * before a retransmission), and every segment bigger than one wire
 * segment is written as one super-frame: a virtio_net_hdr with
 * VIRTIO_NET_HDR_GSO_TCPV4, gso_size the wire segment's payload (the MSS
 * less TCP options), NEEDS_CSUM with the pseudo-header sum in the TCP
 * check field, csum_start/csum_offset; lwIP no longer computes TCP
 * checksums (the kernel or the NIC does). The kernel segments it on the
 * way out, or, on a veth, hands it to the peer whole.
 *
 * Smaller segments of one connection that lwIP emits back to back (tails,
 * small writes) are merged here into one super-frame the same way, with
 * the IPv4 length and header checksum made for the whole. Retransmissions
 * (below the connection's snd_nxt, which lwIP's output hook tells) are
 * never merged.
 *
 * Why segments are made big in lwIP and not only merged here: lwIP's cost
 * is per segment (allocation, output, acknowledgement); merging alone left
 * the sender at a fraction of the kernel's speed.
 *
 * No payload is copied: a frame lwIP built in one pool pbuf is written in
 * place (WRITE_FIXED); anything else (chains, merged segments, frames in
 * libc memory) is written with WRITEV from where its bytes lie, behind a
 * record in a small pool buffer holding the vnet header, the super-frame's
 * headers, the iovec and a reference to each pbuf until the write
 * completes. If the kernel refuses a GSO write (EINVAL, seen on some
 * kernels), the super-frame is cut into wire segments here (headers made
 * for each, payload still where it lies), the refusal is counted, and the
 * stack stops offloading.
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
#define TXR_MAXSEG 40 /* frames merged into one super-frame */
#define TXR_MAXIOV (TXR_MAXSEG * 2 + 2)
#define TXR_HDR (VNET_HDR_LEN + ETH_HLEN + 60 + 60)

/* One write in flight: what its iovec points into is held until the CQE.
 * iov[0] is the vnet header and the headers (hdr); iov[1..] payload. */
struct txrec {
	const struct tcp_pcb *pcb; /* the connection of a merge; else NULL */
	uint32_t next_seq; /* just past the last merged payload */
	uint32_t payload; /* payload bytes */
	uint16_t wire; /* payload of one wire segment: gso_size */
	uint16_t hdr_len; /* Ethernet + IPv4 + TCP */
	uint16_t nseg, niov;
	bool gso; /* written as a super-frame */
	struct pbuf *seg[TXR_MAXSEG]; /* referenced: one per frame */
	uint8_t iov_seg[TXR_MAXIOV]; /* which seg[] each iov points into */
	struct iovec iov[TXR_MAXIOV];
	uint8_t hdr[TXR_HDR]; /* vnet header, then the frame's headers */
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
	/* none for a reset without a connection; a listener's (lwIP passes
	 * a struct tcp_pcb_listen for its resets) has no sequence space */
	if (st && pcb && pcb->state != LISTEN) {
		st->tx_tag.pcb = pcb;
		st->tx_tag.seqno = lwip_ntohl(hdr->seqno);
		st->tx_tag.rexmit = TCP_SEQ_LT(st->tx_tag.seqno, pcb->snd_nxt);
	}
	return opts;
}

/* ---- frames ------------------------------------------------------------ */

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

/* A parsed IPv4 TCP frame whose headers all lie in its first pbuf. */
struct tcpf {
	struct ip_hdr *iph;
	struct tcp_hdr *th;
	uint16_t hl; /* Ethernet + IP + TCP */
	uint32_t payload;
};

static bool tcp_of(struct pbuf *p, struct tcpf *f)
{
	struct eth_hdr *eth = p->payload;
	unsigned int ihl, thl, tot;

	if (p->len < ETH_HLEN + IP_HLEN + TCP_HLEN ||
	    eth->type != PP_HTONS(ETHTYPE_IP))
		return false;
	f->iph = (struct ip_hdr *)((char *)p->payload + ETH_HLEN);
	ihl = IPH_HL_BYTES(f->iph);
	tot = lwip_ntohs(IPH_LEN(f->iph));
	if (IPH_PROTO(f->iph) != IP_PROTO_TCP || ihl < IP_HLEN ||
	    p->len < ETH_HLEN + ihl + TCP_HLEN)
		return false;
	f->th = (struct tcp_hdr *)((char *)f->iph + ihl);
	thl = TCPH_HDRLEN_BYTES(f->th);
	if (thl < TCP_HLEN || p->len < ETH_HLEN + ihl + thl ||
	    tot < ihl + thl || ETH_HLEN + tot > p->tot_len)
		return false;
	f->hl = (uint16_t)(ETH_HLEN + ihl + thl);
	f->payload = tot - ihl - thl;
	return true;
}

/* The payload of one wire segment of connection pcb (NULL: from the
 * interface's MTU), with the frame's TCP options. */
static uint16_t wire_of(const struct pn_stack *st, const struct tcp_pcb *pcb,
			const struct tcpf *f)
{
	unsigned int opt = TCPH_HDRLEN_BYTES(f->th) - TCP_HLEN;
	unsigned int mss =
		pcb ? pcb->mss :
		      st->netif.mtu - IPH_HL_BYTES(f->iph) - TCP_HLEN;

	return (uint16_t)(mss > opt ? mss - opt : 1);
}

/* The vnet header of a frame (or super-frame) whose headers are f: for
 * TCP, NEEDS_CSUM with the pseudo-header sum put in the check field, and
 * GSO when the payload is more than one wire segment. */
static void vnet_tcp(struct virtio_net_hdr *vh, const struct tcpf *f,
		     uint16_t wire)
{
	f->th->chksum = pseudo_sum(
		f->iph, (uint32_t)(f->hl - ETH_HLEN - IPH_HL_BYTES(f->iph)) +
				f->payload);
	memset(vh, 0, sizeof(*vh));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->csum_start = (uint16_t)(ETH_HLEN + IPH_HL_BYTES(f->iph));
	vh->csum_offset = 16;
	vh->hdr_len = f->hl;
	if (f->payload > wire) {
		vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		vh->gso_size = wire;
	}
}

/* ---- records ----------------------------------------------------------- */

static struct txrec *rec_new(struct pn_stack *st)
{
	struct txrec *r = pn_buf_alloc(st->pool, sizeof(*r), OWNER_TX);

	if (r) {
		r->pcb = NULL;
		r->nseg = 0;
		r->niov = 1; /* iov[0]: vnet header and headers */
		r->payload = 0;
		r->gso = false;
	}
	return r;
}

/* Append bytes [skip, skip + len) of chain p (taking a reference to p). */
static bool rec_add(struct txrec *r, struct pbuf *p, size_t skip, size_t len)
{
	if (r->nseg == TXR_MAXSEG)
		return false;
	for (struct pbuf *q = p; q && len; q = q->next) {
		size_t n;

		if (skip >= q->len) {
			skip -= q->len;
			continue;
		}
		if (r->niov == TXR_MAXIOV)
			return false;
		n = q->len - skip < len ? q->len - skip : len;
		r->iov[r->niov].iov_base = (char *)q->payload + skip;
		r->iov[r->niov].iov_len = n;
		r->iov_seg[r->niov] = (uint8_t)r->nseg;
		r->niov++;
		len -= n;
		skip = 0;
	}
	pbuf_ref(p);
	r->seg[r->nseg++] = p;
	return true;
}

static void rec_free(struct pn_stack *st, struct txrec *r)
{
	for (unsigned int i = 0; i < r->nseg; i++)
		pbuf_free(r->seg[i]);
	pn_buf_free(st->pool, r);
}

static void rec_refused(struct pn_stack *st, struct txrec *r);

static void rec_submit(struct pn_stack *st, struct txrec *r)
{
	struct io_uring_sqe *sqe;

	if (r->gso && st->gso_refuse_test) {
		/* a test (PINNET_TEST_GSO_REFUSE): as if the kernel refused */
		st->gso_refuse_test--;
		rec_refused(st, r);
		return;
	}
	sqe = stack_sqe(st);

	if (!sqe) {
		st->stats.tx_dropped++;
		rec_free(st, r);
		return;
	}
	io_uring_prep_writev(sqe, st->fd, r->iov, r->niov, 0);
	io_uring_sqe_set_data64(sqe, (uintptr_t)r | UD_TXV);
	st->stats.tx_writes++;
}

/* The headers in r->hdr as a parsed frame. */
static void rec_frame(struct txrec *r, struct tcpf *f)
{
	f->iph = (struct ip_hdr *)(r->hdr + VNET_HDR_LEN + ETH_HLEN);
	f->th = (struct tcp_hdr *)((char *)f->iph + IPH_HL_BYTES(f->iph));
	f->hl = r->hdr_len;
	f->payload = r->payload;
}

/* r's headers made for its whole payload, and out as one (super-)frame. */
static void rec_send_gso(struct pn_stack *st, struct txrec *r)
{
	struct tcpf f;

	rec_frame(r, &f);
	IPH_LEN_SET(f.iph, lwip_htons((uint16_t)(f.hl - ETH_HLEN + f.payload)));
	IPH_CHKSUM_SET(f.iph, 0);
	IPH_CHKSUM_SET(f.iph, inet_chksum(f.iph, IPH_HL_BYTES(f.iph)));
	vnet_tcp((struct virtio_net_hdr *)r->hdr, &f, r->wire);
	r->iov[0].iov_base = r->hdr;
	r->iov[0].iov_len = VNET_HDR_LEN + r->hdr_len;
	r->gso = f.payload > r->wire;
	if (r->gso) {
		st->stats.tx_gso++;
		st->stats.tx_gso_segs += (f.payload + r->wire - 1) / r->wire;
	}
	rec_submit(st, r);
}

/* Segmentation in software (the kernel refused GSO, or it is off): r's
 * payload cut into wire segments, each its own record with headers made
 * for it; the payload stays where it lies. r is consumed. */
static void rec_send_segments(struct pn_stack *st, struct txrec *r)
{
	struct tcpf f;
	uint32_t seq, off = 0;
	unsigned int i = 1;
	size_t in = 0; /* bytes of iov[i] already taken */
	uint8_t flags;

	rec_frame(r, &f);
	seq = lwip_ntohl(f.th->seqno);
	flags = TCPH_FLAGS(f.th);
	while (off < r->payload) {
		uint32_t n =
			r->payload - off < r->wire ? r->payload - off : r->wire;
		struct txrec *s = rec_new(st);
		struct tcpf sf;
		int last_seg = -1;

		if (!s) {
			st->stats.tx_dropped++;
			break;
		}
		memcpy(s->hdr, r->hdr, VNET_HDR_LEN + r->hdr_len);
		s->hdr_len = r->hdr_len;
		s->wire = r->wire;
		s->payload = n;
		rec_frame(s, &sf);
		sf.th->seqno = lwip_htonl(seq + off);
		/* PSH and FIN belong to the last segment only */
		TCPH_FLAGS_SET(sf.th, off + n < r->payload ?
					      flags & ~(TCP_PSH | TCP_FIN) :
					      flags);
		for (uint32_t need = n; need && i < r->niov;) {
			size_t take = r->iov[i].iov_len - in;

			if (take > need)
				take = need;
			s->iov[s->niov].iov_base =
				(char *)r->iov[i].iov_base + in;
			s->iov[s->niov].iov_len = take;
			s->niov++;
			if (r->iov_seg[i] !=
			    last_seg) { /* hold what it reads */
				last_seg = r->iov_seg[i];
				pbuf_ref(r->seg[last_seg]);
				s->seg[s->nseg++] = r->seg[last_seg];
			}
			need -= (uint32_t)take;
			in += take;
			if (in == r->iov[i].iov_len) {
				i++;
				in = 0;
			}
		}
		rec_send_gso(st, s); /* one wire segment: no GSO */
		off += n;
	}
	rec_free(st, r);
}

/* A frame's record, to write from where it lies or segment in software. */
static struct txrec *rec_of_frame(struct pn_stack *st, struct pbuf *p,
				  const struct tcpf *f, uint16_t wire)
{
	struct txrec *r = rec_new(st);

	if (!r)
		return NULL;
	memcpy(r->hdr + VNET_HDR_LEN, p->payload, f->hl);
	r->hdr_len = f->hl;
	r->wire = wire;
	r->payload = f->payload;
	if (!rec_add(r, p, f->hl, f->payload)) {
		rec_free(st, r);
		return NULL;
	}
	return r;
}

/* ---- single frames ------------------------------------------------------ */

/* In place: a frame lwIP built in one pool pbuf (with room for the vnet
 * header in front) is written straight from it; the pbuf is held until
 * the write completes. */
static bool single_in_place(struct pn_stack *st, struct pbuf *p,
			    const struct tcpf *f, uint16_t wire)
{
	struct virtio_net_hdr *vh;
	struct io_uring_sqe *sqe;
	struct pn_buf_info bi;
	bool gso = f && f->payload > wire;

	if (p->next || (gso && (st->gso_off || st->gso_refuse_test)) ||
	    !pn_pool_owns(st->pool, p) ||
	    pn_buf_lookup(st->pool, p->payload, &bi) ||
	    pbuf_add_header(p, VNET_HDR_LEN))
		return false;
	vh = p->payload;
	pbuf_remove_header(p, VNET_HDR_LEN);
	if (f)
		vnet_tcp(vh, f, wire);
	else
		memset(vh, 0, sizeof(*vh)); /* lwIP summed what it sends */
	sqe = stack_sqe(st);
	if (!sqe)
		return false;
	io_uring_prep_write_fixed(sqe, st->fd, vh, p->len + VNET_HDR_LEN, 0,
				  (int)bi.slot);
	io_uring_sqe_set_data64(sqe,
				(uintptr_t)p | (gso ? UD_TXZC_GSO : UD_TXZC));
	pbuf_ref(p);
	st->stats.tx_writes++;
	st->stats.tx_zerocopy++;
	if (gso) {
		st->stats.tx_gso++;
		st->stats.tx_gso_segs += (f->payload + wire - 1) / wire;
	}
	return true;
}

/* Not a plain TCP frame (ARP, ICMP ...): WRITEV from where it lies. */
static bool single_other(struct pn_stack *st, struct pbuf *p)
{
	struct txrec *r = rec_new(st);

	if (!r)
		return false;
	memset(r->hdr, 0, VNET_HDR_LEN);
	r->iov[0].iov_base = r->hdr;
	r->iov[0].iov_len = VNET_HDR_LEN;
	if (!rec_add(r, p, 0, p->tot_len)) {
		rec_free(st, r);
		return false;
	}
	rec_submit(st, r);
	return true;
}

/* One frame as it is (a TCP frame bigger than one wire segment as a
 * super-frame, or cut in software when offload is off). */
static err_t send_single(struct pn_stack *st, struct pbuf *p,
			 const struct tcpf *f, uint16_t wire)
{
	struct txrec *r;

	if (single_in_place(st, p, f, wire))
		return ERR_OK;
	if (!f) {
		if (!single_other(st, p))
			goto drop;
		return ERR_OK;
	}
	r = rec_of_frame(st, p, f, wire);
	if (!r)
		goto drop;
	if (st->gso_off && f->payload > wire)
		rec_send_segments(st, r);
	else
		rec_send_gso(st, r);
	return ERR_OK;
drop:
	st->stats.tx_dropped++;
	return ERR_MEM;
}

/* ---- merging ---------------------------------------------------------- */

/* The open super-frame goes out. */
void tx_flush(struct pn_stack *st)
{
	struct txrec *r = st->tx_open;

	if (!r)
		return;
	st->tx_open = NULL;
	if (st->gso_off && r->payload > r->wire)
		rec_send_segments(st, r);
	else
		rec_send_gso(st, r);
}

/* Whether frame f of connection pcb continues the open super-frame r: the
 * same connection, the next sequence number, the same headers but for the
 * sequence number, PSH and the checksum, no PSH yet, full wire segments
 * so far, and room left. */
static bool joins(const struct txrec *r, const struct tcp_pcb *pcb,
		  const struct tcpf *f)
{
	unsigned int thl = TCPH_HDRLEN_BYTES(f->th);
	const uint8_t *a = r->hdr + VNET_HDR_LEN + f->hl - thl;
	const uint8_t *b = (const uint8_t *)f->th;

	if (r->pcb != pcb || f->hl != r->hdr_len ||
	    lwip_ntohl(f->th->seqno) != r->next_seq || r->payload % r->wire ||
	    (a[13] & TCP_PSH) || r->nseg == TXR_MAXSEG ||
	    r->niov + 2 > TXR_MAXIOV ||
	    (size_t)f->hl - ETH_HLEN + r->payload + f->payload > TX_MAX_IP)
		return false;
	/* ports, ACK, offset, window, urgent pointer, options: identical */
	return !memcmp(a, b, 4) && !memcmp(a + 8, b + 8, 5) &&
	       (a[13] & ~TCP_PSH) == (b[13] & ~TCP_PSH) &&
	       !memcmp(a + 14, b + 14, 2) && !memcmp(a + 18, b + 18, thl - 18);
}

/* lwIP's link output: a new-data segment of at most one wire segment
 * joins the open super-frame or opens one; anything else goes as it is,
 * after what is open. */
err_t tx_linkoutput(struct netif *n, struct pbuf *p)
{
	struct pn_stack *st = n->state;
	struct txrec *r = st->tx_open;
	struct tx_tag tag = st->tx_tag;
	struct tcpf f;
	bool tcp;
	uint16_t wire = 0;

	st->tx_tag.pcb = NULL; /* the tag was this frame's, or is stale */
	st->stats.tx_frames++;
	st->stats.tx_bytes += p->tot_len;
	tcp = tcp_of(p, &f);
	if (tcp) {
		if (!f.payload &&
		    !(TCPH_FLAGS(f.th) & (TCP_SYN | TCP_FIN | TCP_RST)))
			st->stats.tx_pure_acks++;
		if (tag.pcb && lwip_ntohl(f.th->seqno) != tag.seqno)
			tag.pcb = NULL;
		wire = wire_of(st, tag.pcb, &f);
	}
	if (!tcp || !tag.pcb || tag.rexmit || st->gso_off || !f.payload ||
	    f.payload >= wire ||
	    (TCPH_FLAGS(f.th) & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG)) ||
	    IPH_HL_BYTES(f.iph) != IP_HLEN ||
	    (lwip_ntohs(IPH_OFFSET(f.iph)) & ~IP_DF)) {
		tx_flush(st); /* in order: what is open goes first */
		return send_single(st, p, tcp ? &f : NULL, wire);
	}
	if (r && !joins(r, tag.pcb, &f)) {
		tx_flush(st);
		r = NULL;
	}
	if (!r) {
		r = rec_new(st);
		if (!r)
			return send_single(st, p, &f, wire);
		r->pcb = tag.pcb;
		r->hdr_len = f.hl;
		r->wire = wire;
		memcpy(r->hdr + VNET_HDR_LEN, p->payload, f.hl);
		st->tx_open = r;
	} else if (TCPH_FLAGS(f.th) & TCP_PSH) {
		/* the kernel puts the super-frame's PSH on its last segment */
		r->hdr[VNET_HDR_LEN + f.hl - TCPH_HDRLEN_BYTES(f.th) + 13] |=
			TCP_PSH;
	}
	if (!rec_add(r, p, f.hl, f.payload)) { /* not within joins() bounds */
		tx_flush(st);
		return send_single(st, p, &f, wire);
	}
	r->payload += f.payload;
	r->next_seq = tag.seqno + f.payload;
	return ERR_OK;
}

/* ---- completions ------------------------------------------------------ */

/* The kernel refused a super-frame: offload stops for the stack. New
 * connections build wire-sized segments; the big segments of the others
 * (lwIP cannot shrink a connection's segments while some are queued) and
 * what was refused are cut here. */
static void gso_refused(struct pn_stack *st)
{
	st->stats.tx_gso_refused++;
	if (st->gso_off)
		return;
	st->gso_off = true;
	stack_seterr(st, EINVAL,
		     "the kernel refused a GSO write on %s: segments are "
		     "cut by the stack from now on",
		     st->o.iface);
}

/* A super-frame's record the kernel refused: cut and sent again. */
static void rec_refused(struct pn_stack *st, struct txrec *r)
{
	gso_refused(st);
	r->gso = false;
	rec_send_segments(st, r);
}

void tx_complete(struct pn_stack *st, uint64_t ud, int res)
{
	unsigned int kind = ud & UD_KIND_MASK;
	char *ptr = (char *)(uintptr_t)(ud & ~(uint64_t)UD_KIND_MASK);
	bool gso = kind == UD_TXZC_GSO ||
		   (kind == UD_TXV && ((struct txrec *)ptr)->gso);

	if (gso && res == -EINVAL) {
		struct virtio_net_hdr *vh;
		struct tcpf f;
		struct txrec *r;
		struct pbuf *p;

		if (kind == UD_TXV) {
			rec_refused(st, (struct txrec *)ptr);
			return;
		}
		gso_refused(st);
		/* written in place: its vnet header, before it, says how */
		p = (struct pbuf *)ptr;
		vh = (struct virtio_net_hdr *)((char *)p->payload -
					       VNET_HDR_LEN);
		r = tcp_of(p, &f) ? rec_of_frame(st, p, &f, vh->gso_size) :
				    NULL;
		if (r)
			rec_send_segments(st, r);
		else
			st->stats.tx_dropped++;
		pbuf_free((struct pbuf *)ptr);
		return;
	}
	if (res < 0) {
		st->stats.tx_dropped++;
		stack_seterr(st, -res, "frame write: %s", strerror(-res));
	}
	if (kind == UD_TXZC || kind == UD_TXZC_GSO)
		pbuf_free((struct pbuf *)ptr);
	else
		rec_free(st, (struct txrec *)ptr);
}
