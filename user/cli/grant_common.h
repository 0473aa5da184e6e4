/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What `kvmtrust grant` and `kvmtrust migrate` share: the ledger and the
 * trust anchor directories, and the environment that supplies their
 * defaults (kvmtrust-grant(8)).
 */
#ifndef KVMTRUST_GRANT_COMMON_H
#define KVMTRUST_GRANT_COMMON_H

#include <stdbool.h>

#include "common/error.h"
#include "ledger/ledger.h"

struct kt_ledger;
struct kt_ledger_auth;

struct grant_cli_ledger {
	struct kt_ledger_auth *auth;
	struct kt_ledger *log;
};

#define KT_OWNER_ANCHORS_ENV "KVMTRUST_OWNER_ANCHORS"
#define KT_OWNER_ANCHORS_DEFAULT "/etc/kvmtrust/owner-anchors"
#define KT_HOST_ANCHORS_ENV "KVMTRUST_HOST_ANCHORS"
#define KT_HOST_ANCHORS_DEFAULT "/etc/kvmtrust/host-anchors"
/* The ledger's own variables (kvmtrust-ledger(8)): one configuration for both. */
#define KT_LEDGER_CA_ENV "KVMTRUST_LEDGER_CA"
#define KT_LEDGER_KEY_ENV "KVMTRUST_LEDGER_KEY"
#define KT_LEDGER_CERT_ENV "KVMTRUST_LEDGER_CERT"

/*
 * The anchor and ledger options of grant verify and migrate check, for
 * their getopt_long tables (values above the callers' own O_* numbers).
 */
struct grant_cli_trust_opts {
	const char *owner_anchors, *owner_crls, *host_anchors, *ledger, *ledger_ca;
};

enum { GRANT_O_OWNER_ANCHORS = 0x1000, GRANT_O_OWNER_CRLS, GRANT_O_HOST_ANCHORS,
       GRANT_O_LEDGER, GRANT_O_LEDGER_CA };

#define GRANT_CLI_TRUST_OPTIONS							\
	{ "owner-anchors", required_argument, NULL, GRANT_O_OWNER_ANCHORS },	\
	{ "owner-crls", required_argument, NULL, GRANT_O_OWNER_CRLS },		\
	{ "host-anchors", required_argument, NULL, GRANT_O_HOST_ANCHORS },	\
	{ "ledger", required_argument, NULL, GRANT_O_LEDGER },			\
	{ "ledger-ca", required_argument, NULL, GRANT_O_LEDGER_CA }

/* Stores the value of one of GRANT_CLI_TRUST_OPTIONS; false for other options. */
bool grant_cli_trust_option(int opt, const char *arg, struct grant_cli_trust_opts *t);

/*
 * Writes text and a newline to output (NULL or "-": standard output) with
 * cli_write_line(); on failure prints "Error: cannot write <what>: ..."
 * and returns -1.
 */
int grant_cli_write(const char *output, const char *text, const char *what);

/* Value of an option, else of the environment variable, else the default. */
const char *grant_cli_path(const char *option, const char *env, const char *fallback);

/*
 * Opens the ledger (spec NULL: $KVMTRUST_LEDGER, then the default) in
 * mode, with its CA (ca NULL: $KVMTRUST_LEDGER_CA) and the owner anchors
 * that check register entries (owners NULL: $KVMTRUST_OWNER_ANCHORS, then
 * the default), which reading a verified log needs.
 */
int grant_cli_ledger_open(const char *spec, const char *ca, const char *owners,
			  enum kt_ledger_mode mode, struct grant_cli_ledger *l, struct kt_err *err);
void grant_cli_ledger_close(struct grant_cli_ledger *l);

#endif
