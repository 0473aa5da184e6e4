/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kvmtrust rollback shares with the verifier loop (verify --against
 * --rollback): restoring a guest, and recording it in the ledger.
 */
#ifndef KVMTRUST_ROLLBACK_CLI_H
#define KVMTRUST_ROLLBACK_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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

/* The restore options rollback and verify --against share, ids from 0x3000. */
enum {
	ROLLBACK_O_QMP = 0x3000, ROLLBACK_O_STORE, ROLLBACK_O_LOG, ROLLBACK_O_LEDGER,
	ROLLBACK_O_LEDGER_CA, ROLLBACK_O_KEY, ROLLBACK_O_CERT,
};
#define ROLLBACK_OPTIONS						\
	{ "qmp", required_argument, NULL, ROLLBACK_O_QMP },		\
	{ "store", required_argument, NULL, ROLLBACK_O_STORE },	\
	{ "log", required_argument, NULL, ROLLBACK_O_LOG },		\
	{ "ledger", required_argument, NULL, ROLLBACK_O_LEDGER },	\
	{ "ledger-ca", required_argument, NULL, ROLLBACK_O_LEDGER_CA },	\
	{ "key", required_argument, NULL, ROLLBACK_O_KEY },		\
	{ "cert", required_argument, NULL, ROLLBACK_O_CERT }

/* Stores one of ROLLBACK_OPTIONS: true; false for any other option. */
bool rollback_option(struct rollback_args *a, int opt, const char *arg);

/*
 * After parsing: --ledger needs --key and --cert (KT_EXIT_USAGE, said with
 * group's usage), which must exist; then KT_EXIT_OK.
 */
int rollback_ledger_ready(struct rollback_args *a, const char *group, void (*usage)(FILE *));

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
