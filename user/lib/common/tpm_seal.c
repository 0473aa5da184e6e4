// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include <openssl/crypto.h>

#include "common/tpm.h"
#include "common/tpm_seal.h"

int kt_tpm_seal(const char *tcti, const uint8_t *secret, size_t len,
		struct kt_blob *pub, struct kt_blob *priv, struct kt_err *err)
{
	static const TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_KEYEDHASH,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_FIXEDTPM |
					    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA,
			.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
		},
	};
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	struct kt_tpm *tpm;
	int ret;

	memset(pub, 0, sizeof(*pub));
	memset(priv, 0, sizeof(*priv));
	if (len == 0 || len > KT_TPM_SEAL_MAX || len > sizeof(sensitive.sensitive.data.buffer))
		return kt_fail(err, "tpm", "a sealed secret holds 1 to %d bytes", KT_TPM_SEAL_MAX);
	if (kt_tpm_open(tcti, &tpm, err))
		return -1;
	sensitive.sensitive.data.size = (UINT16)len;
	memcpy(sensitive.sensitive.data.buffer, secret, len);
	ret = kt_tpm_create(tpm, &tmpl, &sensitive, pub, priv, "cannot seal", err);
	OPENSSL_cleanse(&sensitive, sizeof(sensitive));
	kt_tpm_close(tpm);
	return ret;
}

int kt_tpm_unseal(const char *tcti, const struct kt_blob *pub, const struct kt_blob *priv,
		  uint8_t *secret, size_t *len, struct kt_err *err)
{
	TPM2B_SENSITIVE_DATA *data = NULL;
	ESYS_TR object = ESYS_TR_NONE;
	TPM2B_PRIVATE in_priv;
	TPM2B_PUBLIC in_pub;
	struct kt_tpm *tpm;
	TSS2_RC rc;
	int ret = -1;

	if (kt_tpm_parse_public(pub, &in_pub))
		return kt_fail(err, "keystore", "the sealed public blob is malformed");
	if (kt_tpm_parse_private(priv, &in_priv))
		return kt_fail(err, "keystore", "the sealed private blob is malformed");
	if (kt_tpm_open(tcti, &tpm, err))
		return -1;
	if (kt_tpm_load(tpm, &in_pub, &in_priv, &object,
			"cannot load the sealed object (another TPM or owner seed?)", err))
		goto out;
	rc = Esys_Unseal(kt_tpm_esys(tpm), object, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			 &data);
	if (rc) {
		kt_tpm_fail(err, "cannot unseal", rc);
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
	kt_tpm_flush(tpm, &object);
	kt_tpm_close(tpm);
	return ret;
}
