// SPDX-License-Identifier: GPL-2.0
/* Keys, certificates and credential directories on disk (PEM). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/outfile.h"
#include "common/secfile.h"
#include "identity/pki.h"

#define PEM_MAX (256 * 1024)

EVP_PKEY *kt_pki_new_key(struct kt_err *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (!key)
		kt_fail_ssl(err, "key", "cannot generate a P-256 key");
	return key;
}

static BIO *read_bio(const char *path, unsigned int flags, struct kt_err *err)
{
	uint8_t *buf;
	size_t len;
	BIO *bio;

	if (kt_file_read(path, PEM_MAX, flags, &buf, &len, err))
		return NULL;
	/* A memory BIO owns a copy, so the secret buffer can be wiped now. */
	bio = BIO_new(BIO_s_mem());
	if (!bio || BIO_write(bio, buf, (int)len) != (int)len) {
		BIO_free(bio);
		bio = NULL;
		kt_fail_ssl(err, "file", "out of memory");
	}
	explicit_bzero(buf, len);
	free(buf);
	return bio;
}

EVP_PKEY *kt_pki_load_key(const char *path, struct kt_err *err)
{
	BIO *bio = read_bio(path, KT_FILE_PRIVATE, err);
	EVP_PKEY *key;

	if (!bio)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key)
		kt_fail_ssl(err, "key", "'%s' holds no PEM private key", path);
	return key;
}

EVP_PKEY *kt_pki_load_pubkey(const char *path, struct kt_err *err)
{
	BIO *bio = read_bio(path, 0, err);
	EVP_PKEY *key;

	if (!bio)
		return NULL;
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key)
		kt_fail_ssl(err, "key", "'%s' holds no PEM public key", path);
	return key;
}

static int save_bio(const char *path, BIO *bio, mode_t mode, struct kt_err *err)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);

	return kt_file_write(path, data, (size_t)len, mode, err);
}

int kt_pki_save_key(const char *path, EVP_PKEY *key, struct kt_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ret;

	if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(bio);
		return kt_fail_ssl(err, "key", "cannot encode private key");
	}
	ret = save_bio(path, bio, 0600, err);
	BIO_free_all(bio);
	return ret;
}

STACK_OF(X509) *kt_pki_load_certs(const char *path, struct kt_err *err)
{
	BIO *bio = read_bio(path, 0, err);
	STACK_OF(X509) *certs;
	X509 *cert;

	if (!bio)
		return NULL;
	certs = sk_X509_new_null();
	while (certs && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(certs, cert);
	ERR_clear_error();	/* the loop ends on "no start line" */
	BIO_free(bio);
	if (!certs || sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		kt_fail(err, "file", "'%s' holds no PEM certificate", path);
		return NULL;
	}
	return certs;
}

X509 *kt_pki_load_cert(const char *path, struct kt_err *err)
{
	STACK_OF(X509) *certs = kt_pki_load_certs(path, err);
	X509 *cert;

	if (!certs)
		return NULL;
	cert = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	return cert;
}

int kt_pki_save_certs(const char *path, STACK_OF(X509) *certs, struct kt_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int i, ret;

	for (i = 0; bio && i < sk_X509_num(certs); i++) {
		if (!PEM_write_bio_X509(bio, sk_X509_value(certs, i))) {
			BIO_free(bio);
			bio = NULL;
		}
	}
	if (!bio)
		return kt_fail_ssl(err, "file", "cannot encode certificates");
	ret = save_bio(path, bio, 0644, err);
	BIO_free(bio);
	return ret;
}

static char *join(const char *dir, const char *name)
{
	char *path;

	return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

int kt_cred_load_files(const char *key, const char *chain, struct kt_cred *cred,
		       struct kt_err *err)
{
	memset(cred, 0, sizeof(*cred));
	cred->key = kt_pki_load_key(key, err);
	cred->chain = cred->key ? kt_pki_load_certs(chain, err) : NULL;
	if (!cred->chain)
		goto fail;
	cred->cert = sk_X509_value(cred->chain, 0);
	X509_up_ref(cred->cert);
	if (X509_check_private_key(cred->cert, cred->key) != 1) {
		kt_fail_ssl(err, "key", "'%s' does not match the certificate in '%s'", key, chain);
		goto fail;
	}
	return 0;
fail:
	kt_cred_free(cred);
	return -1;
}

int kt_cred_load(const char *dir, struct kt_cred *cred, struct kt_err *err)
{
	char *key = join(dir, "key.pem"), *chain = join(dir, "chain.pem");
	int ret;

	memset(cred, 0, sizeof(*cred));
	ret = key && chain ? kt_cred_load_files(key, chain, cred, err) :
			     kt_fail(err, "file", "out of memory");
	free(key);
	free(chain);
	return ret;
}

int kt_cred_save(const char *dir, const struct kt_cred *cred, struct kt_err *err)
{
	char *key = join(dir, "key.pem"), *cert = join(dir, "cert.pem");
	char *chain = join(dir, "chain.pem");
	STACK_OF(X509) *one = sk_X509_new_null();
	int ret = -1;

	if (!key || !cert || !chain || !one || !sk_X509_push(one, cred->cert)) {
		kt_fail(err, "file", "out of memory");
		goto out;
	}
	if (kt_dir_make(dir, 0700, err))
		goto out;
	/* Refuse before the first write, not with half a credential written. */
	if ((cred->key && kt_file_replaceable(key, err)) || kt_file_replaceable(cert, err) ||
	    kt_file_replaceable(chain, err))
		goto out;
	if (cred->key && kt_pki_save_key(key, cred->key, err))
		goto out;
	if (kt_pki_save_certs(cert, one, err) || kt_pki_save_certs(chain, cred->chain, err))
		goto out;
	ret = 0;
out:
	sk_X509_free(one);
	free(key);
	free(cert);
	free(chain);
	return ret;
}

void kt_cred_free(struct kt_cred *cred)
{
	EVP_PKEY_free(cred->key);
	X509_free(cred->cert);
	sk_X509_pop_free(cred->chain, X509_free);
	memset(cred, 0, sizeof(*cred));
}
