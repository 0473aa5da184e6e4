/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's TPM 2.0 through tpm2-tss ESAPI. The TCTI is a tctildr string
 * ("swtpm:host=127.0.0.1,port=2321", "device:/dev/tpmrm0", "tabrmd"); NULL
 * lets tctildr pick its default.
 *
 * The signing key is a *restricted* ECDSA P-256 key (sign, fixedTPM,
 * fixedParent) under the owner hierarchy's ECC storage primary (the
 * TCG "SRK" template, recreated on demand from the owner seed, so nothing
 * but the child's public and private blobs has to be kept). Restricted
 * means the TPM signs only digests it computed itself (hash sequence with a
 * validation ticket), and refuses data that starts like a TPM-made
 * structure: the same key therefore signs reports and CSRs *and* quotes,
 * and a quote from it cannot be forged with a plain signature.
 *
 * Every transient object (primary, key, hash sequence) is flushed before
 * the call that created it returns, or in kt_tpm_close() for the key.
 */
#ifndef KVMTRUST_TPM_H
#define KVMTRUST_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "error.h"
#include "merkle.h"

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

/* Creates a new signing key; pub/priv receive the marshalled TPM2B blobs. */
int kt_tpm_create_key(struct kt_tpm *tpm, struct kt_blob *pub, struct kt_blob *priv,
		      struct kt_err *err);
/* Loads the key from its blobs; it stays loaded until kt_tpm_close(). */
int kt_tpm_load_key(struct kt_tpm *tpm, const struct kt_blob *pub,
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
