/* SPDX-License-Identifier: MIT */
/*
 * pinnet-perf: an iperf3-compatible server on the pinnet stack (or, with
 * --kernel, on kernel sockets), so Debian's iperf3 client measures pinnet
 * unchanged: the control connection with its cookie, the JSON parameter
 * and result exchange (4-byte length + JSON), the test states, -P parallel
 * streams, -R reverse (we send), -t/-n, -C (kernel sockets only: lwIP has
 * one congestion control). One test at a time, as iperf3 -s; others are
 * told ACCESS_DENIED. Runs until SIGINT/SIGTERM, then exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "net.h"
#include "util.h"

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

/* sockperf's TCP messages: a 14-byte header in network order (sequence
 * number, flags, total length), then the payload; the server returns every
 * client message that asks for a reply, with the client bit cleared. */
#define SP_HDR 14
#define SP_CLIENT 1
#define SP_PONG 2
#define SP_WARMUP 4
#define SP_MAXMSG 65536
#define SP_MAXCONN 1024

struct spconn {
	int sock;
	char *rx; /* received, not yet parsed */
	size_t rlen;
	char *tx; /* replies not yet sent */
	size_t tlen, toff;
};

static struct spconn spc[SP_MAXCONN];
static uint64_t sp_msgs, sp_replies;

struct stream {
	int sock;
	int id; /* iperf3 numbers streams 1, 3, 4, 5 ... */
	uint64_t bytes;
	bool eof;
};

struct test {
	int ctrl;
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

static struct net *net;
static char *blk;
static int verbose = 1;

/* ---- blocking-style I/O on non-blocking sockets, with a deadline ------- */

static int wait_sock(int s, short ev, double deadline)
{
	struct pn_pollfd pf = { s, ev, 0 };

	while (!stop) {
		double left = deadline - now_s();
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = net_poll(net, &pf, 1,
			      left > 0.2 ? 200 : (int)(left * 1000) + 1);
		if (rc < 0)
			return rc;
		if (pf.revents)
			return 0;
	}
	return -EINTR;
}

static int read_exact(int s, void *buf, size_t len, double timeout)
{
	double deadline = now_s() + timeout;
	size_t got = 0;

	while (got < len) {
		ssize_t r = net_recv(net, s, (char *)buf + got, len - got);

		if (r == -EAGAIN) {
			int rc = wait_sock(s, POLLIN, deadline);

			if (rc)
				return rc;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (r < 0)
			return (int)r;
		got += (size_t)r;
	}
	return 0;
}

static int write_all(int s, const void *buf, size_t len, double timeout)
{
	double deadline = now_s() + timeout;
	size_t off = 0;

	while (off < len) {
		ssize_t w =
			net_send(net, s, (const char *)buf + off, len - off);

		if (w == -EAGAIN) {
			int rc = wait_sock(s, POLLOUT, deadline);

			if (rc)
				return rc;
			continue;
		}
		if (w < 0)
			return (int)w;
		off += (size_t)w;
	}
	return 0;
}

static int send_state(int s, signed char state)
{
	return write_all(s, &state, 1, 10);
}

static struct json_object *read_json(int s)
{
	uint32_t nlen;
	char *str;
	struct json_object *j = NULL;

	int rc = read_exact(s, &nlen, 4, 10);

	if (rc) {
		fprintf(stderr, "pinnet-perf: reading a JSON length: %s\n",
			strerror(-rc));
		return NULL;
	}
	nlen = ntohl(nlen);
	if (nlen > (1 << 20)) {
		fprintf(stderr, "pinnet-perf: a JSON message of %u bytes\n",
			nlen);
		return NULL;
	}
	str = calloc(1, nlen + 1);
	if (str && !read_exact(s, str, nlen, 10))
		j = json_tokener_parse(str);
	free(str);
	return j;
}

/* Length and JSON in one write: iperf3 reads the body right after the
 * length and takes a short read as an error, so they travel together. */
static int write_json(int s, struct json_object *j)
{
	const char *str =
		json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(str);
	uint32_t nlen = htonl((uint32_t)len);
	char *msg = malloc(4 + len);
	int rc;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, &nlen, 4);
	memcpy(msg + 4, str, len);
	rc = write_all(s, msg, 4 + len, 10);
	free(msg);
	return rc;
}

/* ---- one test ---------------------------------------------------------------- */

static void close_test(struct test *t)
{
	for (int i = 0; i < t->ns; i++)
		if (t->s[i].sock >= 0)
			net_close(net, t->s[i].sock);
	t->ns = 0;
	if (t->ctrl >= 0)
		net_close(net, t->ctrl);
	t->ctrl = -1;
}

static int get_params(struct test *t)
{
	struct json_object *j = read_json(t->ctrl), *v;

	if (!j)
		return -EPROTO;
	t->reverse = json_object_object_get_ex(j, "reverse", &v) &&
		     json_object_get_boolean(v);
	t->parallel = json_object_object_get_ex(j, "parallel", &v) ?
			      json_object_get_int(v) :
			      1;
	t->blksize = json_object_object_get_ex(j, "len", &v) ?
			     (size_t)json_object_get_int64(v) :
			     131072;
	t->congestion[0] = 0;
	if (json_object_object_get_ex(j, "congestion", &v))
		snprintf(t->congestion, sizeof(t->congestion), "%s",
			 json_object_get_string(v));
	if (json_object_object_get_ex(j, "udp", &v) &&
	    json_object_get_boolean(v)) {
		fprintf(stderr, "pinnet-perf: UDP tests are not supported\n");
		json_object_put(j);
		return -EPROTONOSUPPORT;
	}
	json_object_put(j);
	if (t->parallel < 1 || t->parallel > MAXSTREAMS || !t->blksize ||
	    t->blksize > MAXBLK)
		return -EINVAL;
	return 0;
}

/* Accept the test's data connections: each starts with the cookie. */
static int accept_streams(struct test *t, int ls)
{
	double deadline = now_s() + 10;

	while (t->ns < t->parallel) {
		char ck[COOKIE_SIZE];
		int s = net_accept(net, ls), rc;

		if (s == -EAGAIN) {
			rc = wait_sock(ls, POLLIN, deadline);
			if (rc)
				return rc;
			continue;
		}
		if (s < 0)
			return s;
		if (read_exact(s, ck, COOKIE_SIZE, 5) ||
		    memcmp(ck, t->cookie, COOKIE_SIZE)) {
			/* another client while we are busy */
			signed char denied = ACCESS_DENIED;

			net_send(net, s, &denied, 1);
			net_close(net, s);
			continue;
		}
		if (t->congestion[0] && !net_stack(net))
			setsockopt(s, IPPROTO_TCP, TCP_CONGESTION,
				   t->congestion,
				   (socklen_t)strlen(t->congestion));
		t->s[t->ns] = (struct stream){ s, t->ns == 0 ? 1 : t->ns + 2, 0,
					       false };
		t->ns++;
	}
	return 0;
}

/* Move data until the client says TEST_END (or goes away). */
static int run(struct test *t)
{
	struct pn_pollfd pf[MAXSTREAMS + 1];

	t->t_start = now_s();
	getrusage(RUSAGE_SELF, &t->ru0);
	while (!stop) {
		int n = 0, rc;

		pf[n++] = (struct pn_pollfd){ t->ctrl, POLLIN, 0 };
		for (int i = 0; i < t->ns; i++)
			pf[n++] = (struct pn_pollfd){
				t->s[i].sock,
				(short)(t->reverse ? POLLOUT : POLLIN), 0
			};
		rc = net_poll(net, pf, (unsigned int)n, 200);
		if (rc < 0)
			return rc;
		if (pf[0].revents) {
			signed char st;

			rc = read_exact(t->ctrl, &st, 1, 5);
			if (rc)
				return rc;
			if (st == TEST_END)
				return 0;
			if (st == CLIENT_TERMINATE)
				return -ECONNABORTED;
		}
		for (int i = 0; i < t->ns; i++) {
			struct stream *s = &t->s[i];
			ssize_t r;

			if (!pf[i + 1].revents || s->eof)
				continue;
			if (t->reverse) {
				r = net_send(net, s->sock, blk, t->blksize);
				if (r > 0)
					s->bytes += (uint64_t)r;
			} else {
				while ((r = net_recv(net, s->sock, blk,
						     MAXBLK)) > 0)
					s->bytes += (uint64_t)r;
				if (r == 0)
					s->eof = true;
			}
			if (r < 0 && r != -EAGAIN)
				s->eof = true;
		}
	}
	return -EINTR;
}

/* After TEST_END: what the client sent before it is still arriving. */
static void drain(struct test *t)
{
	double quiet_until = now_s() + 0.2;

	while (now_s() < quiet_until) {
		bool got = false;

		for (int i = 0; i < t->ns; i++) {
			ssize_t r;

			while (!t->s[i].eof &&
			       (r = net_recv(net, t->s[i].sock, blk, MAXBLK)) >
				       0) {
				t->s[i].bytes += (uint64_t)r;
				got = true;
			}
		}
		if (got)
			quiet_until = now_s() + 0.2;
		net_poll(net, NULL, 0, 10);
	}
}

static double cpu_pct(const struct timeval *a, const struct timeval *b,
		      double secs)
{
	double d = (double)(b->tv_sec - a->tv_sec) +
		   (double)(b->tv_usec - a->tv_usec) * 1e-6;

	return secs > 0 ? 100.0 * d / secs : 0;
}

/* Our side's results, as iperf3 sends them in EXCHANGE_RESULTS. */
static struct json_object *results_json(const struct test *t, bool sender)
{
	struct json_object *j, *streams;
	double secs = t->t_end - t->t_start;
	double user = cpu_pct(&t->ru0.ru_utime, &t->ru1.ru_utime, secs);
	double sys = cpu_pct(&t->ru0.ru_stime, &t->ru1.ru_stime, secs);

	j = json_object_new_object();
	json_object_object_add(j, "cpu_util_total",
			       json_object_new_double(user + sys));
	json_object_object_add(j, "cpu_util_user",
			       json_object_new_double(user));
	json_object_object_add(j, "cpu_util_system",
			       json_object_new_double(sys));
	json_object_object_add(j, "sender_has_retransmits",
			       json_object_new_int(sender ? 0 : -1));
	json_object_object_add(
		j, "congestion_used",
		json_object_new_string(net_stack(net)	? "lwip" :
				       t->congestion[0] ? t->congestion :
							  "default"));
	streams = json_object_new_array();
	for (int i = 0; i < t->ns; i++) {
		struct json_object *s = json_object_new_object();

		json_object_object_add(s, "id",
				       json_object_new_int(t->s[i].id));
		json_object_object_add(
			s, "bytes",
			json_object_new_int64((int64_t)t->s[i].bytes));
		json_object_object_add(s, "retransmits",
				       json_object_new_int(-1));
		json_object_object_add(s, "jitter", json_object_new_double(0));
		json_object_object_add(s, "errors", json_object_new_int(0));
		json_object_object_add(s, "packets", json_object_new_int(0));
		json_object_object_add(s, "start_time",
				       json_object_new_double(0));
		json_object_object_add(s, "end_time",
				       json_object_new_double(secs));
		json_object_array_add(streams, s);
	}
	json_object_object_add(j, "streams", streams);
	return j;
}

static int exchange_results(struct test *t)
{
	struct json_object *j, *peer;
	int rc;

	rc = send_state(t->ctrl, EXCHANGE_RESULTS);
	if (rc)
		return rc;
	peer = read_json(t->ctrl); /* the client's results: not needed */
	if (!peer)
		return -EPROTO;
	json_object_put(peer);
	j = results_json(t, t->reverse);
	rc = write_json(t->ctrl, j);
	json_object_put(j);
	return rc ? rc : send_state(t->ctrl, DISPLAY_RESULTS);
}

static void serve(int ls, int c)
{
	struct test t = { .ctrl = c };
	struct pn_stack_stats s0 = { 0 }, s1 = { 0 };
	uint64_t total = 0;
	signed char done;
	int rc;

	if (net_stack(net))
		pn_stack_stats(net_stack(net), &s0, sizeof(s0));

	rc = read_exact(c, t.cookie, COOKIE_SIZE, 10);
	if (!rc)
		rc = send_state(c, PARAM_EXCHANGE);
	if (!rc)
		rc = get_params(&t);
	if (!rc)
		rc = send_state(c, CREATE_STREAMS);
	if (!rc)
		rc = accept_streams(&t, ls);
	if (!rc)
		rc = send_state(c, TEST_START);
	if (!rc)
		rc = send_state(c, TEST_RUNNING);
	if (!rc)
		rc = run(&t);
	if (!rc) {
		if (!t.reverse)
			drain(&t);
		t.t_end = now_s();
		getrusage(RUSAGE_SELF, &t.ru1);
		/* as iperf3 -s: the streams close at TEST_END; a receiving
		 * client reads them to their end before it answers */
		for (int i = 0; i < t.ns; i++) {
			net_close(net, t.s[i].sock);
			t.s[i].sock = -1;
		}
		rc = exchange_results(&t);
	}
	if (!rc)
		read_exact(c, &done, 1, 10); /* IPERF_DONE */
	for (int i = 0; i < t.ns; i++)
		total += t.s[i].bytes;
	if (rc) {
		signed char err = SERVER_ERROR;

		if (rc != -ECONNRESET && rc != -ECONNABORTED)
			net_send(net, c, &err, 1);
		fprintf(stderr, "pinnet-perf: test ended early: %s\n",
			strerror(-rc));
	}
	if (net_stack(net))
		pn_stack_stats(net_stack(net), &s1, sizeof(s1));
	if (verbose) {
		double secs = t.t_end > t.t_start ? t.t_end - t.t_start : 0;
		uint64_t rxf = s1.rx_frames - s0.rx_frames;
		uint64_t txf = s1.tx_frames - s0.tx_frames;

		printf("pinnet-perf: %s test, %d stream%s, %llu bytes in %.2f s (%.1f MB/s)",
		       t.reverse ? "reverse (we sent)" : "receive", t.ns,
		       t.ns == 1 ? "" : "s", (unsigned long long)total, secs,
		       secs ? total / secs / 1e6 : 0);
		/* the per-frame cost, visible: frames, sizes, ACKs */
		if (net_stack(net) && secs)
			printf("; frames rx %llu (%.0f/s, %.0f B each) tx %llu (%.0f/s, %.1f per MiB)",
			       (unsigned long long)rxf, rxf / secs,
			       rxf ? (double)(s1.rx_bytes - s0.rx_bytes) /
					       (double)rxf :
				     0,
			       (unsigned long long)txf, txf / secs,
			       total ? txf / (total / 1048576.0) : 0);
		printf("\n");
	}
	fflush(stdout);
	close_test(&t);
}

/* ---- client mode: pinnet-perf --client ADDR against iperf3 -s ----------- */

static signed char read_state(int c, double timeout)
{
	signed char st;

	return read_exact(c, &st, 1, timeout) ? (signed char)-128 : st;
}

static int client_run(const char *host, unsigned int port, double secs,
		      uint64_t bytes, int parallel, bool reverse, bool json)
{
	struct test t = { .ctrl = -1,
			  .reverse = reverse,
			  .parallel = parallel,
			  .blksize = 131072 };
	struct json_object *j, *peer = NULL, *v, *sv;
	uint64_t ours = 0, theirs = 0;
	struct in_addr ip;
	signed char st;
	int rc, nstreams;

	if (inet_pton(AF_INET, host, &ip) != 1) {
		fprintf(stderr, "pinnet-perf: --client %s: want A.B.C.D\n",
			host);
		return 2;
	}
	for (int i = 0; i < COOKIE_SIZE - 1; i++)
		t.cookie[i] = "abcdefghijklmnopqrstuvwxyz234567"[rand() % 32];
	t.cookie[COOKIE_SIZE - 1] = 0;
	t.ctrl = net_connect(net, ip.s_addr, port);
	if (t.ctrl < 0) {
		fprintf(stderr, "pinnet-perf: connect %s:%u: %s\n", host, port,
			strerror(-t.ctrl));
		return 1;
	}
	rc = write_all(t.ctrl, t.cookie, COOKIE_SIZE, 10);
	if (!rc && (st = read_state(t.ctrl, 10)) != PARAM_EXCHANGE)
		rc = st == ACCESS_DENIED ? -EBUSY : -EPROTO;
	if (!rc) {
		j = json_object_new_object();
		json_object_object_add(j, "tcp", json_object_new_boolean(1));
		json_object_object_add(j, "omit", json_object_new_int(0));
		json_object_object_add(
			j, "time", json_object_new_int(bytes ? 0 : (int)secs));
		json_object_object_add(j, "num",
				       json_object_new_int64((int64_t)bytes));
		json_object_object_add(j, "blockcount", json_object_new_int(0));
		json_object_object_add(j, "parallel",
				       json_object_new_int(parallel));
		if (reverse)
			json_object_object_add(j, "reverse",
					       json_object_new_boolean(1));
		json_object_object_add(j, "len",
				       json_object_new_int((int)t.blksize));
		json_object_object_add(j, "pacing_timer",
				       json_object_new_int(1000));
		json_object_object_add(j, "client_version",
				       json_object_new_string("3.12"));
		rc = write_json(t.ctrl, j);
		json_object_put(j);
	}
	if (!rc && read_state(t.ctrl, 10) != CREATE_STREAMS)
		rc = -EPROTO;
	for (int i = 0; !rc && i < parallel; i++) {
		int s = net_connect(net, ip.s_addr, port);

		if (s < 0) {
			rc = s;
			break;
		}
		net_set_nonblock(net, s, 1);
		t.s[t.ns++] =
			(struct stream){ s, i == 0 ? 1 : i + 2, 0, false };
		rc = write_all(s, t.cookie, COOKIE_SIZE, 10);
	}
	if (!rc && read_state(t.ctrl, 10) != TEST_START)
		rc = -EPROTO;
	if (!rc && read_state(t.ctrl, 10) != TEST_RUNNING)
		rc = -EPROTO;
	if (!rc) {
		struct pn_pollfd pf[MAXSTREAMS];
		uint64_t total = 0;

		t.t_start = now_s();
		getrusage(RUSAGE_SELF, &t.ru0);
		while (!stop &&
		       (bytes ? total < bytes : now_s() - t.t_start < secs)) {
			for (int i = 0; i < t.ns; i++)
				pf[i] = (struct pn_pollfd){
					t.s[i].sock,
					(short)(reverse ? POLLIN : POLLOUT), 0
				};
			if (net_poll(net, pf, (unsigned int)t.ns, 100) < 0)
				break;
			for (int i = 0; i < t.ns; i++) {
				ssize_t r;
				size_t want = t.blksize;

				if (!pf[i].revents)
					continue;
				if (reverse) {
					r = net_recv(net, t.s[i].sock, blk,
						     MAXBLK);
				} else {
					if (bytes && bytes - total < want)
						want = (size_t)(bytes - total);
					r = net_send(net, t.s[i].sock, blk,
						     want);
				}
				if (r > 0) {
					t.s[i].bytes += (uint64_t)r;
					total += (uint64_t)r;
				}
			}
		}
		t.t_end = now_s();
		getrusage(RUSAGE_SELF, &t.ru1);
		rc = send_state(t.ctrl, TEST_END);
		/* receiving, what the server sent before it closes the streams */
		for (int i = 0; !rc && reverse && i < t.ns; i++) {
			ssize_t r;

			while ((r = net_recv(net, t.s[i].sock, blk, MAXBLK)) !=
			       0) {
				if (r == -EAGAIN) {
					if (wait_sock(t.s[i].sock, POLLIN,
						      now_s() + 5))
						break;
					continue;
				}
				if (r < 0)
					break;
				t.s[i].bytes += (uint64_t)r;
			}
		}
	}
	if (!rc && read_state(t.ctrl, 10) != EXCHANGE_RESULTS)
		rc = -EPROTO;
	if (!rc) {
		j = results_json(&t, !reverse);
		rc = write_json(t.ctrl, j);
		json_object_put(j);
	}
	if (!rc && !(peer = read_json(t.ctrl)))
		rc = -EPROTO;
	if (!rc && read_state(t.ctrl, 10) != DISPLAY_RESULTS)
		rc = -EPROTO;
	if (!rc)
		rc = send_state(t.ctrl, IPERF_DONE);
	for (int i = 0; i < t.ns; i++)
		ours += t.s[i].bytes;
	if (peer && json_object_object_get_ex(peer, "streams", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (json_object_object_get_ex(
				    json_object_array_get_idx(v, i), "bytes",
				    &sv))
				theirs += (uint64_t)json_object_get_int64(sv);
	json_object_put(peer);
	nstreams = t.ns;
	close_test(&t);
	if (rc) {
		fprintf(stderr, "pinnet-perf: client: %s\n", strerror(-rc));
		return 1;
	}
	if (json) {
		printf("{\"reverse\":%s,\"streams\":%d,\"seconds\":%.3f,\"sent_bytes\":%llu,\"received_bytes\":%llu}\n",
		       reverse ? "true" : "false", nstreams,
		       t.t_end - t.t_start,
		       (unsigned long long)(reverse ? theirs : ours),
		       (unsigned long long)(reverse ? ours : theirs));
	} else {
		printf("pinnet-perf: client %s: %d stream%s, sent %llu, received %llu bytes in %.2f s (%.1f MB/s)\n",
		       reverse ? "reverse" : "forward", nstreams,
		       nstreams == 1 ? "" : "s",
		       (unsigned long long)(reverse ? theirs : ours),
		       (unsigned long long)(reverse ? ours : theirs),
		       t.t_end - t.t_start,
		       (reverse ? ours : theirs) / (t.t_end - t.t_start) / 1e6);
	}
	return 0;
}

static void sp_drop(struct spconn *c)
{
	net_close(net, c->sock);
	free(c->rx);
	free(c->tx);
	memset(c, 0, sizeof(*c));
	c->sock = -1;
}

/* Send what is queued; false when the connection failed. */
static bool sp_flush(struct spconn *c)
{
	while (c->toff < c->tlen) {
		ssize_t w = net_send(net, c->sock, c->tx + c->toff,
				     c->tlen - c->toff);

		if (w == -EAGAIN)
			break;
		if (w < 0)
			return false;
		c->toff += (size_t)w;
	}
	if (c->toff == c->tlen)
		c->toff = c->tlen = 0;
	return true;
}

/* Read, answer every complete message that asks for a reply. */
static bool sp_serve(struct spconn *c, short rev)
{
	if ((rev & POLLOUT) && !sp_flush(c))
		return false;
	if (!(rev & (POLLIN | POLLERR | POLLHUP)))
		return true;
	for (;;) {
		ssize_t r = net_recv(net, c->sock, c->rx + c->rlen,
				     2 * SP_MAXMSG - c->rlen);
		size_t off = 0;

		if (r == -EAGAIN)
			break;
		if (r <= 0)
			return false;
		c->rlen += (size_t)r;
		while (c->rlen - off >= SP_HDR) {
			unsigned char *m = (unsigned char *)c->rx + off;
			uint16_t flags = (uint16_t)(m[8] << 8 | m[9]);
			uint32_t len = (uint32_t)m[10] << 24 |
				       (uint32_t)m[11] << 16 |
				       (uint32_t)m[12] << 8 | m[13];

			if (len < SP_HDR || len > SP_MAXMSG)
				return false; /* not sockperf: drop the connection */
			if (c->rlen - off < len)
				break;
			sp_msgs++;
			if ((flags & SP_CLIENT) && !(flags & SP_WARMUP) &&
			    (flags & SP_PONG)) {
				if (c->tlen + len > 4 * SP_MAXMSG)
					return false; /* the client does not read */
				memcpy(c->tx + c->tlen, m, len);
				c->tx[c->tlen + 9] = (char)(flags & ~SP_CLIENT);
				c->tx[c->tlen + 8] =
					(char)((flags & ~SP_CLIENT) >> 8);
				c->tlen += len;
				sp_replies++;
			}
			off += len;
		}
		memmove(c->rx, c->rx + off, c->rlen - off);
		c->rlen -= off;
	}
	return sp_flush(c);
}

static void sp_accept(int ls)
{
	int s;

	while ((s = net_accept(net, ls)) >= 0) {
		int i = 0;

		while (i < SP_MAXCONN && spc[i].sock >= 0)
			i++;
		if (i == SP_MAXCONN) {
			net_close(net, s);
			continue;
		}
		spc[i].sock = s;
		spc[i].rx = malloc(2 * SP_MAXMSG);
		spc[i].tx = malloc(4 * SP_MAXMSG);
		if (!spc[i].rx || !spc[i].tx)
			sp_drop(&spc[i]);
		if (net_stack(net)) {
			int one = 1;

			pn_setsockopt(net_stack(net), s, IPPROTO_TCP,
				      TCP_NODELAY, &one, sizeof(one));
		} else {
			int one = 1;

			setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		}
	}
}

int main(int argc, char **argv)
{
	static struct pn_pollfd pf[SP_MAXCONN + 2];
	static int idx[SP_MAXCONN + 2];
	unsigned int sp_port = 11111;
	const char *client = NULL;
	double csecs = 10;
	uint64_t cbytes = 0;
	int cpar = 1;
	bool crev = false, cjson = false;
	struct app_opts ao;
	int ls, sls = -1, rc;
	char *args[64];
	int nargs = 1;

	/* our own option first; the rest are the stack options */
	args[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--client") && i + 1 < argc) {
			client = argv[++i];
		} else if (!strcmp(argv[i], "--time") && i + 1 < argc) {
			csecs = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--bytes") && i + 1 < argc) {
			cbytes = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--parallel") && i + 1 < argc) {
			cpar = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--reverse")) {
			crev = true;
		} else if (!strcmp(argv[i], "--json")) {
			cjson = true;
		} else if (!strcmp(argv[i], "--sockperf-port") &&
			   i + 1 < argc) {
			char *end;

			sp_port = (unsigned int)strtoul(argv[++i], &end, 10);
			if (*end || sp_port > 65535) {
				fprintf(stderr,
					"pinnet-perf: --sockperf-port wants 0..65535\n");
				return 2;
			}
		} else if (nargs < 63) {
			args[nargs++] = argv[i];
		}
	}
	args[nargs] = NULL;
	argc = nargs;
	argv = args;
	for (int i = 0; i < SP_MAXCONN; i++)
		spc[i].sock = -1;

	rc = app_parse(
		&ao, argc, argv, "pinnet-perf",
		"An iperf3-compatible server on the pinnet stack (or, with --kernel,\n"
		"kernel sockets): run Debian's iperf3 client against it (-c ADDR,\n"
		"-P, -R, -t, -n, -J, -C; -C applies with --kernel only: lwIP has one\n"
		"congestion control). TCP only.",
		5201);
	if (rc >= 0)
		return rc;
	blk = malloc(MAXBLK);
	if (!blk)
		return 1;
	for (size_t i = 0; i < MAXBLK; i++)
		blk[i] = (char)(i * 131);
	net = net_open(&ao);
	if (!net)
		return 1;
	if (client) {
		if (csecs <= 0 || cpar < 1 || cpar > MAXSTREAMS) {
			fprintf(stderr,
				"pinnet-perf: --time > 0, --parallel 1..%d\n",
				MAXSTREAMS);
			net_destroy(net);
			return 2;
		}
		signal(SIGINT, on_stop_signal);
		signal(SIGPIPE, SIG_IGN);
		srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
		rc = client_run(client, ao.port, csecs, cbytes, cpar, crev,
				cjson);
		net_report(net);
		net_destroy(net);
		free(blk);
		return rc;
	}
	ls = net_listen(net, ao.port);
	if (ls < 0) {
		net_destroy(net);
		return 1;
	}
	stop_on_signals();
	signal(SIGPIPE, SIG_IGN);
	if (sp_port) {
		sls = net_listen(net, sp_port);
		if (sls < 0) {
			net_destroy(net);
			return 1;
		}
	}
	printf("pinnet-perf: iperf3 server on port %u, sockperf on %u (%s)\n",
	       ao.port, sp_port, ao.kernel ? "kernel sockets" : ao.iface);
	fflush(stdout);
	while (!stop) {
		unsigned int n = 0;
		int c;

		pf[n] = (struct pn_pollfd){ ls, POLLIN, 0 };
		idx[n++] = -1;
		if (sls >= 0) {
			pf[n] = (struct pn_pollfd){ sls, POLLIN, 0 };
			idx[n++] = -2;
		}
		for (int i = 0; i < SP_MAXCONN; i++)
			if (spc[i].sock >= 0) {
				pf[n] = (struct pn_pollfd){
					spc[i].sock,
					(short)(POLLIN |
						(spc[i].tlen ? POLLOUT : 0)),
					0
				};
				idx[n++] = i;
			}
		rc = net_poll(net, pf, n, 200);
		if (rc < 0)
			break;
		for (unsigned int k = 0; k < n; k++) {
			if (!pf[k].revents)
				continue;
			if (idx[k] == -1) {
				while ((c = net_accept(net, ls)) >= 0)
					serve(ls, c);
			} else if (idx[k] == -2) {
				sp_accept(sls);
			} else if (!sp_serve(&spc[idx[k]], pf[k].revents)) {
				sp_drop(&spc[idx[k]]);
			}
		}
	}
	for (int i = 0; i < SP_MAXCONN; i++)
		if (spc[i].sock >= 0)
			sp_drop(&spc[i]);
	if (sls >= 0)
		net_close(net, sls);
	if (sp_msgs)
		printf("pinnet-perf: sockperf: %llu messages, %llu replies\n",
		       (unsigned long long)sp_msgs,
		       (unsigned long long)sp_replies);
	net_close(net, ls);
	net_report(net);
	net_destroy(net);
	free(blk);
	return 0;
}
