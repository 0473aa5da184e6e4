/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The migration decision: may this VM move to this host, started by this
 * administrator, under this owner's grant? Both the source host (before it
 * sends anything) and the destination (before it accepts a guest) call
 * kt_migrate_check() with the same inputs and must reach the same answer.
 *
 * Every rule below is evaluated, in this order, and reported with its
 * outcome even after an earlier one failed, so an operator sees every
 * problem at once. A rule that needs something an earlier rule could not
 * establish (no parsable grant, no host certificate) is reported as skipped.
 *
 *   grant            signature, owner chain and certificate validity
 *   vm               the grant names the VM being moved
 *   owner            the grant's signer is the VM's registered owner (the
 *                    key of its first register entry in the ledger); a VM
 *                    never registered fails too
 *   grant-revoked    no ledger revocation of the grant id
 *   delegate         the administrator's certificate or key is a delegate
 *                    (with a signed order: its signature, and that it names
 *                    this VM, grant and host and is fresh)
 *   host-cert        destination chain to the host CAs, validity, CRLs,
 *                    no ledger revocation of the host, and none of its
 *                    certificate or CAs by their CA (ledger/revocation.h)
 *   host-ca          an allowed CA (or a sub-CA under one) certified the host
 *   region           host region and site inside the grant's lists
 *   host-list        host UUID on the allow list (if any), not on the deny list
 *   window           nbf <= now < exp
 *   host-compromise  host not flagged compromised in the ledger
 *   trust-score      VM trust score: > 75 allow, 50..75 allow after a full
 *                    integrity check, < 50 deny (both 50 and 75 mean
 *                    "allow after full verification"); a failed latest
 *                    attestation makes it at best "after full verification"
 *   token            the VM's identity token, if one is given: signed by a
 *                    host under the host CAs, for this VM, not revoked in
 *                    the ledger by its issuing host, its signing certificate
 *                    and CAs not revoked in the ledger by their CAs
 *
 * Decision: deny if any rule failed; otherwise error if any rule could not
 * be evaluated (ledger unreadable, ...); otherwise allow, or allow after
 * full verification when the trust score asked for it.
 */
#ifndef KVMTRUST_MIGRATE_POLICY_H
#define KVMTRUST_MIGRATE_POLICY_H

#include <stdbool.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/error.h"

struct kt_ledger;
struct kt_pki_dir;

enum kt_migrate_decision {
	KT_MIGRATE_ALLOW,
	KT_MIGRATE_ALLOW_VERIFY,	/* allow after a full integrity check */
	KT_MIGRATE_DENY,
	KT_MIGRATE_ERROR,		/* could not decide: treat as deny */
};

enum kt_rule_outcome {
	KT_RULE_PASS,
	KT_RULE_VERIFY,		/* passes on condition of a full integrity check */
	KT_RULE_FAIL,
	KT_RULE_SKIP,		/* an input it needs was not established */
	KT_RULE_ERROR,		/* could not be evaluated */
};

#define KT_MIGRATE_MAX_RULES 16

struct kt_migrate_rule_result {
	const char *rule;		/* "grant", "vm", ... as listed above */
	const char *description;
	enum kt_rule_outcome outcome;
	const char *check;		/* sub-check of a failure ("chain", ...) or NULL */
	char detail[640];
};

struct kt_migrate_request {
	const char *vm;			/* guest UUID being moved */
	const char *grant;		/* compact JWS */
	X509 *host;			/* destination host certificate */
	STACK_OF(X509) *host_untrusted;	/* intermediates it presented; may be NULL */
	X509 *admin;			/* certificate of the administrator starting it */
	const char *admin_order;	/* or (and) their signed order, migrate_order.h */
	struct kt_pki_dir *owner_anchors; /* owner roots only: never the host CAs */
	struct kt_pki_dir *owner_crls;	/* NULL: the CRLs kept with the owner anchors */
	struct kt_pki_dir *host_anchors; /* host CA roots */
	struct kt_pki_dir *host_crls;	/* NULL: the CRLs kept with the host anchors */
	struct kt_ledger *ledger;	/* verified log: revocations, flags, scores */
	const char *token;		/* the VM's identity token (compact JWS); NULL: none */
	time_t now;			/* 0: the current time */
};

struct kt_migrate_result {
	enum kt_migrate_decision decision;
	int score;			/* -1 when not computed */
	char grant_id[37];
	char host_uuid[37];
	size_t n_rules;
	struct kt_migrate_rule_result rules[KT_MIGRATE_MAX_RULES];
};

/*
 * Fills result with every rule's outcome and the decision. Returns 0 when a
 * decision was reached (any of allow, allow-verify, deny), -1 with err set
 * for a request that cannot be evaluated at all (missing inputs).
 */
int kt_migrate_check(const struct kt_migrate_request *req, struct kt_migrate_result *result,
		     struct kt_err *err);

/* The rule that decided a deny (the first failed one), or NULL. */
const struct kt_migrate_rule_result *kt_migrate_first_failure(const struct kt_migrate_result *r);

const char *kt_migrate_decision_name(enum kt_migrate_decision d);
const char *kt_rule_outcome_name(enum kt_rule_outcome o);

#endif
