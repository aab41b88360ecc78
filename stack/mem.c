/* SPDX-License-Identifier: MIT */
/*
 * lwIP's allocator (configs/lwipopts.h routes mem_malloc here): blocks that
 * carry segment data come from the pinned pool of the stack lwIP works on
 * (stack_current()), the rest from libc. A pool block is told apart on
 * free by its address.
 */
#include <stdlib.h>
#include <string.h>

#include "stack_impl.h"

/* Smaller requests are lwIP's own structures: libc serves them better. */
#define POOL_MIN 1024

void *pinnet_lwip_malloc(size_t size)
{
	struct pn_stack *st = stack_current();

	if (st && size >= POOL_MIN && size <= SEG_BUF_SIZE) {
		void *p = pn_buf_alloc(st->pool, size, OWNER_LWIP);

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
	struct pn_stack *st = stack_current();

	if (st && pn_pool_owns(st->pool, p)) {
		pn_buf_free(st->pool, p);
		return;
	}
	free(p);
}
