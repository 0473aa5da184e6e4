// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include <tss2/tss2_mu.h>

#include "identity/quote.h"
#include "identity/jws.h"

void kt_pcr_extend_sw(const kt_hash old, const kt_hash digest, kt_hash out)
{
	uint8_t buf[2 * KT_HASH_LEN];

	memcpy(buf, old, KT_HASH_LEN);
	memcpy(buf + KT_HASH_LEN, digest, KT_HASH_LEN);
	kt_sha256(buf, sizeof(buf), out);
}

void kt_quote_free(struct kt_quote *q)
{
	kt_blob_free(&q->attest);
	kt_blob_free(&q->sig);
}

static int quote_signature(const struct kt_blob *sig, uint8_t raw[KT_ES256_SIG_LEN],
			   struct kt_err *err)
{
	const TPM2B_ECC_PARAMETER *r, *s;
	TPMT_SIGNATURE tsig;
	size_t off = 0;

	memset(&tsig, 0, sizeof(tsig));
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig->data, sig->len, &off, &tsig) || off != sig->len)
		return kt_fail(err, "quote", "quote signature is not a TPMT_SIGNATURE");
	r = &tsig.signature.ecdsa.signatureR;
	s = &tsig.signature.ecdsa.signatureS;
	if (tsig.sigAlg != TPM2_ALG_ECDSA || tsig.signature.ecdsa.hash != TPM2_ALG_SHA256 ||
	    r->size > 32 || s->size > 32)
		return kt_fail(err, "quote", "quote signature is not ECDSA P-256 with SHA-256");
	memset(raw, 0, KT_ES256_SIG_LEN);
	memcpy(raw + 32 - r->size, r->buffer, r->size);
	memcpy(raw + 64 - s->size, s->buffer, s->size);
	return 0;
}

static int quote_selects_only(const TPML_PCR_SELECTION *sel, unsigned int pcr)
{
	const TPMS_PCR_SELECTION *s = &sel->pcrSelections[0];
	unsigned int i;

	if (sel->count != 1 || s->hash != TPM2_ALG_SHA256 || s->sizeofSelect < 3 ||
	    s->sizeofSelect > sizeof(s->pcrSelect))
		return 0;
	for (i = 0; i < s->sizeofSelect; i++) {
		uint8_t want = i == pcr / 8 ? (uint8_t)(1u << (pcr % 8)) : 0;

		if (s->pcrSelect[i] != want)
			return 0;
	}
	return 1;
}

int kt_quote_verify(EVP_PKEY *pub, const struct kt_blob *attest, const struct kt_blob *sig,
		    unsigned int pcr, const kt_hash pcr_value,
		    const uint8_t *extra, size_t extra_len,
		    struct kt_quote_info *info, struct kt_err *err)
{
	uint8_t raw[KT_ES256_SIG_LEN];
	const TPMS_QUOTE_INFO *q;
	kt_hash pcr_digest;
	TPMS_ATTEST a;
	size_t off = 0;

	if (quote_signature(sig, raw, err))
		return -1;
	if (kt_es256_verify(pub, attest->data, attest->len, raw, err))
		return kt_fail(err, "quote", "quote signature does not verify with the signer's key");
	memset(&a, 0, sizeof(a));
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest->data, attest->len, &off, &a) ||
	    off != attest->len)
		return kt_fail(err, "quote", "quote is not a TPMS_ATTEST");
	if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE)
		return kt_fail(err, "quote", "attestation is not a TPM-generated quote");
	if (a.extraData.size != extra_len || memcmp(a.extraData.buffer, extra, extra_len))
		return kt_fail(err, "quote", "quote's qualifying data is not the digest it must bind");
	q = &a.attested.quote;
	if (!quote_selects_only(&q->pcrSelect, pcr))
		return kt_fail(err, "quote", "quote does not cover exactly SHA-256 PCR %u", pcr);
	kt_sha256(pcr_value, KT_HASH_LEN, pcr_digest);
	if (q->pcrDigest.size != KT_HASH_LEN ||
	    memcmp(q->pcrDigest.buffer, pcr_digest, KT_HASH_LEN))
		return kt_fail(err, "quote", "quoted PCR %u value differs from the one claimed", pcr);
	if (info) {
		info->clock = a.clockInfo.clock;
		info->reset_count = a.clockInfo.resetCount;
		info->restart_count = a.clockInfo.restartCount;
		info->firmware = a.firmwareVersion;
	}
	return 0;
}
