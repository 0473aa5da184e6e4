/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host location extension (KT_PKI_OID_LOCATION in pki.h): DER
 * SEQUENCE { region UTF8String, site UTF8String }, encoded and decoded by
 * OpenSSL's ASN.1 templates. Internal to the pki_* files.
 */
#ifndef KVMTRUST_PKI_LOCATION_H
#define KVMTRUST_PKI_LOCATION_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "common/error.h"

bool kt_location_attr_valid(const char *value);
int kt_location_add(X509 *cert, const char *region, const char *site, struct kt_err *err);
/* 1 and filled if present, 0 if absent, -1 if present but malformed. */
int kt_location_get(X509 *cert, char *region, char *site, size_t size, struct kt_err *err);

#endif
