/* SPDX-License-Identifier: MIT */
/*
 * pinnet-perf --client ADDR: one test against a real iperf3 -s, forward
 * or reverse, -P streams, by time or by bytes; prints what was sent and
 * received (--json: one object).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "net.h"
#include "perf.h"
#include "util.h"

static signed char read_state(int c, double timeout)
{
	signed char st;

	return read_exact(c, &st, 1, timeout) ? (signed char)-128 : st;
}

int client_run(const char *host, unsigned int port, double secs, uint64_t bytes,
	       int parallel, bool reverse, bool json)
{
	struct test t = { .ctrl = -1,
			  .ep = -1,
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
	/* level-triggered, an operation per report, as the streams are
	 * blocking sockets on the stack (net_connect's) */
	if (!rc)
		rc = test_set(&t, reverse ? EPOLLIN : EPOLLOUT);
	if (!rc) {
		struct epoll_event evs[MAXSTREAMS];
		uint64_t total = 0;

		t.t_start = now_s();
		getrusage(RUSAGE_SELF, &t.ru0);
		while (!stop &&
		       (bytes ? total < bytes : now_s() - t.t_start < secs)) {
			int n = net_epoll_wait(net, t.ep, evs, MAXSTREAMS, 100);

			if (n < 0)
				break;
			for (int k = 0; k < n; k++) {
				struct stream *s = evs[k].data.ptr;
				size_t want = t.blksize;
				ssize_t r;

				if (reverse) {
					r = net_recv(net, s->sock, blk, MAXBLK);
				} else {
					if (bytes && bytes - total < want)
						want = (size_t)(bytes - total);
					r = net_send(net, s->sock, blk, want);
				}
				if (r > 0) {
					s->bytes += (uint64_t)r;
					total += (uint64_t)r;
				} else if (r != -EAGAIN && (reverse || want)) {
					/* ended or failed: not reported on */
					net_epoll_ctl(net, t.ep, EPOLL_CTL_DEL,
						      s->sock, 0, NULL);
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
					if (wait_sock(t.s[i].sock, EPOLLIN,
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
