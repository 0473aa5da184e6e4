/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sealing a small secret to the TPM 2.0, for the keystore, through the
 * shared access layer (tpm.h: context, SRK, flushing, errors).
 *
 * The secret becomes a keyedhash data object (fixedTPM, fixedParent, noDA,
 * empty auth) under the SRK; only the object's public and private blobs are
 * kept. The private blob is encrypted by the TPM under the SRK: only the
 * same TPM, with the same owner seed, can unseal it. No PCR policy yet:
 * binding to boot state is future work. Every transient object is flushed
 * before the call returns.
 *
 * tcti is a tctildr string ("swtpm:host=127.0.0.1,port=2321",
 * "device:/dev/tpmrm0"). Failures name the check "tpm", malformed blobs
 * "keystore".
 */
#ifndef KVMTRUST_TPM_SEAL_H
#define KVMTRUST_TPM_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/tpm.h"

#define KT_TPM_SEAL_MAX 128

/* pub and priv receive the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE. */
int kt_tpm_seal(const char *tcti, const uint8_t *secret, size_t len,
		struct kt_blob *pub, struct kt_blob *priv, struct kt_err *err);
/* secret must hold KT_TPM_SEAL_MAX bytes; *len receives the secret's length. */
int kt_tpm_unseal(const char *tcti, const struct kt_blob *pub, const struct kt_blob *priv,
		  uint8_t *secret, size_t *len, struct kt_err *err);

#endif
