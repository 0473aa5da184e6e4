/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sealing a small secret to the TPM 2.0 (tpm2-tss ESAPI), for the keystore.
 *
 * The secret becomes a keyedhash data object (fixedTPM, fixedParent, empty
 * auth) under the owner hierarchy's ECC P-256 storage primary (the TCG SRK
 * template, re-created from the owner seed on every call, so nothing but the
 * object's public and private blobs is kept). The private blob is encrypted
 * by the TPM under that primary: only the same TPM, with the same owner
 * seed, can unseal it. No PCR policy yet: binding to boot state is future
 * work. Every transient object is flushed before the call returns.
 *
 * tcti is a tctildr string ("swtpm:host=127.0.0.1,port=2321",
 * "device:/dev/tpmrm0"). Failures name the check "tpm".
 */
#ifndef KVMTRUST_TPM_SEAL_H
#define KVMTRUST_TPM_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define KT_TPM_SEAL_MAX 128

/* pub and priv are malloc'd marshalled TPM2B_PUBLIC and TPM2B_PRIVATE. */
int kt_tpm_seal(const char *tcti, const uint8_t *secret, size_t len,
		uint8_t **pub, size_t *pub_len, uint8_t **priv, size_t *priv_len,
		struct kt_err *err);
/* secret must hold KT_TPM_SEAL_MAX bytes; *len receives the secret's length. */
int kt_tpm_unseal(const char *tcti, const uint8_t *pub, size_t pub_len,
		  const uint8_t *priv, size_t priv_len, uint8_t *secret, size_t *len,
		  struct kt_err *err);

#endif
