/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Migration grants: a VM owner's signed statement of where a guest may run
 * and who may move it there, so an administrator can migrate it (say, in an
 * emergency) without asking the owner each time, but only inside the limits
 * the owner set.
 *
 * A grant is a compact ES256 JWS (jws.h) with header typ
 * "kvmtrust-migration-grant" and the owner's certificate chain in x5c. The
 * chain must end at an owner trust anchor, which is a separate store from
 * the host CAs: whoever runs the host CAs cannot mint a grant. The claims
 * (Documentation/migration-policy.rst) are:
 *
 *   jti  grant id (UUID)           vm   guest UUID
 *   iss  signer's subject (RFC 2253, must match the x5c leaf)
 *   iat, nbf, exp  seconds since the epoch; valid for nbf <= now < exp
 *   hosts.ca_keyids   allowed host CAs (key identifiers, see below); a host
 *                     certified by one of them or by any sub-CA under it
 *   hosts.regions, hosts.sites   optional allow lists of host attributes
 *   hosts.allow, hosts.deny      optional host UUID lists
 *   delegates.cert_sha256        administrator certificates (DER SHA-256)
 *   delegates.spki_sha256        administrator keys (SubjectPublicKeyInfo
 *                                DER SHA-256), for any certificate of that key
 *
 * A CA's key identifier is the SHA-1 of its subjectPublicKey bit string
 * (RFC 5280 4.2.1.2 method 1, what OpenSSL writes as the SKI), always
 * recomputed from the key: a copied SKI extension matches nothing.
 *
 * Unknown claims are refused: a member this version does not understand
 * may be a restriction it cannot enforce.
 */
#ifndef KVMTRUST_GRANT_H
#define KVMTRUST_GRANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "identity/jws.h"
#include "identity/pki.h"

#define KT_GRANT_TYP "kvmtrust-migration-grant"
#define KT_KEYID_LEN 20		/* SHA-1 key identifier */
#define KT_GRANT_MAX_ITEMS 64	/* per list: a bound on untrusted input */
#define KT_GRANT_MAX_STRING 128

struct kt_strlist {
	size_t n;
	char **v;
};

struct kt_grant {
	char id[KT_UUID_STR_LEN + 1];
	char vm[KT_UUID_STR_LEN + 1];
	char *issuer;
	int64_t iat, nbf, exp;
	struct kt_strlist ca_keyids;	/* lowercase hex, 40 digits */
	struct kt_strlist regions, sites;
	struct kt_strlist hosts_allow, hosts_deny;
	struct kt_strlist delegate_certs, delegate_spkis;	/* lowercase hex, 64 digits */

	/* Set by kt_grant_parse(): the owner chain from x5c and the JWS. */
	STACK_OF(X509) *chain;
	struct kt_jws jws;
};

/*
 * Signs g (id, vm, window, lists) with the owner key whose certificate is
 * the first of chain; sets g->issuer from it. The certificate must be an
 * end-entity certificate for that key. *out is a malloc'd compact JWS.
 */
int kt_grant_issue(struct kt_grant *g, EVP_PKEY *key, STACK_OF(X509) *chain,
		   char **out, struct kt_err *err);

/*
 * Parses structure and claims (check "structure"); nothing is trusted yet.
 * On failure g is left empty for kt_grant_free().
 */
int kt_grant_parse(const char *compact, struct kt_grant *g, struct kt_err *err);

struct kt_grant_trust {
	struct kt_pki_dir *owner_anchors;	/* owner roots: required */
	struct kt_pki_dir *owner_crls;		/* NULL: CRLs kept with the anchors */
	struct kt_pki_dir *host_anchors;	/* optional: a signer these vouch for is refused */
};

/*
 * Checks that the signer (x5c[0]) is a user certificate ("signer"), that
 * it chains to an owner anchor with every certificate valid and unrevoked
 * at now (kt_pki_verify()'s checks: "chain", "validity", "revocation",
 * ...), that no host CA vouches for it ("anchors"), that iss is its
 * subject ("signer"), and the ES256 signature ("signature"). The validity
 * window is a separate question: kt_grant_check_window().
 */
int kt_grant_verify(const struct kt_grant *g, const struct kt_grant_trust *trust, time_t now,
		    struct kt_err *err);

/* nbf <= now < exp; check "window". */
int kt_grant_check_window(const struct kt_grant *g, time_t now, struct kt_err *err);

void kt_grant_free(struct kt_grant *g);

/* Helpers shared with the policy and the CLI. */
int kt_strlist_add(struct kt_strlist *l, const char *s);
bool kt_strlist_has(const struct kt_strlist *l, const char *s);
void kt_strlist_free(struct kt_strlist *l);

/* Lowercase hex key identifier of a certificate's key (see above). */
int kt_cert_keyid(X509 *cert, char out[2 * KT_KEYID_LEN + 1]);
/* Lowercase hex SHA-256 of the certificate DER / of its SubjectPublicKeyInfo. */
int kt_cert_sha256(X509 *cert, char out[65]);
int kt_cert_spki_sha256(X509 *cert, char out[65]);
int kt_pubkey_sha256(EVP_PKEY *key, char out[65]);

#endif
