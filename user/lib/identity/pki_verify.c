// SPDX-License-Identifier: GPL-2.0
/*
 * Chain verification against a directory (or file) of trust anchors and
 * CRLs, both re-read when they change. OpenSSL's X509_verify_cert does the work; this
 * file loads its inputs and turns its error codes into the named checks of
 * pki.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>	/* SHA256_DIGEST_LENGTH only */
#include <openssl/x509v3.h>

#include "common/secfile.h"
#include "identity/pki.h"

#define PEM_FILE_MAX (4 * 1024 * 1024)

struct kt_pki_dir {
	char *path;
	uint8_t fingerprint[SHA256_DIGEST_LENGTH];
	unsigned int generation;	/* 0 until first loaded */
	STACK_OF(X509) *certs;
	STACK_OF(X509_CRL) *crls;
};

static int pem_name(const struct dirent *d)
{
	const char *dot = strrchr(d->d_name, '.');

	return d->d_name[0] != '.' && dot &&
	       (!strcmp(dot, ".pem") || !strcmp(dot, ".crt") || !strcmp(dot, ".crl"));
}

static void free_files(char **files, int n)
{
	int i;

	for (i = 0; files && i < n; i++)
		free(files[i]);
	free(files);
}

/* Every *.pem, *.crt and *.crl of the directory, sorted; or the one file. */
static int list_files(const char *path, char ***files, int *n, struct kt_err *err)
{
	struct dirent **names;
	struct stat st;
	int i, count, bad = 0;

	if (stat(path, &st))
		return kt_fail(err, "anchors", "cannot read '%s': %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return kt_fail(err, "anchors", "'%s' is neither a directory nor a PEM file", path);
	if (S_ISREG(st.st_mode)) {
		*files = calloc(1, sizeof(**files));
		if (!*files || !((*files)[0] = strdup(path))) {
			free(*files);
			return kt_fail(err, "anchors", "out of memory");
		}
		*n = 1;
		return 0;
	}
	count = scandir(path, &names, pem_name, alphasort);
	if (count < 0)
		return kt_fail(err, "anchors", "cannot read directory '%s': %s", path,
			       strerror(errno));
	*files = calloc((size_t)count + 1, sizeof(**files));
	for (i = 0; i < count; i++) {
		if (*files && asprintf(&(*files)[i], "%s/%s", path, names[i]->d_name) < 0) {
			(*files)[i] = NULL;
			bad = 1;
		}
		free(names[i]);
	}
	free(names);
	if (!*files || bad) {
		free_files(*files, count);
		return kt_fail(err, "anchors", "out of memory");
	}
	*n = count;
	return 0;
}

/*
 * A digest of every name, inode, size and change time: any add, remove,
 * rename or rewrite (including an atomic replace) changes it.
 */
static int fingerprint(char **files, int n, uint8_t out[SHA256_DIGEST_LENGTH],
		       struct kt_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct stat st;
	int i, ok;

	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (i = 0; ok && i < n; i++) {
		if (stat(files[i], &st)) {
			EVP_MD_CTX_free(md);
			return kt_fail(err, "anchors", "cannot stat '%s': %s", files[i],
				       strerror(errno));
		}
		ok = EVP_DigestUpdate(md, files[i], strlen(files[i]) + 1) &&
		     EVP_DigestUpdate(md, &st.st_ino, sizeof(st.st_ino)) &&
		     EVP_DigestUpdate(md, &st.st_size, sizeof(st.st_size)) &&
		     EVP_DigestUpdate(md, &st.st_mtim, sizeof(st.st_mtim)) &&
		     EVP_DigestUpdate(md, &st.st_ctim, sizeof(st.st_ctim));
	}
	ok = ok && EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
	return ok ? 0 : kt_fail_ssl(err, "anchors", "cannot hash the directory listing");
}

static int load_file(struct kt_pki_dir *dir, const char *file, STACK_OF(X509) *certs,
		     STACK_OF(X509_CRL) *crls, struct kt_err *err)
{
	STACK_OF(X509_INFO) *infos;
	X509_INFO *info;
	uint8_t *buf;
	size_t len;
	BIO *bio;
	int i;

	if (kt_file_read(file, PEM_FILE_MAX, 0, &buf, &len, err))
		return -1;
	bio = BIO_new_mem_buf(buf, (int)len);
	infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	free(buf);
	if (!infos)
		return kt_fail_ssl(err, "anchors", "'%s' in '%s' is not PEM", file, dir->path);
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		info = sk_X509_INFO_value(infos, i);
		if (info->x509 && sk_X509_push(certs, info->x509))
			info->x509 = NULL;
		if (info->crl && sk_X509_CRL_push(crls, info->crl))
			info->crl = NULL;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return 0;
}

static int dir_refresh(struct kt_pki_dir *dir, struct kt_err *err)
{
	uint8_t fp[SHA256_DIGEST_LENGTH];
	STACK_OF(X509_CRL) *crls = NULL;
	STACK_OF(X509) *certs = NULL;
	char **files = NULL;
	int n = 0, i, ret = -1;

	if (list_files(dir->path, &files, &n, err))
		return -1;
	if (fingerprint(files, n, fp, err))
		goto out;
	if (dir->generation && !memcmp(fp, dir->fingerprint, sizeof(fp))) {
		ret = 0;
		goto out;
	}
	certs = sk_X509_new_null();
	crls = sk_X509_CRL_new_null();
	if (!certs || !crls) {
		kt_fail(err, "anchors", "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (load_file(dir, files[i], certs, crls, err))
			goto out;
	}
	sk_X509_pop_free(dir->certs, X509_free);
	sk_X509_CRL_pop_free(dir->crls, X509_CRL_free);
	dir->certs = certs;
	dir->crls = crls;
	certs = NULL;
	crls = NULL;
	memcpy(dir->fingerprint, fp, sizeof(fp));
	dir->generation++;
	ret = 0;
out:
	sk_X509_pop_free(certs, X509_free);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	free_files(files, n);
	return ret;
}

int kt_pki_dir_open(const char *path, struct kt_pki_dir **out, struct kt_err *err)
{
	struct kt_pki_dir *dir = calloc(1, sizeof(*dir));

	if (!dir || !(dir->path = strdup(path))) {
		free(dir);
		return kt_fail(err, "anchors", "out of memory");
	}
	if (dir_refresh(dir, err)) {
		kt_pki_dir_free(dir);
		return -1;
	}
	*out = dir;
	return 0;
}

void kt_pki_dir_free(struct kt_pki_dir *dir)
{
	if (!dir)
		return;
	sk_X509_pop_free(dir->certs, X509_free);
	sk_X509_CRL_pop_free(dir->crls, X509_CRL_free);
	free(dir->path);
	free(dir);
}

unsigned int kt_pki_dir_generation(const struct kt_pki_dir *dir)
{
	return dir->generation;
}

static const char *check_of(int code)
{
	switch (code) {
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		return "validity";
	case X509_V_ERR_CERT_REVOKED:
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
	case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
	case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
		return "revocation";
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		return "pathlen";
	case X509_V_ERR_PERMITTED_VIOLATION:
	case X509_V_ERR_EXCLUDED_VIOLATION:
	case X509_V_ERR_SUBTREE_MINMAX:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
	case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
		return "name-constraints";
	default:
		return "chain";
	}
}

static X509_STORE *build_store(const struct kt_pki_verify_opts *opts, struct kt_err *err)
{
	X509_STORE *store;
	int i, ok;

	if (!opts->anchors)
		return kt_fail(err, "anchors", "no trust anchor directory"), NULL;
	if (dir_refresh(opts->anchors, err))
		return NULL;
	if (!(opts->flags & KT_PKI_NO_CRL) && (!opts->crls || dir_refresh(opts->crls, err))) {
		if (!opts->crls)
			kt_fail(err, "revocation", "no CRL directory configured");
		return NULL;
	}
	store = X509_STORE_new();
	ok = store != NULL;
	for (i = 0; ok && i < sk_X509_num(opts->anchors->certs); i++)
		ok = X509_STORE_add_cert(store, sk_X509_value(opts->anchors->certs, i));
	for (i = 0; ok && !(opts->flags & KT_PKI_NO_CRL) && i < sk_X509_CRL_num(opts->crls->crls); i++)
		ok = X509_STORE_add_crl(store, sk_X509_CRL_value(opts->crls->crls, i));
	if (!ok) {
		X509_STORE_free(store);
		kt_fail_ssl(err, "anchors", "cannot build the certificate store");
		return NULL;
	}
	return store;
}

static int refuse(X509_STORE_CTX *ctx, struct kt_err *err)
{
	int code = X509_STORE_CTX_get_error(ctx);
	X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
	struct kt_cert_info info;

	if (!cert || kt_pki_cert_info(cert, &info, NULL))
		snprintf(info.subject, sizeof(info.subject), "?");
	return kt_fail(err, check_of(code), "certificate '%s' at depth %d: %s", info.subject,
		       X509_STORE_CTX_get_error_depth(ctx), X509_verify_cert_error_string(code));
}

int kt_pki_verify(X509 *leaf, const struct kt_pki_verify_opts *opts,
		  STACK_OF(X509) **path, struct kt_err *err)
{
	X509_STORE *store = build_store(opts, err);
	unsigned long flags = X509_V_FLAG_X509_STRICT;
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *param;
	struct kt_cert_info info;
	int ret = -1;

	if (!store)
		return -1;
	ctx = X509_STORE_CTX_new();
	if (!ctx || !X509_STORE_CTX_init(ctx, store, leaf, opts->untrusted)) {
		kt_fail_ssl(err, "chain", "out of memory");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	if (!(opts->flags & KT_PKI_NO_CRL))
		flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
	if (opts->flags & KT_PKI_NO_TIME)
		flags |= X509_V_FLAG_NO_CHECK_TIME;
	else
		X509_VERIFY_PARAM_set_time(param, opts->at ? opts->at : time(NULL));
	X509_VERIFY_PARAM_set_flags(param, flags);
	if (X509_verify_cert(ctx) != 1) {
		ERR_clear_error();
		refuse(ctx, err);
		goto out;
	}
	if (opts->require_kind >= 0) {
		if (kt_pki_cert_info(leaf, &info, err))
			goto out;
		if ((int)info.kind != opts->require_kind) {
			kt_fail(err, "purpose", "certificate '%s' is a %s certificate, not a %s one",
				info.subject, kt_cert_kind_name(info.kind),
				kt_cert_kind_name((enum kt_cert_kind)opts->require_kind));
			goto out;
		}
	}
	if (!(opts->flags & KT_PKI_NOT_SIGNER) && kt_pki_check_signer(leaf, err))
		goto out;
	if (path)
		*path = X509_STORE_CTX_get1_chain(ctx);
	ret = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ret;
}

int kt_pki_check_signer(X509 *cert, struct kt_err *err)
{
	struct kt_cert_info info;

	/* UINT32_MAX when the extension is absent: RFC 5280 leaves that unrestricted. */
	if (X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE)
		return 0;
	if (kt_pki_cert_info(cert, &info, NULL))
		snprintf(info.subject, sizeof(info.subject), "?");
	return kt_fail(err, "key-usage", "certificate '%s' is not certified for signing "
		       "(its keyUsage lacks digitalSignature)", info.subject);
}
