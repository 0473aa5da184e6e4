// SPDX-License-Identifier: GPL-2.0
/*
 * Migration grants and the migration decision (grant.h, migrate_policy.h).
 * Every scenario runs the whole kt_migrate_check() against real
 * certificates, CRLs and a SQLite ledger, and asserts the decision, the
 * first failing rule and the check it names. Unless a scenario says
 * otherwise, alice has registered the VM in the ledger: she owns it.
 *
 *   owner root ── alice (owner: signs grants), bob (admin, delegate), mallory,
 *                 bob-old (expired)
 *   host root ─┬─ CA eu (allowed) ─┬─ host a   eu-west/fra1 (destination)
 *              │                   ├─ host old eu-west/fra1 (expired)
 *              │                   └─ CA eu-sub ── host a1 eu-west/fra2
 *              └─ CA us (sibling) ── host b   us-east/nyc1 (the VM runs here,
 *                                             and writes the ledger)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "common/encoding.h"
#include "common/outfile.h"
#include "common/secfile.h"
#include "identity/jws.h"
#include "identity/pki.h"
#include "ledger/ledger.h"
#include "ledger/ledger_auth.h"
#include "policy/grant.h"
#include "policy/grant_ledger.h"
#include "policy/migrate_order.h"
#include "policy/migrate_policy.h"

#define HOUR 3600
#define DAY 86400
#define VM "7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b"
#define OTHER_VM "8e5a3c2b-4d6f-4a71-9bac-1d2e3f4a5b6c"
#define GRANT_ID "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define HOST_A "0b7e6a3c-5f1d-4c2e-9a8b-1d2c3e4f5a6b"
#define HOST_A1 "1c8f7b4d-6a2e-4d3f-8b9c-2e3d4f5a6b7c"
#define HOST_B "2d9a8c5e-7b3f-4e4a-9cad-3f4e5a6b7c8d"
#define HOST_OLD "3eab9d6f-8c4a-4f5b-8dbe-4a5f6b7c8d9e"

struct pki {
	char dir[64];
	time_t now;
	char *owner_anchors, *host_anchors, *ledger_ca, *ledger_db;
	struct kt_pki_dir *oa, *ha;
	struct kt_ledger_auth *auth;
	struct kt_ledger *log;
	struct kt_ledger_signer writer;	/* host b */
};

static char *cred_path(const struct pki *p, const char *name, const char *file)
{
	char *path;

	if (asprintf(&path, "%s/%s%s%s", p->dir, name, file ? "/" : "", file ? file : "") < 0)
		abort();
	return path;
}

static void copy_into(const struct pki *p, const char *cred, const char *file, const char *to_dir,
		      const char *to_name)
{
	char *from = cred_path(p, cred, file), *to;
	uint8_t *buf;
	size_t len;

	if (asprintf(&to, "%s/%s", to_dir, to_name) < 0 ||
	    kt_file_read(from, 1 << 20, 0, &buf, &len, NULL) ||
	    kt_file_write(to, buf, len, 0644, NULL))
		abort();
	free(buf);
	free(from);
	free(to);
}

struct cert_spec {
	const char *name, *issuer;	/* credential directories under p->dir */
	enum kt_cert_kind kind;
	const char *uuid, *region, *site;
	long not_after;			/* days from now; negative: expired */
};

static int make_cert(const struct pki *p, const struct cert_spec *c)
{
	struct kt_cert_req req = {
		.kind = c->kind, .cn = c->name, .pathlen = -1,
		.not_before = p->now - 10 * DAY, .not_after = p->now + c->not_after * DAY,
		.host_uuid = c->uuid, .region = c->region, .site = c->site,
	};
	char *dir = cred_path(p, c->name, NULL), *ca_dir;
	struct kt_err err = { 0 };
	struct kt_cred ca, out;
	EVP_PKEY *key;
	int ret = -1;

	if (!c->issuer) {
		ret = kt_ca_init(dir, &req, &err);
		goto out;
	}
	ca_dir = cred_path(p, c->issuer, NULL);
	key = kt_pki_new_key(&err);
	if (key && !kt_cred_load(ca_dir, &ca, &err)) {
		if (!kt_ca_issue(&ca, &req, key, &out, &err)) {
			out.key = key;
			key = NULL;
			ret = kt_cred_save(dir, &out, &err);
			kt_cred_free(&out);
		}
		kt_cred_free(&ca);
	}
	EVP_PKEY_free(key);
	free(ca_dir);
out:
	if (ret)
		fprintf(stderr, "# cannot make %s: %s: %s\n", c->name, err.check, err.msg);
	free(dir);
	return ret;
}

/* Writes a fresh CRL of CA `name` into the directory that holds its anchors. */
static int publish_crl(const struct pki *p, const char *name, const char *to_dir)
{
	char *dir = cred_path(p, name, NULL), crl[64];
	struct kt_err err = { 0 };
	struct kt_cred ca;
	int ret;

	ret = kt_cred_load(dir, &ca, &err) || kt_ca_crl(dir, &ca, 7, NULL, &err);
	kt_cred_free(&ca);
	free(dir);
	if (ret)
		return -1;
	snprintf(crl, sizeof(crl), "%s.crl", name);
	copy_into(p, name, "crl.pem", to_dir, crl);
	return 0;
}

static const struct cert_spec tree[] = {
	{ "owner-root", NULL, KT_CERT_ROOT, .not_after = 3650 },
	{ "alice", "owner-root", KT_CERT_USER, .not_after = 365 },
	{ "bob", "owner-root", KT_CERT_USER, .not_after = 365 },
	{ "mallory", "owner-root", KT_CERT_USER, .not_after = 365 },
	{ "bob-old", "owner-root", KT_CERT_USER, .not_after = -1 },
	{ "host-root", NULL, KT_CERT_ROOT, .not_after = 3650 },
	{ "eu", "host-root", KT_CERT_CA, .not_after = 365 },
	{ "eu-sub", "eu", KT_CERT_CA, .not_after = 365 },
	{ "us", "host-root", KT_CERT_CA, .not_after = 365 },
	{ "host-a", "eu", KT_CERT_HOST, HOST_A, "eu-west", "fra1", 30 },
	{ "host-old", "eu", KT_CERT_HOST, HOST_OLD, "eu-west", "fra1", -1 },
	{ "host-a1", "eu-sub", KT_CERT_HOST, HOST_A1, "eu-west", "fra2", 30 },
	{ "host-b", "us", KT_CERT_HOST, HOST_B, "us-east", "nyc1", 30 },
};

static const char *const host_cas[] = { "host-root", "eu", "eu-sub", "us" };

static void pki_teardown(struct pki *p);

static int pki_build(struct pki *p)
{
	char *key, *cert, name[64];
	struct kt_err err = { 0 };
	size_t i;
	int ret;

	p->now = time(NULL);
	strcpy(p->dir, "/tmp/kt-grant-XXXXXX");
	if (!mkdtemp(p->dir))
		return -1;
	p->owner_anchors = cred_path(p, "owner-anchors", NULL);
	p->host_anchors = cred_path(p, "host-anchors", NULL);
	p->ledger_ca = cred_path(p, "ledger-ca", NULL);
	if (asprintf(&p->ledger_db, "sqlite:%s/ledger.db", p->dir) < 0)
		return -1;
	if (mkdir(p->owner_anchors, 0755) || mkdir(p->host_anchors, 0755) ||
	    mkdir(p->ledger_ca, 0755))
		return -1;
	for (i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		if (make_cert(p, &tree[i]))
			return -1;
	copy_into(p, "owner-root", "cert.pem", p->owner_anchors, "owner-root.pem");
	if (publish_crl(p, "owner-root", p->owner_anchors))
		return -1;
	copy_into(p, "host-root", "cert.pem", p->host_anchors, "host-root.pem");
	for (i = 0; i < sizeof(host_cas) / sizeof(host_cas[0]); i++) {
		if (publish_crl(p, host_cas[i], p->host_anchors))
			return -1;
		/* The ledger's writers are the hosts: it trusts the host CAs. */
		snprintf(name, sizeof(name), "%s.pem", host_cas[i]);
		copy_into(p, host_cas[i], "cert.pem", p->ledger_ca, name);
	}
	key = cred_path(p, "host-b", "key.pem");
	cert = cred_path(p, "host-b", "cert.pem");
	ret = kt_pki_dir_open(p->owner_anchors, &p->oa, &err) ||
	      kt_pki_dir_open(p->host_anchors, &p->ha, &err) ||
	      kt_ledger_auth_load(p->ledger_ca, p->owner_anchors, &p->auth, &err) ||
	      kt_ledger_open(p->ledger_db, p->auth, KT_LEDGER_CREATE, &p->log, &err) ||
	      kt_ledger_signer_load(key, cert, &p->writer, &err);
	free(key);
	free(cert);
	if (ret)
		fprintf(stderr, "# setup: %s: %s\n", err.check, err.msg);
	return ret ? -1 : 0;
}

/* The harness skips the teardown of a failed setup: clean up here. */
static int pki_setup(struct pki *p)
{
	memset(p, 0, sizeof(*p));
	if (!pki_build(p))
		return 0;
	pki_teardown(p);
	return -1;
}

static void pki_teardown(struct pki *p)
{
	char cmd[128];

	kt_ledger_close(p->log);
	kt_ledger_auth_free(p->auth);
	kt_ledger_signer_free(&p->writer);
	kt_pki_dir_free(p->oa);
	kt_pki_dir_free(p->ha);
	snprintf(cmd, sizeof(cmd), "%s %s", getenv("KT_KEEP") ? "true" : "rm -rf", p->dir);
	if (p->dir[0] && system(cmd))
		fprintf(stderr, "# cannot remove %s\n", p->dir);
	free(p->owner_anchors);
	free(p->host_anchors);
	free(p->ledger_ca);
	free(p->ledger_db);
}

static int append(struct pki *p, enum kt_ledger_kind kind, uint8_t result, const char *vm,
		  const char *host, time_t when)
{
	struct kt_ledger_entry e = { .kind = kind, .result = result, .time = (uint64_t)when };
	struct kt_err err = { 0 };
	kt_hash leaf;

	if (vm)
		snprintf(e.vm_id, sizeof(e.vm_id), "%s", vm);
	if (host && kt_uuid_parse(host, e.host_id))
		return -1;
	if (kt_ledger_append(p->log, &p->writer, &e, leaf, &err)) {
		fprintf(stderr, "# append: %s: %s\n", err.check, err.msg);
		return -1;
	}
	return 0;
}

/* The owner `name` (a credential directory) registers vm in the ledger. */
static int register_vm(struct pki *p, const char *name, const char *vm)
{
	struct kt_ledger_entry e = { .kind = KT_LEDGER_REGISTER };
	char *key = cred_path(p, name, "key.pem"), *cert = cred_path(p, name, "cert.pem");
	struct kt_ledger_signer owner;
	struct kt_err err = { 0 };
	kt_hash leaf;
	int ret;

	snprintf(e.vm_id, sizeof(e.vm_id), "%s", vm);
	ret = kt_ledger_signer_load(key, cert, &owner, &err) ||
	      kt_ledger_append(p->log, &owner, &e, leaf, &err);
	if (ret)
		fprintf(stderr, "# register: %s: %s\n", err.check, err.msg);
	kt_ledger_signer_free(&owner);
	free(key);
	free(cert);
	return ret ? -1 : 0;
}

/*
 * Attestations of VM on host b that leave exactly `score` at p->now by the
 * rules of score.h: fails (-20) to get at or below it, passes (+5) to get
 * at or just above it, then whole hours of decay for the rest.
 */
static int set_score(struct pki *p, int score)
{
	int fails = (100 - score + 19) / 20, value = 100 - 20 * fails, passes, hours, n, i;
	time_t last;

	passes = (score - value + 4) / 5;
	if (!fails && !passes)
		passes = 1;	/* a VM needs an entry to have a score; 100 stays 100 */
	value = value + 5 * passes > 100 ? 100 : value + 5 * passes;
	hours = value - score;
	n = fails + passes;
	last = p->now - (time_t)hours * HOUR;
	/* Failures 25 h apart: three within 24 h would flag host b compromised. */
	for (i = 0; i < n; i++)
		if (append(p, KT_LEDGER_ATTEST, i < fails ? KT_LEDGER_FAIL : KT_LEDGER_PASS, VM,
			   HOST_B, last - (n - 1 - i) - (i < fails ? (fails - i) * 25 * HOUR : 0)))
			return -1;
	return 0;
}

static X509 *load_cert(const struct pki *p, const char *name)
{
	char *path = cred_path(p, name, "cert.pem");
	X509 *cert = kt_pki_load_cert(path, NULL);

	free(path);
	return cert;
}

static STACK_OF(X509) *load_chain(const struct pki *p, const char *name)
{
	char *path = cred_path(p, name, "chain.pem");
	STACK_OF(X509) *chain = kt_pki_load_certs(path, NULL);

	free(path);
	return chain;
}

/*
 * One migration attempt. Fields left zero take the passing default, so a
 * scenario states only what it changes.
 */
struct scenario {
	/* the grant */
	const char *vm, *signer, *allowed_ca, *delegate, *delegate_key;
	const char *regions[3], *sites[3], *allow[3], *deny[3];
	long nbf, exp;			/* seconds from now: default -1 h, +1 day */
	const char *resign_with;	/* a CA whose key re-signs the grant */
	bool resign_keep_x5c;		/* ... leaving the owner's x5c in place */
	bool tamper;			/* exp edited after signing */
	/* the ledger and CRLs */
	const char *owner;		/* who registered the VM: NULL alice, "-" nobody */
	int score;			/* 0: 100 */
	bool last_fail;			/* then a failed attestation, now */
	bool revoke_grant, revoke_host_ledger, revoke_host_crl, compromise_host;
	bool no_ledger;
	/* the request */
	const char *dest, *admin;
	/* a signed order instead of a bare administrator certificate */
	const char *order_key, *order_cert;	/* whose key signs, whose cert is in x5c */
	const char *order_host;			/* default: the destination's UUID */
	long order_age;				/* seconds since it was signed */
};

static void add_all(struct kt_strlist *l, const char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && v[i]; i++)
		if (kt_strlist_add(l, v[i]))
			abort();
}

#define ADD_ALL(l, v) add_all(l, v, sizeof(v) / sizeof(v[0]))

/* Re-signs the claims of grant with another key, as a forger would. */
static char *resign(const struct pki *p, const char *grant, const char *ca_name, bool keep_x5c)
{
	char *dir = cred_path(p, ca_name, NULL), *out = NULL;
	struct kt_cred ca;
	struct kt_grant g;
	json_t *header;

	if (kt_cred_load(dir, &ca, NULL) || kt_grant_parse(grant, &g, NULL))
		abort();
	header = json_pack("{s:s, s:o}", "typ", KT_GRANT_TYP,
			   "x5c", keep_x5c ? json_deep_copy(json_object_get(g.jws.header, "x5c")) :
					     kt_jws_x5c_from_chain(ca.chain));
	if (kt_jws_sign(ca.key, header, g.jws.payload, &out, NULL))
		abort();
	json_decref(header);
	kt_grant_free(&g);
	kt_cred_free(&ca);
	free(dir);
	return out;
}

/* Moves exp a day later in the signed payload, keeping the old signature. */
static void tamper(char *grant)
{
	char *dot1 = strchr(grant, '.'), *dot2 = strchr(dot1 + 1, '.'), *p64, *text, *out;
	size_t len;
	uint8_t *raw = kt_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
	json_t *claims = json_loadb((char *)raw, len, 0, NULL);

	json_object_set_new(claims, "exp",
			    json_integer(json_integer_value(json_object_get(claims, "exp")) + DAY));
	text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	p64 = kt_b64url_encode((uint8_t *)text, strlen(text));
	if (asprintf(&out, "%.*s.%s%s", (int)(dot1 - grant), grant, p64, dot2) < 0 ||
	    strlen(out) > strlen(grant) + 8)
		abort();
	strcpy(grant, out);
	free(out);
	free(p64);
	free(text);
	free(raw);
	json_decref(claims);
}

static char *issue_grant(struct pki *p, const struct scenario *s)
{
	const char *signer = s->signer ? s->signer : "alice";
	char *dir = cred_path(p, signer, NULL), *out = NULL, keyid[41], hash[65];
	struct kt_grant g = { 0 };
	struct kt_err err = { 0 };
	struct kt_cred cred;
	X509 *cert;

	strcpy(g.id, GRANT_ID);
	strcpy(g.vm, s->vm ? s->vm : VM);
	g.iat = p->now - 2 * HOUR;
	g.nbf = p->now + (s->nbf ? s->nbf : -HOUR);
	g.exp = p->now + (s->exp ? s->exp : DAY);
	cert = load_cert(p, s->allowed_ca ? s->allowed_ca : "eu");
	kt_cert_keyid(cert, keyid);
	X509_free(cert);
	kt_strlist_add(&g.ca_keyids, keyid);
	cert = load_cert(p, s->delegate ? s->delegate : "bob");
	kt_cert_sha256(cert, hash);
	X509_free(cert);
	if (!s->delegate_key)
		kt_strlist_add(&g.delegate_certs, hash);
	if (s->delegate_key) {
		cert = load_cert(p, s->delegate_key);
		kt_cert_spki_sha256(cert, hash);
		X509_free(cert);
		kt_strlist_add(&g.delegate_spkis, hash);
	}
	ADD_ALL(&g.regions, s->regions);
	ADD_ALL(&g.sites, s->sites);
	ADD_ALL(&g.hosts_allow, s->allow);
	ADD_ALL(&g.hosts_deny, s->deny);
	if (kt_cred_load(dir, &cred, &err) || kt_grant_issue(&g, cred.key, cred.chain, &out, &err))
		fprintf(stderr, "# issue: %s: %s\n", err.check, err.msg);
	kt_cred_free(&cred);
	kt_grant_free(&g);
	free(dir);
	if (out && s->resign_with) {
		char *forged = resign(p, out, s->resign_with, s->resign_keep_x5c);

		free(out);
		out = forged;
	}
	if (out && s->tamper) {
		out = realloc(out, strlen(out) + 16);
		tamper(out);
	}
	return out;
}

static int revoke_crl(struct pki *p, const char *ca_name, const char *cert_name)
{
	char *dir = cred_path(p, ca_name, NULL);
	X509 *cert = load_cert(p, cert_name);
	struct kt_err err = { 0 };
	struct kt_cred ca;
	int ret = -1;

	if (!kt_cred_load(dir, &ca, &err)) {
		ret = kt_ca_revoke(dir, &ca, cert, 1, &err);
		kt_cred_free(&ca);
	}
	X509_free(cert);
	free(dir);
	return ret || publish_crl(p, ca_name, p->host_anchors) ? -1 : 0;
}

/*
 * An administrator's order, signed by hand so a test can also forge one
 * (another key behind the certificate) that kt_migrate_order_sign() refuses.
 */
static char *make_order(struct pki *p, const struct scenario *s, const char *host_uuid)
{
	char *key_path = cred_path(p, s->order_key, "key.pem"), *out = NULL, nonce[37];
	X509 *cert = load_cert(p, s->order_cert ? s->order_cert : s->order_key);
	EVP_PKEY *key = kt_pki_load_key(key_path, NULL);
	STACK_OF(X509) *chain = sk_X509_new_null();
	time_t iat = time(NULL) - s->order_age;
	json_t *header, *claims;

	if (!cert || !key || !chain || !sk_X509_push(chain, cert) || kt_uuid_random(nonce))
		abort();
	header = json_pack("{s:s, s:o}", "typ", KT_MIGRATE_ORDER_TYP, "x5c", kt_jws_x5c_from_chain(chain));
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "jti", nonce, "vm", VM, "grant", GRANT_ID,
			   "host", s->order_host ? s->order_host : host_uuid, "iat", (json_int_t)iat,
			   "exp", (json_int_t)(iat + KT_MIGRATE_ORDER_LIFETIME));
	if (kt_jws_sign(key, header, claims, &out, NULL))
		abort();
	json_decref(header);
	json_decref(claims);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	free(key_path);
	return out;
}

/* Builds the world the scenario describes and runs the decision. */
static int run(struct pki *p, const struct scenario *s, struct kt_migrate_result *res)
{
	const char *dest = s->dest ? s->dest : "host-a";
	struct kt_migrate_request req = {
		.vm = VM, .owner_anchors = p->oa, .host_anchors = p->ha,
		.ledger = s->no_ledger ? NULL : p->log,
	};
	struct kt_err err = { 0 };
	char *grant, *order = NULL;
	int ret;

	if ((!s->owner || strcmp(s->owner, "-")) && register_vm(p, s->owner ? s->owner : "alice", VM))
		return -1;
	if (set_score(p, s->score ? s->score : 100) ||
	    (s->last_fail && append(p, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, VM, HOST_B, p->now)) ||
	    (s->revoke_grant && append(p, KT_LEDGER_REVOKE, 0, KT_GRANT_REVOKE_PREFIX GRANT_ID,
				       NULL, p->now - 60)) ||
	    (s->revoke_host_ledger && append(p, KT_LEDGER_REVOKE, 0, NULL, HOST_A, p->now - 60)) ||
	    (s->compromise_host && append(p, KT_LEDGER_COMPROMISE, 0, NULL, HOST_A, p->now - 60)) ||
	    (s->revoke_host_crl && revoke_crl(p, "eu", "host-a")))
		return -1;
	grant = issue_grant(p, s);
	if (!grant)
		return -1;
	/* Not p->now: CRLs made since then are not valid before they were made. */
	req.now = time(NULL);
	req.grant = grant;
	req.host_untrusted = load_chain(p, dest);
	req.host = sk_X509_shift(req.host_untrusted);
	if (s->order_key) {
		struct kt_cert_info host;

		kt_pki_cert_info(req.host, &host, NULL);
		req.admin_order = order = make_order(p, s, host.host_uuid);
	} else {
		req.admin = load_cert(p, s->admin ? s->admin : "bob");
	}
	ret = kt_migrate_check(&req, res, &err);
	if (ret)
		fprintf(stderr, "# check: %s: %s\n", err.check, err.msg);
	X509_free(req.host);
	X509_free(req.admin);
	sk_X509_pop_free(req.host_untrusted, X509_free);
	free(grant);
	free(order);
	return ret;
}

static void log_rules(struct __test_metadata *_metadata, const struct kt_migrate_result *res)
{
	size_t i;

	for (i = 0; i < res->n_rules; i++)
		TH_LOG("%-16s %-6s [%s] %s", res->rules[i].rule,
		       kt_rule_outcome_name(res->rules[i].outcome),
		       res->rules[i].check ? res->rules[i].check : "-", res->rules[i].detail);
}

static const struct kt_migrate_rule_result *rule(const struct kt_migrate_result *res,
						 const char *name)
{
	size_t i;

	for (i = 0; i < res->n_rules; i++)
		if (!strcmp(res->rules[i].rule, name))
			return &res->rules[i];
	return NULL;
}

/* --- the decision table ------------------------------------------------- */

FIXTURE(policy) {
	struct pki p;
};

FIXTURE_VARIANT(policy) {
	struct scenario s;
	enum kt_migrate_decision decision;
	const char *rule;	/* first failing rule, NULL for none */
	const char *check;	/* the check it names, NULL: any */
};

FIXTURE_SETUP(policy)
{
	ASSERT_EQ(0, pki_setup(&self->p));
}

FIXTURE_TEARDOWN(policy)
{
	pki_teardown(&self->p);
}

FIXTURE_VARIANT_ADD(policy, baseline_allows) {
	.decision = KT_MIGRATE_ALLOW,
};

FIXTURE_VARIANT_ADD(policy, sub_ca_under_allowed_ca_allows) {
	.s = { .dest = "host-a1" },
	.decision = KT_MIGRATE_ALLOW,
};

FIXTURE_VARIANT_ADD(policy, all_lists_satisfied_allows) {
	.s = {
		.regions = { "us-east", "eu-west" }, .sites = { "fra1" },
		.allow = { HOST_A1, HOST_A }, .deny = { HOST_B },
	},
	.decision = KT_MIGRATE_ALLOW,
};

FIXTURE_VARIANT_ADD(policy, delegate_by_key_allows) {
	.s = { .delegate_key = "bob" },
	.decision = KT_MIGRATE_ALLOW,
};

FIXTURE_VARIANT_ADD(policy, signed_order_allows) {
	.s = { .order_key = "bob" },
	.decision = KT_MIGRATE_ALLOW,
};

FIXTURE_VARIANT_ADD(policy, order_for_another_host_denied) {
	.s = { .order_key = "bob", .order_host = HOST_A1 },
	.decision = KT_MIGRATE_DENY, .rule = "delegate", .check = "order",
};

FIXTURE_VARIANT_ADD(policy, order_forged_behind_delegate_cert_denied) {
	.s = { .order_key = "mallory", .order_cert = "bob" },
	.decision = KT_MIGRATE_DENY, .rule = "delegate", .check = "order",
};

FIXTURE_VARIANT_ADD(policy, stale_order_denied) {
	.s = { .order_key = "bob", .order_age = KT_MIGRATE_ORDER_LIFETIME + 1 },
	.decision = KT_MIGRATE_DENY, .rule = "delegate", .check = "order",
};

FIXTURE_VARIANT_ADD(policy, order_by_non_delegate_denied) {
	.s = { .order_key = "mallory" },
	.decision = KT_MIGRATE_DENY, .rule = "delegate", .check = "delegate",
};

FIXTURE_VARIANT_ADD(policy, tampered_grant_byte_denied) {
	.s = { .tamper = true },
	.decision = KT_MIGRATE_DENY, .rule = "grant", .check = "signature",
};

FIXTURE_VARIANT_ADD(policy, grant_signed_by_host_ca_denied) {
	.s = { .resign_with = "eu" },
	.decision = KT_MIGRATE_DENY, .rule = "grant", .check = "signer",
};

FIXTURE_VARIANT_ADD(policy, host_ca_key_behind_owner_x5c_denied) {
	.s = { .resign_with = "eu", .resign_keep_x5c = true },
	.decision = KT_MIGRATE_DENY, .rule = "grant", .check = "signature",
};

FIXTURE_VARIANT_ADD(policy, grant_signed_under_host_root_denied) {
	/* A user certificate, but certified by the host hierarchy. */
	.s = { .resign_with = "host-b" },
	.decision = KT_MIGRATE_DENY, .rule = "grant", .check = "signer",
};

FIXTURE_VARIANT_ADD(policy, grant_for_other_vm_denied) {
	.s = { .vm = OTHER_VM },
	.decision = KT_MIGRATE_DENY, .rule = "vm", .check = "vm",
};

FIXTURE_VARIANT_ADD(policy, grant_by_another_owner_denied) {
	/* mallory is a valid owner certificate, but alice registered the VM. */
	.s = { .signer = "mallory" },
	.decision = KT_MIGRATE_DENY, .rule = "owner", .check = "owner",
};

FIXTURE_VARIANT_ADD(policy, vm_registered_to_another_owner_denied) {
	.s = { .owner = "mallory" },
	.decision = KT_MIGRATE_DENY, .rule = "owner", .check = "owner",
};

FIXTURE_VARIANT_ADD(policy, unregistered_vm_denied) {
	.s = { .owner = "-" },
	.decision = KT_MIGRATE_DENY, .rule = "owner", .check = "owner",
};

FIXTURE_VARIANT_ADD(policy, revoked_grant_denied) {
	.s = { .revoke_grant = true },
	.decision = KT_MIGRATE_DENY, .rule = "grant-revoked", .check = "revoked",
};

FIXTURE_VARIANT_ADD(policy, delegate_not_named_denied) {
	.s = { .admin = "mallory" },
	.decision = KT_MIGRATE_DENY, .rule = "delegate", .check = "delegate",
};

FIXTURE_VARIANT_ADD(policy, expired_delegate_certificate_denied) {
	.s = { .delegate = "bob-old", .admin = "bob-old" },
	.decision = KT_MIGRATE_DENY, .rule = "delegate", .check = "validity",
};

FIXTURE_VARIANT_ADD(policy, host_revoked_by_crl_denied) {
	.s = { .revoke_host_crl = true },
	.decision = KT_MIGRATE_DENY, .rule = "host-cert", .check = "revocation",
};

FIXTURE_VARIANT_ADD(policy, host_revoked_in_ledger_denied) {
	.s = { .revoke_host_ledger = true },
	.decision = KT_MIGRATE_DENY, .rule = "host-cert", .check = "revoked",
};

FIXTURE_VARIANT_ADD(policy, expired_host_certificate_denied) {
	.s = { .dest = "host-old" },
	.decision = KT_MIGRATE_DENY, .rule = "host-cert", .check = "validity",
};

FIXTURE_VARIANT_ADD(policy, sibling_ca_denied) {
	.s = { .dest = "host-b" },
	.decision = KT_MIGRATE_DENY, .rule = "host-ca", .check = "host-ca",
};

FIXTURE_VARIANT_ADD(policy, sub_ca_allowed_but_parent_host_denied) {
	/* Allowing eu-sub allows nothing above it. */
	.s = { .allowed_ca = "eu-sub" },
	.decision = KT_MIGRATE_DENY, .rule = "host-ca", .check = "host-ca",
};

FIXTURE_VARIANT_ADD(policy, region_not_allowed_denied) {
	.s = { .regions = { "us-east" } },
	.decision = KT_MIGRATE_DENY, .rule = "region", .check = "region",
};

FIXTURE_VARIANT_ADD(policy, site_not_allowed_denied) {
	.s = { .sites = { "fra2" } },
	.decision = KT_MIGRATE_DENY, .rule = "region", .check = "site",
};

FIXTURE_VARIANT_ADD(policy, host_on_deny_list_denied) {
	.s = { .deny = { HOST_A } },
	.decision = KT_MIGRATE_DENY, .rule = "host-list", .check = "deny-list",
};

FIXTURE_VARIANT_ADD(policy, host_not_on_allow_list_denied) {
	.s = { .allow = { HOST_A1 } },
	.decision = KT_MIGRATE_DENY, .rule = "host-list", .check = "allow-list",
};

FIXTURE_VARIANT_ADD(policy, expired_grant_denied) {
	.s = { .nbf = -2 * DAY, .exp = -1 },
	.decision = KT_MIGRATE_DENY, .rule = "window", .check = "window",
};

FIXTURE_VARIANT_ADD(policy, not_yet_valid_grant_denied) {
	.s = { .nbf = HOUR, .exp = DAY },
	.decision = KT_MIGRATE_DENY, .rule = "window", .check = "window",
};

FIXTURE_VARIANT_ADD(policy, compromised_host_denied) {
	.s = { .compromise_host = true },
	.decision = KT_MIGRATE_DENY, .rule = "host-compromise", .check = "compromised",
};

FIXTURE_VARIANT_ADD(policy, no_ledger_is_an_error) {
	.s = { .no_ledger = true },
	.decision = KT_MIGRATE_ERROR,
};

#define SCORE_CASE(n, d, r)						\
	FIXTURE_VARIANT_ADD(policy, score_##n) {			\
		.s = { .score = n }, .decision = d, .rule = r,		\
		.check = r ? "score" : NULL,				\
	}

SCORE_CASE(49, KT_MIGRATE_DENY, "trust-score");
SCORE_CASE(50, KT_MIGRATE_ALLOW_VERIFY, NULL);
SCORE_CASE(51, KT_MIGRATE_ALLOW_VERIFY, NULL);
SCORE_CASE(74, KT_MIGRATE_ALLOW_VERIFY, NULL);
SCORE_CASE(75, KT_MIGRATE_ALLOW_VERIFY, NULL);
SCORE_CASE(76, KT_MIGRATE_ALLOW, NULL);

/* 100, then a failure: 80 is high enough, but the last result counts. */
FIXTURE_VARIANT_ADD(policy, high_score_after_a_failed_attestation_needs_verification) {
	.s = { .last_fail = true },
	.decision = KT_MIGRATE_ALLOW_VERIFY,
};

TEST_F(policy, decision)
{
	const struct kt_migrate_rule_result *first, *score;
	struct kt_migrate_result res;
	size_t i;

	ASSERT_EQ(0, run(&self->p, &variant->s, &res));
	log_rules(_metadata, &res);
	/* Every rule is reported, in order, whatever failed before it. */
	ASSERT_EQ(13U, res.n_rules);
	EXPECT_STREQ("grant", res.rules[0].rule);
	EXPECT_STREQ("owner", res.rules[2].rule);
	EXPECT_STREQ("trust-score", res.rules[11].rule);
	EXPECT_STREQ("token", res.rules[12].rule);
	for (i = 0; i < res.n_rules; i++)
		EXPECT_NE(0U, strlen(res.rules[i].detail)) TH_LOG("rule %s has no detail", res.rules[i].rule);
	EXPECT_STREQ(kt_migrate_decision_name(variant->decision),
		     kt_migrate_decision_name(res.decision));
	first = kt_migrate_first_failure(&res);
	if (!variant->rule) {
		EXPECT_EQ(NULL, first) TH_LOG("unexpected failure of %s", first->rule);
	} else {
		ASSERT_NE(NULL, first);
		EXPECT_STREQ(variant->rule, first->rule);
		if (variant->check)
			EXPECT_STREQ(variant->check, first->check);
	}
	/* The score the ledger gives is the one the scenario wrote. */
	score = rule(&res, "trust-score");
	if (!variant->s.no_ledger && !variant->s.compromise_host && !variant->s.revoke_host_ledger)
		EXPECT_EQ(variant->s.last_fail ? 80 : variant->s.score ? variant->s.score : 100,
			  res.score);
	if (variant->s.no_ledger)
		EXPECT_EQ(KT_RULE_ERROR, (int)score->outcome);
	if (variant->s.last_fail) {
		EXPECT_EQ(KT_RULE_VERIFY, (int)score->outcome);
		EXPECT_NE(NULL, strstr(score->detail, "last attestation")) TH_LOG("%s", score->detail);
	}
}

/* --- the grant document itself ----------------------------------------- */

FIXTURE(doc) {
	struct pki p;
};

FIXTURE_SETUP(doc)
{
	ASSERT_EQ(0, pki_setup(&self->p));
}

FIXTURE_TEARDOWN(doc)
{
	pki_teardown(&self->p);
}

TEST_F(doc, round_trip_keeps_every_claim)
{
	const struct scenario s = {
		.regions = { "eu-west" }, .sites = { "fra1", "fra2" },
		.allow = { HOST_A }, .deny = { HOST_B },
	};
	struct kt_grant_trust trust = { .owner_anchors = self->p.oa, .host_anchors = self->p.ha };
	struct kt_err err = { 0 };
	char *text = issue_grant(&self->p, &s);
	struct kt_grant g;

	ASSERT_NE(NULL, text);
	ASSERT_EQ(0, kt_grant_parse(text, &g, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(0, kt_grant_verify(&g, &trust, time(NULL), &err)) TH_LOG("%s: %s", err.check, err.msg);
	EXPECT_EQ(0, kt_grant_check_window(&g, self->p.now, &err));
	EXPECT_STREQ(GRANT_ID, g.id);
	EXPECT_STREQ(VM, g.vm);
	EXPECT_NE(NULL, strstr(g.issuer, "CN=alice"));
	EXPECT_EQ(1U, g.ca_keyids.n);
	EXPECT_EQ(1U, g.regions.n);
	EXPECT_EQ(2U, g.sites.n);
	EXPECT_TRUE(kt_strlist_has(&g.hosts_allow, HOST_A));
	EXPECT_TRUE(kt_strlist_has(&g.hosts_deny, HOST_B));
	EXPECT_EQ(1U, g.delegate_certs.n);
	EXPECT_EQ(0U, g.delegate_spkis.n);
	EXPECT_EQ(self->p.now - HOUR, g.nbf);
	/* The window is half-open: valid at nbf, expired at exp. */
	EXPECT_EQ(0, kt_grant_check_window(&g, (time_t)g.nbf, &err));
	EXPECT_NE(0, kt_grant_check_window(&g, (time_t)g.exp, &err));
	EXPECT_STREQ("window", err.check);
	EXPECT_NE(0, kt_grant_check_window(&g, (time_t)g.nbf - 1, &err));
	kt_grant_free(&g);
	free(text);
}

TEST_F(doc, every_byte_of_the_grant_is_covered)
{
	const struct scenario s = { 0 };
	struct kt_grant_trust trust = { .owner_anchors = self->p.oa };
	char *text = issue_grant(&self->p, &s);
	struct kt_err err;
	struct kt_grant g;
	size_t i, len, step;
	int refused = 0, tried = 0;

	ASSERT_NE(NULL, text);
	len = strlen(text);
	/* Flip a sample of positions across header, payload and signature. */
	step = len / 97 + 1;
	for (i = 0; i < len; i += step) {
		char saved = text[i];

		if (saved == '.')
			continue;
		text[i] = saved == 'A' ? 'B' : 'A';
		tried++;
		kt_err_clear(&err);
		if (kt_grant_parse(text, &g, &err) || kt_grant_verify(&g, &trust, time(NULL), &err))
			refused++;
		else
			TH_LOG("byte %zu accepted", i);
		if (!err.check || (strcmp(err.check, "structure") && strcmp(err.check, "signature") &&
				   strcmp(err.check, "algorithm") && strcmp(err.check, "chain") &&
				   strcmp(err.check, "signer")))
			TH_LOG("byte %zu refused by %s: %s", i, err.check, err.msg);
		kt_grant_free(&g);
		text[i] = saved;
	}
	EXPECT_EQ(tried, refused);
	free(text);
}

/* A JWS signed by alice whose claims are given as JSON text. */
static char *sign_claims(struct pki *p, const char *typ, const char *claims_json)
{
	char *dir = cred_path(p, "alice", NULL), *out = NULL;
	json_t *claims = json_loads(claims_json, 0, NULL), *header;
	struct kt_cred cred;

	if (!claims || kt_cred_load(dir, &cred, NULL))
		abort();
	header = json_pack("{s:s, s:o}", "typ", typ, "x5c", kt_jws_x5c_from_chain(cred.chain));
	if (kt_jws_sign(cred.key, header, claims, &out, NULL))
		abort();
	json_decref(header);
	json_decref(claims);
	kt_cred_free(&cred);
	free(dir);
	return out;
}

#define CLAIMS(extra_top, extra_hosts)								\
	"{\"jti\":\"" GRANT_ID "\",\"vm\":\"" VM "\",\"iss\":\"CN=alice\",\"iat\":1,"		\
	"\"nbf\":1,\"exp\":4000000000," extra_top "\"hosts\":{\"ca_keyids\":"			\
	"[\"00112233445566778899aabbccddeeff00112233\"]" extra_hosts "},"			\
	"\"delegates\":{\"cert_sha256\":[\"" 							\
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"]}}"

TEST_F(doc, strict_parsing_names_the_problem)
{
	static const struct {
		const char *name, *typ, *claims, *want;
	} cases[] = {
		{ "well formed", KT_GRANT_TYP, CLAIMS("", ""), NULL },
		{ "guest token type", "JWT", CLAIMS("", ""), "typ" },
		{ "unknown claim", KT_GRANT_TYP, CLAIMS("\"max_hops\":1,", ""), "unknown claim" },
		{ "unknown host restriction", KT_GRANT_TYP, CLAIMS("", ",\"racks\":[\"r1\"]"),
		  "unknown member" },
		{ "uppercase vm", KT_GRANT_TYP,
		  "{\"jti\":\"" GRANT_ID "\",\"vm\":\"7D4F2B1A-3C5E-4F60-8A9B-0C1D2E3F4A5B\"}", "vm" },
		{ "region with a space", KT_GRANT_TYP, CLAIMS("", ",\"regions\":[\"eu west\"]"),
		  "hosts.regions[0]" },
		{ "string exp", KT_GRANT_TYP,
		  "{\"jti\":\"" GRANT_ID "\",\"vm\":\"" VM "\",\"iat\":1,\"nbf\":1,\"exp\":\"soon\"}",
		  "exp" },
	};
	struct kt_err err;
	struct kt_grant g;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = sign_claims(&self->p, cases[i].typ, cases[i].claims);
		int ret;

		kt_err_clear(&err);
		ret = kt_grant_parse(text, &g, &err);
		if (!cases[i].want) {
			EXPECT_EQ(0, ret) TH_LOG("%s: %s", cases[i].name, err.msg);
			kt_grant_free(&g);
		} else {
			EXPECT_NE(0, ret) TH_LOG("%s accepted", cases[i].name);
			EXPECT_STREQ("structure", err.check);
			EXPECT_NE(NULL, strstr(err.msg, cases[i].want))
				TH_LOG("%s: \"%s\" lacks \"%s\"", cases[i].name, err.msg, cases[i].want);
		}
		free(text);
	}
}

TEST_F(doc, issuing_refuses_ca_signers_and_empty_grants)
{
	char *dir = cred_path(&self->p, "owner-root", NULL), *out = NULL;
	struct kt_grant g = { 0 };
	struct kt_err err = { 0 };
	struct kt_cred cred;

	ASSERT_EQ(0, kt_cred_load(dir, &cred, &err));
	strcpy(g.id, GRANT_ID);
	strcpy(g.vm, VM);
	g.nbf = 1;
	g.exp = 2;
	kt_strlist_add(&g.ca_keyids, "00112233445566778899aabbccddeeff00112233");
	kt_strlist_add(&g.delegate_certs,
		       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	/* The owner's root CA key must not sign grants itself. */
	EXPECT_NE(0, kt_grant_issue(&g, cred.key, cred.chain, &out, &err));
	EXPECT_STREQ("signer", err.check);
	kt_cred_free(&cred);
	free(dir);

	dir = cred_path(&self->p, "alice", NULL);
	ASSERT_EQ(0, kt_cred_load(dir, &cred, &err));
	kt_strlist_free(&g.delegate_certs);
	EXPECT_NE(0, kt_grant_issue(&g, cred.key, cred.chain, &out, &err));
	EXPECT_NE(NULL, strstr(err.msg, "delegate"));
	kt_strlist_add(&g.delegate_certs,
		       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	g.exp = g.nbf;
	EXPECT_NE(0, kt_grant_issue(&g, cred.key, cred.chain, &out, &err));
	EXPECT_NE(NULL, strstr(err.msg, "window"));
	g.exp = 2;
	kt_strlist_add(&g.hosts_deny, "not-a-uuid");
	EXPECT_NE(0, kt_grant_issue(&g, cred.key, cred.chain, &out, &err));
	EXPECT_NE(NULL, strstr(err.msg, "hosts.deny[0]"));
	kt_strlist_free(&g.hosts_deny);
	EXPECT_EQ(0, kt_grant_issue(&g, cred.key, cred.chain, &out, &err)) TH_LOG("%s", err.msg);
	free(out);
	kt_grant_free(&g);
	kt_cred_free(&cred);
	free(dir);
}

TEST_F(doc, revoked_owner_certificate_refuses_its_grants)
{
	const struct scenario s = { 0 };
	struct kt_grant_trust trust = { .owner_anchors = self->p.oa };
	char *dir = cred_path(&self->p, "owner-root", NULL), *text = issue_grant(&self->p, &s);
	X509 *alice = load_cert(&self->p, "alice");
	struct kt_err err = { 0 };
	struct kt_cred ca;
	struct kt_grant g;

	ASSERT_NE(NULL, text);
	ASSERT_EQ(0, kt_grant_parse(text, &g, &err));
	ASSERT_EQ(0, kt_grant_verify(&g, &trust, time(NULL), &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_cred_load(dir, &ca, &err));
	ASSERT_EQ(0, kt_ca_revoke(dir, &ca, alice, 1, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, publish_crl(&self->p, "owner-root", self->p.owner_anchors));
	EXPECT_NE(0, kt_grant_verify(&g, &trust, time(NULL), &err));
	EXPECT_STREQ("revocation", err.check);
	kt_grant_free(&g);
	kt_cred_free(&ca);
	X509_free(alice);
	free(text);
	free(dir);
}

TEST_F(doc, orders_bind_the_administrators_key)
{
	struct kt_migrate_intent in = { .iat = self->p.now, .exp = self->p.now + 60 }, got;
	char *bob_key = cred_path(&self->p, "bob", "key.pem");
	char *mallory_key = cred_path(&self->p, "mallory", "key.pem");
	EVP_PKEY *bob = kt_pki_load_key(bob_key, NULL), *mallory = kt_pki_load_key(mallory_key, NULL);
	X509 *cert = load_cert(&self->p, "bob"), *signer = NULL;
	const struct scenario s = { 0 };
	char *order = NULL, *grant = issue_grant(&self->p, &s);
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, bob);
	ASSERT_NE(NULL, grant);
	strcpy(in.vm, VM);
	strcpy(in.grant, GRANT_ID);
	strcpy(in.host, HOST_A);
	EXPECT_NE(0, kt_migrate_order_sign(&in, mallory, cert, &order, &err));
	EXPECT_STREQ("order", err.check);
	in.exp = in.iat + KT_MIGRATE_ORDER_MAX_LIFETIME + 1;
	EXPECT_NE(0, kt_migrate_order_sign(&in, bob, cert, &order, &err));
	in.exp = in.iat + 60;
	ASSERT_EQ(0, kt_migrate_order_sign(&in, bob, cert, &order, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_migrate_order_verify(order, self->p.now, &got, &signer, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(0, X509_cmp(cert, signer));
	EXPECT_STREQ(HOST_A, got.host);
	EXPECT_STREQ(in.nonce, got.nonce);
	X509_free(signer);
	/* Not yet valid beyond the allowed skew, expired at exp. */
	EXPECT_NE(0, kt_migrate_order_verify(order, self->p.now - KT_MIGRATE_ORDER_SKEW - 1, &got,
					     &signer, &err));
	EXPECT_NE(0, kt_migrate_order_verify(order, self->p.now + 60, &got, &signer, &err));
	EXPECT_NE(NULL, strstr(err.msg, "not fresh"));
	/* A grant is not an order, whoever signed it. */
	EXPECT_NE(0, kt_migrate_order_verify(grant, self->p.now, &got, &signer, &err));
	EXPECT_NE(NULL, strstr(err.msg, "typ"));
	free(order);
	free(grant);
	free(bob_key);
	free(mallory_key);
	EVP_PKEY_free(bob);
	EVP_PKEY_free(mallory);
	X509_free(cert);
}

TEST_HARNESS_MAIN
