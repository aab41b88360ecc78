/* SPDX-License-Identifier: MIT */
/*
 * The exported stack API: each stack lives in one of the build's stack
 * copies (see stack_ops.h), claimed at pn_stack_create() and given back at
 * pn_stack_destroy(); every other call goes through the copy's table, which
 * struct pn_stack points to first. Copies share no state, so stacks in
 * different threads need no locks.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "export.h"
#include "stack_copies.h" /* generated: copies[], the build's copies */
#include "stack_ops.h"

#define NCOPIES (sizeof(copies) / sizeof(copies[0]))

static atomic_bool claimed[NCOPIES];
/* the copy of this thread's latest pn_stack_create(), for its error */
static __thread const struct pn_stack_ops *last_ops;
static __thread char busy_err[200];

static inline const struct pn_stack_ops *ops_of(const struct pn_stack *st)
{
	return *(const struct pn_stack_ops *const *)st;
}

PN_EXPORT struct pn_stack *pn_stack_create(const struct pn_stack_opts *opts)
{
	for (size_t i = 0; i < NCOPIES; i++) {
		struct pn_stack *st;
		bool free_copy = false;
		int err;

		if (!atomic_compare_exchange_strong(&claimed[i], &free_copy,
						    true))
			continue;
		last_ops = copies[i];
		st = copies[i]->stack_create(opts);
		if (!st) {
			err = errno;
			atomic_store(&claimed[i], false);
			errno = err;
		}
		return st;
	}
	last_ops = NULL;
	snprintf(busy_err, sizeof(busy_err),
		 "all %zu stack instances of this build are in use (one per "
		 "stack; build option stack_copies)",
		 NCOPIES);
	errno = EBUSY;
	return NULL;
}

PN_EXPORT void pn_stack_destroy(struct pn_stack *st)
{
	const struct pn_stack_ops *ops;

	if (!st)
		return;
	ops = ops_of(st);
	ops->stack_destroy(st);
	for (size_t i = 0; i < NCOPIES; i++)
		if (copies[i] == ops)
			atomic_store(&claimed[i], false);
}

PN_EXPORT const char *pn_stack_last_error(const struct pn_stack *st)
{
	if (st)
		return ops_of(st)->stack_last_error(st);
	if (last_ops)
		return last_ops->stack_last_error(NULL);
	return busy_err;
}

PN_EXPORT int pn_stack_pool_config(struct pn_pool_config *cfg)
{
	return copies[0]->stack_pool_config(cfg);
}

PN_EXPORT struct pn_pool *pn_stack_pool(const struct pn_stack *st)
{
	return st ? ops_of(st)->stack_pool(st) : NULL;
}

PN_EXPORT void *pn_send_buf(struct pn_stack *st, size_t size)
{
	if (!st) {
		errno = EINVAL;
		return NULL;
	}
	return ops_of(st)->send_buf(st, size);
}

PN_EXPORT void pn_send_buf_free(struct pn_stack *st, void *buf)
{
	if (st)
		ops_of(st)->send_buf_free(st, buf);
}

#define PN_STACK_API_WRAP(type, name, params, args) \
	PN_EXPORT type pn_##name params             \
	{                                           \
		if (!st)                            \
			return -EINVAL;             \
		return ops_of(st)->name args;       \
	}

PN_STACK_CALLS(PN_STACK_API_WRAP)
