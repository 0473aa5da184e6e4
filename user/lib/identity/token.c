// SPDX-License-Identifier: GPL-2.0
/* Guest identity tokens: issuing and the ordered verification of token.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "common/encoding.h"
#include "identity/jwk.h"
#include "identity/jws.h"
#include "identity/token.h"

static int copy_string(const json_t *claims, const char *name, char *out, size_t size,
		       size_t min, struct kt_err *err)
{
	const char *value = json_string_value(json_object_get(claims, name));
	size_t len = value ? strlen(value) : 0;

	if (!value || len < min || len >= size)
		return kt_fail(err, "structure", "claim \"%s\" must be a string of %zu to %zu bytes",
			       name, min, size - 1);
	memcpy(out, value, len + 1);
	return 0;
}

static int copy_uuid(const json_t *claims, const char *name, char *out, struct kt_err *err)
{
	if (copy_string(claims, name, out, KT_UUID_STR_LEN + 1, KT_UUID_STR_LEN, err))
		return -1;
	if (!kt_uuid_valid(out))
		return kt_fail(err, "structure", "claim \"%s\" is not a lowercase UUID", name);
	return 0;
}

static int copy_time(const json_t *claims, const char *name, int64_t *out, struct kt_err *err)
{
	const json_t *value = json_object_get(claims, name);

	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return kt_fail(err, "structure", "claim \"%s\" must be a non-negative integer", name);
	*out = json_integer_value(value);
	return 0;
}

static int parse_claims(const json_t *p, struct kt_token_claims *c, struct kt_err *err)
{
	const json_t *cnf = json_object_get(p, "cnf");

	if (copy_uuid(p, "sub", c->sub, err) || copy_uuid(p, "host", c->host, err) ||
	    copy_string(p, "iss", c->iss, sizeof(c->iss), 1, err) ||
	    copy_string(p, "aud", c->aud, sizeof(c->aud), 1, err) ||
	    copy_string(p, "jti", c->jti, sizeof(c->jti), 1, err) ||
	    copy_time(p, "iat", &c->iat, err) || copy_time(p, "nbf", &c->nbf, err) ||
	    copy_time(p, "exp", &c->exp, err))
		return -1;
	if (!json_is_object(cnf) || json_object_size(cnf) != 1 || !json_object_get(cnf, "jwk"))
		return kt_fail(err, "structure", "claim \"cnf\" must be {\"jwk\": {...}}");
	c->cnf = kt_jwk_to_key(json_object_get(cnf, "jwk"), err);
	return c->cnf ? 0 : -1;
}

int kt_token_decode(const char *compact, struct kt_token *tok, struct kt_err *err)
{
	struct kt_jws jws;
	int ret = -1;

	memset(tok, 0, sizeof(*tok));
	if (kt_jws_parse(compact, &jws, err))
		return -1;
	if (!kt_jws_x5c(&jws, &tok->x5c, err) && !parse_claims(jws.payload, &tok->claims, err) &&
	    !kt_pki_cert_info(sk_X509_value(tok->x5c, 0), &tok->signer, err))
		ret = 0;
	if (ret && err && err->check && strcmp(err->check, "algorithm"))
		err->check = "structure";
	kt_jws_free(&jws);
	if (ret)
		kt_token_free(tok);
	return ret;
}

void kt_token_free(struct kt_token *tok)
{
	EVP_PKEY_free(tok->claims.cnf);
	sk_X509_pop_free(tok->x5c, X509_free);
	sk_X509_pop_free(tok->path, X509_free);
	memset(tok, 0, sizeof(*tok));
}

/* The path check at one strictness; chain problems keep their pki.h names. */
static int check_path(struct kt_token *tok, const struct kt_token_verify_opts *opts,
		      time_t now, unsigned int flags, const char *as, struct kt_err *err)
{
	STACK_OF(X509) *untrusted = sk_X509_dup(tok->x5c);
	struct kt_pki_verify_opts po = {
		.anchors = opts->anchors, .crls = opts->crls, .untrusted = untrusted,
		.at = now, .flags = flags, .require_kind = KT_CERT_HOST,
	};
	int ret;

	if (!untrusted)
		return kt_fail(err, "chain", "out of memory");
	sk_X509_pop_free(tok->path, X509_free);
	tok->path = NULL;
	ret = kt_pki_verify(sk_X509_value(tok->x5c, 0), &po, &tok->path, err);
	sk_X509_free(untrusted);
	if (ret && as && err)
		err->check = as;
	return ret;
}

static int check_time(const struct kt_token_claims *c, time_t now, unsigned int skew,
		      struct kt_err *err)
{
	char a[KT_TIME_ISO_LEN], b[KT_TIME_ISO_LEN], n[KT_TIME_ISO_LEN];
	int64_t t = (int64_t)now;

	if (c->nbf >= c->exp || c->exp - c->iat > KT_TOKEN_MAX_LIFETIME)
		return kt_fail(err, "time", "token window nbf=%s exp=%s (iat=%s) is not allowed",
			       kt_time_iso(c->nbf, a), kt_time_iso(c->exp, b), kt_time_iso(c->iat, n));
	if (c->nbf > t + skew || c->iat > t + skew)
		return kt_fail(err, "time", "token is not valid yet (nbf %s, iat %s, now %s)",
			       kt_time_iso(c->nbf, a), kt_time_iso(c->iat, b), kt_time_iso(t, n));
	if (c->exp <= t - (int64_t)skew)
		return kt_fail(err, "time", "token expired at %s (now %s, skew %u s)",
			       kt_time_iso(c->exp, a), kt_time_iso(t, n), skew);
	return 0;
}

int kt_token_verify(const char *compact, const struct kt_token_verify_opts *opts,
		    struct kt_token *tok, struct kt_err *err)
{
	time_t now = opts->now ? opts->now : time(NULL);
	unsigned int skew = opts->skew;
	struct kt_err crl_err;
	struct kt_jws jws;
	char want_iss[sizeof(tok->signer.subject)];

	if (skew > KT_TOKEN_MAX_SKEW)
		return kt_fail(err, "request", "clock skew %u s is above the %d s bound", skew,
			       KT_TOKEN_MAX_SKEW);
	if (!opts->audience || !*opts->audience)
		return kt_fail(err, "request", "the verifier needs an audience");
	if (kt_token_decode(compact, tok, err))
		return -1;
	/*
	 * One full path check is the fast path. Only when it fails are the
	 * stages re-run to find which check comes first: a chain or validity
	 * failure is reported now, a CRL failure after the claim checks.
	 */
	kt_err_clear(&crl_err);
	if (check_path(tok, opts, now, 0, "revocation", &crl_err) &&
	    (check_path(tok, opts, now, KT_PKI_NO_TIME | KT_PKI_NO_CRL, NULL, err) ||
	     check_path(tok, opts, now, KT_PKI_NO_CRL, "validity", err)))
		goto fail;
	/* Decoded twice (here and in kt_token_decode) so the claims stay untrusted until now. */
	if (kt_jws_parse(compact, &jws, err))
		goto fail;
	if (kt_jws_verify(&jws, X509_get0_pubkey(sk_X509_value(tok->x5c, 0)), err)) {
		kt_jws_free(&jws);
		goto fail;
	}
	kt_jws_free(&jws);
	snprintf(want_iss, sizeof(want_iss), "%s", tok->signer.subject);
	if (strcmp(tok->claims.iss, want_iss) || strcmp(tok->claims.host, tok->signer.host_uuid)) {
		kt_fail(err, "issuer", "iss/host (%s, %s) do not name the signing certificate (%s, %s)",
			tok->claims.iss, tok->claims.host, want_iss, tok->signer.host_uuid);
		goto fail;
	}
	if (check_time(&tok->claims, now, skew, err))
		goto fail;
	if (strcmp(tok->claims.aud, opts->audience)) {
		kt_fail(err, "audience", "token is for \"%s\", not \"%s\"", tok->claims.aud,
			opts->audience);
		goto fail;
	}
	if (opts->trl_dir && kt_trl_check(opts->trl_dir, tok->path, tok->claims.jti, err))
		goto fail;
	if (opts->revoked && opts->revoked(opts->revoked_arg, tok, err))
		goto fail;
	if (crl_err.check) {
		if (err)
			*err = crl_err;
		goto fail;
	}
	return 0;
fail:
	kt_token_free(tok);
	return -1;
}

int kt_token_issue(const struct kt_cred *signer, struct kt_token_claims *c,
		   char **out, struct kt_err *err)
{
	json_t *header = NULL, *payload = NULL, *jwk = NULL;
	struct kt_cert_info info;
	uint8_t rnd[16];
	int ret = -1;

	if (kt_pki_cert_info(signer->cert, &info, err))
		return -1;
	if (info.kind != KT_CERT_HOST)
		return kt_fail(err, "request", "tokens are signed by host certificates, not %s ones",
			       kt_cert_kind_name(info.kind));
	if (!kt_uuid_valid(c->sub) || !c->aud[0] || !c->exp || !c->cnf)
		return kt_fail(err, "request", "sub (a UUID), aud, exp and cnf are required");
	if (!c->host[0])
		memcpy(c->host, info.host_uuid, sizeof(c->host));
	if (!c->iss[0])
		snprintf(c->iss, sizeof(c->iss), "%s", info.subject);
	if (!c->jti[0]) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return kt_fail_ssl(err, "request", "no randomness for jti");
		kt_hex_encode(rnd, sizeof(rnd), c->jti);
	}
	if (!c->iat)
		c->iat = (int64_t)time(NULL);
	if (!c->nbf)
		c->nbf = c->iat;
	jwk = kt_jwk_from_key(c->cnf, err);
	if (!jwk)
		return -1;
	header = json_pack("{s:s, s:o}", "typ", "JWT", "x5c", kt_jws_x5c_from_chain(signer->chain));
	payload = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:{s:O}}",
			    "sub", c->sub, "host", c->host, "iss", c->iss, "aud", c->aud,
			    "iat", (json_int_t)c->iat, "nbf", (json_int_t)c->nbf,
			    "exp", (json_int_t)c->exp, "jti", c->jti, "cnf", "jwk", jwk);
	if (!header || !payload)
		kt_fail(err, "request", "claims do not encode");
	else
		ret = kt_jws_sign(signer->key, header, payload, out, err);
	json_decref(jwk);
	json_decref(header);
	json_decref(payload);
	return ret;
}
