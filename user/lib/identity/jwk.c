// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include "common/encoding.h"
#include "identity/jwk.h"

static char *coord(EVP_PKEY *key, const char *name)
{
	uint8_t buf[KT_P256_COORD_LEN];
	BIGNUM *bn = NULL;
	char *b64 = NULL;

	if (EVP_PKEY_get_bn_param(key, name, &bn) && BN_bn2binpad(bn, buf, KT_P256_COORD_LEN) == KT_P256_COORD_LEN)
		b64 = kt_b64url_encode(buf, KT_P256_COORD_LEN);
	BN_free(bn);
	return b64;
}

json_t *kt_jwk_from_key(EVP_PKEY *key, struct kt_err *err)
{
	char group[32] = "", *x = NULL, *y = NULL;
	json_t *jwk = NULL;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) ||
	    (strcmp(group, "prime256v1") && strcmp(group, "P-256"))) {
		ERR_clear_error();
		kt_fail(err, "key", "the key is not an EC P-256 key");
		return NULL;
	}
	x = coord(key, OSSL_PKEY_PARAM_EC_PUB_X);
	y = coord(key, OSSL_PKEY_PARAM_EC_PUB_Y);
	if (x && y)
		jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
	if (!jwk)
		kt_fail_ssl(err, "key", "cannot export the public key");
	free(x);
	free(y);
	return jwk;
}

static int decode_coord(const json_t *jwk, const char *name, uint8_t *out)
{
	const char *b64 = json_string_value(json_object_get(jwk, name));
	size_t len;
	uint8_t *raw = b64 ? kt_b64url_decode(b64, strlen(b64), &len) : NULL;

	if (!raw || len != KT_P256_COORD_LEN) {
		free(raw);
		return -1;
	}
	memcpy(out, raw, KT_P256_COORD_LEN);
	free(raw);
	return 0;
}

EVP_PKEY *kt_jwk_to_key(const json_t *jwk, struct kt_err *err)
{
	uint8_t point[KT_P256_POINT_LEN] = { 0x04 };	/* SEC1 uncompressed */
	EVP_PKEY *key;

	if (!json_is_object(jwk) ||
	    strcmp(json_string_value(json_object_get(jwk, "kty")) ?: "", "EC") ||
	    strcmp(json_string_value(json_object_get(jwk, "crv")) ?: "", "P-256") ||
	    json_object_get(jwk, "d")) {
		kt_fail(err, "structure", "the JWK must be a public EC P-256 key");
		return NULL;
	}
	if (decode_coord(jwk, "x", point + 1) || decode_coord(jwk, "y", point + 1 + KT_P256_COORD_LEN)) {
		kt_fail(err, "structure", "JWK coordinates must be 32 bytes of base64url");
		return NULL;
	}
	key = kt_p256_from_point(point);
	if (!key)
		kt_fail_ssl(err, "structure", "the JWK is not a point on P-256");
	return key;
}
