// SPDX-License-Identifier: GPL-2.0
/*
 * Checking a runtime integrity policy (runtime.h): the evidence of one
 * measurement, bound to its roots, and the verdict.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "policy/runtime.h"
#include "snapshot/snapshot.h"

#define GATHER_ATTEMPTS 3

/*
 * The leaves of one range, each proven in the measurement m: same
 * measurement, same root, audit path verified here. A leaf the kernel
 * could not prove any more (-ESTALE: a page under its node changed since)
 * is returned as such, so the caller measures again.
 */
static int range_root(struct kt_nl *nl, const struct kt_measurement *m,
		      const struct kt_rp_range *r, struct kt_proof *pf, kt_hash out,
		      struct kt_err *err)
{
	uint64_t n = r->len / KT_RP_PAGE, i;
	kt_hash *leaves = malloc(n * sizeof(*leaves));
	int ret = 0;

	if (!leaves)
		return kt_fail(err, "policy", "out of memory"), -ENOMEM;
	for (i = 0; i < n && !ret; i++) {
		uint64_t gpa = r->gpa + i * KT_RP_PAGE;

		ret = kt_nl_measure_prove(nl, m->vm_id, gpa, pf, err);
		if (ret == -ESTALE)
			kt_fail(err, "range", "range %s: 0x%" PRIx64 " changed since it was "
				"measured", r->name, gpa);
		if (ret == -ENOENT)
			kt_fail(err, "range", "range %s: 0x%" PRIx64 " is not guest memory "
				"(or no tree was kept)", r->name, gpa);
		if (ret)
			break;
		if (pf->seq != m->seq || memcmp(pf->memory_root, m->memory_root, KT_HASH_LEN))
			ret = (kt_fail(err, "proof", "range %s: 0x%" PRIx64 " proven in another "
				       "measurement (seq %" PRIu64 ", not %" PRIu64 ")", r->name,
				       gpa, pf->seq, m->seq), -EAGAIN);
		else if (kt_merkle_verify_inclusion(pf->leaf_hash, pf->leaf_index, pf->tree_size,
						    (const kt_hash *)pf->path, pf->path_len,
						    m->memory_root))
			ret = (kt_fail(err, "proof", "range %s: the audit path of 0x%" PRIx64
				       " does not lead to memory_root", r->name, gpa), -EBADMSG);
		else
			memcpy(leaves[i], pf->leaf_hash, KT_HASH_LEN);
	}
	if (!ret)
		kt_merkle_root(leaves, n, out);
	free(leaves);
	return ret;
}

int kt_rp_measured_vcpus(const struct kt_measurement *m, uint64_t seq, const uint8_t *states,
			 size_t n, struct kt_rp_evidence *ev, struct kt_err *err)
{
	kt_hash root;
	size_t i;

	kt_rp_evidence_free(ev);
	if (!m->has_vcpu_root)
		return kt_fail(err, "vcpu", "the measurement has no vcpu_root"), -EINVAL;
	if (seq != m->seq)
		return kt_fail(err, "stale", "the vm's latest measurement is not measurement %"
			       PRIu64 " (another one replaced it): measure again", m->seq),
		       -ESTALE;
	if (!n)
		return kt_fail(err, "vcpu", "measurement %" PRIu64 " kept no vcpu states (a "
			       "module that predates them?)", m->seq), -ENOENT;
	ev->regs = calloc(n, sizeof(*ev->regs));
	if (!ev->regs)
		return kt_fail(err, "vcpu", "out of memory"), -ENOMEM;
	for (i = 0; i < n; i++) {
		kt_snap_vcpu_unstate(states + i * KT_SNAP_VCPU_STATE, &ev->regs[i]);
		ev->regs[i].index = (uint32_t)i;
	}
	ev->nr_regs = n;
	if (kt_snap_vcpu_root(ev->regs, ev->nr_regs, root))
		return kt_fail(err, "vcpu", "out of memory"), -ENOMEM;
	if (n != m->vcpus || memcmp(root, m->vcpu_root, KT_HASH_LEN)) {
		kt_rp_evidence_free(ev);
		return kt_fail(err, "vcpu", "the vcpu states returned do not hash to the "
			       "measured vcpu_root: refused"), -EBADMSG;
	}
	return 0;
}

/* The registers the measurement m hashed, kept by the module (runtime.h). */
static int read_vcpus(struct kt_nl *nl, const struct kt_measurement *m,
		      struct kt_rp_evidence *ev, struct kt_err *err)
{
	uint8_t *states = NULL;
	uint64_t seq;
	size_t n;
	int ret;

	ret = kt_nl_measured_states(nl, m->vm_id, &seq, &states, &n, err);
	if (!ret)
		ret = kt_rp_measured_vcpus(m, seq, states, n, ev, err);
	free(states);
	/* Replaced by another measurement: gather measures again. */
	return ret == -ESTALE ? -EAGAIN : ret;
}

static int gather_once(struct kt_nl *nl, uint32_t vm_id, uint32_t flags,
		       const struct kt_rp_policy *p, struct kt_rp_evidence *ev,
		       struct kt_proof *pf, struct kt_err *err)
{
	size_t i;
	int ret;

	ret = kt_nl_measure(nl, vm_id, flags | KVMTRUST_MEASURE_F_FREEZE, &ev->m, err);
	ev->attempts++;
	ev->stale_range = -1;
	for (i = 0; !ret && i < p->nr_ranges; i++) {
		ret = range_root(nl, &ev->m, &p->ranges[i], pf, ev->roots[i], err);
		if (ret == -ESTALE)
			ev->stale_range = (int)i;
	}
	if (!ret && p->nr_preds)
		ret = read_vcpus(nl, &ev->m, ev, err);
	return ret;
}

int kt_rp_gather(struct kt_nl *nl, uint32_t vm_id, uint32_t flags,
		 const struct kt_rp_policy *p, struct kt_rp_evidence *ev, struct kt_err *err)
{
	struct kt_proof *pf = malloc(sizeof(*pf));
	int ret;

	memset(ev, 0, sizeof(*ev));
	ev->stale_range = -1;
	if (!pf)
		return kt_fail(err, "policy", "out of memory"), -ENOMEM;
	do {
		ret = gather_once(nl, vm_id, flags, p, ev, pf, err);
	} while ((ret == -ESTALE || ret == -EBUSY || ret == -EAGAIN) &&
		 ev->attempts < GATHER_ATTEMPTS);
	free(pf);
	/* A protected range that changes under every measurement fails the policy. */
	if (ret == -ESTALE && ev->stale_range >= 0)
		return 0;
	if (ret)
		kt_rp_evidence_free(ev);
	return ret;
}

void kt_rp_evidence_free(struct kt_rp_evidence *ev)
{
	free(ev->regs);
	ev->regs = NULL;
	ev->nr_regs = 0;
}

static bool pred_holds(const struct kt_rp_pred *pr, uint64_t v)
{
	switch (pr->op) {
	case KT_RP_EQ:
		return v == pr->value;
	case KT_RP_BITS_SET:
		return (v & pr->value) == pr->value;
	default:
		return !(v & pr->value);
	}
}

/* The first vCPU pr applies to where it does not hold; NULL if none. */
static const struct kt_vcpu_regs *pred_fails(const struct kt_rp_pred *pr,
					     const struct kt_rp_evidence *ev, bool *missing)
{
	size_t i;

	/* A predicate on every vCPU of a VM without any holds for none. */
	*missing = pr->vcpu >= 0 || !ev->nr_regs;
	for (i = 0; i < ev->nr_regs; i++) {
		if (pr->vcpu >= 0 && ev->regs[i].id != (uint32_t)pr->vcpu)
			continue;
		*missing = false;
		if (!pred_holds(pr, kt_rp_reg_value(&ev->regs[i].sregs, pr->reg)))
			return &ev->regs[i];
	}
	return NULL;
}

int kt_rp_learn(struct kt_rp_policy *p, const bool *learn, const struct kt_rp_evidence *ev,
		struct kt_err *err)
{
	struct kt_rp_pred preds[KT_RP_MAX_PREDS];
	const struct kt_vcpu_regs *bad;
	size_t i, j, n = 0;
	bool missing;

	if (ev->stale_range >= 0)
		return kt_fail(err, "range", "range %s changed after each of %u measurements: "
			       "not a state to learn from", p->ranges[ev->stale_range].name,
			       ev->attempts);
	for (i = 0; i < p->nr_ranges; i++)
		memcpy(p->ranges[i].root, ev->roots[i], KT_HASH_LEN);
	for (i = 0; i < p->nr_preds; i++) {
		if (!learn[i]) {
			bad = pred_fails(&p->preds[i], ev, &missing);
			if (bad)
				return kt_fail(err, "vcpu-pred", "%s does not hold on vcpu %u: not a "
					       "state to learn from", p->preds[i].name, bad->id);
			if (missing)
				return kt_fail(err, "vcpu-pred", "%s: the VM has no vCPUs",
					       p->preds[i].name);
			if (n == KT_RP_MAX_PREDS)
				goto too_many;
			preds[n++] = p->preds[i];
			continue;
		}
		for (j = 0; j < ev->nr_regs; j++) {
			if (n == KT_RP_MAX_PREDS)
				goto too_many;
			preds[n] = p->preds[i];
			preds[n].vcpu = (int32_t)ev->regs[j].id;
			preds[n++].value = kt_rp_reg_value(&ev->regs[j].sregs, p->preds[i].reg);
		}
	}
	memcpy(p->preds, preds, n * sizeof(preds[0]));
	p->nr_preds = n;
	return 0;
too_many:
	return kt_fail(err, "vcpu-pred", "more than %d predicates (one per vCPU for a register)",
		       KT_RP_MAX_PREDS);
}

void kt_rp_evaluate(const struct kt_rp_policy *p, const struct kt_rp_evidence *ev,
		    struct kt_rp_verdict *v)
{
	const struct kt_vcpu_regs *bad;
	char want[2 * KT_HASH_LEN + 1], got[2 * KT_HASH_LEN + 1];
	bool missing;
	size_t i;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < p->nr_ranges; i++) {
		const struct kt_rp_range *r = &p->ranges[i];

		if (ev->stale_range == (int)i) {
			snprintf(v->failed, sizeof(v->failed), "range %s", r->name);
			snprintf(v->why, sizeof(v->why), "range %s changed after each of %u "
				 "measurements", r->name, ev->attempts);
			return;
		}
		if (!memcmp(r->root, ev->roots[i], KT_HASH_LEN))
			continue;
		kt_hex_encode(ev->roots[i], KT_HASH_LEN, got);
		kt_hex_encode(r->root, KT_HASH_LEN, want);
		snprintf(v->failed, sizeof(v->failed), "range %s", r->name);
		snprintf(v->why, sizeof(v->why), "range %s (0x%" PRIx64 "+0x%" PRIx64
			 ") root %.16s..., expected %.16s...", r->name, r->gpa, r->len, got, want);
		return;
	}
	for (i = 0; i < p->nr_preds; i++) {
		const struct kt_rp_pred *pr = &p->preds[i];

		bad = pred_fails(pr, ev, &missing);
		if (!bad && !missing)
			continue;
		snprintf(v->failed, sizeof(v->failed), "vcpu %s", pr->name);
		if (missing && pr->vcpu < 0)
			snprintf(v->why, sizeof(v->why), "vcpu %s: the VM has no vCPUs", pr->name);
		else if (missing)
			snprintf(v->why, sizeof(v->why), "vcpu %s: the VM has no vcpu %d",
				 pr->name, pr->vcpu);
		else
			snprintf(v->why, sizeof(v->why), "vcpu %s: vcpu %u %s = 0x%" PRIx64
				 ", wanted %s 0x%" PRIx64, pr->name, bad->id,
				 kt_rp_reg_name(pr->reg), kt_rp_reg_value(&bad->sregs, pr->reg),
				 pr->op == KT_RP_EQ ? "equal to" :
				 pr->op == KT_RP_BITS_SET ? "bits set" : "bits clear", pr->value);
		return;
	}
	v->pass = true;
}
