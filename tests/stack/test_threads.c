/* SPDX-License-Identifier: MIT */
/*
 * Two stacks in two threads of one process, at the same time: thread A runs
 * an echo server on a stack over IF_A, thread B a client on a stack over
 * IF_B (the two ends of one veth pair), CONNS connections of SIZE bytes
 * each, every byte checked. Then both stacks go, and a third is created and
 * destroyed in the main thread (the copies come back). lwIP's state is
 * global, so this works only because each stack lives in its own copy of
 * lwIP (stack/stack_ops.h). Prints what it did; exit 0 on success.
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

#define CONNS 4
#define SIZE (4u << 20)
#define PORT 7
#define IP_A "10.77.0.1"
#define IP_B "10.77.0.2"

static atomic_int server_ready;
static atomic_int failed;

static void fail(const char *who, const char *what, int err)
{
	fprintf(stderr, "FAIL: %s: %s: %s\n", who, what, strerror(err));
	atomic_store(&failed, 1);
}

static struct pn_stack *make_stack(const char *iface, const char *ip)
{
	struct pn_stack_opts o = { .sz = sizeof(o),
				   .iface = iface,
				   .backend = PN_BACKEND_PACKET,
				   .prefix = 24 };
	struct pn_stack *st;

	inet_pton(AF_INET, ip, &o.addr);
	st = pn_stack_create(&o);
	if (!st)
		fprintf(stderr, "FAIL: stack on %s: %s\n", iface,
			pn_stack_last_error(NULL));
	return st;
}

static unsigned char pattern(unsigned int conn, size_t i)
{
	return (unsigned char)((i * 7 + conn) % 251);
}

static void *server(void *arg)
{
	struct pn_stack *st = make_stack(arg, IP_A);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(PORT) };
	static char buf[65536];
	int ls;

	if (!st) {
		atomic_store(&failed, 1);
		atomic_store(&server_ready, -1);
		return NULL;
	}
	ls = pn_socket(st, AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || pn_bind(st, ls, (struct sockaddr *)&a, sizeof(a)) ||
	    pn_listen(st, ls, 8)) {
		fail("server", "listen", ls < 0 ? -ls : EINVAL);
		atomic_store(&server_ready, -1);
		pn_stack_destroy(st);
		return NULL;
	}
	atomic_store(&server_ready, 1);
	for (int c = 0; c < CONNS && !atomic_load(&failed); c++) {
		int s = pn_accept(st, ls, NULL, NULL, 0);
		ssize_t n;

		if (s < 0) {
			fail("server", "accept", -s);
			break;
		}
		/* echo until the client's end of stream */
		while ((n = pn_recv(st, s, buf, sizeof(buf), 0)) > 0) {
			for (ssize_t off = 0; off < n;) {
				ssize_t w = pn_send(st, s, buf + off,
						    (size_t)(n - off), 0);

				if (w < 0) {
					fail("server", "send", (int)-w);
					n = -1;
					break;
				}
				off += w;
			}
			if (n < 0)
				break;
		}
		if (n < 0 && !atomic_load(&failed))
			fail("server", "recv", (int)-n);
		pn_close(st, s);
	}
	pn_close(st, ls);
	pn_stack_destroy(st);
	return NULL;
}

/* One connection: send SIZE bytes and read them back, interleaved. */
static int one_conn(struct pn_stack *st, unsigned int conn)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(PORT) };
	static unsigned char out[65536], in[65536];
	size_t sent = 0, got = 0;
	int s;

	inet_pton(AF_INET, IP_A, &a.sin_addr);
	/* non-blocking: a send must never wait while echoes pile up */
	s = pn_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0)
		return s;
	if (pn_connect(st, s, (struct sockaddr *)&a, sizeof(a)) !=
	    -EINPROGRESS) {
		pn_close(st, s);
		return -ECONNREFUSED;
	}
	while (got < SIZE) {
		struct pn_pollfd pf = { s, POLLIN, 0 };
		ssize_t n;

		if (sent < SIZE)
			pf.events |= POLLOUT;
		if (pn_poll(st, &pf, 1, 5000) <= 0) {
			pn_close(st, s);
			return -ETIMEDOUT;
		}
		if (pf.revents & POLLOUT) {
			size_t len = SIZE - sent < sizeof(out) ? SIZE - sent :
								 sizeof(out);

			for (size_t i = 0; i < len; i++)
				out[i] = pattern(conn, sent + i);
			n = pn_send(st, s, out, len, 0);
			if (n < 0 && n != -EAGAIN)
				break;
			if (n > 0)
				sent += (size_t)n;
			if (sent == SIZE)
				pn_shutdown(st, s, SHUT_WR);
		}
		if (pf.revents & (POLLIN | POLLERR | POLLHUP)) {
			n = pn_recv(st, s, in, sizeof(in), 0);
			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n; i++)
				if (in[i] != pattern(conn, got + (size_t)i)) {
					fprintf(stderr,
						"FAIL: conn %u: byte %zu differs\n",
						conn, got + (size_t)i);
					pn_close(st, s);
					return -EIO;
				}
			got += (size_t)n;
		}
	}
	pn_close(st, s);
	return got == SIZE ? 0 : -EIO;
}

static void *client(void *arg)
{
	struct pn_stack *st;

	while (atomic_load(&server_ready) == 0)
		;
	if (atomic_load(&server_ready) < 0)
		return NULL;
	st = make_stack(arg, IP_B);
	if (!st) {
		atomic_store(&failed, 1);
		return NULL;
	}
	for (unsigned int c = 0; c < CONNS; c++) {
		int rc = one_conn(st, c);

		if (rc) {
			fail("client", "echo", -rc);
			break;
		}
	}
	pn_stack_destroy(st);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t ta, tb;
	struct pn_stack *st;

	if (argc != 3) {
		fprintf(stderr, "usage: test_threads IF_A IF_B\n");
		return 2;
	}
	pthread_create(&ta, NULL, server, argv[1]);
	pthread_create(&tb, NULL, client, argv[2]);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
	if (atomic_load(&failed))
		return 1;
	printf("two stacks, two threads: %d connections x %u bytes echoed "
	       "intact\n",
	       CONNS, SIZE);
	/* their copies came back: a new stack can be made here */
	st = make_stack(argv[1], IP_A);
	if (!st)
		return 1;
	pn_stack_destroy(st);
	printf("a third stack, in the main thread, after both: created and "
	       "destroyed\n");
	return 0;
}
