/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who may write to the ledger. Two kinds of writer, kept apart:
 *
 *   host   a certificate that chains to the ledger's CA (a PEM file or a
 *          directory of PEM files) and names the host by a "urn:uuid:" URI
 *          subjectAltName; writes attest, move, compromise and revoke
 *          entries (ledger.c: attest and move only for itself)
 *   authority  a CA certificate (root or intermediate) in the ledger's CA
 *          hierarchy whose keyUsage has cRLSign; writes certificate
 *          revocations only, and only of certificates it issued
 *          (revocation.h)
 *   owner  a user certificate (pki.h: no CA, no host UUID) that chains to
 *          the owner trust anchors and that no ledger CA vouches for; writes
 *          register entries only, naming the VMs it owns
 *
 * Either must be allowed to sign (keyUsage digitalSignature). The owner
 * anchors are read the first time an owner's certificate is checked, so a
 * log without register entries needs none. Chains go through
 * kt_pki_verify() (pki.h) without its time and CRL rules, which would
 * judge an old entry by today; CRLs are not consulted.
 *
 * Chains are verified once per distinct certificate and role (cached by
 * SHA-256 of the DER); the leaf's validity period is checked at each use
 * against the time given, so an entry is judged at the time it claims to
 * be written. Failures name the check "authorization"; the message carries
 * pki.h's check ("chain", "key-usage", ...).
 */
#ifndef KVMTRUST_LEDGER_AUTH_H
#define KVMTRUST_LEDGER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "ledger/ledger.h"

/* owner_anchors may be NULL: then no owner can write (or be verified). */
int kt_ledger_auth_load(const char *ca_path, const char *owner_anchors,
			struct kt_ledger_auth **out, struct kt_err *err);
void kt_ledger_auth_free(struct kt_ledger_auth *auth);

enum kt_ledger_role {
	KT_LEDGER_HOST = 1 << 0,
	KT_LEDGER_OWNER = 1 << 1,
	KT_LEDGER_AUTHORITY = 1 << 2,
};

struct kt_ledger_writer {
	enum kt_ledger_role role;
	/* Owned by auth, valid until the next check (the cache recycles its oldest slot). */
	EVP_PKEY *pub;
	uint8_t host_id[KT_UUID_LEN];	/* a host's UUID; zero for an owner */
	/* An authority's subject name: SHA-256 of its DER; zero for the others. */
	kt_hash subject_hash;
	/*
	 * The certificate as a revocation names it (revocation.h,
	 * "cert:<issuer>:<serial>") and kt_ledger_cert_key() of that; empty
	 * when its serial cannot be named (it cannot be revoked in the ledger).
	 */
	char cert_id[KT_LEDGER_VM_MAX + 1];
	uint8_t cert_key[KT_UUID_LEN];
};

/*
 * Checks that the DER certificate is a writer in one of `roles` (tried in
 * the order host, owner, authority) and valid at `when`.
 */
int kt_ledger_auth_check(struct kt_ledger_auth *auth, const uint8_t *der, size_t len,
			 uint64_t when, unsigned int roles, struct kt_ledger_writer *w,
			 struct kt_err *err);

#endif
