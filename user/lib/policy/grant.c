// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "common/encoding.h"
#include "identity/pki.h"
#include "ledger/owner.h"
#include "policy/grant.h"

int kt_strlist_add(struct kt_strlist *l, const char *s)
{
	char **v;

	if (l->n >= KT_GRANT_MAX_ITEMS)
		return -1;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -1;
	l->v = v;
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -1;
	l->n++;
	return 0;
}

bool kt_strlist_has(const struct kt_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

void kt_strlist_free(struct kt_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int kt_cert_keyid(X509 *cert, char out[2 * KT_KEYID_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (!X509_pubkey_digest(cert, EVP_sha1(), md, &len) || len != KT_KEYID_LEN)
		return -1;
	kt_hex_encode(md, len, out);
	return 0;
}

int kt_cert_sha256(X509 *cert, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (!X509_digest(cert, EVP_sha256(), md, &len))
		return -1;
	kt_hex_encode(md, len, out);
	return 0;
}

int kt_cert_spki_sha256(X509 *cert, char out[65])
{
	return kt_pubkey_sha256(X509_get0_pubkey(cert), out);
}

int kt_pubkey_sha256(EVP_PKEY *key, char out[65])
{
	return kt_owner_key_id(key, out);
}

/* Claims <-> JSON ------------------------------------------------------- */

struct list_member {
	const char *object;	/* "hosts" or "delegates" */
	const char *name;
	size_t offset;		/* of the struct kt_strlist in struct kt_grant */
	bool (*valid)(const char *);
};

static bool valid_keyid(const char *s)
{
	uint8_t buf[KT_KEYID_LEN];

	return strlen(s) == 2 * KT_KEYID_LEN && !kt_hex_decode(s, buf, sizeof(buf)) &&
	       strspn(s, "0123456789abcdef") == strlen(s);
}

static bool valid_sha256(const char *s)
{
	uint8_t buf[32];

	return strlen(s) == 64 && !kt_hex_decode(s, buf, sizeof(buf)) &&
	       strspn(s, "0123456789abcdef") == strlen(s);
}

static bool valid_label(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= KT_GRANT_MAX_STRING &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == len;
}

static const struct list_member lists[] = {
	{ "hosts", "ca_keyids", offsetof(struct kt_grant, ca_keyids), valid_keyid },
	{ "hosts", "regions", offsetof(struct kt_grant, regions), valid_label },
	{ "hosts", "sites", offsetof(struct kt_grant, sites), valid_label },
	{ "hosts", "allow", offsetof(struct kt_grant, hosts_allow), kt_uuid_valid },
	{ "hosts", "deny", offsetof(struct kt_grant, hosts_deny), kt_uuid_valid },
	{ "delegates", "cert_sha256", offsetof(struct kt_grant, delegate_certs), valid_sha256 },
	{ "delegates", "spki_sha256", offsetof(struct kt_grant, delegate_spkis), valid_sha256 },
};

#define NLISTS (sizeof(lists) / sizeof(lists[0]))

static struct kt_strlist *list_of(struct kt_grant *g, const struct list_member *m)
{
	return (struct kt_strlist *)((char *)g + m->offset);
}

static json_t *strlist_json(const struct kt_strlist *l)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < l->n; i++) {
		if (json_array_append_new(arr, json_string(l->v[i]))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int check_claims(struct kt_grant *g, struct kt_err *err)
{
	char a[KT_TIME_ISO_LEN], b[KT_TIME_ISO_LEN];
	size_t i, j;

	for (i = 0; i < NLISTS; i++) {
		const struct kt_strlist *l = list_of(g, &lists[i]);

		for (j = 0; j < l->n; j++)
			if (!lists[i].valid(l->v[j]))
				return kt_fail(err, "structure", "%s.%s[%zu] \"%s\" is not valid",
					       lists[i].object, lists[i].name, j, l->v[j]);
	}
	if (!kt_uuid_valid(g->id))
		return kt_fail(err, "structure", "grant id \"%s\" is not a lowercase UUID", g->id);
	if (!kt_uuid_valid(g->vm))
		return kt_fail(err, "structure", "vm \"%s\" is not a lowercase UUID", g->vm);
	if (g->nbf >= g->exp)
		return kt_fail(err, "structure", "empty validity window (nbf %s >= exp %s)",
			       kt_time_iso(g->nbf, a), kt_time_iso(g->exp, b));
	if (g->ca_keyids.n == 0)
		return kt_fail(err, "structure", "grant allows no host CA (hosts.ca_keyids is empty)");
	if (g->delegate_certs.n + g->delegate_spkis.n == 0)
		return kt_fail(err, "structure", "grant names no delegate");
	return 0;
}

static json_t *claims_json(struct kt_grant *g)
{
	json_t *claims, *obj;
	size_t i;

	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:{}, s:{}}",
			   "jti", g->id, "vm", g->vm, "iss", g->issuer,
			   "iat", (json_int_t)g->iat, "nbf", (json_int_t)g->nbf,
			   "exp", (json_int_t)g->exp, "hosts", "delegates");
	for (i = 0; claims && i < NLISTS; i++) {
		const struct kt_strlist *l = list_of(g, &lists[i]);

		/* Empty optional lists are left out: absent means "no restriction". */
		if (!l->n)
			continue;
		obj = json_object_get(claims, lists[i].object);
		if (json_object_set_new(obj, lists[i].name, strlist_json(l))) {
			json_decref(claims);
			return NULL;
		}
	}
	return claims;
}

static int parse_list(struct kt_grant *g, const struct list_member *m, json_t *arr,
		      struct kt_err *err)
{
	struct kt_strlist *l = list_of(g, m);
	json_t *item;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) > KT_GRANT_MAX_ITEMS)
		return kt_fail(err, "structure", "%s.%s must be an array of at most %d strings",
			       m->object, m->name, KT_GRANT_MAX_ITEMS);
	json_array_foreach(arr, i, item) {
		const char *s = json_string_value(item);

		if (!s || !m->valid(s))
			return kt_fail(err, "structure", "%s.%s[%zu] is not valid", m->object, m->name, i);
		if (kt_strlist_add(l, s))
			return kt_fail(err, "structure", "out of memory");
	}
	return 0;
}

static int parse_object(struct kt_grant *g, json_t *claims, const char *name, struct kt_err *err)
{
	json_t *obj = json_object_get(claims, name), *value;
	const char *key;
	size_t i;

	if (!json_is_object(obj))
		return kt_fail(err, "structure", "claim \"%s\" must be an object", name);
	json_object_foreach(obj, key, value) {
		for (i = 0; i < NLISTS; i++)
			if (!strcmp(lists[i].object, name) && !strcmp(lists[i].name, key))
				break;
		if (i == NLISTS)
			return kt_fail(err, "structure",
				       "unknown member \"%s.%s\" (a restriction this version cannot enforce)",
				       name, key);
		if (parse_list(g, &lists[i], value, err))
			return -1;
	}
	return 0;
}

static int copy_uuid(char dst[KT_UUID_STR_LEN + 1], json_t *v, const char *name, struct kt_err *err)
{
	const char *s = json_string_value(v);

	if (!s || !kt_uuid_valid(s))
		return kt_fail(err, "structure", "claim \"%s\" must be a lowercase UUID", name);
	memcpy(dst, s, KT_UUID_STR_LEN + 1);
	return 0;
}

static int get_time(json_t *claims, const char *name, int64_t *out, struct kt_err *err)
{
	json_t *v = json_object_get(claims, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return kt_fail(err, "structure", "claim \"%s\" must be a non-negative integer", name);
	*out = json_integer_value(v);
	return 0;
}

static int parse_claims(struct kt_grant *g, json_t *claims, struct kt_err *err)
{
	static const char *const known[] = {
		"jti", "vm", "iss", "iat", "nbf", "exp", "hosts", "delegates",
	};
	const char *key, *iss;
	json_t *value;
	size_t i;

	json_object_foreach(claims, key, value) {
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(key, known[i]))
				break;
		if (i == sizeof(known) / sizeof(known[0]))
			return kt_fail(err, "structure",
				       "unknown claim \"%s\" (a restriction this version cannot enforce)", key);
	}
	if (copy_uuid(g->id, json_object_get(claims, "jti"), "jti", err) ||
	    copy_uuid(g->vm, json_object_get(claims, "vm"), "vm", err) ||
	    get_time(claims, "iat", &g->iat, err) || get_time(claims, "nbf", &g->nbf, err) ||
	    get_time(claims, "exp", &g->exp, err))
		return -1;
	iss = json_string_value(json_object_get(claims, "iss"));
	if (!iss || !*iss || strlen(iss) > 1024)
		return kt_fail(err, "structure", "claim \"iss\" must be a non-empty string");
	g->issuer = strdup(iss);
	if (!g->issuer)
		return kt_fail(err, "structure", "out of memory");
	if (parse_object(g, claims, "hosts", err) || parse_object(g, claims, "delegates", err))
		return -1;
	return check_claims(g, err);
}

/* Signing and verification ---------------------------------------------- */

/* A grant is signed by a person's or a service's key: never a CA's or a host's. */
static int check_signer(X509 *leaf, struct kt_cert_info *info, struct kt_err *err)
{
	if (kt_pki_cert_info(leaf, info, err))
		return -1;
	if (info->kind != KT_CERT_USER)
		return kt_fail(err, "signer", "grant signer \"%s\" is a %s certificate, not an owner's",
			       info->subject, kt_cert_kind_name(info->kind));
	return 0;
}

int kt_grant_issue(struct kt_grant *g, EVP_PKEY *key, STACK_OF(X509) *chain,
		   char **out, struct kt_err *err)
{
	X509 *leaf = sk_X509_value(chain, 0);
	json_t *header = NULL, *claims = NULL;
	struct kt_cert_info info;
	int ret = -1;

	if (!leaf)
		return kt_fail(err, "signer", "no signer certificate");
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		return kt_fail(err, "signer", "the key does not match the signer certificate");
	}
	if (check_signer(leaf, &info, err))
		return -1;
	free(g->issuer);
	g->issuer = strdup(info.subject);
	if (!g->issuer)
		return kt_fail(err, "structure", "out of memory");
	if (check_claims(g, err))
		return -1;
	header = json_pack("{s:s, s:o}", "typ", KT_GRANT_TYP, "x5c", kt_jws_x5c_from_chain(chain));
	claims = claims_json(g);
	if (!header || !claims) {
		kt_fail(err, "structure", "out of memory");
		goto out;
	}
	ret = kt_jws_sign(key, header, claims, out, err);
out:
	json_decref(header);
	json_decref(claims);
	return ret;
}

int kt_grant_parse(const char *compact, struct kt_grant *g, struct kt_err *err)
{
	const char *typ;

	memset(g, 0, sizeof(*g));
	if (kt_jws_parse(compact, &g->jws, err))
		return -1;
	typ = json_string_value(json_object_get(g->jws.header, "typ"));
	/* Explicit typing (RFC 8725 3.11): a guest token is never taken for a grant. */
	if (!typ || strcmp(typ, KT_GRANT_TYP)) {
		kt_fail(err, "structure", "header typ is not \"%s\"", KT_GRANT_TYP);
		goto fail;
	}
	if (kt_jws_x5c(&g->jws, &g->chain, err) || parse_claims(g, g->jws.payload, err))
		goto fail;
	return 0;
fail:
	kt_grant_free(g);
	return -1;
}

/* The signer's certificate, the rest of x5c as untrusted intermediates. */
static int verify_path(const struct kt_grant *g, struct kt_pki_dir *anchors,
		       struct kt_pki_dir *crls, time_t now, unsigned int flags,
		       struct kt_err *err)
{
	struct kt_pki_verify_opts opts = {
		.anchors = anchors,
		.crls = crls ? crls : anchors,
		.at = now,
		.flags = flags,
		.require_kind = KT_CERT_USER,
	};
	int ret;

	opts.untrusted = sk_X509_dup(g->chain);
	if (!opts.untrusted)
		return kt_fail(err, "chain", "out of memory");
	(void)sk_X509_shift(opts.untrusted);
	ret = kt_pki_verify(sk_X509_value(g->chain, 0), &opts, NULL, err);
	sk_X509_free(opts.untrusted);
	return ret;
}

int kt_grant_verify(const struct kt_grant *g, const struct kt_grant_trust *trust, time_t now,
		    struct kt_err *err)
{
	X509 *leaf = sk_X509_value(g->chain, 0);
	struct kt_cert_info info;
	struct kt_err why = { 0 };

	if (!leaf || !trust->owner_anchors)
		return kt_fail(err, "chain", "no signer certificate or no owner trust anchor");
	if (check_signer(leaf, &info, err))
		return -1;
	if (verify_path(g, trust->owner_anchors, trust->owner_crls, now, 0, &why))
		return kt_fail(err, why.check, "grant signer \"%s\" refused by the owner trust anchors: %s",
			       info.subject, why.msg);
	/*
	 * Owner and host trust must stay apart: a signer the host CAs vouch
	 * for is refused even if someone also made it an owner anchor.
	 */
	if (trust->host_anchors &&
	    !verify_path(g, trust->host_anchors, NULL, now, KT_PKI_NO_CRL, &why))
		return kt_fail(err, "anchors", "grant signer \"%s\" is certified by a host CA", info.subject);
	if (strcmp(info.subject, g->issuer))
		return kt_fail(err, "signer", "iss \"%s\" is not the signer certificate's subject \"%s\"",
			       g->issuer, info.subject);
	return kt_jws_verify(&g->jws, X509_get0_pubkey(leaf), err);
}

int kt_grant_check_window(const struct kt_grant *g, time_t now, struct kt_err *err)
{
	char t[KT_TIME_ISO_LEN];

	if ((int64_t)now < g->nbf)
		return kt_fail(err, "window", "grant is not valid before %s, %lld s from now",
			       kt_time_iso(g->nbf, t), (long long)(g->nbf - (int64_t)now));
	if ((int64_t)now >= g->exp)
		return kt_fail(err, "window", "grant expired at %s, %lld s ago",
			       kt_time_iso(g->exp, t), (long long)((int64_t)now - g->exp));
	return 0;
}

void kt_grant_free(struct kt_grant *g)
{
	size_t i;

	for (i = 0; i < NLISTS; i++)
		kt_strlist_free(list_of(g, &lists[i]));
	free(g->issuer);
	sk_X509_pop_free(g->chain, X509_free);
	kt_jws_free(&g->jws);
	memset(g, 0, sizeof(*g));
}
