/* SPDX-License-Identifier: MIT */
/*
 * pinnet-bpf's target: is the process there, which of its mapped files
 * carries the pinnet probes (the executable when linked statically,
 * libpinnet.so otherwise), and attaching BPF programs to them.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "subcmd.h"

int check_pid(int pid)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d", pid);
	if (access(p, F_OK)) {
		fprintf(stderr, "pinnet-bpf %s: no process with PID %d\n",
			env.cmd, pid);
		return -1;
	}
	return 0;
}

/* ---- finding the probes: the mapped file that carries them -------------- */

/* Number of pinnet USDT notes in an ELF file (0: none, -1: unreadable). */
static int count_probes(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;
	size_t shstrndx;

	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getshdrstrndx(elf, &shstrndx)) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -1;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		const char *name;
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".note.stapsdt"))
			continue;
		d = elf_getdata(scn, NULL);
		while (d && (off = gelf_getnote(d, off, &nh, &name_off,
						&desc_off)) > 0) {
			const char *desc = (const char *)d->d_buf + desc_off;

			/* desc: pc, base, semaphore (3 x 8 bytes), provider */
			if (nh.n_type == 3 && nh.n_descsz > 24 &&
			    !strcmp(desc + 24, "pinnet"))
				n++;
		}
	}
	elf_end(elf);
	close(fd);
	return n;
}

/* Fill path with the target's file that holds the pinnet probes (the
 * executable when linked statically, libpinnet.so otherwise). */
int find_probes(int pid, char *path, size_t len)
{
	char maps[64], line[4096], seen[64][512];
	int nseen = 0, rc = -1;
	bool saw_pinnet = false;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "r");
	if (!f) {
		fprintf(stderr, "pinnet-bpf %s: %s: %s\n", env.cmd, maps,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char perms[8], file[4096] = "";
		char full[4600];
		int n;

		if (sscanf(line, "%*x-%*x %7s %*x %*s %*u %4095[^\n]", perms,
			   file) < 2 ||
		    perms[2] != 'x' || file[0] != '/')
			continue;
		for (n = 0; n < nseen && strcmp(seen[n], file); n++)
			;
		if (n < nseen || nseen == 64)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", file);
		if (strstr(file, "pinnet"))
			saw_pinnet = true;
		/* the target's view of its files, whatever its mount namespace */
		snprintf(full, sizeof(full), "/proc/%d/root%s", pid, file);
		if (count_probes(full) > 0) {
			snprintf(path, len, "%s", full);
			rc = 0;
			break;
		}
	}
	fclose(f);
	if (rc)
		fprintf(stderr,
			saw_pinnet ?
				"pinnet-bpf %s: PID %d maps pinnet, but without USDT probes (built with -Dprobes=disabled?)\n" :
				"pinnet-bpf %s: PID %d does not use pinnet: none of its mapped files carries pinnet probes\n",
			env.cmd, pid);
	return rc;
}

/* A uprobe (or uretprobe) on an exported pinnet function. */
int attach_fn(struct bpf_program *prog, struct bpf_link **link,
	      const char *path, const char *func, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = func, .retprobe = ret);

	*link = bpf_program__attach_uprobe_opts(prog, env.pid, path, 0, &uo);
	if (!*link) {
		fprintf(stderr, "pinnet-bpf %s: attaching to %s%s in %s: %s\n",
			env.cmd, func, ret ? " (return)" : "", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int attach(struct bpf_program *prog, struct bpf_link **link, const char *path,
	   const char *name)
{
	*link = bpf_program__attach_usdt(prog, env.pid, path, "pinnet", name,
					 NULL);
	if (!*link) {
		fprintf(stderr,
			"pinnet-bpf %s: attaching to pinnet:%s in %s: %s\n",
			env.cmd, name, path, strerror(errno));
		return -1;
	}
	return 0;
}
