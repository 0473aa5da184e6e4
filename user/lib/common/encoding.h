/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hex and base64 (RFC 4648 standard and url-safe, unpadded) on top of
 * OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock. Decoders are strict: they
 * refuse characters outside the alphabet, bad padding and non-canonical
 * trailing bits, because tokens are compared and hashed as text.
 */
#ifndef KVMTRUST_ENCODING_H
#define KVMTRUST_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len lowercase hex digits and a NUL to out. */
/* Big-endian integers of `bytes` bytes (1..8), as the ledger's binary layouts use. */
void kt_be_put(uint8_t *p, uint64_t v, int bytes);
uint64_t kt_be_get(const uint8_t *p, int bytes);

void kt_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly out_len bytes from a 2*out_len digit string; -1 on any error. */
int kt_hex_decode(const char *in, uint8_t *out, size_t out_len);

/*
 * The one text form of a time, in every message and output: ISO 8601 UTC,
 * "2026-11-23T04:00:00Z". Returns buf.
 */
#define KT_TIME_ISO_LEN 32
const char *kt_time_iso(int64_t t, char buf[KT_TIME_ISO_LEN]);

/* Returns a malloc'd NUL-terminated encoding, or NULL on allocation failure. */
char *kt_b64_encode(const uint8_t *in, size_t len);
char *kt_b64url_encode(const uint8_t *in, size_t len);

/* Returns a malloc'd buffer (with a NUL after *out_len bytes) or NULL if invalid. */
uint8_t *kt_b64_decode(const char *in, size_t in_len, size_t *out_len);
uint8_t *kt_b64url_decode(const char *in, size_t in_len, size_t *out_len);

#endif
