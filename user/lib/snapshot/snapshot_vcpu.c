// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU registers in a snapshot: vcpus.bin, and vcpu_root recomputed from
 * them with the module's serialization (Documentation/measurement.rst,
 * "vcpu_root").
 */
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"

struct cursor {
	uint8_t *p;
};

static void put(struct cursor *c, uint64_t v, int bytes)
{
	int i;

	for (i = 0; i < bytes; i++)
		*c->p++ = v >> (8 * i);
}

static void put_segment(struct cursor *c, const struct kvm_segment *s)
{
	put(c, s->base, 8);
	put(c, s->limit, 4);
	put(c, s->selector, 2);
	put(c, s->type, 1);
	put(c, s->present, 1);
	put(c, s->dpl, 1);
	put(c, s->db, 1);
	put(c, s->s, 1);
	put(c, s->l, 1);
	put(c, s->g, 1);
	put(c, s->avl, 1);
	put(c, s->unusable, 1);
}

void kt_snap_vcpu_state(const struct kt_vcpu_regs *v, uint8_t out[KT_SNAP_VCPU_STATE])
{
	const struct kvm_regs *r = &v->regs;
	const struct kvm_sregs *s = &v->sregs;
	const uint64_t gprs[] = { r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp,
				  r->rbp, r->r8, r->r9, r->r10, r->r11, r->r12, r->r13,
				  r->r14, r->r15, r->rip, r->rflags };
	const struct kvm_segment *segs[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss,
					     &s->tr, &s->ldt };
	const uint64_t crs[] = { s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer,
				 s->apic_base };
	struct cursor c = { .p = out };
	size_t i;

	put(&c, v->id, 4);
	for (i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		put(&c, gprs[i], 8);
	for (i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
		put_segment(&c, segs[i]);
	put(&c, s->gdt.base, 8);
	put(&c, s->gdt.limit, 2);
	put(&c, s->idt.base, 8);
	put(&c, s->idt.limit, 2);
	for (i = 0; i < sizeof(crs) / sizeof(crs[0]); i++)
		put(&c, crs[i], 8);
}

static uint64_t get(const uint8_t **p, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < bytes; i++)
		v |= (uint64_t)*(*p)++ << (8 * i);
	return v;
}

static void get_segment(const uint8_t **p, struct kvm_segment *s)
{
	s->base = get(p, 8);
	s->limit = (uint32_t)get(p, 4);
	s->selector = (uint16_t)get(p, 2);
	s->type = (uint8_t)get(p, 1);
	s->present = (uint8_t)get(p, 1);
	s->dpl = (uint8_t)get(p, 1);
	s->db = (uint8_t)get(p, 1);
	s->s = (uint8_t)get(p, 1);
	s->l = (uint8_t)get(p, 1);
	s->g = (uint8_t)get(p, 1);
	s->avl = (uint8_t)get(p, 1);
	s->unusable = (uint8_t)get(p, 1);
}

void kt_snap_vcpu_unstate(const uint8_t in[KT_SNAP_VCPU_STATE], struct kt_vcpu_regs *v)
{
	struct kvm_regs *r = &v->regs;
	struct kvm_sregs *s = &v->sregs;
	__u64 *gprs[] = { &r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi, &r->rsp,
			  &r->rbp, &r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13,
			  &r->r14, &r->r15, &r->rip, &r->rflags };
	struct kvm_segment *segs[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss,
				       &s->tr, &s->ldt };
	__u64 *crs[] = { &s->cr0, &s->cr2, &s->cr3, &s->cr4, &s->cr8, &s->efer,
			 &s->apic_base };
	const uint8_t *p = in;
	size_t i;

	memset(v, 0, sizeof(*v));
	v->id = (uint32_t)get(&p, 4);
	for (i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		*gprs[i] = get(&p, 8);
	for (i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
		get_segment(&p, segs[i]);
	s->gdt.base = get(&p, 8);
	s->gdt.limit = (uint16_t)get(&p, 2);
	s->idt.base = get(&p, 8);
	s->idt.limit = (uint16_t)get(&p, 2);
	for (i = 0; i < sizeof(crs) / sizeof(crs[0]); i++)
		*crs[i] = get(&p, 8);
}

static int cmp_id(const void *a, const void *b)
{
	const struct kt_vcpu_regs *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

int kt_snap_vcpu_root(const struct kt_vcpu_regs *regs, size_t n, kt_hash out)
{
	struct kt_vcpu_regs *sorted = malloc((n ?: 1) * sizeof(*sorted));
	kt_hash *leaves = malloc((n ?: 1) * sizeof(*leaves));
	uint8_t state[KT_SNAP_VCPU_STATE];
	size_t i;

	if (!sorted || !leaves) {
		free(sorted);
		free(leaves);
		return -1;
	}
	memcpy(sorted, regs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_id);
	for (i = 0; i < n; i++) {
		kt_snap_vcpu_state(&sorted[i], state);
		kt_merkle_leaf_hash(state, sizeof(state), leaves[i]);
	}
	kt_merkle_root(leaves, n, out);
	free(sorted);
	free(leaves);
	return 0;
}

uint8_t *kt_snap_vcpus_bytes(const struct kt_snapshot *s, size_t *len)
{
	uint8_t *buf = malloc(s->nr_vcpu_regs * KT_SNAP_VCPU_RECORD + 1), *p = buf;
	size_t i;
	int b;

	if (!buf)
		return NULL;
	for (i = 0; i < s->nr_vcpu_regs; i++, p += KT_SNAP_VCPU_RECORD) {
		for (b = 0; b < 4; b++) {
			p[b] = s->vcpu_regs[i].index >> (8 * b);
			p[4 + b] = s->vcpu_regs[i].id >> (8 * b);
		}
		memcpy(p + 8, &s->vcpu_regs[i].regs, sizeof(struct kvm_regs));
		memcpy(p + 8 + sizeof(struct kvm_regs), &s->vcpu_regs[i].sregs,
		       sizeof(struct kvm_sregs));
	}
	*len = s->nr_vcpu_regs * KT_SNAP_VCPU_RECORD;
	return buf;
}

int kt_snap_vcpus_parse(struct kt_snapshot *s, const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;
	int b;

	if (len % KT_SNAP_VCPU_RECORD)
		return -1;
	s->nr_vcpu_regs = len / KT_SNAP_VCPU_RECORD;
	s->vcpu_regs = calloc(s->nr_vcpu_regs ?: 1, sizeof(*s->vcpu_regs));
	if (!s->vcpu_regs)
		return -1;
	for (i = 0; i < s->nr_vcpu_regs; i++, p += KT_SNAP_VCPU_RECORD) {
		for (b = 0; b < 4; b++) {
			s->vcpu_regs[i].index |= (uint32_t)p[b] << (8 * b);
			s->vcpu_regs[i].id |= (uint32_t)p[4 + b] << (8 * b);
		}
		memcpy(&s->vcpu_regs[i].regs, p + 8, sizeof(struct kvm_regs));
		memcpy(&s->vcpu_regs[i].sregs, p + 8 + sizeof(struct kvm_regs),
		       sizeof(struct kvm_sregs));
	}
	return 0;
}
