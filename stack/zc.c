/* SPDX-License-Identifier: MIT */
/*
 * Zero copy: received segments lent where they lie in the pool
 * (pn_recv_zc), and sends from pool buffers the application filled
 * (pn_send_buf + pn_send_zc), or from a file's pages (pn_sendfile), held
 * until the peer acknowledged them, also past pn_close() (a zombie record
 * keeps returning them).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lwip/priv/tcp_priv.h"
#include "sock.h"

/*
 * A regular file pn_sendfile() sends from, mapped whole (read-only,
 * shared): its bytes go from the page cache straight into the frames
 * (written with WRITEV from where they lie: the kernel's copy into the
 * packet socket is the only one), and what is in flight pins nothing of
 * the pool; a retransmission finds them where they were. nginx's
 * sendfile() on a kernel socket copies nothing; pn_sendfile() read each
 * byte into a pool buffer first (a copy, and a pinned buffer per 64 KiB
 * until acknowledged). A mapping is kept while anything sent from it is
 * unacknowledged, and FMAP_IDLE_MAX more that nothing uses, so a file
 * served again is not mapped again; one whose file changed (size,
 * modification time) is not used for new sends. A file that shrinks
 * under a send: its missing pages make the frame's write fail (EFAULT,
 * counted as a dropped frame), as a truncated file's pages would be gone.
 */
#define FMAP_IDLE_MAX 16
#define FMAP_FILE_MAX (1ull << 30) /* bigger files: read into buffers */
struct fmap {
	struct fmap *next;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	void *addr;
	unsigned int refs; /* sends in flight from it, and the call's own */
	bool stale; /* the file changed: not for new sends */
};

static void fmap_drop(struct pn_stack *st, struct fmap *m)
{
	struct fmap **pp = &st->fmaps;

	while (*pp != m)
		pp = &(*pp)->next;
	*pp = m->next;
	munmap(m->addr, (size_t)m->size);
	free(m);
}

/* One user fewer; a mapping nothing uses stays (FMAP_IDLE_MAX of them,
 * the oldest go first) unless its file changed. */
static void fmap_unref(struct pn_stack *st, struct fmap *m)
{
	if (--m->refs)
		return;
	if (m->stale) {
		fmap_drop(st, m);
		return;
	}
	st->fmaps_idle++;
	while (st->fmaps_idle > FMAP_IDLE_MAX) {
		struct fmap *old = NULL;

		for (struct fmap *i = st->fmaps; i; i = i->next)
			if (!i->refs)
				old = i; /* the list is newest first */
		if (!old)
			break;
		st->fmaps_idle--;
		fmap_drop(st, old);
	}
}

/* The mapping of the file open as fd, referenced (fmap_unref()); NULL
 * when it is not a regular file that can be mapped (then its bytes are
 * read into pool buffers). */
static struct fmap *fmap_get(struct pn_stack *st, int fd)
{
	struct stat sb;
	struct fmap *m;
	void *a;

	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    (unsigned long long)sb.st_size > FMAP_FILE_MAX)
		return NULL;
	for (m = st->fmaps; m; m = m->next) {
		if (m->stale || m->dev != sb.st_dev || m->ino != sb.st_ino)
			continue;
		if (m->size != sb.st_size ||
		    m->mtime.tv_sec != sb.st_mtim.tv_sec ||
		    m->mtime.tv_nsec != sb.st_mtim.tv_nsec) {
			/* changed: new sends map it anew */
			if (m->refs) {
				m->stale = true;
				continue;
			}
			st->fmaps_idle--;
			fmap_drop(st, m);
			break;
		}
		if (!m->refs++)
			st->fmaps_idle--;
		return m;
	}
	a = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED)
		return NULL; /* not mappable (a file system without mmap) */
	m = malloc(sizeof(*m));
	if (!m) {
		munmap(a, (size_t)sb.st_size);
		return NULL;
	}
	*m = (struct fmap){ st->fmaps,	sb.st_dev, sb.st_ino, sb.st_size,
			    sb.st_mtim, a,	   1,	      false };
	st->fmaps = m;
	return m;
}

void zc_unmap_all(struct pn_stack *st)
{
	while (st->fmaps)
		fmap_drop(st, st->fmaps);
	st->fmaps_idle = 0;
}

/* Zero-copy send buffers whose bytes the peer acknowledged go back. */
void zc_release(struct pn_stack *st, struct zc_tx **head, struct zc_tx **tail,
		uint64_t acked, bool all)
{
	while (*head && (all || (*head)->end <= acked)) {
		struct zc_tx *z = *head;

		*head = z->next;
		if (z->fm)
			fmap_unref(st, z->fm);
		else
			pn_buf_free(st->pool, z->buf);
		free(z);
	}
	if (!*head)
		*tail = NULL;
}

/* After pn_close() with zero-copy buffers still unacknowledged: a small
 * record that keeps returning them as the peer acknowledges, and frees
 * itself when none are left or the connection dies. */
struct zc_zombie {
	struct pn_stack *st;
	struct zc_tx *head, *tail;
	uint64_t acked;
};

static err_t zombie_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct zc_zombie *z = arg;

	z->acked += len;
	zc_release(z->st, &z->head, &z->tail, z->acked, false);
	if (!z->head) {
		tcp_arg(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		free(z);
	}
	return ERR_OK;
}

static void zombie_err(void *arg, err_t err)
{
	struct zc_zombie *z = arg;

	(void)err; /* lwIP freed the pcb and every segment */
	zc_release(z->st, &z->head, &z->tail, 0, true);
	free(z);
}

/* The closing socket's zero-copy buffers move to a zombie on pcb; false
 * when out of memory (the caller aborts the pcb, which frees them). */
bool zc_hand_to_zombie(struct sock *so, struct tcp_pcb *pcb)
{
	struct zc_zombie *z = calloc(1, sizeof(*z));

	if (!z)
		return false;
	*z = (struct zc_zombie){ so->st, so->zc_head, so->zc_tail,
				 so->acked_total };
	so->zc_head = so->zc_tail = NULL;
	tcp_arg(pcb, z);
	tcp_sent(pcb, zombie_sent);
	tcp_err(pcb, zombie_err);
	return true;
}

PN_EXPORT ssize_t pn_recv_zc(struct pn_stack *st, int s, struct pn_zc_rx *zc)
{
	struct sock *so;
	struct pbuf *p, *q;
	size_t skip;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!zc)
		return -EINVAL;
	if (so->listening)
		return -ENOTCONN;
	if (so->zc_rx)
		return -EBUSY;
	if (!so->connected && !so->rx_n)
		return so->err ? so->err : -ENOTCONN;
	rc = sock_wait(so, POLLIN, so->nonblock);
	if (rc)
		return rc;
	if (!so->rx_n) {
		if (so->err) {
			rc = so->err;
			so->err = 0;
			return rc;
		}
		return 0; /* end of stream */
	}
	p = so->rxq[so->rx_head];
	skip = so->rx_off;
	zc->iovcnt = 0;
	zc->len = 0;
	for (q = p; q; q = q->next) {
		if (skip >= q->len) {
			skip -= q->len;
			continue;
		}
		if (zc->iovcnt == PN_ZC_MAXIOV)
			return -ENOMEM; /* a chain longer than the iov: use pn_recv */
		zc->iov[zc->iovcnt].iov_base = (char *)q->payload + skip;
		zc->iov[zc->iovcnt].iov_len = q->len - skip;
		zc->len += q->len - skip;
		zc->iovcnt++;
		skip = 0;
	}
	so->rx_head = (so->rx_head + 1) % so->rx_cap;
	so->rx_n--;
	so->rx_off = 0;
	so->zc_rx = p;
	zc->handle = p;
	return (ssize_t)zc->len;
}

PN_EXPORT int pn_recv_zc_done(struct pn_stack *st, int s, struct pn_zc_rx *zc)
{
	struct sock *so;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!zc || !so->zc_rx || zc->handle != so->zc_rx)
		return -EINVAL;
	pbuf_free(so->zc_rx);
	so->zc_rx = NULL;
	zc->handle = NULL;
	sock_recved(so, zc->len);
	so->rx_drained = so->rx_n == 0;
	return 0;
}

PN_EXPORT void *pn_send_buf(struct pn_stack *st, size_t size)
{
	int rc = stack_enter(st);

	if (rc) {
		errno = -rc;
		return NULL;
	}
	return pn_buf_alloc(st->pool, size, OWNER_APP_ZC);
}

PN_EXPORT void pn_send_buf_free(struct pn_stack *st, void *buf)
{
	if (st && buf)
		pn_buf_free(st->pool, buf); /* safe from any thread */
}

PN_EXPORT ssize_t pn_send_zc(struct pn_stack *st, int s, void *buf, size_t len)
{
	struct sock *so;
	struct zc_tx *z;
	err_t err;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!buf || !len || len > 0xffff || !pn_pool_owns(st->pool, buf))
		return -EINVAL;
	if (so->listening)
		return -ENOTCONN;
	z = malloc(sizeof(*z));
	if (!z)
		return -ENOMEM;
	for (;;) {
		rc = sock_can_send(so);
		if (rc)
			goto err;
		/* the whole buffer: it fits the room, or the socket is
		 * writable as poll says (room for a third of the limit:
		 * the limit may be passed by one buffer, or a writer woken
		 * by EPOLLOUT would find EAGAIN) */
		if (tcp_sndbuf(so->pcb) >= len && sock_writable(so, 8) &&
		    (sock_send_room(so) >= len ||
		     sock_send_room(so) >= sock_send_limit(so) / 3)) {
			if (!so->pcb->unacked && !so->pcb->unsent)
				so->last_progress_ms = stack_now_ms();
			/* no copy: lwIP's segments point into the buffer */
			err = tcp_write(so->pcb, buf, (u16_t)len, 0);
			if (err == ERR_OK)
				break;
			rc = errno_of(err);
			if (err != ERR_MEM)
				goto err;
			sock_send_blocked(so); /* out of segments or pbufs */
		}
		/* the whole buffer must fit: wait for acknowledgements */
		rc = -EAGAIN;
		sock_out_of_room(so); /* the room that comes: EPOLLOUT */
		if (so->nonblock)
			goto err;
		rc = stack_run(st, 10);
		if (rc < 0)
			goto err;
	}
	so->sent_total += len;
	sock_account(so);
	st->stats.tx_app_bytes += len; /* and nothing copied */
	*z = (struct zc_tx){ NULL, buf, NULL, so->sent_total };
	if (so->zc_tail)
		so->zc_tail->next = z;
	else
		so->zc_head = z;
	so->zc_tail = z;
	sock_output(so);
	return (ssize_t)len;
err:
	free(z); /* the buffer stays the caller's */
	return rc;
}

/*
 * The data of one pn_sendfile() chunk: whole wire segments, as many as
 * one offloaded segment carries, so no frame of a super-frame is short.
 */
static size_t sendfile_chunk(const struct tcp_pcb *pcb)
{
	size_t wire = pcb->mss - ((pcb->flags & TF_TIMESTAMP) ? 12 : 0);
	size_t c = wire ? (STACK_GSO_MAX - 64) / wire * wire : 0;

	if (!pcb->gso_max || c == 0)
		c = wire ? wire : 536;
	return c > 0xffff ? 0xffff : c;
}

PN_EXPORT ssize_t pn_sendfile(struct pn_stack *st, int s, int in_fd,
			      off_t *offset, size_t count)
{
	struct sock *so;
	struct fmap *fm;
	size_t done = 0;
	bool waited = false; /* sock_wait() just said writable */
	off_t pos;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (so->listening)
		return -ENOTCONN;
	if (in_fd < 0)
		return -EBADF;
	pos = offset ? *offset : lseek(in_fd, 0, SEEK_CUR);
	if (pos < 0)
		return errno == ESPIPE ? -EINVAL : -errno;
	fm = fmap_get(st, in_fd); /* NULL: read into pool buffers */
	while (done < count) {
		struct zc_tx *z;
		size_t n, want;
		ssize_t r;
		void *buf;
		err_t err;

		rc = sock_can_send(so);
		if (rc)
			break;
		n = sendfile_chunk(so->pcb);
		if (n > count - done)
			n = count - done;
		/* room for half a chunk at least (smaller pieces would cost a
		 * buffer and a segment each), but no more than a third of the
		 * send limit: a writable socket (sock_roomy()) may have no
		 * more than that, and asking for more spun here for ever with
		 * poll saying writable */
		want = (n + 1) / 2;
		if (want > sock_send_limit(so) / 3)
			want = sock_send_limit(so) / 3;
		if (!waited &&
		    (!sock_writable(so, 8) || sock_send_room(so) < want ||
		     tcp_sndbuf(so->pcb) < want)) {
			sock_out_of_room(so); /* room is an EPOLLOUT edge */
			if (done)
				break; /* what is queued goes out first */
			rc = sock_wait(so, POLLOUT, so->nonblock);
			if (rc)
				break;
			waited = true; /* writable: what fits goes now */
			continue;
		}
		waited = false;
		if (!sock_send_room(so) || !tcp_sndbuf(so->pcb)) {
			rc = -EAGAIN; /* not reached: writable means room */
			break;
		}
		if (n > sock_send_room(so))
			n = sock_send_room(so);
		if (n > tcp_sndbuf(so->pcb))
			n = tcp_sndbuf(so->pcb);
		if (fm) {
			/* from the file's pages, where they lie */
			if (pos >= fm->size) {
				rc = 0; /* the end of the file */
				break;
			}
			if ((off_t)n > fm->size - pos)
				n = (size_t)(fm->size - pos);
			z = malloc(sizeof(*z));
			if (!z) {
				rc = -ENOMEM;
				break;
			}
			if (!so->pcb->unacked && !so->pcb->unsent)
				so->last_progress_ms = stack_now_ms();
			err = tcp_write(
				so->pcb, (char *)fm->addr + pos, (u16_t)n,
				done + n < count ? TCP_WRITE_FLAG_MORE : 0);
			if (err != ERR_OK) {
				free(z);
				rc = errno_of(err);
				if (err == ERR_MEM)
					sock_send_blocked(so);
				break;
			}
			fm->refs++;
			pos += (off_t)n;
			done += n;
			so->sent_total += n;
			sock_account(so);
			st->stats.tx_app_bytes += n;
			*z = (struct zc_tx){ NULL, NULL, fm, so->sent_total };
			if (so->zc_tail)
				so->zc_tail->next = z;
			else
				so->zc_head = z;
			so->zc_tail = z;
			continue;
		}
		buf = pn_buf_alloc(st->pool, n, OWNER_APP_ZC);
		z = buf ? malloc(sizeof(*z)) : NULL;
		if (!z) {
			pn_send_buf_free(st, buf);
			rc = -ENOMEM;
			break;
		}
		/* the file's bytes land in the pool buffer the frames are
		 * written from: the read is the one copy */
		r = pread(in_fd, buf, n, pos);
		if (r <= 0) {
			rc = r < 0 ? -errno : 0; /* 0: the end of the file */
			pn_buf_free(st->pool, buf);
			free(z);
			break;
		}
		if (!so->pcb->unacked && !so->pcb->unsent)
			so->last_progress_ms = stack_now_ms();
		err = tcp_write(so->pcb, buf, (u16_t)r,
				done + (size_t)r < count ? TCP_WRITE_FLAG_MORE :
							   0);
		if (err != ERR_OK) {
			pn_buf_free(st->pool, buf);
			free(z);
			rc = errno_of(err);
			if (err == ERR_MEM)
				sock_send_blocked(so);
			break;
		}
		pos += r;
		done += (size_t)r;
		so->sent_total += (uint64_t)r;
		sock_account(so);
		st->stats.tx_app_bytes += (uint64_t)r;
		*z = (struct zc_tx){ NULL, buf, NULL, so->sent_total };
		if (so->zc_tail)
			so->zc_tail->next = z;
		else
			so->zc_head = z;
		so->zc_tail = z;
		if ((size_t)r < n)
			break; /* a short read: the file ends here */
	}
	if (fm)
		fmap_unref(st, fm); /* the call's own */
	if (!done)
		return rc;
	sock_output(so);
	if (offset)
		*offset = pos;
	else
		lseek(in_fd, pos, SEEK_SET);
	return (ssize_t)done;
}
