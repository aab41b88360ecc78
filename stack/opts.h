/* SPDX-License-Identifier: MIT */
/*
 * Options structs that may grow start with `size_t sz` (the caller's
 * sizeof). A caller built against a newer header passes a bigger struct:
 * that is fine while every byte this library does not know is zero.
 */
#ifndef PINNET_OPTS_H
#define PINNET_OPTS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the bytes of opts (sz of them) past the known ones are zero. */
static inline bool opts_tail_zero(const void *opts, size_t sz, size_t known)
{
	for (size_t i = known; i < sz; i++)
		if (((const unsigned char *)opts)[i])
			return false;
	return true;
}

#endif
