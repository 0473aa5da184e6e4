// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "grant_common.h"
#include "ledger/ledger.h"
#include "ledger/ledger_auth.h"

const char *grant_cli_path(const char *option, const char *env, const char *fallback)
{
	const char *value = getenv(env);

	if (option)
		return option;
	return value && *value ? value : fallback;
}

bool grant_cli_trust_option(int opt, const char *arg, struct grant_cli_trust_opts *t)
{
	switch (opt) {
	case GRANT_O_OWNER_ANCHORS: t->owner_anchors = arg; return true;
	case GRANT_O_OWNER_CRLS: t->owner_crls = arg; return true;
	case GRANT_O_HOST_ANCHORS: t->host_anchors = arg; return true;
	case GRANT_O_LEDGER: t->ledger = arg; return true;
	case GRANT_O_LEDGER_CA: t->ledger_ca = arg; return true;
	default: return false;
	}
}

int grant_cli_write(const char *output, const char *text, const char *what)
{
	struct kt_err err = { 0 };
	char label[64];

	if (!cli_write_line(output ? output : "-", text, &err))
		return 0;
	snprintf(label, sizeof(label), "cannot write %s", what);
	cli_error(label, &err, KT_EXIT_FAILURE);
	return -1;
}

int grant_cli_ledger_open(const char *spec, const char *ca, const char *owners,
			  enum kt_ledger_mode mode, struct grant_cli_ledger *l, struct kt_err *err)
{
	memset(l, 0, sizeof(*l));
	if (kt_ledger_auth_load(grant_cli_path(ca, KT_LEDGER_CA_ENV, NULL),
				grant_cli_path(owners, KT_OWNER_ANCHORS_ENV, KT_OWNER_ANCHORS_DEFAULT),
				&l->auth, err))
		return -1;
	if (kt_ledger_open(spec, l->auth, mode, &l->log, err)) {
		grant_cli_ledger_close(l);
		return -1;
	}
	return 0;
}

void grant_cli_ledger_close(struct grant_cli_ledger *l)
{
	kt_ledger_close(l->log);
	kt_ledger_auth_free(l->auth);
	memset(l, 0, sizeof(*l));
}
