// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include "attest/report_chain.h"
#include "identity/pki.h"

static int verify_chain(X509 *leaf, STACK_OF(X509) *untrusted, const char *anchors,
			const char *crls, time_t at, struct kt_err *err)
{
	struct kt_pki_dir *a = NULL, *c = NULL;
	struct kt_pki_verify_opts opts = {
		.untrusted = untrusted,
		.at = at,
		.flags = crls ? 0 : KT_PKI_NO_CRL,
		.require_kind = -1,
	};
	int ret = -1;

	if (kt_pki_dir_open(anchors, &a, err) || (crls && kt_pki_dir_open(crls, &c, err)))
		goto out;
	opts.anchors = a;
	opts.crls = c;
	ret = kt_pki_verify(leaf, &opts, NULL, err);
out:
	kt_pki_dir_free(a);
	kt_pki_dir_free(c);
	return ret;
}

static int names_host(X509 *leaf, const char *host_id, struct kt_err *err)
{
	struct kt_cert_info info;
	char cn[256] = "";

	if (!host_id)
		return kt_fail(err, "chain", "report has no host_id");
	if (kt_pki_cert_info(leaf, &info, NULL) == 0 && info.host_uuid[0])
		return strcmp(info.host_uuid, host_id) ?
			kt_fail(err, "chain", "certificate is for host %s, the report for host '%s'",
				info.host_uuid, host_id) : 0;
	X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
	if (strcmp(cn, host_id))
		return kt_fail(err, "chain", "certificate is for '%s', the report for host '%s'",
			       cn, host_id);
	return 0;
}

EVP_PKEY *kt_report_chain_key(const struct kt_jws *jws, const char *anchors,
			      const char *crls, const char *host_id, time_t at,
			      struct kt_err *err)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	X509 *leaf;
	int ret;

	if (kt_jws_x5c(jws, &chain, err)) {
		if (err)
			err->check = "chain";
		return NULL;
	}
	leaf = sk_X509_value(chain, 0);
	ret = verify_chain(leaf, chain, anchors, crls, at, err);
	if (!ret && !names_host(leaf, host_id, err))
		key = X509_get_pubkey(leaf);
	sk_X509_pop_free(chain, X509_free);
	return key;
}
