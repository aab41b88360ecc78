/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the pool configuration parser (libinih underneath) on any
 * text; a file it accepts must also be safe to hand to pn_pool_create(),
 * which either builds the pool or refuses it with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pinnet/pool_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct pn_pool_config cfg;
	struct pn_pool *pool;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/pinnet-fuzz-config.%d",
			 (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	pn_pool_config_init(&cfg);
	if (pn_pool_config_load(&cfg, path) == 0) {
		/* keep it small: the fuzzer is not here to pin gigabytes */
		for (unsigned int i = 0; i < cfg.opts.nclasses; i++)
			if (cfg.classes[i].wall_bytes > (64u << 20) ||
			    cfg.classes[i].base_bytes > (8u << 20))
				return 0;
		cfg.opts.stats_dir = "";
		cfg.opts.psi = false;
		pool = pn_pool_create(&cfg.opts);
		if (pool)
			pn_pool_destroy(pool);
		else if (!pn_pool_last_error(NULL)[0])
			abort(); /* a refusal must say why */
	} else if (!cfg.err[0]) {
		abort(); /* an error must say where and why */
	}
	return 0;
}
