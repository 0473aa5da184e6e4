// SPDX-License-Identifier: GPL-2.0
/*
 * memory_root: one leaf per guest page in guest physical address order
 * (Documentation/measurement.rst), read in place from the VMM's mapping.
 *
 * The leaves are cut into chunks of 2^chunk_shift, aligned, so every chunk
 * but the last is a perfect subtree of the RFC 9162 tree: a chunk's root
 * is computed on its own, and the chunk roots, streamed left to right,
 * give the memory root. Memory use is a stack of subtree roots per chunk
 * being hashed and one root per chunk (at most MAX_CHUNKS), whatever the
 * size of the guest. A tree kept for later updates (vm->mem_tree) is
 * optional, bounded by tree_max_mib and charged to the VMM's memory
 * cgroup; when it does not fit, the measurement streams and says so.
 *
 * Chunks are handed out to one worker per online CPU (kvmtrust_hash_wq),
 * each with its own hash descriptor; the levels above the chunks are built
 * once, at the end, by the measurement itself.
 *
 * Pages are pinned PIN_BATCH at a time with get_user_pages_remote under
 * mmap_lock (read) and hashed through kmap_local_page. Pages that are
 * certainly zero (pages.c), never faulted in, and pages that read as zero
 * hash from the saved state after a zero page (leaf format 2).
 *
 * Incremental measurement (Documentation/measurement.rst): the kept state
 * (struct kvmtrust_mem_state) is the tree from level tree_level up and one
 * keyed fingerprint per page. Just before the vCPU reader clears the
 * soft-dirty bits, kvmtrust_memory_collect() reads which pages may have
 * changed since the last measurement (softdirty.c); the measurement then
 * fingerprints only those, SHA-256es the 2^tree_level pages under each
 * level-tree_level node holding a page whose fingerprint changed, and
 * recomputes only those nodes' paths to the root.
 */
#include <linux/highmem.h>
#include <linux/kvm_host.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/bitmap.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "measure.h"
#include "memory.h"
#include "merkle.h"
#include "pages.h"
#include "softdirty.h"
#include "vm.h"

/* Guest pages pinned at once: bounds the time mmap_lock is held. */
#define PIN_BATCH 64
/* Zero pages hashed between checks for a detach. */
#define ZERO_BATCH 4096
/* Chunks per measurement at most, so chunk roots take at most 32 KiB. */
#define MAX_CHUNKS 1024
#define MIN_CHUNK_SHIFT 10

#define MEMORY_WRITTEN \
	KVMTRUST_MSG("guest memory was written during the measurement; pause the guest")
#define NO_ROOM_FOR_TREE \
	KVMTRUST_MSG("the vmm's memory cgroup has no room for the tree; streamed")

static unsigned int threads;
module_param(threads, uint, 0644);
MODULE_PARM_DESC(threads, "threads hashing one measurement (0: one per online cpu)");

static unsigned int tree_max_mib = 64;
module_param(tree_max_mib, uint, 0644);
MODULE_PARM_DESC(tree_max_mib,
		 "largest merkle tree kept per vm for later updates (MiB; 0: stream always)");

/* 16 bytes per guest page at most: 8 of fingerprint, 8 of tree (level 3). */
static unsigned int tree_level = 3;
module_param(tree_level, uint, 0644);
MODULE_PARM_DESC(tree_level,
		 "lowest tree level kept between measurements, 0..3: 2^level pages re-hashed per changed page, 8 + 64/2^level bytes kept per page");
#define MAX_TREE_LEVEL 3

/* A user memslot as seen when the measurement started. */
struct mem_range {
	u64 gpa;
	u64 npages;
	unsigned long hva;
	u64 first_leaf;
};

/*
 * What a VM keeps between measurements when its tree fits. Owned, like
 * the rest of the VM's measurement state, by whoever holds
 * KVMTRUST_VM_MEASURING.
 */
struct kvmtrust_mem_state {
	struct kvmtrust_merkle *tree;	/* levels tree->base and up */
	u64 *fp;			/* one per leaf, in tree->extra */
	u64 zero_pages;			/* leaves whose fingerprint is a zero page's */
	/* The layout hashed: the memslots' ranges. */
	struct mem_range *ranges;
	unsigned int nr_ranges;
	/* Candidates collected before this measurement's clear, or NULL. */
	unsigned long *cand;
	/* vm->foreign_clears when the base's soft-dirty bits were cleared. */
	int foreign;
	/*
	 * base: every page whose content differs from its fingerprint has
	 * been a candidate since the base's clear (the next measurement may be
	 * incremental). proven: the tree and fingerprints are those of root.
	 */
	bool base;
	bool proven;
	u8 root[KVMTRUST_HASH_LEN];
};

struct mem_job {
	struct kvmtrust_vm *vm;
	struct mm_struct *mm;
	struct mem_range *ranges;
	unsigned int nr_ranges;
	u64 leaves;
	u64 gen;
	unsigned int chunk_shift;
	u64 nr_chunks;
	atomic64_t next_chunk;
	/* Streaming: one root per chunk. Retained: NULL, the tree has them. */
	u8 (*chunk_roots)[KVMTRUST_HASH_LEN];
	struct kvmtrust_merkle *tree;
	struct kvmtrust_mem_state *st;	/* with tree */
	/* Incremental: fingerprint st->cand, re-hash the changed nodes. */
	bool inc;
	unsigned long *changed;		/* level tree->base bits */
	atomic64_t hashed;		/* leaves computed */
	atomic64_t zero_pages;		/* full: counted; incremental: delta */
	/* The first failure; the other workers stop at their next batch. */
	atomic_t err;
	const char *msg;
};

/* What one thread hashing chunks needs for itself. */
struct mem_worker {
	struct work_struct work;
	struct mem_job *job;
	struct shash_desc *desc;
	struct kvmtrust_mth mth;
	struct page *pages[PIN_BATCH];
};

static int job_fail(struct mem_job *job, int err, const char *msg)
{
	if (!atomic_cmpxchg(&job->err, 0, err))
		job->msg = msg;
	return err;
}

static int job_should_stop(struct mem_job *job)
{
	int err = atomic_read(&job->err);

	if (err)
		return err;
	if (kvmtrust_vm_is_detached(job->vm))
		return job_fail(job, -ENODEV,
				KVMTRUST_MSG("vm was detached during the measurement"));
	return 0;
}

static u64 memslots_generation(struct kvm *kvm)
{
	u64 gen;
	int idx;

	idx = srcu_read_lock(&kvm->srcu);
	gen = kvm_memslots(kvm)->generation;
	srcu_read_unlock(&kvm->srcu, idx);
	return gen;
}

static unsigned int user_memslots(struct kvm_memslots *slots)
{
	struct kvm_memslot_iter iter;
	unsigned int n = 0;

	kvm_for_each_memslot_in_gfn_range(&iter, slots, 0, (gfn_t)-1) {
		if (iter.slot->id < KVM_USER_MEM_SLOTS)
			n++;
	}
	return n;
}

/*
 * User memslots of address space 0 in guest physical address order. The
 * VMM decides how many (up to KVM_USER_MEM_SLOTS): kvmalloc, outside SRCU.
 */
static int snapshot_layout(struct mem_job *job)
{
	struct kvm *kvm = job->vm->kvm;
	struct kvm_memslot_iter iter;
	struct kvm_memslots *slots;
	struct mem_range *r;
	unsigned int n, i = 0;
	int idx;

	idx = srcu_read_lock(&kvm->srcu);
	n = user_memslots(kvm_memslots(kvm));
	srcu_read_unlock(&kvm->srcu, idx);
	job->ranges = kvmalloc_array(n ?: 1, sizeof(*job->ranges), GFP_KERNEL);
	if (!job->ranges)
		return -ENOMEM;

	idx = srcu_read_lock(&kvm->srcu);
	slots = kvm_memslots(kvm);
	job->gen = slots->generation;
	kvm_for_each_memslot_in_gfn_range(&iter, slots, 0, (gfn_t)-1) {
		if (iter.slot->id >= KVM_USER_MEM_SLOTS)
			continue;
		if (i == n)
			break;	/* added since we counted: the generation moved */
		r = &job->ranges[i++];
		r->gpa = (u64)iter.slot->base_gfn << PAGE_SHIFT;
		r->npages = iter.slot->npages;
		r->hva = iter.slot->userspace_addr;
		r->first_leaf = job->leaves;
		job->leaves += r->npages;
	}
	srcu_read_unlock(&kvm->srcu, idx);
	job->nr_ranges = i;
	return 0;
}

static struct mem_range *range_of(struct mem_job *job, u64 leaf)
{
	unsigned int lo = 0, hi = job->nr_ranges - 1, mid;

	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (job->ranges[mid].first_leaf <= leaf)
			lo = mid;
		else
			hi = mid - 1;
	}
	return &job->ranges[lo];
}

static void put_pages(struct page **pages, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		if (pages[i])
			put_page(pages[i]);
	}
}

/*
 * Pins the nr pages at hva, or leaves NULL where a page certainly reads
 * as zero. Never faults those in, and never pins more than PIN_BATCH.
 */
static int pin_batch(struct mem_worker *w, unsigned long hva, unsigned int nr)
{
	struct mm_struct *mm = w->job->mm;
	struct vm_area_struct *vma;
	unsigned long addr, lim, run, z;
	unsigned int i = 0;
	bool zero_ok;
	long got;
	int err = 0;

	mmap_read_lock(mm);
	while (i < nr) {
		addr = hva + (unsigned long)i * PAGE_SIZE;
		vma = vma_lookup(mm, addr);
		if (!vma) {
			err = -EFAULT;
			break;
		}
		lim = min_t(unsigned long, nr - i, (vma->vm_end - addr) >> PAGE_SHIFT);
		zero_ok = kvmtrust_vma_reads_zero_when_unmapped(vma);
		z = zero_ok ? kvmtrust_zero_pages_at(mm, addr, lim) : 0;
		if (z) {
			memset(&w->pages[i], 0, z * sizeof(w->pages[0]));
			i += z;
			continue;
		}
		for (run = 1; run < lim; run++) {
			if (zero_ok &&
			    kvmtrust_zero_pages_at(mm, addr + run * PAGE_SIZE, 1))
				break;
		}
		got = get_user_pages_remote(mm, addr, run, 0, &w->pages[i], NULL);
		if (got <= 0) {
			err = got ? got : -EFAULT;
			break;
		}
		i += got;
	}
	mmap_read_unlock(mm);
	if (err) {
		put_pages(w->pages, i);
		return job_fail(w->job, err,
				KVMTRUST_MSG("guest memory is not readable in the vmm"));
	}
	return 0;
}

/*
 * Where a leaf hash goes: the stream, or the kept tree's lowest level,
 * whose node is the MTH of the 2^base leaves under it (the last may have
 * fewer). Leaves come in order, and a group never spans two chunks.
 */
static int sink_leaf(struct mem_worker *w, u64 leaf, const u8 *hash)
{
	struct kvmtrust_merkle *tree = w->job->tree;
	unsigned int base;
	int err;

	err = kvmtrust_mth_push(&w->mth, w->desc, hash, 0);
	if (err || !tree)
		return err;
	base = tree->base;
	if (((leaf + 1) & ((1ULL << base) - 1)) && leaf + 1 != tree->leaves)
		return 0;
	err = kvmtrust_mth_root(&w->mth, w->desc,
				kvmtrust_merkle_node(tree, base, leaf >> base));
	kvmtrust_mth_init(&w->mth);
	return err;
}

/* A full measurement that keeps its tree records every fingerprint. */
static void sink_fp(struct mem_worker *w, u64 leaf, const void *kaddr)
{
	if (w->job->st && !w->job->inc)
		w->job->st->fp[leaf] = kvmtrust_fingerprint(kaddr);
}

static int hash_page(struct mem_worker *w, struct page *page, u64 leaf,
		     u64 gpa, u8 *out, u64 *zeros)
{
	void *kaddr;
	int err;

	if (!page || is_zero_pfn(page_to_pfn(page))) {
		(*zeros)++;
		sink_fp(w, leaf, NULL);
		return kvmtrust_memory_leaf(w->desc, NULL, gpa, out);
	}
	kaddr = kmap_local_page(page);
	/* Memory the guest zeroed costs a scan, not a hash. */
	if (!memchr_inv(kaddr, 0, PAGE_SIZE)) {
		(*zeros)++;
		sink_fp(w, leaf, NULL);
		err = kvmtrust_memory_leaf(w->desc, NULL, gpa, out);
	} else {
		sink_fp(w, leaf, kaddr);
		err = kvmtrust_memory_leaf(w->desc, kaddr, gpa, out);
	}
	kunmap_local(kaddr);
	return err;
}

static int hash_batch(struct mem_worker *w, const struct mem_range *r,
		      u64 off, unsigned int nr, u64 leaf)
{
	u8 hash[KVMTRUST_HASH_LEN];
	unsigned int i;
	u64 zeros = 0;
	int err;

	err = pin_batch(w, r->hva + off * PAGE_SIZE, nr);
	if (err)
		return err;
	for (i = 0; i < nr && !err; i++) {
		err = hash_page(w, w->pages[i], leaf + i,
				r->gpa + (off + i) * PAGE_SIZE, hash, &zeros);
		if (!err)
			err = sink_leaf(w, leaf + i, hash);
	}
	put_pages(w->pages, nr);
	if (!w->job->inc)
		atomic64_add(zeros, &w->job->zero_pages);
	return err;
}

/*
 * How many pages from hva on (at most max) certainly read as zero. Untouched
 * memory comes in long runs, hashed without pinning anything.
 */
static u64 zero_run(struct mem_worker *w, unsigned long hva, u64 max)
{
	struct mm_struct *mm = w->job->mm;
	struct vm_area_struct *vma;
	u64 n = 0, z;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, hva);
	if (vma && kvmtrust_vma_reads_zero_when_unmapped(vma)) {
		max = min_t(u64, max, (vma->vm_end - hva) >> PAGE_SHIFT);
		for (; n < max; n += z) {
			z = kvmtrust_zero_pages_at(mm, hva + n * PAGE_SIZE, max - n);
			if (!z)
				break;
		}
	}
	mmap_read_unlock(mm);
	return n;
}

static int hash_zeros(struct mem_worker *w, const struct mem_range *r,
		      u64 off, u64 nr, u64 leaf)
{
	u8 hash[KVMTRUST_HASH_LEN];
	int err = 0;
	u64 i;

	for (i = 0; i < nr && !err; i++) {
		sink_fp(w, leaf + i, NULL);
		err = kvmtrust_memory_leaf(w->desc, NULL,
					   r->gpa + (off + i) * PAGE_SIZE, hash);
		if (!err)
			err = sink_leaf(w, leaf + i, hash);
	}
	if (!w->job->inc)
		atomic64_add(nr, &w->job->zero_pages);
	return err;
}

/* The next run of leaves from leaf on: zeros, or a batch to pin. */
static int hash_run(struct mem_worker *w, const struct mem_range *r, u64 off,
		    u64 max, u64 leaf, u64 *done)
{
	u64 z = zero_run(w, r->hva + off * PAGE_SIZE, min_t(u64, max, ZERO_BATCH));

	if (z) {
		*done = z;
		return hash_zeros(w, r, off, z, leaf);
	}
	*done = min_t(u64, max, PIN_BATCH);
	return hash_batch(w, r, off, *done, leaf);
}

static int hash_chunk(struct mem_worker *w, u64 c)
{
	struct mem_job *job = w->job;
	u64 first = c << job->chunk_shift;
	u64 end = min(first + (1ULL << job->chunk_shift), job->leaves);
	struct mem_range *r = range_of(job, first);
	u64 leaf, off, nr;
	unsigned int top, base;
	int err;

	kvmtrust_mth_init(&w->mth);
	for (leaf = first; leaf < end; leaf += nr) {
		err = job_should_stop(job);
		if (err)
			return err;
		off = leaf - r->first_leaf;
		err = hash_run(w, r, off, min(end - leaf, r->npages - off), leaf, &nr);
		if (err)
			return err;
		if (off + nr == r->npages)
			r++;
		cond_resched();
	}
	if (!job->tree)
		return kvmtrust_mth_root(&w->mth, w->desc, job->chunk_roots[c]);
	base = job->tree->base;
	top = min(job->chunk_shift, job->tree->nr_levels - 1);
	return kvmtrust_merkle_build(job->tree, w->desc, base, top, first >> base,
				     DIV_ROUND_UP_ULL(end, 1ULL << base));
}

/* A candidate's fingerprint against the kept one; marks its node if new. */
static void check_fp(struct mem_job *job, u64 leaf, u64 fp)
{
	u64 old = job->st->fp[leaf], zero = kvmtrust_fingerprint(NULL);

	if (old == fp)
		return;
	job->st->fp[leaf] = fp;
	set_bit(leaf >> job->tree->base, job->changed);
	atomic64_add((fp == zero) - (old == zero), &job->zero_pages);
}

/* Fingerprints the next run of nr candidates from leaf on; *done of them. */
static int fp_run(struct mem_worker *w, const struct mem_range *r, u64 off,
		  u64 nr, u64 leaf, u64 *done)
{
	struct mem_job *job = w->job;
	unsigned long hva = r->hva + off * PAGE_SIZE;
	struct page *page;
	unsigned int i;
	void *kaddr;
	u64 z;
	int err;

	z = zero_run(w, hva, min_t(u64, nr, ZERO_BATCH));
	if (z) {
		for (i = 0; i < z; i++)
			check_fp(job, leaf + i, kvmtrust_fingerprint(NULL));
		*done = z;
		return 0;
	}
	*done = min_t(u64, nr, PIN_BATCH);
	err = pin_batch(w, hva, *done);
	if (err)
		return err;
	for (i = 0; i < *done; i++) {
		page = w->pages[i];
		if (!page || is_zero_pfn(page_to_pfn(page))) {
			check_fp(job, leaf + i, kvmtrust_fingerprint(NULL));
			continue;
		}
		kaddr = kmap_local_page(page);
		check_fp(job, leaf + i, kvmtrust_fingerprint(kaddr));
		kunmap_local(kaddr);
	}
	put_pages(w->pages, *done);
	return 0;
}

/* The leaves under level-base node g, SHA-256ed again, give that node. */
static int hash_group(struct mem_worker *w, u64 g)
{
	struct mem_job *job = w->job;
	unsigned int base = job->tree->base;
	u64 first = g << base, end = min(first + (1ULL << base), job->leaves);
	struct mem_range *r = range_of(job, first);
	u64 leaf, off, nr;
	int err;

	kvmtrust_mth_init(&w->mth);
	for (leaf = first; leaf < end; leaf += nr) {
		if (leaf >= r->first_leaf + r->npages)
			r = range_of(job, leaf);
		off = leaf - r->first_leaf;
		err = hash_run(w, r, off, min(end - leaf, r->npages - off), leaf, &nr);
		if (err)
			return err;
	}
	atomic64_add(end - first, &job->hashed);
	return 0;
}

/*
 * Incremental: fingerprints the chunk's candidates, then re-hashes the
 * nodes of the lowest kept level that hold a changed page.
 */
static int inc_chunk(struct mem_worker *w, u64 c)
{
	struct mem_job *job = w->job;
	unsigned long *cand = job->st->cand;
	unsigned int base = job->tree->base;
	u64 first = c << job->chunk_shift;
	u64 end = min(first + (1ULL << job->chunk_shift), job->leaves);
	u64 leaf, run, nr, g;
	struct mem_range *r;
	int err;

	for (leaf = find_next_bit(cand, end, first); leaf < end;
	     leaf = find_next_bit(cand, end, leaf + nr)) {
		err = job_should_stop(job);
		if (err)
			return err;
		r = range_of(job, leaf);
		run = find_next_zero_bit(cand, min(end, r->first_leaf + r->npages),
					 leaf) - leaf;
		err = fp_run(w, r, leaf - r->first_leaf, run, leaf, &nr);
		if (err)
			return err;
		cond_resched();
	}
	end = DIV_ROUND_UP_ULL(end, 1ULL << base);
	for (g = find_next_bit(job->changed, end, first >> base); g < end;
	     g = find_next_bit(job->changed, end, g + 1)) {
		err = job_should_stop(job);
		if (!err)
			err = hash_group(w, g);
		if (err)
			return err;
		cond_resched();
	}
	return 0;
}

static void hash_chunks(struct mem_worker *w)
{
	struct mem_job *job = w->job;
	u64 c;
	int err;

	while ((c = atomic64_inc_return(&job->next_chunk) - 1) < job->nr_chunks) {
		err = job->inc ? inc_chunk(w, c) : hash_chunk(w, c);
		if (err) {
			job_fail(job, err, NULL);
			return;
		}
	}
}

void kvmtrust_memory_free(struct kvmtrust_mem_state *st)
{
	if (!st)
		return;
	kvmtrust_merkle_free(st->tree);
	kvfree(st->ranges);
	kvfree(st->cand);
	kfree(st);
}

static unsigned int want_level(void)
{
	return min_t(unsigned int, READ_ONCE(tree_level), MAX_TREE_LEVEL);
}

static void drop_state(struct kvmtrust_vm *vm)
{
	kvmtrust_memory_free(vm->mem);
	vm->mem = NULL;
}

/*
 * The kept state, if its tree and fingerprints fit within tree_max_mib and
 * the VMM's memory cgroup, which pays for them (we run in a kworker, which
 * would charge nobody). NULL and m->tree_note say why not.
 */
static struct kvmtrust_mem_state *retained_state(struct mem_job *job,
						 struct kvmtrust_measurement *m)
{
	struct kvmtrust_vm *vm = job->vm;
	unsigned int level = want_level();
	size_t fp_bytes = job->leaves * sizeof(u64);
	size_t bytes = kvmtrust_merkle_bytes(job->leaves, level) + fp_bytes;
	struct kvmtrust_mem_state *st = vm->mem;
	struct mem_cgroup *memcg, *old;

	if (!job->leaves || bytes <= fp_bytes ||
	    bytes > (size_t)READ_ONCE(tree_max_mib) << 20) {
		drop_state(vm);
		if (job->leaves)
			m->tree_note = KVMTRUST_MSG("the tree would exceed tree_max_mib; streamed");
		return NULL;
	}
	if (st && st->tree->leaves == job->leaves &&
	    st->tree->base == min(level, st->tree->nr_levels - 1))
		return st;
	drop_state(vm);
	memcg = get_mem_cgroup_from_mm(job->mm);
	old = set_active_memcg(memcg);
	st = kzalloc(sizeof(*st), GFP_KERNEL_ACCOUNT);
	if (st)
		st->tree = kvmtrust_merkle_alloc(job->leaves, level, fp_bytes,
						 GFP_KERNEL_ACCOUNT | __GFP_NOWARN |
						 __GFP_RETRY_MAYFAIL);
	set_active_memcg(old);
	mem_cgroup_put(memcg);
	if (!st || !st->tree) {
		kfree(st);
		m->tree_note = NO_ROOM_FOR_TREE;
		return NULL;
	}
	st->fp = st->tree->extra;
	vm->mem = st;
	return st;
}

/*
 * The kept tree fits this measurement's layout when every leaf is the page
 * of the same guest physical address: memslots may have been split, joined,
 * re-created or flagged differently since (a new generation: QEMU's PAM
 * registers when an incoming migration loads, dirty logging). A leaf whose
 * memory moved (another hva) becomes a candidate, so its fingerprint
 * decides; the others are tracked by soft-dirty at the same address as
 * before.
 */
static bool same_pages(struct kvmtrust_mem_state *st,
		       const struct mem_job *job)
{
	const struct mem_range *a = st->ranges, *b = job->ranges;
	unsigned int i = 0, j = 0;
	u64 leaf = 0, oa = 0, ob = 0, n;

	if (!a || st->tree->leaves != job->leaves)
		return false;
	while (i < st->nr_ranges && j < job->nr_ranges) {
		n = min(a[i].npages - oa, b[j].npages - ob);
		if (a[i].gpa + (oa << PAGE_SHIFT) != b[j].gpa + (ob << PAGE_SHIFT))
			return false;
		if (a[i].hva + (oa << PAGE_SHIFT) != b[j].hva + (ob << PAGE_SHIFT))
			bitmap_set(st->cand, leaf, n);
		leaf += n;
		oa += n;
		ob += n;
		if (oa == a[i].npages) {
			i++;
			oa = 0;
		}
		if (ob == b[j].npages) {
			j++;
			ob = 0;
		}
	}
	return i == st->nr_ranges && j == job->nr_ranges;
}

/*
 * Called by the vCPU reader just before it clears the soft-dirty bits,
 * with the guest paused: the bits say which pages were written since the
 * last measurement's clear. Whatever it finds, the kept state stops being
 * a base until this measurement succeeds. want: this measurement may be
 * incremental.
 */
void kvmtrust_memory_collect(struct kvmtrust_vm *vm, struct mm_struct *mm,
			     bool want)
{
	struct kvmtrust_mem_state *st = vm->mem;
	bool base;
	unsigned int i;

	vm->clear_foreign = atomic_read(&vm->foreign_clears);
	if (!st)
		return;
	base = st->base && st->foreign == vm->clear_foreign;
	st->base = false;
	kvfree(st->cand);
	st->cand = NULL;
	if (!want || !base)
		return;
	st->cand = kvcalloc(BITS_TO_LONGS(st->tree->leaves), sizeof(long),
			    GFP_KERNEL);
	for (i = 0; st->cand && i < st->nr_ranges; i++)
		kvmtrust_soft_dirty_collect(mm, st->ranges[i].hva,
					    st->ranges[i].npages, st->cand,
					    st->ranges[i].first_leaf);
}

/* Incremental if the last measurement left a base of the same pages. */
static bool plan_incremental(struct mem_job *job, u32 flags)
{
	struct kvmtrust_mem_state *st = job->st;

	if (!st || !st->cand || (flags & (KVMTRUST_MEASURE_F_FULL |
					   KVMTRUST_MEASURE_F_NO_VCPUS)) ||
	    !same_pages(st, job))
		return false;
	job->changed = bitmap_zalloc(st->tree->level_len[st->tree->base],
				     GFP_KERNEL);
	return job->changed;
}

static int plan_chunks(struct mem_job *job)
{
	u64 per = DIV_ROUND_UP_ULL(job->leaves ?: 1, MAX_CHUNKS);

	job->chunk_shift = max_t(unsigned int, MIN_CHUNK_SHIFT,
				 order_base_2(per));
	job->nr_chunks = DIV_ROUND_UP_ULL(job->leaves, 1ULL << job->chunk_shift);
	if (job->tree)
		return 0;
	job->chunk_roots = kvmalloc_array(job->nr_chunks ?: 1,
					  KVMTRUST_HASH_LEN, GFP_KERNEL);
	return job->chunk_roots ? 0 : -ENOMEM;
}

/* The chunk roots, streamed, or the kept tree's levels above them. */
static int memory_root(struct mem_job *job, struct shash_desc *desc, u8 *root)
{
	struct kvmtrust_merkle *tree = job->tree;
	struct kvmtrust_mth *mth;
	unsigned int from;
	u64 c;
	int err = 0;

	if (tree && job->inc) {
		err = kvmtrust_merkle_update(tree, desc, job->changed);
		if (!err)
			memcpy(root, kvmtrust_merkle_node(tree, tree->nr_levels - 1, 0),
			       KVMTRUST_HASH_LEN);
		return err;
	}
	if (tree) {
		from = max(min(job->chunk_shift, tree->nr_levels - 1), tree->base);
		err = kvmtrust_merkle_build(tree, desc, from, tree->nr_levels - 1,
					    0, tree->level_len[from]);
		if (!err)
			memcpy(root, kvmtrust_merkle_node(tree, tree->nr_levels - 1, 0),
			       KVMTRUST_HASH_LEN);
		return err;
	}
	mth = kmalloc(sizeof(*mth), GFP_KERNEL);
	if (!mth)
		return -ENOMEM;
	kvmtrust_mth_init(mth);
	for (c = 0; c < job->nr_chunks && !err; c++)
		err = kvmtrust_mth_push(mth, desc, job->chunk_roots[c],
					job->chunk_shift);
	if (!err)
		err = kvmtrust_mth_root(mth, desc, root);
	kfree(mth);
	return err;
}

/*
 * Runs on kvmtrust_hash_wq (unbound: any CPU). get_user_pages_remote takes
 * the mm it is given, which the measurement holds (mm_users), so the work
 * needs no kthread_use_mm; kmap_local_page needs no mm at all.
 */
static void hash_work(struct work_struct *work)
{
	hash_chunks(container_of(work, struct mem_worker, work));
}

/* One per online CPU (or the threads parameter), at most one per chunk. */
static unsigned int hash_threads(const struct mem_job *job, u32 flags)
{
	unsigned int n = READ_ONCE(threads) ?: num_online_cpus();

	if (flags & KVMTRUST_MEASURE_F_ONE_THREAD)
		n = 1;
	return clamp_t(u64, job->nr_chunks, 1, n);
}

static struct mem_worker *worker_alloc(struct mem_job *job)
{
	struct mem_worker *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (w)
		w->desc = kvmtrust_hash_desc_alloc();
	if (!w || !w->desc) {
		kfree(w);
		return NULL;
	}
	w->job = job;
	return w;
}

static void worker_free(struct mem_worker *w)
{
	if (!w)
		return;
	kvmtrust_hash_desc_free(w->desc);
	kfree(w);
}

/*
 * With the guest paused, no page may have been written since the vCPU
 * reader cleared the soft-dirty bits, before anything was read.
 */
static int unchanged(struct mem_job *job, struct kvmtrust_measurement *m)
{
	unsigned int i;

	for (i = 0; i < job->nr_ranges; i++) {
		if (kvmtrust_soft_dirty_since(job->mm, job->ranges[i].hva,
					      job->ranges[i].npages)) {
			m->msg = MEMORY_WRITTEN;
			return -EBUSY;
		}
	}
	m->unchanged = true;
	return 0;
}

static void workers_free(struct mem_worker **workers, unsigned int n)
{
	unsigned int i;

	for (i = 0; workers && i < n; i++)
		worker_free(workers[i]);
	kfree(workers);
}

/*
 * Hashes every chunk with up to n workers, the first in this thread, and
 * returns how many it used. Fewer when memory for more is short.
 */
static unsigned int hash_all(struct mem_job *job, struct mem_worker **workers,
			     unsigned int n)
{
	unsigned int i;

	for (i = 1; i < n; i++) {
		INIT_WORK(&workers[i]->work, hash_work);
		queue_work(kvmtrust_hash_wq, &workers[i]->work);
	}
	hash_chunks(workers[0]);
	for (i = 1; i < n; i++)
		flush_work(&workers[i]->work);
	return n;
}

/* Another process cleared soft-dirty bits since ours: nothing is proven. */
static int cleared_by_others(struct kvmtrust_vm *vm, struct kvmtrust_measurement *m)
{
	if (atomic_read(&vm->foreign_clears) == vm->clear_foreign)
		return 0;
	m->msg = KVMTRUST_MSG("another process cleared soft-dirty bits (clear_refs) meanwhile");
	return -EBUSY;
}

/* A successful measurement's state becomes the next one's base. */
static void keep_state(struct mem_job *job, u32 flags,
		       struct kvmtrust_measurement *m)
{
	struct kvmtrust_mem_state *st = job->st;

	if (!job->inc)
		st->zero_pages = atomic64_read(&job->zero_pages);
	else
		st->zero_pages += atomic64_read(&job->zero_pages);
	swap(st->ranges, job->ranges);
	st->nr_ranges = job->nr_ranges;
	/* Without the vCPU reader nothing cleared the bits: no base. */
	st->base = !(flags & KVMTRUST_MEASURE_F_NO_VCPUS);
	st->foreign = job->vm->clear_foreign;
	st->proven = true;
	memcpy(st->root, m->memory_root, KVMTRUST_HASH_LEN);
}

/*
 * Fills m's memory_root, pages and the figures around them. Runs as the
 * owner of the VM's measurement, with the VM's mm referenced.
 */
int kvmtrust_measure_memory(struct kvmtrust_vm *vm, struct mm_struct *mm,
			    u32 flags, struct kvmtrust_measurement *m)
{
	struct mem_job job = { .vm = vm, .mm = mm };
	struct mem_worker **workers = NULL;
	unsigned int n = 0, want;
	int err;

	if (vm->mem) {
		/* The tree changes from here on; a base needs the reader's clear. */
		vm->mem->proven = false;
		if (flags & KVMTRUST_MEASURE_F_NO_VCPUS)
			vm->mem->base = false;
	}
	err = snapshot_layout(&job);
	if (err)
		goto out;
	job.st = retained_state(&job, m);
	job.tree = job.st ? job.st->tree : NULL;
	job.inc = plan_incremental(&job, flags);
	err = plan_chunks(&job);
	if (err)
		goto out;
	want = hash_threads(&job, flags);
	workers = kcalloc(want, sizeof(*workers), GFP_KERNEL);
	for (n = 0; workers && n < want; n++) {
		workers[n] = worker_alloc(&job);
		if (!workers[n])
			break;
	}
	if (!n) {
		err = -ENOMEM;
		goto out;
	}
	m->threads = hash_all(&job, workers, n);
	err = atomic_read(&job.err);
	if (err) {
		m->msg = job.msg;
		goto out;
	}
	if (memslots_generation(vm->kvm) != job.gen) {
		err = -EAGAIN;
		m->msg = KVMTRUST_MSG("guest memory layout changed during the measurement; retry");
		goto out;
	}
	if (!(flags & KVMTRUST_MEASURE_F_NO_VCPUS)) {
		err = unchanged(&job, m);
		if (!err)
			err = cleared_by_others(vm, m);
		if (err)
			goto out;
	}
	err = memory_root(&job, workers[0]->desc, m->memory_root);
	if (err)
		goto out;
	m->pages = job.leaves;
	m->full = !job.inc;
	m->pages_hashed = job.inc ? atomic64_read(&job.hashed) : job.leaves;
	m->zero_pages = atomic64_read(&job.zero_pages);
	m->tree = job.tree ? KVMTRUST_TREE_RETAINED : KVMTRUST_TREE_STREAMED;
	m->tree_bytes = job.tree ? job.tree->bytes : 0;
	m->work_bytes += job.nr_ranges * sizeof(*job.ranges) +
			 n * (sizeof(struct mem_worker) + kvmtrust_hash_desc_size() +
			      sizeof(*workers)) + sizeof(struct kvmtrust_mth) +
			 (job.tree ? 0 : job.nr_chunks * KVMTRUST_HASH_LEN) +
			 (job.inc ? (BITS_TO_LONGS(job.leaves) +
				     BITS_TO_LONGS(job.tree->level_len[job.tree->base])) *
				    sizeof(long) : 0);
	if (job.st) {
		keep_state(&job, flags, m);
		m->zero_pages = job.st->zero_pages;
	}
out:
	if (job.st) {
		kvfree(job.st->cand);
		job.st->cand = NULL;
	}
	bitmap_free(job.changed);
	workers_free(workers, n);
	kvfree(job.chunk_roots);
	kvfree(job.ranges);
	return err;
}

/* The leaf at gpa in the kept layout, or -ENOENT. */
static int leaf_of_gpa(const struct kvmtrust_mem_state *st, u64 gpa, u64 *leaf,
		       const struct mem_range **range)
{
	unsigned int i;

	for (i = 0; i < st->nr_ranges; i++) {
		const struct mem_range *r = &st->ranges[i];

		if (gpa >= r->gpa && (gpa - r->gpa) >> PAGE_SHIFT < r->npages) {
			*leaf = r->first_leaf + ((gpa - r->gpa) >> PAGE_SHIFT);
			*range = r;
			return 0;
		}
	}
	return -ENOENT;
}

#define STALE KVMTRUST_MSG("stale: guest memory changed since the last measurement; measure again")

/*
 * Leaf hash of one page as it is now, if its fingerprint is still the
 * kept one (else -ESTALE: the tree no longer describes it).
 */
static int proof_leaf(struct mm_struct *mm, struct shash_desc *desc,
		      const struct kvmtrust_mem_state *st, u64 leaf, u8 *out)
{
	const struct mem_range *r = st->ranges;
	struct page *page = NULL;
	unsigned long hva;
	void *kaddr;
	long got;
	int err;
	u64 fp;

	while (leaf >= r->first_leaf + r->npages)
		r++;
	hva = r->hva + (leaf - r->first_leaf) * PAGE_SIZE;
	mmap_read_lock(mm);
	got = get_user_pages_remote(mm, hva, 1, 0, &page, NULL);
	mmap_read_unlock(mm);
	if (got != 1)
		return got < 0 ? got : -EFAULT;
	kaddr = kmap_local_page(page);
	fp = kvmtrust_fingerprint(kaddr);
	if (fp != st->fp[leaf])
		err = -ESTALE;
	else
		err = kvmtrust_memory_leaf(desc, kaddr,
					   r->gpa + (leaf - r->first_leaf) * PAGE_SIZE,
					   out);
	kunmap_local(kaddr);
	put_page(page);
	return err;
}

/*
 * RFC 9162 audit path of the page at gpa against the last memory_root
 * (Documentation/measurement.rst): the siblings below the kept level come
 * from the pages under the same level-base node, re-hashed from memory;
 * their node must come out as the kept one, else the proof is refused as
 * stale. Runs as the owner of the VM's measurement with mm referenced.
 */
int kvmtrust_memory_prove(struct kvmtrust_vm *vm, struct mm_struct *mm, u64 gpa,
			  const u8 *root, struct kvmtrust_proof *p,
			  const char **msg)
{
	struct kvmtrust_mem_state *st = vm->mem;
	u8 (*nodes)[KVMTRUST_HASH_LEN] = NULL;
	struct shash_desc *desc = NULL;
	const struct mem_range *range;
	struct kvmtrust_merkle *tree;
	u64 first, cnt, i, idx, sib;
	unsigned int k;
	int err;

	if (!st || !st->proven || memcmp(st->root, root, KVMTRUST_HASH_LEN)) {
		*msg = KVMTRUST_MSG("no tree kept for the last measurement; measure again");
		return -ENOENT;
	}
	tree = st->tree;
	if (leaf_of_gpa(st, gpa, &p->leaf_index, &range)) {
		*msg = KVMTRUST_MSG("gpa is not in the guest memory measured");
		return -ENOENT;
	}
	p->tree_size = tree->leaves;
	p->path_len = 0;
	first = p->leaf_index >> tree->base << tree->base;
	cnt = min(first + (1ULL << tree->base), tree->leaves) - first;
	nodes = kmalloc_array(cnt, KVMTRUST_HASH_LEN, GFP_KERNEL);
	desc = kvmtrust_hash_desc_alloc();
	err = nodes && desc ? 0 : -ENOMEM;
	for (i = 0; i < cnt && !err; i++)
		err = proof_leaf(mm, desc, st, first + i, nodes[i]);
	if (err)
		goto out;
	idx = p->leaf_index - first;
	memcpy(p->leaf_hash, nodes[idx], KVMTRUST_HASH_LEN);
	/* Below the kept level: the group's own subtree, in place. */
	for (k = 0; k < tree->base; k++) {
		sib = idx ^ 1;
		if (sib < cnt)
			memcpy(p->path[p->path_len++], nodes[sib], KVMTRUST_HASH_LEN);
		for (i = 0; 2 * i < cnt && !err; i++) {
			if (2 * i + 1 == cnt)
				memcpy(nodes[i], nodes[2 * i], KVMTRUST_HASH_LEN);
			else
				err = kvmtrust_node_hash(desc, nodes[2 * i],
							 nodes[2 * i + 1], nodes[i]);
		}
		cnt = DIV_ROUND_UP_ULL(cnt, 2);
		idx /= 2;
	}
	if (!err && memcmp(nodes[0], kvmtrust_merkle_node(tree, tree->base,
							  first >> tree->base),
			   KVMTRUST_HASH_LEN))
		err = -ESTALE;
	idx = first >> tree->base;
	for (k = tree->base; !err && k + 1 < tree->nr_levels; k++) {
		sib = idx ^ 1;
		if (sib < tree->level_len[k])
			memcpy(p->path[p->path_len++],
			       kvmtrust_merkle_node(tree, k, sib), KVMTRUST_HASH_LEN);
		idx /= 2;
	}
out:
	if (err == -ESTALE)
		*msg = STALE;
	else if (err && !*msg)
		*msg = KVMTRUST_MSG("cannot read the page's neighbours in the vmm");
	kvmtrust_hash_desc_free(desc);
	kfree(nodes);
	return err;
}
