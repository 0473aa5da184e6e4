/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_MEMORY_H
#define _KVMTRUST_MEMORY_H

#include <linux/types.h>
#include <uapi/linux/kvmtrust.h>

struct kvmtrust_measurement;
struct kvmtrust_vm;
struct mm_struct;

struct kvmtrust_mem_state;

/* An RFC 9162 audit path: siblings from the leaf's up to the root's. */
struct kvmtrust_proof {
	u64 leaf_index;
	u64 tree_size;
	u8 leaf_hash[KVMTRUST_HASH_LEN];
	unsigned int path_len;
	u8 path[64][KVMTRUST_HASH_LEN];
};

int kvmtrust_measure_memory(struct kvmtrust_vm *vm, struct mm_struct *mm,
			    u32 flags, struct kvmtrust_measurement *m);

void kvmtrust_memory_collect(struct kvmtrust_vm *vm, struct mm_struct *mm,
			     bool want);
int kvmtrust_memory_prove(struct kvmtrust_vm *vm, struct mm_struct *mm, u64 gpa,
			  const u8 *root, struct kvmtrust_proof *p,
			  const char **msg);
void kvmtrust_memory_free(struct kvmtrust_mem_state *st);

#endif
