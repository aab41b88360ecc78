/* SPDX-License-Identifier: MIT */
/*
 * The always-on counters file (layout in include/pinnet/pool_stats.h): a
 * shared mapping the pool updates in place, readable by another process
 * without attaching anything and without stopping the owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_impl.h"

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

int stats_open(struct pn_pool *pool)
{
	size_t part_off = round_up(sizeof(struct pn_stats_header), 64);
	size_t block_off, len;
	uint32_t max_blocks = 0;
	int fd = -1;
	void *m;

	for (unsigned int i = 0; i < pool->nparts; i++)
		if (pool->parts[i].max_blocks > max_blocks)
			max_blocks = pool->parts[i].max_blocks;
	block_off = part_off + pool->nparts * sizeof(struct pn_stats_part);
	block_off = round_up(block_off, 64);
	len = block_off +
	      (size_t)pool->nparts * max_blocks * sizeof(struct pn_stats_block);
	len = round_up(len, 4096);

	pool->sh_path[0] = 0;
	if (pool->o.stats_dir && pool->o.stats_dir[0]) {
		/* the folder is world-listable; each file only its owner's */
		mkdir(pool->o.stats_dir, 0755);
		snprintf(pool->sh_path, sizeof(pool->sh_path),
			 "%s/%d-%llu.stats", pool->o.stats_dir, (int)getpid(),
			 (unsigned long long)pool->id);
		fd = open(pool->sh_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0600);
		if (fd < 0 || ftruncate(fd, (off_t)len)) {
			/* counters still work in private memory; say so */
			pool_seterr(
				pool, 0,
				"counters file %s: %s (counters kept private)",
				pool->sh_path, strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(pool->sh_path);
			}
			fd = -1;
			pool->sh_path[0] = 0;
		}
	}
	if (fd >= 0)
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else
		m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd >= 0)
		close(fd);
	if (m == MAP_FAILED) {
		if (pool->sh_path[0])
			unlink(pool->sh_path);
		return pool_seterr(NULL, ENOMEM, "mapping the counters: %s",
				   strerror(errno));
	}
	pool->sh = m;
	pool->sh_len = len;
	pool->sh->version = PN_STATS_VERSION;
	pool->sh->header_size = sizeof(struct pn_stats_header);
	pool->sh->pid = (uint32_t)getpid();
	pool->sh->pool_id = pool->id;
	snprintf(pool->sh->name, sizeof(pool->sh->name), "%s", pool->name);
	pool->sh->nparts = pool->nparts;
	pool->sh->max_blocks = max_blocks;
	pool->sh->part_off = (uint32_t)part_off;
	pool->sh->part_size = sizeof(struct pn_stats_part);
	pool->sh->block_off = (uint32_t)block_off;
	pool->sh->block_size = sizeof(struct pn_stats_block);
	pool->sh->wall_bytes = pool->o.wall_bytes;
	pool->sh->created_ms = pool->now_ms;
	pool->sh->updated_ms = pool->now_ms;
	pool->sh->release_policy = pool->o.release;
	pool->sh->sample_ms = pool->o.sample_ms;
	pool->sh->idle_ms = pool->o.idle_ms;
	pool->sh->alive = 1;
	for (unsigned int i = 0; i < pool->nparts; i++) {
		struct part *p = &pool->parts[i];
		const struct pn_pool_class *c = &pool->o.classes[i];

		p->st = (struct pn_stats_part
				 *)((char *)m + part_off +
				    i * sizeof(struct pn_stats_part));
		p->bst = (struct pn_stats_block
				  *)((char *)m + block_off +
				     (size_t)i * max_blocks *
					     sizeof(struct pn_stats_block));
		p->st->buf_size = p->buf_size;
		p->st->wall_bytes = c->wall_bytes;
		p->st->base_bytes = c->base_bytes;
		p->st->block_bytes = c->block_bytes;
		for (uint32_t b = 0; b < max_blocks; b++)
			p->bst[b].slot = UINT64_MAX;
	}
	/* readers check the magic last: everything above is in place */
	__atomic_store_n(&pool->sh->magic, PN_STATS_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void stats_close(struct pn_pool *pool)
{
	if (!pool->sh)
		return;
	pool->sh->alive = 0;
	if (pool->sh_path[0])
		unlink(pool->sh_path);
	munmap(pool->sh, pool->sh_len);
	pool->sh = NULL;
}
