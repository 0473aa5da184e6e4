/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Verification of a TPM2_Quote without a TPM: the verifier's side of
 * kt_tpm_quote(). Only tss2-mu (to read the TPM's structures) and OpenSSL.
 * Every refusal names the check "quote".
 */
#ifndef KVMTRUST_QUOTE_H
#define KVMTRUST_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "common/merkle.h"
#include "common/tpm.h"

/* What the TPM said about itself when it quoted (TPMS_CLOCK_INFO). */
struct kt_quote_info {
	uint64_t clock;		/* ms the TPM has run, never goes back */
	uint32_t reset_count;
	uint32_t restart_count;
	uint64_t firmware;
};

/*
 * Checks that `sig` (marshalled TPMT_SIGNATURE, ECDSA SHA-256) by `pub`
 * covers `attest` (marshalled TPMS_ATTEST), that it is a TPM-generated quote
 * of exactly the SHA-256 bank's `pcr`, whose value was `pcr_value`, with
 * qualifying data `extra`.
 */
int kt_quote_verify(EVP_PKEY *pub, const struct kt_blob *attest, const struct kt_blob *sig,
		    unsigned int pcr, const kt_hash pcr_value,
		    const uint8_t *extra, size_t extra_len,
		    struct kt_quote_info *info, struct kt_err *err);

/* PCR extend as the TPM does it: new = SHA-256(old || digest). */
void kt_pcr_extend_sw(const kt_hash old, const kt_hash digest, kt_hash out);

#endif
