// SPDX-License-Identifier: GPL-2.0
/* Ledger writers: X509_STORE chain check plus the urn:uuid: host SAN. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ledger/ledger_auth.h"

#define CACHE_SLOTS 64

struct auth_cached {
	kt_hash der_hash;
	X509 *cert;
	EVP_PKEY *pub;
	uint8_t host_id[KT_UUID_LEN];
};

struct kt_ledger_auth {
	X509_STORE *store;
	struct auth_cached cache[CACHE_SLOTS];
	unsigned int used;
};

static int load_dir(X509_STORE *store, const char *dir, struct kt_err *err)
{
	struct dirent *d;
	char path[4096];
	int loaded = 0;
	DIR *dh = opendir(dir);

	if (!dh)
		return kt_fail(err, "authorization", "cannot open CA directory '%s'", dir);
	while ((d = readdir(dh))) {
		size_t n = strlen(d->d_name);

		if (n < 5 || (strcmp(d->d_name + n - 4, ".pem") && strcmp(d->d_name + n - 4, ".crt")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (X509_STORE_load_file(store, path) != 1) {
			closedir(dh);
			return kt_fail_ssl(err, "authorization", "cannot load CA file '%s'", path);
		}
		loaded++;
	}
	closedir(dh);
	if (!loaded)
		return kt_fail(err, "authorization", "no .pem or .crt file in CA directory '%s'", dir);
	return 0;
}

int kt_ledger_auth_load(const char *ca_path, struct kt_ledger_auth **out, struct kt_err *err)
{
	struct kt_ledger_auth *auth;
	struct stat st;

	if (!ca_path || stat(ca_path, &st))
		return kt_fail(err, "authorization", "CA '%s' not found: give --ca FILE|DIR",
			       ca_path ? ca_path : "(none)");
	auth = calloc(1, sizeof(*auth));
	if (!auth)
		return kt_fail(err, "authorization", "out of memory");
	auth->store = X509_STORE_new();
	if (!auth->store) {
		free(auth);
		return kt_fail_ssl(err, "authorization", "out of memory");
	}
	if (S_ISDIR(st.st_mode) ? load_dir(auth->store, ca_path, err) :
	    X509_STORE_load_file(auth->store, ca_path) != 1 ?
	    kt_fail_ssl(err, "authorization", "cannot load CA file '%s'", ca_path) : 0) {
		kt_ledger_auth_free(auth);
		return -1;
	}
	*out = auth;
	return 0;
}

void kt_ledger_auth_free(struct kt_ledger_auth *auth)
{
	unsigned int i;

	if (!auth)
		return;
	for (i = 0; i < auth->used; i++) {
		X509_free(auth->cache[i].cert);
		EVP_PKEY_free(auth->cache[i].pub);
	}
	X509_STORE_free(auth->store);
	free(auth);
}

/* The host UUID from the first "urn:uuid:" URI subjectAltName. */
static int host_uuid(X509 *cert, uint8_t host_id[KT_UUID_LEN], struct kt_err *err)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, ret = -1;

	for (i = 0; names && i < sk_GENERAL_NAME_num(names) && ret; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *uri;
		char text[64];
		int len;

		if (gn->type != GEN_URI)
			continue;
		uri = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (len != 9 + 36 || strncasecmp((const char *)uri, "urn:uuid:", 9))
			continue;
		memcpy(text, uri + 9, 36);
		text[36] = '\0';
		ret = kt_uuid_parse(text, host_id);
	}
	GENERAL_NAMES_free(names);
	if (ret)
		return kt_fail(err, "authorization",
			       "certificate names no host (no urn:uuid: URI subjectAltName)");
	return 0;
}

static int verify_chain(struct kt_ledger_auth *auth, X509 *cert, struct kt_err *err)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	if (!ctx || X509_STORE_CTX_init(ctx, auth->store, cert, NULL) != 1) {
		X509_STORE_CTX_free(ctx);
		return kt_fail_ssl(err, "authorization", "cannot set up chain verification");
	}
	/* Validity is judged per entry time in kt_ledger_auth_check(). */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
	ok = X509_verify_cert(ctx);
	if (ok != 1) {
		int code = X509_STORE_CTX_get_error(ctx);

		X509_STORE_CTX_free(ctx);
		return kt_fail(err, "authorization", "certificate not trusted by the ledger CA: %s",
			       X509_verify_cert_error_string(code));
	}
	X509_STORE_CTX_free(ctx);
	return 0;
}

static struct auth_cached *lookup(struct kt_ledger_auth *auth, const kt_hash h)
{
	unsigned int i;

	for (i = 0; i < auth->used; i++)
		if (!memcmp(auth->cache[i].der_hash, h, KT_HASH_LEN))
			return &auth->cache[i];
	return NULL;
}

static struct auth_cached *admit(struct kt_ledger_auth *auth, const uint8_t *der, size_t len,
				 const kt_hash h, struct kt_err *err)
{
	const unsigned char *p = der;
	struct auth_cached *c;
	X509 *cert = d2i_X509(NULL, &p, (long)len);
	uint8_t host_id[KT_UUID_LEN];
	EVP_PKEY *pub;

	if (!cert || p != der + len) {
		X509_free(cert);
		kt_fail_ssl(err, "authorization", "certificate is not DER X.509");
		return NULL;
	}
	if (verify_chain(auth, cert, err) || host_uuid(cert, host_id, err) ||
	    !(pub = X509_get_pubkey(cert))) {
		if (!err || !err->check)
			kt_fail_ssl(err, "authorization", "certificate has no usable key");
		X509_free(cert);
		return NULL;
	}
	/* A full cache recycles the oldest slot: correctness never depends on it. */
	if (auth->used == CACHE_SLOTS) {
		X509_free(auth->cache[0].cert);
		EVP_PKEY_free(auth->cache[0].pub);
		memmove(auth->cache, auth->cache + 1, sizeof(auth->cache[0]) * (CACHE_SLOTS - 1));
		auth->used--;
	}
	c = &auth->cache[auth->used++];
	memcpy(c->der_hash, h, KT_HASH_LEN);
	c->cert = cert;
	c->pub = pub;
	memcpy(c->host_id, host_id, KT_UUID_LEN);
	return c;
}

int kt_ledger_auth_check(struct kt_ledger_auth *auth, const uint8_t *der, size_t len,
			 uint64_t when, EVP_PKEY **pub, uint8_t host_id[KT_UUID_LEN],
			 struct kt_err *err)
{
	struct auth_cached *c;
	time_t t = (time_t)when;
	kt_hash h;

	kt_sha256(der, len, h);
	c = lookup(auth, h);
	if (!c) {
		kt_err_clear(err);
		c = admit(auth, der, len, h, err);
		if (!c)
			return -1;
	}
	if (X509_cmp_time(X509_get0_notBefore(c->cert), &t) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(c->cert), &t) < 0)
		return kt_fail(err, "authorization", "certificate not valid at time %llu",
			       (unsigned long long)when);
	*pub = c->pub;
	if (host_id)
		memcpy(host_id, c->host_id, KT_UUID_LEN);
	return 0;
}
