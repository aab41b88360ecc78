/* SPDX-License-Identifier: MIT */
/*
 * Many stacks in one process, and stacks handed between threads.
 *
 * 1. PAIRS pairs of stacks, each stack in its own thread (2 x PAIRS
 *    threads, all stacks alive at once: a barrier holds them until every
 *    one exists): server i on IF_A at 10.77.0.(1+i), client i on IF_B at
 *    10.77.1.(1+i), the two ends of one veth pair; each client echoes SIZE
 *    bytes through its server, every byte checked.
 * 2. Hand-over: a server stack created by the main thread is detached and
 *    driven by a worker before its first use; a PN_STACK_MOVABLE client
 *    stack runs in the main thread, is detached mid-connection, goes on in
 *    a second thread and comes back. Calls from a thread that does not
 *    drive a stack fail with EPERM, attaching a driven stack with EBUSY,
 *    moving a started single-issuer stack with EPERM; nothing is corrupted
 *    (the echo stays intact).
 *
 * Usage: test_threads IF_A IF_B   (run by tests/integration/test_threads.sh)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinnet/stack.h"

#define PAIRS 16 /* 32 stacks */
#define SIZE (1u << 20)
#define PORT 7

static const char *if_a, *if_b;
static pthread_barrier_t all_up;
static atomic_int failed;
static atomic_int clients_done;

#define CHECK(cond, ...)                                       \
	do {                                                   \
		if (!(cond)) {                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__); \
			fprintf(stderr, "\n");                 \
			atomic_store(&failed, 1);              \
		}                                              \
	} while (0)

static struct pn_stack *make_stack(const char *iface, const char *ip,
				   unsigned int flags)
{
	struct pn_stack_opts o = { .sz = sizeof(o),
				   .iface = iface,
				   .backend = PN_BACKEND_PACKET,
				   .prefix = 16,
				   .flags = flags };
	struct pn_stack *st;

	inet_pton(AF_INET, ip, &o.addr);
	st = pn_stack_create(&o);
	CHECK(st, "stack %s on %s: %s", ip, iface, pn_stack_last_error(NULL));
	return st;
}

static unsigned char pattern(unsigned int conn, size_t i)
{
	return (unsigned char)((i * 7 + conn) % 251);
}

static int listener(struct pn_stack *st)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(PORT) };
	int ls = pn_socket(st, AF_INET, SOCK_STREAM, 0);

	if (ls < 0 || pn_bind(st, ls, (struct sockaddr *)&a, sizeof(a)) ||
	    pn_listen(st, ls, 8)) {
		CHECK(0, "listen: %s", strerror(ls < 0 ? -ls : EINVAL));
		return -1;
	}
	return ls;
}

/* Accept one connection on ls and echo it until the peer's end. */
static void echo_one(struct pn_stack *st, int ls)
{
	static __thread char buf[65536];
	int s = pn_accept(st, ls, NULL, NULL, 0);
	ssize_t n;

	if (s < 0) {
		CHECK(0, "accept: %s", strerror(-s));
		return;
	}
	while ((n = pn_recv(st, s, buf, sizeof(buf), 0)) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w =
				pn_send(st, s, buf + off, (size_t)(n - off), 0);

			if (w < 0) {
				CHECK(0, "echo send: %s", strerror((int)-w));
				n = -1;
				break;
			}
			off += w;
		}
	CHECK(n == 0, "echo recv: %s", strerror((int)-n));
	pn_close(st, s);
}

/* A client connection's progress; pump() moves it on. */
struct conn {
	int s;
	unsigned int id;
	size_t sent, got;
};

static int dial(struct pn_stack *st, const char *ip, struct conn *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(PORT) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	/* non-blocking: a send must never wait while echoes pile up */
	c->s = pn_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->s < 0)
		return c->s;
	c->sent = c->got = 0;
	return pn_connect(st, c->s, (struct sockaddr *)&a, sizeof(a)) ==
			       -EINPROGRESS ?
		       0 :
		       -ECONNREFUSED;
}

/* Send and check echoed bytes until `until` bytes came back. */
static int pump(struct pn_stack *st, struct conn *c, size_t until)
{
	static __thread unsigned char out[65536], in[65536];

	while (c->got < until) {
		struct pn_pollfd pf = { c->s, POLLIN, 0 };
		ssize_t n;

		if (c->sent < SIZE)
			pf.events |= POLLOUT;
		if (pn_poll(st, &pf, 1, 5000) <= 0)
			return -ETIMEDOUT;
		if (pf.revents & POLLOUT) {
			size_t len = SIZE - c->sent < sizeof(out) ?
					     SIZE - c->sent :
					     sizeof(out);

			for (size_t i = 0; i < len; i++)
				out[i] = pattern(c->id, c->sent + i);
			n = pn_send(st, c->s, out, len, 0);
			if (n < 0 && n != -EAGAIN)
				return (int)n;
			if (n > 0)
				c->sent += (size_t)n;
			if (c->sent == SIZE)
				pn_shutdown(st, c->s, SHUT_WR);
		}
		if (pf.revents & (POLLIN | POLLERR | POLLHUP)) {
			n = pn_recv(st, c->s, in, sizeof(in), 0);
			if (n <= 0)
				return n ? (int)n : -EPIPE;
			for (ssize_t i = 0; i < n; i++)
				if (in[i] != pattern(c->id, c->got + (size_t)i))
					return -EILSEQ;
			c->got += (size_t)n;
		}
	}
	return 0;
}

/* ---- part 1: PAIRS x 2 stacks, one thread each ------------------------ */

static void *server(void *arg)
{
	unsigned int i = (unsigned int)(uintptr_t)arg;
	char ip[32];
	struct pn_stack *st;
	int ls = -1;

	snprintf(ip, sizeof(ip), "10.77.0.%u", 1 + i);
	st = make_stack(if_a, ip, 0);
	if (st)
		ls = listener(st);
	pthread_barrier_wait(&all_up); /* every stack exists now */
	if (ls >= 0)
		echo_one(st, ls);
	/* the stack runs on until every client is done: a closed socket's
	 * last bytes still need it */
	while (st && atomic_load(&clients_done) < PAIRS)
		pn_stack_process(st, 10);
	pn_stack_destroy(st);
	return NULL;
}

static void *client(void *arg)
{
	unsigned int i = (unsigned int)(uintptr_t)arg;
	struct conn c = { .id = i };
	char ip[32], peer[32];
	struct pn_stack *st;
	int rc;

	snprintf(ip, sizeof(ip), "10.77.1.%u", 1 + i);
	snprintf(peer, sizeof(peer), "10.77.0.%u", 1 + i);
	st = make_stack(if_b, ip, 0);
	pthread_barrier_wait(&all_up);
	if (st) {
		rc = dial(st, peer, &c);
		if (!rc)
			rc = pump(st, &c, SIZE);
		CHECK(!rc, "pair %u: echo: %s (%zu of %u bytes back)", i,
		      strerror(-rc), c.got, SIZE);
		pn_close(st, c.s);
	}
	atomic_fetch_add(&clients_done, 1);
	pn_stack_destroy(st);
	return NULL;
}

static void many_stacks(void)
{
	pthread_t t[2 * PAIRS];

	pthread_barrier_init(&all_up, NULL, 2 * PAIRS);
	for (unsigned int i = 0; i < PAIRS; i++) {
		pthread_create(&t[2 * i], NULL, server, (void *)(uintptr_t)i);
		pthread_create(&t[2 * i + 1], NULL, client,
			       (void *)(uintptr_t)i);
	}
	for (unsigned int i = 0; i < 2 * PAIRS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&all_up);
	if (!atomic_load(&failed))
		printf("%d stacks at once, one thread each: %d connections x "
		       "%u bytes echoed intact\n",
		       2 * PAIRS, PAIRS, SIZE);
}

/* ---- part 2: hand-over ---------------------------------------------- */

static struct pn_stack *srv, *cli;
static struct conn hc = { .id = 99 };
static atomic_int srv_attached;

/* Drives the server stack the main thread created and detached. */
static void *handed_server(void *arg)
{
	int rc = pn_stack_attach(srv), ls;

	(void)arg;
	CHECK(rc == 0, "attach of a detached, unstarted stack: %s",
	      strerror(-rc));
	atomic_store(&srv_attached, 1);
	ls = listener(srv);
	if (ls >= 0)
		echo_one(srv, ls);
	pn_close(srv, ls);
	/* the ring started here: it cannot move; destroy it here too */
	pn_stack_destroy(srv);
	return NULL;
}

/* Takes the movable client over mid-connection, then gives it back. */
static void *handed_client(void *arg)
{
	int rc = pn_stack_attach(cli);

	(void)arg;
	CHECK(rc == 0, "attach of a movable stack after it ran: %s",
	      strerror(-rc));
	rc = pump(cli, &hc, SIZE);
	CHECK(!rc, "echo after the hand-over: %s (%zu of %u back)",
	      strerror(-rc), hc.got, SIZE);
	pn_close(cli, hc.s);
	CHECK(pn_stack_detach(cli) == 0, "detach");
	return NULL;
}

/* Starts a single-issuer stack in this thread, lets the main thread try
 * to take it, then destroys it here (its ring serves only this thread). */
static void *bound_server(void *arg)
{
	(void)arg;
	CHECK(pn_stack_attach(srv) == 0 && pn_stack_process(srv, 0) >= 0,
	      "start in a worker");
	pn_stack_detach(srv);
	atomic_store(&srv_attached, 1);
	while (atomic_load(&srv_attached) != 2)
		;
	CHECK(pn_stack_attach(srv) == 0, "attach back in the ring's thread");
	pn_stack_destroy(srv);
	return NULL;
}

static void hand_over(void)
{
	pthread_t t1, t2;
	int rc;

	srv = make_stack(if_a, "10.77.0.200", 0);
	cli = make_stack(if_b, "10.77.1.200", PN_STACK_MOVABLE);
	if (!srv || !cli)
		return;
	CHECK(pn_stack_detach(srv) == 0, "detach of a new stack");
	CHECK(pn_socket(srv, AF_INET, SOCK_STREAM, 0) == -EPERM,
	      "a call on a detached stack must fail with EPERM");
	pthread_create(&t1, NULL, handed_server, NULL);
	while (!atomic_load(&srv_attached))
		;
	CHECK(pn_stack_attach(srv) == -EBUSY,
	      "attaching a stack another thread drives must fail with EBUSY");
	CHECK(pn_stack_process(srv, 0) == -EPERM,
	      "pn_stack_process from a thread that does not drive it");

	/* the client: half the echo here, the rest in another thread */
	rc = dial(cli, "10.77.0.200", &hc);
	if (!rc)
		rc = pump(cli, &hc, SIZE / 2);
	CHECK(!rc, "echo before the hand-over: %s", strerror(-rc));
	CHECK(pn_stack_detach(cli) == 0, "detach mid-connection");
	pthread_create(&t2, NULL, handed_client, NULL);
	pthread_join(t2, NULL);
	CHECK(pn_stack_attach(cli) == 0, "attach the client back");
	pthread_join(t1, NULL);
	pn_stack_destroy(cli);

	/* a single-issuer stack that ran in another thread stays there */
	srv = make_stack(if_a, "10.77.0.201", 0);
	if (!srv)
		return;
	pn_stack_detach(srv);
	atomic_store(&srv_attached, 0);
	pthread_create(&t1, NULL, bound_server, NULL);
	while (atomic_load(&srv_attached) != 1)
		;
	rc = pn_stack_attach(srv);
	CHECK(rc == -EPERM,
	      "moving a started single-issuer stack must fail with EPERM, "
	      "not %d",
	      rc);
	atomic_store(&srv_attached, 2);
	pthread_join(t1, NULL);
	if (!atomic_load(&failed))
		printf("hand-over: a new stack driven by a worker, a movable "
		       "one moved mid-connection and back, %u bytes intact; "
		       "EPERM and EBUSY where due\n",
		       SIZE);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_threads IF_A IF_B\n");
		return 2;
	}
	if_a = argv[1];
	if_b = argv[2];
	many_stacks();
	hand_over();
	return atomic_load(&failed) ? 1 : 0;
}
