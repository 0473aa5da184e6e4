/* SPDX-License-Identifier: GPL-2.0 */
/*
 * EC P-256 public keys as JSON Web Keys (RFC 7517/7518 6.2): {"kty":"EC",
 * "crv":"P-256","x":b64url(32),"y":b64url(32)}. Used for the guest key in
 * a token's "cnf" claim (RFC 7800). The point is checked to be on the curve
 * by OpenSSL when the key is built.
 */
#ifndef KVMTRUST_JWK_H
#define KVMTRUST_JWK_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/error.h"
#include "common/p256.h"

json_t *kt_jwk_from_key(EVP_PKEY *key, struct kt_err *err);
EVP_PKEY *kt_jwk_to_key(const json_t *jwk, struct kt_err *err);

#endif
