/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What grants and the migration decision keep in and read from the trust
 * ledger (ledger.h), so every host sees the same revocations, flags and
 * scores:
 *
 *   grant revocation   a revoke entry whose vm_id is "grant:<grant id>"
 *                      (vm_id admits ':'; VM ids are bare UUIDs, so the
 *                      prefix keeps the two name spaces apart)
 *   host revocation    a revoke entry naming the host UUID
 *   certificate        a revoke entry "cert:<issuer>:<serial>" signed by
 *   revocation         the issuing CA (ledger/revocation.h)
 *   host compromise    score.h's rule for the host (compromise entry,
 *                      revocation, or a burst of failed attestations)
 *   trust score        the VM's score and decision from score.h, at the
 *                      decision time
 *   VM owner           owner.h: the key that registered the VM first; a
 *                      grant counts only when that key signed it
 *
 * Only a verified log is read (kt_ledger_for_each refuses a tampered one):
 * a decision never rests on entries that fail verification.
 */
#ifndef KVMTRUST_GRANT_LEDGER_H
#define KVMTRUST_GRANT_LEDGER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "ledger/ledger.h"
#include "ledger/owner.h"
#include "ledger/score.h"

struct kt_grant;
struct kt_ledger;
struct kt_ledger_signer;

#define KT_GRANT_REVOKE_PREFIX "grant:"
#define KT_MIGRATE_CERT_IDS 8		/* certificates looked up per scan */

struct kt_migrate_facts {
	uint64_t entries;		/* size of the verified log read */
	bool grant_revoked, host_revoked, host_compromised, token_revoked;
	uint64_t grant_revoked_at, host_revoked_at, host_compromised_at;	/* entry index */
	uint64_t token_revoked_at;
	bool have_score;		/* false: score_error says why (no entry, ...) */
	int score;			/* the VM's trust score at `now` */
	enum kt_score_decision decision;	/* score.h's, the last result included */
	uint64_t last_attest;		/* the VM's latest attestation (messages) */
	size_t score_steps;		/* entries that moved it */
	char score_error[512];
	struct kt_owner owner;		/* the VM's registered owner, if any */
	/* The certificates asked about (keys' cert_ids), by position: revoked, and where. */
	bool cert_revoked[KT_MIGRATE_CERT_IDS];
	uint64_t cert_revoked_at[KT_MIGRATE_CERT_IDS];
};

/*
 * What a scan looks for besides the VM's score and owner; any field may be
 * NULL or empty (not known), and the matching facts are then left false.
 */
struct kt_migrate_keys {
	const char *grant_id;
	const char *host_uuid;
	/* Certificate revocation ids (kt_ledger_cert_id()); an empty one is not asked. */
	const char (*cert_ids)[KT_LEDGER_VM_MAX + 1];
	size_t n_certs;			/* at most KT_MIGRATE_CERT_IDS */
	const char *token_jti, *token_host;	/* a token and its issuing host's UUID */
};

/*
 * Scans the verified ledger once (keys may be NULL). Fails only when the
 * log cannot be read or does not verify; a VM without entries has no score.
 */
int kt_migrate_facts_read(struct kt_ledger *log, const char *vm,
			  const struct kt_migrate_keys *keys, time_t now,
			  struct kt_migrate_facts *facts, struct kt_err *err);

/*
 * The grant counts only if the VM's registered owner signed it: the key of
 * x5c[0] is the key that registered vm (facts read for vm). Check "owner" otherwise, and
 * when the VM has no owner in the ledger at all. The grant's signature and
 * chain are kt_grant_verify()'s business, not this.
 */
int kt_grant_check_owner(const struct kt_grant *g, const char *vm,
			 const struct kt_migrate_facts *facts, struct kt_err *err);

/* Appends the revocation of grant_id, signed by a ledger writer. */
int kt_grant_ledger_revoke(struct kt_ledger *log, const struct kt_ledger_signer *signer,
			   const char *grant_id, time_t now, uint64_t *index,
			   struct kt_err *err);

#endif
