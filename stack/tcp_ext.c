/* SPDX-License-Identifier: MIT */
/*
 * TCP behaviour lwIP 2.1.3 lacks, added from outside lwIP's sources: the
 * stack calls these around lwIP's input. They touch lwIP's pcbs only
 * (no pinnet types), so the frame fuzzer runs them with lwIP alone.
 */
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/tcp.h"
#include "tcp_ext.h"

/*
 * NewReno's partial-ACK retransmission (RFC 6582), which lwIP 2.1.3 lacks:
 * it leaves fast recovery on the first ACK of new data, so every further
 * hole in the same window waited for a retransmission timeout (with
 * go-back-N after it), so a little loss made a bulk send crawl. Here,
 * after each batch of input: a connection seen in recovery remembers
 * snd_nxt as its recovery point (ext arg 0); when lwIP has left recovery
 * but the ACK stops short of that point, the next hole is retransmitted at
 * once and the connection stays in recovery, until an ACK covers it. Also
 * early retransmit, below. Only connections that took in segments are
 * looked at; those with nothing lost cost one test.
 */
#define RECOVER_SET (1ull << 32)

/* early retransmit (RFC 5827): with few segments out, three duplicate
 * ACKs never come; one does */
static bool few_out(const struct tcp_pcb *pcb)
{
	u32_t out = pcb->snd_nxt - pcb->lastack;

	return out <= 4u * pcb->mss &&
	       (!pcb->unsent || out >= LWIP_MIN(pcb->cwnd, pcb->snd_wnd));
}

/*
 * The connections that took in segments since the last pass: the pass
 * looks only at them (recovery moves on ACKs), not at every connection.
 * Noted by the stack's input hook (tcp_loss_note()) while a batch is taken
 * in; a pcb may go meanwhile (a reset), so each is found again by its
 * 4-tuple before it is looked at. One batch at a time per thread: a
 * thread drives its stacks one after the other, and each pass empties
 * the list. Past its capacity the pass walks tcp_busy_pcbs instead.
 */
#define NOTED_MAX 1024
struct noted {
	struct tcp_pcb *pcb;
	ip_addr_t local_ip, remote_ip;
	u16_t local_port, remote_port;
};
static __thread struct noted noted[NOTED_MAX];
static __thread unsigned int nnoted;
static __thread bool noted_overflow;
static __thread const struct tcp_pcb *noted_last;

void tcp_loss_note(struct tcp_pcb *pcb)
{
	struct noted *n;

	if (pcb->state == LISTEN || pcb->state == TIME_WAIT)
		return; /* nothing in flight */
	if (pcb == noted_last)
		return; /* the common case: a burst of one connection */
	noted_last = pcb;
	if (nnoted == NOTED_MAX) {
		noted_overflow = true;
		return;
	}
	n = &noted[nnoted++];
	n->pcb = pcb;
	ip_addr_copy(n->local_ip, pcb->local_ip);
	ip_addr_copy(n->remote_ip, pcb->remote_ip);
	n->local_port = pcb->local_port;
	n->remote_port = pcb->remote_port;
}

/* One connection's step of NewReno partial ACKs and early retransmit. */
static void recover(struct tcp_pcb *pcb)
{
	uint64_t rec = (uintptr_t)tcp_ext_arg_get(pcb, 0);
	bool open = pcb->state == ESTABLISHED && pcb->unacked &&
		    !(pcb->flags & TF_RTO);

	if (!rec && !pcb->dupacks && !(pcb->flags & TF_INFR))
		return; /* the common case: nothing lost */
	if (pcb->flags & TF_INFR) {
		if (!rec)
			tcp_ext_arg_set(pcb, 0,
					(void *)(uintptr_t)(RECOVER_SET |
							    pcb->snd_nxt));
	} else if (!rec) {
		if (open && few_out(pcb)) {
			tcp_rexmit_fast(pcb);
			tcp_output(pcb);
		}
	} else if (open && TCP_SEQ_LT(pcb->lastack, (uint32_t)rec) &&
		   tcp_rexmit(pcb) == ERR_OK) {
		/* a partial ACK: the next hole goes at once */
		tcp_set_flags(pcb, TF_INFR);
		pcb->rtime = 0;
		tcp_output(pcb);
	} else {
		tcp_ext_arg_set(pcb, 0, NULL); /* recovery is over */
	}
}

void tcp_loss_recovery(void)
{
	unsigned int n = nnoted;

	nnoted = 0;
	noted_last = NULL;
	if (noted_overflow) {
		/* more connections than noted: every one with timer work
		 * (patch 0006), which includes all with data unacknowledged */
		noted_overflow = false;
		for (struct tcp_pcb *pcb = tcp_busy_pcbs; pcb;
		     pcb = pcb->busy_next)
			recover(pcb);
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct noted *d = &noted[i];
		struct tcp_pcb *pcb = tcp_hash_lookup(
			&d->local_ip, d->local_port, &d->remote_ip,
			d->remote_port, NETIF_NO_INDEX);

		if (pcb == d->pcb && pcb->state != TIME_WAIT)
			recover(pcb);
	}
}

/*
 * D-SACK (RFC 2883), which lwIP 2.1.3 does not send: when a data segment
 * arrives that lies wholly below rcv_nxt (the peer retransmitted what we
 * already had), the ACK lwIP sends for it at once carries that range as
 * the first SACK block. On a veth the peer's frames can reach the packet
 * socket out of order (each CPU's backlog drains separately), lwIP SACKs
 * the hole and a Linux sender retransmits it within microseconds, its RACK
 * window being a quarter of a tiny RTT. Without D-SACK it never learns the
 * retransmission was spurious: CUBIC keeps the cut window and RACK keeps
 * the tiny reordering window. With it, Linux undoes the cut and widens
 * the window (measured in bench_stack.sh). Only segments of an
 * established connection that negotiated SACK, with no SYN/FIN/RST.
 */
/* The connection of a segment, found as tcp_input() will (lwIP's pcb
 * table, patch 0005): the 4-tuple is kept in m */
static struct tcp_pcb *dsack_pcb(const struct ip_hdr *iph,
				 const struct tcp_hdr *th, struct dsack_mark *m)
{
	ip4_addr_copy(m->local_ip, iph->dest);
	ip4_addr_copy(m->remote_ip, iph->src);
	m->local_port = lwip_ntohs(th->dest);
	m->remote_port = lwip_ntohs(th->src);
	return tcp_hash_lookup(&m->local_ip, m->local_port, &m->remote_ip,
			       m->remote_port, NETIF_NO_INDEX);
}

bool tcp_dsack_mark(const void *ip4, size_t len, struct dsack_mark *m)
{
	const struct ip_hdr *iph = ip4;
	const struct tcp_hdr *th;
	size_t ihl, tot, doff;
	struct tcp_pcb *pcb;
	uint32_t seq, end;

	if (len < IP_HLEN + TCP_HLEN || IPH_PROTO(iph) != IP_PROTO_TCP)
		return false;
	ihl = IPH_HL_BYTES(iph);
	tot = lwip_ntohs(IPH_LEN(iph));
	if (tot == 0 && len > 0xffff)
		tot = len; /* BIG TCP: no length in the header */
	if (ihl < IP_HLEN || tot > len || tot < ihl + TCP_HLEN)
		return false;
	th = (const struct tcp_hdr *)((const char *)ip4 + ihl);
	doff = TCPH_HDRLEN_BYTES(th);
	if (doff < TCP_HLEN || tot <= ihl + doff ||
	    (TCPH_FLAGS(th) & (TCP_SYN | TCP_FIN | TCP_RST)))
		return false; /* no data, or not a plain data segment */
	seq = lwip_ntohl(th->seqno);
	end = seq + (uint32_t)(tot - ihl - doff);
	pcb = dsack_pcb(iph, th, m);
	if (!pcb || pcb->state != ESTABLISHED || !(pcb->flags & TF_SACK) ||
	    TCP_SEQ_GT(end, pcb->rcv_nxt))
		return false;
	m->pcb = pcb;
	memcpy(m->saved, pcb->rcv_sacks, sizeof(m->saved));
	memmove(&pcb->rcv_sacks[1], &pcb->rcv_sacks[0],
		sizeof(pcb->rcv_sacks) - sizeof(pcb->rcv_sacks[0]));
	pcb->rcv_sacks[0].left = seq;
	pcb->rcv_sacks[0].right = end;
	return true;
}

/* After lwIP took the segment (and sent its ACK): the D-SACK block goes,
 * unless lwIP freed the connection meanwhile (then its tuple finds
 * another pcb, or none). */
void tcp_dsack_unmark(const struct dsack_mark *m)
{
	struct tcp_pcb *pcb =
		tcp_hash_lookup(&m->local_ip, m->local_port, &m->remote_ip,
				m->remote_port, NETIF_NO_INDEX);

	if (pcb == m->pcb)
		memcpy(pcb->rcv_sacks, m->saved, sizeof(m->saved));
}
