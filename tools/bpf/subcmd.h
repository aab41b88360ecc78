/* SPDX-License-Identifier: MIT */
/*
 * What the subcommands of pinnet-bpf share (private to tools/bpf/): the
 * parsed command line, one-line JSON output, the target process and its
 * probes, the symbolizer for user stacks, and each subcommand's entry.
 */
#ifndef PINNET_TOOLS_BPF_SUBCMD_H
#define PINNET_TOOLS_BPF_SUBCMD_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_link;
struct bpf_program;

/* The command line (main.c). */
struct env {
	int pid; /* -p, 0: every process (top only) */
	bool json; /* -j */
	bool verbose; /* -v */
	bool blocks; /* top -b */
	double interval; /* seconds */
	long count; /* -1: forever */
	double min_age; /* leaks -o, seconds */
	const char *dir; /* counters folder */
	const char *cmd;
};
extern struct env env;

/* Release reasons, as the pool numbers them in its counters and probes. */
extern const char *const reasons[7]; /* enum pn_release_reason */

/* Print o as one line on stdout and drop it (main.c). */
void emit_json(struct json_object *o);
/* The "attached" line of -j: the target's PID and, if not NULL, the file
 * whose probes carry the attachment (main.c). */
void emit_attached(const char *path);

#define J_INT(o, k, v) \
	json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))
#define J_STR(o, k, v) json_object_object_add(o, k, json_object_new_string(v))
#define J_DBL(o, k, v) json_object_object_add(o, k, json_object_new_double(v))

/* The target (target.c): 0, or -1 with the reason on stderr. */
int check_pid(int pid);
int find_probes(int pid, char *path, size_t len);
int attach_fn(struct bpf_program *prog, struct bpf_link **link,
	      const char *path, const char *func, bool ret);
int attach(struct bpf_program *prog, struct bpf_link **link, const char *path,
	   const char *name);

/* User addresses to names (symbols.c): load_maps() reads the process's
 * executable mappings, symbolize() then names an address in them. */
void load_maps(int pid);
void symbolize(uint64_t addr, char *out, size_t len);

/* The subcommands; each returns the exit status. path is the file that
 * carries the target's probes (find_probes()). */
int cmd_top(void);
int cmd_trace(const char *path);
int cmd_leaks(const char *path);
int cmd_hist(const char *path);

#endif
