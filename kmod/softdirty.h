/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_SOFTDIRTY_H
#define _KVMTRUST_SOFTDIRTY_H

#include <linux/types.h>

struct mm_struct;

int kvmtrust_soft_dirty_clear(pid_t vmm, void __user *scratch);
bool kvmtrust_soft_dirty_since(struct mm_struct *mm, unsigned long hva,
			       u64 npages);
void kvmtrust_soft_dirty_collect(struct mm_struct *mm, unsigned long hva,
				 u64 npages, unsigned long *map, u64 first_bit);

#endif
