// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust score show VM: the VM's trust score, the migration decision and
 * the ledger entries that produced them (kvmtrust-score(8)). The exit
 * status carries the decision: 0 allow, 10 verify first, 11 deny.
 */
#include <string.h>
#include <time.h>

#include "ledger/score.h"
#include "ledger_cli.h"
#include "subcommands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s score [--ledger SPEC] [--ca FILE|DIR] [--json | --script]\n"
		"                show VM [at UNIX] [cache FILE]\n"
		"cache FILE: size and root of the log verified last time; only newer\n"
		"entries have their signatures checked (keep FILE where only root writes).\n"
		"Exit status: 0 allow (score > %d), %d verify first (%d..%d), %d deny (< %d).\n",
		prog, KT_SCORE_ALLOW_ABOVE, KT_EXIT_VERIFY_FIRST, KT_SCORE_DENY_BELOW,
		KT_SCORE_ALLOW_ABOVE, KT_EXIT_REFUSED, KT_SCORE_DENY_BELOW);
}

static void print_result(const char *vm, uint64_t now, const struct kt_score_result *r)
{
	char host[37];
	size_t i;

	kt_uuid_format(r->host_id, host);
	kt_print_open_object(NULL);
	kt_print_string("vm", "vm: %s\n", vm);
	kt_print_s64("score", "score: %s\n", r->score);
	kt_print_string("decision", "decision: %s\n", kt_score_decision_name(r->decision));
	kt_print_string("host", "host: %s\n", host);
	kt_print_bool("host_compromised", "host compromised: %s\n", r->host_compromised);
	kt_print_u64("at", "evaluated at: %s\n", now);
	kt_print_u64("last_entry_time", "last entry time: %s\n", r->last_time);
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
	kt_print_close_object();
}

static int visit(const struct kt_ledger_entry *e, void *arg)
{
	return kt_score_feed(arg, e);
}

/* kt_score_compute(), with the walk's size and root for the cache file. */
static int compute(struct ledger_opts *o, const char *vm, uint64_t now, const char *cache,
		   struct kt_score_result *r, struct kt_err *err)
{
	struct kt_score *s = kt_score_new(vm, now);
	uint64_t size;
	kt_hash root;
	int ret;

	if (!s)
		return kt_fail(err, "score", "out of memory");
	ret = kt_ledger_walk(o->log, visit, s, &size, root, NULL, err);
	if (!ret)
		ret = kt_score_finish(s, r, err);
	kt_score_free(s);
	if (!ret && cache && ledger_state_write(cache, size, root))
		kt_err_clear(err);	/* the score stands; the warning is printed */
	return ret;
}

static int show(struct ledger_opts *o, int argc, char *argv[])
{
	uint64_t now = (uint64_t)time(NULL);
	struct kt_score_result r;
	struct kt_err err = { 0 };
	enum kt_score_decision decision;
	const char *cache = NULL;
	int i;

	for (i = 1; i < argc; i += 2) {
		if (i + 1 < argc && !strcmp(argv[i], "at") &&
		    !cli_parse_uint(argv[i + 1], UINT64_MAX, &now))
			continue;
		if (i + 1 < argc && !strcmp(argv[i], "cache")) {
			cache = argv[i + 1];
			continue;
		}
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	if (cache && ledger_state_read(cache, o->log, true))
		return KT_EXIT_FAILURE;
	if (compute(o, argv[0], now, cache, &r, &err))
		return ledger_error(&err);
	print_result(argv[0], now, &r);
	decision = r.decision;
	kt_score_result_free(&r);
	return decision == KT_SCORE_ALLOW ? KT_EXIT_OK :
	       decision == KT_SCORE_VERIFY ? KT_EXIT_VERIFY_FIRST : KT_EXIT_REFUSED;
}

int score_main(int argc, char *argv[])
{
	struct ledger_opts o;
	int status, i, ret;

	i = ledger_opts_parse(argc, argv, &o, usage, &status);
	if (i < 0)
		return status;
	if (strcmp(argv[i], "show") || argc - i < 2) {
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	ret = ledger_opts_open(&o, 1);
	if (ret)
		return ret;
	ret = show(&o, argc - i - 1, argv + i + 1);
	if (kt_print_end() && ret != KT_EXIT_FAILURE)
		ret = KT_EXIT_FAILURE;
	ledger_opts_close(&o);
	return ret;
}
