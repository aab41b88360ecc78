/* SPDX-License-Identifier: MIT */
/*
 * What pinnet's lwIP port expects from the stack (configs/lwipopts.h),
 * for programs that run lwIP alone (the lwIP unit test, the frame fuzzer):
 * the allocator hooks go to libc and the transmit offload's output hook
 * does nothing. Include once, in the program's one C file.
 */
#ifndef PINNET_TEST_LWIP_ALONE_H
#define PINNET_TEST_LWIP_ALONE_H

#include <stdint.h>
#include <stdlib.h>

struct pbuf;
struct tcp_hdr;
struct tcp_pcb;

void *pinnet_lwip_malloc(size_t size);
void *pinnet_lwip_calloc(size_t n, size_t size);
void pinnet_lwip_free(void *p);

void *pinnet_lwip_malloc(size_t size)
{
	return malloc(size);
}

void *pinnet_lwip_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

void pinnet_lwip_free(void *p)
{
	free(p);
}

uint32_t *pinnet_tcp_out_hook(struct pbuf *p, struct tcp_hdr *hdr,
			      const struct tcp_pcb *pcb, uint32_t *opts)
{
	(void)p;
	(void)hdr;
	(void)pcb;
	return opts;
}

signed char pinnet_tcp_in_hook(struct tcp_pcb *pcb, const struct tcp_hdr *hdr)
{
	(void)pcb;
	(void)hdr;
	return 0; /* ERR_OK: lwIP takes the segment */
}

#endif
