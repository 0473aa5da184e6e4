/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Verification of a TPM2_Quote without a TPM: the verifier's side of
 * kt_tpm_quote(). Only tss2-mu (to read the TPM's structures) and OpenSSL.
 * Every refusal names the check "quote". In identity/ so that both layers
 * that carry quotes use it: attest/ (reports) and ledger/ (host batches,
 * Documentation/ledger.rst "Host batch").
 */
#ifndef KVMTRUST_QUOTE_H
#define KVMTRUST_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "common/merkle.h"
#include "common/tpm.h"

/*
 * A quote of one PCR just extended with a digest, with that digest as
 * qualifying data (kt_hostkey_extend_quote() makes it, attest/hostkey.h).
 */
struct kt_quote {
	unsigned int pcr;
	kt_hash pcr_prev;	/* before the extend */
	kt_hash pcr_value;	/* SHA-256(pcr_prev || digest), the value quoted */
	struct kt_blob attest;	/* marshalled TPMS_ATTEST */
	struct kt_blob sig;	/* marshalled TPMT_SIGNATURE */
};

void kt_quote_free(struct kt_quote *q);

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
