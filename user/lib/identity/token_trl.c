// SPDX-License-Identifier: GPL-2.0
/*
 * Token revocation lists (format and trust rule in token.h). A list only
 * grows until its entries' tokens have expired anyway, then they are
 * dropped; CRLs do the same job for certificates.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/outfile.h"
#include "common/secfile.h"
#include "identity/jws.h"
#include "identity/token.h"

#define TRL_MAX (4 * 1024 * 1024)
#define TRL_TYPE "kt-trl+jwt"

/* Parses a list file; *signer is its x5c[0]. Caller verifies the signature. */
static int trl_load(const char *path, struct kt_jws *jws, X509 **signer, struct kt_err *err)
{
	STACK_OF(X509) *x5c = NULL;
	uint8_t *buf;
	size_t len;
	int ret;

	if (kt_file_read(path, TRL_MAX, 0, &buf, &len, err))
		return -1;
	/* The JWS is a single line; tolerate the newline a text editor adds. */
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	ret = kt_jws_parse((const char *)buf, jws, err);
	free(buf);
	if (ret)
		return -1;
	if (strcmp(json_string_value(json_object_get(jws->header, "typ")) ?: "", TRL_TYPE) ||
	    !json_is_array(json_object_get(jws->payload, "revoked")) ||
	    kt_jws_x5c(jws, &x5c, err)) {
		kt_jws_free(jws);
		return kt_fail(err, "revocation", "'%s' is not a token revocation list", path);
	}
	*signer = sk_X509_shift(x5c);
	sk_X509_pop_free(x5c, X509_free);
	return 0;
}

int kt_trl_revoke(const char *path, const struct kt_cred *signer, const char *jti,
		  int64_t exp, struct kt_err *err)
{
	json_t *list = json_array(), *header = NULL, *payload = NULL, *item;
	STACK_OF(X509) *one = sk_X509_new_null();
	int64_t now = (int64_t)time(NULL);
	X509 *old_signer = NULL;
	struct kt_jws jws;
	char *out = NULL;
	int ret = -1;
	size_t i;

	if (!jti || !*jti || strlen(jti) > KT_TOKEN_JTI_MAX)
		return kt_fail(err, "request", "jti must be 1 to %d bytes", KT_TOKEN_JTI_MAX);
	if (!list || !one || !sk_X509_push(one, signer->cert)) {
		kt_fail(err, "request", "out of memory");
		goto out;
	}
	if (!access(path, F_OK)) {
		if (trl_load(path, &jws, &old_signer, err))
			goto out;
		if (X509_cmp(old_signer, signer->cert) ||
		    kt_jws_verify(&jws, X509_get0_pubkey(signer->cert), err)) {
			kt_jws_free(&jws);
			kt_fail(err, "request", "'%s' is signed by another certificate", path);
			goto out;
		}
		json_array_foreach(json_object_get(jws.payload, "revoked"), i, item) {
			const char *old = json_string_value(json_object_get(item, "jti"));
			json_int_t old_exp = json_integer_value(json_object_get(item, "exp"));

			if (old && !strcmp(old, jti)) {
				kt_jws_free(&jws);
				kt_fail(err, "request", "token %s is already revoked", jti);
				goto out;
			}
			/* Expired tokens fail verification anyway; forget them. */
			if (old && old_exp >= now - KT_TOKEN_MAX_SKEW)
				json_array_append(list, item);
		}
		kt_jws_free(&jws);
	}
	item = json_pack("{s:s, s:I}", "jti", jti, "exp", (json_int_t)exp);
	header = json_pack("{s:s, s:o}", "typ", TRL_TYPE, "x5c", kt_jws_x5c_from_chain(one));
	payload = json_pack("{s:I, s:O}", "iat", (json_int_t)now, "revoked", list);
	if (!item || json_array_append_new(json_object_get(payload, "revoked"), item) || !header) {
		kt_fail(err, "request", "out of memory");
		goto out;
	}
	if (kt_jws_sign(signer->key, header, payload, &out, err))
		goto out;
	ret = kt_file_write(path, out, strlen(out), 0644, err);
out:
	free(out);
	X509_free(old_signer);
	sk_X509_free(one);
	json_decref(list);
	json_decref(header);
	json_decref(payload);
	return ret;
}

static int trl_name(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 4 && !strcmp(d->d_name + len - 4, ".trl");
}

static int in_path(STACK_OF(X509) *path, X509 *cert)
{
	int i;

	for (i = 0; i < sk_X509_num(path); i++) {
		if (!X509_cmp(sk_X509_value(path, i), cert))
			return 1;
	}
	return 0;
}

/* -1 (with err) if the list at file revokes jti or cannot be trusted. */
static int check_one(const char *file, STACK_OF(X509) *path, const char *jti,
		     struct kt_err *err)
{
	X509 *signer = NULL;
	struct kt_jws jws;
	json_t *item;
	size_t i;
	int ret = 0;

	if (trl_load(file, &jws, &signer, err)) {
		if (err)
			err->check = "revocation";
		return -1;
	}
	if (!in_path(path, signer))
		goto out;	/* another issuer's list: not about this token */
	if (kt_jws_verify(&jws, X509_get0_pubkey(signer), err)) {
		ret = kt_fail(err, "revocation", "revocation list '%s' has a bad signature", file);
		goto out;
	}
	json_array_foreach(json_object_get(jws.payload, "revoked"), i, item) {
		if (!strcmp(json_string_value(json_object_get(item, "jti")) ?: "", jti)) {
			ret = kt_fail(err, "revocation", "token %s is revoked (list '%s')", jti, file);
			break;
		}
	}
out:
	X509_free(signer);
	kt_jws_free(&jws);
	return ret;
}

int kt_trl_check(const char *dir, STACK_OF(X509) *path, const char *jti,
		 struct kt_err *err)
{
	struct dirent **names;
	char file[4096];
	int n, i, ret = 0;

	n = scandir(dir, &names, trl_name, alphasort);
	if (n < 0)
		return kt_fail(err, "revocation", "cannot read '%s': %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
		if (!ret && check_one(file, path, jti, err))
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}
