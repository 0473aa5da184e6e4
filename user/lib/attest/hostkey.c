// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest/hostkey.h"
#include "common/statefile.h"
#include "identity/jws.h"

#define META_FILE "hostkey.json"
#define MAX_KEY_FILE (64 * 1024)

const char *kt_key_origin_name(enum kt_key_origin origin)
{
	return origin == KT_KEY_TPM ? "tpm" : "software";
}

const char *kt_hostkey_default_dir(void)
{
	const char *dir = getenv("KVMTRUST_KEY_DIR");

	return dir && *dir ? dir : "/var/lib/kvmtrust/hostkey";
}

const char *kt_hostkey_default_tcti(void)
{
	const char *tcti = getenv("KVMTRUST_TCTI");

	return tcti && *tcti ? tcti : NULL;
}

static int write_in(const char *dir, const char *name, const void *data, size_t len,
		    mode_t mode, struct kt_err *err)
{
	char *path = kt_path_join(dir, name);
	int ret;

	if (!path)
		return kt_fail(err, "file", "out of memory");
	ret = kt_file_write(path, data, len, mode, err);
	free(path);
	return ret;
}

static int read_in(const char *dir, const char *name, unsigned int flags, struct kt_blob *blob,
		   struct kt_err *err)
{
	char *path = kt_path_join(dir, name);
	int ret;

	if (!path)
		return kt_fail(err, "file", "out of memory");
	ret = kt_file_read(path, MAX_KEY_FILE, flags, &blob->data, &blob->len, err);
	free(path);
	return ret;
}

/* Writes an OpenSSL object through a memory BIO: PEM_write_bio_* callers. */
static int write_bio_in(const char *dir, const char *name, BIO *bio, mode_t mode,
			struct kt_err *err)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);

	return write_in(dir, name, data, (size_t)len, mode, err);
}

static char *default_host_id(void)
{
	struct kt_blob id = { 0 };
	char host[256];

	if (!kt_file_read("/etc/machine-id", 256, 0, &id.data, &id.len, NULL)) {
		id.data[strcspn((char *)id.data, "\n")] = '\0';
		if (id.data[0])
			return (char *)id.data;
		kt_blob_free(&id);
	}
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		return strdup(host);
	}
	return strdup("unknown-host");
}

static int write_meta(const struct kt_hostkey *hk, struct kt_err *err)
{
	json_t *meta;
	char *text;
	int ret;

	meta = json_pack("{s:i, s:s, s:s, s:i, s:s*}", "version", (int)hk->version,
			 "origin", kt_key_origin_name(hk->origin), "host_id", hk->host_id,
			 "pcr", (int)hk->pcr, "tcti", hk->tcti);
	text = meta ? json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(meta);
	if (!text)
		return kt_fail(err, "file", "out of memory");
	ret = write_in(hk->dir, META_FILE, text, strlen(text), 0644, err);
	free(text);
	return ret;
}

static int read_meta(struct kt_hostkey *hk, struct kt_err *err)
{
	struct kt_blob raw = { 0 };
	const char *origin, *host_id, *tcti = NULL;
	json_error_t jerr;
	json_t *meta;
	int version, pcr, ret = -1;

	if (read_in(hk->dir, META_FILE, 0, &raw, err))
		return kt_fail(err, "key", "no host key in '%s': run 'kvmtrust tpm init' (%s)",
			       hk->dir, err ? err->msg : "");
	meta = json_loadb((char *)raw.data, raw.len, JSON_REJECT_DUPLICATES, &jerr);
	kt_blob_free(&raw);
	if (!meta || json_unpack_ex(meta, &jerr, JSON_STRICT, "{s:i, s:s, s:s, s:i, s?s}",
				    "version", &version, "origin", &origin,
				    "host_id", &host_id, "pcr", &pcr, "tcti", &tcti) ||
	    version < 1 || version > KT_HOSTKEY_VERSION || pcr < 0 || pcr > 23 ||
	    (strcmp(origin, "tpm") && strcmp(origin, "software"))) {
		kt_fail(err, "key", "'%s/%s' is not a kvmtrust host key description", hk->dir,
			META_FILE);
		goto out;
	}
	hk->origin = strcmp(origin, "tpm") ? KT_KEY_SOFTWARE : KT_KEY_TPM;
	hk->version = (unsigned int)version;
	hk->host_id = strdup(host_id);
	hk->tcti = tcti ? strdup(tcti) : NULL;
	hk->pcr = (unsigned int)pcr;
	ret = hk->host_id ? 0 : kt_fail(err, "key", "out of memory");
out:
	json_decref(meta);
	return ret;
}

typedef int (*pem_writer)(BIO *bio, const EVP_PKEY *key);

static int write_private_pem(BIO *bio, const EVP_PKEY *key)
{
	return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
}

static int write_key_pem(const char *dir, const char *name, pem_writer writer, EVP_PKEY *key,
			 mode_t mode, struct kt_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ret;

	if (!bio || writer(bio, key) != 1) {
		BIO_free(bio);
		return kt_fail_ssl(err, "key", "cannot encode '%s'", name);
	}
	ret = write_bio_in(dir, name, bio, mode, err);
	BIO_free(bio);
	return ret;
}

static int write_csr(struct kt_hostkey *hk, struct kt_err *err)
{
	X509_REQ *req;
	BIO *bio;
	int ret = -1;

	if (kt_hostkey_csr(hk, &req, err))
		return -1;
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_X509_REQ(bio, req) != 1)
		kt_fail_ssl(err, "key", "cannot encode the CSR");
	else
		ret = write_bio_in(hk->dir, "host.csr", bio, 0644, err);
	BIO_free(bio);
	X509_REQ_free(req);
	return ret;
}

static int create_software(struct kt_hostkey *hk, struct kt_err *err)
{
	hk->priv = EVP_EC_gen("P-256");
	if (!hk->priv)
		return kt_fail_ssl(err, "key", "cannot generate a P-256 key");
	hk->pub = hk->priv;
	EVP_PKEY_up_ref(hk->pub);
	return write_key_pem(hk->dir, "key.pem", write_private_pem, hk->priv, 0600, err);
}

/* Version 1 directories hold keys made before the SRK was shared (tpm.h). */
static enum kt_tpm_parent key_parent(const struct kt_hostkey *hk)
{
	return hk->version == 1 ? KT_TPM_PARENT_V1 : KT_TPM_PARENT_SRK;
}

static int open_tpm(struct kt_hostkey *hk, struct kt_err *err)
{
	struct kt_blob pub = { 0 }, priv = { 0 };
	int ret = -1;

	if (read_in(hk->dir, "key.pub", 0, &pub, err) ||
	    read_in(hk->dir, "key.priv", KT_FILE_PRIVATE, &priv, err))
		goto out;
	if (kt_tpm_public_to_pkey(&pub, &hk->pub, err) ||
	    (!hk->tpm && kt_tpm_open(hk->tcti, &hk->tpm, err)) ||
	    kt_tpm_load_key(hk->tpm, key_parent(hk), &pub, &priv, err))
		goto out;
	ret = 0;
out:
	kt_blob_free(&pub);
	kt_blob_free(&priv);
	return ret;
}

/* Creates the key and writes its blobs, then opens it like any saved key. */
static int create_tpm(struct kt_hostkey *hk, struct kt_err *err)
{
	struct kt_blob pub = { 0 }, priv = { 0 };
	int ret;

	if (kt_tpm_open(hk->tcti, &hk->tpm, err) ||
	    kt_tpm_create_key(hk->tpm, &pub, &priv, err))
		return -1;
	ret = write_in(hk->dir, "key.pub", pub.data, pub.len, 0644, err) ||
	      write_in(hk->dir, "key.priv", priv.data, priv.len, 0600, err);
	kt_blob_free(&pub);
	kt_blob_free(&priv);
	return ret ? -1 : open_tpm(hk, err);
}

int kt_hostkey_init(const struct kt_hostkey_params *p, struct kt_err *err)
{
	struct kt_hostkey hk = {
		.origin = p->software ? KT_KEY_SOFTWARE : KT_KEY_TPM,
		.version = KT_HOSTKEY_VERSION,
		.pcr = p->pcr,
	};
	char *meta;
	int ret = -1;

	if (p->pcr > 23)
		return kt_fail(err, "key", "PCR %u out of range (0-23)", p->pcr);
	if (kt_dir_make(p->dir, 0700, err))
		return -1;
	meta = kt_path_join(p->dir, META_FILE);
	if (!meta)
		return kt_fail(err, "file", "out of memory");
	if (!p->force && access(meta, F_OK) == 0) {
		free(meta);
		return kt_fail(err, "key", "'%s' already holds a host key (--force replaces it)",
			       p->dir);
	}
	free(meta);
	hk.dir = strdup(p->dir);
	hk.host_id = p->host_id ? strdup(p->host_id) : default_host_id();
	hk.tcti = p->tcti && !p->software ? strdup(p->tcti) : NULL;
	if (!hk.dir || !hk.host_id) {
		kt_fail(err, "key", "out of memory");
		goto out;
	}
	if (p->software ? create_software(&hk, err) : create_tpm(&hk, err))
		goto out;
	if (write_key_pem(hk.dir, "public.pem", PEM_write_bio_PUBKEY, hk.pub, 0644, err) ||
	    write_csr(&hk, err) || write_meta(&hk, err))
		goto out;
	ret = 0;
out:
	EVP_PKEY_free(hk.pub);
	EVP_PKEY_free(hk.priv);
	kt_tpm_close(hk.tpm);
	free(hk.dir);
	free(hk.host_id);
	free(hk.tcti);
	return ret;
}

static int open_software(struct kt_hostkey *hk, struct kt_err *err)
{
	struct kt_blob pem = { 0 };
	BIO *bio;

	if (read_in(hk->dir, "key.pem", KT_FILE_PRIVATE, &pem, err))
		return -1;
	bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	hk->priv = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	kt_blob_free(&pem);
	if (!hk->priv)
		return kt_fail_ssl(err, "key", "'%s/key.pem' is not a private key", hk->dir);
	hk->pub = hk->priv;
	EVP_PKEY_up_ref(hk->pub);
	return 0;
}

/* cert.pem is optional; when present its leaf must hold this very key. */
static int open_chain(struct kt_hostkey *hk, struct kt_err *err)
{
	char *path = kt_path_join(hk->dir, "cert.pem");
	X509 *cert;
	BIO *bio;

	if (!path)
		return kt_fail(err, "key", "out of memory");
	bio = BIO_new_file(path, "r");
	free(path);
	if (!bio) {
		ERR_clear_error();
		return 0;
	}
	hk->chain = sk_X509_new_null();
	while (hk->chain && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(hk->chain, cert);
	ERR_clear_error();
	BIO_free(bio);
	if (!hk->chain || sk_X509_num(hk->chain) == 0)
		return kt_fail(err, "key", "'%s/cert.pem' holds no certificate", hk->dir);
	if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(hk->chain, 0)), hk->pub) != 1)
		return kt_fail(err, "key", "'%s/cert.pem' certifies a different key", hk->dir);
	return 0;
}

int kt_hostkey_open(const char *dir, const char *tcti, struct kt_hostkey **out,
		    struct kt_err *err)
{
	struct kt_hostkey *hk = calloc(1, sizeof(*hk));

	if (!hk || !(hk->dir = strdup(dir))) {
		free(hk);
		return kt_fail(err, "key", "out of memory");
	}
	if (read_meta(hk, err))
		goto fail;
	if (tcti && hk->origin == KT_KEY_TPM) {
		free(hk->tcti);
		hk->tcti = strdup(tcti);
	}
	if (hk->origin == KT_KEY_TPM ? open_tpm(hk, err) : open_software(hk, err))
		goto fail;
	if (open_chain(hk, err))
		goto fail;
	*out = hk;
	return 0;
fail:
	kt_hostkey_close(hk);
	return -1;
}

void kt_hostkey_close(struct kt_hostkey *hk)
{
	if (!hk)
		return;
	kt_tpm_close(hk->tpm);
	EVP_PKEY_free(hk->pub);
	EVP_PKEY_free(hk->priv);
	sk_X509_pop_free(hk->chain, X509_free);
	free(hk->dir);
	free(hk->host_id);
	free(hk->tcti);
	free(hk);
}

int kt_hostkey_sign(void *ctx, const void *msg, size_t len, uint8_t sig[64],
		    struct kt_err *err)
{
	struct kt_hostkey *hk = ctx;

	if (hk->origin == KT_KEY_TPM)
		return kt_tpm_sign(hk->tpm, msg, len, sig, err);
	return kt_es256_sign(hk->priv, msg, len, sig, err);
}

/* r || s as the DER ECDSA-Sig-Value an X.509 signature BIT STRING holds. */
static ASN1_BIT_STRING *der_signature(const uint8_t sig[64])
{
	ECDSA_SIG *esig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	ASN1_BIT_STRING *bits = NULL;
	unsigned char *der = NULL;
	int len;

	if (!esig || !r || !s || !ECDSA_SIG_set0(esig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(esig);
		return NULL;
	}
	len = i2d_ECDSA_SIG(esig, &der);
	ECDSA_SIG_free(esig);
	bits = len > 0 ? ASN1_BIT_STRING_new() : NULL;
	if (!bits || !ASN1_BIT_STRING_set(bits, der, len)) {
		ASN1_BIT_STRING_free(bits);
		OPENSSL_free(der);
		return NULL;
	}
	OPENSSL_free(der);
	/* No unused bits, as OpenSSL's own ASN1_item_sign does. */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	return bits;
}

/*
 * The TPM key is not an EVP_PKEY, so the request is signed by hand: encode
 * the to-be-signed part, sign it with the host key, attach the signature;
 * X509_REQ_verify() then proves the result is a well-formed, valid CSR.
 */
int kt_hostkey_csr(struct kt_hostkey *hk, X509_REQ **out, struct kt_err *err)
{
	unsigned char *tbs = NULL;
	ASN1_BIT_STRING *bits;
	X509_ALGOR *alg = NULL;
	X509_REQ *req;
	uint8_t sig[64];
	int tbs_len, ret = -1;

	req = X509_REQ_new();
	alg = X509_ALGOR_new();
	if (!req || !alg || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
					(const unsigned char *)hk->host_id, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, hk->pub) ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL) ||
	    !X509_REQ_set1_signature_algo(req, alg)) {
		kt_fail_ssl(err, "key", "cannot build the CSR");
		goto out;
	}
	tbs_len = i2d_re_X509_REQ_tbs(req, &tbs);
	if (tbs_len <= 0) {
		kt_fail_ssl(err, "key", "cannot encode the CSR");
		goto out;
	}
	if (kt_hostkey_sign(hk, tbs, (size_t)tbs_len, sig, err))
		goto out;
	bits = der_signature(sig);
	if (!bits) {
		kt_fail_ssl(err, "key", "cannot encode the CSR signature");
		goto out;
	}
	X509_REQ_set0_signature(req, bits);
	if (X509_REQ_verify(req, hk->pub) != 1) {
		kt_fail_ssl(err, "signature", "the CSR's signature does not verify");
		goto out;
	}
	*out = req;
	req = NULL;
	ret = 0;
out:
	OPENSSL_free(tbs);
	X509_ALGOR_free(alg);
	X509_REQ_free(req);
	return ret;
}

static int lock_dir(const char *dir, struct kt_err *err)
{
	char *path = kt_path_join(dir, "lock");
	int fd;

	if (!path)
		return kt_fail(err, "file", "out of memory");
	fd = kt_file_lock(path, err);
	free(path);
	return fd;
}

int kt_hostkey_extend_quote(struct kt_hostkey *hk, const kt_hash digest,
			    struct kt_quote *q, struct kt_err *err)
{
	int fd, ret = -1;

	memset(q, 0, sizeof(*q));
	if (hk->origin != KT_KEY_TPM)
		return kt_fail(err, "tpm", "a software key cannot quote");
	q->pcr = hk->pcr;
	fd = lock_dir(hk->dir, err);
	if (fd < 0)
		return -1;
	if (kt_tpm_pcr_read(hk->tpm, q->pcr, q->pcr_prev, err) ||
	    kt_tpm_pcr_extend(hk->tpm, q->pcr, digest, err) ||
	    kt_tpm_pcr_read(hk->tpm, q->pcr, q->pcr_value, err) ||
	    kt_tpm_quote(hk->tpm, q->pcr, digest, KT_HASH_LEN, &q->attest, &q->sig, err))
		goto out;
	ret = 0;
out:
	close(fd);
	return ret;
}
