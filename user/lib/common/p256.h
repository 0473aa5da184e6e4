/* SPDX-License-Identifier: GPL-2.0 */
/*
 * EC P-256 public keys from their SEC1 uncompressed point. Both the TPM
 * layer (a TPM2B_ECC_POINT) and the JWK code (RFC 7518 x and y) arrive at
 * the same 65 bytes, so the one conversion lives below both.
 */
#ifndef KVMTRUST_P256_H
#define KVMTRUST_P256_H

#include <stdint.h>

#include <openssl/evp.h>

#define KT_P256_COORD_LEN 32
#define KT_P256_POINT_LEN (1 + 2 * KT_P256_COORD_LEN)

/*
 * The P-256 public key at an uncompressed SEC1 point (0x04 || x || y), or
 * NULL when it is not on the curve (OpenSSL's error queue says why).
 */
EVP_PKEY *kt_p256_from_point(const uint8_t point[KT_P256_POINT_LEN]);

#endif
