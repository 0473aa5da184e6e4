// SPDX-License-Identifier: GPL-2.0
/* Token revocations in the ledger (revocation.h). */
#include <stdio.h>
#include <string.h>

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

struct search {
	char id[KT_LEDGER_VM_MAX + 1];
	uint8_t host[KT_UUID_LEN];
	uint64_t index;
	int found;
};

static int look(const struct kt_ledger_entry *e, void *arg)
{
	struct search *s = arg;

	if (!s->found && e->kind == KT_LEDGER_REVOKE && !strcmp(e->vm_id, s->id) &&
	    !memcmp(e->signer_id, s->host, KT_UUID_LEN)) {
		s->found = 1;
		s->index = e->index;
	}
	return 0;
}

int kt_ledger_token_revoked(struct kt_ledger *log, const char *jti, const char *issuer_host,
			    uint64_t *index, struct kt_err *err)
{
	struct kt_ledger_entry e;
	struct search s = { 0 };

	/* A jti no entry can name was not revoked here. */
	if (kt_ledger_token_revoke_entry(jti, &e, NULL))
		return 0;
	memcpy(s.id, e.vm_id, sizeof(s.id));
	if (kt_uuid_parse(issuer_host, s.host))
		return kt_fail(err, "revocation", "the token names no issuing host");
	if (kt_ledger_for_each(log, look, &s, err))
		return -1;
	if (s.found && index)
		*index = s.index;
	return s.found;
}
