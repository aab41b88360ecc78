/* SPDX-License-Identifier: MIT */
/*
 * Keyed hashes of a connection's 4-tuple, for lwIP's hooks
 * (configs/lwipopts.h), each keyed with a stack's own secrets:
 *
 * - the hash by which lwIP's table of active and TIME-WAIT pcbs (patch
 *   0005) finds the connection of a segment: XXH3 (libxxhash) with a
 *   random 64-bit seed. Unkeyed, a peer could open connections whose
 *   tuples share one bucket and make every look-up walk all of them;
 * - RFC 6528's initial sequence numbers: SipHash-2-4 (libsodium's
 *   crypto_shorthash) of the tuple with a random 128-bit key, plus a
 *   clock ticking every 4 us, so a connection reusing a tuple starts
 *   above the last one's sequence space and an off-path attacker cannot
 *   guess it. lwIP's own ISN added its timer ticks to the previous one.
 *
 * lwIP types only, like tcp_ext.c: the programs that run lwIP alone (the
 * lwIP unit test, the frame fuzzer) link this file too.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <sodium.h>
#include <xxhash.h>

#include "tcp_ext.h"

_Static_assert(sizeof(((struct tcp_keys *)0)->isn_key) ==
		       crypto_shorthash_KEYBYTES,
	       "isn_key is SipHash-2-4's key");

/* The tuple as 12 bytes: local address, remote address, local port,
 * remote port */
static void pack(uint8_t b[12], const ip4_addr_t *local_ip, uint16_t local_port,
		 const ip4_addr_t *remote_ip, uint16_t remote_port)
{
	memcpy(b, &local_ip->addr, 4);
	memcpy(b + 4, &remote_ip->addr, 4);
	memcpy(b + 8, &local_port, 2);
	memcpy(b + 10, &remote_port, 2);
}

int tcp_keys_init(struct tcp_keys *k)
{
	uint8_t *p = (uint8_t *)k;
	size_t left = sizeof(*k);

	if (sodium_init() < 0)
		return -EIO;
	while (left) {
		ssize_t n = getrandom(p, left, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

uint32_t tcp_tuple_hash(const struct tcp_keys *k, const ip4_addr_t *local_ip,
			uint16_t local_port, const ip4_addr_t *remote_ip,
			uint16_t remote_port)
{
	uint8_t b[12];

	pack(b, local_ip, local_port, remote_ip, remote_port);
	return (uint32_t)XXH3_64bits_withSeed(b, sizeof(b), k->hash_seed);
}

uint32_t tcp_tuple_isn(const struct tcp_keys *k, const ip4_addr_t *local_ip,
		       uint16_t local_port, const ip4_addr_t *remote_ip,
		       uint16_t remote_port, uint64_t now_ns)
{
	uint8_t b[12], h[crypto_shorthash_BYTES];
	uint32_t f;

	pack(b, local_ip, local_port, remote_ip, remote_port);
	crypto_shorthash(h, b, sizeof(b), k->isn_key);
	memcpy(&f, h, sizeof(f));
	return f + (uint32_t)(now_ns / 4000u); /* M: RFC 6528's 4 us timer */
}
