/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who signed a report: the x5c chain of its header checked against the
 * verifier's trust anchors, and the leaf bound to the report's host_id.
 *
 * Anchors are a directory of PEM files or a single PEM file, checked by
 * kt_pki_verify() (pki.h: re-read on change, revocation when a CRL
 * directory or file is given, refusals named "anchors", "chain",
 * "validity", "revocation", "pathlen", "name-constraints", "key-usage").
 * The leaf names its host by a urn:uuid subjectAltName (kvmtrust CA host
 * certificates) or else by its CN; either must equal host_id.
 */
#ifndef KVMTRUST_REPORT_CHAIN_H
#define KVMTRUST_REPORT_CHAIN_H

#include <time.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "identity/jws.h"

/*
 * Returns the certified (leaf) public key, or NULL with err filled; the
 * chain is judged at time `at` (0: now).
 */
EVP_PKEY *kt_report_chain_key(const struct kt_jws *jws, const char *anchors,
			      const char *crls, const char *host_id, time_t at,
			      struct kt_err *err);

#endif
