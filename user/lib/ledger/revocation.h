/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Token revocations published through the ledger, so every host that
 * reads the ledger refuses a revoked token without a file being copied
 * (Documentation/ledger.rst, "Revocations in the ledger").
 *
 * A token is revoked by a revoke entry whose VM id is "token:<jti>". It
 * counts only when signed by the host that issued the token: the entry's
 * signer (a host certificate under the ledger CA, checked by every walk)
 * names the same host UUID as the token's "host" claim, which token
 * verification bound to the token's signing certificate. Anyone else's
 * entry is ignored: no host can revoke, or be taken to revoke, another's
 * tokens.
 */
#ifndef KVMTRUST_LEDGER_REVOCATION_H
#define KVMTRUST_LEDGER_REVOCATION_H

#include <stdint.h>

#include "common/error.h"
#include "ledger/ledger.h"

/* The characters a jti may have to be revoked through the ledger. */
#define KT_LEDGER_JTI_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define KT_LEDGER_TOKEN_PREFIX "token:"

/* Fills e (kind revoke) for jti; -1 when the jti cannot be named in an entry. */
int kt_ledger_token_revoke_entry(const char *jti, struct kt_ledger_entry *e, struct kt_err *err);

/*
 * From a verified walk of the whole log: 1 and *index when the issuing
 * host (UUID text) revoked jti, 0 when not, -1 when the log cannot be read
 * or verified (a caller that named the ledger refuses the token then).
 */
int kt_ledger_token_revoked(struct kt_ledger *log, const char *jti, const char *issuer_host,
			    uint64_t *index, struct kt_err *err);

#endif
