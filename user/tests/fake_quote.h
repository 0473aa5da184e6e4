/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A TPM quote made without a TPM, for the verifier's tests (attest_test,
 * ledger_test): a TPMS_ATTEST of type quote built here, signed ES256 in
 * software and wrapped as the TPMT_SIGNATURE a TPM returns. What only a
 * TPM can vouch for (that the key is in one) is the certificate's job, so
 * identity/quote.c cannot tell these from real quotes; attest.sh and
 * ledger_batch_tpm.sh check real ones from swtpm.
 */
#ifndef KVMTRUST_TESTS_FAKE_QUOTE_H
#define KVMTRUST_TESTS_FAKE_QUOTE_H

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "common/merkle.h"
#include "common/tpm.h"
#include "identity/jws.h"

struct fake_quote {
	struct kt_blob attest, sig;
};

static inline void make_quote(EVP_PKEY *key, TPMS_ATTEST *a, struct fake_quote *q)
{
	uint8_t raw[64];
	TPMT_SIGNATURE s = { .sigAlg = TPM2_ALG_ECDSA };
	size_t off = 0;

	q->attest.data = malloc(sizeof(*a));
	q->sig.data = malloc(sizeof(s));
	if (!q->attest.data || !q->sig.data ||
	    Tss2_MU_TPMS_ATTEST_Marshal(a, q->attest.data, sizeof(*a), &off))
		abort();
	q->attest.len = off;
	if (kt_es256_sign(key, q->attest.data, q->attest.len, raw, NULL))
		abort();
	s.signature.ecdsa.hash = TPM2_ALG_SHA256;
	s.signature.ecdsa.signatureR.size = 32;
	memcpy(s.signature.ecdsa.signatureR.buffer, raw, 32);
	s.signature.ecdsa.signatureS.size = 32;
	memcpy(s.signature.ecdsa.signatureS.buffer, raw + 32, 32);
	off = 0;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&s, q->sig.data, sizeof(s), &off))
		abort();
	q->sig.len = off;
}

/* A quote of PCR 23 whose value is pcr_value, with qualifying data extra. */
static inline void base_attest(TPMS_ATTEST *a, const kt_hash pcr_value, const kt_hash extra)
{
	TPMS_PCR_SELECTION *sel = &a->attested.quote.pcrSelect.pcrSelections[0];

	memset(a, 0, sizeof(*a));
	a->magic = TPM2_GENERATED_VALUE;
	a->type = TPM2_ST_ATTEST_QUOTE;
	a->extraData.size = KT_HASH_LEN;
	memcpy(a->extraData.buffer, extra, KT_HASH_LEN);
	a->clockInfo.clock = 12345;
	a->attested.quote.pcrSelect.count = 1;
	sel->hash = TPM2_ALG_SHA256;
	sel->sizeofSelect = 3;
	sel->pcrSelect[2] = 0x80;	/* PCR 23 */
	a->attested.quote.pcrDigest.size = KT_HASH_LEN;
	kt_sha256(pcr_value, KT_HASH_LEN, a->attested.quote.pcrDigest.buffer);
}

#endif
