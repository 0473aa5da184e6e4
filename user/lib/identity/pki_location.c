// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/x509v3.h>

#include "identity/pki.h"
#include "identity/pki_location.h"

typedef struct {
	ASN1_UTF8STRING *region;
	ASN1_UTF8STRING *site;
} KT_LOCATION;

DECLARE_ASN1_FUNCTIONS(KT_LOCATION)

ASN1_SEQUENCE(KT_LOCATION) = {
	ASN1_SIMPLE(KT_LOCATION, region, ASN1_UTF8STRING),
	ASN1_SIMPLE(KT_LOCATION, site, ASN1_UTF8STRING),
} ASN1_SEQUENCE_END(KT_LOCATION)

IMPLEMENT_ASN1_FUNCTIONS(KT_LOCATION)

bool kt_location_attr_valid(const char *value)
{
	size_t i, len = value ? strlen(value) : 0;

	if (len == 0 || len > KT_PKI_ATTR_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)value[i]) && !strchr("._-", value[i]))
			return false;
	}
	return true;
}

int kt_location_add(X509 *cert, const char *region, const char *site, struct kt_err *err)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(KT_PKI_OID_LOCATION, 1);
	KT_LOCATION *loc = KT_LOCATION_new();
	ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	unsigned char *der = NULL;
	int len, ret = -1;

	if (!oid || !loc || !value ||
	    !ASN1_STRING_set(loc->region, region, -1) || !ASN1_STRING_set(loc->site, site, -1))
		goto out;
	len = i2d_KT_LOCATION(loc, &der);
	if (len <= 0 || !ASN1_OCTET_STRING_set(value, der, len))
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value);
	if (ext && X509_add_ext(cert, ext, -1))
		ret = 0;
out:
	if (ret)
		kt_fail_ssl(err, "request", "cannot add the location extension");
	X509_EXTENSION_free(ext);
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(value);
	KT_LOCATION_free(loc);
	ASN1_OBJECT_free(oid);
	return ret;
}

static int copy_attr(const ASN1_UTF8STRING *s, char *out, size_t size)
{
	int len = ASN1_STRING_length(s);

	if (len <= 0 || (size_t)len >= size)
		return -1;
	memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
	out[len] = '\0';
	return kt_location_attr_valid(out) ? 0 : -1;
}

int kt_location_get(X509 *cert, char *region, char *site, size_t size, struct kt_err *err)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(KT_PKI_OID_LOCATION, 1);
	const unsigned char *p, *end;
	ASN1_OCTET_STRING *value;
	KT_LOCATION *loc = NULL;
	int idx, ret = -1;

	if (!oid)
		return kt_fail_ssl(err, "certificate", "out of memory");
	idx = X509_get_ext_by_OBJ(cert, oid, -1);
	if (idx < 0) {
		ret = 0;
		goto out;
	}
	if (X509_get_ext_by_OBJ(cert, oid, idx) >= 0) {
		kt_fail(err, "certificate", "the location extension appears twice");
		goto out;
	}
	value = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
	p = ASN1_STRING_get0_data(value);
	end = p + ASN1_STRING_length(value);
	loc = d2i_KT_LOCATION(NULL, &p, end - p);
	if (!loc || p != end || copy_attr(loc->region, region, size) ||
	    copy_attr(loc->site, site, size)) {
		kt_fail(err, "certificate", "the location extension is malformed");
		goto out;
	}
	ret = 1;
out:
	KT_LOCATION_free(loc);
	ASN1_OBJECT_free(oid);
	return ret;
}
