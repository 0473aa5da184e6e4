// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CA revocation: a small JSON database (revoked.json) that is the
 * source of truth, and X.509 v2 CRLs signed from it. The database is kept
 * so a CRL can be re-signed (nextUpdate moved on) without losing entries.
 *
 *   {"crl_number": N, "crl_days": D,
 *    "revoked": [{"serial": "hex", "time": unix, "reason": code}, ...]}
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/outfile.h"
#include "common/secfile.h"
#include "identity/pki.h"

#define DB_MAX (16 * 1024 * 1024)
#define DEFAULT_CRL_DAYS 30
#define CRL_BACKDATE 300

static const char *const reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

int kt_crl_reason(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (reasons[i] && !strcasecmp(reasons[i], name))
			return (int)i;
	}
	return -1;
}

static char *db_path(const char *ca_dir, const char *name)
{
	char *path;

	return asprintf(&path, "%s/%s", ca_dir, name) < 0 ? NULL : path;
}

static json_t *db_load(const char *path, struct kt_err *err)
{
	json_error_t jerr;
	uint8_t *buf;
	size_t len;
	json_t *db;

	if (access(path, F_OK) && errno == ENOENT)
		return json_pack("{s:i, s:i, s:[]}", "crl_number", 0,
				 "crl_days", DEFAULT_CRL_DAYS, "revoked");
	if (kt_file_read(path, DB_MAX, 0, &buf, &len, err))
		return NULL;
	db = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!db || !json_is_array(json_object_get(db, "revoked")) ||
	    !json_is_integer(json_object_get(db, "crl_number"))) {
		json_decref(db);
		kt_fail(err, "revocation", "'%s' is not a revocation database", path);
		return NULL;
	}
	return db;
}

static int db_save(const char *path, json_t *db, struct kt_err *err)
{
	char *text = json_dumps(db, JSON_INDENT(1) | JSON_SORT_KEYS);
	int ret;

	if (!text)
		return kt_fail(err, "revocation", "out of memory");
	ret = kt_file_write(path, text, strlen(text), 0644, err);
	free(text);
	return ret;
}

static char *serial_hex(X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	BN_free(bn);
	return hex;
}

int kt_ca_revoke(const char *ca_dir, const struct kt_cred *ca, X509 *cert,
		 int reason, struct kt_err *err)
{
	char *path = db_path(ca_dir, "revoked.json"), *serial = NULL;
	EVP_PKEY *ca_pub = X509_get0_pubkey(ca->cert);
	json_t *db = NULL, *list, *item;
	int ret = -1;
	size_t i;

	if (reason < 0 || reason >= (int)(sizeof(reasons) / sizeof(reasons[0])) || !reasons[reason])
		return kt_fail(err, "request", "unknown CRL reason code %d", reason);
	if (X509_check_issued(ca->cert, cert) != X509_V_OK || X509_verify(cert, ca_pub) != 1) {
		ERR_clear_error();
		kt_fail(err, "request", "this CA did not issue the certificate");
		goto out;
	}
	serial = serial_hex(cert);
	db = path && serial ? db_load(path, err) : NULL;
	if (!db)
		goto out;
	list = json_object_get(db, "revoked");
	json_array_foreach(list, i, item) {
		if (!strcmp(json_string_value(json_object_get(item, "serial")) ?: "", serial)) {
			kt_fail(err, "revoked", "certificate %s is already revoked", serial);
			goto out;
		}
	}
	item = json_pack("{s:s, s:I, s:i}", "serial", serial, "time", (json_int_t)time(NULL),
			 "reason", reason);
	if (!item || json_array_append_new(list, item)) {
		kt_fail(err, "revocation", "out of memory");
		goto out;
	}
	if (db_save(path, db, err))
		goto out;
	ret = kt_ca_crl(ca_dir, ca, 0, NULL, err);
out:
	json_decref(db);
	OPENSSL_free(serial);
	free(path);
	return ret;
}

static X509_REVOKED *revoked_entry(json_t *item)
{
	const char *hex = json_string_value(json_object_get(item, "serial"));
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	BIGNUM *bn = NULL;
	int ok;

	ok = hex && rev && reason && BN_hex2bn(&bn, hex) &&
	     (serial = BN_to_ASN1_INTEGER(bn, NULL)) &&
	     (when = ASN1_TIME_set(NULL, (time_t)json_integer_value(json_object_get(item, "time")))) &&
	     X509_REVOKED_set_serialNumber(rev, serial) &&
	     X509_REVOKED_set_revocationDate(rev, when) &&
	     ASN1_ENUMERATED_set(reason, json_integer_value(json_object_get(item, "reason"))) &&
	     X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0);
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(when);
	ASN1_ENUMERATED_free(reason);
	if (!ok) {
		X509_REVOKED_free(rev);
		return NULL;
	}
	return rev;
}

static X509_CRL *build_crl(const struct kt_cred *ca, json_t *db, unsigned int days)
{
	time_t now = time(NULL);
	X509_CRL *crl = X509_CRL_new();
	/* Backdated so verifiers whose clocks run a little behind accept it. */
	ASN1_TIME *last = ASN1_TIME_set(NULL, now - CRL_BACKDATE);
	ASN1_TIME *next = ASN1_TIME_set(NULL, now + (time_t)days * 86400);
	ASN1_INTEGER *number = ASN1_INTEGER_new();
	X509_EXTENSION *aki = NULL;
	X509_REVOKED *rev;
	X509V3_CTX ctx;
	json_t *item;
	size_t i;
	int ok;

	ok = crl && last && next && number &&
	     X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	     X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) &&
	     X509_CRL_set1_lastUpdate(crl, last) && X509_CRL_set1_nextUpdate(crl, next) &&
	     ASN1_INTEGER_set_int64(number, json_integer_value(json_object_get(db, "crl_number"))) &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0);
	json_array_foreach(json_object_get(db, "revoked"), i, item) {
		rev = ok ? revoked_entry(item) : NULL;
		ok = rev && X509_CRL_add0_revoked(crl, rev);
	}
	if (ok) {
		X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
		aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
		ok = aki && X509_CRL_add_ext(crl, aki, -1) && X509_CRL_sort(crl) &&
		     X509_CRL_sign(crl, ca->key, EVP_sha256());
	}
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(number);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

int kt_ca_crl(const char *ca_dir, const struct kt_cred *ca, unsigned int days,
	      X509_CRL **out, struct kt_err *err)
{
	char *db_file = db_path(ca_dir, "revoked.json"), *crl_file = db_path(ca_dir, "crl.pem");
	X509_CRL *crl = NULL;
	BIO *bio = NULL;
	json_t *db = NULL;
	char *pem;
	long len;
	int ret = -1;

	if (X509_check_ca(ca->cert) != 1) {
		kt_fail(err, "request", "only a CA signs CRLs");
		goto out;
	}
	db = db_file && crl_file ? db_load(db_file, err) : NULL;
	if (!db)
		goto out;
	if (days)
		json_object_set_new(db, "crl_days", json_integer(days));
	days = (unsigned int)json_integer_value(json_object_get(db, "crl_days"));
	/* RFC 5280 5.2.3: CRL numbers increase with every CRL issued. */
	json_object_set_new(db, "crl_number",
			    json_integer(json_integer_value(json_object_get(db, "crl_number")) + 1));
	crl = build_crl(ca, db, days ? days : DEFAULT_CRL_DAYS);
	bio = BIO_new(BIO_s_mem());
	if (!crl || !bio || !PEM_write_bio_X509_CRL(bio, crl)) {
		kt_fail_ssl(err, "revocation", "cannot sign the CRL");
		goto out;
	}
	len = BIO_get_mem_data(bio, &pem);
	if (db_save(db_file, db, err) || kt_file_write(crl_file, pem, (size_t)len, 0644, err))
		goto out;
	if (out) {
		*out = crl;
		crl = NULL;
	}
	ret = 0;
out:
	BIO_free(bio);
	X509_CRL_free(crl);
	json_decref(db);
	free(db_file);
	free(crl_file);
	return ret;
}
