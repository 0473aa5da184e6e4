/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Compact JWS (RFC 7515) with ES256 (RFC 7518 3.4: ECDSA P-256 SHA-256,
 * signature as the 64-byte r || s). The only algorithm kvmtrust signs or
 * accepts is ES256: "none", HS256 and everything else are refused by name
 * before any key is touched, which closes the algorithm-confusion class.
 *
 * Parsing is strict: bounded size, exactly three base64url parts, JSON
 * objects without duplicate members, no "crit" extensions. Failures name the
 * check in kt_err.check: "structure", "algorithm" or "signature".
 */
#ifndef KVMTRUST_JWS_H
#define KVMTRUST_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/error.h"

#define KT_JWS_MAX_LEN (64 * 1024)
#define KT_ES256_SIG_LEN 64

struct kt_jws {
	json_t *header;
	json_t *payload;
	char *signing_input;	/* "<b64url header>.<b64url payload>" */
	size_t signing_input_len;
	uint8_t sig[KT_ES256_SIG_LEN];
};

/*
 * Signs payload with an EC P-256 key. "alg" is set to ES256 in a copy of
 * header (which may be NULL). *out is a malloc'd compact serialization.
 */
int kt_jws_sign(EVP_PKEY *key, const json_t *header, const json_t *payload,
		char **out, struct kt_err *err);

/*
 * As kt_jws_sign() for keys that are not an EVP_PKEY (a TPM-held key):
 * sign() receives the signing input and returns the ES256 r || s.
 */
typedef int (*kt_es256_signer)(void *ctx, const void *msg, size_t len,
			       uint8_t sig[64], struct kt_err *err);
int kt_jws_sign_with(kt_es256_signer sign, void *ctx, const json_t *header,
		     const json_t *payload, char **out, struct kt_err *err);

/* Parses and checks structure and algorithm; no signature check yet. */
int kt_jws_parse(const char *compact, struct kt_jws *jws, struct kt_err *err);

/* Checks the ES256 signature against a P-256 public key. */
int kt_jws_verify(const struct kt_jws *jws, EVP_PKEY *pub, struct kt_err *err);

/* Decodes the "x5c" header (RFC 7515 4.1.6) into certificates, leaf first. */
int kt_jws_x5c(const struct kt_jws *jws, STACK_OF(X509) **chain, struct kt_err *err);

/* Encodes a certificate chain (leaf first) as an "x5c" array. */
json_t *kt_jws_x5c_from_chain(STACK_OF(X509) *chain);

void kt_jws_free(struct kt_jws *jws);

/* ES256 on raw digests-of-messages: shared with reports and ledger entries. */
int kt_es256_sign(EVP_PKEY *key, const void *msg, size_t len,
		  uint8_t sig[KT_ES256_SIG_LEN], struct kt_err *err);
int kt_es256_verify(EVP_PKEY *pub, const void *msg, size_t len,
		    const uint8_t sig[KT_ES256_SIG_LEN], struct kt_err *err);

#endif
