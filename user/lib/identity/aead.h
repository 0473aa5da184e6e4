/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AES-256-GCM (EVP) with 96-bit nonces and 128-bit tags, plus the two key
 * derivations the identity code needs (EVP_KDF): HKDF-SHA256 for keys made
 * from high-entropy secrets and scrypt for passphrases. Callers own nonce
 * uniqueness: the keystore draws a random nonce per write under a fresh
 * salt, the channel uses a sequence number under a per-direction key.
 */
#ifndef KVMTRUST_AEAD_H
#define KVMTRUST_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define KT_AEAD_KEY_LEN 32
#define KT_AEAD_NONCE_LEN 12
#define KT_AEAD_TAG_LEN 16

/* out receives len bytes of ciphertext; tag the 16-byte tag. */
int kt_aead_seal(const uint8_t key[KT_AEAD_KEY_LEN], const uint8_t nonce[KT_AEAD_NONCE_LEN],
		 const void *aad, size_t aad_len, const void *in, size_t len,
		 uint8_t *out, uint8_t tag[KT_AEAD_TAG_LEN], struct kt_err *err);
/* Fails with check "decrypt" if the tag does not authenticate; out is then wiped. */
int kt_aead_open(const uint8_t key[KT_AEAD_KEY_LEN], const uint8_t nonce[KT_AEAD_NONCE_LEN],
		 const void *aad, size_t aad_len, const void *in, size_t len,
		 const uint8_t tag[KT_AEAD_TAG_LEN], uint8_t *out, struct kt_err *err);

/*
 * One key for many messages (the channel's records): the key is scheduled
 * once, and each message only sets its nonce. enc: sealing, else opening;
 * NULL when OpenSSL cannot set it up. The calls above make one each time.
 */
struct kt_aead;
struct kt_aead *kt_aead_new(const uint8_t key[KT_AEAD_KEY_LEN], bool enc);
void kt_aead_free(struct kt_aead *a);
int kt_aead_seal_with(struct kt_aead *a, const uint8_t nonce[KT_AEAD_NONCE_LEN],
		      const void *aad, size_t aad_len, const void *in, size_t len,
		      uint8_t *out, uint8_t tag[KT_AEAD_TAG_LEN], struct kt_err *err);
int kt_aead_open_with(struct kt_aead *a, const uint8_t nonce[KT_AEAD_NONCE_LEN],
		      const void *aad, size_t aad_len, const void *in, size_t len,
		      const uint8_t tag[KT_AEAD_TAG_LEN], uint8_t *out, struct kt_err *err);

int kt_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
		   const char *info, uint8_t *out, size_t out_len, struct kt_err *err);
int kt_scrypt(const char *passphrase, const void *salt, size_t salt_len, uint64_t n,
	      uint32_t r, uint32_t p, uint8_t *out, size_t out_len, struct kt_err *err);

#endif
