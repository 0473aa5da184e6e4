/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_MEASURE_H
#define _KVMTRUST_MEASURE_H

#include <linux/types.h>
#include <uapi/linux/kvmtrust.h>

struct kvmtrust_vm;
struct netlink_ext_ack;

/* A failure's message, worded like NL_SET_ERR_MSG_MOD's. */
#define KVMTRUST_MSG(s) KBUILD_MODNAME ": " s

/* A VM's latest measurement, as KVMTRUST_CMD_MEASURE_GET reports it. */
struct kvmtrust_measurement {
	u64 id;			/* 0: the VM was never measured */
	bool done;
	int err;
	/* On failure: a static extack sentence, or NULL. */
	const char *msg;
	u64 seq;
	u64 pages;
	u64 zero_pages;		/* hashed from the zero page's state */
	u64 ns;
	u32 vcpus;
	u32 tree;		/* enum kvmtrust_tree */
	const char *tree_note;	/* why it streamed, or NULL */
	u64 tree_bytes;		/* the kept tree */
	u64 work_bytes;		/* what measuring took besides the kept tree */
	u32 threads;		/* that hashed memory */
	bool unchanged;		/* no guest page written while measured */
	bool frozen;		/* KVMTRUST_MEASURE_F_FREEZE */
	u64 pause_ns;		/* the process stopped by the freeze */
	bool full;		/* every page hashed, not only the changed */
	u64 pages_hashed;	/* leaves computed (pages SHA-256ed) */
	bool has_vcpu_root;
	u8 memory_root[KVMTRUST_HASH_LEN];
	u8 vcpu_root[KVMTRUST_HASH_LEN];
};

struct kvmtrust_measure_ctx;

/*
 * Starting a measurement takes two steps so that the netlink reply naming
 * it is sent before it can end: prepare claims the VM (EBUSY while another
 * measurement of it runs) and allocates; then start queues it, or cancel
 * gives the claim back.
 */
struct kvmtrust_measure_ctx *kvmtrust_measure_prepare(struct kvmtrust_vm *vm,
						      u32 flags,
						      struct netlink_ext_ack *extack);
u64 kvmtrust_measure_id(const struct kvmtrust_measure_ctx *ctx);
void kvmtrust_measure_start(struct kvmtrust_measure_ctx *ctx);
void kvmtrust_measure_cancel(struct kvmtrust_measure_ctx *ctx);

void kvmtrust_measure_last(struct kvmtrust_vm *vm,
			   struct kvmtrust_measurement *out);
int kvmtrust_measure_last_states(struct kvmtrust_vm *vm,
				 struct kvmtrust_measurement *out, u8 **states);
void kvmtrust_measure_states_free(u8 *states, u32 n);

struct kvmtrust_proof;
int kvmtrust_measure_prove(struct kvmtrust_vm *vm, u64 gpa,
			   struct kvmtrust_measurement *last,
			   struct kvmtrust_proof *p, struct netlink_ext_ack *extack);

#endif
