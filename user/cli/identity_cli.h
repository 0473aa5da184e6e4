/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the identity command groups (ca, token, handshake):
 * time arguments, error reporting and their exit codes.
 */
#ifndef KVMTRUST_IDENTITY_CLI_H
#define KVMTRUST_IDENTITY_CLI_H

#include <stdbool.h>
#include <time.h>

#include "error.h"
#include "keystore.h"
#include "print.h"
#include "cli_util.h"

/* The largest token file read. */
#define KT_CLI_TOKEN_MAX (1024 * 1024)

/*
 * Parses a time: "now", "now+90d", "now-1h", "@1700000000" (Unix seconds)
 * or "2026-01-31T12:00:00Z". Units s, m, h, d. Returns -1 if invalid.
 */
int kt_cli_time(const char *arg, time_t *out);

/* Parses a non-negative integer with an upper bound; -1 if invalid. */
int kt_cli_uint(const char *arg, unsigned long max, unsigned long *out);

/* Prints "Error: <what>: <check>: <message>" and returns the exit code for it. */
int kt_cli_error(const char *what, const struct kt_err *err);

/*
 * The keystore secret from --keyfile, --passphrase-file or --tpm (exactly
 * one; the passphrase is the first line of a private file). *secret holds
 * the passphrase copy for kt_cli_drop_secret().
 */
int kt_cli_unlock(const char *keyfile, const char *passfile, const char *tpm,
		  struct kt_keystore_unlock *u, char **secret, struct kt_err *err);
void kt_cli_drop_secret(char **secret);

#endif
