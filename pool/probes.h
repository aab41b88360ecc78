/* SPDX-License-Identifier: MIT */
/*
 * Private to pool/: USDT probes (provider "pinnet") on the pool's slow paths,
 * each guarded by its semaphore so an unattached probe costs one load and a
 * branch. Built without <sys/sdt.h> they compile to nothing.
 *
 * Probe            arguments
 * grow             buf_size, block, bytes, slot, latency_ns
 * grow_refused     buf_size, bytes, -errno
 * drain            buf_size, block, in_use, reason
 * release          buf_size, block, bytes, reason
 * shrink_refused   buf_size, block, in_use
 * leak             buf_size, block, addr, owner, age_ms
 * queued           buf_size, queue_len, owner
 * dequeued         buf_size, addr, wait_ms, -errno, owner
 * async_alloc      buf_size, addr, owner   (pn_buf_alloc_async served at once)
 * underuse         buf_size, free, threshold
 * refused          buf_size, size, -errno
 * bad_free         addr, -errno
 *
 * Per-buffer events have no probe on the fast path (not even a semaphore
 * test): tools that follow every buffer put uprobes on the exported
 * pn_buf_alloc() (entry and return) and pn_buf_free(), which cost nothing
 * while nobody is attached.
 */
#ifndef PINNET_POOL_PROBES_H
#define PINNET_POOL_PROBES_H

#ifdef PN_HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC 1
/* arguments in registers or as constants: libbpf's USDT support reads
 * neither indexed memory operands nor every addressing mode sdt allows */
#define STAP_SDT_ARG_CONSTRAINT nr
#include <sys/sdt.h>

#define PN_SEMAPHORE(name) pinnet_##name##_semaphore
#define PN_PROBE_DECLARE(name) extern unsigned short PN_SEMAPHORE(name)
#define PN_PROBE_ENABLED(name) __builtin_expect(PN_SEMAPHORE(name) != 0, 0)
#define PN_PROBE(name, ...)                                     \
	do {                                                    \
		if (PN_PROBE_ENABLED(name))                     \
			STAP_PROBEV(pinnet, name, __VA_ARGS__); \
	} while (0)
#else
#define PN_PROBE_DECLARE(name) struct pn_probe_unused_##name
#define PN_PROBE_ENABLED(name) 0
#define PN_PROBE(name, ...) \
	do {                \
	} while (0)
#endif

PN_PROBE_DECLARE(grow);
PN_PROBE_DECLARE(grow_refused);
PN_PROBE_DECLARE(drain);
PN_PROBE_DECLARE(release);
PN_PROBE_DECLARE(shrink_refused);
PN_PROBE_DECLARE(leak);
PN_PROBE_DECLARE(queued);
PN_PROBE_DECLARE(dequeued);
PN_PROBE_DECLARE(underuse);
PN_PROBE_DECLARE(refused);
PN_PROBE_DECLARE(bad_free);
PN_PROBE_DECLARE(async_alloc);

#endif
