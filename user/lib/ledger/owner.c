// SPDX-License-Identifier: GPL-2.0
/* VM owners from register entries: the rules are in owner.h. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/encoding.h"
#include "identity/pki.h"
#include "ledger/owner.h"

int kt_owner_key_id(EVP_PKEY *key, char out[KT_OWNER_KEY_HEX + 1])
{
	unsigned char *der = NULL, md[KT_HASH_LEN];
	int len = key ? i2d_PUBKEY(key, &der) : -1;

	if (len <= 0)
		return -1;
	len = EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_free(der);
	if (!len)
		return -1;
	kt_hex_encode(md, sizeof(md), out);
	return 0;
}

int kt_owner_feed(struct kt_owner *o, const char *vm, const struct kt_ledger_entry *e)
{
	const unsigned char *p = e->cert;
	char key[KT_OWNER_KEY_HEX + 1];
	struct kt_cert_info info;
	X509 *cert;
	int ret;

	if (e->kind != KT_LEDGER_REGISTER || strcmp(e->vm_id, vm))
		return 0;
	cert = d2i_X509(NULL, &p, (long)e->cert_len);
	ret = cert ? kt_owner_key_id(X509_get0_pubkey(cert), key) : -1;
	if (!ret && !o->registered)
		ret = kt_pki_cert_info(cert, &info, NULL);
	X509_free(cert);
	if (ret)
		return -1;
	if (o->registered) {
		o->ignored += strcmp(o->key, key) != 0;
		return 0;
	}
	o->registered = true;
	o->index = e->index;
	memcpy(o->key, key, sizeof(key));
	snprintf(o->subject, sizeof(o->subject), "%s", info.subject);
	return 0;
}

struct owner_walk {
	struct kt_owner *owner;
	const char *vm;
};

static int visit(const struct kt_ledger_entry *e, void *arg)
{
	struct owner_walk *w = arg;

	return kt_owner_feed(w->owner, w->vm, e);
}

int kt_owner_read(struct kt_ledger *log, const char *vm, struct kt_owner *o, uint64_t *size,
		  struct kt_err *err)
{
	struct owner_walk w = { .owner = o, .vm = vm };

	memset(o, 0, sizeof(*o));
	return kt_ledger_walk(log, visit, &w, size, NULL, NULL, err);
}
