/* SPDX-License-Identifier: MIT */
/*
 * What pinnet's lwIP port expects from the stack (configs/lwipopts.h),
 * for programs that run lwIP alone (the lwIP unit test, the frame fuzzer):
 * the allocator hooks go to libc (lwip_alone_fail_allocs makes the next
 * ones fail), the transmit offload's output hook does nothing, and the
 * 4-tuple's hooks (the pcb table's hash, ISNs) are stack/tcp_hash.c's
 * with the keys in lwip_alone_keys: zero unless the program draws them
 * (the fuzzer's runs repeat), the ISN's clock from the program's
 * sys_now(). Include once, in the program's one C file, after lwIP's
 * headers; link stack/tcp_hash.c, libxxhash and libsodium.
 */
#ifndef PINNET_TEST_LWIP_ALONE_H
#define PINNET_TEST_LWIP_ALONE_H

#include <stdint.h>
#include <stdlib.h>

#include "tcp_ext.h"

struct pbuf;
struct tcp_hdr;
struct tcp_pcb;

void *pinnet_lwip_malloc(size_t size);
void *pinnet_lwip_calloc(size_t n, size_t size);
void pinnet_lwip_free(void *p);

/* a test makes this many of lwIP's next allocations fail */
int lwip_alone_fail_allocs;

void *pinnet_lwip_malloc(size_t size)
{
	if (lwip_alone_fail_allocs > 0) {
		lwip_alone_fail_allocs--;
		return NULL;
	}
	return malloc(size);
}

void *pinnet_lwip_calloc(size_t n, size_t size)
{
	if (lwip_alone_fail_allocs > 0) {
		lwip_alone_fail_allocs--;
		return NULL;
	}
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

#ifdef LWIP_ALONE_LOSS_NOTE
void tcp_loss_note(struct tcp_pcb *pcb); /* stack/tcp_ext.c */
#endif

/* as stack/sock_lwip.c's, without a connection limit */
signed char pinnet_tcp_in_hook(struct tcp_pcb *pcb, const struct tcp_hdr *hdr)
{
	(void)hdr;
#ifdef LWIP_ALONE_LOSS_NOTE
	tcp_loss_note(pcb); /* the program runs tcp_loss_recovery() */
#else
	(void)pcb;
#endif
	return 0; /* ERR_OK: lwIP takes the segment */
}

struct tcp_keys lwip_alone_keys;
u32_t sys_now(void); /* the program's */

uint32_t pinnet_tcp_hash(const ip4_addr_t *local_ip, uint16_t local_port,
			 const ip4_addr_t *remote_ip, uint16_t remote_port)
{
	return tcp_tuple_hash(&lwip_alone_keys, local_ip, local_port, remote_ip,
			      remote_port);
}

uint32_t pinnet_tcp_isn(const ip4_addr_t *local_ip, uint16_t local_port,
			const ip4_addr_t *remote_ip, uint16_t remote_port)
{
	return tcp_tuple_isn(&lwip_alone_keys, local_ip, local_port, remote_ip,
			     remote_port, (uint64_t)sys_now() * 1000000u);
}

#endif
