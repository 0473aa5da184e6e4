/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's attestation key: a restricted ECDSA P-256 key in the TPM
 * (tpm.h) or, when the host has no TPM, a software key file. Which one it is
 * travels with every signature ("key": "tpm" | "software") and a software
 * key never claims to be hardware-backed.
 *
 * Key directory (default /var/lib/kvmtrust/hostkey, $KVMTRUST_KEY_DIR):
 *   hostkey.json  {"version":2,"origin":..,"host_id":..,"pcr":23,"tcti":..}
 *                       version 1: a TPM key under the pre-SRK parent (tpm.h)
 *   key.pub, key.priv   TPM: marshalled TPM2B_PUBLIC / TPM2B_PRIVATE
 *                       (the files tpm2_create -u/-r writes)
 *   key.pem             software: PKCS#8 private key, mode 0600
 *   public.pem          SubjectPublicKeyInfo, for verifiers and CAs
 *   host.csr            PKCS#10 request signed by the key itself
 *   cert.pem            optional: the CA-issued certificate (leaf first,
 *                       then intermediates); reports then carry it as x5c
 *   lock                serializes PCR extend + quote between processes
 */
#ifndef KVMTRUST_HOSTKEY_H
#define KVMTRUST_HOSTKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "common/merkle.h"
#include "common/tpm.h"
#include "identity/quote.h"

enum kt_key_origin { KT_KEY_SOFTWARE, KT_KEY_TPM };

/* hostkey.json's version written by kt_hostkey_init(); 1 is still read. */
#define KT_HOSTKEY_VERSION 2

struct kt_hostkey {
	enum kt_key_origin origin;
	unsigned int version;	/* of hostkey.json */
	char *dir;
	char *host_id;
	char *tcti;		/* NULL: tctildr's default */
	unsigned int pcr;
	EVP_PKEY *pub;
	EVP_PKEY *priv;		/* software keys only */
	struct kt_tpm *tpm;	/* TPM keys only, key loaded */
	STACK_OF(X509) *chain;	/* cert.pem, or NULL */
};

struct kt_hostkey_params {
	const char *dir;
	const char *tcti;	/* TPM through this TCTI (NULL: default) */
	bool software;		/* no TPM: software key file */
	const char *host_id;	/* NULL: /etc/machine-id */
	unsigned int pcr;
	bool force;		/* replace an existing key */
};

const char *kt_key_origin_name(enum kt_key_origin origin);
/* $KVMTRUST_KEY_DIR or /var/lib/kvmtrust/hostkey. */
const char *kt_hostkey_default_dir(void);
/* $KVMTRUST_TCTI or NULL. */
const char *kt_hostkey_default_tcti(void);

/* Creates the key, public.pem and host.csr in params->dir. */
int kt_hostkey_init(const struct kt_hostkey_params *params, struct kt_err *err);
/* Opens the key; a TPM key is loaded (tcti overrides the recorded one). */
int kt_hostkey_open(const char *dir, const char *tcti, struct kt_hostkey **hk,
		    struct kt_err *err);
void kt_hostkey_close(struct kt_hostkey *hk);

/* ES256 r || s over msg. Usable as a kt_es256_signer with hk as ctx. */
int kt_hostkey_sign(void *hk, const void *msg, size_t len, uint8_t sig[64],
		    struct kt_err *err);
/* A PKCS#10 request for the key, CN = host id, signed by the key. */
int kt_hostkey_csr(struct kt_hostkey *hk, X509_REQ **req, struct kt_err *err);

/*
 * TPM keys only: extends the PCR with digest and quotes it with digest as
 * qualifying data, holding the directory's lock so that no other report's
 * extend lands between the read, the extend and the quote.
 */
int kt_hostkey_extend_quote(struct kt_hostkey *hk, const kt_hash digest,
			    struct kt_quote *q, struct kt_err *err);

#endif
