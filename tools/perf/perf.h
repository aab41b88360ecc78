/* SPDX-License-Identifier: MIT */
/*
 * What pinnet-perf's parts share (private to tools/perf/): iperf3's
 * protocol constants and a test's state, the blocking-style I/O and JSON
 * messages of iperf3's control connection (iperf.c), the iperf3 server
 * (iperf_server.c) and client (iperf_client.c), and the sockperf server
 * (sockperf.c). Sockets are those of tools/net.h; errors are -errno.
 */
#ifndef PINNET_TOOLS_PERF_PERF_H
#define PINNET_TOOLS_PERF_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "net.h"

struct json_object;

/* iperf3's protocol constants */
#define COOKIE_SIZE 37
#define TEST_START 1
#define TEST_RUNNING 2
#define TEST_END 4
#define PARAM_EXCHANGE 9
#define CREATE_STREAMS 10
#define SERVER_TERMINATE 11
#define CLIENT_TERMINATE 12
#define EXCHANGE_RESULTS 13
#define DISPLAY_RESULTS 14
#define IPERF_DONE 16
#define ACCESS_DENIED (-1)
#define SERVER_ERROR (-2)

#define MAXSTREAMS 128
#define MAXBLK (1 << 20)

struct stream {
	int sock;
	int id; /* iperf3 numbers streams 1, 3, 4, 5 ... */
	uint64_t bytes;
	bool eof;
};

struct test {
	int ctrl;
	int ep; /* the streams' readiness set, or -1 */
	char cookie[COOKIE_SIZE];
	bool reverse;
	int parallel;
	size_t blksize;
	char congestion[32];
	struct stream s[MAXSTREAMS];
	int ns;
	double t_start, t_end;
	struct rusage ru0, ru1;
};

/* The transport (main.c) and the block every test sends from (MAXBLK
 * bytes, a fixed pattern). */
extern struct net *net;
extern char *blk;

/* iperf.c: I/O on non-blocking sockets with a deadline (0 or -errno), the
 * length-prefixed JSON messages, our side's results, closing a test.
 * wait_sock() waits for EPOLLIN or EPOLLOUT on one socket, in a readiness
 * set of its own that wait_close() closes. */
int wait_sock(int s, uint32_t ev, double deadline);
void wait_close(void);
int read_exact(int s, void *buf, size_t len, double timeout);
int write_all(int s, const void *buf, size_t len, double timeout);
int send_state(int s, signed char state);
struct json_object *read_json(int s);
int write_json(int s, struct json_object *j);
struct json_object *results_json(const struct test *t, bool sender);
/* The test's readiness set (t->ep) with every stream for ev, data.ptr
 * its struct stream; 0 or -errno. */
int test_set(struct test *t, uint32_t ev);
void close_test(struct test *t); /* its sockets and set */

/* iperf_server.c: run the test whose control connection c was accepted on
 * the listening socket ls (its streams arrive there too); closes c. */
void serve(int ls, int c);

/* iperf_client.c: one test against an iperf3 server at host:port; the
 * exit status (0, 1 on a failed test, 2 on a bad address). */
int client_run(const char *host, unsigned int port, double secs, uint64_t bytes,
	       int parallel, bool reverse, bool json);

/* sockperf.c: the sockperf server's connections, registered in the
 * readiness set ep with their record as data.ptr. */
void sp_accept(int ep, int ls); /* take every pending connection on ls */
void sp_ready(void *conn); /* serve an event's record, drop it if it failed */
void sp_close_all(void);
void sp_report(void); /* messages and replies, if any came */

#endif
