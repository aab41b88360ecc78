/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the pool API as sequences of operations, checked against a
 * reference model (the set of buffers out, their classes and contents).
 * Each input byte pair is one operation: alloc (a size in some class),
 * free (one held buffer), double free, foreign free, misaligned free,
 * grow, shrink, pressure, poll. Any divergence aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinnet/pool.h"

#define MAXHELD 512

static struct pn_pool *pool;
static struct {
	char *p;
	uint32_t size;
	uint8_t fill;
} held[MAXHELD];
static unsigned int nheld;
static const uint32_t classes[3] = { 2048, 4096, 65536 };

static void die(const char *what)
{
	fprintf(stderr, "fuzz_pool: %s (%s)\n", what, pn_pool_last_error(pool));
	abort();
}

static void setup(void)
{
	static struct pn_pool_class c[3];
	struct pn_pool_opts o = { .sz = sizeof(o),
				  .name = "fuzz",
				  .nclasses = 3,
				  .classes = c,
				  .stats_dir = "",
				  .leak_timeout_ms = 1,
				  .leak_policy = PN_LEAK_REFUSE,
				  .release = PN_RELEASE_PEAK,
				  .sample_ms = 1,
				  .peak_window_ms = 2 };

	for (int i = 0; i < 3; i++)
		c[i] = (struct pn_pool_class){
			.buf_size = classes[i],
			.base_bytes = (size_t)classes[i] * 16,
			.block_bytes = (size_t)classes[i] * 16,
			.wall_bytes = (size_t)classes[i] * 16 * 8,
			.low_water = 2
		};
	pool = pn_pool_create(&o);
	if (!pool)
		die("create");
}

static void check_all(void)
{
	for (unsigned int i = 0; i < nheld; i++) {
		struct pn_buf_info bi;

		if (pn_buf_lookup(pool, held[i].p, &bi) ||
		    bi.size != held[i].size)
			die("lookup of a held buffer");
		if ((uint8_t)held[i].p[0] != held[i].fill ||
		    (uint8_t)held[i].p[held[i].size - 1] != held[i].fill)
			die("a held buffer changed");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *last_freed = NULL;

	if (!pool)
		setup();
	for (size_t i = 0; i + 1 < size; i += 2) {
		uint8_t op = data[i] % 10, arg = data[i + 1];

		switch (op) {
		case 0:
		case 1:
		case 2: { /* alloc */
			uint32_t cls = classes[arg % 3];
			size_t ask = 1 + (size_t)arg * 97 % cls;
			char *p;

			if (nheld == MAXHELD)
				break;
			p = pn_buf_alloc(pool, ask, arg);
			if (!p) {
				if (errno != ENOBUFS)
					die("alloc failed, not at the wall");
				break;
			}
			for (unsigned int k = 0; k < nheld; k++)
				if (held[k].p == p)
					die("a buffer handed out twice");
			{
				struct pn_buf_info bi;

				/* the request rounds up to its own class */
				if (pn_buf_lookup(pool, p, &bi) ||
				    bi.size < ask)
					die("a buffer smaller than asked");
				cls = bi.size;
			}
			held[nheld].p = p;
			held[nheld].size = cls;
			held[nheld].fill = arg;
			p[0] = (char)arg;
			p[cls - 1] = (char)arg;
			nheld++;
			break;
		}
		case 3:
		case 4: /* free */
			if (!nheld)
				break;
			arg %= nheld;
			if (pn_buf_free(pool, held[arg].p))
				die("free of a held buffer");
			last_freed = held[arg].p;
			held[arg] = held[--nheld];
			break;
		case 5: { /* double free, if not handed out again */
			bool again = false;

			if (!last_freed)
				break;
			for (unsigned int k = 0; k < nheld; k++)
				again |= held[k].p == last_freed;
			if (!again && pn_buf_free(pool, last_freed) == 0)
				die("a double free was accepted");
			break;
		}
		case 6: { /* foreign or misaligned pointer */
			char local;

			if (pn_buf_free(pool, &local) != -EINVAL)
				die("a foreign free was accepted");
			if (nheld &&
			    pn_buf_free(pool, held[0].p + 1 + arg % 64) == 0)
				die("a misaligned free was accepted");
			break;
		}
		case 7:
			pn_pool_grow(pool, classes[arg % 3]);
			break;
		case 8:
			if (pn_pool_shrink(pool, classes[arg % 3],
					   (size_t)classes[arg % 3] *
						   (arg % 64)) < 0)
				die("shrink");
			break;
		default:
			if (arg & 1)
				pn_pool_pressure(pool);
			pn_pool_poll(pool);
			break;
		}
	}
	check_all();
	/* leave the pool as found: everything back */
	while (nheld)
		if (pn_buf_free(pool, held[--nheld].p))
			die("final free");
	pn_pool_poll(pool);
	return 0;
}
