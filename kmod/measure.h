/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_MEASURE_H
#define _KVMTRUST_MEASURE_H

#include <linux/types.h>
#include <uapi/linux/kvmtrust.h>

struct kvmtrust_vm;

struct kvmtrust_measurement {
	u64 seq;
	u64 pages;
	u64 ns;
	u32 vcpus;
	bool has_vcpu_root;
	u8 memory_root[KVMTRUST_HASH_LEN];
	u8 vcpu_root[KVMTRUST_HASH_LEN];
	/* On failure: a static extack sentence, or NULL. */
	const char *msg;
};

int kvmtrust_measure(struct kvmtrust_vm *vm, u32 flags,
		     struct kvmtrust_measurement *out);

#endif
