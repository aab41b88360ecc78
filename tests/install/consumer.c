/* SPDX-License-Identifier: MIT */
/* A program built outside the tree against the installed pinnet.pc: it
 * checks the version and runs one allocation through a real pool. */
#include <pinnet/pool.h>
#include <pinnet/version.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct pn_pool_opts o = { .sz = sizeof(o), .stats_dir = "" };
	struct pn_pool *pool;
	char want[32];
	void *b;

	snprintf(want, sizeof(want), "%d.%d.%d", PN_VERSION_MAJOR,
		 PN_VERSION_MINOR, PN_VERSION_PATCH);
	if (strcmp(pn_version(), want) != 0) {
		fprintf(stderr, "header says %s, library says %s\n", want,
			pn_version());
		return 1;
	}
	pool = pn_pool_create(&o);
	if (!pool) {
		fprintf(stderr, "pn_pool_create: %s\n",
			pn_pool_last_error(NULL));
		return 1;
	}
	b = pn_buf_alloc(pool, 1500, 1);
	if (!b || pn_buf_free(pool, b)) {
		fprintf(stderr, "alloc/free: %s\n", pn_pool_last_error(pool));
		return 1;
	}
	pn_pool_destroy(pool);
	printf("linked against libpinnet %s; a pool allocated and freed\n",
	       pn_version());
	return 0;
}
