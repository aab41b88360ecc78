/* SPDX-License-Identifier: MIT */
/*
 * pinnet-fetch: an HTTP/1.1 GET client on the pinnet stack (or, with
 * --kernel, on kernel sockets): curl's counterpart the other way round.
 * Writes the body to stdout (or -o FILE) and a summary to stderr; a dead
 * peer is detected by keepalive and TCP_USER_TIMEOUT within --timeout.
 *
 * Exit status: 0 body complete; 1 connection or transfer failure (the
 * errno is named); 2 usage; 3 an HTTP status other than 200.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "net.h"
#include "util.h"

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Keepalive probes and a user timeout so a vanished peer ends the
 * transfer within about `secs` seconds, on either transport. */
static void set_timeouts(struct net *n, int s, int secs)
{
	struct pn_stack *st = net_stack(n);
	int one = 1, idle = secs / 3 > 0 ? secs / 3 : 1, cnt = 2;
	int intvl = idle, ut = secs * 1000;

	if (st) {
		pn_setsockopt(st, s, SOL_SOCKET, SO_KEEPALIVE, &one,
			      sizeof(one));
		pn_setsockopt(st, s, IPPROTO_TCP, TCP_KEEPIDLE, &idle,
			      sizeof(idle));
		pn_setsockopt(st, s, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
			      sizeof(intvl));
		pn_setsockopt(st, s, IPPROTO_TCP, TCP_KEEPCNT, &cnt,
			      sizeof(cnt));
		pn_setsockopt(st, s, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut,
			      sizeof(ut));
	} else {
		setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
			   sizeof(intvl));
		setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		setsockopt(s, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	}
}

int main(int argc, char **argv)
{
	struct app_opts ao;
	const char *url = NULL, *out = NULL;
	char host[64], path[2048], req[2304], head[16384];
	unsigned int port = 80;
	int timeout = 30, fd = STDOUT_FILENO, s, rc, status = 0;
	uint64_t want = UINT64_MAX, got = 0;
	size_t hlen = 0;
	struct in_addr ip;
	struct net *n;
	char *buf, *body;
	double t0;
	int nargs = 1;
	char *args[64];

	/* our own options first; the rest are the stack options */
	args[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) &&
		    i + 1 < argc) {
			out = argv[++i];
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = atoi(argv[++i]);
			if (timeout < 1 || timeout > 3600) {
				fprintf(stderr,
					"pinnet-fetch: --timeout wants 1..3600 (s)\n");
				return 2;
			}
		} else if (!strncmp(argv[i], "http://", 7)) {
			url = argv[i];
		} else if (nargs < 63) {
			args[nargs++] = argv[i];
		}
	}
	args[nargs] = NULL;
	rc = app_parse(
		&ao, nargs, args, "pinnet-fetch",
		"usage: pinnet-fetch [stack options] [-o FILE] [--timeout S] http://A.B.C.D[:PORT]/PATH\n"
		"An HTTP/1.1 GET on the pinnet stack (or, with --kernel, kernel\n"
		"sockets). The body goes to stdout or -o FILE; --timeout (default 30 s)\n"
		"bounds how long a vanished peer can stall it (keepalive + user timeout).\n"
		"Exit: 0 complete, 1 failure, 2 usage, 3 HTTP status not 200.",
		80);
	if (rc >= 0)
		return rc;
	if (!url) {
		fprintf(stderr,
			"pinnet-fetch: no http://A.B.C.D/PATH URL given (see --help)\n");
		return 2;
	}
	path[0] = '/';
	path[1] = 0;
	if (sscanf(url, "http://%63[0-9.]:%u%2047s", host, &port, path) < 2 &&
	    sscanf(url, "http://%63[0-9.]%2047s", host, path) < 1) {
		fprintf(stderr,
			"pinnet-fetch: %s: want http://A.B.C.D[:PORT]/PATH\n",
			url);
		return 2;
	}
	if (inet_pton(AF_INET, host, &ip) != 1 || !port || port > 65535) {
		fprintf(stderr, "pinnet-fetch: %s: bad address or port\n", url);
		return 2;
	}
	if (out) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "pinnet-fetch: %s: %s\n", out,
				strerror(errno));
			return 1;
		}
	}
	buf = malloc(1 << 16);
	n = buf ? net_open(&ao) : NULL;
	if (!n)
		return 1;
	t0 = now_s();
	s = net_connect(n, ip.s_addr, port);
	if (s < 0) {
		fprintf(stderr, "pinnet-fetch: connect %s:%u: %s\n", host, port,
			strerror(-s));
		rc = 1;
		goto out;
	}
	set_timeouts(n, s, timeout);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pinnet-fetch\r\n"
		 "Connection: close\r\n\r\n",
		 path, host);
	for (size_t off = 0, len = strlen(req); off < len;) {
		ssize_t w = net_send(n, s, req + off, len - off);

		if (w < 0) {
			fprintf(stderr, "pinnet-fetch: send: %s\n",
				strerror((int)-w));
			rc = 1;
			goto out_close;
		}
		off += (size_t)w;
	}
	/* the head */
	for (;;) {
		ssize_t r =
			net_recv(n, s, head + hlen, sizeof(head) - 1 - hlen);

		if (r <= 0) {
			fprintf(stderr, "pinnet-fetch: response head: %s\n",
				r ? strerror((int)-r) : "connection closed");
			rc = 1;
			goto out_close;
		}
		hlen += (size_t)r;
		head[hlen] = 0;
		if ((body = strstr(head, "\r\n\r\n")))
			break;
		if (hlen == sizeof(head) - 1) {
			fprintf(stderr,
				"pinnet-fetch: response head over 16 KiB\n");
			rc = 1;
			goto out_close;
		}
	}
	body += 4;
	sscanf(head, "HTTP/%*s %d", &status);
	for (char *h = strstr(head, "\r\n"); h && h < body;
	     h = strstr(h + 2, "\r\n"))
		if (!strncasecmp(h + 2, "Content-Length:", 15))
			want = strtoull(h + 17, NULL, 10);
	got = hlen - (size_t)(body - head);
	if (write_all(fd, body, (size_t)got)) {
		rc = 1;
		goto out_close;
	}
	while (got < want) {
		ssize_t r = net_recv(n, s, buf, 1 << 16);

		if (r == 0)
			break;
		if (r < 0) {
			fprintf(stderr,
				"pinnet-fetch: after %" PRIu64 " bytes: %s\n",
				got, strerror((int)-r));
			rc = 1;
			goto out_close;
		}
		if (write_all(fd, buf, (size_t)r)) {
			fprintf(stderr, "pinnet-fetch: write: %s\n",
				strerror(errno));
			rc = 1;
			goto out_close;
		}
		got += (uint64_t)r;
	}
	if (want != UINT64_MAX && got != want) {
		fprintf(stderr,
			"pinnet-fetch: body ended at %" PRIu64 " of %" PRIu64
			" bytes\n",
			got, want);
		rc = 1;
		goto out_close;
	}
	fprintf(stderr,
		"pinnet-fetch: HTTP %d, %" PRIu64
		" bytes in %.2f s (%.1f MB/s)\n",
		status, got, now_s() - t0, got / (now_s() - t0) / 1e6);
	rc = status == 200 ? 0 : 3;
out_close:
	net_close(n, s);
out:
	net_report(n);
	net_destroy(n);
	free(buf);
	if (out)
		close(fd);
	return rc;
}
