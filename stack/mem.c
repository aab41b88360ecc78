/* SPDX-License-Identifier: MIT */
/*
 * lwIP's allocator (configs/lwipopts.h routes mem_malloc here): blocks that
 * carry segment data come from the stack's pinned pool, the rest from libc.
 * A pool block is told apart on free by its address.
 */
#include <stdlib.h>
#include <string.h>

#include "stack_impl.h"

/* The pool lwIP allocates from: set by the stack, kept after the stack is
 * gone so a late free still recognises pool memory. */
struct pn_pool *stack_mem_pool;
bool stack_mem_live; /* the pool accepts frees */

/* Smaller requests are lwIP's own structures: libc serves them better. */
#define POOL_MIN 1024

void *pinnet_lwip_malloc(size_t size)
{
	if (stack_mem_live && size >= POOL_MIN && size <= SMALL_BUF_SIZE) {
		void *p = pn_buf_alloc(stack_mem_pool, size, OWNER_LWIP);

		if (p)
			return p;
	}
	return malloc(size);
}

void *pinnet_lwip_calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = pinnet_lwip_malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void pinnet_lwip_free(void *p)
{
	if (stack_mem_pool && pn_pool_owns(stack_mem_pool, p)) {
		if (stack_mem_live)
			pn_buf_free(stack_mem_pool, p);
		return;
	}
	free(p);
}
