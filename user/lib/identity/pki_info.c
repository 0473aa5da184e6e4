// SPDX-License-Identifier: GPL-2.0
/* Reading what other code matches on out of a certificate. */
#include <ctype.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "common/encoding.h"
#include "identity/pki.h"
#include "identity/pki_location.h"

const char *kt_cert_kind_name(enum kt_cert_kind kind)
{
	static const char *const names[] = {
		[KT_CERT_ROOT] = "root", [KT_CERT_CA] = "ca",
		[KT_CERT_HOST] = "host", [KT_CERT_USER] = "user",
	};

	return (unsigned int)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

static void name_line(const X509_NAME *name, char *out, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int len = 0;

	out[0] = '\0';
	if (bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
		len = BIO_read(bio, out, (int)size - 1);
	out[len > 0 ? len : 0] = '\0';
	BIO_free(bio);
}

static int time_of(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return -1;
	*out = timegm(&tm);
	return 0;
}

static void keyid_hex(const ASN1_OCTET_STRING *id, char *out)
{
	int len = id ? ASN1_STRING_length(id) : 0;

	out[0] = '\0';
	if (len > 0 && len <= KT_PKI_KEYID_HEX_MAX / 2)
		kt_hex_encode(ASN1_STRING_get0_data(id), (size_t)len, out);
}

/* The one "urn:uuid:" URI in subjectAltName; 0 if none, -1 if several or bad. */
static int host_uuid(X509 *cert, char *out, struct kt_err *err)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, found = 0;

	out[0] = '\0';
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const char *uri;
		int len;

		if (gn->type != GEN_URI)
			continue;
		uri = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (len < 9 || strncmp(uri, "urn:uuid:", 9))
			continue;
		if (found++ || len != 9 + KT_UUID_STR_LEN) {
			found = -1;
			break;
		}
		memcpy(out, uri + 9, KT_UUID_STR_LEN);
		out[KT_UUID_STR_LEN] = '\0';
		if (!kt_uuid_valid(out)) {
			found = -1;
			break;
		}
	}
	GENERAL_NAMES_free(names);
	if (found < 0) {
		out[0] = '\0';
		return kt_fail(err, "certificate", "subjectAltName must hold one urn:uuid URI");
	}
	return found;
}

int kt_pki_cert_info(X509 *cert, struct kt_cert_info *info, struct kt_err *err)
{
	BIGNUM *bn;
	char *hex;
	size_t i;

	memset(info, 0, sizeof(*info));
	name_line(X509_get_subject_name(cert), info->subject, sizeof(info->subject));
	name_line(X509_get_issuer_name(cert), info->issuer, sizeof(info->issuer));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	BN_free(bn);
	if (!hex)
		return kt_fail_ssl(err, "certificate", "bad serial number");
	for (i = 0; hex[i] && i < sizeof(info->serial) - 1; i++)
		info->serial[i] = (char)tolower((unsigned char)hex[i]);
	OPENSSL_free(hex);
	if (time_of(X509_get0_notBefore(cert), &info->not_before) ||
	    time_of(X509_get0_notAfter(cert), &info->not_after))
		return kt_fail(err, "certificate", "unreadable validity window");
	info->pathlen = (int)X509_get_pathlen(cert);
	keyid_hex(X509_get0_subject_key_id(cert), info->ski);
	keyid_hex(X509_get0_authority_key_id(cert), info->aki);
	if (host_uuid(cert, info->host_uuid, err) < 0 ||
	    kt_location_get(cert, info->region, info->site, sizeof(info->region), err) < 0)
		return -1;
	if (X509_check_ca(cert) == 1)
		info->kind = X509_check_issued(cert, cert) == X509_V_OK ? KT_CERT_ROOT : KT_CERT_CA;
	else
		info->kind = info->host_uuid[0] ? KT_CERT_HOST : KT_CERT_USER;
	return 0;
}
