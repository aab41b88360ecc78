/* SPDX-License-Identifier: MIT */
/*
 * Unit: pool configuration files. The shipped configs/pool.conf loads and
 * equals the built-in defaults; every key reaches its option; broken files
 * fail with FILE:LINE and what is wrong; a loaded config creates a pool.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers.h"
#include "pinnet/pool_config.h"

static char path[] = "/tmp/pinnet-conf-XXXXXX";

static int write_conf(const char *text)
{
	int fd = mkstemp(path);
	FILE *f;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return 0;
}

static int load_text(struct pn_pool_config *cfg, const char *text)
{
	int rc;

	strcpy(path, "/tmp/pinnet-conf-XXXXXX");
	CU_ASSERT_EQUAL_FATAL(write_conf(text), 0);
	pn_pool_config_init(cfg);
	rc = pn_pool_config_load(cfg, path);
	unlink(path);
	return rc;
}

static void test_shipped_file_is_the_defaults(void)
{
	struct pn_pool_config a, b;

	pn_pool_config_init(&a);
	pn_pool_config_init(&b);
	CU_ASSERT_EQUAL(pn_pool_config_load(&b, PN_CONFIGS "/pool.conf"), 0);
	if (b.err[0])
		fprintf(stderr, "\n  %s\n", b.err);
	CU_ASSERT_EQUAL(a.opts.nclasses, b.opts.nclasses);
	CU_ASSERT_EQUAL(memcmp(a.classes, b.classes, sizeof(a.classes)), 0);
	CU_ASSERT_EQUAL(b.opts.release, PN_RELEASE_IDLE);
	CU_ASSERT_EQUAL(b.opts.sample_ms, 60000);
	CU_ASSERT_EQUAL(b.opts.idle_ms, 300000);
	CU_ASSERT_EQUAL(b.opts.leak_timeout_ms, 30000);
	CU_ASSERT_EQUAL(b.opts.release_max, 1);
	CU_ASSERT_STRING_EQUAL(b.opts.stats_dir, "/run/pinnet");
	CU_ASSERT_FALSE(b.opts.eager_free); /* MADV_FREE */
	/* the file spells out what 0 means for the forecast: 4 samples, 200 % */
	CU_ASSERT_EQUAL(b.opts.forecast_halflife_ms, 4 * b.opts.sample_ms);
	CU_ASSERT_EQUAL(b.opts.forecast_headroom_pct, 200);
}

static void test_every_key(void)
{
	struct pn_pool_config c;

	CU_ASSERT_EQUAL(load_text(&c, "[pool]\n"
				      "name = web\n"
				      "wall = 1G\n"
				      "max_slots = 64\n"
				      "fallback = yes\n"
				      "thp = no\n"
				      "lazy_free = no\n"
				      "release = peak\n"
				      "sample = 250ms\n"
				      "idle = 2s\n"
				      "release_max = all\n"
				      "peak_window = 1min\n"
				      "forecast_halflife = 3s\n"
				      "forecast_headroom_pct = 250\n"
				      "leak_timeout = 5s\n"
				      "leak_policy = reclaim\n"
				      "wait = 20\n"
				      "queue_timeout = 1s\n"
				      "grow_wait = 3ms\n"
				      "underuse_shrink = true\n"
				      "psi = 1\n"
				      "stats_dir = /tmp\n"
				      "[class 4096]\n"
				      "base = 64K\n"
				      "block = 128KiB\n"
				      "wall = 1M\n"
				      "low_water = 3\n"
				      "underuse_free = 40\n"
				      "[class 2048]\n"
				      "wall = 8M\n"),
			0);
	CU_ASSERT_STRING_EQUAL(c.opts.name, "web");
	CU_ASSERT_EQUAL(c.opts.wall_bytes, 1ull << 30);
	CU_ASSERT_EQUAL(c.opts.max_slots, 64);
	CU_ASSERT_TRUE(c.opts.fallback);
	CU_ASSERT_TRUE(c.opts.no_thp);
	CU_ASSERT_TRUE(c.opts.eager_free);
	CU_ASSERT_EQUAL(c.opts.release, PN_RELEASE_PEAK);
	CU_ASSERT_EQUAL(c.opts.sample_ms, 250);
	CU_ASSERT_EQUAL(c.opts.idle_ms, 2000);
	CU_ASSERT_EQUAL(c.opts.release_max, UINT32_MAX);
	CU_ASSERT_EQUAL(c.opts.peak_window_ms, 60000);
	CU_ASSERT_EQUAL(c.opts.forecast_halflife_ms, 3000);
	CU_ASSERT_EQUAL(c.opts.forecast_headroom_pct, 250);
	CU_ASSERT_EQUAL(c.opts.leak_timeout_ms, 5000);
	CU_ASSERT_EQUAL(c.opts.leak_policy, PN_LEAK_RECLAIM);
	CU_ASSERT_EQUAL(c.opts.wait_ms, 20);
	CU_ASSERT_EQUAL(c.opts.queue_timeout_ms, 1000);
	CU_ASSERT_EQUAL(c.opts.grow_wait_ms, 3);
	CU_ASSERT_TRUE(c.opts.underuse_shrink);
	CU_ASSERT_TRUE(c.opts.psi);
	CU_ASSERT_STRING_EQUAL(c.opts.stats_dir, "/tmp");
	/* the file's classes replace the defaults, kept in ascending order */
	CU_ASSERT_EQUAL_FATAL(c.opts.nclasses, 2);
	CU_ASSERT_EQUAL(c.classes[0].buf_size, 2048);
	CU_ASSERT_EQUAL(c.classes[0].wall_bytes, 8u << 20);
	CU_ASSERT_EQUAL(c.classes[1].buf_size, 4096);
	CU_ASSERT_EQUAL(c.classes[1].base_bytes, 64 * 1024);
	CU_ASSERT_EQUAL(c.classes[1].block_bytes, 128 * 1024);
	CU_ASSERT_EQUAL(c.classes[1].wall_bytes, 1u << 20);
	CU_ASSERT_EQUAL(c.classes[1].low_water, 3);
	CU_ASSERT_EQUAL(c.classes[1].underuse_free, 40);
}

static void expect_error(const char *text, const char *needle, int line)
{
	struct pn_pool_config c;
	char want[32];

	CU_ASSERT_EQUAL(load_text(&c, text), -EINVAL);
	snprintf(want, sizeof(want), ":%d: ", line);
	if (!strstr(c.err, needle) || !strstr(c.err, want))
		fprintf(stderr, "\n  error \"%s\" lacks \"%s\" or \"%s\"\n",
			c.err, needle, want);
	CU_ASSERT_PTR_NOT_NULL(strstr(c.err, needle));
	CU_ASSERT_PTR_NOT_NULL(strstr(c.err, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "/tmp/pinnet-conf-"));
}

static void test_broken_files(void)
{
	struct pn_pool_config c;

	expect_error("[pool]\nbogus = 1\n", "unknown key 'bogus'", 2);
	expect_error("[pool]\nwall = lots\n", "bad value 'lots' for wall", 2);
	expect_error("[pool]\nrelease = sometimes\n",
		     "want none, idle, peak or forecast", 2);
	expect_error("[pool]\n\nsample = 5 parsecs\n", "sample", 3);
	expect_error("[pool]\nfallback = maybe\n", "fallback", 2);
	expect_error("[class 3000]\nwall = 1M\n", "power of two", 2);
	expect_error("[cls 4096]\nwall = 1M\n", "want [pool] or [class SIZE]",
		     2);
	expect_error("[class 4096]\ncolour = blue\n", "unknown key 'colour'",
		     2);
	expect_error("[pool]\nthis line has no equals sign\n", "syntax", 2);
	expect_error("[pool]\nwall = -5\n", "bad value", 2);
	pn_pool_config_init(&c);
	CU_ASSERT_EQUAL(pn_pool_config_load(&c, "/nonexistent/pool.conf"),
			-ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "No such file"));
	/* a valid file whose classes pn_pool_create() refuses */
	CU_ASSERT_EQUAL(load_text(&c, "[class 4096]\nbase = 10000\n"), 0);
	CU_ASSERT_PTR_NULL(pn_pool_create(&c.opts));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(pn_pool_last_error(NULL), "base_bytes"));
}

/* pn_parse_size: the sizes the files write, and what is not one */
static void test_parse_size(void)
{
	static const struct {
		const char *v;
		unsigned long long want;
	} good[] = { { "0", 0 },	   { "4608", 4608 },
		     { "64K", 65536 },	   { "64k", 65536 },
		     { "2MiB", 2u << 20 }, { "1G", 1ull << 30 },
		     { "512B", 512 },	   { "16383G", 16383ull << 30 } };
	static const char *const bad[] = {
		"",	"-1",  "K",    "1T",	       "1 M",
		"1MB2", "1Ki", "0x10", "99999999999G", "18446744073709551616"
	};
	unsigned long long x;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		x = 1;
		CU_ASSERT_EQUAL(pn_parse_size(good[i].v, &x), 0);
		CU_ASSERT_EQUAL(x, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(pn_parse_size(bad[i], &x), -EINVAL);
	CU_ASSERT_EQUAL(pn_parse_size(NULL, &x), -EINVAL);
}

static void test_config_creates_pool(void)
{
	struct pn_pool_config c;
	struct pn_pool *pool;
	void *b;

	CU_ASSERT_EQUAL(load_text(&c,
				  "[pool]\nstats_dir =\nrelease = forecast\n"
				  "[class 4096]\nbase = 64K\nblock = 64K\n"
				  "wall = 256K\n"),
			0);
	CU_ASSERT_EQUAL(pn_pool_config_set(&c, "class 4096", "wall", "128K"),
			0);
	CU_ASSERT_EQUAL(pn_pool_config_set(&c, "pool", "nope", "1"), -EINVAL);
	pool = pn_pool_create(&c.opts);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL(c.opts.release, PN_RELEASE_FORECAST);
	CU_ASSERT_EQUAL(pn_pool_pinned(pool), 64 * 1024);
	b = pn_buf_alloc(pool, 100, 1);
	CU_ASSERT_PTR_NOT_NULL(b);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b), 0);
	destroy_clean(pool);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_shipped_file_is_the_defaults),
	CU_TEST_ENTRY(test_every_key),
	CU_TEST_ENTRY(test_broken_files),
	CU_TEST_ENTRY(test_parse_size),
	CU_TEST_ENTRY(test_config_creates_pool),
};

int main(void)
{
	return CU_RUN("pool_config", tests, NULL, NULL, NULL, NULL);
}
