/* SPDX-License-Identifier: MIT */
/*
 * Symbols for pinnet-bpf's user stacks (leaks): the target's executable
 * mappings, and the function symbols of each mapped file, read once.
 */
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "subcmd.h"

struct sym {
	uint64_t addr, size;
	char *name;
};
struct symfile {
	char path[512];
	struct sym *syms;
	size_t n;
};
struct map {
	uint64_t start, end, off;
	char path[512];
};
static struct symfile symfiles[32];
static int nsymfiles;
static struct map maps[512];
static int nmaps;

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static struct symfile *load_syms(const char *path)
{
	struct symfile *sf;
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	for (int i = 0; i < nsymfiles; i++)
		if (!strcmp(symfiles[i].path, path))
			return &symfiles[i];
	if (nsymfiles == 32)
		return NULL;
	sf = &symfiles[nsymfiles++];
	snprintf(sf->path, sizeof(sf->path), "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sf;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0;
		     d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize;
		     i++) {
			GElf_Sym s;
			const char *nm;
			struct sym *t;

			if (!gelf_getsym(d, (int)i, &s) ||
			    GELF_ST_TYPE(s.st_info) != STT_FUNC || !s.st_value)
				continue;
			nm = elf_strptr(elf, sh.sh_link, s.st_name);
			if (!nm)
				continue;
			t = realloc(sf->syms, (sf->n + 1) * sizeof(*t));
			if (!t)
				break;
			sf->syms = t;
			sf->syms[sf->n++] = (struct sym){ s.st_value, s.st_size,
							  strdup(nm) };
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	qsort(sf->syms, sf->n, sizeof(*sf->syms), cmp_sym);
	return sf;
}

void load_maps(int pid)
{
	char p[64], line[4096];
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/maps", pid);
	f = fopen(p, "r");
	nmaps = 0;
	while (f && fgets(line, sizeof(line), f) && nmaps < 512) {
		struct map *m = &maps[nmaps];
		char perms[8], file[4096] = "";

		if (sscanf(line,
			   "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64
			   " %*s %*u %4095[^\n]",
			   &m->start, &m->end, perms, &m->off, file) == 5 &&
		    perms[2] == 'x' && file[0] == '/') {
			snprintf(m->path, sizeof(m->path), "/proc/%d/root%s",
				 pid, file);
			nmaps++;
		}
	}
	if (f)
		fclose(f);
}

/* "function+0xoff" for a user address, or the hex address. */
void symbolize(uint64_t addr, char *out, size_t len)
{
	for (int i = 0; i < nmaps; i++) {
		struct map *m = &maps[i];
		struct symfile *sf;
		uint64_t off;

		if (addr < m->start || addr >= m->end)
			continue;
		sf = load_syms(m->path);
		off = addr - m->start + m->off;
		/* executables and libraries here are PIE/PIC: vaddr == offset
		 * for the text segment of toolchain-default layouts */
		for (size_t k = sf ? sf->n : 0; k-- > 0;) {
			struct sym *s = &sf->syms[k];

			if (s->addr <= off &&
			    (off < s->addr + s->size || !s->size)) {
				snprintf(out, len, "%s+0x%" PRIx64, s->name,
					 off - s->addr);
				return;
			}
			if (s->addr <= off)
				break;
		}
		snprintf(out, len, "%s+0x%" PRIx64, strrchr(m->path, '/') + 1,
			 off);
		return;
	}
	snprintf(out, len, "0x%" PRIx64, addr);
}
