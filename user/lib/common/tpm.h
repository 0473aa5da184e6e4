/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's TPM 2.0 through tpm2-tss ESAPI: the one access layer that the
 * host key (below, hostkey.h) and sealing (tpm_seal.h) share.
 *
 * Context: kt_tpm_open() takes a tctildr string ("swtpm:host=127.0.0.1,
 * port=2321", "device:/dev/tpmrm0", "tabrmd"; NULL lets tctildr pick its
 * default), as given by --tcti, $KVMTRUST_TCTI or --tpm.
 *
 * Parent: every object is a child of the owner hierarchy's storage primary
 * (SRK) made from the TCG ECC P-256 SRK template (TPM v2.0 Provisioning
 * Guidance 7.5.1, the EK Credential Profile's template L-2 with userWithAuth
 * and noDA): nameAlg SHA-256, fixedTPM | fixedParent | sensitiveDataOrigin |
 * userWithAuth | noDA | restricted | decrypt, AES-128-CFB, no scheme, no KDF,
 * unique x and y 32 zero bytes, empty auth. It is derived from the owner
 * seed, so it is recreated on demand and nothing but a child's public and
 * private blobs is kept.
 *
 * Flushing: the SRK is flushed before the call that created it returns; a
 * hash sequence on every path; a loaded child by kt_tpm_flush() (sealed
 * objects, before kt_tpm_unseal() returns) or kt_tpm_close() (the signing key).
 *
 * Errors: check "tpm", "<what>: <Tss2_RC_Decode(rc)>" (kt_tpm_fail()).
 *
 * The signing key is a *restricted* ECDSA P-256 key (sign, fixedTPM,
 * fixedParent) under the SRK. Restricted means the TPM signs only digests
 * it computed itself (hash sequence with a validation ticket), and refuses
 * data that starts like a TPM-made structure: the same key therefore signs
 * reports and CSRs *and* quotes, and a quote from it cannot be forged with a
 * plain signature.
 */
#ifndef KVMTRUST_TPM_H
#define KVMTRUST_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>

#include "common/error.h"
#include "common/merkle.h"

/* Resettable from locality 0 and unused by firmware or IMA. */
#define KT_TPM_DEFAULT_PCR 23

/* A marshalled TPM structure (TPM2B_PUBLIC, TPM2B_PRIVATE, TPMS_ATTEST...). */
struct kt_blob {
	uint8_t *data;
	size_t len;
};

struct kt_tpm;

int kt_tpm_open(const char *tcti, struct kt_tpm **tpm, struct kt_err *err);
/* Flushes the loaded key, finalizes ESAPI and the TCTI. NULL is fine. */
void kt_tpm_close(struct kt_tpm *tpm);
ESYS_CONTEXT *kt_tpm_esys(struct kt_tpm *tpm);

/* kt_fail(err, "tpm", "<what>: <decoded rc>"); returns -1. */
int kt_tpm_fail(struct kt_err *err, const char *what, TSS2_RC rc);
/* Flushes *object unless it is ESYS_TR_NONE, then sets it to ESYS_TR_NONE. */
void kt_tpm_flush(struct kt_tpm *tpm, ESYS_TR *object);

/* A whole blob as one structure; -1 (no message) if it is not exactly that. */
int kt_tpm_parse_public(const struct kt_blob *blob, TPM2B_PUBLIC *pub);
int kt_tpm_parse_private(const struct kt_blob *blob, TPM2B_PRIVATE *priv);

/*
 * Creates a child of the SRK from tmpl (and sensitive, NULL for none);
 * pub/priv receive the marshalled TPM2B blobs. A TPM refusal is reported
 * as kt_tpm_fail(err, what, rc).
 */
int kt_tpm_create(struct kt_tpm *tpm, const TPM2B_PUBLIC *tmpl,
		  const TPM2B_SENSITIVE_CREATE *sensitive, struct kt_blob *pub,
		  struct kt_blob *priv, const char *what, struct kt_err *err);
/* Loads a child of the SRK; the caller flushes *object (kt_tpm_flush()). */
int kt_tpm_load(struct kt_tpm *tpm, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		ESYS_TR *object, const char *what, struct kt_err *err);

/* Creates a new signing key; pub/priv receive the marshalled TPM2B blobs. */
int kt_tpm_create_key(struct kt_tpm *tpm, struct kt_blob *pub, struct kt_blob *priv,
		      struct kt_err *err);
/*
 * The signing key's parent: the SRK, or for keys made before the SRK was
 * shared (hostkey.json version 1) the SRK template with an empty unique field.
 */
enum kt_tpm_parent { KT_TPM_PARENT_SRK, KT_TPM_PARENT_V1 };

/* Loads the key from its blobs; it stays loaded until kt_tpm_close(). */
int kt_tpm_load_key(struct kt_tpm *tpm, enum kt_tpm_parent parent, const struct kt_blob *pub,
		    const struct kt_blob *priv, struct kt_err *err);
/* The EC public key inside a marshalled TPM2B_PUBLIC. */
int kt_tpm_public_to_pkey(const struct kt_blob *pub, EVP_PKEY **pkey, struct kt_err *err);

/* ES256 over msg (the TPM hashes it) with the loaded key: r || s. */
int kt_tpm_sign(struct kt_tpm *tpm, const void *msg, size_t len,
		uint8_t sig[64], struct kt_err *err);

int kt_tpm_pcr_read(struct kt_tpm *tpm, unsigned int pcr, kt_hash value, struct kt_err *err);
int kt_tpm_pcr_extend(struct kt_tpm *tpm, unsigned int pcr, const kt_hash digest,
		      struct kt_err *err);
/*
 * TPM2_Quote over the SHA-256 bank's `pcr` with qualifying data `extra`
 * (at most 32 bytes). attest receives the marshalled TPMS_ATTEST (what the
 * TPM signed), sig the marshalled TPMT_SIGNATURE (tpm2_checkquote's format).
 */
int kt_tpm_quote(struct kt_tpm *tpm, unsigned int pcr, const uint8_t *extra, size_t extra_len,
		 struct kt_blob *attest, struct kt_blob *sig, struct kt_err *err);

void kt_blob_free(struct kt_blob *blob);

#endif
