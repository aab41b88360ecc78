/* SPDX-License-Identifier: MIT */
/*
 * Unit: the always-on counters file. Another process (a forked reader that
 * only opens and maps the file, as pinnet-bpf top does) sees the layout of
 * include/pinnet/pool_stats.h, the same numbers as pn_pool_stats(), and
 * updates while the owner keeps running; the file is private to its owner
 * and gone after destroy. Also: the USDT probes are in the library.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "pinnet/pool_stats.h"

static char dir[] = "/tmp/pinnet-stats-XXXXXX";

static int read_in_child(const char *path, uint64_t want_in_use,
			 uint64_t want_pinned, uint32_t want_blocks)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	const struct pn_stats_header *h;
	const struct pn_stats_part *p;
	const struct pn_stats_block *b;
	uint32_t active = 0;

	if (fd < 0 || fstat(fd, &st))
		return 10;
	h = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return 11;
	if (h->magic != PN_STATS_MAGIC || h->version != PN_STATS_VERSION ||
	    h->pid != (uint32_t)getppid() || strcmp(h->name, "test") ||
	    h->nparts != 1 || !h->alive)
		return 12;
	p = (const void *)((const char *)h + h->part_off);
	if (p->buf_size != 4096 || p->in_use != want_in_use ||
	    p->pinned_bytes != want_pinned || h->pinned_bytes != want_pinned)
		return 13;
	for (uint32_t i = 0; i < h->max_blocks; i++) {
		b = (const void *)((const char *)h + h->block_off +
				   i * h->block_size);
		active += b->state == PN_BLOCK_ACTIVE;
	}
	if (active != want_blocks)
		return 14;
	return 0;
}

static int run_reader(const char *path, uint64_t in_use, uint64_t pinned,
		      uint32_t blocks)
{
	int st = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(read_in_child(path, in_use, pinned, blocks));
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static void test_counters_file(void)
{
	struct pn_pool_class c = one_class(4);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool;
	char path[256];
	struct stat st;
	char *b[40];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	o.stats_dir = dir;
	pool = pn_pool_create(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	snprintf(path, sizeof(path), "%s/%d-", dir, (int)getpid());
	{
		/* the file name carries the pool id: find it */
		char cmd[300];
		FILE *f;

		snprintf(cmd, sizeof(cmd), "ls %s/%d-*.stats", dir,
			 (int)getpid());
		f = popen(cmd, "r");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		CU_ASSERT_PTR_NOT_NULL(fgets(path, sizeof(path), f));
		path[strcspn(path, "\n")] = 0;
		pclose(f);
	}
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(run_reader(path, 0, 64 * KIB, 1), 0);
	for (int i = 0; i < 40; i++)
		b[i] = pn_buf_alloc(pool, 4096, 0);
	/* live: no poll, no publish step in between */
	CU_ASSERT_EQUAL(run_reader(path, 40, 3 * 64 * KIB, 3), 0);
	for (int i = 0; i < 40; i++)
		CU_ASSERT_EQUAL(pn_buf_free(pool, b[i]), 0);
	CU_ASSERT_EQUAL(run_reader(path, 0, 3 * 64 * KIB, 3), 0);
	destroy_clean(pool);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	rmdir(dir);
}

/* pn_pool_stats() takes the caller's sizeof: a struct of a newer header
 * gets this library's fields and zeros past them, one of an older header
 * just its own bytes; a size below the first version (0, a pointer's) is
 * refused and the struct left alone. */
static void test_stats_size(void)
{
	struct pn_pool_class c = one_class(2);
	struct pn_pool_opts o = small_opts(&c, 1);
	struct pn_pool *pool = pn_pool_create(&o);
	struct {
		struct pn_pool_part_stats s;
		uint64_t added[2]; /* the newer header's fields */
	} big;
	struct pn_pool_part_stats s;
	/* the struct's first version ended with underuse; releases[] keeps
	 * its size (the first version's reasons) so no field moves */
	size_t first = offsetof(struct pn_pool_part_stats, underuse) +
		       sizeof(s.underuse);
	char *b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL(offsetof(struct pn_pool_part_stats, queued),
			offsetof(struct pn_pool_part_stats, releases) +
				6 * sizeof(uint64_t));
	b = pn_buf_alloc(pool, 4096, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	memset(&big, 0xa5, sizeof(big));
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, &big.s, sizeof(big)), 0);
	CU_ASSERT_EQUAL(big.s.buf_size, 4096);
	CU_ASSERT_EQUAL(big.s.in_use, 1);
	CU_ASSERT_EQUAL(big.s.underuse, 0);
	CU_ASSERT_EQUAL(big.added[0], 0);
	CU_ASSERT_EQUAL(big.added[1], 0);
	memset(&s, 0xa5, sizeof(s));
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, &s, sizeof(s)), 0);
	CU_ASSERT_EQUAL(memcmp(&s, &big.s, sizeof(s)), 0);
	memset(&s, 0xa5, sizeof(s));
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, &s, 0), -EINVAL);
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, &s, sizeof(void *)), -EINVAL);
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, &s, first - 1), -EINVAL);
	CU_ASSERT_EQUAL(s.buf_size, 0xa5a5a5a5u); /* untouched */
	/* a caller of the first version gets its fields, nothing past them */
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, &s, first), 0);
	CU_ASSERT_EQUAL(s.in_use, 1);
	CU_ASSERT_EQUAL(s.releases[PN_REASON_DESTROY], 0);
	CU_ASSERT_EQUAL(s.releases_forecast, 0xa5a5a5a5a5a5a5a5ull);
	memset(&s, 0xa5, sizeof(s));
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, NULL, sizeof(s)), -EINVAL);
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 1, &s, sizeof(s)), -EINVAL);
	CU_ASSERT_EQUAL(pn_buf_free(pool, b), 0);
	destroy_clean(pool);
	CU_ASSERT_EQUAL(pn_pool_stats(pool, 0, &s, sizeof(s)), -EBADF);
}

/* The probes the BPF tools attach to are in the built library. */
static void test_usdt_notes(void)
{
#ifdef PN_LIBPINNET_SO
	char cmd[512];
	FILE *f;
	char line[256];
	int n = 0;

	snprintf(
		cmd, sizeof(cmd),
		"readelf -n %s 2>/dev/null | grep -c 'Name: \\(grow\\|grow_refused\\|drain\\|release\\|shrink_refused\\|leak\\|queued\\|dequeued\\|underuse\\|refused\\|bad_free\\)$'",
		PN_LIBPINNET_SO);
	f = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	if (fgets(line, sizeof(line), f))
		n = atoi(line);
	pclose(f);
	CU_ASSERT(n >= 10);
#endif
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_counters_file),
	CU_TEST_ENTRY(test_stats_size),
	CU_TEST_ENTRY(test_usdt_notes),
};

int main(void)
{
	return CU_RUN("pool_stats", tests, NULL, NULL, NULL, NULL);
}
