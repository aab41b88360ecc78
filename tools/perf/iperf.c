/* SPDX-License-Identifier: MIT */
/*
 * iperf3's control connection, as the server and the client both speak it:
 * blocking-style I/O on non-blocking sockets with a deadline, the state
 * bytes, the JSON messages (4-byte length + JSON), and our side's results
 * as iperf3 exchanges them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "perf.h"
#include "util.h"

/* ---- blocking-style I/O on non-blocking sockets, with a deadline ------- */

/* The set wait_sock() waits on: one socket at a time, registered for the
 * wait and removed after it. */
static int wait_ep = -1;

int wait_sock(int s, uint32_t ev, double deadline)
{
	struct epoll_event e;
	int rc;

	if (wait_ep < 0) {
		rc = net_epoll_create(net);
		if (rc < 0)
			return rc;
		wait_ep = rc;
	}
	rc = net_epoll_ctl(net, wait_ep, EPOLL_CTL_ADD, s, ev, NULL);
	if (rc)
		return rc;
	rc = -EINTR;
	while (!stop) {
		double left = deadline - now_s();
		int n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		n = net_epoll_wait(net, wait_ep, &e, 1,
				   left > 0.2 ? 200 : (int)(left * 1000) + 1);
		if (n) {
			rc = n < 0 ? n : 0;
			break;
		}
	}
	net_epoll_ctl(net, wait_ep, EPOLL_CTL_DEL, s, 0, NULL);
	return rc;
}

void wait_close(void)
{
	if (wait_ep >= 0)
		net_epoll_close(net, wait_ep);
	wait_ep = -1;
}

int read_exact(int s, void *buf, size_t len, double timeout)
{
	double deadline = now_s() + timeout;
	size_t got = 0;

	while (got < len) {
		ssize_t r = net_recv(net, s, (char *)buf + got, len - got);

		if (r == -EAGAIN) {
			int rc = wait_sock(s, EPOLLIN, deadline);

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

int write_all(int s, const void *buf, size_t len, double timeout)
{
	double deadline = now_s() + timeout;
	size_t off = 0;

	while (off < len) {
		ssize_t w =
			net_send(net, s, (const char *)buf + off, len - off);

		if (w == -EAGAIN) {
			int rc = wait_sock(s, EPOLLOUT, deadline);

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

int send_state(int s, signed char state)
{
	return write_all(s, &state, 1, 10);
}

struct json_object *read_json(int s)
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
int write_json(int s, struct json_object *j)
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

int test_set(struct test *t, uint32_t ev)
{
	int rc = net_epoll_create(net);

	if (rc < 0)
		return rc;
	t->ep = rc;
	rc = 0;
	for (int i = 0; !rc && i < t->ns; i++)
		rc = net_epoll_ctl(net, t->ep, EPOLL_CTL_ADD, t->s[i].sock, ev,
				   &t->s[i]);
	return rc;
}

void close_test(struct test *t)
{
	for (int i = 0; i < t->ns; i++)
		if (t->s[i].sock >= 0)
			net_close(net, t->s[i].sock);
	t->ns = 0;
	if (t->ctrl >= 0)
		net_close(net, t->ctrl);
	t->ctrl = -1;
	if (t->ep >= 0)
		net_epoll_close(net, t->ep);
	t->ep = -1;
}

static double cpu_pct(const struct timeval *a, const struct timeval *b,
		      double secs)
{
	double d = (double)(b->tv_sec - a->tv_sec) +
		   (double)(b->tv_usec - a->tv_usec) * 1e-6;

	return secs > 0 ? 100.0 * d / secs : 0;
}

/* Our side's results, as iperf3 sends them in EXCHANGE_RESULTS. */
struct json_object *results_json(const struct test *t, bool sender)
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
