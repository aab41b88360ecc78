/* SPDX-License-Identifier: MIT */
/*
 * Send and receive: data is copied into lwIP's send buffer and out of the
 * received segments queued on the socket (the window opens as the
 * application reads). Flags as send(2)/recv(2): MSG_DONTWAIT, MSG_NOSIGNAL
 * and MSG_MORE for sends, MSG_DONTWAIT, MSG_PEEK and MSG_WAITALL for
 * receives; any other flag is refused with EINVAL.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>

#include "lwip/priv/tcp_priv.h"
#include "sock.h"

#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE)
#define RECV_FLAGS (MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL)

/*
 * A send of less than a wire segment leaves lwIP at the loop's next push,
 * not at once: its frames would wait in the ring until then anyway (the
 * ring is submitted at the end of a turn, or by stack_push() when the
 * application looks for readiness), and what the application sends in
 * between joins the same segment. An HTTP server's head and body (nginx:
 * writev, then sendfile) leave as one frame instead of two, and the
 * client's kernel takes in, and acknowledges, one frame per response (on a
 * veth its receive runs on the sender's CPU). Linux sends two there
 * (TCP_NODELAY, no cork). A whole wire segment goes at once.
 */
void sock_output(struct sock *so)
{
	struct tcp_pcb *pcb = so->pcb;

	if (!pcb)
		return;
	if (pcb->snd_lbb - pcb->snd_nxt < pcb->mss) {
		if (!so->on_out) {
			so->on_out = true;
			so->out_next = so->st->out;
			so->st->out = so;
		}
		return;
	}
	tcp_output(pcb);
	sock_note_flight(so, 0);
}

void stack_output(struct pn_stack *st)
{
	struct sock *so;

	while ((so = st->out)) {
		st->out = so->out_next;
		so->on_out = false;
		if (so->pcb) {
			tcp_output(so->pcb);
			sock_note_flight(so, 0);
		}
	}
}

void sock_unout(struct sock *so)
{
	if (!so->on_out)
		return;
	sock_list_unlink(&so->st->out, so, offsetof(struct sock, out_next));
	so->on_out = false;
}

/* What MSG_MORE held goes out now. */
static void uncork(struct sock *so)
{
	if (so->corked && so->pcb) {
		so->corked = false;
		tcp_output(so->pcb);
	}
}

/*
 * Up to len bytes (copied), once there is room: as much as the send
 * buffer takes (sock_send_limit()), in tcp_write()s of at most 64 KiB (it takes a u16), so a
 * short write means a full buffer, as on Linux (and the room that comes
 * back is an EPOLLOUT edge).
 */
static ssize_t send_one(struct sock *so, const void *buf, size_t len, int flags)
{
	bool nonblock = so->nonblock || (flags & MSG_DONTWAIT);
	bool more = flags & MSG_MORE;
	size_t done = 0, n;
	err_t err;
	int rc;

	while (done < len) {
		rc = sock_can_send(so);
		if (rc) {
			if (done)
				break;
			return rc;
		}
		if (sock_writable(so, 4)) {
			n = len - done;
			if (n > sock_send_room(so))
				n = sock_send_room(so);
			if (n > tcp_sndbuf(so->pcb))
				n = tcp_sndbuf(so->pcb); /* at most 64 KiB */
			if (!so->pcb->unacked && !so->pcb->unsent)
				so->last_progress_ms =
					stack_now_ms(); /* a new wait */
			err = tcp_write(so->pcb, (const char *)buf + done,
					(u16_t)n,
					TCP_WRITE_FLAG_COPY |
						(more || done + n < len ?
							 TCP_WRITE_FLAG_MORE :
							 0));
			if (err == ERR_OK) {
				done += n;
				sock_account(so);
				continue;
			}
			if (err != ERR_MEM) {
				if (done)
					break;
				return errno_of(err);
			}
			sock_send_blocked(so); /* out of segments or pbufs */
		}
		if (done)
			break; /* no more room: a short write */
		/* what an earlier MSG_MORE held goes before the wait, as
		 * Linux pushes before it waits for memory: its ACKs are
		 * what bring the room */
		uncork(so);
		rc = sock_wait(so, POLLOUT, nonblock);
		if (rc)
			return rc;
	}
	if (done < len)
		sock_out_of_room(so);
	so->sent_total += done;
	so->st->stats.tx_app_bytes += done;
	so->st->stats.tx_copied += done; /* into lwIP's segments, once */
	/* MSG_MORE: the data waits for more, at most until the stack's next
	 * socket check (sock_check_timeouts()), as a cork would; but not
	 * after a short write. The buffer is full then, so nothing can join
	 * what waits, and the room comes back only with the ACKs of what is
	 * sent: as Linux pushes when the buffer fills (tcp_push() before
	 * sk_stream_wait_memory()), it goes now. Held, it waited up to the
	 * 50 ms check whenever nothing was in flight: with send buffers by
	 * need, bench_memory's 1 MiB responses stalled 150 ms at p99 and
	 * lost a quarter of the throughput. */
	so->corked = more && done == len;
	if (so->corked)
		sock_time(so);
	else
		sock_output(so);
	return (ssize_t)done;
}

PN_EXPORT ssize_t pn_send(struct pn_stack *st, int s, const void *buf,
			  size_t len, int flags)
{
	struct sock *so;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (flags & ~SEND_FLAGS)
		return -EINVAL;
	if (so->listening)
		return -ENOTCONN;
	if (len == 0)
		return 0;
	if (!buf)
		return -EFAULT;
	return send_one(so, buf, len, flags);
}

/* Bytes queued for the application (FIONREAD). */
size_t rx_queued(const struct sock *so)
{
	size_t n = 0;

	for (unsigned int i = 0; i < so->rx_n; i++)
		n += so->rxq[(so->rx_head + i) % so->rx_cap]->tot_len;
	return n - so->rx_off;
}

/* Copy up to len queued bytes; consume them unless peek. */
static size_t copy_out(struct sock *so, char *buf, size_t len, bool peek)
{
	unsigned int i = 0, idx = so->rx_head;
	size_t got = 0, off = so->rx_off;

	while (i < so->rx_n && got < len) {
		struct pbuf *p = so->rxq[idx];
		size_t want = p->tot_len - off;

		if (want > len - got)
			want = len - got;
		got += pbuf_copy_partial(p, buf + got, (u16_t)want, (u16_t)off);
		off += want;
		if (off < p->tot_len)
			break;
		off = 0;
		idx = (idx + 1) % so->rx_cap;
		i++;
		if (!peek) {
			/* the segment is read: its buffers go back */
			pbuf_free(p);
			so->rx_head = idx;
			so->rx_n--;
			i = 0;
		}
	}
	if (!peek) {
		so->rx_off = (uint16_t)off;
		sock_recved(so, got);
		so->rx_drained = so->rx_n == 0;
	}
	return got;
}

static ssize_t recv_entered(struct sock *so, void *buf, size_t len, int flags)
{
	bool nonblock = so->nonblock || (flags & MSG_DONTWAIT);
	bool peek = flags & MSG_PEEK;
	bool all = (flags & MSG_WAITALL) && !nonblock;
	size_t got = 0;
	int rc;

	if (so->listening)
		return -ENOTCONN;
	if (!so->connected && !so->rx_n)
		return so->err ? so->err : -ENOTCONN;
	if (len == 0)
		return 0;
	for (;;) {
		rc = sock_wait(so, POLLIN, nonblock && !got);
		if (rc)
			return got ? (ssize_t)got : rc;
		if (peek && all && rx_queued(so) < len && !so->eof &&
		    !so->err) {
			/* PEEK|WAITALL: the data stays, so wait for more by
			 * running the stack, not on readiness */
			rc = stack_run(so->st, 1000);
			if (rc < 0)
				return rc;
			continue;
		}
		if (peek)
			got = copy_out(so, buf, len, true);
		else
			got += copy_out(so, (char *)buf + got, len - got,
					false);
		if (!all || got == len || so->eof || so->err || !so->pcb)
			break;
	}
	if (got)
		return (ssize_t)got;
	if (so->err) {
		rc = so->err;
		so->err = 0;
		return rc;
	}
	return 0; /* end of stream */
}

PN_EXPORT ssize_t pn_recv(struct pn_stack *st, int s, void *buf, size_t len,
			  int flags)
{
	struct sock *so;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (flags & ~RECV_FLAGS)
		return -EINVAL;
	if (len && !buf)
		return -EFAULT;
	return recv_entered(so, buf, len, flags);
}

/* Socket s for a vectored call: as sock_lookup(), and EINVAL for a bad
 * vector. */
static int vec_lookup(struct pn_stack *st, int s, const struct iovec *iov,
		      int iovcnt, struct sock **so)
{
	int rc = sock_lookup(st, s, so);

	if (rc)
		return rc;
	return iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov) ? -EINVAL : 0;
}

PN_EXPORT ssize_t pn_sendv(struct pn_stack *st, int s, const struct iovec *iov,
			   int iovcnt)
{
	struct sock *so;
	ssize_t total = 0;
	int rc = vec_lookup(st, s, iov, iovcnt, &so);

	if (rc)
		return rc;
	if (so->listening)
		return -ENOTCONN;
	for (int i = 0; i < iovcnt; i++) {
		ssize_t n;

		if (!iov[i].iov_len)
			continue;
		/* every piece but the last waits for the next: one push */
		n = send_one(so, iov[i].iov_base, iov[i].iov_len,
			     i + 1 < iovcnt ? MSG_MORE : 0);
		if (n < 0) {
			uncork(so);
			return total ? total : n;
		}
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break; /* send space ran out: a short write, as writev */
	}
	uncork(so);
	return total;
}

PN_EXPORT ssize_t pn_recvv(struct pn_stack *st, int s, const struct iovec *iov,
			   int iovcnt)
{
	struct sock *so;
	ssize_t total = 0;
	int rc = vec_lookup(st, s, iov, iovcnt, &so);

	if (rc)
		return rc;
	for (int i = 0; i < iovcnt; i++) {
		ssize_t n;

		if (!iov[i].iov_len)
			continue;
		/* block for the first piece only, as readv */
		if (total && !so->rx_n)
			break;
		n = recv_entered(so, iov[i].iov_base, iov[i].iov_len, 0);
		if (n <= 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return total;
}
