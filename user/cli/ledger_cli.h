/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What 'kvmtrust ledger' and 'kvmtrust score' share: the options naming
 * the ledger, its CA, the owner anchors, the signer and the output form,
 * their environment defaults, errors and exit codes, VM and time values.
 */
#ifndef KVMTRUST_LEDGER_CLI_H
#define KVMTRUST_LEDGER_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/x509.h>

#include "cli_util.h"
#include "common/error.h"
#include "common/uuid.h"
#include "exitcodes.h"
#include "ledger/ledger.h"
#include "ledger/ledger_auth.h"
#include "print.h"

struct ledger_opts {
	const char *spec, *ca, *owners;	/* NULL: the environment, then the defaults */
	const char *key, *cert;		/* as given on the command line */
	enum kt_print_mode mode;
	struct kt_ledger_auth *auth;
	struct kt_ledger *log;
};

/* Option values above every command's own O_* numbers. */
enum { LEDGER_O_LEDGER = 0x2000, LEDGER_O_CA, LEDGER_O_OWNERS, LEDGER_O_KEY, LEDGER_O_CERT };

/* Naming the ledger and how to trust it, and the output form: every command. */
#define LEDGER_CLI_OPTIONS							\
	{ "ledger", required_argument, NULL, LEDGER_O_LEDGER },			\
	{ "ledger-ca", required_argument, NULL, LEDGER_O_CA },			\
	{ "owner-anchors", required_argument, NULL, LEDGER_O_OWNERS },		\
	CLI_OUTPUT_OPTIONS,							\
	{ "help", no_argument, NULL, 'h' }
/* The signer's key and certificate: commands that append. */
#define LEDGER_CLI_SIGNER_OPTIONS						\
	{ "key", required_argument, NULL, LEDGER_O_KEY },			\
	{ "cert", required_argument, NULL, LEDGER_O_CERT }

/* Stores one of the options above; false for any other. */
bool ledger_opt(struct ledger_opts *o, int opt, const char *arg);

/*
 * Opens the ledger in mode (kt_ledger_open()), with its CA and the owner
 * anchors when need_ca (or when --ledger-ca was given), and starts the
 * output. Returns 0 or the exit code of the error it printed.
 */
int ledger_opts_open(struct ledger_opts *o, enum kt_ledger_mode mode, bool need_ca);
void ledger_opts_close(struct ledger_opts *o);

/*
 * One run of a VM's entries on one host, in a "hosts" array: the host, the
 * times of its first and last entry and their indexes (ledger provenance,
 * evidence verify).
 */
void ledger_print_run(const uint8_t host[KT_UUID_LEN], uint64_t from, uint64_t to,
		      uint64_t first_index, uint64_t last_index);

/* Prints the error (cli_error()) with the exit code its failed check maps to. */
int ledger_error(const struct kt_err *err);

/* --vm: a UUID in either case, kept lowercase; prints the usage error (exit 2). */
int ledger_parse_vm(const char *group, const char *arg, char out[KT_UUID_STR_LEN + 1]);
/* --time, --at: cli_parse_time() forms, after the epoch; usage error as above. */
int ledger_parse_time(const char *group, const char *option, const char *arg, uint64_t *out);

/*
 * A state file holds "SIZE ROOT-HEX\n": a log state accepted before, which
 * the log must extend (kt_ledger_pin). A missing file is no state. Written
 * atomically after a walk succeeded.
 */
int ledger_state_read(const char *path, struct kt_ledger *log);
int ledger_state_write(const char *path, uint64_t size, const kt_hash root);

/* --checkpoint FILE and --full: the commands that fold the log (score, migrate check). */
struct ledger_checkpoint_opts {
	const char *path;	/* NULL: kt_checkpoint_default_path() */
	bool full;
};

enum { LEDGER_O_CHECKPOINT = 0x2100, LEDGER_O_FULL };

#define LEDGER_CLI_CHECKPOINT_OPTIONS						\
	{ "checkpoint", required_argument, NULL, LEDGER_O_CHECKPOINT },		\
	{ "full", no_argument, NULL, LEDGER_O_FULL }
#define LEDGER_CHECKPOINT_USAGE "[--checkpoint FILE | --full]"

bool ledger_checkpoint_option(struct ledger_checkpoint_opts *c, int opt, const char *arg);
/* kt_ledger_checkpoint_use(): a checkpoint that fails its checks is an error. */
int ledger_checkpoint_use(struct kt_ledger *log, const struct ledger_checkpoint_opts *c,
			  struct kt_err *err);
/* After a good walk: writes the new checkpoint; a failure is only a warning. */
void ledger_checkpoint_save(struct kt_ledger *log);

/*
 * Revocations through the ledger for the commands that verify tokens
 * (token verify, handshake): --ledger SPEC names it, --ledger-ca (else
 * $KVMTRUST_LEDGER_CA) its writers' CA, $KVMTRUST_OWNER_ANCHORS (else the
 * default) the owners of its register entries. Named, it is consulted for every
 * token, and a ledger that cannot be opened, read or verified refuses the
 * token (fail closed); not named, nothing is asked.
 */
struct ledger_revocations {
	struct kt_ledger_auth *auth;
	struct kt_ledger *log;
};

int ledger_revocations_open(const char *spec, const char *ca, struct ledger_revocations *r,
			    struct kt_err *err);
/* For kt_token_verify_opts.revoked, with arg a struct ledger_revocations. */
struct kt_token;
int ledger_token_revoked(void *arg, const struct kt_token *tok, struct kt_err *err);
/*
 * Certificates: 0 when the ledger revokes none of chain (leaf first, as
 * verified); else check "revocation" naming the certificate, `what` saying
 * whose it is ("the peer's", ...). ledger_token_revoked() runs it on the
 * token's verified path too.
 */
int ledger_cert_revoked(void *arg, STACK_OF(X509) *chain, const char *what, struct kt_err *err);
void ledger_revocations_close(struct ledger_revocations *r);

/*
 * Appends e signed by key and cert (PEM files) to the ledger spec, whose
 * writers' CA is ca (else $KVMTRUST_LEDGER_CA): e gets the stored entry.
 */
int ledger_publish(const char *spec, const char *ca, const char *key, const char *cert,
		   struct kt_ledger_entry *e, struct kt_err *err);

/*
 * Revokes the token jti through the ledger (revocation.h): a revoke entry
 * "token:<jti>" signed by key and cert, which must be the token's issuing
 * host's credential for the entry to count; reason (may be NULL, at most
 * KT_LEDGER_DETAIL_MAX bytes) its detail, report (may be NULL) the digest
 * of the report it rests on. *index (may be NULL): the entry. Used by
 * `token revoke --ledger` and `migrate start` once the guest moved.
 */
int ledger_revoke_token(const char *spec, const char *ca, const char *key, const char *cert,
			const char *jti, const char *reason, const kt_hash report, uint64_t *index,
			struct kt_err *err);

#endif
