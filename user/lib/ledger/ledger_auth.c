// SPDX-License-Identifier: GPL-2.0
/* Ledger writers: pki.h signer checks, the urn:uuid: host SAN, owners apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "identity/pki.h"
#include "ledger/ledger_auth.h"
#include "ledger/revocation.h"

#define CACHE_SLOTS 64

struct auth_cached {
	kt_hash der_hash;
	enum kt_ledger_role role;
	X509 *cert;
	EVP_PKEY *pub;
	uint8_t host_id[KT_UUID_LEN];
	kt_hash subject_hash;
	char cert_id[KT_LEDGER_VM_MAX + 1];
	uint8_t cert_key[KT_UUID_LEN];
};

struct kt_ledger_auth {
	struct kt_pki_dir *hosts;
	struct kt_pki_dir *owners;	/* loaded from owners_path at the first owner */
	char *owners_path;
	struct auth_cached cache[CACHE_SLOTS];
	unsigned int used;
};

/* A PEM file or a directory of them; `option` tells the user how to name another. */
static struct kt_pki_dir *load_anchors(const char *path, const char *what, const char *option,
				       struct kt_err *err)
{
	struct kt_pki_dir *dir;
	struct stat st;

	if (!path || stat(path, &st)) {
		kt_fail(err, "authorization", "%s '%s' not found: give %s", what,
			path ? path : "(none)", option);
		return NULL;
	}
	if (kt_pki_dir_open(path, &dir, err)) {
		if (err)
			err->check = "authorization";
		return NULL;
	}
	return dir;
}

int kt_ledger_auth_load(const char *ca_path, const char *owner_anchors,
			struct kt_ledger_auth **out, struct kt_err *err)
{
	struct kt_ledger_auth *auth = calloc(1, sizeof(*auth));

	if (!auth || (owner_anchors && !(auth->owners_path = strdup(owner_anchors)))) {
		free(auth);
		return kt_fail(err, "authorization", "out of memory");
	}
	auth->hosts = load_anchors(ca_path, "ledger CA", "--ledger-ca FILE|DIR", err);
	if (!auth->hosts) {
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
	kt_pki_dir_free(auth->hosts);
	kt_pki_dir_free(auth->owners);
	free(auth->owners_path);
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

static int verify_chain(struct kt_pki_dir *anchors, const char *what, X509 *cert,
			unsigned int flags, struct kt_err *err)
{
	/*
	 * Validity is judged per entry time in kt_ledger_auth_check(); CRLs are
	 * not asked for, as pki's "every CA has a current CRL" would refuse an
	 * old entry once its CRLs moved on.
	 */
	struct kt_pki_verify_opts opts = {
		.anchors = anchors,
		.flags = KT_PKI_NO_TIME | KT_PKI_NO_CRL | flags,
		.require_kind = -1,
	};
	struct kt_err why = { 0 };

	if (kt_pki_verify(cert, &opts, NULL, &why))
		return kt_fail(err, "authorization", "certificate not trusted by the %s: %s: %s",
			       what, why.check, why.msg);
	return 0;
}

static int admit_host(struct kt_ledger_auth *auth, X509 *cert, struct auth_cached *c,
		      struct kt_err *err)
{
	return verify_chain(auth->hosts, "ledger CA", cert, 0, err) ||
	       host_uuid(cert, c->host_id, err);
}

/*
 * An owner is a person's or a service's certificate under the owner
 * anchors. As for grants, a certificate a ledger (host) CA vouches for is
 * refused even if the owner anchors trust it too: hosts must not be able to
 * claim VMs.
 */
static int admit_owner(struct kt_ledger_auth *auth, X509 *cert, struct auth_cached *c,
		       struct kt_err *err)
{
	struct kt_cert_info info;
	struct kt_err ignored;

	if (!auth->owners_path)
		return kt_fail(err, "authorization",
			       "no owner trust anchors to check a VM owner against: give --owner-anchors DIR");
	if (!auth->owners) {
		auth->owners = load_anchors(auth->owners_path, "owner anchors",
					    "--owner-anchors DIR", err);
		if (!auth->owners)
			return -1;
	}
	if (kt_pki_cert_info(cert, &info, err)) {
		err->check = "authorization";
		return -1;
	}
	if (info.kind != KT_CERT_USER)
		return kt_fail(err, "authorization", "\"%s\" is a %s certificate: only a VM owner's "
			       "user certificate registers a VM", info.subject,
			       kt_cert_kind_name(info.kind));
	if (verify_chain(auth->owners, "owner anchors", cert, 0, err))
		return -1;
	if (!verify_chain(auth->hosts, "ledger CA", cert, 0, &ignored))
		return kt_fail(err, "authorization", "owner \"%s\" is certified by the ledger CA: "
			       "owners and hosts must be kept apart", info.subject);
	memset(c->host_id, 0, KT_UUID_LEN);
	return 0;
}

/*
 * An authority is a CA of the ledger's hierarchy that may sign revocations
 * (keyUsage cRLSign; a CA signs nothing else, so the signer check of the
 * other roles, digitalSignature, does not apply). Its subject name is what
 * the certificates it issued name as their issuer.
 */
static int admit_authority(struct kt_ledger_auth *auth, X509 *cert, struct auth_cached *c,
			   struct kt_err *err)
{
	struct kt_cert_info info;
	unsigned char *der = NULL;
	int len;

	if (kt_pki_cert_info(cert, &info, err)) {
		err->check = "authorization";
		return -1;
	}
	if (info.kind != KT_CERT_ROOT && info.kind != KT_CERT_CA)
		return kt_fail(err, "authorization", "\"%s\" is a %s certificate: only a CA revokes "
			       "certificates", info.subject, kt_cert_kind_name(info.kind));
	if (!(X509_get_extension_flags(cert) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(cert) & KU_CRL_SIGN))
		return kt_fail(err, "authorization", "CA \"%s\" may not sign revocations "
			       "(no cRLSign in its keyUsage)", info.subject);
	if (verify_chain(auth->hosts, "ledger CA", cert, KT_PKI_NOT_SIGNER, err))
		return -1;
	len = i2d_X509_NAME(X509_get_subject_name(cert), &der);
	if (len <= 0)
		return kt_fail_ssl(err, "authorization", "cannot encode the CA's name");
	kt_sha256(der, (size_t)len, c->subject_hash);
	OPENSSL_free(der);
	memset(c->host_id, 0, KT_UUID_LEN);
	return 0;
}

static struct auth_cached *lookup(struct kt_ledger_auth *auth, const kt_hash h,
				  enum kt_ledger_role role)
{
	unsigned int i;

	for (i = 0; i < auth->used; i++)
		if (auth->cache[i].role == role && !memcmp(auth->cache[i].der_hash, h, KT_HASH_LEN))
			return &auth->cache[i];
	return NULL;
}

static struct auth_cached *admit(struct kt_ledger_auth *auth, X509 *cert, const kt_hash h,
				 enum kt_ledger_role role, struct kt_err *err)
{
	struct auth_cached *c, tmp = { .role = role };

	if (role == KT_LEDGER_HOST ? admit_host(auth, cert, &tmp, err) :
	    role == KT_LEDGER_OWNER ? admit_owner(auth, cert, &tmp, err) :
	    admit_authority(auth, cert, &tmp, err))
		return NULL;
	tmp.pub = X509_get_pubkey(cert);
	if (!tmp.pub || !X509_up_ref(cert)) {
		EVP_PKEY_free(tmp.pub);
		kt_fail_ssl(err, "authorization", "certificate has no usable key");
		return NULL;
	}
	tmp.cert = cert;
	memcpy(tmp.der_hash, h, KT_HASH_LEN);
	/* How a revocation in the ledger would name it; a serial too long cannot be. */
	if (kt_ledger_cert_id(cert, tmp.cert_id, NULL, NULL))
		tmp.cert_id[0] = '\0';
	else
		kt_ledger_cert_key(tmp.cert_id, tmp.cert_key);
	/* A full cache recycles the oldest slot: correctness never depends on it. */
	if (auth->used == CACHE_SLOTS) {
		X509_free(auth->cache[0].cert);
		EVP_PKEY_free(auth->cache[0].pub);
		memmove(auth->cache, auth->cache + 1, sizeof(auth->cache[0]) * (CACHE_SLOTS - 1));
		auth->used--;
	}
	c = &auth->cache[auth->used++];
	*c = tmp;
	return c;
}

/* The cached writer for der in the first of roles it qualifies for. */
static struct auth_cached *writer(struct kt_ledger_auth *auth, const uint8_t *der, size_t len,
				  unsigned int roles, struct kt_err *err)
{
	static const enum kt_ledger_role order[] = { KT_LEDGER_HOST, KT_LEDGER_OWNER,
						     KT_LEDGER_AUTHORITY };
	struct kt_err why[3] = { { 0 }, { 0 }, { 0 } };
	const unsigned char *p = der;
	struct auth_cached *c = NULL;
	unsigned int i, tried = 0;
	X509 *cert;
	kt_hash h;

	kt_sha256(der, len, h);
	for (i = 0; i < 3 && !c; i++)
		if (roles & order[i])
			c = lookup(auth, h, order[i]);
	if (c)
		return c;
	cert = d2i_X509(NULL, &p, (long)len);
	if (!cert || p != der + len) {
		X509_free(cert);
		kt_fail_ssl(err, "authorization", "certificate is not DER X.509");
		return NULL;
	}
	for (i = 0; i < 3 && !c; i++)
		if (roles & order[i])
			c = admit(auth, cert, h, order[i], &why[tried++]);
	X509_free(cert);
	if (!c && tried == 1)
		kt_fail(err, "authorization", "%s", why[0].msg);
	else if (!c)
		kt_fail(err, "authorization", "not a host: %s; not an owner: %s%s%s", why[0].msg,
			why[1].msg, tried > 2 ? "; not an authority: " : "",
			tried > 2 ? why[2].msg : "");
	return c;
}

int kt_ledger_auth_check(struct kt_ledger_auth *auth, const uint8_t *der, size_t len,
			 uint64_t when, unsigned int roles, struct kt_ledger_writer *w,
			 struct kt_err *err)
{
	struct auth_cached *c = writer(auth, der, len, roles, err);
	time_t t = (time_t)when;

	if (!c)
		return -1;
	if (X509_cmp_time(X509_get0_notBefore(c->cert), &t) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(c->cert), &t) < 0) {
		char at[32];
		struct tm tm;

		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		return kt_fail(err, "authorization", "certificate not valid at %s", at);
	}
	w->role = c->role;
	w->pub = c->pub;
	memcpy(w->host_id, c->host_id, KT_UUID_LEN);
	memcpy(w->subject_hash, c->subject_hash, KT_HASH_LEN);
	memcpy(w->cert_id, c->cert_id, sizeof(w->cert_id));
	memcpy(w->cert_key, c->cert_key, KT_UUID_LEN);
	return 0;
}
