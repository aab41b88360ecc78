/* SPDX-License-Identifier: MIT */
/*
 * The entry points of one stack copy (see stack_ops.h): the only symbol of
 * the copy the build leaves global, renamed pn_stack_ops_<k>.
 */
#include "stack_ops.h"

#define PN_STACK_OPS_INIT(type, name, params, args) .name = pn_##name,

const struct pn_stack_ops pn_stack_ops_copy = {
	PN_STACK_CALLS(PN_STACK_OPS_INIT).stack_create = pn_stack_create,
	.stack_destroy = pn_stack_destroy,
	.stack_pool_config = pn_stack_pool_config,
	.stack_last_error = pn_stack_last_error,
	.stack_pool = pn_stack_pool,
	.send_buf = pn_send_buf,
	.send_buf_free = pn_send_buf_free,
};
