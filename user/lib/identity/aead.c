// SPDX-License-Identifier: GPL-2.0
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "identity/aead.h"

struct kt_aead {
	EVP_CIPHER_CTX *ctx;
	int enc;
};

struct kt_aead *kt_aead_new(const uint8_t key[KT_AEAD_KEY_LEN], bool enc)
{
	struct kt_aead *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->enc = enc;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx || EVP_CipherInit_ex(a->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_IVLEN, KT_AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, enc) != 1) {
		ERR_clear_error();
		kt_aead_free(a);
		return NULL;
	}
	return a;
}

void kt_aead_free(struct kt_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx);	/* cleanses the key schedule */
	free(a);
}

/* A new message under the kept key: its nonce, then its additional data. */
static bool aead_start(struct kt_aead *a, const uint8_t *nonce, const void *aad, size_t aad_len)
{
	int outl;

	return EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, a->enc) == 1 &&
	       (!aad_len || EVP_CipherUpdate(a->ctx, NULL, &outl, aad, (int)aad_len) == 1);
}

int kt_aead_seal_with(struct kt_aead *a, const uint8_t nonce[KT_AEAD_NONCE_LEN],
		      const void *aad, size_t aad_len, const void *in, size_t len,
		      uint8_t *out, uint8_t tag[KT_AEAD_TAG_LEN], struct kt_err *err)
{
	int outl;
	bool ok;

	ok = a->enc && aead_start(a, nonce, aad, aad_len) &&
	     (len == 0 || EVP_CipherUpdate(a->ctx, out, &outl, in, (int)len) == 1) &&
	     EVP_CipherFinal_ex(a->ctx, out + len, &outl) == 1 &&
	     EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG, KT_AEAD_TAG_LEN, tag) == 1;
	return ok ? 0 : kt_fail_ssl(err, "encrypt", "AES-256-GCM encryption failed");
}

int kt_aead_open_with(struct kt_aead *a, const uint8_t nonce[KT_AEAD_NONCE_LEN],
		      const void *aad, size_t aad_len, const void *in, size_t len,
		      const uint8_t tag[KT_AEAD_TAG_LEN], uint8_t *out, struct kt_err *err)
{
	int outl;
	bool ok;

	ok = !a->enc && aead_start(a, nonce, aad, aad_len) &&
	     (len == 0 || EVP_CipherUpdate(a->ctx, out, &outl, in, (int)len) == 1) &&
	     EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_TAG, KT_AEAD_TAG_LEN, (void *)tag) == 1 &&
	     EVP_CipherFinal_ex(a->ctx, out + len, &outl) == 1;
	if (!ok) {
		ERR_clear_error();
		OPENSSL_cleanse(out, len);
		return kt_fail(err, "decrypt", "authentication failed: wrong key or altered data");
	}
	return 0;
}

int kt_aead_seal(const uint8_t key[KT_AEAD_KEY_LEN], const uint8_t nonce[KT_AEAD_NONCE_LEN],
		 const void *aad, size_t aad_len, const void *in, size_t len,
		 uint8_t *out, uint8_t tag[KT_AEAD_TAG_LEN], struct kt_err *err)
{
	struct kt_aead *a = kt_aead_new(key, true);
	int ret = a ? kt_aead_seal_with(a, nonce, aad, aad_len, in, len, out, tag, err) :
		      kt_fail(err, "encrypt", "cannot set up AES-256-GCM");

	kt_aead_free(a);
	return ret;
}

int kt_aead_open(const uint8_t key[KT_AEAD_KEY_LEN], const uint8_t nonce[KT_AEAD_NONCE_LEN],
		 const void *aad, size_t aad_len, const void *in, size_t len,
		 const uint8_t tag[KT_AEAD_TAG_LEN], uint8_t *out, struct kt_err *err)
{
	struct kt_aead *a = kt_aead_new(key, false);
	int ret = a ? kt_aead_open_with(a, nonce, aad, aad_len, in, len, tag, out, err) :
		      kt_fail(err, "decrypt", "cannot set up AES-256-GCM");

	kt_aead_free(a);
	return ret;
}

static int kdf(const char *name, OSSL_PARAM *params, uint8_t *out, size_t out_len,
	       struct kt_err *err)
{
	EVP_KDF *alg = EVP_KDF_fetch(NULL, name, NULL);
	EVP_KDF_CTX *ctx = alg ? EVP_KDF_CTX_new(alg) : NULL;
	int ok = ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1;

	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(alg);
	return ok ? 0 : kt_fail_ssl(err, "kdf", "%s derivation failed", name);
}

int kt_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
		   const char *info, uint8_t *out, size_t out_len, struct kt_err *err)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
		OSSL_PARAM_END,
	};

	return kdf("HKDF", params, out, out_len, err);
}

int kt_scrypt(const char *passphrase, const void *salt, size_t salt_len, uint64_t n,
	      uint32_t r, uint32_t p, uint8_t *out, size_t out_len, struct kt_err *err)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)passphrase,
					strlen(passphrase)),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
		OSSL_PARAM_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_END,
	};

	return kdf("SCRYPT", params, out, out_len, err);
}
