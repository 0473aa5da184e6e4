// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/encoding.h"
#include "common/outfile.h"
#include "common/secfile.h"
#include "common/tpm_seal.h"
#include "identity/aead.h"
#include "identity/keystore.h"

#define KEYSTORE_MAX (1024 * 1024)
#define SALT_LEN 16
#define SCRYPT_N 32768
#define SCRYPT_N_MAX (1 << 20)	/* refuse files that would make us burn a GiB */
#define HKDF_INFO "kvmtrust keystore v1"

int kt_keyfile_create(const char *path, struct kt_err *err)
{
	uint8_t secret[KT_KEYFILE_MIN_LEN];
	int ret;

	if (RAND_priv_bytes(secret, sizeof(secret)) != 1)
		return kt_fail_ssl(err, "keystore", "no randomness for the keyfile");
	ret = kt_file_write(path, secret, sizeof(secret), 0600, err);
	OPENSSL_cleanse(secret, sizeof(secret));
	return ret;
}

static uint8_t *member(const json_t *obj, const char *name, size_t *len)
{
	const char *b64 = json_string_value(json_object_get(obj, name));

	return b64 ? kt_b64_decode(b64, strlen(b64), len) : NULL;
}

/* HKDF of the secret the TPM unseals from the header's sealed blobs. */
static int tpm_key(const json_t *hdr, const char *tcti, const uint8_t *salt, size_t salt_len,
		   uint8_t key[KT_AEAD_KEY_LEN], struct kt_err *err)
{
	uint8_t secret[KT_TPM_SEAL_MAX];
	struct kt_blob pub, priv;
	size_t len = 0;
	int ret = -1;

	pub.data = member(hdr, "sealed_pub", &pub.len);
	priv.data = member(hdr, "sealed_priv", &priv.len);
	if (!pub.data || !priv.data)
		kt_fail(err, "keystore", "the sealed key blobs are missing");
	else if (!kt_tpm_unseal(tcti, &pub, &priv, secret, &len, err))
		ret = kt_hkdf_sha256(secret, len, salt, salt_len, HKDF_INFO, key,
				     KT_AEAD_KEY_LEN, err);
	OPENSSL_cleanse(secret, sizeof(secret));
	kt_blob_free(&pub);
	kt_blob_free(&priv);
	return ret;
}

/* Seals a fresh secret and records the blobs in hdr. */
static int tpm_seal_new(json_t *hdr, const char *tcti, struct kt_err *err)
{
	uint8_t secret[KT_KEYFILE_MIN_LEN];
	struct kt_blob pub = { 0 }, priv = { 0 };
	char *pub64 = NULL, *priv64 = NULL;
	int ret = -1;

	if (RAND_priv_bytes(secret, sizeof(secret)) != 1) {
		kt_fail_ssl(err, "keystore", "no randomness");
		goto out;
	}
	if (kt_tpm_seal(tcti, secret, sizeof(secret), &pub, &priv, err))
		goto out;
	pub64 = kt_b64_encode(pub.data, pub.len);
	priv64 = kt_b64_encode(priv.data, priv.len);
	if (!pub64 || !priv64 || json_object_set_new(hdr, "kdf", json_string("tpm-hkdf-sha256")) ||
	    json_object_set_new(hdr, "sealed_pub", json_string(pub64)) ||
	    json_object_set_new(hdr, "sealed_priv", json_string(priv64))) {
		kt_fail(err, "keystore", "out of memory");
		goto out;
	}
	ret = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	kt_blob_free(&pub);
	kt_blob_free(&priv);
	free(pub64);
	free(priv64);
	return ret;
}

/* Derives the AES key named by hdr's kdf members. */
static int derive(const json_t *hdr, const struct kt_keystore_unlock *unlock,
		  uint8_t key[KT_AEAD_KEY_LEN], struct kt_err *err)
{
	const char *kdf = json_string_value(json_object_get(hdr, "kdf"));
	const char *salt64 = json_string_value(json_object_get(hdr, "salt"));
	uint8_t *salt, *secret;
	size_t salt_len, secret_len;
	json_int_t n, r, p;
	int ret = -1;

	salt = salt64 ? kt_b64_decode(salt64, strlen(salt64), &salt_len) : NULL;
	if (!salt || salt_len != SALT_LEN || !kdf) {
		free(salt);
		return kt_fail(err, "keystore", "bad salt or kdf");
	}
	if (!strcmp(kdf, "scrypt") && unlock->passphrase) {
		n = json_integer_value(json_object_get(hdr, "n"));
		r = json_integer_value(json_object_get(hdr, "r"));
		p = json_integer_value(json_object_get(hdr, "p"));
		if (n < 2 || n > SCRYPT_N_MAX || (n & (n - 1)) || r < 1 || r > 32 || p < 1 || p > 16)
			kt_fail(err, "keystore", "scrypt parameters out of range");
		else
			ret = kt_scrypt(unlock->passphrase, salt, salt_len, (uint64_t)n,
					(uint32_t)r, (uint32_t)p, key, KT_AEAD_KEY_LEN, err);
	} else if (!strcmp(kdf, "hkdf-sha256") && unlock->keyfile) {
		if (!kt_file_read(unlock->keyfile, 4096, KT_FILE_PRIVATE, &secret, &secret_len, err)) {
			if (secret_len < KT_KEYFILE_MIN_LEN)
				kt_fail(err, "keystore", "keyfile '%s' holds fewer than %d bytes",
					unlock->keyfile, KT_KEYFILE_MIN_LEN);
			else
				ret = kt_hkdf_sha256(secret, secret_len, salt, salt_len, HKDF_INFO,
						     key, KT_AEAD_KEY_LEN, err);
			OPENSSL_cleanse(secret, secret_len);
			free(secret);
		}
	} else if (!strcmp(kdf, "tpm-hkdf-sha256") && unlock->tpm) {
		ret = tpm_key(hdr, unlock->tpm, salt, salt_len, key, err);
	} else {
		kt_fail(err, "keystore", "keystore uses kdf \"%s\": give the %s", kdf,
			!strcmp(kdf, "scrypt") ? "passphrase" :
			!strcmp(kdf, "tpm-hkdf-sha256") ? "TPM" : "keyfile");
	}
	free(salt);
	return ret;
}

static char *aad_of(const json_t *hdr)
{
	return json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
}

static json_t *new_header(const struct kt_keystore_unlock *unlock, struct kt_err *err)
{
	uint8_t salt[SALT_LEN], nonce[KT_AEAD_NONCE_LEN];
	char *salt64, *nonce64;
	json_t *hdr = NULL;

	if (!!unlock->keyfile + !!unlock->passphrase + !!unlock->tpm != 1) {
		kt_fail(err, "keystore", "give exactly one of a keyfile, a passphrase and a TPM");
		return NULL;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
		kt_fail_ssl(err, "keystore", "no randomness");
		return NULL;
	}
	salt64 = kt_b64_encode(salt, sizeof(salt));
	nonce64 = kt_b64_encode(nonce, sizeof(nonce));
	if (salt64 && nonce64)
		hdr = json_pack("{s:i, s:s, s:s, s:s}", "version", 1, "cipher", "aes-256-gcm",
				"salt", salt64, "nonce", nonce64);
	if (hdr && unlock->passphrase)
		json_object_update_new(hdr, json_pack("{s:s, s:i, s:i, s:i}", "kdf", "scrypt",
						      "n", SCRYPT_N, "r", 8, "p", 1));
	else if (hdr && unlock->keyfile)
		json_object_set_new(hdr, "kdf", json_string("hkdf-sha256"));
	free(salt64);
	free(nonce64);
	if (!hdr) {
		kt_fail(err, "keystore", "out of memory");
		return NULL;
	}
	if (unlock->tpm && tpm_seal_new(hdr, unlock->tpm, err)) {
		json_decref(hdr);
		return NULL;
	}
	return hdr;
}

static char *plaintext_of(const char *token, EVP_PKEY *key, struct kt_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL, *text = NULL;
	json_t *obj = NULL;
	long len = 0;

	if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		kt_fail_ssl(err, "keystore", "cannot encode the key");
		goto out;
	}
	len = BIO_get_mem_data(bio, &pem);
	obj = json_pack("{s:s, s:s%}", "token", token, "key", pem, (size_t)len);
	text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (!text)
		kt_fail(err, "keystore", "out of memory");
out:
	/* Wipe the PEM copies; jansson's copy is wiped in the string it returned. */
	if (pem)
		OPENSSL_cleanse(pem, (size_t)len);
	BIO_free(bio);
	if (obj)
		OPENSSL_cleanse((void *)json_string_value(json_object_get(obj, "key")),
				json_string_length(json_object_get(obj, "key")));
	json_decref(obj);
	return text;
}

int kt_keystore_save(const char *path, const struct kt_keystore_unlock *unlock,
		     const char *token, EVP_PKEY *key, struct kt_err *err)
{
	uint8_t aes[KT_AEAD_KEY_LEN], tag[KT_AEAD_TAG_LEN], *ct = NULL, *nonce = NULL;
	json_t *hdr = new_header(unlock, err);
	char *plain = NULL, *aad = NULL, *ct64 = NULL, *tag64 = NULL, *text = NULL;
	const char *nonce64;
	size_t len = 0, nonce_len;
	int ret = -1;

	if (!hdr || derive(hdr, unlock, aes, err))
		goto out;
	plain = plaintext_of(token, key, err);
	if (!plain)
		goto out;
	len = strlen(plain);
	nonce64 = json_string_value(json_object_get(hdr, "nonce"));
	nonce = kt_b64_decode(nonce64, strlen(nonce64), &nonce_len);
	aad = aad_of(hdr);
	ct = malloc(len + 1);
	if (!nonce || !aad || !ct ||
	    kt_aead_seal(aes, nonce, aad, strlen(aad), plain, len, ct, tag, err))
		goto out;
	ct64 = kt_b64_encode(ct, len);
	tag64 = kt_b64_encode(tag, sizeof(tag));
	if (!ct64 || !tag64 || json_object_set_new(hdr, "ciphertext", json_string(ct64)) ||
	    json_object_set_new(hdr, "tag", json_string(tag64)) ||
	    !(text = json_dumps(hdr, JSON_INDENT(1) | JSON_SORT_KEYS))) {
		kt_fail(err, "keystore", "out of memory");
		goto out;
	}
	ret = kt_file_write(path, text, strlen(text), 0600, err);
out:
	OPENSSL_cleanse(aes, sizeof(aes));
	if (plain)
		OPENSSL_cleanse(plain, len);
	free(plain);
	free(nonce);
	free(aad);
	free(ct);
	free(ct64);
	free(tag64);
	free(text);
	json_decref(hdr);
	return ret;
}

static int unpack(const char *plain, size_t len, char **token, EVP_PKEY **key,
		  struct kt_err *err)
{
	json_t *obj = json_loadb(plain, len, JSON_REJECT_DUPLICATES, NULL);
	const char *tok = json_string_value(json_object_get(obj, "token"));
	const char *pem = json_string_value(json_object_get(obj, "key"));
	BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	int ret = -1;

	*key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	*token = *key && tok ? strdup(tok) : NULL;
	if (*token)
		ret = 0;
	else
		kt_fail_ssl(err, "keystore", "decrypted content is not a token and a key");
	if (ret) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	BIO_free(bio);
	if (pem)
		OPENSSL_cleanse((void *)pem, strlen(pem));
	json_decref(obj);
	return ret;
}

int kt_keystore_load(const char *path, const struct kt_keystore_unlock *unlock,
		     char **token, EVP_PKEY **key, struct kt_err *err)
{
	uint8_t aes[KT_AEAD_KEY_LEN], *buf, *ct = NULL, *tag = NULL, *nonce = NULL, *plain = NULL;
	size_t len, ct_len = 0, tag_len, nonce_len;
	json_t *hdr;
	char *aad = NULL;
	int ret = -1;

	if (kt_file_read(path, KEYSTORE_MAX, KT_FILE_PRIVATE, &buf, &len, err))
		return -1;
	hdr = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	if (!hdr || json_integer_value(json_object_get(hdr, "version")) != 1 ||
	    strcmp(json_string_value(json_object_get(hdr, "cipher")) ?: "", "aes-256-gcm")) {
		kt_fail(err, "keystore", "'%s' is not a version 1 AES-256-GCM keystore", path);
		goto out;
	}
	ct = member(hdr, "ciphertext", &ct_len);
	tag = member(hdr, "tag", &tag_len);
	nonce = member(hdr, "nonce", &nonce_len);
	if (!ct || !tag || tag_len != KT_AEAD_TAG_LEN || !nonce || nonce_len != KT_AEAD_NONCE_LEN) {
		kt_fail(err, "keystore", "'%s' lacks a ciphertext, tag or nonce", path);
		goto out;
	}
	json_object_del(hdr, "ciphertext");
	json_object_del(hdr, "tag");
	aad = aad_of(hdr);
	plain = malloc(ct_len + 1);
	if (!aad || !plain || derive(hdr, unlock, aes, err) ||
	    kt_aead_open(aes, nonce, aad, strlen(aad), ct, ct_len, tag, plain, err))
		goto out;
	ret = unpack((const char *)plain, ct_len, token, key, err);
out:
	OPENSSL_cleanse(aes, sizeof(aes));
	if (plain)
		OPENSSL_cleanse(plain, ct_len);
	free(plain);
	free(ct);
	free(tag);
	free(nonce);
	free(aad);
	json_decref(hdr);
	return ret;
}
