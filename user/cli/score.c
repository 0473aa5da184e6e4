// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust score show --vm UUID: the VM's trust score, the migration
 * decision and the ledger entries that produced them (kvmtrust-score(8)).
 * The exit status carries the decision: 0 allow, 11 verify first, 10 deny.
 */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "ledger/score.h"
#include "ledger_cli.h"
#include "subcommands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s score show --vm UUID [--at TIME] " LEDGER_CHECKPOINT_USAGE "\n"
		"                     [--ledger SPEC] [--ledger-ca FILE|DIR] [--owner-anchors DIR]\n"
		"                     [--json | --script]\n"
		"TIME is 2026-11-23T04:00:00Z, @SECONDS or now (the default).\n"
		"Only the entries after the checkpoint (default: beside a SQLite ledger,\n"
		"PATH.checkpoint) are verified; --full verifies every entry again.\n"
		"Exit status: 0 allow (score > %d), %d verify first (%d..%d, or a failed last\n"
		"attestation), %d deny (< %d).\n",
		prog, KT_SCORE_ALLOW_ABOVE, KT_EXIT_VERIFY_FIRST, KT_SCORE_DENY_BELOW,
		KT_SCORE_ALLOW_ABOVE, KT_EXIT_REFUSED, KT_SCORE_DENY_BELOW);
}

/*
 * Script form: "vm score decision host host_compromised at last_entry_time
 * last_attestation", then one line per contributing entry "index reason
 * delta score".
 */
static void print_result(const char *vm, uint64_t now, const struct kt_score_result *r,
			 uint64_t signatures)
{
	char host[KT_UUID_STR_LEN + 1];
	size_t i;

	kt_uuid_format(r->host_id, host);
	kt_print_open_object(NULL);
	kt_print_string("vm", "vm: %s\n", vm);
	kt_print_s64("score", "score: %s\n", r->score);
	kt_print_string("decision", "decision: %s", kt_score_decision_name(r->decision));
	if (r->last_result == KT_LEDGER_FAIL && r->score > KT_SCORE_ALLOW_ABOVE)
		kt_print_text(" (the last attestation, entry %llu, failed)",
			      (unsigned long long)r->last_attest);
	kt_print_text("\n");
	kt_print_string("host", "host: %s\n", host);
	kt_print_bool("host_compromised", "host compromised: %s\n", r->host_compromised);
	kt_print_time("at", "evaluated at: %s\n", (int64_t)now);
	kt_print_time("last_entry_time", "last entry time: %s\n", (int64_t)r->last_time);
	kt_print_string("last_attestation", "last attestation: %s\n",
			r->last_result ? kt_ledger_result_name(r->last_result) : NULL);
	kt_print_text("entries:\n");
	kt_print_open_array("entries");
	for (i = 0; i < r->nsteps; i++) {
		kt_print_open_object(NULL);
		kt_print_u64("index", "  #%s", r->steps[i].index);
		kt_print_string("reason", " %s", r->steps[i].reason);
		kt_print_s64("delta", NULL, r->steps[i].delta);
		kt_print_text(" %+d", r->steps[i].delta);
		kt_print_s64("score", " -> %s\n", r->steps[i].score);
		kt_print_close_object();
	}
	kt_print_close_array();
	/* What the check cost: the entries after the checkpoint, and the head. */
	if (kt_print_is_json())
		kt_print_u64("signatures_verified", NULL, signatures);
	kt_print_close_object();
}

static int visit(const struct kt_ledger_entry *e, void *arg)
{
	return kt_score_feed(arg, e);
}

/* kt_score_compute(), from the checkpoint, which it then moves on. */
static int compute(struct ledger_opts *o, const char *vm, uint64_t now,
		   struct kt_score_result *r, struct kt_err *err)
{
	struct kt_score *s = kt_score_new(vm, now);
	int ret;

	if (!s)
		return kt_fail(err, "score", "out of memory");
	kt_ledger_checkpoint_until(o->log, now);
	ret = kt_ledger_for_each(o->log, visit, s, err);
	if (!ret)
		ret = kt_score_finish(s, r, err);
	kt_score_free(s);
	if (!ret)
		ledger_checkpoint_save(o->log);
	return ret;
}

static int show(int argc, char *argv[])
{
	enum { O_VM = 256, O_AT };
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, O_VM },
		{ "at", required_argument, NULL, O_AT },
		LEDGER_CLI_CHECKPOINT_OPTIONS, LEDGER_CLI_OPTIONS, { 0 },
	};
	struct ledger_checkpoint_opts cp = { 0 };
	char vm[KT_UUID_STR_LEN + 1] = "";
	uint64_t now = (uint64_t)time(NULL);
	enum kt_score_decision decision;
	struct ledger_opts o = { 0 };
	struct kt_err err = { 0 };
	struct kt_score_result r;
	int c, ret = 0;

	optind = 0;
	while (!ret && (c = cli_getopt(argc, argv, "h", opts)) != -1) {
		if (c == O_VM)
			ret = ledger_parse_vm("score", optarg, vm);
		else if (c == O_AT)
			ret = ledger_parse_time("score", "--at", optarg, &now);
		else if (!ledger_checkpoint_option(&cp, c, optarg) && !ledger_opt(&o, c, optarg))
			return cli_option_usage(usage, c);
	}
	if (ret)
		return ret;
	if (!vm[0] || optind != argc)
		return cli_bad_usage("score", usage, "%s", "show needs --vm UUID");
	ret = ledger_opts_open(&o, KT_LEDGER_READ, true);
	if (ret)
		return ret;
	if (ledger_checkpoint_use(o.log, &cp, &err) || compute(&o, vm, now, &r, &err)) {
		ret = ledger_error(&err);
		goto out;
	}
	print_result(vm, now, &r, kt_ledger_signatures_checked(o.log));
	decision = r.decision;
	kt_score_result_free(&r);
	ret = decision == KT_SCORE_ALLOW ? KT_EXIT_OK :
	      decision == KT_SCORE_VERIFY ? KT_EXIT_VERIFY_FIRST : KT_EXIT_REFUSED;
out:
	if (kt_print_end() && ret != KT_EXIT_FAILURE)
		ret = KT_EXIT_FAILURE;
	ledger_opts_close(&o);
	return ret;
}

int score_main(int argc, char *argv[])
{
	int ret;

	if (cli_group_usage(argc, argv, usage, &ret))
		return ret;
	if (strcmp(argv[1], "show"))
		return cli_bad_usage("score", usage, "unknown command '%s'", argv[1]);
	return show(argc - 1, argv + 1);
}
