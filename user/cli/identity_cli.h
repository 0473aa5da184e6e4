/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the identity command groups (ca, token, handshake):
 * the exit codes of their errors and unlocking the keystore.
 */
#ifndef KVMTRUST_IDENTITY_CLI_H
#define KVMTRUST_IDENTITY_CLI_H

#include <stdbool.h>

#include "cli_util.h"
#include "common/error.h"
#include "identity/keystore.h"
#include "print.h"

/* The largest token file read. */
#define KT_CLI_TOKEN_MAX (1024 * 1024)

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
