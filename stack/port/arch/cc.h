/* SPDX-License-Identifier: MIT */
/*
 * pinnet's lwIP port: compiler and platform definitions for lwIP 2.1.3 on
 * Linux/x86-64 with glibc. lwIP runs with NO_SYS=1 inside pinnet's own loop;
 * the stack provides sys_now().
 */
#ifndef PINNET_LWIP_ARCH_CC_H
#define PINNET_LWIP_ARCH_CC_H

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

/* Use the C library's errno values so lwIP's errors map 1:1 to POSIX ones. */
#define LWIP_ERRNO_STDINCLUDE 1

#define LWIP_TIMEVAL_PRIVATE 0

/* <endian.h> defines BYTE_ORDER, LITTLE_ENDIAN and BIG_ENDIAN as lwIP wants. */

#define LWIP_PLATFORM_DIAG(x) \
	do {                  \
		printf x;     \
	} while (0)

/* An assertion inside lwIP is a bug in pinnet or lwIP: say where and stop. */
#define LWIP_PLATFORM_ASSERT(x)                                               \
	do {                                                                  \
		fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", x, \
			__FILE__, __LINE__);                                  \
		abort();                                                      \
	} while (0)

/* ISNs and ephemeral ports need a real random source, not rand(). */
static inline unsigned int pinnet_lwip_rand(void)
{
	unsigned int r = 0;

	while (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		;
	return r;
}
#define LWIP_RAND() (pinnet_lwip_rand())

/* lwIP's per-call scratch (tcp_input's segment, ip_data) is per thread
 * (patch 0002): each thread drives its own stacks. initial-exec: a fixed
 * offset from the thread pointer, no __tls_get_addr call per access. */
#define LWIP_TLS __thread __attribute__((tls_model("initial-exec")))

#endif /* PINNET_LWIP_ARCH_CC_H */
