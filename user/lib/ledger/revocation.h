/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Revocations published through the ledger, so every host that reads the
 * ledger refuses a revoked token or certificate without a file being
 * copied (Documentation/ledger.rst, "Revocations in the ledger").
 *
 * A token is revoked by a revoke entry whose VM id is "token:<jti>". It
 * counts only when signed by the host that issued the token: the entry's
 * signer (a host certificate under the ledger CA, checked by every walk)
 * names the same host UUID as the token's "host" claim, which token
 * verification bound to the token's signing certificate. Anyone else's
 * entry is ignored: no host can revoke, or be taken to revoke, another's
 * tokens.
 *
 * A certificate is revoked by a revoke entry (format version 3) whose VM id
 * is "cert:<issuer>:<serial>": <issuer> the first 18 hex digits of the
 * SHA-256 of the DER of the certificate's issuer name, <serial> its serial
 * number in lowercase hex (at most 40 digits, RFC 5280's 20 octets); the
 * report field holds the whole issuer name hash and the detail the CRL
 * reason, if any. Only the issuing CA writes one: the signer must be a CA
 * of the ledger's CA hierarchy allowed to sign revocations (ledger_auth.h,
 * authority) whose subject name hashes to the report field. Append and
 * every verified walk check this (check "authorization"): a host, or
 * another CA, cannot revoke a certificate it did not issue.
 */
#ifndef KVMTRUST_LEDGER_REVOCATION_H
#define KVMTRUST_LEDGER_REVOCATION_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/error.h"
#include "ledger/ledger.h"
#include "ledger/ledger_auth.h"

/* The characters a jti may have to be revoked through the ledger. */
#define KT_LEDGER_JTI_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define KT_LEDGER_TOKEN_PREFIX "token:"
#define KT_LEDGER_CERT_PREFIX "cert:"
#define KT_LEDGER_ISSUER_HEX 18		/* issuer name hash digits in the VM id */
#define KT_LEDGER_SERIAL_HEX 40		/* serial digits at most */

/* Fills e (kind revoke) for jti; -1 when the jti cannot be named in an entry. */
int kt_ledger_token_revoke_entry(const char *jti, struct kt_ledger_entry *e, struct kt_err *err);

/*
 * What identifies a token's revocation: its entry's VM id and the issuing
 * host (UUID), whose own entry alone counts. kt_ledger_revoked() looks it
 * up; a caller that named the ledger refuses the token when that fails.
 */
struct kt_ledger_token_key {
	char id[KT_LEDGER_VM_MAX + 1];
	uint8_t host[KT_UUID_LEN];
};

/* -1 when the jti cannot be named in an entry or the host is not a UUID. */
int kt_ledger_token_key(const char *jti, const char *issuer_host, struct kt_ledger_token_key *k);
/* e (a verified entry or checkpoint fact) is the issuing host's revocation of the token. */
bool kt_ledger_revokes_token(const struct kt_ledger_entry *e, const struct kt_ledger_token_key *k);

/* A revoke entry naming a certificate ("cert:" VM id), whoever signed it. */
bool kt_ledger_is_cert_revocation(const struct kt_ledger_entry *e);
/* The VM id's syntax: "cert:", 18 lowercase hex digits, ':', 1..40 of them. */
bool kt_ledger_cert_revocation_id_valid(const char *vm_id);
/*
 * The writer (an authority, ledger_auth.h) issued what e revokes: its
 * subject name hashes to e's report field, which the VM id repeats.
 */
int kt_ledger_cert_revocation_authorized(const struct kt_ledger_entry *e,
					 const struct kt_ledger_writer *w, struct kt_err *err);

/*
 * The VM id naming cert in a revocation, and (if not NULL) its issuer name
 * hash; -1 (check "revocation") when its serial cannot be named.
 */
int kt_ledger_cert_id(X509 *cert, char id[KT_LEDGER_VM_MAX + 1], kt_hash issuer,
		      struct kt_err *err);
/*
 * The 16-byte key a walk files a certificate revocation under (the first
 * bytes of SHA-256 of its VM id), for struct kt_uuidmap.
 */
void kt_ledger_cert_key(const char *id, uint8_t key[KT_UUID_LEN]);
/* Fills e (kind revoke) revoking cert, with an optional CRL reason name. */
int kt_ledger_cert_revoke_entry(X509 *cert, const char *reason, struct kt_ledger_entry *e,
				struct kt_err *err);

/*
 * From a verified walk: 1 when the ledger revokes one of certs (a chain,
 * leaf first; self-signed anchors are skipped: no one above revokes them),
 * with *which its position and *index the entry; 0 when none; -1 when the
 * log cannot be read or verified, or a certificate cannot be named.
 */
int kt_ledger_certs_revoked(struct kt_ledger *log, STACK_OF(X509) *certs, int *which,
			    uint64_t *index, struct kt_err *err);
/*
 * Both in one verified walk: token (may be NULL) and certs (may be NULL).
 * 1 with *which -1 for the token, else the certificate's position, and
 * *index the entry; 0 when none is revoked; -1 as above.
 */
int kt_ledger_revoked(struct kt_ledger *log, const struct kt_ledger_token_key *token,
		      STACK_OF(X509) *certs, int *which, uint64_t *index, struct kt_err *err);

#endif
