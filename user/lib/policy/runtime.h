/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The runtime integrity policy of one guest (Documentation/policy.rst): the
 * guest-physical ranges that must not change, each with its expected RFC
 * 9162 root over the leaf hashes of its pages, and predicates on every
 * vCPU's control registers. The kernel only hashes; this file decides.
 *
 *	struct kt_rp_policy p;
 *	struct kt_rp_evidence ev;
 *	struct kt_rp_verdict v;
 *
 *	if (!kt_rp_load("web1.json", &p, &err) &&
 *	    !kt_rp_gather(nl, vm_id, &p, &ev, &err))
 *		kt_rp_evaluate(&p, &ev, &v);	// v.pass, v.failed names what
 *
 * Evidence is bound to one measurement: every page's leaf comes with its
 * audit path, checked here against that measurement's memory_root, and the
 * registers read back must hash to its vcpu_root.
 */
#ifndef KVMTRUST_POLICY_RUNTIME_H
#define KVMTRUST_POLICY_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/merkle.h"
#include "measure/kt_nl.h"

#define KT_RP_VERSION 1
#define KT_RP_NAME_MAX 48
#define KT_RP_MAX_RANGES 32
#define KT_RP_MAX_PREDS 32
#define KT_RP_MAX_RANGE_PAGES 4096	/* 16 MiB a range */
#define KT_RP_MAX_VCPUS 1024
#define KT_RP_FILE_MAX (1 << 20)
#define KT_RP_PAGE 4096ULL

/* The registers a predicate may test ("reg" in the JSON). */
enum kt_rp_reg {
	KT_RP_CR0,
	KT_RP_CR3,
	KT_RP_CR4,
	KT_RP_EFER,
	KT_RP_IDT_BASE,
	KT_RP_IDT_LIMIT,
	KT_RP_GDT_BASE,
	KT_RP_GDT_LIMIT,
	KT_RP_NR_REGS,
};

/* "op": equal to value, every bit of value set, every bit of value clear. */
enum kt_rp_op { KT_RP_EQ, KT_RP_BITS_SET, KT_RP_BITS_CLEAR, KT_RP_NR_OPS };

struct kt_rp_range {
	char name[KT_RP_NAME_MAX + 1];
	uint64_t gpa, len;		/* page aligned, len > 0 */
	kt_hash root;			/* RFC 9162 root over its pages' leaves */
};

struct kt_rp_pred {
	char name[KT_RP_NAME_MAX + 1];
	enum kt_rp_reg reg;
	enum kt_rp_op op;
	uint64_t value;
	int32_t vcpu;			/* a vCPU id, -1: every vCPU */
};

/* Fixed size, so that a copy (the daemon's per-guest config) owns nothing. */
struct kt_rp_policy {
	struct kt_rp_range ranges[KT_RP_MAX_RANGES];
	size_t nr_ranges;
	struct kt_rp_pred preds[KT_RP_MAX_PREDS];
	size_t nr_preds;
};

/* Strict: an unknown key, a missing one or a bad value is refused by name. */
int kt_rp_parse(const char *text, size_t len, struct kt_rp_policy *p, struct kt_err *err);
int kt_rp_load(const char *path, struct kt_rp_policy *p, struct kt_err *err);
/* The policy as JSON text (malloc'd, newline ended); NULL when out of memory. */
char *kt_rp_dump(const struct kt_rp_policy *p);

/* "GPA:LEN" (C literals) as a range named "GPA:LEN" in hex; -1 if not one. */
int kt_rp_range_arg(const char *arg, struct kt_rp_range *r, struct kt_err *err);
/*
 * A predicate to learn: "cr0.wp", "cr0.pg", "cr4.smep", "cr4.smap",
 * "efer.nxe" (that bit set), or a register name ("cr3", "idt.base", ...):
 * equal to what each vCPU holds when learnt (*learn set).
 */
int kt_rp_pred_arg(const char *arg, struct kt_rp_pred *pr, bool *learn, struct kt_err *err);

/* A register of kvm_sregs a predicate tests, and its name in the JSON. */
uint64_t kt_rp_reg_value(const struct kvm_sregs *s, enum kt_rp_reg reg);
const char *kt_rp_reg_name(enum kt_rp_reg reg);

/* What one measurement says about the policy's ranges and vCPUs. */
struct kt_rp_evidence {
	struct kt_measurement m;
	kt_hash roots[KT_RP_MAX_RANGES];	/* per range of the policy */
	struct kt_vcpu_regs *regs;		/* by index; NULL without predicates */
	size_t nr_regs;
	unsigned int attempts;			/* measurements it took */
	int stale_range;			/* changed after every one, -1: none */
};

/*
 * Measures the VM (flags: KVMTRUST_MEASURE_F_* besides FREEZE, which is
 * always set) and reads the leaves of every range page by page
 * (KVMTRUST_CMD_MEASURE_PROVE, audit path verified against the measured
 * memory_root) and, when p has predicates, every vCPU's registers as the
 * measurement read them inside its freeze (KVMTRUST_A_MEASURE_VCPU_STATE
 * of MEASURE_GET, checked to hash to vcpu_root), so a running guest is
 * checked too. A page written since, or the measurement replaced by
 * another, makes it measure again, up to 3 times; then an error, or
 * 0 with ev->stale_range naming the range that kept changing, which
 * kt_rp_evaluate() fails. 0 or a negative errno with err set.
 */
int kt_rp_gather(struct kt_nl *nl, uint32_t vm_id, uint32_t flags,
		 const struct kt_rp_policy *p, struct kt_rp_evidence *ev, struct kt_err *err);
void kt_rp_evidence_free(struct kt_rp_evidence *ev);

/*
 * Fills ev's registers from the vCPU states (n serializations of
 * KT_SNAP_VCPU_STATE bytes) that MEASURE_GET returned with the VM's latest
 * measurement, numbered seq, for the measurement m: refused with -ESTALE
 * ("stale") unless seq is m's, -ENOENT if there are none, -EBADMSG unless
 * they hash to m's vcpu_root (one per vCPU). 0 or a negative errno with
 * err set.
 */
int kt_rp_measured_vcpus(const struct kt_measurement *m, uint64_t seq, const uint8_t *states,
			 size_t n, struct kt_rp_evidence *ev, struct kt_err *err);

/*
 * Fills what p learns from ev: each range's root, and each predicate made
 * by kt_rp_pred_arg() with *learn, replaced by one per vCPU holding its
 * value (learn[i] for p->preds[i]). A bit predicate that does not hold on
 * some vCPU is refused: the guest is not in the state to learn.
 */
int kt_rp_learn(struct kt_rp_policy *p, const bool *learn, const struct kt_rp_evidence *ev,
		struct kt_err *err);

struct kt_rp_verdict {
	bool pass;
	char failed[KT_RP_NAME_MAX + 16];	/* "range NAME", "vcpu NAME", "" */
	char why[256];
};

/* Ranges first, in order, then predicates; the first failing one is named. */
void kt_rp_evaluate(const struct kt_rp_policy *p, const struct kt_rp_evidence *ev,
		    struct kt_rp_verdict *v);

#endif
