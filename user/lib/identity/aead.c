// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "identity/aead.h"

static EVP_CIPHER_CTX *gcm_init(const uint8_t *key, const uint8_t *nonce, int enc,
				const void *aad, size_t aad_len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl;

	if (!ctx || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KT_AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1 ||
	    (aad_len && EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int kt_aead_seal(const uint8_t key[KT_AEAD_KEY_LEN], const uint8_t nonce[KT_AEAD_NONCE_LEN],
		 const void *aad, size_t aad_len, const void *in, size_t len,
		 uint8_t *out, uint8_t tag[KT_AEAD_TAG_LEN], struct kt_err *err)
{
	EVP_CIPHER_CTX *ctx = gcm_init(key, nonce, 1, aad, aad_len);
	int outl, ok;

	ok = ctx && (len == 0 || EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + len, &outl) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KT_AEAD_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : kt_fail_ssl(err, "encrypt", "AES-256-GCM encryption failed");
}

int kt_aead_open(const uint8_t key[KT_AEAD_KEY_LEN], const uint8_t nonce[KT_AEAD_NONCE_LEN],
		 const void *aad, size_t aad_len, const void *in, size_t len,
		 const uint8_t tag[KT_AEAD_TAG_LEN], uint8_t *out, struct kt_err *err)
{
	EVP_CIPHER_CTX *ctx = gcm_init(key, nonce, 0, aad, aad_len);
	int outl, ok;

	ok = ctx && (len == 0 || EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KT_AEAD_TAG_LEN, (void *)tag) == 1 &&
	     EVP_CipherFinal_ex(ctx, out + len, &outl) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		OPENSSL_cleanse(out, len);
		return kt_fail(err, "decrypt", "authentication failed: wrong key or altered data");
	}
	return 0;
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
