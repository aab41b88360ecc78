/* SPDX-License-Identifier: MIT */
/*
 * pinnet-perf's iperf3 server: one test at a time, as iperf3 -s (others
 * are told ACCESS_DENIED): the cookie, the parameters, -P parallel
 * streams, -R reverse (we send), -t/-n, -C (kernel sockets only), the
 * results exchange, and a line of what moved (with the stack's frames).
 */
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "net.h"
#include "perf.h"
#include "util.h"

static int verbose = 1;

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
			rc = wait_sock(ls, EPOLLIN, deadline);
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

/*
 * Serve a stream: count what came, until it would block; or send one block
 * of the pattern (reverse), as often as the stream is reported writable.
 * Sending is level-triggered, a block per wait: on kernel sockets ACKs free
 * room while we send, so a loop until EAGAIN goes on as long as the client
 * reads, and it reads on after its TEST_END, which would wait behind it.
 */
static void move(struct test *t, struct stream *s)
{
	ssize_t r;

	if (s->eof)
		return;
	if (t->reverse) {
		r = net_send(net, s->sock, blk, t->blksize);
		if (r > 0)
			s->bytes += (uint64_t)r;
	} else {
		/* the data is dropped, as iperf3's server drops it; on the
		 * stack it is not even copied (net_recv_discard) */
		while ((r = net_recv_discard(net, s->sock, MAXBLK)) > 0)
			s->bytes += (uint64_t)r;
		if (r == 0)
			s->eof = true;
	}
	if (r < 0 && r != -EAGAIN)
		s->eof = true;
	if (s->eof) /* ended or failed: nothing more to wait for */
		net_epoll_ctl(net, t->ep, EPOLL_CTL_DEL, s->sock, 0, NULL);
}

/*
 * Move data until the client says TEST_END (or goes away), in the test's
 * readiness set: the control connection level-triggered (data.ptr NULL),
 * the streams with their record: edge-triggered when receiving, each event
 * served until the stream would block; level-triggered when sending.
 */
static int run(struct test *t)
{
	struct epoll_event evs[MAXSTREAMS + 1];
	uint32_t ev = t->reverse ? EPOLLOUT : EPOLLIN | EPOLLRDHUP | EPOLLET;
	int rc;

	t->t_start = now_s();
	getrusage(RUSAGE_SELF, &t->ru0);
	rc = test_set(t, ev);
	if (!rc)
		rc = net_epoll_ctl(net, t->ep, EPOLL_CTL_ADD, t->ctrl, EPOLLIN,
				   NULL);
	if (rc)
		return rc;
	while (!stop) {
		bool end = false;
		int n = net_epoll_wait(net, t->ep, evs, MAXSTREAMS + 1, 200);

		if (n < 0)
			return n;
		for (int k = 0; k < n; k++) {
			struct stream *s = evs[k].data.ptr;
			signed char st;

			if (s) {
				move(t, s);
				continue;
			}
			rc = read_exact(t->ctrl, &st, 1, 5);
			if (rc)
				return rc;
			if (st == TEST_END)
				end = true; /* after the rest of these events */
			else if (st == CLIENT_TERMINATE)
				return -ECONNABORTED;
		}
		if (end)
			return 0;
	}
	return -EINTR;
}

/* After TEST_END: what the client sent before it is still arriving. */
static void drain(struct test *t)
{
	struct epoll_event evs[MAXSTREAMS];
	double quiet_until = now_s() + 0.2;

	net_epoll_ctl(net, t->ep, EPOLL_CTL_DEL, t->ctrl, 0, NULL);
	while (now_s() < quiet_until) {
		int n = net_epoll_wait(net, t->ep, evs, MAXSTREAMS, 10);

		if (n < 0)
			break;
		for (int k = 0; k < n; k++) {
			struct stream *s = evs[k].data.ptr;
			uint64_t had = s->bytes;

			move(t, s);
			if (s->bytes > had)
				quiet_until = now_s() + 0.2;
		}
	}
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

void serve(int ls, int c)
{
	struct test t = { .ctrl = c, .ep = -1 };
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
		/* sending: what a MiB costs on the way out */
		if (net_stack(net) && t.reverse && total) {
			double mib = total / 1048576.0;
			uint64_t app = s1.tx_app_bytes - s0.tx_app_bytes;

			printf("; per MiB sent: %.1f writes, %.1f super-frames, %.1f submissions, %.1f rx frames; %.2f bytes copied per byte",
			       (double)(s1.tx_writes - s0.tx_writes) / mib,
			       (double)(s1.tx_gso - s0.tx_gso) / mib,
			       (double)(s1.submits - s0.submits) / mib,
			       (double)rxf / mib,
			       app ? (double)(s1.tx_copied - s0.tx_copied) /
					       (double)app :
				     0);
		}
		printf("\n");
	}
	fflush(stdout);
	close_test(&t);
}
