/* SPDX-License-Identifier: MIT */
/*
 * Readiness sets in epoll's shape (pn_epoll_*; semantics in stack.h).
 *
 * As in Linux's eventpoll: a registration (ep_item) links a socket to a
 * set; each socket keeps its registrations, each set its ready list. A
 * change of a socket's state (sock_notify(), called from lwIP's callbacks
 * and the few calls that make a socket readier) appends its registrations
 * to their ready lists without looking at the state; a wait takes items
 * off the list, computes each one's events then (sock_events()), reports
 * those that have some and puts the level-triggered ones back at the
 * tail. A wait so costs O(ready), whatever the number registered.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sock.h"

#define MAX_EPS 4096
/* Bits of a registration that are modes, not events (Linux's
 * EP_PRIVATE_BITS): a fired one-shot registration keeps only these. */
#define EP_MODES (EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE)

struct ep_item {
	struct ep *ep;
	struct sock *so;
	struct epoll_event ev; /* events asked | EPOLLERR | EPOLLHUP, data */
	struct ep_item *so_next; /* the socket's registrations */
	struct ep_item *rd_prev, *rd_next; /* the set's ready list */
	struct ep_item *all_prev, *all_next; /* every registration of the set */
	bool ready; /* on the ready list */
};

struct ep {
	struct ep_item *rd_head, *rd_tail;
	struct ep_item *all;
};

static void rd_append(struct ep *ep, struct ep_item *it)
{
	it->ready = true;
	it->rd_next = NULL;
	it->rd_prev = ep->rd_tail;
	if (ep->rd_tail)
		ep->rd_tail->rd_next = it;
	else
		ep->rd_head = it;
	ep->rd_tail = it;
}

static void rd_unlink(struct ep *ep, struct ep_item *it)
{
	if (!it->ready)
		return;
	if (it->rd_prev)
		it->rd_prev->rd_next = it->rd_next;
	else
		ep->rd_head = it->rd_next;
	if (it->rd_next)
		it->rd_next->rd_prev = it->rd_prev;
	else
		ep->rd_tail = it->rd_prev;
	it->ready = false;
}

void ep_notify(struct sock *so)
{
	for (struct ep_item *it = so->eps; it; it = it->so_next)
		if (!it->ready && (it->ev.events & ~EP_MODES))
			rd_append(it->ep, it);
}

/* The registration goes: off the ready list, the set and the socket. */
static void item_free(struct ep_item *it)
{
	struct ep *ep = it->ep;
	struct ep_item **pp = &it->so->eps;

	rd_unlink(ep, it);
	if (it->all_prev)
		it->all_prev->all_next = it->all_next;
	else
		ep->all = it->all_next;
	if (it->all_next)
		it->all_next->all_prev = it->all_prev;
	while (*pp != it)
		pp = &(*pp)->so_next;
	*pp = it->so_next;
	free(it);
}

void ep_forget(struct sock *so)
{
	while (so->eps)
		item_free(so->eps);
}

static struct ep *ep_get(struct pn_stack *st, int ep)
{
	if (ep < 0 || (unsigned int)ep >= st->neps)
		return NULL;
	return st->eps[ep];
}

static void ep_free(struct pn_stack *st, int i)
{
	struct ep *ep = st->eps[i];

	while (ep->all)
		item_free(ep->all);
	free(ep);
	st->eps[i] = NULL;
}

void ep_free_all(struct pn_stack *st)
{
	for (unsigned int i = 0; i < st->neps; i++)
		if (st->eps[i])
			ep_free(st, (int)i);
	free(st->eps);
	st->eps = NULL;
	st->neps = 0;
}

PN_EXPORT int pn_epoll_create(struct pn_stack *st)
{
	unsigned int i;
	int rc = stack_enter(st);

	if (rc)
		return rc;
	for (i = 0; i < st->neps && st->eps[i]; i++)
		;
	if (i == st->neps) {
		unsigned int n = st->neps ? st->neps * 2 : 8;
		struct ep **t;

		if (i >= MAX_EPS)
			return -EMFILE;
		t = realloc(st->eps, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		memset(t + st->neps, 0, (n - st->neps) * sizeof(*t));
		st->eps = t;
		st->neps = n;
	}
	st->eps[i] = calloc(1, sizeof(struct ep));
	return st->eps[i] ? (int)i : -ENOMEM;
}

PN_EXPORT int pn_epoll_close(struct pn_stack *st, int ep)
{
	int rc = stack_enter(st);

	if (rc)
		return rc;
	if (!ep_get(st, ep))
		return -EBADF;
	ep_free(st, ep);
	return 0;
}

static struct ep_item *item_of(struct sock *so, struct ep *ep)
{
	struct ep_item *it = so->eps;

	while (it && it->ep != ep)
		it = it->so_next;
	return it;
}

PN_EXPORT int pn_epoll_ctl(struct pn_stack *st, int epn, int op, int s,
			   const struct epoll_event *ev)
{
	struct ep_item *it;
	struct sock *so;
	struct ep *ep;
	int rc = sock_lookup(st, s, &so);

	if (rc)
		return rc;
	ep = ep_get(st, epn);
	if (!ep)
		return -EBADF;
	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
		return -EINVAL;
	if (op != EPOLL_CTL_DEL && !ev)
		return -EFAULT;
	it = item_of(so, ep);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it)
			return -EEXIST;
		it = calloc(1, sizeof(*it));
		if (!it)
			return -ENOMEM;
		it->ep = ep;
		it->so = so;
		it->so_next = so->eps;
		so->eps = it;
		it->all_next = ep->all;
		if (ep->all)
			ep->all->all_prev = it;
		ep->all = it;
		break;
	case EPOLL_CTL_MOD:
		if (!it)
			return -ENOENT;
		if ((ev->events | it->ev.events) & EPOLLEXCLUSIVE)
			return -EINVAL; /* as Linux: exclusive is ADD only */
		break;
	default:
		if (!it)
			return -ENOENT;
		item_free(it);
		return 0;
	}
	it->ev.events = ev->events | EPOLLERR | EPOLLHUP;
	it->ev.data = ev->data;
	/* whether it is ready already, the next wait finds out */
	if (!it->ready)
		rd_append(ep, it);
	return 0;
}

/* Up to max ready registrations into evs; the level-triggered ones that
 * were reported go back at the tail, after those not looked at yet. */
static int collect(struct ep *ep, struct epoll_event *evs, int max)
{
	struct ep_item *back = NULL, *back_tail = NULL, *it;
	int n = 0;

	while (n < max && (it = ep->rd_head)) {
		uint32_t m;

		rd_unlink(ep, it);
		m = sock_events(it->so) & it->ev.events;
		if (!m)
			continue;
		evs[n].events = m;
		evs[n].data = it->ev.data;
		n++;
		if (it->ev.events & EPOLLONESHOT) {
			it->ev.events &= EP_MODES; /* until EPOLL_CTL_MOD */
		} else if (!(it->ev.events & EPOLLET)) {
			it->rd_next = NULL;
			if (back_tail)
				back_tail->rd_next = it;
			else
				back = it;
			back_tail = it;
		}
	}
	while (back) {
		it = back;
		back = it->rd_next;
		rd_append(ep, it);
	}
	return n;
}

struct ep_look {
	struct ep *ep;
	struct epoll_event *evs;
	int max;
};

static int collect_look(void *arg)
{
	struct ep_look *l = arg;

	return collect(l->ep, l->evs, l->max);
}

PN_EXPORT int pn_epoll_wait(struct pn_stack *st, int epn,
			    struct epoll_event *events, int maxevents,
			    int timeout_ms)
{
	struct ep *ep;
	int rc = stack_enter(st);

	if (rc)
		return rc;
	ep = ep_get(st, epn);
	if (!ep)
		return -EBADF;
	if (maxevents <= 0 ||
	    (size_t)maxevents > INT_MAX / sizeof(struct epoll_event))
		return -EINVAL;
	if (!events)
		return -EFAULT;
	return sock_wait_ready(st, timeout_ms, collect_look,
			       &(struct ep_look){ ep, events, maxevents });
}
