/* SPDX-License-Identifier: MIT */
/*
 * Socket options, as setsockopt(2)/getsockopt(2) with Linux's values.
 * Options set before the pcb exists are kept on the socket and applied
 * when it does (sock_setup_pcb()).
 */
#include <errno.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "sock.h"

/* <netinet/tcp.h> clashes with lwIP (TCP_MSS): the options' Linux values */
#define LINUX_TCP_NODELAY 1
#define LINUX_TCP_KEEPIDLE 4
#define LINUX_TCP_KEEPINTVL 5
#define LINUX_TCP_KEEPCNT 6
#define LINUX_TCP_USER_TIMEOUT 18
#define LINUX_TCP_NOTSENT_LOWAT 25
#define LINUX_SIOCOUTQNSD 0x894B /* <linux/sockios.h> */
#define LINUX_SOCK_MIN_SNDBUF 4608 /* what Linux's smallest comes to */

static int int_opt(const void *val, socklen_t len, int *out)
{
	if (!val || len < sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

PN_EXPORT int pn_setsockopt(struct pn_stack *st, int s, int level, int name,
			    const void *val, socklen_t len)
{
	struct sock *so;
	int v = 0;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lg;

		if (!val || len < sizeof(lg))
			return -EINVAL;
		memcpy(&lg, val, sizeof(lg));
		so->linger_on = lg.l_onoff;
		so->linger_s = lg.l_linger;
		return 0;
	}
	if (int_opt(val, len, &v))
		return -EINVAL;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_REUSEADDR:
			so->reuseaddr = v;
			if (so->pcb && v)
				ip_set_option(so->pcb, SOF_REUSEADDR);
			else if (so->pcb)
				ip_reset_option(so->pcb, SOF_REUSEADDR);
			return 0;
		case SO_KEEPALIVE:
			so->keepalive = v;
			sock_apply_keepalive(so);
			return 0;
		case SO_SNDBUF:
			/* as Linux: twice the value (room for overhead),
			 * at least its minimum, and no autotuning after;
			 * at most lwIP's TCP_SND_BUF (Linux's cap is
			 * wmem_max) */
			if (v < 0)
				v = 0;
			so->sndbuf_set =
				(uint32_t)v > TCP_SND_BUF / 2 ?
					TCP_SND_BUF :
				(uint32_t)v * 2 < LINUX_SOCK_MIN_SNDBUF ?
					LINUX_SOCK_MIN_SNDBUF :
					(uint32_t)v * 2;
			return 0;
		case SO_RCVBUF:
			/* the window is sized by need (sock_rwnd_start()):
			 * accepted, not applied */
			return v > 0 ? 0 : -EINVAL;
		}
	} else if (level == IPPROTO_TCP) {
		switch (name) {
		case LINUX_TCP_NODELAY:
			so->nodelay = v;
			if (so->pcb && !so->listening) {
				if (v)
					tcp_nagle_disable(so->pcb);
				else
					tcp_nagle_enable(so->pcb);
			}
			return 0;
		case LINUX_TCP_KEEPIDLE: /* seconds, as on Linux */
		case LINUX_TCP_KEEPINTVL:
			if (v < 1 || v > 32767)
				return -EINVAL;
			if (name == LINUX_TCP_KEEPIDLE)
				so->keep_idle_ms = (uint32_t)v * 1000;
			else
				so->keep_intvl_ms = (uint32_t)v * 1000;
			sock_apply_keepalive(so);
			return 0;
		case LINUX_TCP_KEEPCNT:
			if (v < 1 || v > 127)
				return -EINVAL;
			so->keep_cnt = (uint32_t)v;
			sock_apply_keepalive(so);
			return 0;
		case LINUX_TCP_NOTSENT_LOWAT: /* bytes; 0: not set */
			if (v < 0)
				return -EINVAL;
			so->notsent_lowat = (uint32_t)v;
			if (so->pcb && !so->listening)
				sock_notify(so); /* writable may have changed */
			return 0;
		case LINUX_TCP_USER_TIMEOUT: /* milliseconds; 0 off */
			if (v < 0)
				return -EINVAL;
			so->user_timeout_ms = (uint32_t)v;
			if (v)
				sock_time(so);
			return 0;
		}
	}
	return -ENOPROTOOPT;
}

PN_EXPORT int pn_getsockopt(struct pn_stack *st, int s, int level, int name,
			    void *val, socklen_t *len)
{
	struct sock *so;
	int v;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!val || !len)
		return -EINVAL;
	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lg = { so->linger_on, so->linger_s };

		if (*len < sizeof(lg))
			return -EINVAL;
		memcpy(val, &lg, sizeof(lg));
		*len = sizeof(lg);
		return 0;
	}
	if (*len < sizeof(int))
		return -EINVAL;
	if (level == SOL_SOCKET && name == SO_REUSEADDR)
		v = so->reuseaddr;
	else if (level == SOL_SOCKET && name == SO_KEEPALIVE)
		v = so->keepalive;
	else if (level == SOL_SOCKET && name == SO_RCVBUF)
		v = (int)(so->rwnd_target ? so->rwnd_target : /* by need */
					    TCP_WND);
	else if (level == SOL_SOCKET && name == SO_SNDBUF)
		v = (int)sock_send_limit(so); /* as Linux: what it is now */
	else if (level == IPPROTO_TCP && name == LINUX_TCP_NOTSENT_LOWAT)
		v = (int)so->notsent_lowat;
	else if (level == SOL_SOCKET && name == SO_ERROR) {
		v = -so->err;
		so->err = 0;
	} else if (level == IPPROTO_TCP && name == LINUX_TCP_NODELAY)
		v = so->nodelay;
	else if (level == IPPROTO_TCP && name == LINUX_TCP_USER_TIMEOUT)
		v = (int)so->user_timeout_ms;
	else if (level == IPPROTO_TCP && name == LINUX_TCP_KEEPIDLE)
		v = (int)((so->pcb ? so->pcb->keep_idle : so->keep_idle_ms) /
			  1000);
	else if (level == IPPROTO_TCP && name == LINUX_TCP_KEEPINTVL)
		v = (int)((so->pcb ? so->pcb->keep_intvl : so->keep_intvl_ms) /
			  1000);
	else if (level == IPPROTO_TCP && name == LINUX_TCP_KEEPCNT)
		v = (int)(so->pcb ? so->pcb->keep_cnt : so->keep_cnt);
	else
		return -ENOPROTOOPT;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

PN_EXPORT int pn_ioctl(struct pn_stack *st, int s, unsigned long request,
		       void *arg)
{
	struct sock *so;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	if (!arg)
		return -EFAULT;
	switch (request) {
	case FIONBIO:
		so->nonblock = *(const int *)arg != 0;
		return 0;
	case FIONREAD: /* as Linux: EINVAL on a listener */
		if (so->listening)
			return -EINVAL;
		*(int *)arg = (int)(rx_queued(so) > INT_MAX ? INT_MAX :
							      rx_queued(so));
		return 0;
	case TIOCOUTQ: /* SIOCOUTQ: bytes not yet acknowledged */
		if (so->listening)
			return -EINVAL;
		*(int *)arg =
			so->pcb ? (int)(so->sent_total - so->acked_total) : 0;
		return 0;
	case LINUX_SIOCOUTQNSD: /* bytes not yet sent */
		if (so->listening)
			return -EINVAL;
		*(int *)arg =
			so->pcb ? (int)(so->pcb->snd_lbb - so->pcb->snd_nxt) :
				  0;
		return 0;
	default:
		return -ENOTTY;
	}
}
