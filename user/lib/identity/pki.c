// SPDX-License-Identifier: GPL-2.0
/* Issuing certificates: root CAs, intermediates, hosts and users. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "identity/pki.h"
#include "identity/pki_location.h"

/* Names that go into OpenSSL's extension config syntax must not carry ',' or ':'. */
static bool dns_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '.')
			return false;
	}
	return true;
}

static int check_names(const char *const *names, const char *what, struct kt_err *err)
{
	for (; names && *names; names++) {
		if (!dns_valid(*names))
			return kt_fail(err, "request", "%s '%s' is not a DNS name", what, *names);
	}
	return 0;
}

static int check_request(const struct kt_cert_req *req, struct kt_err *err)
{
	if (!req->cn || !*req->cn || strlen(req->cn) > 64)
		return kt_fail(err, "request", "a common name of 1 to 64 bytes is required");
	if (req->not_after <= req->not_before)
		return kt_fail(err, "request", "notAfter must be later than notBefore");
	if (check_names(req->permit_dns, "permitted subtree", err) ||
	    check_names(req->exclude_dns, "excluded subtree", err) ||
	    check_names(req->dns, "subjectAltName", err))
		return -1;
	if (req->kind != KT_CERT_HOST)
		return 0;
	if (!req->host_uuid || !kt_uuid_valid(req->host_uuid))
		return kt_fail(err, "request", "host UUID must be a lowercase RFC 4122 UUID");
	if (!kt_location_attr_valid(req->region) || !kt_location_attr_valid(req->site))
		return kt_fail(err, "request",
			       "region and site must be 1 to %d characters of [A-Za-z0-9._-]",
			       KT_PKI_ATTR_MAX);
	return 0;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value, struct kt_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(cert, ext, -1);

	X509_EXTENSION_free(ext);
	if (!ok)
		return kt_fail_ssl(err, "request", "cannot add %s '%s'", OBJ_nid2sn(nid), value);
	return 0;
}

/* Appends "prefix<name>" for each name, comma-separated, to a config string. */
static int append_names(char **conf, const char *prefix, const char *const *names)
{
	char *next;

	for (; names && *names; names++) {
		if (asprintf(&next, "%s%s%s%s", *conf ? *conf : "", *conf ? "," : "",
			     prefix, *names) < 0)
			return -1;
		free(*conf);
		*conf = next;
	}
	return 0;
}

static int add_ca_exts(X509 *cert, X509V3_CTX *ctx, const struct kt_cert_req *req,
		       struct kt_err *err)
{
	char bc[64], *nc = NULL, *value;
	int ret;

	if (req->pathlen >= 0)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", req->pathlen);
	else
		snprintf(bc, sizeof(bc), "critical,CA:TRUE");
	if (add_ext(cert, ctx, NID_basic_constraints, bc, err) ||
	    add_ext(cert, ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err))
		return -1;
	if (append_names(&nc, "permitted;DNS:", req->permit_dns) ||
	    append_names(&nc, "excluded;DNS:", req->exclude_dns)) {
		free(nc);
		return kt_fail(err, "request", "out of memory");
	}
	if (!nc)
		return 0;
	/* RFC 5280 4.2.1.10: name constraints must be critical. */
	if (asprintf(&value, "critical,%s", nc) < 0) {
		free(nc);
		return kt_fail(err, "request", "out of memory");
	}
	ret = add_ext(cert, ctx, NID_name_constraints, value, err);
	free(value);
	free(nc);
	return ret;
}

static int add_leaf_exts(X509 *cert, X509V3_CTX *ctx, const struct kt_cert_req *req,
			 struct kt_err *err)
{
	char *san = NULL;
	int ret = -1;

	if (add_ext(cert, ctx, NID_basic_constraints, "critical,CA:FALSE", err) ||
	    add_ext(cert, ctx, NID_key_usage, "critical,digitalSignature", err))
		return -1;
	if (req->kind == KT_CERT_HOST) {
		if (add_ext(cert, ctx, NID_ext_key_usage, "serverAuth,clientAuth", err) ||
		    kt_location_add(cert, req->region, req->site, err))
			return -1;
		if (asprintf(&san, "URI:urn:uuid:%s", req->host_uuid) < 0)
			return kt_fail(err, "request", "out of memory");
	}
	if (append_names(&san, "DNS:", req->dns)) {
		kt_fail(err, "request", "out of memory");
		goto out;
	}
	ret = san ? add_ext(cert, ctx, NID_subject_alt_name, san, err) : 0;
out:
	free(san);
	return ret;
}

static int set_serial(X509 *cert)
{
	BIGNUM *bn = BN_new();
	int ok;

	/* 127 bits keeps the DER INTEGER positive and within RFC 5280's 20 octets. */
	ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
	return ok ? 0 : -1;
}

/* Signs a new certificate for pub; issuer NULL means self-signed with sign_key. */
static X509 *build_cert(const struct kt_cert_req *req, EVP_PKEY *pub, X509 *issuer,
			EVP_PKEY *sign_key, struct kt_err *err)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;

	if (!cert || !name || !X509_set_version(cert, X509_VERSION_3) || set_serial(cert) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)req->cn, -1, -1, 0) ||
	    !X509_set_subject_name(cert, name) ||
	    !X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert), req->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(cert), req->not_after) ||
	    !X509_set_pubkey(cert, pub)) {
		kt_fail_ssl(err, "request", "cannot build certificate");
		goto fail;
	}
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	if (add_ext(cert, &ctx, NID_subject_key_identifier, "hash", err))
		goto fail;
	if (issuer && add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always", err))
		goto fail;
	if (req->kind == KT_CERT_ROOT || req->kind == KT_CERT_CA ?
	    add_ca_exts(cert, &ctx, req, err) : add_leaf_exts(cert, &ctx, req, err))
		goto fail;
	if (!X509_sign(cert, sign_key, EVP_sha256())) {
		kt_fail_ssl(err, "request", "cannot sign certificate");
		goto fail;
	}
	X509_NAME_free(name);
	return cert;
fail:
	X509_NAME_free(name);
	X509_free(cert);
	return NULL;
}

int kt_ca_init(const char *dir, const struct kt_cert_req *req, struct kt_err *err)
{
	struct kt_cred cred = { 0 };
	int ret = -1;

	if (req->kind != KT_CERT_ROOT)
		return kt_fail(err, "request", "kt_ca_init makes root CAs only");
	if (check_request(req, err))
		return -1;
	cred.key = kt_pki_new_key(err);
	cred.chain = sk_X509_new_null();
	if (!cred.key || !cred.chain)
		goto out;
	cred.cert = build_cert(req, cred.key, NULL, cred.key, err);
	if (!cred.cert || !sk_X509_push(cred.chain, cred.cert))
		goto out;
	X509_up_ref(cred.cert);
	ret = kt_cred_save(dir, &cred, err);
out:
	kt_cred_free(&cred);
	return ret;
}

static bool self_signed(X509 *cert)
{
	return X509_check_issued(cert, cert) == X509_V_OK;
}

int kt_ca_issue(const struct kt_cred *ca, const struct kt_cert_req *req,
		EVP_PKEY *pub, struct kt_cred *out, struct kt_err *err)
{
	int i;

	memset(out, 0, sizeof(*out));
	if (req->kind == KT_CERT_ROOT)
		return kt_fail(err, "request", "a root CA is made with kt_ca_init");
	if (X509_check_ca(ca->cert) != 1)
		return kt_fail(err, "request", "the issuing certificate is not a CA");
	if (check_request(req, err))
		return -1;
	out->cert = build_cert(req, pub, ca->cert, ca->key, err);
	if (!out->cert)
		return -1;
	out->chain = sk_X509_new_null();
	if (!out->chain || !sk_X509_push(out->chain, out->cert))
		goto fail;
	X509_up_ref(out->cert);
	for (i = 0; i < sk_X509_num(ca->chain); i++) {
		X509 *c = sk_X509_value(ca->chain, i);

		if (self_signed(c))
			continue;	/* the root is the verifier's anchor, not sent */
		if (!sk_X509_push(out->chain, c))
			goto fail;
		X509_up_ref(c);
	}
	return 0;
fail:
	kt_cred_free(out);
	return kt_fail(err, "request", "out of memory");
}
