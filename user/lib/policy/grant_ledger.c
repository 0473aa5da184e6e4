// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include "identity/pki.h"
#include "ledger/ledger.h"
#include "ledger/revocation.h"
#include "ledger/score.h"
#include "policy/grant.h"
#include "policy/grant_ledger.h"

struct scan {
	struct kt_migrate_facts *facts;
	struct kt_score *score;
	const char *vm;
	uint64_t now;
	char grant_subject[sizeof(KT_GRANT_REVOKE_PREFIX) + KT_LEDGER_VM_MAX];
	bool have_grant, have_host;
	uint8_t host[KT_UUID_LEN];
	const char (*cert_ids)[KT_LEDGER_VM_MAX + 1];
	size_t n_certs;
	struct kt_ledger_token_key token;
	bool have_token;
};

/* A revoke entry naming one of the certificates asked about. */
static void note_cert(struct scan *s, const struct kt_ledger_entry *e)
{
	struct kt_migrate_facts *f = s->facts;
	size_t i;

	for (i = 0; i < s->n_certs; i++)
		if (s->cert_ids[i][0] && !f->cert_revoked[i] && !strcmp(e->vm_id, s->cert_ids[i])) {
			f->cert_revoked[i] = true;
			f->cert_revoked_at[i] = e->index;
		}
}

static int visit(const struct kt_ledger_entry *e, void *arg)
{
	struct scan *s = arg;
	struct kt_migrate_facts *f = s->facts;

	f->entries++;
	/* As for scores: what the log says at `now`, nothing dated later. */
	if (e->time <= s->now && e->kind == KT_LEDGER_REVOKE) {
		if (s->have_grant && !f->grant_revoked && !strcmp(e->vm_id, s->grant_subject)) {
			f->grant_revoked = true;
			f->grant_revoked_at = e->index;
		}
		if (s->have_host && !f->host_revoked && !e->vm_id[0] &&
		    !memcmp(e->host_id, s->host, KT_UUID_LEN)) {
			f->host_revoked = true;
			f->host_revoked_at = e->index;
		}
		note_cert(s, e);
		if (s->have_token && !f->token_revoked && kt_ledger_revokes_token(e, &s->token)) {
			f->token_revoked = true;
			f->token_revoked_at = e->index;
		}
	}
	/* Ownership is not dated: whoever registered first owns the VM, then and now. */
	if (kt_owner_feed(&f->owner, s->vm, e))
		return -1;
	return kt_score_feed(s->score, e);
}

static void finish_score(struct scan *s)
{
	struct kt_migrate_facts *f = s->facts;
	struct kt_score_result res;
	struct kt_err err = { 0 };

	if (s->have_host)
		f->host_compromised = kt_score_host_compromised(s->score, s->host,
								&f->host_compromised_at);
	if (kt_score_finish(s->score, &res, &err)) {
		snprintf(f->score_error, sizeof(f->score_error), "%s", err.msg);
		return;
	}
	f->have_score = true;
	f->score = res.score;
	f->decision = res.decision;
	f->last_attest = res.last_attest;
	f->score_steps = res.nsteps;
	kt_score_result_free(&res);
}

int kt_migrate_facts_read(struct kt_ledger *log, const char *vm,
			  const struct kt_migrate_keys *keys, time_t now,
			  struct kt_migrate_facts *facts, struct kt_err *err)
{
	static const struct kt_migrate_keys none;
	struct scan s = { .facts = facts, .vm = vm, .now = (uint64_t)now };
	const char *grant_id, *host_uuid;
	int ret;

	keys = keys ? keys : &none;
	grant_id = keys->grant_id;
	host_uuid = keys->host_uuid;
	s.cert_ids = keys->cert_ids;
	s.n_certs = keys->n_certs < KT_MIGRATE_CERT_IDS ? keys->n_certs : KT_MIGRATE_CERT_IDS;
	s.have_token = keys->token_jti && keys->token_host &&
		       !kt_ledger_token_key(keys->token_jti, keys->token_host, &s.token);
	memset(facts, 0, sizeof(*facts));
	if (!log)
		return kt_fail(err, "ledger", "no ledger to read revocations, flags and scores from");
	if (grant_id) {
		snprintf(s.grant_subject, sizeof(s.grant_subject), "%s%s", KT_GRANT_REVOKE_PREFIX,
			 grant_id);
		s.have_grant = true;
	}
	s.have_host = host_uuid && !kt_uuid_parse(host_uuid, s.host);
	s.score = kt_score_new(vm, (uint64_t)now);
	if (!s.score)
		return kt_fail(err, "ledger", "out of memory");
	ret = kt_ledger_for_each(log, visit, &s, err);
	if (!ret)
		finish_score(&s);
	kt_score_free(s.score);
	return ret;
}

int kt_grant_check_owner(const struct kt_grant *g, const char *vm,
			 const struct kt_migrate_facts *f, struct kt_err *err)
{
	X509 *signer = sk_X509_value(g->chain, 0);
	char key[KT_OWNER_KEY_HEX + 1];
	struct kt_cert_info info;

	if (!f->owner.registered)
		return kt_fail(err, "owner", "VM %s has no registered owner in the ledger: its owner "
			       "registers it first ('kvmtrust ledger register')", vm);
	if (!signer || kt_owner_key_id(X509_get0_pubkey(signer), key) ||
	    kt_pki_cert_info(signer, &info, NULL))
		return kt_fail(err, "owner", "cannot read the grant's signer certificate");
	if (strcmp(key, f->owner.key))
		return kt_fail(err, "owner", "grant %s is signed by \"%s\", but VM %s is registered to "
			       "\"%s\" (ledger entry %llu)", g->id, info.subject, vm,
			       f->owner.subject, (unsigned long long)f->owner.index);
	return 0;
}

int kt_grant_ledger_revoke(struct kt_ledger *log, const struct kt_ledger_signer *signer,
			   const char *grant_id, time_t now, uint64_t *index,
			   struct kt_err *err)
{
	struct kt_ledger_entry e = { .kind = KT_LEDGER_REVOKE, .time = (uint64_t)now };
	kt_hash leaf;

	snprintf(e.vm_id, sizeof(e.vm_id), "%s%s", KT_GRANT_REVOKE_PREFIX, grant_id);
	if (kt_ledger_append(log, signer, &e, leaf, err))
		return -1;
	*index = e.index;
	return 0;
}
