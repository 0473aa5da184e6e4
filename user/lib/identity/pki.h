/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kvmtrust CA hierarchy: ECDSA P-256 X.509 root and intermediate CAs,
 * host certificates, per-CA CRLs and chain verification (OpenSSL 3).
 *
 * Where a host certificate keeps its identity (other code matches on these;
 * kt_pki_cert_info() is the one place that reads them):
 *
 *   host UUID      subjectAltName URI "urn:uuid:<uuid>" (RFC 4122 lowercase),
 *                  exactly one; the subject CN is informational only
 *   region, site   non-critical extension KT_PKI_OID_LOCATION whose value is
 *                    KtLocation ::= SEQUENCE { region UTF8String, site UTF8String }
 *                  The OID is in the 2.25 arc (X.667 UUID-derived, needs no
 *                  registration): 2.25.<integer of c6d3a8f8-03bb-47bf-9e2d-b12e146a9745>
 *   key identifier subjectKeyIdentifier = SHA-1 of the public key bits
 *                  (RFC 5280 4.2.1.2 method 1); every non-root certificate has
 *                  authorityKeyIdentifier = its issuer's SKI
 *
 * CA certificates: basicConstraints critical CA:TRUE with an optional
 * pathLenConstraint, keyUsage critical keyCertSign+cRLSign, optional critical
 * nameConstraints over DNS names. Host and user certificates: CA:FALSE,
 * keyUsage critical digitalSignature. Serial numbers are 127 random bits.
 *
 * A credential directory (what `kvmtrust ca init|issue` writes) holds
 *   key.pem    the private key, mode 0600 (PKCS#8, unencrypted)
 *   cert.pem   the certificate
 *   chain.pem  the certificate followed by its issuers, excluding the root
 *              (exactly what a JWS x5c header carries)
 * and for a CA also revoked.json (the revocation database) and crl.pem.
 */
#ifndef KVMTRUST_PKI_H
#define KVMTRUST_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "common/uuid.h"

#define KT_PKI_OID_LOCATION "2.25.264286144897116771463239012726682064709"
#define KT_PKI_ATTR_MAX 64	/* region and site: [A-Za-z0-9._-]{1,64} */
#define KT_PKI_KEYID_HEX_MAX 128

enum kt_cert_kind {
	KT_CERT_ROOT,		/* self-signed CA, the trust anchor */
	KT_CERT_CA,		/* intermediate CA */
	KT_CERT_HOST,		/* a KVM host: UUID, region, site */
	KT_CERT_USER,		/* any other signer: VM owner, administrator */
};

/* What to put in a new certificate. Unused fields for a kind are ignored. */
struct kt_cert_req {
	enum kt_cert_kind kind;
	const char *cn;			/* subject commonName, required */
	time_t not_before, not_after;
	int pathlen;			/* CA: intermediates allowed below, -1: no limit */
	const char *const *permit_dns;	/* CA: NULL-terminated permitted DNS subtrees */
	const char *const *exclude_dns;	/* CA: NULL-terminated excluded DNS subtrees */
	const char *host_uuid;		/* HOST: required */
	const char *region, *site;	/* HOST: required */
	const char *const *dns;		/* HOST, USER: optional DNS subjectAltNames */
};

/* A loaded credential directory that can sign (CA or end entity). */
struct kt_cred {
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;	/* cert first, then issuers, root excluded */
};

/* Everything callers match on, read from one certificate. */
struct kt_cert_info {
	enum kt_cert_kind kind;
	char subject[256], issuer[256];	/* RFC 2253 one-line names */
	char serial[80];		/* lowercase hex */
	time_t not_before, not_after;
	int pathlen;			/* -1 when absent */
	char host_uuid[KT_UUID_STR_LEN + 1];	/* "" when absent */
	char region[KT_PKI_ATTR_MAX + 1], site[KT_PKI_ATTR_MAX + 1];
	char ski[KT_PKI_KEYID_HEX_MAX + 1], aki[KT_PKI_KEYID_HEX_MAX + 1];
};

/* --- keys, certificates and credential directories (pki_file.c) --- */

EVP_PKEY *kt_pki_new_key(struct kt_err *err);
/* The key file must be private (see secfile.h). */
EVP_PKEY *kt_pki_load_key(const char *path, struct kt_err *err);
EVP_PKEY *kt_pki_load_pubkey(const char *path, struct kt_err *err);
int kt_pki_save_key(const char *path, EVP_PKEY *key, struct kt_err *err);
/* Every certificate in a PEM file, in file order; at least one. */
STACK_OF(X509) *kt_pki_load_certs(const char *path, struct kt_err *err);
X509 *kt_pki_load_cert(const char *path, struct kt_err *err);
int kt_pki_save_certs(const char *path, STACK_OF(X509) *certs, struct kt_err *err);

/* dir/key.pem and dir/chain.pem, as kt_cred_load_files(). */
int kt_cred_load(const char *dir, struct kt_cred *cred, struct kt_err *err);
/*
 * A signing credential from a private key file and a certificate file (the
 * signer's certificate, then its intermediates), which must match.
 */
int kt_cred_load_files(const char *key, const char *chain, struct kt_cred *cred,
		       struct kt_err *err);
/* Writes key.pem (if key), cert.pem and chain.pem; creates dir (0700). */
int kt_cred_save(const char *dir, const struct kt_cred *cred, struct kt_err *err);
void kt_cred_free(struct kt_cred *cred);

/* --- issuing (pki.c) --- */

/* Creates a root CA credential directory with a new key. */
int kt_ca_init(const char *dir, const struct kt_cert_req *req, struct kt_err *err);
/*
 * Issues a certificate for pub, signed by ca; fills out with the new cert
 * and its chain (key left NULL). Refuses requests the CA may not sign
 * (not a CA, validity outside the CA's, bad UUID or attribute syntax).
 */
int kt_ca_issue(const struct kt_cred *ca, const struct kt_cert_req *req,
		EVP_PKEY *pub, struct kt_cred *out, struct kt_err *err);

/* --- revocation (pki_crl.c) --- */

/*
 * Adds cert (which ca must have issued) to ca_dir/revoked.json with an RFC
 * 5280 CRLReason code, then writes a fresh ca_dir/crl.pem. Check "revoked"
 * when it is there already.
 */
int kt_ca_revoke(const char *ca_dir, const struct kt_cred *ca, X509 *cert,
		 int reason, struct kt_err *err);
/* Signs a CRL of everything revoked, valid for days; writes ca_dir/crl.pem. */
int kt_ca_crl(const char *ca_dir, const struct kt_cred *ca, unsigned int days,
	      X509_CRL **crl, struct kt_err *err);
/* RFC 5280 reason names ("keyCompromise", ...) to codes; -1 if unknown. */
int kt_crl_reason(const char *name);

/* --- verification (pki_verify.c) --- */

/*
 * A directory of PEM files (*.pem, *.crt, *.crl) holding certificates and
 * CRLs, or one such PEM file. It is re-read whenever a file in it is added,
 * removed, renamed or rewritten, so trust anchors and CRLs can be updated
 * while a process runs. Not thread-safe: use one per thread.
 */
struct kt_pki_dir;

int kt_pki_dir_open(const char *path, struct kt_pki_dir **dir, struct kt_err *err);
void kt_pki_dir_free(struct kt_pki_dir *dir);
/* How many times the directory has been (re)loaded; for tests and logs. */
unsigned int kt_pki_dir_generation(const struct kt_pki_dir *dir);

enum kt_pki_verify_flags {
	KT_PKI_NO_TIME = 1 << 0,	/* skip validity windows (of certs and CRLs) */
	KT_PKI_NO_CRL = 1 << 1,		/* skip revocation */
	/*
	 * The leaf signs nothing here (`ca verify` of a CA certificate): skip
	 * the key-usage check. Never for the signer of a token, report, ledger
	 * entry, grant, order or handshake.
	 */
	KT_PKI_NOT_SIGNER = 1 << 2,
};

struct kt_pki_verify_opts {
	struct kt_pki_dir *anchors;	/* required: root certificates */
	struct kt_pki_dir *crls;	/* CRLs of every CA in the path, unless KT_PKI_NO_CRL */
	STACK_OF(X509) *untrusted;	/* intermediates offered by the peer; may be NULL */
	time_t at;			/* verification time; 0 means now */
	unsigned int flags;
	int require_kind;		/* leaf must be this enum kt_cert_kind, or -1 */
};

/*
 * The one check of a signer's certificate, for every signed object
 * (tokens, reports, ledger entries, grants, handshakes): builds and checks
 * the path from leaf to a trust anchor, then that the leaf is of the
 * required kind and may sign. With CRLs on, every CA in the path must have
 * a current CRL (X509_V_FLAG_CRL_CHECK_ALL): a missing CRL is a refusal,
 * not a pass. A verifier that judges old signatures at their own time (the
 * ledger) passes KT_PKI_NO_TIME | KT_PKI_NO_CRL and checks the leaf's
 * window itself. On success *path (if not NULL) is the verified chain, leaf
 * first and the anchor last.
 *
 * Failures name the check: "anchors" (directory unusable), "chain" (no path
 * to an anchor, bad certificate signature, not a CA), "validity" (a
 * certificate outside its window), "revocation" (revoked, or CRL missing,
 * stale or badly signed), "pathlen", "name-constraints", "purpose" (leaf of
 * the wrong kind), "key-usage" (as kt_pki_check_signer()).
 */
int kt_pki_verify(X509 *leaf, const struct kt_pki_verify_opts *opts,
		  STACK_OF(X509) **path, struct kt_err *err);

/*
 * "key-usage": 0 when cert's key may make signatures, i.e. its keyUsage
 * has digitalSignature. A certificate without keyUsage is unrestricted
 * (RFC 5280 4.2.1.3); every kvmtrust CA writes one. kt_pki_verify() runs
 * it on the leaf; a signer pinned without a chain (a migration order's
 * administrator) is checked with it directly.
 */
int kt_pki_check_signer(X509 *cert, struct kt_err *err);

/* --- reading certificates (pki_info.c) --- */

int kt_pki_cert_info(X509 *cert, struct kt_cert_info *info, struct kt_err *err);
const char *kt_cert_kind_name(enum kt_cert_kind kind);

#endif
