/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: what lwIP's TCP input costs per data segment as connections
 * add up (patch 0005 looks a segment's pcb up by its 4-tuple; lwIP 2.1.3
 * walked every active pcb). Two lwIP stacks in one process joined by a
 * wire in memory (tests/common/lwip_pair.h): B opens connections to A;
 * at 30, 300, 3000 and 10000 of them, B sends a 64-byte segment on every
 * one in random order, and the time A takes to take them all in (from the
 * frame to lwIP's recv callback) is divided by their number; best of 5
 * rounds. Uses lwIP's raw API only, so it builds against lwIP with or
 * without patch 0005 too. Prints one JSON object.
 *
 * Usage: bench_lwip_input [--quiet] [MAX]   (up to MAX connections)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/priv/state.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include "lwip_alone.h" /* allocator, output and 4-tuple hooks */
#include "lwip_pair.h" /* A and B, the wire between them */

#define MAXCONN 10000
#define PORT0 1024 /* B's ports: PORT0 + i */
#define SPORT 80
#define ROUNDS 5
#define BATCH 100 /* connections opened at once (the listen backlog) */

static struct tcp_pcb *conns[MAXCONN];
static unsigned long received;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

u32_t sys_now(void);
u32_t sys_now(void)
{
	return (u32_t)(now_ns() / 1000000u);
}

static err_t a_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (!p)
		return tcp_close(pcb);
	received++;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t a_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)err;
	tcp_recv(pcb, a_recv);
	return ERR_OK;
}

/* ns per segment A takes in, best of ROUNDS, over the first n */
static double measure(int n)
{
	static int order[MAXCONN];
	static unsigned int rng = 7;
	static const u8_t msg[64];
	double best = 0;

	for (int r = 0; r < ROUNDS; r++) {
		struct frame *f;
		unsigned long before = received;
		uint64_t t0;
		double ns;

		for (int i = 0; i < n; i++)
			order[i] = i;
		for (int i = n - 1; i > 0; i--) {
			int j, t;

			rng = rng * 1103515245u + 12345u;
			j = (int)((rng >> 8) % (unsigned int)(i + 1));
			t = order[i], order[i] = order[j], order[j] = t;
		}
		lwip_state = &B.st;
		for (int i = 0; i < n; i++) {
			tcp_write(conns[order[i]], msg, sizeof(msg),
				  TCP_WRITE_FLAG_COPY);
			tcp_output(conns[order[i]]);
		}
		t0 = now_ns();
		while ((f = fq_pop(&A.in)))
			deliver(&A, f);
		ns = (double)(now_ns() - t0) / n;
		if (received - before != (unsigned long)n) {
			fprintf(stderr, "bench_lwip_input: %lu of %d arrived\n",
				received - before, n);
			exit(1);
		}
		pump(); /* A's delayed ACKs */
		if (!r || ns < best)
			best = ns;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const int points[] = { 30, 300, 3000, MAXCONN };
	bool quiet = false;
	int max = MAXCONN, open = 0;
	struct tcp_pcb *l;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quiet"))
			quiet = true;
		else if (atoi(argv[i]) > 0 && atoi(argv[i]) <= MAXCONN)
			max = atoi(argv[i]);
		else {
			fprintf(stderr, "usage: bench_lwip_input [--quiet] "
					"[MAX]\n");
			return 2;
		}
	}

	pair_init();
	lwip_state = &A.st;
	l = tcp_new();
	if (!l || tcp_bind(l, &A.ip, SPORT) || !(l = tcp_listen(l)))
		return 1;
	tcp_accept(l, a_accept);
	printf("{\"bench\": \"lwip_input\", \"segment_bytes\": 64, "
	       "\"rounds\": %d, \"results\": [",
	       ROUNDS);
	for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		double ns;

		if (points[k] > max)
			break;

		while (open < points[k]) {
			lwip_state = &B.st;
			for (int j = 0; j < BATCH && open < points[k]; j++) {
				struct tcp_pcb *pcb = tcp_new();

				if (!pcb ||
				    tcp_bind(pcb, &B.ip,
					     (u16_t)(PORT0 + open)) ||
				    tcp_connect(pcb, &A.ip, SPORT, NULL)) {
					fprintf(stderr, "bench_lwip_input: "
							"connect failed\n");
					return 1;
				}
				conns[open++] = pcb;
			}
			pump();
		}
		ns = measure(points[k]);
		if (!quiet)
			fprintf(stderr, "%6d connections: %8.1f ns/segment\n",
				points[k], ns);
		printf("%s{\"connections\": %d, \"ns_per_segment\": %.1f}",
		       k ? ", " : "", points[k], ns);
	}
	printf("]}\n");
	return 0;
}
