// SPDX-License-Identifier: GPL-2.0
/*
 * The rule table of migrate_policy.h. Each rule is a function of an
 * evaluation context that the rules before it filled in (the parsed grant,
 * the verified host chain, the facts read from the ledger); a rule reports
 * its outcome through the kt_err-style (check, detail) pair so the report
 * and the tests name exactly what failed.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "common/encoding.h"
#include "identity/pki.h"
#include "identity/token.h"
#include "ledger/revocation.h"
#include "ledger/score.h"
#include "policy/grant.h"
#include "policy/grant_ledger.h"
#include "policy/migrate_order.h"
#include "policy/migrate_policy.h"

struct ctx {
	const struct kt_migrate_request *req;
	time_t now;
	struct kt_grant grant;
	bool have_grant;		/* parsed; possibly not verified */
	STACK_OF(X509) *host_chain;	/* verified, leaf first, anchor last */
	struct kt_cert_info host;
	bool have_host;			/* a host certificate's attributes read */
	struct kt_err host_error;
	struct kt_migrate_facts facts;
	bool have_facts;
	struct kt_err facts_err;
	/* The presented host certificates' revocation ids, looked up with the facts. */
	char cert_ids[KT_MIGRATE_CERT_IDS][KT_LEDGER_VM_MAX + 1];
	size_t n_certs;
	struct kt_token token;		/* the VM's identity token, decoded, if given */
	bool have_token;
	struct kt_err token_err;
	X509 *order_signer;		/* from the administrator's signed order */
	struct kt_migrate_result *res;
};

/* What a rule needs from the rules before it; missing means SKIP. */
enum {
	NEED_GRANT = 1 << 0,
	NEED_HOST = 1 << 1,
	NEED_HOST_CHAIN = 1 << 2,
	NEED_FACTS = 1 << 3,
};

typedef enum kt_rule_outcome (*rule_fn)(struct ctx *c, struct kt_err *err);

static enum kt_rule_outcome pass(struct kt_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum kt_rule_outcome pass(struct kt_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return KT_RULE_PASS;
}

/* kt_fail() for rule functions: records the check and reports FAIL. */
#define FAIL(err, check, ...) (kt_fail(err, check, __VA_ARGS__), KT_RULE_FAIL)

/* The RFC 2253 subject, as pki.h reads it everywhere else. */
static const char *subject(X509 *cert, struct kt_cert_info *info)
{
	return kt_pki_cert_info(cert, info, NULL) ? "(unreadable certificate)" : info->subject;
}

static enum kt_rule_outcome rule_grant(struct ctx *c, struct kt_err *err)
{
	const struct kt_grant_trust trust = {
		.owner_anchors = c->req->owner_anchors,
		.owner_crls = c->req->owner_crls,
		.host_anchors = c->req->host_anchors,
	};

	if (kt_grant_parse(c->req->grant, &c->grant, err))
		return KT_RULE_FAIL;
	c->have_grant = true;
	if (kt_grant_verify(&c->grant, &trust, c->now, err))
		return KT_RULE_FAIL;
	return pass(err, "grant %s signed by \"%s\"", c->grant.id, c->grant.issuer);
}

static enum kt_rule_outcome rule_vm(struct ctx *c, struct kt_err *err)
{
	if (strcmp(c->grant.vm, c->req->vm))
		return FAIL(err, "vm", "grant is for VM %s, not %s", c->grant.vm, c->req->vm);
	return pass(err, "grant names VM %s", c->req->vm);
}

static enum kt_rule_outcome rule_owner(struct ctx *c, struct kt_err *err)
{
	if (kt_grant_check_owner(&c->grant, c->req->vm, &c->facts, err))
		return KT_RULE_FAIL;
	return pass(err, "VM %s is registered to \"%s\" (ledger entry %llu), who signed the grant",
		    c->req->vm, c->facts.owner.subject, (unsigned long long)c->facts.owner.index);
}

static enum kt_rule_outcome rule_grant_revoked(struct ctx *c, struct kt_err *err)
{
	if (c->facts.grant_revoked)
		return FAIL(err, "revoked", "grant %s is revoked (ledger entry %llu)", c->grant.id,
			    (unsigned long long)c->facts.grant_revoked_at);
	return pass(err, "grant %s not revoked (ledger of %llu entries)", c->grant.id,
		    (unsigned long long)c->facts.entries);
}

/* X509_cmp_time() is -1 for "at or before", 1 for "after", 0 for an unreadable time. */
static bool cert_time_valid(X509 *cert, time_t now)
{
	time_t t = now;

	return X509_cmp_time(X509_get0_notBefore(cert), &t) == -1 &&
	       X509_cmp_time(X509_get0_notAfter(cert), &t) == 1;
}

/*
 * A signed order proves the administrator holds the key and binds it to
 * this VM, grant and host; a bare certificate only names them, and the
 * caller must have authenticated them some other way.
 */
static int check_order(struct ctx *c, X509 **admin, struct kt_err *err)
{
	struct kt_migrate_intent in;

	if (kt_migrate_order_verify(c->req->admin_order, c->now, &in, &c->order_signer, err))
		return -1;
	if (*admin && X509_cmp(*admin, c->order_signer))
		return kt_fail(err, "order", "the order is signed by another certificate than the administrator's");
	*admin = c->order_signer;
	if (strcmp(in.vm, c->req->vm) || strcmp(in.grant, c->grant.id) ||
	    !c->have_host || strcmp(in.host, c->host.host_uuid))
		return kt_fail(err, "order", "the order is for VM %s to host %s under grant %s",
			       in.vm, in.host, in.grant);
	return 0;
}

static enum kt_rule_outcome rule_delegate(struct ctx *c, struct kt_err *err)
{
	X509 *admin = c->req->admin;
	struct kt_cert_info info;
	char fp[65], spki[65];
	const char *name;

	if (c->req->admin_order && check_order(c, &admin, err))
		return KT_RULE_FAIL;
	if (!admin)
		return FAIL(err, "delegate", "no administrator certificate given");
	name = subject(admin, &info);
	if (kt_cert_sha256(admin, fp) || kt_cert_spki_sha256(admin, spki))
		return FAIL(err, "delegate", "cannot hash the administrator certificate");
	if (!kt_strlist_has(&c->grant.delegate_certs, fp) &&
	    !kt_strlist_has(&c->grant.delegate_spkis, spki))
		return FAIL(err, "delegate", "\"%s\" (certificate sha256 %.16s..., key sha256 %.16s...) is not a delegate of the grant",
			    name, fp, spki);
	if (!cert_time_valid(admin, c->now))
		return FAIL(err, "validity", "delegate certificate \"%s\" is outside its validity period", name);
	return pass(err, "\"%s\" is a delegate%s", name,
		    c->req->admin_order ? ", proven by its signed order" :
					    " (certificate presented, not a signed order)");
}

/*
 * The verified chain's certificates (its self-signed anchor aside) against
 * the CAs' revocations in the ledger: from the facts for those presented,
 * else (an intermediate kept with the anchors) by a walk of their own.
 * Check "revocation" when one is revoked; another check when the ledger
 * cannot say.
 */
static int chain_revoked(struct ctx *c, STACK_OF(X509) *chain, struct kt_err *err)
{
	char id[KT_LEDGER_VM_MAX + 1];
	struct kt_cert_info info;
	bool unasked = false;
	size_t j;
	int i, ret;
	X509 *x;

	for (i = 0; i < sk_X509_num(chain); i++) {
		x = sk_X509_value(chain, i);
		if (X509_check_issued(x, x) == X509_V_OK)
			continue;
		if (kt_ledger_cert_id(x, id, NULL, err))
			return -1;
		for (j = 0; j < c->n_certs && strcmp(id, c->cert_ids[j]); j++)
			;
		if (j == c->n_certs) {
			unasked = true;
			continue;
		}
		if (!c->facts.cert_revoked[j])
			continue;
		kt_pki_cert_info(x, &info, NULL);
		return kt_fail(err, "revocation", "certificate \"%s\" (serial %s) was revoked by "
			       "its CA in ledger entry %llu", info.subject, info.serial,
			       (unsigned long long)c->facts.cert_revoked_at[j]);
	}
	if (!unasked)
		return 0;
	ret = kt_ledger_certs_revoked(c->req->ledger, chain, &i, NULL, err);
	if (ret > 0) {
		kt_pki_cert_info(sk_X509_value(chain, i), &info, NULL);
		return kt_fail(err, "revocation", "certificate \"%s\" was revoked by its CA in the "
			       "ledger", info.subject);
	}
	if (ret < 0 && err->check && !strcmp(err->check, "revocation"))
		err->check = "ledger";
	return ret;
}

/* A revocation found denies; a ledger that could not say is an error. */
static enum kt_rule_outcome revocation_outcome(const struct kt_err *err)
{
	return err->check && !strcmp(err->check, "revocation") ? KT_RULE_FAIL : KT_RULE_ERROR;
}

static enum kt_rule_outcome rule_host_cert(struct ctx *c, struct kt_err *err)
{
	struct kt_pki_verify_opts opts = {
		.anchors = c->req->host_anchors,
		.crls = c->req->host_crls ? c->req->host_crls : c->req->host_anchors,
		.untrusted = c->req->host_untrusted,
		.at = c->now,
		.require_kind = KT_CERT_HOST,
	};

	if (kt_pki_verify(c->req->host, &opts, &c->host_chain, err))
		return KT_RULE_FAIL;
	if (!c->have_host)
		return FAIL(err, "attributes", "%s", c->host_error.msg);
	/* CRLs say what the CA revoked; the ledger what any host has since. */
	if (!c->have_facts)
		return kt_fail(err, "ledger", "host revocations unknown: %s", c->facts_err.msg),
		       KT_RULE_ERROR;
	if (c->facts.host_revoked)
		return FAIL(err, "revoked", "host %s is revoked (ledger entry %llu)", c->host.host_uuid,
			    (unsigned long long)c->facts.host_revoked_at);
	if (chain_revoked(c, c->host_chain, err))
		return revocation_outcome(err);
	return pass(err, "host %s (%s) certified by \"%s\"", c->host.host_uuid, c->host.subject,
		    c->host.issuer);
}

static enum kt_rule_outcome rule_host_ca(struct ctx *c, struct kt_err *err)
{
	char keyid[2 * KT_KEYID_LEN + 1];
	struct kt_cert_info info;
	X509 *ca;
	int i;

	/* Depth 0 is the host itself; a grant allows CAs, never one host by key. */
	for (i = 1; i < sk_X509_num(c->host_chain); i++) {
		ca = sk_X509_value(c->host_chain, i);
		if (kt_cert_keyid(ca, keyid))
			return FAIL(err, "host-ca", "cannot compute a CA key identifier");
		if (kt_strlist_has(&c->grant.ca_keyids, keyid))
			return pass(err, "allowed CA \"%s\" (%s) at depth %d", subject(ca, &info),
				    keyid, i);
	}
	return FAIL(err, "host-ca", "no CA on the host's path to its root is allowed by the grant");
}

static enum kt_rule_outcome rule_region(struct ctx *c, struct kt_err *err)
{
	const struct kt_grant *g = &c->grant;

	if (g->regions.n && !kt_strlist_has(&g->regions, c->host.region))
		return FAIL(err, "region", "host region \"%s\" is not allowed", c->host.region);
	if (g->sites.n && !kt_strlist_has(&g->sites, c->host.site))
		return FAIL(err, "site", "host site \"%s\" is not allowed", c->host.site);
	return pass(err, "region \"%s\"%s, site \"%s\"%s", c->host.region,
		    g->regions.n ? " allowed" : " (no restriction)", c->host.site,
		    g->sites.n ? " allowed" : " (no restriction)");
}

static enum kt_rule_outcome rule_host_list(struct ctx *c, struct kt_err *err)
{
	const struct kt_grant *g = &c->grant;

	if (kt_strlist_has(&g->hosts_deny, c->host.host_uuid))
		return FAIL(err, "deny-list", "host %s is on the grant's deny list", c->host.host_uuid);
	if (g->hosts_allow.n && !kt_strlist_has(&g->hosts_allow, c->host.host_uuid))
		return FAIL(err, "allow-list", "host %s is not on the grant's allow list", c->host.host_uuid);
	return pass(err, "host %s %s", c->host.host_uuid,
		    g->hosts_allow.n ? "on the allow list" : "not denied");
}

static enum kt_rule_outcome rule_window(struct ctx *c, struct kt_err *err)
{
	char a[KT_TIME_ISO_LEN], b[KT_TIME_ISO_LEN], n[KT_TIME_ISO_LEN];

	if (kt_grant_check_window(&c->grant, c->now, err))
		return KT_RULE_FAIL;
	return pass(err, "%s <= now %s < %s", kt_time_iso(c->grant.nbf, a), kt_time_iso(c->now, n),
		    kt_time_iso(c->grant.exp, b));
}

static enum kt_rule_outcome rule_host_compromise(struct ctx *c, struct kt_err *err)
{
	if (c->facts.host_compromised)
		return FAIL(err, "compromised", "host %s is flagged compromised (ledger entry %llu)",
			    c->host.host_uuid, (unsigned long long)c->facts.host_compromised_at);
	return pass(err, "host %s not flagged", c->host.host_uuid);
}

/*
 * score.h decides, thresholds and last result alike: 75 and 50 both need
 * verification, and so does any score after a failed last attestation.
 */
static enum kt_rule_outcome rule_trust_score(struct ctx *c, struct kt_err *err)
{
	int score = c->facts.score;

	if (!c->facts.have_score)
		return FAIL(err, "score", "no trust score: %s", c->facts.score_error);
	c->res->score = score;
	switch (c->facts.decision) {
	case KT_SCORE_ALLOW:
		return pass(err, "trust score %d > %d (%zu ledger steps)", score,
			    KT_SCORE_ALLOW_ABOVE, c->facts.score_steps);
	case KT_SCORE_VERIFY:
		if (score > KT_SCORE_ALLOW_ABOVE)
			pass(err, "trust score %d > %d, but the last attestation (ledger entry %llu) "
			     "failed: a full integrity check must pass first", score,
			     KT_SCORE_ALLOW_ABOVE, (unsigned long long)c->facts.last_attest);
		else
			pass(err, "trust score %d in %d..%d: a full integrity check must pass first",
			     score, KT_SCORE_DENY_BELOW, KT_SCORE_ALLOW_ABOVE);
		return KT_RULE_VERIFY;
	default:
		return FAIL(err, "score", "trust score %d < %d", score, KT_SCORE_DENY_BELOW);
	}
}

/*
 * The VM's identity token, when one is presented: issued by a host under
 * the host CAs for this VM, and revoked neither by its issuing host nor
 * (its signing certificate or a CA above it) by a CA in the ledger. Its
 * audience is the handshake's business: any is taken here.
 */
static enum kt_rule_outcome rule_token(struct ctx *c, struct kt_err *err)
{
	struct kt_token_verify_opts opts = {
		.anchors = c->req->host_anchors,
		.crls = c->req->host_crls ? c->req->host_crls : c->req->host_anchors,
		.now = c->now,
	};
	struct kt_token tok;
	enum kt_rule_outcome ret;

	if (!c->req->token)
		return pass(err, "no token presented");
	if (!c->have_token)
		return FAIL(err, c->token_err.check, "%s", c->token_err.msg);
	opts.audience = c->token.claims.aud;
	if (kt_token_verify(c->req->token, &opts, &tok, err))
		return KT_RULE_FAIL;
	if (strcmp(tok.claims.sub, c->req->vm))
		ret = FAIL(err, "vm", "the token is for VM %s, not %s", tok.claims.sub, c->req->vm);
	else if (c->facts.token_revoked)
		ret = FAIL(err, "revocation", "token %s was revoked by its issuer in ledger entry %llu",
			   tok.claims.jti, (unsigned long long)c->facts.token_revoked_at);
	else if (chain_revoked(c, tok.path, err))
		ret = revocation_outcome(err);
	else
		ret = pass(err, "token %s issued by host %s, not revoked", tok.claims.jti,
			   tok.claims.host);
	kt_token_free(&tok);
	return ret;
}

static const struct {
	const char *name;
	const char *description;
	rule_fn fn;
	unsigned int needs;
} rules[] = {
	{ "grant", "grant signature, owner chain and validity", rule_grant, 0 },
	{ "vm", "grant names the VM", rule_vm, NEED_GRANT },
	{ "owner", "grant signed by the VM's registered owner", rule_owner, NEED_GRANT | NEED_FACTS },
	{ "grant-revoked", "grant not revoked in the ledger", rule_grant_revoked, NEED_GRANT | NEED_FACTS },
	{ "delegate", "administrator is a delegate of the grant", rule_delegate, NEED_GRANT },
	{ "host-cert", "destination certificate chain, validity and revocation", rule_host_cert, 0 },
	{ "host-ca", "destination CA allowed by the grant", rule_host_ca, NEED_GRANT | NEED_HOST_CHAIN },
	{ "region", "destination region and site allowed", rule_region, NEED_GRANT | NEED_HOST },
	{ "host-list", "destination host allow and deny lists", rule_host_list, NEED_GRANT | NEED_HOST },
	{ "window", "current time inside the grant's window", rule_window, NEED_GRANT },
	{ "host-compromise", "destination not flagged compromised", rule_host_compromise, NEED_HOST | NEED_FACTS },
	{ "trust-score", "VM trust score from the ledger", rule_trust_score, NEED_FACTS },
	{ "token", "the VM's token (if given) valid and not revoked", rule_token, NEED_FACTS },
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))
_Static_assert(NRULES <= KT_MIGRATE_MAX_RULES, "result has room for every rule");

static const char *missing(const struct ctx *c, unsigned int needs)
{
	if ((needs & NEED_GRANT) && !c->have_grant)
		return "no parsable grant";
	if ((needs & NEED_HOST) && !c->have_host)
		return "no destination host attributes";
	if ((needs & NEED_HOST_CHAIN) && !c->host_chain)
		return "destination certificate not verified";
	return NULL;
}

static void run_rule(struct ctx *c, size_t i)
{
	struct kt_migrate_rule_result *r = &c->res->rules[i];
	struct kt_err err = { 0 };
	const char *why = missing(c, rules[i].needs);

	r->rule = rules[i].name;
	r->description = rules[i].description;
	if (why) {
		r->outcome = KT_RULE_SKIP;
		snprintf(r->detail, sizeof(r->detail), "skipped: %s", why);
		return;
	}
	if ((rules[i].needs & NEED_FACTS) && !c->have_facts) {
		r->outcome = KT_RULE_ERROR;
		r->check = c->facts_err.check;
		snprintf(r->detail, sizeof(r->detail), "ledger: %s", c->facts_err.msg);
		return;
	}
	r->outcome = rules[i].fn(c, &err);
	if (r->outcome == KT_RULE_FAIL || r->outcome == KT_RULE_ERROR)
		r->check = err.check ? err.check : rules[i].name;
	snprintf(r->detail, sizeof(r->detail), "%s", err.msg);
}

static enum kt_migrate_decision decide(const struct kt_migrate_result *res)
{
	bool error = false, verify = false;
	size_t i;

	for (i = 0; i < res->n_rules; i++) {
		switch (res->rules[i].outcome) {
		case KT_RULE_FAIL:
			return KT_MIGRATE_DENY;
		case KT_RULE_ERROR:
			error = true;
			break;
		case KT_RULE_VERIFY:
			verify = true;
			break;
		case KT_RULE_SKIP:
			/* Only ever follows a failure, which already denies. */
			error = true;
			break;
		case KT_RULE_PASS:
			break;
		}
	}
	if (error)
		return KT_MIGRATE_ERROR;
	return verify ? KT_MIGRATE_ALLOW_VERIFY : KT_MIGRATE_ALLOW;
}

/* A certificate and the chain it came with, as lookup keys (while there is room). */
static void presented_ids(struct ctx *c, X509 *leaf, STACK_OF(X509) *more)
{
	int i;

	if (leaf && c->n_certs < KT_MIGRATE_CERT_IDS &&
	    kt_ledger_cert_id(leaf, c->cert_ids[c->n_certs], NULL, NULL) == 0)
		c->n_certs++;
	for (i = 0; i < sk_X509_num(more) && c->n_certs < KT_MIGRATE_CERT_IDS; i++)
		if (kt_ledger_cert_id(sk_X509_value(more, i), c->cert_ids[c->n_certs], NULL,
				      NULL) == 0)
			c->n_certs++;
}

/*
 * Reads what the ledger rules need in one pass before any rule runs. The
 * grant id and host UUID come from the still unverified documents: they
 * are only lookup keys, the rules decide whether to trust them.
 */
static void gather(struct ctx *c)
{
	struct kt_migrate_keys keys = { 0 };
	struct kt_grant peek;
	struct kt_err ignored;
	const char *grant_id = NULL;

	if (!kt_grant_parse(c->req->grant, &peek, &ignored))
		grant_id = peek.id;
	c->have_host = !kt_pki_cert_info(c->req->host, &c->host, &c->host_error);
	if (c->have_host && (c->host.kind != KT_CERT_HOST || !c->host.host_uuid[0])) {
		kt_fail(&c->host_error, "attributes", "\"%s\" is not a host certificate (no host UUID)",
			c->host.subject);
		c->have_host = false;
	}
	c->have_token = c->req->token && !kt_token_decode(c->req->token, &c->token, &c->token_err);
	presented_ids(c, c->req->host, c->req->host_untrusted);
	if (c->have_token)
		presented_ids(c, NULL, c->token.x5c);
	keys.grant_id = grant_id;
	keys.host_uuid = c->have_host ? c->host.host_uuid : NULL;
	keys.cert_ids = (const char (*)[KT_LEDGER_VM_MAX + 1])c->cert_ids;
	keys.n_certs = c->n_certs;
	if (c->have_token) {
		keys.token_jti = c->token.claims.jti;
		keys.token_host = c->token.claims.host;
	}
	c->have_facts = !kt_migrate_facts_read(c->req->ledger, c->req->vm, &keys, c->now,
					       &c->facts, &c->facts_err);
	if (grant_id) {
		snprintf(c->res->grant_id, sizeof(c->res->grant_id), "%s", grant_id);
		kt_grant_free(&peek);
	}
	if (c->have_host)
		snprintf(c->res->host_uuid, sizeof(c->res->host_uuid), "%s", c->host.host_uuid);
}

int kt_migrate_check(const struct kt_migrate_request *req, struct kt_migrate_result *res,
		     struct kt_err *err)
{
	struct ctx c = { .req = req, .res = res };
	size_t i;

	memset(res, 0, sizeof(*res));
	res->score = -1;
	if (!req->vm || !req->grant || !req->host || !req->owner_anchors || !req->host_anchors)
		return kt_fail(err, "order",
			       "a migration check needs the VM, the grant, the host certificate and both trust anchor sets");
	c.now = req->now ? req->now : time(NULL);
	gather(&c);
	for (i = 0; i < NRULES; i++)
		run_rule(&c, i);
	res->n_rules = NRULES;
	res->decision = decide(res);
	kt_grant_free(&c.grant);
	if (c.have_token)
		kt_token_free(&c.token);
	sk_X509_pop_free(c.host_chain, X509_free);
	X509_free(c.order_signer);
	return 0;
}

const struct kt_migrate_rule_result *kt_migrate_first_failure(const struct kt_migrate_result *r)
{
	size_t i;

	for (i = 0; i < r->n_rules; i++)
		if (r->rules[i].outcome == KT_RULE_FAIL)
			return &r->rules[i];
	return NULL;
}

const char *kt_migrate_decision_name(enum kt_migrate_decision d)
{
	switch (d) {
	case KT_MIGRATE_ALLOW:
		return "allow";
	case KT_MIGRATE_ALLOW_VERIFY:
		return "allow-after-full-verification";
	case KT_MIGRATE_DENY:
		return "deny";
	default:
		return "error";
	}
}

const char *kt_rule_outcome_name(enum kt_rule_outcome o)
{
	static const char *const names[] = {
		[KT_RULE_PASS] = "pass", [KT_RULE_VERIFY] = "verify", [KT_RULE_FAIL] = "fail",
		[KT_RULE_SKIP] = "skip", [KT_RULE_ERROR] = "error",
	};

	return (unsigned int)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}
