/* SPDX-License-Identifier: MIT */
/*
 * conform: the calls libpinnet-preload interposes, exercised one by one
 * against a scripted peer, with a transcript of what each returned (values,
 * errno names, poll and epoll events, bytes) in which nothing depends on
 * where it ran: addresses are LOCAL and PEER, ports PORT, LPORT or eph,
 * descriptors "fd". test_preload_conform.sh runs it on kernel sockets and
 * under pinnet-run and requires the same transcript.
 *
 * Built with _FORTIFY_SOURCE, so that it calls glibc's __read_chk,
 * __recv_chk, __recvfrom_chk and __poll_chk as Debian's binaries do.
 *
 * Usage: conform peer PORT               (the peer, on kernel sockets)
 *        conform run LOCAL PEER PORT     (the transcript, on stdout)
 *        conform thread LOCAL PEER PORT  (a pinnet socket used from a
 *                                          second thread: EPERM)
 *
 * The peer serves one command per connection (its first line): ECHO (echo
 * until EOF), SINK (read until EOF, answer "GOT bytes sum"), SEND n (n
 * pattern bytes, then close), RST (close with a reset), HOLD (wait for EOF),
 * CONNECT p (connect back to the caller's address, port p, say "hello from
 * peer", then echo there; "OK" on the command connection first).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static struct in_addr local_a, peer_a;
static int port, lport;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "conform: %s: %s\n", what, strerror(errno));
	exit(1);
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* A call's result: its value, or -1 and errno's name. */
#define SHOW(label, expr)                                      \
	do {                                                   \
		long r_;                                       \
		errno = 0;                                     \
		r_ = (long)(expr);                             \
		if (r_ < 0)                                    \
			out("%s: -1 %s", label, ename(errno)); \
		else                                           \
			out("%s: %ld", label, r_);             \
	} while (0)

/* A call that makes a descriptor: "fd" rather than its number. */
static int showfd(const char *label, int fd)
{
	if (fd < 0)
		out("%s: -1 %s", label, ename(errno));
	else
		out("%s: fd", label);
	return fd;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131 + 7 + (i >> 12));
}

static const char *addr_name(const struct sockaddr_in *sa, socklen_t len)
{
	static char buf[64];
	const char *a = "OTHER";
	char p[16];
	unsigned int pt = ntohs(sa->sin_port);

	if (len != sizeof(*sa) || sa->sin_family != AF_INET) {
		snprintf(buf, sizeof(buf), "family %d len %u", sa->sin_family,
			 (unsigned int)len);
		return buf;
	}
	if (sa->sin_addr.s_addr == local_a.s_addr)
		a = "LOCAL";
	else if (sa->sin_addr.s_addr == peer_a.s_addr)
		a = "PEER";
	else if (sa->sin_addr.s_addr == htonl(INADDR_ANY))
		a = "ANY";
	else if (sa->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
		a = "LOOPBACK";
	if (pt == (unsigned int)port)
		snprintf(p, sizeof(p), "PORT");
	else if (pt == (unsigned int)lport)
		snprintf(p, sizeof(p), "LPORT");
	else
		snprintf(p, sizeof(p), pt ? "eph" : "0");
	snprintf(buf, sizeof(buf), "%s:%s", a, p);
	return buf;
}

static void show_name(const char *label, int fd, bool peer)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &len) :
			getsockname(fd, (struct sockaddr *)&sa, &len);

	if (rc)
		out("%s: -1 %s", label, ename(errno));
	else
		out("%s: %s", label, addr_name(&sa, len));
}

/* A TCP socket for the peer or the local address: one that moves to the
 * stack under pinnet-run (counted, for the test to compare). */
static int net_sockets;
static int net_socket(int type)
{
	net_sockets++;
	return socket(AF_INET, type, 0);
}

static struct sockaddr_in sin_of(struct in_addr a, int p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)p),
				  .sin_addr = a };

	return sa;
}

static const char *pollnames(int ev)
{
	static char bufs[4][128];
	static unsigned int turn;
	char *buf = bufs[turn++ % 4];
	static const struct {
		int bit;
		const char *name;
	} names[] = {
		{ POLLIN, "IN" },	  { POLLPRI, "PRI" },
		{ POLLOUT, "OUT" },	  { POLLERR, "ERR" },
		{ POLLHUP, "HUP" },	  { POLLNVAL, "NVAL" },
		{ POLLRDNORM, "RDNORM" }, { POLLWRNORM, "WRNORM" },
		{ POLLRDHUP, "RDHUP" },
	};

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ev & names[i].bit) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, names[i].name);
		}
	return buf[0] ? buf : "0";
}

/* Poll one descriptor for up to ms: its revents. */
static int poll1(int fd, short events, int ms)
{
	struct pollfd p = { fd, events, 0 };
	int rc = poll(&p, 1, ms);

	return rc < 0 ? -1 : p.revents;
}

static void show_poll(const char *label, int fd, short events, int ms)
{
	int r = poll1(fd, events, ms);

	if (r < 0)
		out("%s: -1 %s", label, ename(errno));
	else
		out("%s: %s", label, pollnames(r));
}

/* Wait (up to 3 s) until fd has n bytes to read. */
static int wait_bytes(int fd, int n)
{
	int64_t end = now_ms() + 3000;
	int have = 0;

	while (now_ms() < end) {
		if (ioctl(fd, FIONREAD, &have) == 0 && have >= n)
			return have;
		poll1(fd, POLLIN, 10);
	}
	return have;
}

/* Read exactly n bytes (or to EOF, an error, 3 s): how many. */
static ssize_t read_exact(int fd, void *buf, size_t n)
{
	int64_t end = now_ms() + 3000;
	size_t got = 0;

	while (got < n && now_ms() < end) {
		ssize_t r;

		if (poll1(fd, POLLIN, 100) <= 0)
			continue;
		r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void show_read(const char *label, int fd, size_t n)
{
	char buf[256];
	ssize_t r = read_exact(fd, buf, n < sizeof(buf) ? n : sizeof(buf));

	out("%s: %zd '%.*s'", label, r, (int)(r > 0 ? r : 0), buf);
}

static int connect_peer(const char *cmd)
{
	struct sockaddr_in sa = sin_of(peer_a, port);
	int s = net_socket(SOCK_STREAM);

	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect to the peer");
	if (write(s, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		die("command to the peer");
	return s;
}

static void show_int_opt(const char *label, int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len))
		out("%s: -1 %s", label, ename(errno));
	else
		out("%s: %d (len %u)", label, v, (unsigned int)len);
}

static int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

/* ---- the peer ----------------------------------------------------------- */

static void *peer_conn(void *arg)
{
	int fd = (int)(intptr_t)arg, n = 0, p;
	char line[64], buf[65536];
	size_t len = 0;

	while (len < sizeof(line) - 1 && read(fd, line + len, 1) == 1 &&
	       line[len] != '\n')
		len++;
	line[len] = 0;
	if (!strcmp(line, "ECHO")) {
		ssize_t r;

		while ((r = read(fd, buf, sizeof(buf))) > 0)
			if (write(fd, buf, (size_t)r) != r)
				break;
	} else if (!strcmp(line, "SINK")) {
		uint64_t total = 0, sum = 0;
		ssize_t r;

		while ((r = read(fd, buf, sizeof(buf))) > 0)
			for (ssize_t i = 0; i < r; i++, total++)
				sum = sum * 31 + (uint8_t)buf[i];
		n = snprintf(buf, sizeof(buf), "GOT %llu %llu\n",
			     (unsigned long long)total,
			     (unsigned long long)sum);
		if (write(fd, buf, (size_t)n) != n)
			perror("peer: SINK answer");
	} else if (sscanf(line, "SEND %d", &n) == 1) {
		for (int i = 0; i < n; i++)
			buf[i % sizeof(buf)] = (char)pattern((size_t)i);
		if (write(fd, buf, (size_t)n) != n)
			perror("peer: SEND");
	} else if (sscanf(line, "LATER %d %d", &n, &p) == 2) {
		/* n bytes after p ms */
		usleep((useconds_t)p * 1000);
		for (int i = 0; i < n; i++)
			buf[i] = (char)pattern((size_t)i);
		if (write(fd, buf, (size_t)n) != n)
			perror("peer: LATER");
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	} else if (!strcmp(line, "RST")) {
		struct linger lg = { 1, 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else if (!strcmp(line, "HOLD")) {
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	} else if (sscanf(line, "CONNECT %d", &p) == 1) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int c = socket(AF_INET, SOCK_STREAM, 0);
		ssize_t r;

		getpeername(fd, (struct sockaddr *)&sa, &sl);
		sa.sin_port = htons((uint16_t)p);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa))) {
			perror("peer: CONNECT");
		} else {
			if (write(fd, "OK\n", 3) != 3 ||
			    write(c, "hello from peer\n", 16) != 16)
				perror("peer: CONNECT hello");
			while ((r = read(c, buf, sizeof(buf))) > 0)
				if (write(c, buf, (size_t)r) != r)
					break;
		}
		if (c >= 0)
			close(c);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
	close(fd);
	return NULL;
}

static __attribute__((noreturn)) void peer(int p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)p) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 64))
		die("peer: listen");
	printf("peer: listening on %d\n", p);
	fflush(stdout);
	for (;;) {
		pthread_t t;
		int c = accept(l, NULL, NULL);

		if (c < 0)
			continue;
		if (pthread_create(&t, NULL, peer_conn, (void *)(intptr_t)c))
			close(c);
		else
			pthread_detach(t);
	}
}

/* ---- the scenarios ------------------------------------------------------ */

/* glibc's checked forms: a buffer of known size, a length that is not
 * (so _FORTIFY_SOURCE calls __read_chk, __recv_chk, __recvfrom_chk and
 * __poll_chk). */
static void fortified(int s)
{
	struct pollfd f[2] = { { s, POLLIN, 0 } };
	volatile size_t n = 5;
	volatile nfds_t nf = 1;
	struct sockaddr_in sa;
	socklen_t al = sizeof(sa);
	char b[16];

	SHOW("send", send(s, "chk1234567", 10, 0));
	wait_bytes(s, 10);
	SHOW("poll (__poll_chk)", poll(f, nf, 3000));
	out("revents: %s", pollnames(f[0].revents));
	memset(b, 0, sizeof(b));
	SHOW("read (__read_chk)", read(s, b, n));
	out("read: '%s'", b);
	memset(b, 0, sizeof(b));
	SHOW("recv (__recv_chk)", recv(s, b, n - 2, 0));
	out("received: '%s'", b);
	memset(b, 0, sizeof(b));
	SHOW("recvfrom (__recvfrom_chk)",
	     recvfrom(s, b, n, 0, (struct sockaddr *)&sa, &al));
	out("received: '%s' addrlen %u", b, (unsigned int)al);
}

static void basics(void)
{
	char b[64];
	struct sockaddr_in sa = sin_of(peer_a, port), from;
	socklen_t alen;
	int s, v;

	out("== basics");
	s = showfd("socket", net_socket(SOCK_STREAM));
	out("F_GETFL O_NONBLOCK: %d", !!(fcntl(s, F_GETFL) & O_NONBLOCK));
	out("F_GETFD FD_CLOEXEC: %d", !!(fcntl(s, F_GETFD) & FD_CLOEXEC));
	show_name("getpeername unconnected", s, true);
	SHOW("connect", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	show_name("getpeername", s, true);
	show_name("getsockname", s, false);
	SHOW("write command", write(s, "ECHO\n", 5));
	SHOW("write", write(s, "hello", 5));
	show_read("read", s, 5);

	SHOW("send", send(s, "abcdef", 6, 0));
	wait_bytes(s, 6);
	v = -1;
	SHOW("ioctl FIONREAD", ioctl(s, FIONREAD, &v));
	out("FIONREAD: %d", v);
	memset(b, 0, sizeof(b));
	SHOW("recv MSG_PEEK 3", recv(s, b, 3, MSG_PEEK));
	out("peeked: '%s'", b);
	memset(b, 0, sizeof(b));
	SHOW("recv", recv(s, b, sizeof(b), 0));
	out("received: '%s'", b);
	ioctl(s, FIONREAD, &v);
	out("FIONREAD after: %d", v);
	SHOW("recv MSG_DONTWAIT, nothing there",
	     recv(s, b, sizeof(b), MSG_DONTWAIT));

	{
		struct iovec w[3] = { { "12", 2 },
				      { "345", 3 },
				      { "6789", 4 } };
		char r1[4], r2[16];
		struct iovec r[2] = { { r1, sizeof(r1) }, { r2, sizeof(r2) } };
		ssize_t n;

		SHOW("writev 3 pieces", writev(s, w, 3));
		wait_bytes(s, 9);
		memset(r2, 0, sizeof(r2));
		n = readv(s, r, 2);
		out("readv 4+16: %zd '%.4s' '%s'", n, r1, r2);
	}
	{
		struct iovec w[2] = { { "msg1-", 5 }, { "msg2", 4 } };
		struct msghdr m = { .msg_iov = w, .msg_iovlen = 2 };
		char r1[3], r2[3], r3[3], name[32], ctl[64];
		struct iovec r[3] = { { r1, 3 }, { r2, 3 }, { r3, 3 } };
		struct msghdr rm = { .msg_name = name,
				     .msg_namelen = sizeof(name),
				     .msg_iov = r,
				     .msg_iovlen = 3,
				     .msg_control = ctl,
				     .msg_controllen = sizeof(ctl) };
		ssize_t n;

		SHOW("sendmsg 2 pieces MSG_NOSIGNAL",
		     sendmsg(s, &m, MSG_NOSIGNAL));
		wait_bytes(s, 9);
		n = recvmsg(s, &rm, 0);
		out("recvmsg 3x3: %zd '%.3s%.3s%.3s' namelen %u controllen %zu flags %d",
		    n, r1, r2, r3, (unsigned int)rm.msg_namelen,
		    (size_t)rm.msg_controllen, rm.msg_flags);
	}
	{
		char r1[3], r2[10];
		struct iovec r[2] = { { r1, 3 }, { r2, 10 } };
		struct msghdr rm = { .msg_iov = r, .msg_iovlen = 2 };
		ssize_t n;

		SHOW("send", send(s, "peekvec", 7, 0));
		wait_bytes(s, 7);
		memset(r2, 0, sizeof(r2));
		n = recvmsg(s, &rm, MSG_PEEK);
		out("recvmsg MSG_PEEK 3+10: %zd '%.3s' '%s'", n, r1, r2);
		memset(b, 0, sizeof(b));
		SHOW("recv after the peek", recv(s, b, sizeof(b), 0));
		out("received: '%s'", b);
	}
	{
		struct iovec w[2] = { { "dont", 4 }, { "wait", 4 } };
		struct msghdr m = { .msg_iov = w, .msg_iovlen = 2 };
		char r1[2], r2[10];
		struct iovec r[2] = { { r1, 2 }, { r2, 10 } };
		struct msghdr rm = { .msg_iov = r, .msg_iovlen = 2 };
		ssize_t n;

		SHOW("sendmsg MSG_DONTWAIT|MSG_MORE",
		     sendmsg(s, &m, MSG_DONTWAIT | MSG_MORE));
		SHOW("send to end the MSG_MORE", send(s, "!", 1, 0));
		wait_bytes(s, 9);
		memset(r2, 0, sizeof(r2));
		n = recvmsg(s, &rm, MSG_DONTWAIT);
		out("recvmsg MSG_DONTWAIT 2+10: %zd '%.2s' '%s'", n, r1, r2);
	}
	SHOW("sendto no address", sendto(s, "to", 2, 0, NULL, 0));
	wait_bytes(s, 2);
	alen = sizeof(from);
	memset(b, 0, sizeof(b));
	SHOW("recvfrom",
	     recvfrom(s, b, sizeof(b), 0, (struct sockaddr *)&from, &alen));
	out("recvfrom: '%s' addrlen %u", b, (unsigned int)alen);
	SHOW("send MSG_MORE", send(s, "more1", 5, MSG_MORE));
	SHOW("send", send(s, "more2", 5, 0));
	show_read("read", s, 10);
	SHOW("send", send(s, "waitall!", 8, 0));
	memset(b, 0, sizeof(b));
	SHOW("recv MSG_WAITALL 8", recv(s, b, 8, MSG_WAITALL));
	out("received: '%s'", b);
	fortified(s);

	out("-- blocking modes");
	v = 1;
	SHOW("ioctl FIONBIO 1", ioctl(s, FIONBIO, &v));
	out("F_GETFL O_NONBLOCK: %d", !!(fcntl(s, F_GETFL) & O_NONBLOCK));
	SHOW("read, non-blocking", read(s, b, sizeof(b)));
	v = 0;
	SHOW("ioctl FIONBIO 0", ioctl(s, FIONBIO, &v));
	out("F_GETFL O_NONBLOCK: %d", !!(fcntl(s, F_GETFL) & O_NONBLOCK));
	SHOW("fcntl F_SETFL O_NONBLOCK",
	     fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK));
	out("F_GETFL O_NONBLOCK: %d", !!(fcntl(s, F_GETFL) & O_NONBLOCK));
	SHOW("recv, non-blocking", recv(s, b, sizeof(b), 0));
	SHOW("fcntl F_SETFL 0", fcntl(s, F_SETFL, 0));
	out("F_GETFL O_NONBLOCK: %d", !!(fcntl(s, F_GETFL) & O_NONBLOCK));
	SHOW("fcntl F_SETFD FD_CLOEXEC", fcntl(s, F_SETFD, FD_CLOEXEC));
	out("F_GETFD FD_CLOEXEC: %d", !!(fcntl(s, F_GETFD) & FD_CLOEXEC));

	out("-- options");
	SHOW("setsockopt TCP_NODELAY 1",
	     set_int(s, IPPROTO_TCP, TCP_NODELAY, 1));
	show_int_opt("TCP_NODELAY", s, IPPROTO_TCP, TCP_NODELAY);
	SHOW("setsockopt SO_KEEPALIVE 1",
	     set_int(s, SOL_SOCKET, SO_KEEPALIVE, 1));
	show_int_opt("SO_KEEPALIVE", s, SOL_SOCKET, SO_KEEPALIVE);
	SHOW("setsockopt TCP_KEEPIDLE 30",
	     set_int(s, IPPROTO_TCP, TCP_KEEPIDLE, 30));
	show_int_opt("TCP_KEEPIDLE", s, IPPROTO_TCP, TCP_KEEPIDLE);
	SHOW("setsockopt TCP_KEEPINTVL 5",
	     set_int(s, IPPROTO_TCP, TCP_KEEPINTVL, 5));
	show_int_opt("TCP_KEEPINTVL", s, IPPROTO_TCP, TCP_KEEPINTVL);
	SHOW("setsockopt TCP_KEEPCNT 3",
	     set_int(s, IPPROTO_TCP, TCP_KEEPCNT, 3));
	show_int_opt("TCP_KEEPCNT", s, IPPROTO_TCP, TCP_KEEPCNT);
	SHOW("setsockopt TCP_USER_TIMEOUT 20000",
	     set_int(s, IPPROTO_TCP, TCP_USER_TIMEOUT, 20000));
	show_int_opt("TCP_USER_TIMEOUT", s, IPPROTO_TCP, TCP_USER_TIMEOUT);
	SHOW("setsockopt TCP_KEEPIDLE 0",
	     set_int(s, IPPROTO_TCP, TCP_KEEPIDLE, 0));
	{
		/* the library keeps TCP_CORK itself: the kernel's checks */
		short sh = 1;
		char c[2];
		socklen_t cl = 2;

		SHOW("setsockopt TCP_CORK short",
		     setsockopt(s, IPPROTO_TCP, TCP_CORK, &sh, sizeof(sh)));
		SHOW("setsockopt TCP_CORK NULL",
		     setsockopt(s, IPPROTO_TCP, TCP_CORK, NULL, sizeof(int)));
		SHOW("setsockopt TCP_CORK 7",
		     set_int(s, IPPROTO_TCP, TCP_CORK, 7));
		show_int_opt("TCP_CORK", s, IPPROTO_TCP, TCP_CORK);
		SHOW("getsockopt TCP_CORK 2 bytes",
		     getsockopt(s, IPPROTO_TCP, TCP_CORK, c, &cl));
		SHOW("its length", (int)cl);
	}
	SHOW("setsockopt TCP_CORK 0 before",
	     set_int(s, IPPROTO_TCP, TCP_CORK, 0));
	show_int_opt("TCP_CORK", s, IPPROTO_TCP, TCP_CORK);
	SHOW("setsockopt TCP_CORK 1", set_int(s, IPPROTO_TCP, TCP_CORK, 1));
	show_int_opt("TCP_CORK", s, IPPROTO_TCP, TCP_CORK);
	SHOW("send corked", send(s, "cork1", 5, 0));
	{
		struct iovec w[2] = { { "cork2", 5 }, { "cork3", 5 } };

		SHOW("writev corked", writev(s, w, 2));
	}
	SHOW("setsockopt TCP_CORK 0", set_int(s, IPPROTO_TCP, TCP_CORK, 0));
	show_read("read after the uncork", s, 15);
	SHOW("setsockopt TCP_NODELAY 0",
	     set_int(s, IPPROTO_TCP, TCP_NODELAY, 0));
	SHOW("send", send(s, "nagle1", 6, 0));
	SHOW("send", send(s, "nagle2", 6, 0));
	SHOW("setsockopt TCP_NODELAY 1",
	     set_int(s, IPPROTO_TCP, TCP_NODELAY, 1));
	show_read("read", s, 12);
	{
		struct linger lg = { 1, 5 }, g = { -1, -1 };
		socklen_t len = sizeof(g);

		SHOW("setsockopt SO_LINGER 1 5",
		     setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
		SHOW("getsockopt SO_LINGER",
		     getsockopt(s, SOL_SOCKET, SO_LINGER, &g, &len));
		out("SO_LINGER: %d %d (len %u)", g.l_onoff, g.l_linger,
		    (unsigned int)len);
		lg.l_onoff = 0;
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	show_int_opt("SO_REUSEADDR", s, SOL_SOCKET, SO_REUSEADDR);
	show_int_opt("SO_TYPE", s, SOL_SOCKET, SO_TYPE);
	show_int_opt("SO_DOMAIN", s, SOL_SOCKET, SO_DOMAIN);
	show_int_opt("SO_PROTOCOL", s, SOL_SOCKET, SO_PROTOCOL);
	show_int_opt("SO_ERROR", s, SOL_SOCKET, SO_ERROR);
	show_int_opt("SO_ACCEPTCONN", s, SOL_SOCKET, SO_ACCEPTCONN);
	SHOW("setsockopt IP_TOS 0x10", set_int(s, IPPROTO_IP, IP_TOS, 0x10));
	show_int_opt("IP_TOS", s, IPPROTO_IP, IP_TOS);
	SHOW("setsockopt SO_SNDBUF 65536",
	     set_int(s, SOL_SOCKET, SO_SNDBUF, 65536));
	SHOW("getsockopt SOL_SOCKET 9999",
	     getsockopt(s, SOL_SOCKET, 9999, &v, &(socklen_t){ sizeof(v) }));
	SHOW("setsockopt IPPROTO_TCP 9999", set_int(s, IPPROTO_TCP, 9999, 1));
	SHOW("setsockopt TCP_NODELAY len 0",
	     setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, 0));
	{
		struct timeval tv = { 0, 200000 }, g;
		socklen_t len = sizeof(g);
		int64_t t0;

		SHOW("setsockopt SO_RCVTIMEO 0.2 s",
		     setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
		getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &g, &len);
		out("SO_RCVTIMEO: %ld.%06ld", (long)g.tv_sec, (long)g.tv_usec);
		t0 = now_ms();
		SHOW("read, blocking, SO_RCVTIMEO", read(s, b, sizeof(b)));
		out("it waited the timeout: %d", now_ms() - t0 >= 150);
		tv.tv_usec = 0;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}

	out("-- shutdown");
	SHOW("shutdown SHUT_WR", shutdown(s, SHUT_WR));
	SHOW("write after SHUT_WR MSG_NOSIGNAL", send(s, "x", 1, MSG_NOSIGNAL));
	show_poll("poll after the peer's FIN", s, POLLIN | POLLRDHUP, 3000);
	SHOW("read at the end", read(s, b, sizeof(b)));
	show_poll("poll IN|OUT|RDHUP", s, POLLIN | POLLOUT | POLLRDHUP, 0);
	SHOW("close", close(s));
}

static void nonblocking_connect(void)
{
	struct sockaddr_in sa = sin_of(peer_a, port),
			   no = sin_of(peer_a, port + 1);
	int s;

	out("== non-blocking connect");
	s = showfd("socket SOCK_NONBLOCK",
		   net_socket(SOCK_STREAM | SOCK_NONBLOCK));
	out("F_GETFL O_NONBLOCK: %d", !!(fcntl(s, F_GETFL) & O_NONBLOCK));
	SHOW("connect", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	show_poll("poll OUT", s, POLLOUT, 3000);
	show_int_opt("SO_ERROR", s, SOL_SOCKET, SO_ERROR);
	SHOW("connect again", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	SHOW("write command", write(s, "HOLD\n", 5));
	SHOW("close", close(s));

	s = showfd("socket SOCK_NONBLOCK",
		   net_socket(SOCK_STREAM | SOCK_NONBLOCK));
	SHOW("connect to a closed port",
	     connect(s, (struct sockaddr *)&no, sizeof(no)));
	show_poll("poll OUT", s, POLLOUT, 3000);
	{
		int e = -1;
		socklen_t len = sizeof(e);

		getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len);
		out("SO_ERROR: %s", e ? ename(e) : "0");
	}
	show_int_opt("SO_ERROR again", s, SOL_SOCKET, SO_ERROR);
	SHOW("close", close(s));

	s = showfd("socket SOCK_NONBLOCK",
		   net_socket(SOCK_STREAM | SOCK_NONBLOCK));
	{
		struct epoll_event ev = { .events = EPOLLOUT }, got = { 0 };
		int ep = epoll_create1(0);

		SHOW("connect", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
		SHOW("epoll_ctl ADD EPOLLOUT",
		     epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
		SHOW("epoll_wait", epoll_wait(ep, &got, 1, 3000));
		out("events: %s", pollnames((int)got.events));
		SHOW("write command", write(s, "HOLD\n", 5));
		close(ep);
		SHOW("close", close(s));
	}

	s = showfd("socket SOCK_NONBLOCK",
		   net_socket(SOCK_STREAM | SOCK_NONBLOCK));
	{
		struct epoll_event ev = { .events = EPOLLOUT | EPOLLRDHUP },
				   got = { 0 };
		int ep = epoll_create1(0);

		SHOW("epoll_ctl ADD EPOLLOUT before the connect",
		     epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
		SHOW("connect", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
		SHOW("epoll_wait", epoll_wait(ep, &got, 1, 3000));
		out("events: %s", pollnames((int)got.events));
		SHOW("write command", write(s, "ECHO\n", 5));
		SHOW("write", write(s, "early", 5));
		ev.events = EPOLLIN;
		SHOW("epoll_ctl MOD EPOLLIN",
		     epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
		SHOW("epoll_wait", epoll_wait(ep, &got, 1, 3000));
		out("events: %s", pollnames((int)got.events));
		show_read("read", s, 5);
		SHOW("epoll_ctl DEL", epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
		close(ep);
		SHOW("close", close(s));
	}

	s = showfd("socket", net_socket(SOCK_STREAM));
	SHOW("connect blocking to a closed port",
	     connect(s, (struct sockaddr *)&no, sizeof(no)));
	SHOW("close", close(s));
}

/* epoll: the tags of the registrations, their events */
enum { T_PIPE = 1, T_EFD, T_TIMER, T_CONN, T_LISTENER, T_MAX };
static const char *const tag_names[] = { "",	  "pipe", "efd",
					 "timer", "conn", "listener" };

/* Events for up to ms, until every tag in want (a bit per tag) was seen;
 * printed per tag. */
static void collect(const char *label, int ep, unsigned int want, int ms)
{
	uint32_t seen[T_MAX] = { 0 };
	int64_t end = now_ms() + ms;
	unsigned int have = 0;
	char line[256] = "";

	do {
		struct epoll_event evs[8];
		int left = (int)(end - now_ms()), n;

		n = epoll_wait(ep, evs, 8, left < 0 ? 0 : left);
		if (n < 0) {
			out("%s: -1 %s", label, ename(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			unsigned int t = (unsigned int)evs[i].data.u32;

			if (t >= T_MAX)
				continue;
			seen[t] |= evs[i].events;
			have |= 1u << t;
		}
		if (!want && n)
			break;
	} while ((have & want) != want && now_ms() < end);
	for (unsigned int t = 1; t < T_MAX; t++)
		if (seen[t]) {
			char one[64];

			snprintf(one, sizeof(one), "%s%s=%s",
				 line[0] ? " " : "", tag_names[t],
				 pollnames((int)seen[t]));
			strcat(line, one);
		}
	out("%s: %s", label, line[0] ? line : "none");
}

static int add(int ep, int op, int fd, uint32_t events, unsigned int tag)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };

	return epoll_ctl(ep, op, fd, &ev);
}

static void drain(int fd)
{
	char b[256];

	while (poll1(fd, POLLIN, 0) > 0 && read(fd, b, sizeof(b)) > 0)
		;
}

static void epoll_mixed(int c, int l)
{
	int p[2], efd, tfd, ep, ctl, c2;
	struct itimerspec its = { .it_value = { 0, 50000000 } };
	uint64_t one = 1;
	char b[64];
	int64_t t0;

	out("== epoll, kernel and network descriptors in one set");
	if (pipe2(p, O_NONBLOCK))
		die("pipe2");
	efd = eventfd(0, EFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	ep = showfd("epoll_create1 EPOLL_CLOEXEC",
		    epoll_create1(EPOLL_CLOEXEC));
	out("F_GETFD FD_CLOEXEC: %d", !!(fcntl(ep, F_GETFD) & FD_CLOEXEC));
	SHOW("ADD pipe", add(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, T_PIPE));
	SHOW("ADD eventfd", add(ep, EPOLL_CTL_ADD, efd, EPOLLIN, T_EFD));
	SHOW("ADD timerfd", add(ep, EPOLL_CTL_ADD, tfd, EPOLLIN, T_TIMER));
	SHOW("ADD conn IN|RDHUP|ET",
	     add(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLET, T_CONN));
	SHOW("ADD listener", add(ep, EPOLL_CTL_ADD, l, EPOLLIN, T_LISTENER));
	SHOW("ADD conn again", add(ep, EPOLL_CTL_ADD, c, EPOLLIN, T_CONN));
	SHOW("MOD unregistered", add(ep, EPOLL_CTL_MOD, p[1], EPOLLIN, T_PIPE));
	SHOW("ADD the set itself", add(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
	SHOW("op 99", add(ep, 99, c, EPOLLIN, T_CONN));
	collect("wait 0", ep, 0, 0);
	SHOW("write pipe", write(p[1], "x", 1));
	collect("pipe", ep, 1u << T_PIPE, 1000);
	drain(p[0]);
	SHOW("eventfd write", write(efd, &one, sizeof(one)));
	collect("eventfd", ep, 1u << T_EFD, 1000);
	drain(efd);
	SHOW("timerfd 50 ms", timerfd_settime(tfd, 0, &its, NULL));
	collect("timer", ep, 1u << T_TIMER, 1000);
	drain(tfd);
	SHOW("write conn", write(c, "ping", 4));
	{
		struct epoll_event ev;
		struct timespec ts = { 2, 0 };
		int64_t end = now_ms() + 2000;
		int n = 0;

		/* the echo, through epoll_pwait2 */
		while (n == 0 && now_ms() < end)
			n = epoll_pwait2(ep, &ev, 1, &ts, NULL);
		out("epoll_pwait2: %d %s=%s", n,
		    n == 1 && ev.data.u32 < T_MAX ? tag_names[ev.data.u32] :
						    "?",
		    n == 1 ? pollnames((int)ev.events) : "");
	}
	collect("again (edge-triggered: none)", ep, 0, 100);
	show_read("read conn", c, 4);
	SHOW("write pipe", write(p[1], "y", 1));
	SHOW("write conn", write(c, "pong", 4));
	collect("both", ep, 1u << T_PIPE | 1u << T_CONN, 2000);
	drain(p[0]);
	show_read("read conn", c, 4);

	SHOW("MOD conn IN|ONESHOT",
	     add(ep, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLONESHOT, T_CONN));
	SHOW("write conn", write(c, "a", 1));
	collect("one-shot", ep, 1u << T_CONN, 2000);
	wait_bytes(c, 1);
	SHOW("write conn", write(c, "b", 1));
	wait_bytes(c, 2);
	collect("one-shot fired: none", ep, 0, 200);
	SHOW("MOD conn IN (level)", add(ep, EPOLL_CTL_MOD, c, EPOLLIN, T_CONN));
	collect("re-armed, data waiting", ep, 1u << T_CONN, 1000);
	collect("level-triggered, still", ep, 1u << T_CONN, 1000);
	show_read("read conn", c, 2);
	collect("read out: none", ep, 0, 100);
	SHOW("MOD conn OUT", add(ep, EPOLL_CTL_MOD, c, EPOLLOUT, T_CONN));
	collect("writable", ep, 1u << T_CONN, 1000);
	SHOW("DEL conn", epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL));
	SHOW("DEL conn again", epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL));
	SHOW("write conn", write(c, "q", 1));
	wait_bytes(c, 1);
	collect("not registered: none", ep, 0, 200);
	show_read("read conn", c, 1);
	{
		struct epoll_event evs[4];
		sigset_t mask;

		sigemptyset(&mask);
		t0 = now_ms();
		SHOW("epoll_pwait 100 ms, nothing",
		     epoll_pwait(ep, evs, 4, 100, &mask));
		out("it waited: %d", now_ms() - t0 >= 90);
		SHOW("epoll_wait maxevents 0", epoll_wait(ep, evs, 0, 0));
		{
			struct timespec ts = { 0, 100000000 };

			t0 = now_ms();
			SHOW("epoll_pwait2 100 ms, nothing",
			     epoll_pwait2(ep, evs, 4, &ts, NULL));
			out("it waited: %d", now_ms() - t0 >= 90);
		}
	}

	SHOW("ADD conn IN|RDHUP|ET",
	     add(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLET, T_CONN));
	snprintf(b, sizeof(b), "CONNECT %d\n", lport);
	ctl = connect_peer(b);
	collect("a connection to accept", ep, 1u << T_LISTENER, 3000);
	show_read("control", ctl, 3);
	c2 = showfd("accept", accept(l, NULL, NULL));
	show_read("read accepted", c2, 16);
	SHOW("close accepted", close(c2));
	SHOW("close control", close(ctl));
	collect("listener read out: none", ep, 0, 100);

	SHOW("shutdown conn SHUT_WR", shutdown(c, SHUT_WR));
	collect("the peer's FIN", ep, 1u << T_CONN, 3000);
	SHOW("read conn at the end", read(c, b, sizeof(b)));
	SHOW("close the set", close(ep));
	close(p[0]);
	close(p[1]);
	close(efd);
	close(tfd);
}

static void poll_mixed(void)
{
	struct pollfd f[2];
	int p[2], s = connect_peer("ECHO\n"), n;
	int64_t t0;
	fd_set r, w;
	struct timeval tv;

	out("== poll and select, kernel and network descriptors");
	if (pipe2(p, O_NONBLOCK))
		die("pipe2");
	f[0] = (struct pollfd){ p[0], POLLIN, 0 };
	f[1] = (struct pollfd){ s, POLLIN | POLLOUT, 0 };
	SHOW("poll 0", poll(f, 2, 0));
	out("revents: pipe %s conn %s", pollnames(f[0].revents),
	    pollnames(f[1].revents));
	SHOW("write pipe", write(p[1], "z", 1));
	SHOW("write conn", write(s, "zz", 2));
	wait_bytes(s, 2);
	SHOW("poll", poll(f, 2, 1000));
	out("revents: pipe %s conn %s", pollnames(f[0].revents),
	    pollnames(f[1].revents));
	drain(p[0]);
	show_read("read conn", s, 2);
	f[1].events = POLLIN;
	{
		struct timespec ts = { 0, 100000000 };

		t0 = now_ms();
		SHOW("ppoll 100 ms, nothing", ppoll(f, 2, &ts, NULL));
		out("it waited: %d", now_ms() - t0 >= 90);
	}
	SHOW("write pipe", write(p[1], "s", 1));
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(p[0], &r);
	FD_SET(s, &r);
	FD_SET(s, &w);
	tv = (struct timeval){ 1, 0 };
	n = select((p[0] > s ? p[0] : s) + 1, &r, &w, NULL, &tv);
	out("select: %d pipe-r %d conn-r %d conn-w %d", n, FD_ISSET(p[0], &r),
	    FD_ISSET(s, &r), FD_ISSET(s, &w));
	drain(p[0]);
	FD_ZERO(&r);
	FD_SET(s, &r);
	tv = (struct timeval){ 0, 100000 };
	t0 = now_ms();
	n = select(s + 1, &r, NULL, NULL, &tv);
	out("select 100 ms, nothing: %d (waited %d, tv left %ld.%06ld)", n,
	    now_ms() - t0 >= 90, (long)tv.tv_sec, (long)tv.tv_usec);
	close(p[0]);
	close(p[1]);
	SHOW("close", close(s));
}

static void server(void)
{
	struct sockaddr_in sa = sin_of(local_a, lport), from;
	socklen_t alen = sizeof(from);
	int l, l2, c, ctl, v = 0;
	char cmd[32], b[64];

	out("== server");
	l = showfd("socket", net_socket(SOCK_STREAM));
	SHOW("SO_REUSEADDR 1", set_int(l, SOL_SOCKET, SO_REUSEADDR, 1));
	SHOW("bind LOCAL:LPORT", bind(l, (struct sockaddr *)&sa, sizeof(sa)));
	show_name("getsockname", l, false);
	SHOW("listen", listen(l, 8));
	show_int_opt("SO_ACCEPTCONN", l, SOL_SOCKET, SO_ACCEPTCONN);
	show_int_opt("SO_REUSEADDR", l, SOL_SOCKET, SO_REUSEADDR);
	l2 = showfd("socket", net_socket(SOCK_STREAM));
	SHOW("bind the same address",
	     bind(l2, (struct sockaddr *)&sa, sizeof(sa)));
	SHOW("close", close(l2));
	SHOW("fcntl F_SETFL O_NONBLOCK", fcntl(l, F_SETFL, O_NONBLOCK));
	SHOW("accept, nothing", accept(l, NULL, NULL));
	show_poll("poll, nothing", l, POLLIN, 0);
	snprintf(cmd, sizeof(cmd), "CONNECT %d\n", lport);
	ctl = connect_peer(cmd);
	show_poll("poll", l, POLLIN, 3000);
	c = showfd("accept4 SOCK_NONBLOCK|SOCK_CLOEXEC",
		   accept4(l, (struct sockaddr *)&from, &alen,
			   SOCK_NONBLOCK | SOCK_CLOEXEC));
	out("accepted from %s", addr_name(&from, alen));
	out("F_GETFL O_NONBLOCK: %d", !!(fcntl(c, F_GETFL) & O_NONBLOCK));
	out("F_GETFD FD_CLOEXEC: %d", !!(fcntl(c, F_GETFD) & FD_CLOEXEC));
	show_name("getsockname", c, false);
	show_name("getpeername", c, true);
	show_read("control", ctl, 3);
	show_read("read accepted", c, 16);
	SHOW("accept, nothing", accept(l, NULL, NULL));
	SHOW("accept4 flags 0x1", accept4(l, NULL, NULL, 1));
	SHOW("recv, non-blocking", recv(c, b, sizeof(b), 0));
	SHOW("accept on a connection", accept(c, NULL, NULL));
	SHOW("listen on a connection", listen(c, 1));
	SHOW("read on the listener", read(l, b, sizeof(b)));
	SHOW("getpeername listener", getpeername(l, (struct sockaddr *)&from,
						 &(socklen_t){ sizeof(from) }));
	SHOW("ioctl FIONREAD listener", ioctl(l, FIONREAD, &v));
	SHOW("shutdown listener", shutdown(l, 99));
	epoll_mixed(c, l);
	SHOW("close accepted", close(c));
	SHOW("close control", close(ctl));
	SHOW("close listener", close(l));
}

static int sigpipes;
static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void reset(void)
{
	int s = connect_peer("RST\n");
	char b[16];

	out("== reset by the peer");
	show_poll("poll IN until the reset", s, POLLIN, 3000);
	show_poll("poll IN|OUT|RDHUP", s, POLLIN | POLLOUT | POLLRDHUP, 0);
	SHOW("recv", recv(s, b, sizeof(b), 0));
	SHOW("recv again", recv(s, b, sizeof(b), 0));
	SHOW("send MSG_NOSIGNAL", send(s, "x", 1, MSG_NOSIGNAL));
	signal(SIGPIPE, on_sigpipe);
	SHOW("write", write(s, "x", 1));
	out("SIGPIPE: %d", sigpipes);
	signal(SIGPIPE, SIG_IGN);
	show_int_opt("SO_ERROR", s, SOL_SOCKET, SO_ERROR);
	show_name("getpeername", s, true);
	SHOW("close", close(s));
}

static void dups(void)
{
	int s = connect_peer("ECHO\n"), d, d2, d3, a, b2;

	out("== dup");
	d = showfd("dup", dup(s));
	SHOW("close the original", close(s));
	SHOW("write the copy", write(d, "dup", 3));
	show_read("read the copy", d, 3);
	d2 = dup2(d, 100);
	out("dup2 to 100: %d", d2);
	SHOW("write", write(d2, "d2", 2));
	show_read("read", d2, 2);
	d3 = fcntl(d, F_DUPFD_CLOEXEC, 200);
	out("F_DUPFD_CLOEXEC 200: %d", d3 >= 200);
	out("F_GETFD FD_CLOEXEC: %d", !!(fcntl(d3, F_GETFD) & FD_CLOEXEC));
	out("dup3 to 101 O_CLOEXEC: %d", dup3(d, 101, O_CLOEXEC));
	out("F_GETFD FD_CLOEXEC: %d", !!(fcntl(101, F_GETFD) & FD_CLOEXEC));
	SHOW("dup2 to itself", dup2(d, d) == d);
	SHOW("close", close(d));
	SHOW("close 100", close(100));
	SHOW("close 101", close(101));
	SHOW("write the last copy", write(d3, "x", 1));
	show_read("read", d3, 1);
	SHOW("close the last copy", close(d3));
	SHOW("close again", close(d3));

	a = connect_peer("ECHO\n");
	b2 = connect_peer("ECHO\n");
	out("dup2 a connection over another: %d", dup2(a, b2) == b2);
	SHOW("write", write(b2, "over", 4));
	show_read("read", b2, 4);
	SHOW("close", close(a));
	SHOW("close", close(b2));
}

static void sendfiles(void)
{
	char path[] = "/tmp/conform.XXXXXX", b[128];
	size_t n = 300000;
	uint8_t *buf = malloc(n);
	uint64_t sum = 0;
	off_t off = 0;
	int f = mkstemp(path), s;
	ssize_t r;

	out("== sendfile");
	if (f < 0 || !buf)
		die("temporary file");
	unlink(path);
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(i);
	if (write(f, buf, n) != (ssize_t)n)
		die("temporary file");
	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + buf[i];
	for (size_t i = 100000; i < 101000; i++)
		sum = sum * 31 + buf[i];
	s = connect_peer("SINK\n");
	SHOW("sendfile 300000 from offset 0", sendfile(s, f, &off, n));
	out("offset after: %lld", (long long)off);
	lseek(f, 100000, SEEK_SET);
	SHOW("sendfile 1000 from the position", sendfile(s, f, NULL, 1000));
	out("position after: %lld", (long long)lseek(f, 0, SEEK_CUR));
	SHOW("sendfile at the end", sendfile(s, f, &off, 1000));
	SHOW("shutdown SHUT_WR", shutdown(s, SHUT_WR));
	memset(b, 0, sizeof(b));
	r = read_exact(s, b, sizeof(b) - 1);
	{
		unsigned long long got, gsum;

		if (r > 0 && sscanf(b, "GOT %llu %llu", &got, &gsum) == 2)
			out("the peer got %llu bytes, sum %s", got,
			    gsum == sum ? "ok" : "WRONG");
		else
			out("the peer's answer: '%s'", b);
	}
	close(s);
	close(f);
	free(buf);
}

/* 8 MiB echoed on a non-blocking connection driven by epoll. */
static void bulk(void)
{
	size_t n = 8u << 20, sent = 0, got = 0;
	uint64_t sum_out = 0, sum_in = 0;
	int s = connect_peer("ECHO\n"), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
	uint8_t buf[65536];
	int64_t end = now_ms() + 30000;

	out("== bulk");
	fcntl(s, F_SETFL, O_NONBLOCK);
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	while (got < n && now_ms() < end) {
		struct epoll_event evs[2];
		int k = epoll_wait(ep, evs, 2, 1000);

		for (int i = 0; i < k; i++) {
			if ((evs[i].events & EPOLLOUT) && sent < n) {
				size_t want = n - sent > sizeof(buf) ?
						      sizeof(buf) :
						      n - sent;
				ssize_t w;

				for (size_t j = 0; j < want; j++)
					buf[j] = pattern(sent + j);
				w = send(s, buf, want, MSG_NOSIGNAL);
				for (ssize_t j = 0; j < w; j++)
					sum_out = sum_out * 31 + buf[j];
				if (w > 0)
					sent += (size_t)w;
				if (sent == n) {
					ev.events = EPOLLIN;
					epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
				}
			}
			if (evs[i].events & EPOLLIN) {
				ssize_t r;

				while ((r = recv(s, buf, sizeof(buf), 0)) > 0) {
					for (ssize_t j = 0; j < r; j++)
						sum_in = sum_in * 31 + buf[j];
					got += (size_t)r;
				}
			}
		}
	}
	out("bulk: %zu bytes sent, %zu echoed, sums %s", sent, got,
	    sum_in == sum_out ? "equal" : "DIFFER");
	close(ep);
	close(s);
}

/* Sockets that stay the kernel's: AF_UNIX, UDP, loopback, IPv6. */
static void kernel_only(void)
{
	int sv[2], u, l, c, a, s6;
	struct sockaddr_in lo = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) },
			   from;
	socklen_t len = sizeof(lo), flen = sizeof(from);
	char b[16] = "";

	out("== kernel sockets");
	SHOW("socketpair AF_UNIX", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	SHOW("write", write(sv[0], "unix", 4));
	SHOW("read", read(sv[1], b, sizeof(b)));
	close(sv[0]);
	close(sv[1]);
	u = showfd("socket UDP", socket(AF_INET, SOCK_DGRAM, 0));
	SHOW("bind UDP loopback", bind(u, (struct sockaddr *)&lo, sizeof(lo)));
	getsockname(u, (struct sockaddr *)&lo, &len);
	SHOW("sendto",
	     sendto(u, "udp", 3, 0, (struct sockaddr *)&lo, sizeof(lo)));
	SHOW("recvfrom",
	     recvfrom(u, b, sizeof(b), 0, (struct sockaddr *)&from, &flen));
	lo.sin_port = from.sin_port;
	out("from: %s", addr_name(&from, flen));
	close(u);
	l = showfd("socket TCP", socket(AF_INET, SOCK_STREAM, 0));
	lo.sin_port = 0;
	SHOW("bind TCP loopback", bind(l, (struct sockaddr *)&lo, sizeof(lo)));
	SHOW("listen", listen(l, 4));
	len = sizeof(lo);
	getsockname(l, (struct sockaddr *)&lo, &len);
	c = showfd("socket TCP", socket(AF_INET, SOCK_STREAM, 0));
	SHOW("connect loopback",
	     connect(c, (struct sockaddr *)&lo, sizeof(lo)));
	a = showfd("accept", accept(l, NULL, NULL));
	SHOW("write", write(c, "lo", 2));
	show_read("read", a, 2);
	close(a);
	close(c);
	close(l);
	s6 = socket(AF_INET6, SOCK_STREAM, 0);
	out("socket AF_INET6: %s", s6 >= 0 ? "fd" : ename(errno));
	if (s6 >= 0)
		close(s6);
}

static void errors(void)
{
	struct sockaddr_in sa = sin_of(peer_a, port), any = sin_of(local_a, 0);
	int s;
	char b[8];

	out("== errors");
	SHOW("close -1", close(-1));
	SHOW("read a closed number", read(999, b, sizeof(b)));
	SHOW("recv a closed number", recv(999, b, sizeof(b), 0));
	s = connect_peer("ECHO\n");
	SHOW("connect again", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	SHOW("bind a connection",
	     bind(s, (struct sockaddr *)&any, sizeof(any)));
	SHOW("shutdown 99", shutdown(s, 99));
	SHOW("send 0 bytes", send(s, b, 0, 0));
	SHOW("send", send(s, "x", 1, 0));
	wait_bytes(s, 1);
	SHOW("recv 0 bytes, 1 waiting", recv(s, b, 0, 0));
	SHOW("recv", recv(s, b, 1, 0));
	SHOW("recv 0 bytes MSG_DONTWAIT, none waiting",
	     recv(s, b, 0, MSG_DONTWAIT));
	SHOW("recv MSG_OOB", recv(s, b, sizeof(b), MSG_OOB));
	{
		struct iovec v = { b, 1 };
		volatile int cnt = 1025; /* past IOV_MAX */

		SHOW("writev 1025 pieces", writev(s, &v, cnt));
	}
	SHOW("close", close(s));
}

static int thread_dup;

static void *from_thread(void *arg)
{
	int s = (int)(intptr_t)arg;
	char b[8];

	SHOW("write from a second thread", write(s, "t", 1));
	SHOW("read from a second thread", recv(s, b, sizeof(b), MSG_DONTWAIT));
	SHOW("close a copy from a second thread", close(thread_dup));
	return NULL;
}

/* recvmmsg and sendmmsg on a TCP socket: a message per call in turn,
 * MSG_WAITFORONE. */
static void mmsgs(void)
{
	char a[] = "ab", b[] = "cde", r1[3], r2[3], r3[8];
	struct iovec sv[2] = { { a, 2 }, { b, 3 } };
	struct iovec rv[3] = { { r1, 3 }, { r2, 3 }, { r3, 8 } };
	struct mmsghdr sm[2], rm[3];
	int s;

	out("== mmsg");
	memset(sm, 0, sizeof(sm));
	memset(rm, 0, sizeof(rm));
	for (int i = 0; i < 2; i++) {
		sm[i].msg_hdr.msg_iov = &sv[i];
		sm[i].msg_hdr.msg_iovlen = 1;
	}
	for (int i = 0; i < 3; i++) {
		rm[i].msg_hdr.msg_iov = &rv[i];
		rm[i].msg_hdr.msg_iovlen = 1;
	}
	s = connect_peer("ECHO\n");
	SHOW("sendmmsg 2", sendmmsg(s, sm, 2, 0));
	out("sent: %u %u", sm[0].msg_len, sm[1].msg_len);
	wait_bytes(s, 5);
	SHOW("recvmmsg 3 MSG_WAITFORONE",
	     recvmmsg(s, rm, 3, MSG_WAITFORONE, NULL));
	out("got: %u %u, \"%.3s%.2s\"", rm[0].msg_len, rm[1].msg_len, r1, r2);
	SHOW("recvmmsg MSG_DONTWAIT, nothing",
	     recvmmsg(s, rm, 3, MSG_DONTWAIT, NULL));
	SHOW("sendmmsg 0", sendmmsg(s, sm, 0, 0));
	shutdown(s, SHUT_WR);
	SHOW("recvmmsg at the end", recvmmsg(s, rm, 2, 0, NULL));
	out("lengths: %u %u", rm[0].msg_len, rm[1].msg_len);
	close(s);
}

/* Signals and blocking calls, as signal(7) says: a handler ends a
 * blocking recv or accept with EINTR unless it was installed with
 * SA_RESTART (signal() is BSD's: it restarts), and always once the socket
 * has a timeout; poll and epoll_wait end with EINTR whatever the flags;
 * sigaction() reports the application's handler. The alarm comes at
 * 100 ms, the peer's bytes (LATER) at 400 ms. */
static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void alarm_in(int flags, bool bsd)
{
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (bsd)
		signal(SIGALRM, on_alarm);
	else
		sigaction(SIGALRM, &sa, NULL);
	alarms = 0;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void signals(void)
{
	struct sockaddr_in sa = sin_of(local_a, lport + 1);
	struct timeval tv = { 2, 0 };
	struct epoll_event ev = { EPOLLIN, { 0 } };
	struct sigaction now;
	char buf[16];
	int s, l, ep;

	out("== signals");
	s = connect_peer("HOLD\n");
	alarm_in(0, false);
	SHOW("recv, handler without SA_RESTART", recv(s, buf, sizeof(buf), 0));
	out("alarms: %d", (int)alarms);
	sigaction(SIGALRM, NULL, &now);
	out("sigaction: the handler %s, SA_RESTART %d",
	    now.sa_handler == on_alarm ? "set" : "another",
	    !!(now.sa_flags & SA_RESTART));
	alarm_in(0, false);
	SHOW("read, handler without SA_RESTART", read(s, buf, sizeof(buf)));
	alarm_in(SA_RESTART, false);
	SHOW("poll, handler with SA_RESTART", poll1(s, POLLIN, 2000));
	ep = epoll_create1(0);
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	alarm_in(SA_RESTART, false);
	SHOW("epoll_wait, handler with SA_RESTART",
	     epoll_wait(ep, &ev, 1, 2000));
	close(ep);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	alarm_in(SA_RESTART, false);
	SHOW("recv with SO_RCVTIMEO, handler with SA_RESTART",
	     recv(s, buf, sizeof(buf), 0));
	close(s);

	s = connect_peer("LATER 5 400\n");
	alarm_in(SA_RESTART, false);
	SHOW("recv, handler with SA_RESTART", recv(s, buf, sizeof(buf), 0));
	out("alarms: %d, bytes %s", (int)alarms,
	    buf[1] == (char)pattern(1) ? "right" : "wrong");
	close(s);
	s = connect_peer("LATER 3 400\n");
	alarm_in(0, true);
	SHOW("read, signal() handler", read(s, buf, sizeof(buf)));
	out("alarms: %d", (int)alarms);
	close(s);

	l = net_socket(SOCK_STREAM);
	set_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4))
		die("signals: listen");
	alarm_in(0, false);
	SHOW("accept, handler without SA_RESTART", accept(l, NULL, NULL));
	out("alarms: %d", (int)alarms);
	close(l);

	/* a host of the peer's subnet that is not there: no answer */
	sa = sin_of(peer_a, port);
	sa.sin_addr.s_addr =
		(sa.sin_addr.s_addr & htonl(0xffffff00u)) | htonl(99);
	s = net_socket(SOCK_STREAM);
	alarm_in(0, false);
	SHOW("connect, no answer, handler without SA_RESTART",
	     connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	out("alarms: %d", (int)alarms);
	close(s);
	signal(SIGALRM, SIG_DFL);
}

static void setup(char **argv)
{
	if (inet_pton(AF_INET, argv[2], &local_a) != 1 ||
	    inet_pton(AF_INET, argv[3], &peer_a) != 1) {
		fprintf(stderr, "conform: bad address\n");
		exit(2);
	}
	port = atoi(argv[4]);
	lport = port + 2;
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "peer"))
		peer(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "run")) {
		setup(argv);
		basics();
		nonblocking_connect();
		server();
		poll_mixed();
		reset();
		dups();
		sendfiles();
		bulk();
		kernel_only();
		errors();
		mmsgs();
		signals();
		out("network sockets: %d", net_sockets);
		out("== end");
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "thread")) {
		pthread_t t;
		int s;

		setup(argv);
		s = connect_peer("ECHO\n");
		thread_dup = dup(s);
		if (pthread_create(&t, NULL, from_thread, (void *)(intptr_t)s))
			die("pthread_create");
		pthread_join(t, NULL);
		SHOW("write from the driver", write(s, "d", 1));
		show_read("read from the driver", s, 1);
		SHOW("close", close(s));
		return 0;
	}
	fprintf(stderr, "usage: conform peer PORT | run LOCAL PEER PORT | "
			"thread LOCAL PEER PORT\n");
	return 2;
}
