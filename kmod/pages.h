/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_PAGES_H
#define _KVMTRUST_PAGES_H

#include <linux/pgtable.h>
#include <linux/types.h>

struct mm_struct;
struct vm_area_struct;

bool kvmtrust_vma_reads_zero_when_unmapped(struct vm_area_struct *vma);
unsigned long kvmtrust_zero_pages_at(struct mm_struct *mm, unsigned long addr,
				     unsigned long max);
/* How many ptes from addr on fn accepts (it returns false to stop). */
unsigned long kvmtrust_read_ptes(pmd_t pmdval, unsigned long addr,
				 unsigned long end,
				 bool (*fn)(pte_t pte, void *arg), void *arg);

#endif
