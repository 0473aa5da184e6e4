// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include <openssl/err.h>

#include "common/encoding.h"
#include "identity/jws.h"
#include "policy/grant.h"
#include "policy/migrate_order.h"

int kt_migrate_order_sign(struct kt_migrate_intent *in, EVP_PKEY *key, X509 *cert,
			    char **out, struct kt_err *err)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	json_t *header = NULL, *claims = NULL;
	int ret = -1;

	if (!chain || !sk_X509_push(chain, cert)) {
		kt_fail(err, "order", "out of memory");
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		kt_fail(err, "order", "the key does not match the administrator certificate");
		goto out;
	}
	if (!in->nonce[0] && kt_uuid_random(in->nonce)) {
		kt_fail(err, "order", "no randomness for the order nonce");
		goto out;
	}
	if (!kt_uuid_valid(in->vm) || !kt_uuid_valid(in->grant) || !kt_uuid_valid(in->host) ||
	    in->exp <= in->iat || in->exp - in->iat > KT_MIGRATE_ORDER_MAX_LIFETIME) {
		kt_fail(err, "order", "an order names a VM, a grant and a host by UUID, for at most %d s",
			KT_MIGRATE_ORDER_MAX_LIFETIME);
		goto out;
	}
	header = json_pack("{s:s, s:o}", "typ", KT_MIGRATE_ORDER_TYP,
			   "x5c", kt_jws_x5c_from_chain(chain));
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "jti", in->nonce, "vm", in->vm,
			   "grant", in->grant, "host", in->host, "iat", (json_int_t)in->iat,
			   "exp", (json_int_t)in->exp);
	if (!header || !claims) {
		kt_fail(err, "order", "out of memory");
		goto out;
	}
	ret = kt_jws_sign(key, header, claims, out, err);
out:
	sk_X509_free(chain);
	json_decref(header);
	json_decref(claims);
	return ret;
}

static int copy_uuid(json_t *claims, const char *name, char out[KT_UUID_STR_LEN + 1],
		     struct kt_err *err)
{
	const char *s = json_string_value(json_object_get(claims, name));

	if (!s || !kt_uuid_valid(s))
		return kt_fail(err, "order", "order claim \"%s\" must be a lowercase UUID", name);
	memcpy(out, s, KT_UUID_STR_LEN + 1);
	return 0;
}

static int parse_claims(json_t *claims, struct kt_migrate_intent *in, struct kt_err *err)
{
	json_int_t iat, exp;

	if (json_object_size(claims) != 6 ||
	    json_unpack(claims, "{s:I, s:I}", "iat", &iat, "exp", &exp))
		return kt_fail(err, "order", "order claims must be exactly jti, vm, grant, host, iat, exp");
	in->iat = iat;
	in->exp = exp;
	return copy_uuid(claims, "jti", in->nonce, err) || copy_uuid(claims, "vm", in->vm, err) ||
	       copy_uuid(claims, "grant", in->grant, err) || copy_uuid(claims, "host", in->host, err);
}

int kt_migrate_order_verify(const char *compact, time_t now, struct kt_migrate_intent *in,
			      X509 **signer, struct kt_err *err)
{
	char a[KT_TIME_ISO_LEN], b[KT_TIME_ISO_LEN], n[KT_TIME_ISO_LEN];
	STACK_OF(X509) *chain = NULL;
	struct kt_jws jws;
	const char *typ;
	int ret = -1;

	*signer = NULL;
	if (kt_jws_parse(compact, &jws, err)) {
		err->check = "order";
		return -1;
	}
	typ = json_string_value(json_object_get(jws.header, "typ"));
	if (!typ || strcmp(typ, KT_MIGRATE_ORDER_TYP)) {
		kt_fail(err, "order", "header typ is not \"%s\"", KT_MIGRATE_ORDER_TYP);
		goto out;
	}
	if (kt_jws_x5c(&jws, &chain, err) || sk_X509_num(chain) != 1) {
		kt_fail(err, "order", "x5c must hold exactly the administrator's certificate");
		goto out;
	}
	/* No chain here (the grant pins the certificate), but it must be one that may sign. */
	if (kt_pki_check_signer(sk_X509_value(chain, 0), err) || parse_claims(jws.payload, in, err))
		goto out;
	if (kt_jws_verify(&jws, X509_get0_pubkey(sk_X509_value(chain, 0)), err)) {
		kt_fail(err, "order", "order signature does not verify with its certificate's key");
		goto out;
	}
	if (in->exp <= in->iat || in->exp - in->iat > KT_MIGRATE_ORDER_MAX_LIFETIME ||
	    (int64_t)now + KT_MIGRATE_ORDER_SKEW < in->iat || (int64_t)now >= in->exp) {
		kt_fail(err, "order", "order is not fresh (valid %s..%s, now %s)",
			kt_time_iso(in->iat, a), kt_time_iso(in->exp, b), kt_time_iso(now, n));
		goto out;
	}
	*signer = sk_X509_shift(chain);
	ret = 0;
out:
	sk_X509_pop_free(chain, X509_free);
	kt_jws_free(&jws);
	return ret;
}
