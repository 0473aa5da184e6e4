/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Attestation reports (Documentation/attestation.rst): an EAT-style JWT,
 * compact JWS with ES256, signed by the host key (hostkey.h).
 *
 *   header  {"alg":"ES256","typ":"JWT","x5c":[...]}   x5c when cert.pem exists
 *   claims  ver, eat_profile, kind ("vm-state" | "launch-config"), jti,
 *           iat, host_id, key ("tpm" | "software"), eat_nonce (optional),
 *           vm-state:      vm_id, seq, pages, memory_root, vcpu_root,
 *                          leaf_format, config_root (both optional)
 *           launch-config: vm_id (optional), config_root, params
 *           tpm (TPM keys): {pcr, pcr_prev, pcr_value, quote, quote_sig}
 *
 * The report digest is SHA-256 over the claims without "tpm", serialized as
 * compact JSON with sorted keys. A TPM host extends its report PCR with
 * that digest and quotes the PCR with the digest as qualifying data, so the
 * quote binds this report and the PCR orders it among all reports of the
 * host.
 *
 * Verification names the failing check in kt_err.check: structure,
 * algorithm, chain (and with an anchor directory anchors, validity,
 * revocation, pathlen, name-constraints: report_chain.h), signature,
 * claims, key, quote, nonce, freshness, replay, memory_root, vcpu_root,
 * config_root.
 */
#ifndef KVMTRUST_REPORT_H
#define KVMTRUST_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "attest/hostkey.h"
#include "common/error.h"
#include "common/merkle.h"

#define KT_REPORT_VERSION 1
#define KT_REPORT_PROFILE "tag:kvmtrust,2026:report-v1"
#define KT_REPORT_MAX_NONCE 256
#define KT_REPORT_DEFAULT_MAX_AGE 300
#define KT_REPORT_CLOCK_SKEW 60
#define KT_REPORT_CHAIN_AT_IAT (-1)

/* The measured VM state a report attests (from kvmtrust measure --json or the module). */
struct kt_vm_state {
	kt_hash memory_root;
	kt_hash vcpu_root;
	bool has_vcpu_root;
	uint64_t pages;
	uint64_t seq;
	uint32_t leaf_format;	/* memory leaf layout (measurement.rst); 0: not stated */
};

/* Reads {memory_root, vcpu_root?, pages, seq, ...} from a JSON file. */
int kt_vm_state_load(const char *path, struct kt_vm_state *m, struct kt_err *err);

/* vm-state claims; nonce and config_root may be NULL. */
json_t *kt_report_vm_claims(const char *vm_id, const struct kt_vm_state *m,
			    const char *nonce, const kt_hash config_root);

/*
 * Completes claims (ver, profile, jti, iat, host_id, key), extends and
 * quotes on a TPM host, and signs. claims is modified; *out is malloc'd.
 */
int kt_report_sign(struct kt_hostkey *hk, json_t *claims, char **out, struct kt_err *err);

/* SHA-256 over the claims without "tpm" (compact, sorted keys). */
int kt_report_digest(const json_t *claims, kt_hash out);

struct kt_report_policy {
	EVP_PKEY *key;			/* pinned host public key, or NULL */
	const char *anchors;		/* x5c trust anchors: directory or PEM file */
	const char *crls;		/* CRL directory: check revocation (anchors dir) */
	const char *kind;		/* required kind, or NULL for any */
	const char *nonce;		/* the challenge, or NULL */
	int64_t now;			/* 0: time(NULL) */
	int64_t max_age;		/* seconds; 0: KT_REPORT_DEFAULT_MAX_AGE, <0: off */
	const char *last_seen;		/* replay state file, or NULL */
	bool require_tpm;
	/*
	 * When the x5c chain is judged: 0 now, KT_REPORT_CHAIN_AT_IAT at the
	 * report's own iat (an auditor's check of an old report).
	 */
	int64_t chain_at;
	const char *expect_memory_root;	/* hex, or NULL */
	const char *expect_vcpu_root;
	const char *expect_config_root;
};

/*
 * All checks, in the order the header lists them; on success *claims (if
 * not NULL) holds the verified claims and the last-seen file is advanced.
 */
int kt_report_verify(const char *compact, const struct kt_report_policy *policy,
		     json_t **claims, struct kt_err *err);

/* Reads a PEM public key file. */
EVP_PKEY *kt_report_load_pubkey(const char *path, struct kt_err *err);

#endif
