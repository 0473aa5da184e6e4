// SPDX-License-Identifier: GPL-2.0
/* Token and certificate revocations in the ledger (revocation.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "common/encoding.h"
#include "identity/pki.h"
#include "ledger/revocation.h"

int kt_ledger_token_revoke_entry(const char *jti, struct kt_ledger_entry *e, struct kt_err *err)
{
	size_t n = strlen(jti);

	if (!n || n != strspn(jti, KT_LEDGER_JTI_CHARS) ||
	    n + strlen(KT_LEDGER_TOKEN_PREFIX) > KT_LEDGER_VM_MAX)
		return kt_fail(err, "request", "jti '%s' cannot be revoked through the ledger: 1 to %zu "
			       "of [A-Za-z0-9._-]", jti,
			       KT_LEDGER_VM_MAX - strlen(KT_LEDGER_TOKEN_PREFIX));
	memset(e, 0, sizeof(*e));
	e->kind = KT_LEDGER_REVOKE;
	snprintf(e->vm_id, sizeof(e->vm_id), "%s%s", KT_LEDGER_TOKEN_PREFIX, jti);
	return 0;
}

int kt_ledger_token_key(const char *jti, const char *issuer_host, struct kt_ledger_token_key *k)
{
	struct kt_ledger_entry e;

	if (kt_ledger_token_revoke_entry(jti, &e, NULL) || kt_uuid_parse(issuer_host, k->host))
		return -1;
	memcpy(k->id, e.vm_id, sizeof(k->id));
	return 0;
}

bool kt_ledger_revokes_token(const struct kt_ledger_entry *e, const struct kt_ledger_token_key *k)
{
	return e->kind == KT_LEDGER_REVOKE && !strcmp(e->vm_id, k->id) &&
	       !memcmp(e->signer_id, k->host, KT_UUID_LEN);
}

bool kt_ledger_is_cert_revocation(const struct kt_ledger_entry *e)
{
	return e->kind == KT_LEDGER_REVOKE &&
	       !strncmp(e->vm_id, KT_LEDGER_CERT_PREFIX, strlen(KT_LEDGER_CERT_PREFIX));
}

static size_t hex_run(const char *s)
{
	return strspn(s, "0123456789abcdef");
}

bool kt_ledger_cert_revocation_id_valid(const char *vm_id)
{
	const char *p = vm_id + strlen(KT_LEDGER_CERT_PREFIX);
	size_t n;

	if (strncmp(vm_id, KT_LEDGER_CERT_PREFIX, strlen(KT_LEDGER_CERT_PREFIX)) ||
	    hex_run(p) != KT_LEDGER_ISSUER_HEX || p[KT_LEDGER_ISSUER_HEX] != ':')
		return false;
	p += KT_LEDGER_ISSUER_HEX + 1;
	n = hex_run(p);
	return n && n <= KT_LEDGER_SERIAL_HEX && !p[n];
}

/* "cert:<issuer>:<serial>" from the issuer name hash and the serial's hex. */
static void cert_id(const kt_hash issuer, const char *serial, char id[KT_LEDGER_VM_MAX + 1])
{
	char hex[2 * KT_HASH_LEN + 1];

	kt_hex_encode(issuer, KT_HASH_LEN, hex);
	snprintf(id, KT_LEDGER_VM_MAX + 1, "%s%.*s:%.*s", KT_LEDGER_CERT_PREFIX,
		 KT_LEDGER_ISSUER_HEX, hex, KT_LEDGER_SERIAL_HEX, serial);
}

int kt_ledger_cert_revocation_authorized(const struct kt_ledger_entry *e,
					 const struct kt_ledger_writer *w, struct kt_err *err)
{
	char id[KT_LEDGER_VM_MAX + 1];
	const char *serial = strrchr(e->vm_id, ':');

	if (!kt_ledger_cert_revocation_id_valid(e->vm_id))
		return kt_fail(err, "format", "certificate revocation '%s' is not "
			       "cert:<18 hex digits>:<serial in hex>", e->vm_id);
	cert_id(e->report, serial + 1, id);
	if (strcmp(id, e->vm_id))
		return kt_fail(err, "format", "certificate revocation '%s' does not repeat its "
			       "issuer's name hash", e->vm_id);
	if (w->role != KT_LEDGER_AUTHORITY ||
	    CRYPTO_memcmp(w->subject_hash, e->report, KT_HASH_LEN))
		return kt_fail(err, "authorization", "only the issuing CA may revoke a certificate: "
			       "the signer did not issue %s", e->vm_id);
	return 0;
}

int kt_ledger_cert_id(X509 *cert, char id[KT_LEDGER_VM_MAX + 1], kt_hash issuer,
		      struct kt_err *err)
{
	struct kt_cert_info info;
	unsigned char *der = NULL;
	kt_hash h;
	int len;

	if (kt_pki_cert_info(cert, &info, err))
		return -1;
	/* Checked before it is formatted: a longer one would be cut to another's. */
	if (!info.serial[0] || strlen(info.serial) > KT_LEDGER_SERIAL_HEX ||
	    hex_run(info.serial) != strlen(info.serial))
		return kt_fail(err, "revocation", "\"%s\" (serial %s) cannot be named in the ledger: "
			       "its serial is not 1 to %d hex digits", info.subject, info.serial,
			       KT_LEDGER_SERIAL_HEX);
	len = i2d_X509_NAME(X509_get_issuer_name(cert), &der);
	if (len <= 0)
		return kt_fail_ssl(err, "revocation", "cannot encode the issuer of \"%s\"",
				   info.subject);
	kt_sha256(der, (size_t)len, h);
	OPENSSL_free(der);
	cert_id(h, info.serial, id);
	if (issuer)
		memcpy(issuer, h, KT_HASH_LEN);
	return 0;
}

void kt_ledger_cert_key(const char *id, uint8_t key[KT_UUID_LEN])
{
	kt_hash h;

	kt_sha256(id, strlen(id), h);
	memcpy(key, h, KT_UUID_LEN);
}

int kt_ledger_cert_revoke_entry(X509 *cert, const char *reason, struct kt_ledger_entry *e,
				struct kt_err *err)
{
	memset(e, 0, sizeof(*e));
	if (reason && strlen(reason) > KT_LEDGER_DETAIL_MAX)
		return kt_fail(err, "request", "reason longer than %d bytes", KT_LEDGER_DETAIL_MAX);
	e->kind = KT_LEDGER_REVOKE;
	if (reason)
		snprintf(e->detail, sizeof(e->detail), "%s", reason);
	return kt_ledger_cert_id(cert, e->vm_id, e->report, err);
}

struct cert_search {
	const struct kt_ledger_token_key *token;
	char (*ids)[KT_LEDGER_VM_MAX + 1];
	int n, which;		/* which: -2 none yet, -1 the token, else a certificate */
	uint64_t index;
};

static int look_any(const struct kt_ledger_entry *e, void *arg)
{
	struct cert_search *s = arg;
	int i;

	if (s->which > -2 || e->kind != KT_LEDGER_REVOKE)
		return 0;
	if (s->token && kt_ledger_revokes_token(e, s->token)) {
		s->which = -1;
		s->index = e->index;
		return 0;
	}
	for (i = 0; i < s->n; i++)
		if (s->ids[i][0] && !strcmp(e->vm_id, s->ids[i])) {
			s->which = i;
			s->index = e->index;
			break;
		}
	return 0;
}

int kt_ledger_revoked(struct kt_ledger *log, const struct kt_ledger_token_key *token,
		      STACK_OF(X509) *certs, int *which, uint64_t *index, struct kt_err *err)
{
	struct cert_search s = { .token = token, .n = certs ? sk_X509_num(certs) : 0,
				 .which = -2 };
	int i, ret = -1;

	if (certs && s.n <= 0)
		return kt_fail(err, "revocation", "no verified certificate chain to look up");
	s.ids = calloc(s.n ? (size_t)s.n : 1, sizeof(*s.ids));
	if (!s.ids)
		return kt_fail(err, "revocation", "out of memory");
	for (i = 0; i < s.n; i++) {
		X509 *c = sk_X509_value(certs, i);

		/* A self-signed anchor has no issuer above it to revoke it. */
		if (X509_check_issued(c, c) == X509_V_OK)
			continue;
		if (kt_ledger_cert_id(c, s.ids[i], NULL, err))
			goto out;
	}
	if (kt_ledger_for_each(log, look_any, &s, err))
		goto out;
	ret = s.which > -2;
	if (ret && which)
		*which = s.which;
	if (ret && index)
		*index = s.index;
out:
	free(s.ids);
	return ret;
}

int kt_ledger_certs_revoked(struct kt_ledger *log, STACK_OF(X509) *certs, int *which,
			    uint64_t *index, struct kt_err *err)
{
	if (!certs)
		return kt_fail(err, "revocation", "no verified certificate chain to look up");
	return kt_ledger_revoked(log, NULL, certs, which, index, err);
}
