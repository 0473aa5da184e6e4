// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust policy learn|check: a guest's runtime integrity policy
 * (Documentation/policy.rst), captured from a known-good guest and checked
 * once against a fresh measurement (kvmtrust-policy(8)).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "policy/runtime.h"
#include "subcommands.h"
#include "vm_ref.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s policy learn " VM_REF_USAGE " --range GPA:LEN [--range ...]\n"
		"                        [--vcpu-pred PRED ...] -o FILE\n"
		"       %s policy check " VM_REF_USAGE " --policy FILE [--json | --script]\n\n"
		"learn measures a known-good guest (frozen for the measurement) and writes\n"
		"the policy: each range's root over its pages' leaves, and the predicates.\n"
		"check measures again and compares: pass, or fail naming the first failing\n"
		"range or predicate.\n"
		"GPA and LEN are page aligned (C literals); a range is up to %d pages.\n"
		"PRED: cr0.pe cr0.wp cr0.pg cr4.pae cr4.smep cr4.smap efer.lme efer.nxe\n"
		"(the bit set), or cr0 cr3 cr4 efer idt.base idt.limit gdt.base gdt.limit\n"
		"(equal to what each vCPU holds now).\n",
		prog, prog, KT_RP_MAX_RANGE_PAGES);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE) | CLI_EXIT(KT_EXIT_REFUSED));
}

/* Attaches the VM of ref if needed and gathers p's evidence. */
static int gather(const struct vm_ref *ref, const struct kt_rp_policy *p,
		  struct kt_rp_evidence *ev)
{
	struct kt_err err = { 0 };
	struct vm_name name;
	struct kt_nl *nl;
	struct kt_vm vm;
	int ret;

	ret = vm_ref_attach(ref, &name, &nl, &vm);
	if (ret)
		return ret;
	ret = kt_rp_gather(nl, vm.vm_id, 0, p, ev, &err);
	kt_nl_close(nl);
	return ret ? cli_fail(&err, ret) : KT_EXIT_OK;
}

static int do_learn(int argc, char *argv[])
{
	enum { O_RANGE = 0x100, O_PRED };
	static const struct option opts[] = {
		VM_REF_OPTIONS,
		{ "range", required_argument, NULL, O_RANGE },
		{ "vcpu-pred", required_argument, NULL, O_PRED },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct kt_rp_policy p;
	bool learn[KT_RP_MAX_PREDS];
	struct kt_rp_evidence ev;
	struct kt_err err = { 0 };
	struct vm_ref ref = { 0 };
	const char *out = NULL;
	char *text;
	int c, ret;

	memset(&p, 0, sizeof(p));
	while ((c = cli_getopt(argc, argv, "o:h", opts)) != -1) {
		if (c == O_RANGE) {
			if (p.nr_ranges == KT_RP_MAX_RANGES)
				return cli_bad_usage("policy", usage, "more than %d ranges",
						     KT_RP_MAX_RANGES);
			if (kt_rp_range_arg(optarg, &p.ranges[p.nr_ranges++], &err))
				return cli_bad_usage("policy", usage, "--range: %s", err.msg);
		} else if (c == O_PRED) {
			if (p.nr_preds == KT_RP_MAX_PREDS)
				return cli_bad_usage("policy", usage, "more than %d predicates",
						     KT_RP_MAX_PREDS);
			if (kt_rp_pred_arg(optarg, &p.preds[p.nr_preds], &learn[p.nr_preds], &err))
				return cli_bad_usage("policy", usage, "--vcpu-pred: %s", err.msg);
			p.nr_preds++;
		} else if (c == 'o') {
			out = optarg;
		} else if (!vm_ref_option(&ref, c, optarg)) {
			return cli_option_usage(usage, c);
		}
	}
	if (optind != argc)
		return cli_bad_usage("policy", usage, "unexpected argument '%s'", argv[optind]);
	if (!p.nr_ranges && !p.nr_preds)
		return cli_bad_usage("policy", usage, "learn needs --range or --vcpu-pred");
	if (cli_need("policy", usage, out, "-o") || vm_ref_check(&ref))
		return KT_EXIT_USAGE;
	if (cli_output_check(out, false, &err))
		return cli_error("policy", &err, KT_EXIT_FAILURE);
	ret = gather(&ref, &p, &ev);
	if (ret)
		return ret;
	ret = kt_rp_learn(&p, learn, &ev, &err);
	kt_rp_evidence_free(&ev);
	if (ret)
		return cli_refused(&err);
	text = kt_rp_dump(&p);
	if (!text)
		return KT_EXIT_FAILURE;
	ret = cli_write_arg(out, text, strlen(text), 0644, &err);
	free(text);
	return ret ? cli_error("policy", &err, KT_EXIT_FAILURE) : KT_EXIT_OK;
}

/* Script form: "result failed why seq memory_root attempts pause_ns pages_hashed full". */
static void print_verdict(const struct kt_rp_verdict *v, const struct kt_rp_evidence *ev)
{
	kt_print_open_object(NULL);
	kt_print_string("result", "%s", v->pass ? "pass" : "fail");
	kt_print_string("failed", v->pass ? NULL : ": %s", v->pass ? NULL : v->failed);
	kt_print_string("why", v->pass ? NULL : " (%s)", v->pass ? NULL : v->why);
	kt_print_text("\n");
	kt_print_u64("seq", "seq %s", ev->m.seq);
	kt_print_hex("memory_root", ", memory_root %s", ev->m.memory_root, KT_HASH_LEN);
	kt_print_u64("attempts", ", measurements %s\n", ev->attempts);
	kt_print_u64("pause_ns", "guest frozen %s ns", ev->m.pause_ns);
	kt_print_u64("pages_hashed", ", %s pages hashed", ev->m.pages_hashed);
	kt_print_bool("full", " (full: %s)\n", ev->m.full);
	kt_print_close_object();
}

static int do_check(int argc, char *argv[])
{
	enum { O_POLICY = 0x100 };
	static const struct option opts[] = {
		CLI_OUTPUT_OPTIONS,
		VM_REF_OPTIONS,
		{ "policy", required_argument, NULL, O_POLICY },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum kt_print_mode mode = KT_PRINT_TEXT;
	static struct kt_rp_policy p;
	struct kt_rp_evidence ev;
	struct kt_rp_verdict v;
	struct kt_err err = { 0 };
	struct vm_ref ref = { 0 };
	const char *file = NULL;
	int c, ret;

	while ((c = cli_getopt(argc, argv, "jsh", opts)) != -1) {
		if (c == O_POLICY)
			file = optarg;
		else if (!vm_ref_option(&ref, c, optarg) && !cli_output_option(c, &mode))
			return cli_option_usage(usage, c);
	}
	if (optind != argc)
		return cli_bad_usage("policy", usage, "unexpected argument '%s'", argv[optind]);
	if (cli_need("policy", usage, file, "--policy") || vm_ref_check(&ref))
		return KT_EXIT_USAGE;
	ret = cli_need_files(file);
	if (ret)
		return ret;
	if (kt_rp_load(file, &p, &err))
		return cli_refused(&err);
	ret = gather(&ref, &p, &ev);
	if (ret)
		return ret;
	kt_rp_evaluate(&p, &ev, &v);
	kt_print_start(mode);
	print_verdict(&v, &ev);
	kt_rp_evidence_free(&ev);
	if (kt_print_end())
		return KT_EXIT_FAILURE;
	return v.pass ? KT_EXIT_OK : KT_EXIT_FAILURE;
}

int policy_main(int argc, char *argv[])
{
	static const struct cli_command cmds[] = {
		{ "learn", do_learn }, { "check", do_check },
	};

	return cli_dispatch("policy", usage, cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv);
}
