// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm_seal.h"

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR primary;
};

static int tpm_fail(struct kt_err *err, const char *what, TSS2_RC rc)
{
	return kt_fail(err, "tpm", "%s: %s", what, Tss2_RC_Decode(rc));
}

static void tpm_close(struct tpm *t)
{
	if (t->esys && t->primary != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, t->primary);
	Esys_Finalize(&t->esys);
	Tss2_TctiLdr_Finalize(&t->tcti);
}

/* Connects and re-creates the storage primary from the owner seed. */
static int tpm_open(const char *tcti, struct tpm *t, struct kt_err *err)
{
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_ECC,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
					    TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
					    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA |
					    TPMA_OBJECT_SENSITIVEDATAORIGIN,
			.parameters.eccDetail = {
				.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
					       .mode.aes = TPM2_ALG_CFB },
				.scheme.scheme = TPM2_ALG_NULL,
				.curveID = TPM2_ECC_NIST_P256,
				.kdf.scheme = TPM2_ALG_NULL,
			},
			.unique.ecc = { .x.size = 32, .y.size = 32 },
		},
	};
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_DATA outside = { 0 };
	TSS2_RC rc;

	memset(t, 0, sizeof(*t));
	t->primary = ESYS_TR_NONE;
	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc)
		return tpm_fail(err, "cannot open the TPM (TCTI)", rc);
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (!rc)
		rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					ESYS_TR_NONE, &sensitive, &tmpl, &outside, &pcrs,
					&t->primary, NULL, NULL, NULL, NULL);
	if (rc) {
		tpm_close(t);
		return tpm_fail(err, "cannot create the storage primary", rc);
	}
	return 0;
}

int kt_tpm_seal(const char *tcti, const uint8_t *secret, size_t len,
		uint8_t **pub, size_t *pub_len, uint8_t **priv, size_t *priv_len,
		struct kt_err *err)
{
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_KEYEDHASH,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_FIXEDTPM |
					    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA,
			.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
		},
	};
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPM2B_PRIVATE *out_priv = NULL;
	TPM2B_PUBLIC *out_pub = NULL;
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_DATA outside = { 0 };
	size_t off_pub = 0, off_priv = 0;
	struct tpm t;
	TSS2_RC rc;
	int ret = -1;

	*pub = *priv = NULL;
	if (len == 0 || len > KT_TPM_SEAL_MAX || len > sizeof(sensitive.sensitive.data.buffer))
		return kt_fail(err, "tpm", "a sealed secret holds 1 to %d bytes", KT_TPM_SEAL_MAX);
	if (tpm_open(tcti, &t, err))
		return -1;
	sensitive.sensitive.data.size = (UINT16)len;
	memcpy(sensitive.sensitive.data.buffer, secret, len);
	rc = Esys_Create(t.esys, t.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			 &sensitive, &tmpl, &outside, &pcrs, &out_priv, &out_pub, NULL, NULL, NULL);
	OPENSSL_cleanse(&sensitive, sizeof(sensitive));
	if (rc) {
		tpm_fail(err, "cannot seal", rc);
		goto out;
	}
	*pub = malloc(sizeof(*out_pub));
	*priv = malloc(sizeof(*out_priv));
	if (!*pub || !*priv ||
	    Tss2_MU_TPM2B_PUBLIC_Marshal(out_pub, *pub, sizeof(*out_pub), &off_pub) ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(out_priv, *priv, sizeof(*out_priv), &off_priv)) {
		kt_fail(err, "tpm", "cannot marshal the sealed object");
		free(*pub);
		free(*priv);
		*pub = *priv = NULL;
		goto out;
	}
	*pub_len = off_pub;
	*priv_len = off_priv;
	ret = 0;
out:
	Esys_Free(out_pub);
	Esys_Free(out_priv);
	tpm_close(&t);
	return ret;
}

int kt_tpm_unseal(const char *tcti, const uint8_t *pub, size_t pub_len,
		  const uint8_t *priv, size_t priv_len, uint8_t *secret, size_t *len,
		  struct kt_err *err)
{
	TPM2B_SENSITIVE_DATA *data = NULL;
	TPM2B_PRIVATE in_priv = { 0 };
	TPM2B_PUBLIC in_pub = { 0 };
	ESYS_TR object = ESYS_TR_NONE;
	size_t off = 0;
	struct tpm t;
	TSS2_RC rc;
	int ret = -1;

	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_len, &off, &in_pub) || off != pub_len)
		return kt_fail(err, "keystore", "the sealed public blob is malformed");
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv, priv_len, &off, &in_priv) || off != priv_len)
		return kt_fail(err, "keystore", "the sealed private blob is malformed");
	if (tpm_open(tcti, &t, err))
		return -1;
	rc = Esys_Load(t.esys, t.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		       &in_priv, &in_pub, &object);
	if (rc) {
		tpm_fail(err, "cannot load the sealed object (another TPM or owner seed?)", rc);
		goto out;
	}
	rc = Esys_Unseal(t.esys, object, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data);
	if (rc) {
		tpm_fail(err, "cannot unseal", rc);
		goto out;
	}
	if (data->size == 0 || data->size > KT_TPM_SEAL_MAX) {
		kt_fail(err, "tpm", "unsealed secret of %u bytes", data->size);
		goto out;
	}
	memcpy(secret, data->buffer, data->size);
	*len = data->size;
	ret = 0;
out:
	if (data) {
		OPENSSL_cleanse(data, sizeof(*data));
		Esys_Free(data);
	}
	if (object != ESYS_TR_NONE)
		Esys_FlushContext(t.esys, object);
	tpm_close(&t);
	return ret;
}
