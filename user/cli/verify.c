// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust verify: checks a report's signature, chain, quote, nonce,
 * freshness, replay and expected roots. The exit status is the verdict.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest_cli.h"
#include "cli_util.h"
#include "print.h"
#include "rollback_cli.h"
#include "subcommands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s verify REPORT|- (--pubkey PEM | --anchors FILE|DIR) [options] [--json | --script]\n"
		"       %s verify " VM_REF_USAGE " --against SNAPSHOT (--pubkey PEM | --anchors FILE|DIR)\n"
		"                [--qmp SOCKET] [--store DIR] [--rollback [--log FILE]\n"
		"                [--ledger SPEC [--ledger-ca PATH] --key KEY --cert CERT]] [--json | --script]\n"
		"The second form compares the paused guest with an attested snapshot (kvmtrust-snapshot(8))\n"
		"and names the page ranges that differ; --rollback then restores it (kvmtrust-rollback(8)).\n"
		ATTEST_POLICY_USAGE
		"  --kind KIND           vm-state or launch-config\n", prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE) | CLI_EXIT(KT_EXIT_REFUSED));
}

enum { OPT_KIND = 256, OPT_AGAINST, OPT_ROLLBACK };

static const struct option options[] = {
	ATTEST_POLICY_OPTIONS,
	{ "kind", required_argument, NULL, OPT_KIND },
	VM_REF_OPTIONS,
	{ "against", required_argument, NULL, OPT_AGAINST },
	{ "rollback", no_argument, NULL, OPT_ROLLBACK },
	ROLLBACK_OPTIONS,
	CLI_OUTPUT_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Claim name, printed under key (the same but for vm_id: "vm", as every command names it). */
static void print_claim(const json_t *claims, const char *name, const char *key, const char *fmt)
{
	json_t *v = json_object_get(claims, name);

	if (json_is_integer(v))
		kt_print_s64(key, fmt, json_integer_value(v));
	else
		kt_print_string(key, fmt, json_string_value(v));
}

static void print_verdict(const json_t *claims, const struct kt_err *err)
{
	kt_print_open_object(NULL);
	cli_print_verdict(err ? CLI_REFUSED : CLI_VERIFIED, "verdict: %s\n");
	if (err) {
		kt_print_string("check", "check: %s\n", err->check ? err->check : "error");
		kt_print_string("message", "message: %s\n", err->msg);
	} else {
		print_claim(claims, "kind", "kind", "kind: %s\n");
		print_claim(claims, "host_id", "host_id", "host: %s\n");
		print_claim(claims, "vm_id", "vm", "vm: %s\n");
		print_claim(claims, "key", "key", "key: %s\n");
		print_claim(claims, "seq", "seq", "seq: %s\n");
		kt_print_time("iat", "issued: %s\n",
			      json_integer_value(json_object_get(claims, "iat")));
		print_claim(claims, "memory_root", "memory_root", "memory root: %s\n");
		print_claim(claims, "vcpu_root", "vcpu_root", "vcpu root: %s\n");
		print_claim(claims, "config_root", "config_root", "config root: %s\n");
	}
	kt_print_close_object();
}

/* verify --pid PID --against SNAP [--rollback]: the verifier loop's one step. */
static int verify_against(struct rollback_args *r, bool rollback, const char *kind)
{
	int ret;

	if (kind)
		return cli_bad_usage("verify", usage, "--kind applies to reports, not --against");
	if (!r->policy.key_file && !r->policy.policy.anchors)
		return cli_bad_usage("verify", usage, "--against needs --pubkey or --anchors");
	ret = rollback_ledger_ready(r, "verify", usage);
	if (ret)
		return ret;
	ret = rollback_against(r, rollback);
	attest_policy_free(&r->policy);
	return ret;
}

int verify_main(int argc, char *argv[])
{
	struct rollback_args r = { .store = kt_snap_default_store() };
	struct attest_policy_args a = { 0 };
	bool rollback = false, against_only = false;
	enum kt_print_mode mode = KT_PRINT_TEXT;
	struct kt_err err = { 0 };
	json_t *claims = NULL;
	char *report;
	int c, ret;

	while ((c = cli_getopt(argc, argv, "h", options)) != -1) {
		if (c >= ATTEST_OPT_BASE && c < ATTEST_OPT_END) {
			if (attest_policy_option(&a, c, optarg))
				return KT_EXIT_USAGE;
			continue;
		}
		if (vm_ref_option(&r.ref, c, optarg) || rollback_option(&r, c, optarg)) {
			against_only = true;
			continue;
		}
		switch (c) {
		case OPT_KIND: a.policy.kind = optarg; break;
		case OPT_AGAINST: r.to = optarg; break;
		case OPT_ROLLBACK: rollback = against_only = true; break;
		default:
			if (cli_output_option(c, &mode))
				break;
			return cli_option_usage(usage, c);
		}
	}
	if (r.to) {
		if (optind != argc)
			return cli_bad_usage("verify", usage, "--against takes no report");
		r.policy = a;
		r.mode = mode;
		return verify_against(&r, rollback, a.policy.kind);
	}
	if (against_only)
		return cli_bad_usage("verify", usage, "--pid, --uuid, --domain, --rollback, --qmp, "
				     "--store, --log, --ledger, --key and --cert need --against");
	if (optind != argc - 1) {
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	ret = attest_policy_ready(&a);
	if (ret)
		return ret;
	report = cli_read_arg(argv[optind], ATTEST_REPORT_MAX, &err);
	if (!report) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		attest_policy_free(&a);
		return KT_EXIT_NOT_FOUND;
	}
	ret = kt_report_verify(report, &a.policy, &claims, &err);
	kt_print_start(mode);
	print_verdict(claims, ret ? &err : NULL);
	kt_print_end();
	if (ret)
		cli_refused(&err);
	json_decref(claims);
	free(report);
	attest_policy_free(&a);
	return ret ? KT_EXIT_REFUSED : KT_EXIT_OK;
}
