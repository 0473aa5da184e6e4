// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/p256.h"
#include "common/tpm.h"

struct kt_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR key;
};

int kt_tpm_fail(struct kt_err *err, const char *what, TSS2_RC rc)
{
	return kt_fail(err, "tpm", "%s: %s", what, Tss2_RC_Decode(rc));
}

void kt_blob_free(struct kt_blob *blob)
{
	free(blob->data);
	blob->data = NULL;
	blob->len = 0;
}

int kt_tpm_open(const char *tcti, struct kt_tpm **out, struct kt_err *err)
{
	struct kt_tpm *tpm = calloc(1, sizeof(*tpm));
	TSS2_RC rc;

	if (!tpm)
		return kt_fail(err, "tpm", "out of memory");
	tpm->key = ESYS_TR_NONE;
	rc = Tss2_TctiLdr_Initialize(tcti, &tpm->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		free(tpm);
		return kt_fail(err, "tpm", "cannot open TPM through TCTI '%s': %s",
			       tcti ? tcti : "(default)", Tss2_RC_Decode(rc));
	}
	rc = Esys_Initialize(&tpm->esys, tpm->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		Tss2_TctiLdr_Finalize(&tpm->tcti);
		free(tpm);
		return kt_tpm_fail(err, "Esys_Initialize failed", rc);
	}
	*out = tpm;
	return 0;
}

void kt_tpm_flush(struct kt_tpm *tpm, ESYS_TR *object)
{
	if (*object != ESYS_TR_NONE)
		Esys_FlushContext(tpm->esys, *object);
	*object = ESYS_TR_NONE;
}

void kt_tpm_close(struct kt_tpm *tpm)
{
	if (!tpm)
		return;
	kt_tpm_flush(tpm, &tpm->key);
	Esys_Finalize(&tpm->esys);
	Tss2_TctiLdr_Finalize(&tpm->tcti);
	free(tpm);
}

ESYS_CONTEXT *kt_tpm_esys(struct kt_tpm *tpm)
{
	return tpm->esys;
}

/* The TCG ECC P-256 SRK template (tpm.h): same owner seed, same key. */
#define SRK_TEMPLATE(unique_size) {						\
	.publicArea = {								\
		.type = TPM2_ALG_ECC,						\
		.nameAlg = TPM2_ALG_SHA256,					\
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |	\
			TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |	\
			TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |		\
			TPMA_OBJECT_NODA,					\
		.parameters.eccDetail = {					\
			.symmetric = {						\
				.algorithm = TPM2_ALG_AES,			\
				.keyBits.aes = 128,				\
				.mode.aes = TPM2_ALG_CFB,			\
			},							\
			.scheme.scheme = TPM2_ALG_NULL,				\
			.curveID = TPM2_ECC_NIST_P256,				\
			.kdf.scheme = TPM2_ALG_NULL,				\
		},								\
		.unique.ecc = { .x.size = (unique_size), .y.size = (unique_size) }, \
	},									\
}

static const TPM2B_PUBLIC srk_template = SRK_TEMPLATE(32);
/* KT_TPM_PARENT_V1: the host key's parent before the SRK was shared. */
static const TPM2B_PUBLIC v1_hostkey_parent = SRK_TEMPLATE(0);

static int create_primary(struct kt_tpm *tpm, const TPM2B_PUBLIC *tmpl, ESYS_TR *primary,
			  struct kt_err *err)
{
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TSS2_RC rc;

	rc = Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, tmpl, &outside, &pcrs, primary,
				NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return kt_tpm_fail(err, "creating the owner storage primary failed", rc);
	return 0;
}

/* Marshals a TPM2B_* into a malloc'd blob (tss2-mu names by type). */
#define MARSHAL_BLOB(type, in, out, err)					\
	({									\
		size_t off_ = 0;						\
		int ret_ = 0;							\
		(out)->data = malloc(sizeof(*(in)));				\
		if (!(out)->data ||						\
		    Tss2_MU_##type##_Marshal((in), (out)->data, sizeof(*(in)), &off_)) { \
			kt_blob_free(out);					\
			ret_ = kt_fail((err), "tpm", "cannot marshal a " #type);	\
		} else {							\
			(out)->len = off_;					\
		}								\
		ret_;								\
	})

int kt_tpm_create(struct kt_tpm *tpm, const TPM2B_PUBLIC *tmpl,
		  const TPM2B_SENSITIVE_CREATE *sensitive, struct kt_blob *pub,
		  struct kt_blob *priv, const char *what, struct kt_err *err)
{
	static const TPM2B_SENSITIVE_CREATE empty;
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PRIVATE *out_priv = NULL;
	TPM2B_PUBLIC *out_pub = NULL;
	ESYS_TR primary;
	TSS2_RC rc;
	int ret = -1;

	memset(pub, 0, sizeof(*pub));
	memset(priv, 0, sizeof(*priv));
	if (create_primary(tpm, &srk_template, &primary, err))
		return -1;
	rc = Esys_Create(tpm->esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			 sensitive ? sensitive : &empty, tmpl, &outside, &pcrs, &out_priv,
			 &out_pub, NULL, NULL, NULL);
	kt_tpm_flush(tpm, &primary);
	if (rc != TSS2_RC_SUCCESS)
		return kt_tpm_fail(err, what, rc);
	if (MARSHAL_BLOB(TPM2B_PUBLIC, out_pub, pub, err) ||
	    MARSHAL_BLOB(TPM2B_PRIVATE, out_priv, priv, err)) {
		kt_blob_free(pub);
		goto out;
	}
	ret = 0;
out:
	Esys_Free(out_priv);
	Esys_Free(out_pub);
	return ret;
}

static int load_under(struct kt_tpm *tpm, const TPM2B_PUBLIC *parent, const TPM2B_PUBLIC *pub,
		      const TPM2B_PRIVATE *priv, ESYS_TR *object, const char *what,
		      struct kt_err *err)
{
	ESYS_TR primary;
	TSS2_RC rc;

	*object = ESYS_TR_NONE;
	if (create_primary(tpm, parent, &primary, err))
		return -1;
	rc = Esys_Load(tpm->esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		       priv, pub, object);
	/* The loaded object does not need its parent any more. */
	kt_tpm_flush(tpm, &primary);
	if (rc != TSS2_RC_SUCCESS) {
		*object = ESYS_TR_NONE;
		return kt_tpm_fail(err, what, rc);
	}
	return 0;
}

int kt_tpm_load(struct kt_tpm *tpm, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		ESYS_TR *object, const char *what, struct kt_err *err)
{
	return load_under(tpm, &srk_template, pub, priv, object, what, err);
}

int kt_tpm_parse_public(const struct kt_blob *blob, TPM2B_PUBLIC *pub)
{
	size_t off = 0;

	memset(pub, 0, sizeof(*pub));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob->data, blob->len, &off, pub) || off != blob->len)
		return -1;
	return 0;
}

int kt_tpm_parse_private(const struct kt_blob *blob, TPM2B_PRIVATE *priv)
{
	size_t off = 0;

	memset(priv, 0, sizeof(*priv));
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob->data, blob->len, &off, priv) ||
	    off != blob->len)
		return -1;
	return 0;
}

int kt_tpm_create_key(struct kt_tpm *tpm, struct kt_blob *pub, struct kt_blob *priv,
		      struct kt_err *err)
{
	static const TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_ECC,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
			.parameters.eccDetail = {
				.symmetric.algorithm = TPM2_ALG_NULL,
				.scheme = {
					.scheme = TPM2_ALG_ECDSA,
					.details.ecdsa.hashAlg = TPM2_ALG_SHA256,
				},
				.curveID = TPM2_ECC_NIST_P256,
				.kdf.scheme = TPM2_ALG_NULL,
			},
		},
	};

	return kt_tpm_create(tpm, &tmpl, NULL, pub, priv, "creating the signing key failed", err);
}

int kt_tpm_load_key(struct kt_tpm *tpm, enum kt_tpm_parent parent, const struct kt_blob *pub,
		    const struct kt_blob *priv, struct kt_err *err)
{
	TPM2B_PRIVATE in_priv;
	TPM2B_PUBLIC in_pub;

	if (kt_tpm_parse_public(pub, &in_pub))
		return kt_fail(err, "tpm", "the key's public blob is not a TPM2B_PUBLIC");
	if (kt_tpm_parse_private(priv, &in_priv))
		return kt_fail(err, "tpm", "the key's private blob is not a TPM2B_PRIVATE");
	kt_tpm_flush(tpm, &tpm->key);
	return load_under(tpm, parent == KT_TPM_PARENT_V1 ? &v1_hostkey_parent : &srk_template,
			  &in_pub, &in_priv, &tpm->key,
			  "loading the signing key (was it created on this TPM?) failed", err);
}

int kt_tpm_public_to_pkey(const struct kt_blob *blob, EVP_PKEY **pkey, struct kt_err *err)
{
	uint8_t point[KT_P256_POINT_LEN] = { 0x04 };	/* SEC1 uncompressed */
	const TPMS_ECC_POINT *q;
	TPM2B_PUBLIC pub;

	*pkey = NULL;
	if (kt_tpm_parse_public(blob, &pub))
		return kt_fail(err, "tpm", "the key's public blob is not a TPM2B_PUBLIC");
	q = &pub.publicArea.unique.ecc;
	if (pub.publicArea.type != TPM2_ALG_ECC ||
	    pub.publicArea.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
	    q->x.size > 32 || q->y.size > 32)
		return kt_fail(err, "key", "the TPM key is not an ECC P-256 key");
	/* The TPM may drop leading zero bytes. */
	memcpy(point + 1 + 32 - q->x.size, q->x.buffer, q->x.size);
	memcpy(point + 33 + 32 - q->y.size, q->y.buffer, q->y.size);
	*pkey = kt_p256_from_point(point);
	if (!*pkey)
		return kt_fail_ssl(err, "key", "the TPM key's point is not a valid P-256 public key");
	return 0;
}

/*
 * A restricted key signs only a digest the TPM made, proven by the ticket
 * of a hash sequence; TPM2_Hash would cap the message at 1024 bytes.
 */
static int tpm_digest(struct kt_tpm *tpm, const uint8_t *msg, size_t len,
		      TPM2B_DIGEST **digest, TPMT_TK_HASHCHECK **ticket, struct kt_err *err)
{
	TPM2B_AUTH auth = { 0 };
	TPM2B_MAX_BUFFER chunk;
	const char *what;
	ESYS_TR seq;
	TSS2_RC rc;
	size_t n;

	rc = Esys_HashSequenceStart(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				    &auth, TPM2_ALG_SHA256, &seq);
	if (rc != TSS2_RC_SUCCESS)
		return kt_tpm_fail(err, "starting a hash sequence failed", rc);
	while (len > 0) {
		n = len < sizeof(chunk.buffer) ? len : sizeof(chunk.buffer);
		chunk.size = (UINT16)n;
		memcpy(chunk.buffer, msg, n);
		rc = Esys_SequenceUpdate(tpm->esys, seq, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					 ESYS_TR_NONE, &chunk);
		if (rc != TSS2_RC_SUCCESS) {
			what = "hashing in the TPM failed";
			goto fail;
		}
		msg += n;
		len -= n;
	}
	chunk.size = 0;
	/* Completing the sequence also flushes it. */
	rc = Esys_SequenceComplete(tpm->esys, seq, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				   &chunk, ESYS_TR_RH_OWNER, digest, ticket);
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	what = "completing the hash sequence failed";
fail:
	kt_tpm_flush(tpm, &seq);
	return kt_tpm_fail(err, what, rc);
}

static int ecdsa_to_raw(const TPMT_SIGNATURE *sig, uint8_t out[64], struct kt_err *err)
{
	const TPM2B_ECC_PARAMETER *r = &sig->signature.ecdsa.signatureR;
	const TPM2B_ECC_PARAMETER *s = &sig->signature.ecdsa.signatureS;

	if (sig->sigAlg != TPM2_ALG_ECDSA || r->size > 32 || s->size > 32)
		return kt_fail(err, "signature", "the TPM returned a non-ECDSA P-256 signature");
	memset(out, 0, 64);
	memcpy(out + 32 - r->size, r->buffer, r->size);
	memcpy(out + 64 - s->size, s->buffer, s->size);
	return 0;
}

static const TPMT_SIG_SCHEME ecdsa_sha256 = {
	.scheme = TPM2_ALG_ECDSA,
	.details.ecdsa.hashAlg = TPM2_ALG_SHA256,
};

int kt_tpm_sign(struct kt_tpm *tpm, const void *msg, size_t len,
		uint8_t sig[64], struct kt_err *err)
{
	TPMT_TK_HASHCHECK *ticket = NULL;
	TPMT_SIGNATURE *signature = NULL;
	TPM2B_DIGEST *digest = NULL;
	TSS2_RC rc;
	int ret = -1;

	if (tpm->key == ESYS_TR_NONE)
		return kt_fail(err, "tpm", "no signing key loaded");
	if (tpm_digest(tpm, msg, len, &digest, &ticket, err))
		return -1;
	rc = Esys_Sign(tpm->esys, tpm->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		       digest, &ecdsa_sha256, ticket, &signature);
	if (rc != TSS2_RC_SUCCESS) {
		kt_tpm_fail(err, "TPM2_Sign failed", rc);
		goto out;
	}
	ret = ecdsa_to_raw(signature, sig, err);
out:
	Esys_Free(signature);
	Esys_Free(digest);
	Esys_Free(ticket);
	return ret;
}

static void select_pcr(TPML_PCR_SELECTION *sel, unsigned int pcr)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[pcr / 8] = (BYTE)(1u << (pcr % 8));
}

int kt_tpm_pcr_read(struct kt_tpm *tpm, unsigned int pcr, kt_hash value, struct kt_err *err)
{
	TPML_PCR_SELECTION sel, *sel_out = NULL;
	TPML_DIGEST *values = NULL;
	TSS2_RC rc;
	int ret = -1;

	if (pcr > 23)
		return kt_fail(err, "tpm", "PCR %u out of range", pcr);
	select_pcr(&sel, pcr);
	rc = Esys_PCR_Read(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
			   NULL, &sel_out, &values);
	if (rc != TSS2_RC_SUCCESS)
		return kt_tpm_fail(err, "TPM2_PCR_Read failed", rc);
	if (values->count != 1 || values->digests[0].size != KT_HASH_LEN) {
		kt_fail(err, "tpm", "the TPM has no SHA-256 bank for PCR %u", pcr);
		goto out;
	}
	memcpy(value, values->digests[0].buffer, KT_HASH_LEN);
	ret = 0;
out:
	Esys_Free(sel_out);
	Esys_Free(values);
	return ret;
}

int kt_tpm_pcr_extend(struct kt_tpm *tpm, unsigned int pcr, const kt_hash digest,
		      struct kt_err *err)
{
	TPML_DIGEST_VALUES values = { .count = 1 };
	TSS2_RC rc;

	if (pcr > 23)
		return kt_fail(err, "tpm", "PCR %u out of range", pcr);
	values.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(values.digests[0].digest.sha256, digest, KT_HASH_LEN);
	rc = Esys_PCR_Extend(tpm->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			     ESYS_TR_NONE, &values);
	if (rc != TSS2_RC_SUCCESS)
		return kt_tpm_fail(err, "TPM2_PCR_Extend failed", rc);
	return 0;
}

int kt_tpm_quote(struct kt_tpm *tpm, unsigned int pcr, const uint8_t *extra, size_t extra_len,
		 struct kt_blob *attest, struct kt_blob *sig, struct kt_err *err)
{
	TPMT_SIGNATURE *signature = NULL;
	TPM2B_ATTEST *quoted = NULL;
	TPML_PCR_SELECTION sel;
	TPM2B_DATA qualifying;
	size_t off = 0;
	TSS2_RC rc;
	int ret = -1;

	memset(attest, 0, sizeof(*attest));
	memset(sig, 0, sizeof(*sig));
	if (tpm->key == ESYS_TR_NONE)
		return kt_fail(err, "tpm", "no signing key loaded");
	if (pcr > 23 || extra_len > 32)
		return kt_fail(err, "tpm", "bad quote request");
	qualifying.size = (UINT16)extra_len;
	memcpy(qualifying.buffer, extra, extra_len);
	select_pcr(&sel, pcr);
	rc = Esys_Quote(tpm->esys, tpm->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			&qualifying, &ecdsa_sha256, &sel, &quoted, &signature);
	if (rc != TSS2_RC_SUCCESS)
		return kt_tpm_fail(err, "TPM2_Quote failed", rc);
	attest->data = malloc(quoted->size);
	sig->data = malloc(sizeof(*signature));
	if (!attest->data || !sig->data) {
		kt_fail(err, "tpm", "out of memory");
		goto out;
	}
	memcpy(attest->data, quoted->attestationData, quoted->size);
	attest->len = quoted->size;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(signature, sig->data, sizeof(*signature), &off)) {
		kt_fail(err, "tpm", "cannot marshal the quote signature");
		goto out;
	}
	sig->len = off;
	ret = 0;
out:
	if (ret) {
		kt_blob_free(attest);
		kt_blob_free(sig);
	}
	Esys_Free(quoted);
	Esys_Free(signature);
	return ret;
}
