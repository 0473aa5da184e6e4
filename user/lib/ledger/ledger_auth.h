/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who may write to the ledger: hosts holding a certificate that chains to
 * the ledger's CA (a PEM file or a directory of PEM files) and names the
 * host by a "urn:uuid:" URI subjectAltName. Kept in this one file so the
 * PKI library (pki.h, full chain and CRL policy) can replace it.
 *
 * Chains are verified once per distinct certificate (cached by SHA-256 of
 * the DER); the leaf's validity period is checked at each use against the
 * time given, so an entry is judged at the time it claims to be written.
 * Failures name the check "authorization".
 */
#ifndef KVMTRUST_LEDGER_AUTH_H
#define KVMTRUST_LEDGER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "ledger/ledger.h"

int kt_ledger_auth_load(const char *ca_path, struct kt_ledger_auth **out, struct kt_err *err);
void kt_ledger_auth_free(struct kt_ledger_auth *auth);

/*
 * Checks that the DER certificate chains to the CA and is valid at `when`;
 * returns its public key (owned by auth, valid until the next call: the cache
 * recycles its oldest slot when full) and the host UUID from its subjectAltName.
 */
int kt_ledger_auth_check(struct kt_ledger_auth *auth, const uint8_t *der, size_t len,
			 uint64_t when, EVP_PKEY **pub, uint8_t host_id[KT_UUID_LEN],
			 struct kt_err *err);

#endif
