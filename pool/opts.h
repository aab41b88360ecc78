/* SPDX-License-Identifier: MIT */
/*
 * Private to libpinnet (pool/ and stack/, like export.h): checks for the
 * options structs of the public API, which start with `size_t sz` so they
 * can grow (libbpf's OPTS convention).
 *
 * A caller built against an older header passes a smaller sz: the library
 * copies sz bytes and the fields past them keep their zero defaults. A
 * caller built against a newer header passes a larger sz: its bytes past
 * the fields this library knows must be zero, or the caller set something
 * this library would silently ignore, and the constructor refuses with
 * E2BIG. Only standard headers here: no pool or stack types.
 */
#ifndef PINNET_OPTS_H
#define PINNET_OPTS_H

#include <stddef.h>

/* The offset of the first byte past member m of type t. */
#define OFFSETOFEND(t, m) (offsetof(t, m) + sizeof(((t *)0)->m))

/*
 * opts_unknown_byte - the first non-zero byte of a caller's options struct
 * that this library does not know, or 0 when there is none (a byte this
 * library does not know lies past its first field, so 0 is never one).
 *
 * opts and sz are the caller's struct and its sz field; known is
 * OFFSETOFEND() of the last field this library has, size the struct's
 * sizeof here. With sz above size (a newer header) every byte from known
 * on is checked, the tail padding here included, since a newer header may
 * have put a field there. With sz at most size (this header or an older
 * one) nothing is: the bytes past the last field are padding that a
 * designated initializer need not zero.
 */
static inline size_t opts_unknown_byte(const void *opts, size_t sz,
				       size_t known, size_t size)
{
	const unsigned char *b = opts;

	if (sz <= size)
		return 0;
	for (size_t i = known; i < sz; i++)
		if (b[i])
			return i;
	return 0;
}

/* opts_unknown_byte() of struct pointer o of type t whose last field is
 * last: OPTS_UNKNOWN_BYTE(opts, struct pn_pool_opts, eager_free). */
#define OPTS_UNKNOWN_BYTE(o, t, last) \
	opts_unknown_byte((o), (o)->sz, OFFSETOFEND(t, last), sizeof(t))

#endif
