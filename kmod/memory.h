/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_MEMORY_H
#define _KVMTRUST_MEMORY_H

#include <linux/types.h>

struct kvmtrust_measurement;
struct kvmtrust_vm;
struct mm_struct;

int kvmtrust_measure_memory(struct kvmtrust_vm *vm, struct mm_struct *mm,
			    u32 flags, struct kvmtrust_measurement *m);

#endif
