// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/encoding.h"
#include "grant_common.h"
#include "ledger/ledger.h"
#include "policy/grant_ledger.h"
#include "migrate_cli.h"

static int append(struct kt_ledger *log, const struct kt_ledger_signer *s, uint8_t kind,
		  uint8_t result, const char *vm, const uint8_t host[KT_UUID_LEN],
		  const kt_hash measurement, const kt_hash report, const char *detail,
		  struct kt_err *err)
{
	struct kt_ledger_entry e = { .kind = kind, .result = result, .time = (uint64_t)time(NULL) };
	kt_hash leaf;

	memcpy(e.host_id, host, KT_UUID_LEN);
	if (measurement)
		memcpy(e.measurement, measurement, sizeof(e.measurement));
	if (report)
		memcpy(e.report, report, sizeof(e.report));
	if (detail)
		snprintf(e.detail, sizeof(e.detail), "%s", detail);
	strcpy(e.vm_id, vm);
	return kt_ledger_append(log, s, &e, leaf, err);
}

int migrate_ledger_record(const struct migrate_ledger *l, const char *vm, const char *host,
			  const char *memory_root, const kt_hash report, const char *failed,
			  const char *grant_id, struct kt_err *err)
{
	char allowed_by[sizeof(KT_GRANT_REVOKE_PREFIX) + KT_UUID_STR_LEN];
	struct kt_ledger_signer signer = { 0 };
	struct grant_cli_ledger ledger = { 0 };
	uint8_t host_id[KT_UUID_LEN];
	kt_hash root;
	int ret = -1;

	if (kt_uuid_parse(host, host_id) || kt_hex_decode(memory_root, root, sizeof(root)))
		return kt_fail(err, "ledger", "bad host UUID or memory root to record");
	/* A move rests on a grant: without its id provenance could not name it. */
	if (!failed && (!grant_id || !kt_uuid_valid(grant_id)))
		return kt_fail(err, "ledger", "no grant id to record the move by");
	if (!failed)
		snprintf(allowed_by, sizeof(allowed_by), "%s%s", KT_GRANT_REVOKE_PREFIX, grant_id);
	if (kt_ledger_signer_load(l->key, l->cert, &signer, err) ||
	    grant_cli_ledger_open(l->spec, l->ca, l->owners, KT_LEDGER_WRITE, &ledger, err))
		goto out;
	ret = append(ledger.log, &signer, KT_LEDGER_ATTEST, failed ? KT_LEDGER_FAIL : KT_LEDGER_PASS,
		     vm, host_id, root, report, failed, err);
	if (!ret && !failed)
		ret = append(ledger.log, &signer, KT_LEDGER_MOVE, KT_LEDGER_NONE, vm, host_id, NULL,
			     report, allowed_by, err);
out:
	grant_cli_ledger_close(&ledger);
	kt_ledger_signer_free(&signer);
	return ret;
}
