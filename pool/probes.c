/* SPDX-License-Identifier: MIT */
/* The USDT semaphores: a tracer that attaches raises them (see probes.h). */
#include "probes.h"

#ifdef PN_HAVE_SDT
#define PN_SEMA_DEFINE(name)                                                   \
	__attribute__((section(".probes"), used)) unsigned short PN_SEMAPHORE( \
		name)

PN_SEMA_DEFINE(grow);
PN_SEMA_DEFINE(grow_refused);
PN_SEMA_DEFINE(drain);
PN_SEMA_DEFINE(release);
PN_SEMA_DEFINE(shrink_refused);
PN_SEMA_DEFINE(leak);
PN_SEMA_DEFINE(queued);
PN_SEMA_DEFINE(dequeued);
PN_SEMA_DEFINE(underuse);
PN_SEMA_DEFINE(refused);
PN_SEMA_DEFINE(bad_free);
PN_SEMA_DEFINE(async_alloc);
#else
/* ISO C forbids an empty translation unit. */
typedef int pn_probes_unused;
#endif
