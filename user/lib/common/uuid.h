/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RFC 4122 UUIDs: the one name of a VM and of a host in every stage
 * (measure, attest, ledger, score, grant, migrate). Input is accepted in
 * either case; everything kvmtrust writes, signs or prints is lowercase, so
 * the canonical text can be compared and hashed as bytes.
 */
#ifndef KVMTRUST_UUID_H
#define KVMTRUST_UUID_H

#include <stdbool.h>
#include <stdint.h>

#define KT_UUID_LEN 16
#define KT_UUID_STR_LEN 36

/* Canonical form only: 8-4-4-4-12 lowercase hex digits. */
bool kt_uuid_valid(const char *uuid);

/* Text in either case -> 16 bytes; -1 when it is not a UUID. */
int kt_uuid_parse(const char *text, uint8_t uuid[KT_UUID_LEN]);
void kt_uuid_format(const uint8_t uuid[KT_UUID_LEN], char text[KT_UUID_STR_LEN + 1]);

/* Text in either case -> its canonical lowercase form; -1 when it is not a UUID. */
int kt_uuid_canonical(const char *text, char out[KT_UUID_STR_LEN + 1]);

/* A fresh RFC 4122 version 4 UUID; -1 when the RNG fails. */
int kt_uuid_random(char out[KT_UUID_STR_LEN + 1]);

#endif
