/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest side's identity at rest: its token and its private key in one
 * file, encrypted with AES-256-GCM.
 *
 *   {"version":1, "kdf":"scrypt", "n":32768, "r":8, "p":1,   (passphrase)
 *    or "kdf":"hkdf-sha256",                               (keyfile)
 *    or "kdf":"tpm-hkdf-sha256", "sealed_pub", "sealed_priv" (TPM)
 *    "salt":b64(16), "cipher":"aes-256-gcm", "nonce":b64(12),
 *    "ciphertext":b64, "tag":b64(16)}
 *
 * The key is scrypt(passphrase, salt), HKDF-SHA256(keyfile, salt, "kvmtrust
 * keystore v1"), or the same HKDF of 32 random bytes sealed to the TPM
 * (tpm_seal.h; the sealed blobs are stored in the header); a new salt, nonce
 * and sealed secret are drawn on every save. Every member
 * other than ciphertext and tag, serialized as sorted compact JSON, is the
 * GCM additional data, so a changed KDF parameter fails like a changed byte.
 * The plaintext is {"token": compact JWT, "key": PKCS#8 PEM}.
 *
 * The keystore and the keyfile must be mode 0600 (or stricter) and owned by
 * the caller; anything else is refused with check "permissions". A sealed
 * keystore opens only on the TPM that sealed it; binding it to PCR values
 * (boot state) is future work.
 */
#ifndef KVMTRUST_KEYSTORE_H
#define KVMTRUST_KEYSTORE_H

#include <openssl/evp.h>

#include "common/error.h"

#define KT_KEYFILE_MIN_LEN 32

/* Exactly one of the three is set. */
struct kt_keystore_unlock {
	const char *keyfile;	/* path of a file of >= 32 random bytes */
	const char *passphrase;
	const char *tpm;	/* TCTI of the TPM that seals the key */
};

/* Writes 32 random bytes to path (mode 0600). */
int kt_keyfile_create(const char *path, struct kt_err *err);

int kt_keystore_save(const char *path, const struct kt_keystore_unlock *unlock,
		     const char *token, EVP_PKEY *key, struct kt_err *err);

/*
 * Decrypts; *token is malloc'd. Failures: "permissions", "file", "keystore"
 * (not a keystore, unsupported parameters), "tpm" and "decrypt" (wrong secret or
 * altered file).
 */
int kt_keystore_load(const char *path, const struct kt_keystore_unlock *unlock,
		     char **token, EVP_PKEY **key, struct kt_err *err);

#endif
