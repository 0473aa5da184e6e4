// SPDX-License-Identifier: GPL-2.0
/*
 * The ledger entry of a rollback (KT_LEDGER_ROLLBACK, entry format 3): the
 * VM, this host (from the signing certificate), the proven memory_root, the
 * snapshot id as detail and the digest of the snapshot's report.
 */
#include <stdlib.h>
#include <string.h>

#include "grant_common.h"
#include "identity/pki.h"
#include "ledger/ledger.h"
#include "rollback_cli.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_restore.h"

int rollback_ledger_record(const struct rollback_ledger *l, const char *store,
			   const struct kt_snapshot *s, const kt_hash memory_root,
			   uint64_t *index, struct kt_err *err)
{
	struct kt_ledger_signer signer = { 0 };
	struct grant_cli_ledger ledger = { 0 };
	struct kt_ledger_entry e;
	struct kt_cred host = { 0 };
	struct kt_cert_info me;
	kt_hash leaf, digest;
	int ret = -1;

	if (kt_cred_load_files(l->key, l->cert, &host, err) ||
	    kt_pki_cert_info(host.cert, &me, err))
		goto out;
	if (kt_snap_report_digest(store, s->id, digest, err))
		goto out;
	if (kt_ledger_rollback_entry(&e, s->vm_id, s->id, memory_root, digest)) {
		kt_fail(err, "ledger", "snapshot id '%s' does not fit a ledger entry", s->id);
		goto out;
	}
	if (!me.host_uuid[0] || kt_uuid_parse(me.host_uuid, e.host_id)) {
		kt_fail(err, "ledger", "the certificate names no host UUID");
		goto out;
	}
	if (kt_ledger_signer_load(l->key, l->cert, &signer, err) ||
	    grant_cli_ledger_open(l->spec, l->ca, l->owners, KT_LEDGER_WRITE, &ledger, err))
		goto out;
	ret = kt_ledger_append(ledger.log, &signer, &e, leaf, err);
	if (!ret)
		*index = e.index;
out:
	grant_cli_ledger_close(&ledger);
	kt_ledger_signer_free(&signer);
	kt_cred_free(&host);
	return ret;
}
