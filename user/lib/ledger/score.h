/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Dynamic trust score of a VM, computed from the ledger alone so every host
 * reading the same log at the same evaluation time gets the same number.
 * Rules (Documentation/ledger.rst, "Scoring"), applied in this order with
 * the score clamped to [0, 100] after every step:
 *
 *  1. start at 100;
 *  2. each attestation entry of the VM, in log order: pass +5, fail -20;
 *  3. if the host the VM is on (its latest attest or move entry) is
 *     compromised: -50. A host is compromised when the log holds a
 *     compromise entry for it, a revoke entry for it, or 3 failed
 *     attestations of VMs on it within 24 hours (any 24 h window);
 *  4. time decay: -1 per full hour from the VM's last entry to `now`;
 *  5. a revoke entry for the VM sets the score to 0.
 *
 * Entries dated after `now` are left out; entries signed by a host after
 * that host's revocation are listed as ignored and count for nothing;
 * register entries (owner.h) say who owns the VM, not how it behaves, and
 * count for nothing either.
 * Decision: score > 75 allow; 50 <= score <= 75 (both ends included) allow
 * only after extra verification (a full integrity check); score < 50 deny.
 * The last result counts: when the VM's latest attestation (in log order)
 * failed, the decision is at best verify, whatever the score.
 */
#ifndef KVMTRUST_SCORE_H
#define KVMTRUST_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ledger/ledger.h"

#define KT_SCORE_START 100
#define KT_SCORE_MAX 100
#define KT_SCORE_PASS 5
#define KT_SCORE_FAIL (-20)
#define KT_SCORE_DECAY_SECONDS 3600
#define KT_SCORE_COMPROMISE_PENALTY 50
#define KT_SCORE_COMPROMISE_FAILS 3
#define KT_SCORE_COMPROMISE_WINDOW (24 * 3600)
#define KT_SCORE_ALLOW_ABOVE 75		/* > 75: allow */
#define KT_SCORE_DENY_BELOW 50		/* < 50: deny; 50..75: verify */

enum kt_score_decision {
	KT_SCORE_ALLOW,		/* may migrate anywhere */
	KT_SCORE_VERIFY,	/* may migrate after a full integrity check */
	KT_SCORE_DENY,		/* migration blocked */
};

struct kt_score_step {
	uint64_t index;		/* the ledger entry behind this step */
	const char *reason;	/* pass, fail, move, host-compromised, decay, revoked, ignored */
	int delta;		/* change the rule asked for, before clamping */
	int score;		/* score after the step, clamped */
};

struct kt_score_result {
	int score;
	enum kt_score_decision decision;
	uint8_t host_id[KT_UUID_LEN];	/* host the VM is on, per the log */
	bool host_compromised;
	bool revoked;
	uint8_t last_result;		/* of the VM's latest attestation, or KT_LEDGER_NONE */
	uint64_t last_attest;		/* its entry index */
	uint64_t last_time;		/* time of the VM's last entry */
	size_t nsteps;
	struct kt_score_step *steps;	/* entries that contributed, in order applied */
};

/*
 * Scores vm_id at time `now` from a verified walk of the whole log (a log
 * that fails verification gives no score). -1 with check "vm" when the log
 * has no entry for the VM.
 */
int kt_score_compute(struct kt_ledger *log, const char *vm_id, uint64_t now,
		     struct kt_score_result *res, struct kt_err *err);
void kt_score_result_free(struct kt_score_result *res);

/* The thresholds, then the last result: a failed latest attestation caps it at verify. */
enum kt_score_decision kt_score_decide(int score, bool last_failed);
const char *kt_score_decision_name(enum kt_score_decision d);

/* The same computation fed entry by entry (tests, and callers with their own walk). */
struct kt_score;
struct kt_score *kt_score_new(const char *vm_id, uint64_t now);
int kt_score_feed(struct kt_score *s, const struct kt_ledger_entry *e);
int kt_score_finish(struct kt_score *s, struct kt_score_result *res, struct kt_err *err);
void kt_score_free(struct kt_score *s);

/*
 * The rules for the VM's own entries (2. above and what 3.-5. read), shared
 * by kt_score_feed() and the checkpoint's fold: v after entry e of the VM,
 * counted (not dated later, not from a revoked signer, not a register).
 * Returns the step's reason and *delta, or NULL when e is not a step.
 */
void kt_score_vm_init(struct kt_ledger_vm_state *v);
const char *kt_score_vm_apply(struct kt_ledger_vm_state *v, const struct kt_ledger_entry *e,
			      int *delta);
/* Appends a failure to a growing array (-1: out of memory). */
int kt_score_add_fail(struct kt_ledger_fail **fails, size_t *n, size_t *cap, uint64_t time,
		      uint64_t index);

/*
 * Whether host_id is compromised by rule 3 above (compromise entry, revoke
 * entry, or the failure burst), from the entries fed so far; *cause is the
 * entry that made it so. The migration decision asks this of the
 * destination host, which need not be the host the VM is on.
 */
bool kt_score_host_compromised(struct kt_score *s, const uint8_t host_id[KT_UUID_LEN],
			       uint64_t *cause);

#endif
