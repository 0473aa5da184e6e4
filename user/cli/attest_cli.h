/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the attestation command groups (tpm, attest, verify, config,
 * launch): the report-verification options, writing a report and loading
 * a launch configuration.
 */
#ifndef KVMTRUST_ATTEST_CLI_H
#define KVMTRUST_ATTEST_CLI_H

#include <stdbool.h>

#include "attest/config_tree.h"
#include "attest/report.h"
#include "cli_util.h"
#include "common/error.h"
#include "exitcodes.h"
#include "identity/jws.h"

/* Long options every verifying command accepts, ids from ATTEST_OPT_BASE. */
enum {
	ATTEST_OPT_BASE = 512,
	ATTEST_OPT_PUBKEY = ATTEST_OPT_BASE,
	ATTEST_OPT_ANCHORS,
	ATTEST_OPT_CRLS,
	ATTEST_OPT_NONCE,
	ATTEST_OPT_MAX_AGE,
	ATTEST_OPT_LAST_SEEN,
	ATTEST_OPT_REQUIRE_TPM,
	ATTEST_OPT_EXPECT_MEMORY,
	ATTEST_OPT_EXPECT_VCPU,
	ATTEST_OPT_EXPECT_CONFIG,
	ATTEST_OPT_END,
};

#define ATTEST_POLICY_OPTIONS						\
	{ "pubkey", required_argument, NULL, ATTEST_OPT_PUBKEY },	\
	{ "anchors", required_argument, NULL, ATTEST_OPT_ANCHORS },	\
	{ "crls", required_argument, NULL, ATTEST_OPT_CRLS },		\
	{ "nonce", required_argument, NULL, ATTEST_OPT_NONCE },		\
	{ "max-age", required_argument, NULL, ATTEST_OPT_MAX_AGE },	\
	{ "last-seen", required_argument, NULL, ATTEST_OPT_LAST_SEEN },	\
	{ "require-tpm", no_argument, NULL, ATTEST_OPT_REQUIRE_TPM },	\
	{ "expect-memory-root", required_argument, NULL, ATTEST_OPT_EXPECT_MEMORY }, \
	{ "expect-vcpu-root", required_argument, NULL, ATTEST_OPT_EXPECT_VCPU }, \
	{ "expect-config-root", required_argument, NULL, ATTEST_OPT_EXPECT_CONFIG }

#define ATTEST_POLICY_USAGE						\
	"  --pubkey PEM          the host's public key (from 'kvmtrust tpm pubkey')\n" \
	"  --anchors FILE|DIR    trust anchors the report's x5c must chain to\n" \
	"  --crls DIR            CRLs of every CA in the chain\n"		\
	"  --nonce N             the challenge the report must answer\n"	\
	"  --max-age SECONDS     freshness window (default 300, -1: off)\n"	\
	"  --last-seen FILE      refuse reports not newer than the last accepted\n" \
	"  --require-tpm         refuse reports signed by a software key\n"	\
	"  --expect-memory-root H, --expect-vcpu-root H, --expect-config-root H\n"

struct attest_policy_args {
	struct kt_report_policy policy;
	const char *key_file;
};

/* Handles one ATTEST_OPT_* option; returns -1 on a bad value. */
int attest_policy_option(struct attest_policy_args *a, int opt, const char *arg);
/* Loads the key file; an exit status (message printed) on failure, else 0. */
int attest_policy_ready(struct attest_policy_args *a);
void attest_policy_free(struct attest_policy_args *a);

/*
 * Prints "<prog>: unable to <what>: <message>" for a host-key failure and
 * returns its status: KT_EXIT_UNAVAILABLE when the TPM cannot be reached,
 * KT_EXIT_NOT_FOUND when there is no key yet, KT_EXIT_FAILURE otherwise.
 */
int attest_hostkey_error(const char *what, const struct kt_err *err);

/* The largest report file read: a compact JWS and a line end. */
#define ATTEST_REPORT_MAX (KT_JWS_MAX_LEN + 2)

/* Writes a report to path (NULL: stdout) with a newline; returns an exit code. */
int attest_write_report(const char *path, const char *jwt);

/*
 * A launch configuration from a file (JSON, libvirt XML, QEMU command line)
 * or, with path NULL, from a QEMU argv; plus an optional package manifest.
 * Hashing progress goes to stderr when it is a terminal or progress is set.
 * Returns an exit status: KT_EXIT_OK, or (message printed) KT_EXIT_NOT_FOUND
 * for a missing configuration file and KT_EXIT_REFUSED ("Refused: CHECK:
 * ...") for anything that cannot be measured.
 */
int attest_load_config(const char *path, int argc, char *const argv[],
		       const char *package_manifest, bool progress, struct kt_config *cfg);

#endif
