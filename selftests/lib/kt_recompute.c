// SPDX-License-Identifier: GPL-2.0
/* Userspace recomputation of memory_root and vcpu_root; see kt_recompute.h. */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/evp.h>

#include "kt_recompute.h"

/* Leaf data (format 2): the page, then le64(guest physical address). */
static void page_leaf(const uint8_t *page, uint64_t gpa, kt_hash out)
{
	uint8_t leaf[KT_PAGE_SIZE + 8];
	uint64_t le = htole64(gpa);

	memcpy(leaf, page, KT_PAGE_SIZE);
	memcpy(leaf + KT_PAGE_SIZE, &le, 8);
	kt_merkle_leaf_hash(leaf, sizeof(leaf), out);
}

/* SHA-256 of 0x00 || zero page, kept; each zero leaf adds its address. */
static void zero_leaf(EVP_MD_CTX *zero, uint64_t gpa, kt_hash out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t le = htole64(gpa);
	unsigned int len;

	kt_assert(ctx && EVP_MD_CTX_copy_ex(ctx, zero) && EVP_DigestUpdate(ctx, &le, 8) &&
		  EVP_DigestFinal_ex(ctx, out, &len), "sha256 failed");
	EVP_MD_CTX_free(ctx);
}

static EVP_MD_CTX *zero_state(void)
{
	static const uint8_t zeros[KT_PAGE_SIZE], tag;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	kt_assert(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
		  EVP_DigestUpdate(ctx, &tag, 1) && EVP_DigestUpdate(ctx, zeros, sizeof(zeros)),
		  "sha256 failed");
	return ctx;
}

/*
 * Which pages of a slot are resident: the others were never touched and
 * read as zero, so a 4 GiB sparse guest is recomputed without faulting
 * in a million pages. A slot mincore cannot describe is all "resident".
 */
static unsigned char *resident_pages(const struct kt_memslot *s)
{
	unsigned char *vec = malloc(s->size / KT_PAGE_SIZE);

	kt_assert(vec, "out of memory");
	if (mincore(s->hva, s->size, vec))
		memset(vec, 1, s->size / KT_PAGE_SIZE);
	return vec;
}

kt_hash *kt_memory_leaves(struct kt_vm *vm, uint64_t *nr_leaves)
{
	const struct kt_memslot *slots[KT_MAX_SLOTS];
	EVP_MD_CTX *zero = zero_state();
	unsigned char *resident;
	uint64_t n = 0, off;
	kt_hash *leaves;
	unsigned int i;

	leaves = calloc(kt_vm_pages(vm), sizeof(*leaves));
	kt_assert(leaves, "out of memory");
	kt_vm_slots_by_gpa(vm, slots);
	for (i = 0; i < vm->nr_slots; i++) {
		resident = resident_pages(slots[i]);
		for (off = 0; off < slots[i]->size; off += KT_PAGE_SIZE) {
			if (resident[off / KT_PAGE_SIZE] & 1)
				page_leaf(slots[i]->hva + off, slots[i]->gpa + off, leaves[n++]);
			else
				zero_leaf(zero, slots[i]->gpa + off, leaves[n++]);
		}
		free(resident);
	}
	EVP_MD_CTX_free(zero);
	*nr_leaves = n;
	return leaves;
}

void kt_memory_root(struct kt_vm *vm, kt_hash root)
{
	uint64_t n;
	kt_hash *leaves = kt_memory_leaves(vm, &n);

	kt_merkle_root(leaves, n, root);
	free(leaves);
}

struct writer {
	uint8_t *p;
};

static void w8(struct writer *w, uint8_t v)
{
	*w->p++ = v;
}

static void wle(struct writer *w, uint64_t v, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++)
		*w->p++ = v >> (8 * i);
}

static void segment(struct writer *w, const struct kvm_segment *s)
{
	wle(w, s->base, 8);
	wle(w, s->limit, 4);
	wle(w, s->selector, 2);
	w8(w, s->type);
	w8(w, s->present);
	w8(w, s->dpl);
	w8(w, s->db);
	w8(w, s->s);
	w8(w, s->l);
	w8(w, s->g);
	w8(w, s->avl);
	w8(w, s->unusable);
}

void kt_vcpu_state(uint32_t vcpu_id, const struct kvm_regs *r, const struct kvm_sregs *s,
		   uint8_t out[KT_VCPU_STATE_LEN])
{
	const uint64_t gprs[] = {
		r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
		r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
		r->rip, r->rflags,
	};
	const struct kvm_segment *segs[] = {
		&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt,
	};
	const uint64_t crs[] = { s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer, s->apic_base };
	struct writer w = { out };
	unsigned int i;

	wle(&w, vcpu_id, 4);
	for (i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		wle(&w, gprs[i], 8);
	for (i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
		segment(&w, segs[i]);
	wle(&w, s->gdt.base, 8);
	wle(&w, s->gdt.limit, 2);
	wle(&w, s->idt.base, 8);
	wle(&w, s->idt.limit, 2);
	for (i = 0; i < sizeof(crs) / sizeof(crs[0]); i++)
		wle(&w, crs[i], 8);
	kt_assert(w.p - out == KT_VCPU_STATE_LEN, "vCPU state is %zd bytes", w.p - out);
}

void kt_vcpu_leaves(struct kt_vm *vm, kt_hash *leaves, bool by_id)
{
	uint8_t state[KT_VCPU_STATE_LEN];
	struct kt_vcpu *order[KT_MAX_VCPUS], *t;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	unsigned int i, j;

	for (i = 0; i < vm->nr_vcpus; i++)
		order[i] = &vm->vcpus[i];
	/* Insertion sort by KVM_CREATE_VCPU id: the documented leaf order. */
	for (i = 1; by_id && i < vm->nr_vcpus; i++) {
		for (j = i; j > 0 && order[j - 1]->id > order[j]->id; j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	}
	for (i = 0; i < vm->nr_vcpus; i++) {
		kt_vcpu_get_regs(order[i], &regs);
		kt_vcpu_get_sregs(order[i], &sregs);
		kt_vcpu_state(order[i]->id, &regs, &sregs, state);
		kt_merkle_leaf_hash(state, sizeof(state), leaves[i]);
	}
}

void kt_vcpu_root(struct kt_vm *vm, kt_hash root)
{
	kt_hash leaves[KT_MAX_VCPUS];

	kt_vcpu_leaves(vm, leaves, true);
	kt_merkle_root(leaves, vm->nr_vcpus, root);
}

struct kt_vm *kt_vm_from_dump(const char *path)
{
	FILE *f = fopen(path, "r");
	struct kt_vm *vm;
	uint64_t hdr[2];
	struct kt_memslot *s;

	if (!f)
		return NULL;
	vm = calloc(1, sizeof(*vm));
	kt_assert(vm, "out of memory");
	vm->kvm_fd = vm->fd = -1;
	while (fread(hdr, sizeof(hdr), 1, f) == 1) {
		kt_assert(vm->nr_slots < KT_MAX_SLOTS, "%s: too many memslots", path);
		s = &vm->slots[vm->nr_slots++];
		s->slot = vm->nr_slots - 1;
		s->gpa = le64toh(hdr[0]);
		s->size = le64toh(hdr[1]);
		s->hva = malloc(s->size);
		kt_assert(s->hva && fread(s->hva, 1, s->size, f) == s->size,
			  "%s: short memslot at %#llx", path, (unsigned long long)s->gpa);
	}
	fclose(f);
	return vm;
}

void kt_vm_dump_free(struct kt_vm *vm)
{
	unsigned int i;

	for (i = 0; vm && i < vm->nr_slots; i++)
		free(vm->slots[i].hva);
	free(vm);
}

int kt_vcpu_leaf_from_file(const char *path, uint32_t vcpu_id, kt_hash leaf)
{
	uint8_t state[KT_VCPU_STATE_LEN];
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = fread(&regs, sizeof(regs), 1, f) == 1 && fread(&sregs, sizeof(sregs), 1, f) == 1;
	fclose(f);
	if (!ok)
		return -1;
	kt_vcpu_state(vcpu_id, &regs, &sregs, state);
	kt_merkle_leaf_hash(state, sizeof(state), leaf);
	return 0;
}
