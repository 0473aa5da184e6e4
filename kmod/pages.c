// SPDX-License-Identifier: GPL-2.0
/*
 * Which guest pages are certainly all zero without reading them.
 *
 * A VMM's guest memory is mostly a private anonymous mapping, and a guest
 * touches a fraction of it: the rest has no page table entry, and reading
 * it would only fault in the shared zero page (and allocate page tables
 * for it). So the measurement reads the VMM's page tables first, like
 * KVM's own host_pfn_mapping_level() does: without locks beyond the
 * caller's mmap_lock (read), one READ_ONCE per level, never writing. An
 * empty pgd/p4d/pud/pmd covers a whole range at once.
 *
 * Under mmap_lock held for reading, upper page tables are not freed (only
 * munmap under the write lock does), and pte tables are freed only after
 * an RCU grace period (6.6+ retracts them under the read lock; 6.1 not at
 * all), so a table read under rcu_read_lock() stays readable; entries may
 * be filled concurrently, which reads as the state just before. Anything that is not
 * plainly empty or the zero page (a page, swap, a migration entry, a huge
 * mapping) is left to get_user_pages.
 */
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/userfaultfd_k.h>

#include "pages.h"

/*
 * Only private anonymous memory reads as zero where nothing is mapped:
 * shared memory and files have a page cache, and userfaultfd's missing
 * mode hands out what its handler says (postcopy migration). A mapping the
 * VMM cannot read fails through get_user_pages like before.
 */
bool kvmtrust_vma_reads_zero_when_unmapped(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma) && (vma->vm_flags & VM_READ) &&
	       !userfaultfd_missing(vma);
}

static unsigned long pages_to(unsigned long addr, unsigned long end)
{
	return (end - addr) >> PAGE_SHIFT;
}

/*
 * The ptes of the page table pmdval points to, from addr on, read as
 * pte_offset_map() does (6.12 does not export it): from a pmd value read
 * once, under RCU, after which 6.6+ frees page tables it retracts.
 */
unsigned long kvmtrust_read_ptes(pmd_t pmdval, unsigned long addr,
				 unsigned long end,
				 bool (*fn)(pte_t pte, void *arg), void *arg)
{
	unsigned long n = 0;
	pte_t *pte;

	rcu_read_lock();
	pte = pte_offset_kernel(&pmdval, addr);
	for (; addr < end && fn(ptep_get(pte), arg); addr += PAGE_SIZE, pte++)
		n++;
	rcu_read_unlock();
	return n;
}

static bool pte_reads_zero(pte_t pte, void *arg)
{
	return pte_none(pte) || (pte_present(pte) && is_zero_pfn(pte_pfn(pte)));
}

/*
 * How many pages from addr (at most max) certainly read as zero; 0 if the
 * page at addr may not. Call with mmap_lock held for reading and addr in a
 * VMA for which kvmtrust_vma_reads_zero_when_unmapped() holds.
 */
unsigned long kvmtrust_zero_pages_at(struct mm_struct *mm, unsigned long addr,
				     unsigned long max)
{
	unsigned long end = addr + max * PAGE_SIZE;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud, pudval;
	pmd_t *pmd, pmdval;

	mmap_assert_locked(mm);
	pgd = pgd_offset(mm, addr);
	if (pgd_none(READ_ONCE(*pgd)))
		return pages_to(addr, pgd_addr_end(addr, end));
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(READ_ONCE(*p4d)))
		return pages_to(addr, p4d_addr_end(addr, end));
	pud = pud_offset(p4d, addr);
	pudval = READ_ONCE(*pud);
	if (pud_none(pudval))
		return pages_to(addr, pud_addr_end(addr, end));
	if (!pud_present(pudval) || pud_leaf(pudval) || pud_bad(pudval))
		return 0;
	pmd = pmd_offset(&pudval, addr);
	pmdval = READ_ONCE(*pmd);
	if (pmd_none(pmdval))
		return pages_to(addr, pmd_addr_end(addr, end));
	if (!pmd_present(pmdval) || pmd_leaf(pmdval) || pmd_bad(pmdval))
		return 0;
	return kvmtrust_read_ptes(pmdval, addr, pmd_addr_end(addr, end),
				  pte_reads_zero, NULL);
}
