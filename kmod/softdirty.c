// SPDX-License-Identifier: GPL-2.0
/*
 * Proof that no guest page was written while it was measured.
 *
 * The vCPU checks (vcpu->mutex, vcpu->stat.exits) only show that no vCPU
 * ran; the VMM's own threads, vhost and KVM itself (steal time, kvmclock)
 * write guest memory too, and root can reset the exit counters. So before
 * reading anything the measurement clears the soft-dirty bits of the VMM's
 * mm, exactly as "echo 4 > /proc/PID/clear_refs" does: the kernel's own
 * code write-protects every page and invalidates secondary MMUs, so any
 * write afterwards, by a VMM thread or by the guest through KVM's fault
 * path, marks its page soft-dirty again. After hashing, every guest page
 * is checked: one marked (or a mapping created since, VM_SOFTDIRTY) fails
 * the measurement.
 *
 * 6.1 exports nothing that clears soft-dirty bits, so the file is opened
 * and written from the vCPU reader, which runs in the VMM's mm and has a
 * user page to write from (procfs's clear_refs has no write_iter for
 * kernel_write). It must be procfs of the initial pid namespace.
 *
 * Pages pinned for DMA (VFIO) keep their soft-dirty bit (clear_refs skips
 * them): such a guest cannot be proven unchanged and is refused.
 */
#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/userfaultfd_k.h>
#include <linux/pgtable.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <uapi/linux/magic.h>

#include "pages.h"
#include "softdirty.h"

/* Needs current->mm == the VMM's mm and scratch a user page in it. */
int kvmtrust_soft_dirty_clear(pid_t vmm, void __user *scratch)
{
	char path[32];
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	if (!IS_ENABLED(CONFIG_MEM_SOFT_DIRTY))
		return -EOPNOTSUPP;
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", vmm);
	f = filp_open(path, O_WRONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	n = -EINVAL;
	if (f->f_path.dentry->d_sb->s_magic == PROC_SUPER_MAGIC &&
	    proc_pid_ns(f->f_path.dentry->d_sb) == &init_pid_ns && f->f_op->write) {
		/* "4": CLEAR_REFS_SOFT_DIRTY */
		n = put_user('4', (char __user *)scratch) ? -EFAULT :
			f->f_op->write(f, scratch, 1, &pos);
	}
	filp_close(f, NULL);
	return n == 1 ? 0 : n < 0 ? n : -EIO;
}

static bool pte_unwritten(pte_t pte, void *arg)
{
	if (pte_present(pte))
		return !pte_soft_dirty(pte);
	return pte_none(pte) || !pte_swp_soft_dirty(pte);
}

/* One pmd's worth of [addr, end); returns where it stopped. */
static unsigned long walk_pmd(struct mm_struct *mm, unsigned long addr,
			      unsigned long end, bool *written)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud, pudval;
	pmd_t pmdval;

	if (pgd_none(READ_ONCE(*pgd)))
		return pgd_addr_end(addr, end);
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(READ_ONCE(*p4d)))
		return p4d_addr_end(addr, end);
	pud = pud_offset(p4d, addr);
	pudval = READ_ONCE(*pud);
	if (pud_none(pudval))
		return pud_addr_end(addr, end);
	if (pud_leaf(pudval)) {
		*written = pud_soft_dirty(pudval);
		return pud_addr_end(addr, end);
	}
	pmdval = READ_ONCE(*pmd_offset(&pudval, addr));
	end = pmd_addr_end(addr, end);
	if (pmd_none(pmdval))
		return end;
	if (!pmd_present(pmdval)) {
		*written = pmd_swp_soft_dirty(pmdval);
		return end;
	}
	if (pmd_leaf(pmdval) || pmd_bad(pmdval)) {
		*written = !pmd_leaf(pmdval) || pmd_soft_dirty(pmdval);
		return end;
	}
	if (kvmtrust_read_ptes(pmdval, addr, end, pte_unwritten, NULL) <
	    (end - addr) >> PAGE_SHIFT)
		*written = true;
	return end;
}

/*
 * Whether a page of [hva, hva + npages pages) was written since the last
 * kvmtrust_soft_dirty_clear(), or is mapped differently. mmap_lock is
 * held for 64 page tables at most.
 */
bool kvmtrust_soft_dirty_since(struct mm_struct *mm, unsigned long hva,
			       u64 npages)
{
	unsigned long addr = hva, end = hva + npages * PAGE_SIZE, stop;
	struct vm_area_struct *vma;
	bool written = false;
	unsigned int i;

	while (addr < end && !written) {
		mmap_read_lock(mm);
		vma = vma_lookup(mm, addr);
		if (!vma || (vma->vm_flags & VM_SOFTDIRTY)) {
			written = true;
		} else {
			stop = min(end, vma->vm_end);
			for (i = 0; addr < stop && !written && i < 64; i++)
				addr = walk_pmd(mm, addr, stop, &written);
		}
		mmap_read_unlock(mm);
		cond_resched();
	}
	return written;
}

/*
 * Candidates for an incremental measurement: the pages whose content may
 * differ from what the last measurement saw. A page is one unless its
 * mapping is private anonymous memory (no page cache another process could
 * write, no userfaultfd handing out pages) with no VM_SOFTDIRTY and either
 * a clean present pte, or a clean huge pmd of an anonymous THP, or a swap
 * entry not marked soft-dirty. Pages that read as zero (no pte, the zero
 * page, the huge zero page) are candidates too: a zap (MADV_DONTNEED, a
 * balloon) makes a page zero without marking it, and their fingerprint is
 * known without reading them.
 */
struct collect {
	unsigned long *map;
	u64 bit;
};

static void mark(struct collect *c, unsigned long addr, unsigned long end,
		 bool candidate)
{
	unsigned long n = (end - addr) >> PAGE_SHIFT;

	if (candidate)
		bitmap_set(c->map, c->bit, n);
	c->bit += n;
}

static bool pte_collect(pte_t pte, void *arg)
{
	struct collect *c = arg;
	bool cand;

	if (pte_none(pte))
		cand = true;
	else if (pte_present(pte))
		cand = pte_soft_dirty(pte) || is_zero_pfn(pte_pfn(pte));
	else
		cand = pte_swp_soft_dirty(pte);
	if (cand)
		__set_bit(c->bit, c->map);
	c->bit++;
	return true;
}

static unsigned long collect_pmd(struct mm_struct *mm, unsigned long addr,
				 unsigned long end, struct collect *c)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	unsigned long stop;
	p4d_t *p4d;
	pud_t *pud, pudval;
	pmd_t pmdval;

	stop = pgd_addr_end(addr, end);
	if (pgd_none(READ_ONCE(*pgd)))
		goto all;
	p4d = p4d_offset(pgd, addr);
	stop = p4d_addr_end(addr, end);
	if (p4d_none(READ_ONCE(*p4d)))
		goto all;
	pud = pud_offset(p4d, addr);
	pudval = READ_ONCE(*pud);
	stop = pud_addr_end(addr, end);
	if (pud_none(pudval) || pud_leaf(pudval) || !pud_present(pudval) ||
	    pud_bad(pudval))
		goto all;
	pmdval = READ_ONCE(*pmd_offset(&pudval, addr));
	stop = pmd_addr_end(addr, end);
	if (pmd_none(pmdval))
		goto all;
	if (!pmd_present(pmdval)) {
		mark(c, addr, stop, pmd_swp_soft_dirty(pmdval));
		return stop;
	}
	if (pmd_leaf(pmdval)) {
		/* The huge zero page is not anonymous memory. */
		mark(c, addr, stop, pmd_soft_dirty(pmdval) ||
		     !PageAnon(pmd_page(pmdval)));
		return stop;
	}
	if (pmd_bad(pmdval))
		goto all;
	if (kvmtrust_read_ptes(pmdval, addr, stop, pte_collect, c) !=
	    (stop - addr) >> PAGE_SHIFT)
		return addr;	/* cannot happen: pte_collect never stops */
	return stop;
all:
	mark(c, addr, stop, true);
	return stop;
}

static bool vma_tracked(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma) && !(vma->vm_flags & VM_SHARED) &&
	       (vma->vm_flags & VM_READ) && !userfaultfd_armed(vma) &&
	       !(vma->vm_flags & VM_SOFTDIRTY);
}

/*
 * Sets bit first_bit + i of map for each candidate page i of
 * [hva, hva + npages pages). mmap_lock is held for 64 page tables at most.
 */
void kvmtrust_soft_dirty_collect(struct mm_struct *mm, unsigned long hva,
				 u64 npages, unsigned long *map, u64 first_bit)
{
	unsigned long addr = hva, end = hva + npages * PAGE_SIZE, stop;
	struct collect c = { .map = map, .bit = first_bit };
	struct vm_area_struct *vma;
	unsigned int i;

	while (addr < end) {
		mmap_read_lock(mm);
		vma = vma_lookup(mm, addr);
		stop = vma ? min(end, vma->vm_end) : end;
		if (!vma || !vma_tracked(vma)) {
			mark(&c, addr, stop, true);
			addr = stop;
		} else {
			for (i = 0; addr < stop && i < 64; i++)
				addr = collect_pmd(mm, addr, stop, &c);
		}
		mmap_read_unlock(mm);
		cond_resched();
	}
}
