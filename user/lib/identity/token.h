/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest identity tokens: compact JWS/JWT, ES256 (jws.h), signed by a host
 * certificate whose chain (without the root) is in the "x5c" header.
 *
 *   header  {"alg":"ES256","typ":"JWT","x5c":[host, intermediates...]}
 *   claims  {"sub": guest UUID, "host": host UUID, "iss": signer subject DN,
 *            "aud": audience, "iat","nbf","exp": seconds, "jti": unique id,
 *            "cnf": {"jwk": guest public key, RFC 7800}}
 *
 * kt_token_verify() runs the checks in this order and names the first that
 * fails in kt_err.check:
 *   structure   size, three base64url parts, JSON objects without duplicate
 *               members, every claim present with its type, x5c decodable
 *   algorithm   "alg" is ES256 (so "none" and HS256 are refused unread)
 *   chain       x5c leads to a trust anchor (pki.h; "pathlen",
 *               "name-constraints" and "purpose" are reported by name)
 *   validity    every certificate in the path is inside its window now
 *   signature   the JWS verifies with the leaf certificate's key
 *   issuer      "iss" is the leaf's subject and "host" its urn:uuid
 *   time        nbf - skew <= now < exp + skew, iat <= now + skew,
 *               nbf < exp and exp - iat <= KT_TOKEN_MAX_LIFETIME
 *   audience    "aud" equals the verifier's audience
 *   revocation  "jti" on no token revocation list signed by a certificate
 *               of the token's path, and no certificate of the path on a
 *               CRL (every CA must have a current CRL)
 *
 * Token revocation lists (*.trl in a directory) are compact JWS with
 * {"typ":"kt-trl+jwt","x5c":[signer]} and claims {"iat", "revoked":
 * [{"jti","exp"}...]}. A list counts for a token only if its signer is a
 * certificate of that token's verified path (the issuing host or one of its
 * CAs), so no one else can revoke, or un-revoke, someone's tokens; such a
 * list that fails its signature check refuses the token (fail closed).
 */
#ifndef KVMTRUST_TOKEN_H
#define KVMTRUST_TOKEN_H

#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "identity/pki.h"

#define KT_TOKEN_MAX_SKEW 300		/* seconds of clock skew a verifier may allow */
#define KT_TOKEN_MAX_LIFETIME (30 * 86400)
#define KT_TOKEN_JTI_MAX 64

struct kt_token_claims {
	char sub[KT_UUID_STR_LEN + 1];	/* guest UUID */
	char host[KT_UUID_STR_LEN + 1];	/* issuing host UUID */
	char iss[256];
	char aud[256];
	int64_t iat, nbf, exp;
	char jti[KT_TOKEN_JTI_MAX + 1];
	EVP_PKEY *cnf;			/* guest public key */
};

struct kt_token {
	struct kt_token_claims claims;
	STACK_OF(X509) *x5c;		/* as presented, leaf first */
	STACK_OF(X509) *path;		/* after kt_token_verify: leaf .. anchor */
	struct kt_cert_info signer;	/* the leaf certificate */
};

struct kt_token;

struct kt_token_verify_opts {
	struct kt_pki_dir *anchors;	/* trust anchors */
	struct kt_pki_dir *crls;	/* CRLs of every CA */
	const char *trl_dir;		/* token revocation lists; NULL: none kept */
	/*
	 * Another place revocations are published (the trust ledger, asked
	 * through the CLI): called with the verified token, non-zero (err set,
	 * check "revocation") refuses it; NULL: none.
	 */
	int (*revoked)(void *arg, const struct kt_token *tok, struct kt_err *err);
	void *revoked_arg;
	const char *audience;		/* required */
	time_t now;			/* 0: time(NULL) */
	unsigned int skew;		/* at most KT_TOKEN_MAX_SKEW */
};

/*
 * Signs a token with a host credential. Empty claims are filled: host and
 * iss from the signer certificate, jti random, iat = now. sub, aud, exp and
 * cnf are required.
 */
int kt_token_issue(const struct kt_cred *signer, struct kt_token_claims *claims,
		   char **out, struct kt_err *err);

/* Runs every check above; on success tok holds the claims and the path. */
int kt_token_verify(const char *compact, const struct kt_token_verify_opts *opts,
		    struct kt_token *tok, struct kt_err *err);

/* Structure and algorithm only, for display: nothing in tok is trusted. */
int kt_token_decode(const char *compact, struct kt_token *tok, struct kt_err *err);

void kt_token_free(struct kt_token *tok);

/*
 * Adds jti (and the token's exp, after which the entry is dropped) to the
 * revocation list at path, re-signed by signer. An existing list must be
 * signed by the same certificate.
 */
int kt_trl_revoke(const char *path, const struct kt_cred *signer, const char *jti,
		  int64_t exp, struct kt_err *err);

/* 0 if no list in dir signed by a certificate of path revokes jti. */
int kt_trl_check(const char *dir, STACK_OF(X509) *path, const char *jti,
		 struct kt_err *err);

#endif
