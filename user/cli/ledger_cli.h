/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What 'kvmtrust ledger' and 'kvmtrust score' share: the options naming
 * the ledger, its CA and the output form, and the exit codes of their
 * verdicts (beyond exitcodes.h).
 */
#ifndef KVMTRUST_LEDGER_CLI_H
#define KVMTRUST_LEDGER_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli_util.h"
#include "common/error.h"
#include "exitcodes.h"
#include "ledger/ledger.h"
#include "ledger/ledger_auth.h"
#include "print.h"

struct ledger_opts {
	const char *spec, *ca, *key, *cert;
	enum kt_print_mode mode;
	struct kt_ledger_auth *auth;
	struct kt_ledger *log;
};

/*
 * Parses the options before the command word; returns the index of the
 * command word, or -1 after printing usage (exit code in *status).
 */
int ledger_opts_parse(int argc, char *argv[], struct ledger_opts *o,
		      void (*usage)(FILE *), int *status);
/* Opens the ledger, with its CA when need_ca (or when --ca was given). */
int ledger_opts_open(struct ledger_opts *o, int need_ca);
void ledger_opts_close(struct ledger_opts *o);

/* Prints the error (cli_error()) with the exit code its failed check maps to. */
int ledger_error(const struct kt_err *err);

/*
 * A state file holds "SIZE ROOT-HEX\n": a log state accepted before. Read:
 * pin it (the log must extend it) or, when `verified`, also skip the
 * signature checks below it (kt_ledger_trust_prefix). A missing file is
 * no state. Written atomically after a walk succeeded.
 */
int ledger_state_read(const char *path, struct kt_ledger *log, bool verified);
int ledger_state_write(const char *path, uint64_t size, const kt_hash root);

#endif
