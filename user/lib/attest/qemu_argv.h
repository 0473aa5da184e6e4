/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the QEMU command-line reduction (qemu_argv.c: the option table
 * and the simple handlers; qemu_opts.c: option strings and measured
 * parameters; qemu_devices.c: disks, network, devices and objects).
 * Not part of the library's interface: config_tree.h is.
 */
#ifndef KVMTRUST_QEMU_ARGV_H
#define KVMTRUST_QEMU_ARGV_H

#include <stdbool.h>
#include <stddef.h>

#include "attest/config_tree.h"

/* One item of "a,key=v,,w,flag" (",," is a literal comma). */
struct kv {
	char *key;
	char *value;	/* NULL for a bare flag ("server") */
	bool implied;	/* the leading bare value, named by the option's implied key */
};

struct kvs {
	struct kv *v;
	size_t n;
};

struct qstate {
	struct kt_config *cfg;
	size_t nics;	/* nic.N */
	size_t blocks;	/* disk.N and qemu.drive.N / qemu.blockdev.N share N */
	long index;	/* qemu.LEAF.N a check chose, -1: the next free */
};

struct opt;
typedef int (*opt_fn)(struct qstate *st, const struct opt *o, const char *arg,
		      struct kt_err *err);
/* An option's own rules, after its keys passed kt_qemu_kv_check(). */
typedef int (*opt_check)(struct qstate *st, const struct opt *o, struct kvs *kv,
			 struct kt_err *err);

struct opt {
	const char *name;
	bool has_arg;
	opt_fn fn;
	opt_check check;
	const char *leaf;		/* qemu.LEAF.N (default: name) */
	const char *implied;		/* key of a leading bare value */
	const char *const *keys;	/* the only keys accepted (NULL: any not denied) */
	const char *const *deny;	/* keys refused: they name host resources */
	const char *const *files;	/* keys naming files, measured by content */
	const char *const *values;	/* the implied key's accepted values (NULL: any) */
	const char *param;		/* canonical parameter (file_param) */
	const char *drive;		/* a shorthand's -drive options after file= */
	const char *why;		/* refusal reason */
};

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

bool kt_qemu_in_list(const char *const *list, const char *s);

/* Option strings: "implied,key=value,flag" with ",," for a comma. */
int kt_qemu_kv_parse(const char *arg, const struct opt *o, struct kvs *kv, struct kt_err *err);
void kt_qemu_kv_free(struct kvs *kv);
/* The leading bare value (backend, type), "" when there is none. */
const char *kt_qemu_kv_implied(const struct kvs *kv);
/* A key's value ("on" for a bare flag), NULL when absent. */
const char *kt_qemu_kv_get(const struct kvs *kv, const char *key);
/* The item key=value (not a bare flag), NULL when absent. */
struct kv *kt_qemu_kv_find(struct kvs *kv, const char *key);
/*
 * Refuses file descriptors and keys o does not accept (o->keys, o->deny,
 * o->values) and replaces the files o->files names by "sha256:HEX".
 */
int kt_qemu_kv_check(struct qstate *st, const struct opt *o, struct kvs *kv,
		     struct kt_err *err);

/* qemu.LEAF.N, N the next free index (index < 0) or the one given. */
const char *kt_qemu_leaf_of(const struct opt *o);
int kt_qemu_add_leaf(struct qstate *st, const char *leaf, long index, const char *value,
		     struct kt_err *err);
/* The same, the value written back in QEMU's syntax. */
int kt_qemu_add_kv(struct qstate *st, const char *leaf, long index, const struct kvs *kv,
		   struct kt_err *err);
/* A parameter's value, NULL when absent. */
const char *kt_qemu_param(const struct kt_config *cfg, const char *name);
/* Replaces item's value (a file) by "sha256:HEX" of the file's content. */
int kt_qemu_set_sha256(struct kv *item, const char *hex, struct kt_err *err);

/*
 * Parses arg, checks its keys and o->check, and (add) measures it as
 * qemu.LEAF.N: the path of every option written as key=value.
 */
int kt_qemu_measure_kv(struct qstate *st, const struct opt *o, const char *arg, bool add,
		       struct kt_err *err);

/* Checks (qemu_devices.c). */
int kt_qemu_drive(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err);
int kt_qemu_blockdev(struct qstate *st, const struct opt *o, struct kvs *kv,
		     struct kt_err *err);
int kt_qemu_netdev(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err);
int kt_qemu_nic(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err);
int kt_qemu_net(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err);
int kt_qemu_device(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err);
int kt_qemu_object(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err);
/* Handlers (qemu_devices.c). */
int kt_qemu_drive_shorthand(struct qstate *st, const struct opt *o, const char *arg,
			    struct kt_err *err);
int kt_qemu_global(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err);

#endif
