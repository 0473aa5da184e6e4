/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kvmtrust rollback shares with the verifier loop (verify --against
 * --rollback): restoring a guest, and recording it in the ledger.
 */
#ifndef KVMTRUST_ROLLBACK_CLI_H
#define KVMTRUST_ROLLBACK_CLI_H

#include <stdint.h>

#include "attest_cli.h"
#include "common/error.h"
#include "common/merkle.h"
#include "print.h"
#include "snapshot/snapshot.h"
#include "vm_ref.h"

/* Where and as whom a rollback is recorded; spec NULL: not recorded. */
struct rollback_ledger {
	const char *spec, *ca, *owners;
	const char *key, *cert;		/* this host's credential */
};

struct rollback_args {
	struct vm_ref ref;
	const char *to, *qmp, *store, *log;
	struct rollback_ledger ledger;
	struct attest_policy_args policy;
	enum kt_print_mode mode;
};

/* kvmtrust rollback: verify the snapshot, restore, prove, continue. */
int rollback_run(struct rollback_args *a);

/*
 * kvmtrust verify --pid PID --against SNAP: the snapshot verified, the guest
 * paused, measured and compared with it (the differing page ranges named),
 * resumed; "verified" or refused. With rollback, a refused comparison is
 * followed by rollback_run().
 */
int rollback_against(struct rollback_args *a, bool rollback);

/* Appends the KT_LEDGER_ROLLBACK entry; its index in *index. */
int rollback_ledger_record(const struct rollback_ledger *l, const char *store,
			   const struct kt_snapshot *s, const kt_hash memory_root,
			   uint64_t *index, struct kt_err *err);

#endif
