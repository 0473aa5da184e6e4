// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust launch: measures the configuration a VMM is about to run with,
 * compares it with the attested root and execs the VMM only if they agree.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/config_tree.h"
#include "attest_cli.h"
#include "cli_util.h"
#include "common/encoding.h"
#include "subcommands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s launch --expect ROOT [--attestation FILE (--pubkey PEM | --anchors FILE|DIR)]\n"
		"                 [--config CONFIG] [--package-manifest FILE] [--progress]\n"
		"                 -- COMMAND...\n"
		"Without --config, COMMAND's own arguments are read as a QEMU command line:\n"
		"each is measured or known to be harmless, or the launch is refused.\n"
		"--progress shows hashing progress on standard error (default: on a terminal).\n"
		"Attestation options:\n" ATTEST_POLICY_USAGE
		"COMMAND replaces kvmtrust when it may run: its exit status is COMMAND's.\n",
		prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_REFUSED));
}

enum { OPT_EXPECT = 256, OPT_ATTESTATION, OPT_CONFIG, OPT_PACKAGES, OPT_PROGRESS };

static const struct option options[] = {
	ATTEST_POLICY_OPTIONS,
	{ "expect", required_argument, NULL, OPT_EXPECT },
	{ "attestation", required_argument, NULL, OPT_ATTESTATION },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "package-manifest", required_argument, NULL, OPT_PACKAGES },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct launch_args {
	struct attest_policy_args policy;
	const char *expect, *attestation, *config, *packages;
	bool progress;
};

/*
 * Verifies the launch-config attestation for the expected root and returns
 * the parameters it attests (their tree must give that root too).
 */
static int attested_config(struct launch_args *a, struct kt_config *cfg, struct kt_err *err)
{
	json_t *claims = NULL;
	char *report;
	kt_hash root, want;
	int ret = -1;

	memset(cfg, 0, sizeof(*cfg));
	report = cli_read_arg(a->attestation, ATTEST_REPORT_MAX, err);
	if (!report) {
		fprintf(stderr, "%s: %s\n", prog, err->msg);
		return kt_fail(err, "attestation", "cannot read '%s'", a->attestation);
	}
	a->policy.policy.kind = "launch-config";
	a->policy.policy.expect_config_root = a->expect;
	if (!a->policy.policy.max_age)
		a->policy.policy.max_age = -1;	/* attested at provisioning, not now */
	if (kt_report_verify(report, &a->policy.policy, &claims, err))
		goto out;
	if (kt_config_from_params(json_object_get(claims, "params"), cfg, err) ||
	    kt_config_root(cfg, root) || kt_hex_decode(a->expect, want, sizeof(want)) ||
	    memcmp(root, want, sizeof(root))) {
		kt_fail(err, "claims", "the attested parameters do not hash to the attested root");
		goto out;
	}
	ret = 0;
out:
	json_decref(claims);
	free(report);
	return ret;
}

static int gate(struct launch_args *a, int argc, char *argv[])
{
	struct kt_config launching, attested = { 0 };
	struct kt_err err = { 0 };
	char hex[2 * KT_HASH_LEN + 1], diff[2048];
	kt_hash root;
	int ret = KT_EXIT_REFUSED;

	ret = attest_load_config(a->config, argc, argv, a->packages, a->progress, &launching);
	if (ret != KT_EXIT_OK)
		return ret;
	ret = KT_EXIT_REFUSED;
	if (kt_config_root(&launching, root)) {
		kt_config_free(&launching);
		return KT_EXIT_FAILURE;
	}
	kt_hex_encode(root, sizeof(root), hex);
	if (a->attestation && attested_config(a, &attested, &err)) {
		cli_refused(&err);
		goto out;
	}
	if (strcasecmp(hex, a->expect)) {
		if (a->attestation && kt_config_diff(&attested, &launching, diff, sizeof(diff)))
			kt_fail(&err, "config", "%s", diff);
		else
			kt_fail(&err, "config_root", "launching root %s, expected %s%s", hex,
				a->expect, a->attestation ? "" :
				" (give --attestation to name the differing parameter)");
		cli_refused(&err);
		goto out;
	}
	ret = KT_EXIT_OK;
out:
	kt_config_free(&launching);
	kt_config_free(&attested);
	return ret;
}

int launch_main(int argc, char *argv[])
{
	struct launch_args a = { 0 };
	int c, ret;

	while ((c = cli_getopt(argc, argv, "+h", options)) != -1) {
		if (c >= ATTEST_OPT_BASE && c < ATTEST_OPT_END) {
			if (attest_policy_option(&a.policy, c, optarg))
				return KT_EXIT_USAGE;
			continue;
		}
		switch (c) {
		case OPT_EXPECT: a.expect = optarg; break;
		case OPT_ATTESTATION: a.attestation = optarg; break;
		case OPT_CONFIG: a.config = optarg; break;
		case OPT_PACKAGES: a.packages = optarg; break;
		case OPT_PROGRESS: a.progress = true; break;
		default:
			return cli_option_usage(usage, c);
		}
	}
	if (!a.expect || strlen(a.expect) != 2 * KT_HASH_LEN ||
	    strspn(a.expect, "0123456789abcdefABCDEF") != 2 * KT_HASH_LEN)
		return cli_bad_usage(NULL, NULL,
				     "--expect takes the attested configuration root (64 hex digits)");
	if (optind >= argc)
		return cli_bad_usage(NULL, NULL, "no COMMAND to launch after '--'");
	if (a.attestation && !a.policy.key_file && !a.policy.policy.anchors)
		return cli_bad_usage(NULL, NULL, "--attestation needs --pubkey or --anchors to check it");
	ret = cli_need_files(a.attestation);
	if (!ret)
		ret = attest_policy_ready(&a.policy);
	if (ret)
		return ret;
	ret = gate(&a, argc - optind, argv + optind);
	attest_policy_free(&a.policy);
	if (ret != KT_EXIT_OK)
		return ret;
	fflush(NULL);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "%s: unable to run '%s': %s\n", prog, argv[optind], strerror(errno));
	return errno == ENOENT ? KT_EXIT_NOT_FOUND : KT_EXIT_FAILURE;
}
