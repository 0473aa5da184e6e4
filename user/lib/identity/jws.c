// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "common/encoding.h"
#include "identity/jws.h"

static int is_p256(EVP_PKEY *key)
{
	char group[64];

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return 0;
	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
					    group, sizeof(group), NULL))
		return 0;
	return !strcmp(group, "prime256v1") || !strcmp(group, "P-256");
}

int kt_es256_sign(EVP_PKEY *key, const void *msg, size_t len,
		  uint8_t sig[KT_ES256_SIG_LEN], struct kt_err *err)
{
	unsigned char der[80];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	const BIGNUM *r, *s;
	ECDSA_SIG *esig = NULL;
	EVP_MD_CTX *ctx;
	int ret = -1;

	if (!is_p256(key))
		return kt_fail(err, "key", "signing key is not an EC P-256 key");
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, der, &der_len, msg, len) != 1) {
		kt_fail_ssl(err, "signature", "ECDSA signing failed");
		goto out;
	}
	esig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!esig) {
		kt_fail_ssl(err, "signature", "ECDSA signature not decodable");
		goto out;
	}
	ECDSA_SIG_get0(esig, &r, &s);
	if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32) {
		kt_fail(err, "signature", "ECDSA signature out of range");
		goto out;
	}
	ret = 0;
out:
	ECDSA_SIG_free(esig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int kt_es256_verify(EVP_PKEY *pub, const void *msg, size_t len,
		    const uint8_t sig[KT_ES256_SIG_LEN], struct kt_err *err)
{
	unsigned char *der = NULL;
	ECDSA_SIG *esig;
	EVP_MD_CTX *ctx = NULL;
	BIGNUM *r, *s;
	int der_len, ret = -1;

	if (!is_p256(pub))
		return kt_fail(err, "key", "verification key is not an EC P-256 key");
	esig = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (!esig || !r || !s || !ECDSA_SIG_set0(esig, r, s)) {
		BN_free(r);
		BN_free(s);
		kt_fail_ssl(err, "signature", "out of memory");
		goto out;
	}
	der_len = i2d_ECDSA_SIG(esig, &der);
	ctx = EVP_MD_CTX_new();
	if (der_len <= 0 || !ctx ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1) {
		kt_fail_ssl(err, "signature", "cannot set up ECDSA verification");
		goto out;
	}
	if (EVP_DigestVerify(ctx, der, (size_t)der_len, msg, len) != 1) {
		ERR_clear_error();
		kt_fail(err, "signature", "signature does not verify");
		goto out;
	}
	ret = 0;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(esig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

static char *encode_json(const json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	char *b64;

	if (!text)
		return NULL;
	b64 = kt_b64url_encode((const uint8_t *)text, strlen(text));
	free(text);
	return b64;
}

static int sign_with_pkey(void *key, const void *msg, size_t len,
			  uint8_t sig[KT_ES256_SIG_LEN], struct kt_err *err)
{
	return kt_es256_sign(key, msg, len, sig, err);
}

int kt_jws_sign(EVP_PKEY *key, const json_t *header, const json_t *payload,
		char **out, struct kt_err *err)
{
	return kt_jws_sign_with(sign_with_pkey, key, header, payload, out, err);
}

int kt_jws_sign_with(kt_es256_signer sign, void *ctx, const json_t *header,
		     const json_t *payload, char **out, struct kt_err *err)
{
	uint8_t sig[KT_ES256_SIG_LEN];
	char *h64 = NULL, *p64 = NULL, *s64 = NULL, *input = NULL;
	json_t *hdr;
	int ret = -1;

	hdr = header ? json_deep_copy(header) : json_object();
	if (!hdr || json_object_set_new(hdr, "alg", json_string("ES256")))
		goto nomem;
	h64 = encode_json(hdr);
	p64 = encode_json(payload);
	if (!h64 || !p64 || asprintf(&input, "%s.%s", h64, p64) < 0) {
		input = NULL;
		goto nomem;
	}
	if (sign(ctx, input, strlen(input), sig, err))
		goto out;
	s64 = kt_b64url_encode(sig, sizeof(sig));
	if (!s64 || asprintf(out, "%s.%s", input, s64) < 0)
		goto nomem;
	ret = 0;
	goto out;
nomem:
	kt_fail(err, "structure", "out of memory");
out:
	json_decref(hdr);
	free(h64);
	free(p64);
	free(s64);
	free(input);
	return ret;
}

static json_t *decode_json_part(const char *part, size_t len, const char *what,
				struct kt_err *err)
{
	json_error_t jerr;
	size_t raw_len;
	uint8_t *raw;
	json_t *obj;

	raw = kt_b64url_decode(part, len, &raw_len);
	if (!raw) {
		kt_fail(err, "structure", "%s is not valid base64url", what);
		return NULL;
	}
	obj = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
	free(raw);
	if (!obj) {
		kt_fail(err, "structure", "%s is not valid JSON: %s", what, jerr.text);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		kt_fail(err, "structure", "%s is not a JSON object", what);
		return NULL;
	}
	return obj;
}

int kt_jws_parse(const char *compact, struct kt_jws *jws, struct kt_err *err)
{
	const char *dot1, *dot2, *sig64;
	size_t len, sig_len;
	const char *alg;
	uint8_t *sig;

	memset(jws, 0, sizeof(*jws));
	len = strnlen(compact, KT_JWS_MAX_LEN + 1);
	if (len > KT_JWS_MAX_LEN)
		return kt_fail(err, "structure", "token is larger than %d bytes", KT_JWS_MAX_LEN);
	dot1 = strchr(compact, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
		return kt_fail(err, "structure", "token must have exactly three dot-separated parts");
	jws->header = decode_json_part(compact, (size_t)(dot1 - compact), "header", err);
	if (!jws->header)
		goto fail;
	alg = json_string_value(json_object_get(jws->header, "alg"));
	if (!alg) {
		kt_fail(err, "algorithm", "header has no \"alg\"");
		goto fail;
	}
	if (strcmp(alg, "ES256")) {
		kt_fail(err, "algorithm", "algorithm \"%s\" is not accepted (only ES256)", alg);
		goto fail;
	}
	if (json_object_get(jws->header, "crit")) {
		kt_fail(err, "structure", "critical header extensions are not supported");
		goto fail;
	}
	jws->payload = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), "payload", err);
	if (!jws->payload)
		goto fail;
	sig64 = dot2 + 1;
	sig = kt_b64url_decode(sig64, strlen(sig64), &sig_len);
	if (!sig || sig_len != KT_ES256_SIG_LEN) {
		free(sig);
		kt_fail(err, "structure", "signature is not 64 bytes of base64url");
		goto fail;
	}
	memcpy(jws->sig, sig, sizeof(jws->sig));
	free(sig);
	jws->signing_input_len = (size_t)(dot2 - compact);
	jws->signing_input = strndup(compact, jws->signing_input_len);
	if (!jws->signing_input) {
		kt_fail(err, "structure", "out of memory");
		goto fail;
	}
	return 0;
fail:
	kt_jws_free(jws);
	return -1;
}

int kt_jws_verify(const struct kt_jws *jws, EVP_PKEY *pub, struct kt_err *err)
{
	return kt_es256_verify(pub, jws->signing_input, jws->signing_input_len,
			       jws->sig, err);
}

int kt_jws_x5c(const struct kt_jws *jws, STACK_OF(X509) **chain, struct kt_err *err)
{
	json_t *x5c = json_object_get(jws->header, "x5c"), *item;
	STACK_OF(X509) *certs;
	const unsigned char *p;
	uint8_t *der;
	size_t der_len, i;
	X509 *cert;

	if (!json_is_array(x5c) || json_array_size(x5c) == 0 || json_array_size(x5c) > 8)
		return kt_fail(err, "structure", "header \"x5c\" must be an array of 1 to 8 certificates");
	certs = sk_X509_new_null();
	if (!certs)
		return kt_fail(err, "structure", "out of memory");
	json_array_foreach(x5c, i, item) {
		const char *b64 = json_string_value(item);

		der = b64 ? kt_b64_decode(b64, strlen(b64), &der_len) : NULL;
		if (!der) {
			sk_X509_pop_free(certs, X509_free);
			return kt_fail(err, "structure", "x5c[%zu] is not valid base64", i);
		}
		p = der;
		cert = d2i_X509(NULL, &p, (long)der_len);
		if (!cert || p != der + der_len) {
			X509_free(cert);
			free(der);
			sk_X509_pop_free(certs, X509_free);
			return kt_fail_ssl(err, "structure", "x5c[%zu] is not a DER certificate", i);
		}
		free(der);
		sk_X509_push(certs, cert);
	}
	*chain = certs;
	return 0;
}

json_t *kt_jws_x5c_from_chain(STACK_OF(X509) *chain)
{
	json_t *arr = json_array();
	unsigned char *der;
	char *b64;
	int i, len;

	for (i = 0; arr && i < sk_X509_num(chain); i++) {
		der = NULL;
		len = i2d_X509(sk_X509_value(chain, i), &der);
		b64 = len > 0 ? kt_b64_encode(der, (size_t)len) : NULL;
		OPENSSL_free(der);
		if (!b64 || json_array_append_new(arr, json_string(b64))) {
			free(b64);
			json_decref(arr);
			return NULL;
		}
		free(b64);
	}
	return arr;
}

void kt_jws_free(struct kt_jws *jws)
{
	json_decref(jws->header);
	json_decref(jws->payload);
	free(jws->signing_input);
	memset(jws, 0, sizeof(*jws));
}
