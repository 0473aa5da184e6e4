// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust migrate check: the migration decision of migrate_policy.h for one
 * VM, destination host, grant and administrator, with every rule listed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "grant_common.h"
#include "migrate_cli.h"
#include "identity/pki.h"
#include "ledger/ledger.h"
#include "identity_cli.h"
#include "ledger_cli.h"
#include "policy/grant.h"
#include "policy/grant_ledger.h"
#include "policy/migrate_order.h"
#include "policy/migrate_policy.h"
#include "print.h"
#include "subcommands.h"
#include "vm_ref.h"

static void usage(FILE *file)
{
	fprintf(file,
		"Usage: %s migrate check " VM_REF_USAGE " --to HOST-CERT --grant GRANT\n"
		"                        (--by ADMIN-CERT | --order ORDER)\n"
		"                        [--owner-anchors DIR] [--owner-crls DIR]\n"
		"                        [--host-anchors DIR] [--host-crls DIR]\n"
		"                        [--ledger SPEC] [--ledger-ca PATH] [--at TIME]\n"
		"                        [--token TOKEN] " LEDGER_CHECKPOINT_USAGE " [--json | --script]\n"
		"       %s migrate order " VM_REF_USAGE " --to HOST-CERT --grant GRANT\n"
		"                        --key KEY --cert CERT [--ledger SPEC] [--ledger-ca PATH]\n"
		"                        [--owner-anchors DIR] [--lifetime SECONDS] [-o FILE]\n"
		"       %s migrate start --qmp PATH --connect ADDR ... (kvmtrust migrate start --help)\n"
		"       %s migrate receive --listen ADDR --qmp PATH --incoming PATH ...\n"
		CLI_TIME_USAGE "See kvmtrust-migrate(8).\n", prog, prog, prog, prog);
	cli_usage_exits(file, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) |
			CLI_EXIT(KT_EXIT_REFUSED) | CLI_EXIT(KT_EXIT_VERIFY_FIRST));
}

static enum cli_verdict verdict_of(enum kt_migrate_decision d)
{
	switch (d) {
	case KT_MIGRATE_ALLOW:
		return CLI_ALLOW;
	case KT_MIGRATE_ALLOW_VERIFY:
		return CLI_VERIFY_FIRST;
	case KT_MIGRATE_DENY:
		return CLI_DENY;
	default:
		return CLI_NO_VERDICT;
	}
}

/*
 * Script form: one line "verdict vm grant host score", then one line per
 * rule "rule outcome check detail" in evaluation order. Returns the
 * verdict's exit status.
 */
static int print_result(const char *vm, const struct kt_migrate_result *res)
{
	const struct kt_migrate_rule_result *first = kt_migrate_first_failure(res);
	size_t i;
	int status;

	kt_print_open_object(NULL);
	status = cli_print_verdict(verdict_of(res->decision), "verdict: %s");
	if (first)
		kt_print_text(" (rule %s: %s)", first->rule, first->detail);
	kt_print_text("\n");
	kt_print_string("vm", "  vm     %s\n", vm);
	kt_print_string("grant", "  grant  %s\n", res->grant_id[0] ? res->grant_id : NULL);
	kt_print_string("host", "  host   %s\n", res->host_uuid[0] ? res->host_uuid : NULL);
	if (res->score >= 0)
		kt_print_s64("score", "  score  %s\n", res->score);
	else
		kt_print_string("score", "  score  %s\n", NULL);
	kt_print_text("rules, in evaluation order:\n");
	kt_print_open_array("rules");
	for (i = 0; i < res->n_rules; i++) {
		const struct kt_migrate_rule_result *r = &res->rules[i];

		kt_print_open_object(NULL);
		kt_print_string("rule", "  %-16s", r->rule);
		kt_print_string("outcome", "%-7s", kt_rule_outcome_name(r->outcome));
		kt_print_string("check", r->check ? "[%s] " : NULL, r->check);
		kt_print_string("detail", "%s\n", r->detail);
		kt_print_close_object();
	}
	kt_print_close_array();
	kt_print_close_object();
	return kt_print_end() ? KT_EXIT_FAILURE : status;
}

static int do_check(int argc, char *argv[])
{
	enum { O_TO = 256, O_GRANT, O_BY, O_ORDER, O_HOST_CRLS, O_AT, O_TOKEN };
	static const struct option opts[] = {
		VM_REF_OPTIONS,
		{ "to", required_argument, NULL, O_TO },
		{ "grant", required_argument, NULL, O_GRANT },
		{ "by", required_argument, NULL, O_BY },
		{ "order", required_argument, NULL, O_ORDER },
		GRANT_CLI_TRUST_OPTIONS,
		{ "host-crls", required_argument, NULL, O_HOST_CRLS },
		{ "at", required_argument, NULL, O_AT },
		{ "token", required_argument, NULL, O_TOKEN },
		LEDGER_CLI_CHECKPOINT_OPTIONS,
		CLI_OUTPUT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *to = NULL, *grant = NULL, *by = NULL, *order = NULL, *host_crls = NULL;
	const char *token = NULL;
	struct grant_cli_trust_opts t = { 0 };
	enum kt_print_mode mode = KT_PRINT_TEXT;
	struct kt_migrate_request req = { 0 };
	struct vm_ref ref = { 0 };
	struct vm_name vm;
	struct kt_migrate_result res;
	struct kt_err err = { 0 }, ledger_err = { 0 };
	struct grant_cli_ledger ledger = { 0 };
	struct ledger_checkpoint_opts cp = { 0 };
	STACK_OF(X509) *host_chain = NULL;
	int opt, ret = KT_EXIT_FAILURE;
	char *text = NULL, *order_text = NULL, *token_text = NULL;

	while ((opt = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (opt) {
		case O_TO: to = optarg; break;
		case O_TOKEN: token = optarg; break;
		case O_GRANT: grant = optarg; break;
		case O_BY: by = optarg; break;
		case O_ORDER: order = optarg; break;
		case O_HOST_CRLS: host_crls = optarg; break;
		case O_AT:
			if (cli_parse_time(optarg, &req.now))
				return cli_bad_usage("migrate", NULL, "bad time '%s'", optarg);
			break;
		default:
			if (vm_ref_option(&ref, opt, optarg) || grant_cli_trust_option(opt, optarg, &t) ||
			    ledger_checkpoint_option(&cp, opt, optarg) || cli_output_option(opt, &mode))
				break;
			return cli_option_usage(usage, opt);
		}
	}
	if (!vm_ref_given(&ref) || !to || !grant || (!by && !order) || optind != argc)
		return cli_bad_usage("migrate check", usage,
				     "the VM, --to, --grant and --by or --order are required");
	ret = vm_ref_resolve(&ref, VM_REF_UUID, &vm);
	if (ret)
		return ret;
	req.vm = vm.uuid;
	t.owner_anchors = grant_cli_path(t.owner_anchors, KT_OWNER_ANCHORS_ENV,
					 KT_OWNER_ANCHORS_DEFAULT);
	t.host_anchors = grant_cli_path(t.host_anchors, KT_HOST_ANCHORS_ENV, KT_HOST_ANCHORS_DEFAULT);
	ret = cli_need_files(to, grant, by, order, t.owner_anchors, t.owner_crls, t.host_anchors,
			     host_crls, token);
	if (ret)
		return ret;
	ret = KT_EXIT_FAILURE;
	text = cli_read_arg(grant, KT_JWS_MAX_LEN, &err);
	host_chain = text ? kt_pki_load_certs(to, &err) : NULL;
	if (host_chain && by)
		req.admin = kt_pki_load_cert(by, &err);
	if (host_chain && order)
		req.admin_order = order_text = cli_read_arg(order, KT_JWS_MAX_LEN, &err);
	if (host_chain && token)
		req.token = token_text = cli_read_arg(token, KT_CLI_TOKEN_MAX, &err);
	if (!host_chain || (by && !req.admin) || (order && !order_text) || (token && !token_text) ||
	    kt_pki_dir_open(t.owner_anchors, &req.owner_anchors, &err) ||
	    kt_pki_dir_open(t.host_anchors, &req.host_anchors, &err) ||
	    (t.owner_crls && kt_pki_dir_open(t.owner_crls, &req.owner_crls, &err)) ||
	    (host_crls && kt_pki_dir_open(host_crls, &req.host_crls, &err))) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	req.grant = text;
	req.host = sk_X509_shift(host_chain);
	req.host_untrusted = host_chain;
	/* An unreadable ledger still lets every other rule report; it ends in "error". */
	if (grant_cli_ledger_open(t.ledger, t.ledger_ca, t.owner_anchors, KT_LEDGER_READ, &ledger,
				  &ledger_err) ||
	    ledger_checkpoint_use(ledger.log, &cp, &ledger_err))
		cli_error(NULL, &ledger_err, 0);
	else
		req.ledger = ledger.log;
	if (kt_migrate_check(&req, &res, &err)) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	if (req.ledger)
		ledger_checkpoint_save(req.ledger);
	kt_print_start(mode);
	ret = print_result(req.vm, &res);
out:
	free(text);
	free(order_text);
	free(token_text);
	X509_free(req.host);
	X509_free(req.admin);
	sk_X509_pop_free(host_chain, X509_free);
	kt_pki_dir_free(req.owner_anchors);
	kt_pki_dir_free(req.owner_crls);
	kt_pki_dir_free(req.host_anchors);
	kt_pki_dir_free(req.host_crls);
	grant_cli_ledger_close(&ledger);
	return ret;
}

/*
 * An order moves the VM only under its owner's grant: refuse to sign one
 * under a grant its registered owner did not sign (the destination's check
 * would refuse it anyway, later).
 */
static int check_owner(const struct kt_grant *g, const char *vm,
		       const struct grant_cli_trust_opts *t, struct kt_err *err)
{
	struct grant_cli_ledger ledger;
	struct kt_migrate_facts facts;
	int ret;

	if (strcmp(g->vm, vm))
		return kt_fail(err, "vm", "grant is for VM %s, not %s", g->vm, vm);
	/* The key in x5c[0] is compared with the owner's: it must be the key that signed. */
	if (kt_jws_verify(&g->jws, X509_get0_pubkey(sk_X509_value(g->chain, 0)), err))
		return -1;
	if (grant_cli_ledger_open(t->ledger, t->ledger_ca, t->owner_anchors, KT_LEDGER_READ,
				  &ledger, err))
		return -1;
	ret = kt_migrate_facts_read(ledger.log, vm, &(struct kt_migrate_keys){ .grant_id = g->id },
				    time(NULL), &facts, err);
	grant_cli_ledger_close(&ledger);
	return ret ? -1 : kt_grant_check_owner(g, vm, &facts, err);
}

static int do_order(int argc, char *argv[])
{
	enum { O_TO = 256, O_GRANT, O_KEY, O_CERT, O_LIFETIME };
	static const struct option opts[] = {
		VM_REF_OPTIONS,
		{ "to", required_argument, NULL, O_TO },
		{ "grant", required_argument, NULL, O_GRANT },
		{ "key", required_argument, NULL, O_KEY },
		{ "cert", required_argument, NULL, O_CERT },
		{ "lifetime", required_argument, NULL, O_LIFETIME },
		{ "ledger", required_argument, NULL, GRANT_O_LEDGER },
		{ "ledger-ca", required_argument, NULL, GRANT_O_LEDGER_CA },
		{ "owner-anchors", required_argument, NULL, GRANT_O_OWNER_ANCHORS },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *to = NULL, *grant = NULL, *key_path = NULL, *cert_path = NULL;
	struct vm_ref ref = { 0 };
	struct vm_name vm;
	const char *output = NULL;
	struct grant_cli_trust_opts t = { 0 };
	struct kt_migrate_intent in = { 0 };
	struct kt_err err = { 0 };
	struct kt_cert_info host;
	struct kt_grant g = { 0 };
	long lifetime = KT_MIGRATE_ORDER_LIFETIME;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *dest = NULL;
	char *text = NULL, *out = NULL, *end;
	int opt, ret = KT_EXIT_FAILURE;

	while ((opt = cli_getopt(argc, argv, "o:h", opts)) != -1) {
		switch (opt) {
		case O_TO: to = optarg; break;
		case O_GRANT: grant = optarg; break;
		case O_KEY: key_path = optarg; break;
		case O_CERT: cert_path = optarg; break;
		case O_LIFETIME:
			lifetime = strtol(optarg, &end, 10);
			if (*end || lifetime <= 0 || lifetime > KT_MIGRATE_ORDER_MAX_LIFETIME)
				return cli_bad_usage("migrate order", NULL, "--lifetime wants 1 to %d seconds",
						     KT_MIGRATE_ORDER_MAX_LIFETIME);
			break;
		case 'o': output = optarg; break;
		default:
			if (vm_ref_option(&ref, opt, optarg) || grant_cli_trust_option(opt, optarg, &t))
				break;
			return cli_option_usage(usage, opt);
		}
	}
	if (!vm_ref_given(&ref) || !to || !grant || !key_path || !cert_path || optind != argc)
		return cli_bad_usage("migrate order", NULL,
				     "the VM, --to, --grant, --key and --cert are required");
	ret = vm_ref_resolve(&ref, VM_REF_UUID, &vm);
	if (!ret)
		ret = cli_need_files(to, grant, key_path, cert_path);
	if (ret)
		return ret;
	ret = KT_EXIT_FAILURE;
	/* The order names the grant by id and the host by UUID; neither is trusted here. */
	text = cli_read_arg(grant, KT_JWS_MAX_LEN, &err);
	if (!text || kt_grant_parse(text, &g, &err) || check_owner(&g, vm.uuid, &t, &err) ||
	    !(dest = kt_pki_load_cert(to, &err)) ||
	    kt_pki_cert_info(dest, &host, &err) || !(key = kt_pki_load_key(key_path, &err)) ||
	    !(cert = kt_pki_load_cert(cert_path, &err)))
		goto fail;
	memcpy(in.vm, vm.uuid, sizeof(vm.uuid));
	memcpy(in.grant, g.id, sizeof(in.grant));
	memcpy(in.host, host.host_uuid, sizeof(in.host));
	in.iat = (int64_t)time(NULL);
	in.exp = in.iat + lifetime;
	if (kt_migrate_order_sign(&in, key, cert, &out, &err))
		goto fail;
	if (grant_cli_write(output, out, "the order"))
		goto out;
	ret = KT_EXIT_OK;
	goto out;
fail:
	ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
out:
	free(out);
	free(text);
	kt_grant_free(&g);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(dest);
	return ret;
}

int migrate_main(int argc, char *argv[])
{
	int ret;

	if (cli_group_usage(argc, argv, usage, &ret))
		return ret;
	if (!strcmp(argv[1], "check"))
		return do_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "order"))
		return do_order(argc - 1, argv + 1);
	if (!strcmp(argv[1], "start"))
		return migrate_start_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "receive"))
		return migrate_receive_main(argc - 1, argv + 1);
	return cli_bad_usage("migrate", usage, "unknown command '%s'", argv[1]);
}
