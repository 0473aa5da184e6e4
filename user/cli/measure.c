// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust measure: memory_root and vcpu_root of a VM
 * (Documentation/measurement.rst). The VM is attached first if it is not
 * attached yet, and stays attached.
 * Script form (--script), one line:
 *   vm_id seq memory_root vcpu_root pages vcpus ns hash_driver vm
 *   leaf_format zero_pages tree tree_bytes work_bytes tree_note threads
 *   memory_unchanged pages_hashed full pause_ns
 * (pause_ns "-" without --freeze)
 *
 * kvmtrust measure prove: the RFC 9162 audit path of one page's leaf in
 * the VM's last memory_root (Documentation/measurement.rst).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "exitcodes.h"
#include "measure/kt_attach.h"
#include "measure/kt_nl.h"
#include "print.h"
#include "subcommands.h"
#include "vm_ref.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s measure " VM_REF_USAGE " [--no-vcpus] [--full] [--freeze]\n"
		"       [--json | --script]\n"
		"       %s measure prove (--vm ID | " VM_REF_USAGE ") --gpa ADDR [--json]\n\n"
		"Hashes the VM's memory and vCPU registers into two Merkle roots. The\n"
		"guest must be paused (no vCPU inside KVM_RUN), or --freeze: the module\n"
		"stops the VM's process for the measurement and continues it after,\n"
		"printing the pause. The VM is attached if needed; --no-vcpus hashes\n"
		"memory only. With --freeze, after a first measurement only the pages\n"
		"written since are hashed again (same roots); --full hashes every page.\n"
		"prove prints the audit path of the page at guest physical address ADDR\n"
		"in the last memory_root.\n", prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE));
}

static void print_measurement(const struct kt_measurement *m, const char *uuid)
{
	kt_print_open_object(NULL);
	kt_print_u64("vm_id", "vm %s", m->vm_id);
	kt_print_u64("seq", " measurement %s\n", m->seq);
	kt_print_hex("memory_root", "  memory_root  %s\n", m->memory_root,
		     sizeof(m->memory_root));
	if (m->has_vcpu_root)
		kt_print_hex("vcpu_root", "  vcpu_root    %s\n", m->vcpu_root,
			     sizeof(m->vcpu_root));
	else
		kt_print_string("vcpu_root", NULL, NULL);
	kt_print_u64("pages", "  pages        %s\n", m->pages);
	kt_print_u64("vcpus", "  vcpus        %s\n", m->vcpus);
	kt_print_u64("ns", NULL, m->ns);
	kt_print_text("  time         %.1f ms\n", m->ns / 1e6);
	kt_print_string("hash_driver", "  hash_driver  %s\n", m->hash_driver);
	kt_print_string("vm", "  uuid         %s\n", uuid);
	kt_print_u64("leaf_format", "  leaf_format  %s\n", m->leaf_format);
	kt_print_u64("zero_pages", "  zero_pages   %s\n", m->zero_pages);
	kt_print_string("tree", "  tree         %s", m->tree_kept ? "kept" : "streamed");
	kt_print_u64("tree_bytes", m->tree_kept ? " (%s bytes)" : NULL, m->tree_bytes);
	kt_print_text("\n");
	kt_print_u64("work_bytes", NULL, m->work_bytes);
	kt_print_string("tree_note", m->tree_note[0] ? "  tree_note    %s\n" : NULL,
			m->tree_note[0] ? m->tree_note : NULL);
	kt_print_u64("threads", "  threads      %s\n", m->threads);
	kt_print_bool("memory_unchanged", "  unchanged    %s\n", m->memory_unchanged);
	kt_print_u64("pages_hashed", "  pages_hashed %s\n", m->pages_hashed);
	kt_print_bool("full", "  full         %s\n", m->full);
	if (m->frozen) {
		kt_print_u64("pause_ns", NULL, m->pause_ns);
		if (m->pause_ns)
			kt_print_text("  pause        %.3f ms\n", m->pause_ns / 1e6);
		else
			kt_print_text("  pause        none (the process was already stopped)\n");
	} else {
		kt_print_string("pause_ns", NULL, NULL);
	}
	kt_print_close_object();
}

static void print_proof(const struct kt_proof *p, uint64_t gpa)
{
	size_t i;

	kt_print_open_object(NULL);
	kt_print_u64("vm_id", "vm %s", p->vm_id);
	kt_print_u64("seq", " measurement %s\n", p->seq);
	kt_print_u64("gpa", "  gpa          %s\n", gpa);
	kt_print_hex("memory_root", "  memory_root  %s\n", p->memory_root,
		     sizeof(p->memory_root));
	kt_print_u64("tree_size", "  tree_size    %s\n", p->tree_size);
	kt_print_u64("leaf_index", "  leaf_index   %s\n", p->leaf_index);
	kt_print_hex("leaf_hash", "  leaf_hash    %s\n", p->leaf_hash,
		     sizeof(p->leaf_hash));
	kt_print_text("  path\n");
	kt_print_open_array("path");
	for (i = 0; i < p->path_len; i++)
		kt_print_hex(NULL, "    %s\n", p->path[i], sizeof(p->path[i]));
	kt_print_close_array();
	kt_print_close_object();
}

/* An address in decimal or 0x hex; false if not one. */
static bool parse_gpa(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return !errno && !*end;
}

static int prove_main(int argc, char *argv[])
{
	enum { O_VM = 0x100, O_GPA };
	static const struct option opts[] = {
		CLI_OUTPUT_OPTIONS,
		VM_REF_OPTIONS,
		{ "vm", required_argument, NULL, O_VM },
		{ "gpa", required_argument, NULL, O_GPA },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum kt_print_mode mode = KT_PRINT_TEXT;
	struct kt_err err = { 0 };
	struct vm_ref ref = { 0 };
	uint32_t vm_id = 0;
	struct vm_name name;
	struct kt_proof *p;
	struct kt_nl *nl;
	struct kt_vm vm;
	bool attached, have_gpa = false;
	uint64_t gpa = 0;
	int c, ret;

	while ((c = cli_getopt(argc, argv, "jsh", opts)) != -1) {
		if (c == O_VM) {
			if (!cli_parse_u32("--vm", optarg, 1, UINT32_MAX, &vm_id))
				return KT_EXIT_USAGE;
		} else if (c == O_GPA) {
			if (!parse_gpa(optarg, &gpa))
				return cli_bad_usage("measure", usage, "--gpa: not an address: '%s'",
						     optarg);
			have_gpa = true;
		} else if (!vm_ref_option(&ref, c, optarg) && !cli_output_option(c, &mode)) {
			return cli_option_usage(usage, c);
		}
	}
	if (optind != argc)
		return cli_bad_usage("measure", usage, "unexpected argument '%s'", argv[optind]);
	if (!have_gpa)
		return cli_bad_usage("measure", usage, "prove needs --gpa");
	if (!vm_id) {
		ret = vm_ref_resolve(&ref, VM_REF_PROCESS, &name);
		if (ret)
			return ret;
	}
	p = malloc(sizeof(*p));
	nl = p ? cli_nl_open() : NULL;
	if (!nl) {
		free(p);
		return KT_EXIT_UNAVAILABLE;
	}
	ret = 0;
	if (!vm_id) {
		ret = kt_vm_attach_pid(nl, name.pid, &vm, &attached, &err);
		vm_id = vm.vm_id;
	}
	if (!ret)
		ret = kt_nl_measure_prove(nl, vm_id, gpa, p, &err);
	kt_nl_close(nl);
	if (ret == -ESTALE) {
		free(p);
		return cli_refused(&err);
	}
	if (ret) {
		free(p);
		return cli_fail(&err, ret);
	}
	kt_print_start(mode);
	print_proof(p, gpa);
	free(p);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

int measure_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		CLI_OUTPUT_OPTIONS,
		VM_REF_OPTIONS,
		{ "no-vcpus", no_argument, NULL, 'n' },
		{ "freeze", no_argument, NULL, 'F' },
		{ "full", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum kt_print_mode mode = KT_PRINT_TEXT;
	struct kt_err err = { 0 };
	struct kt_measurement m;
	struct vm_ref ref = { 0 };
	struct vm_name name;
	struct kt_nl *nl;
	struct kt_vm vm;
	uint32_t flags = 0;
	int c, ret;

	if (argc > 1 && !strcmp(argv[1], "prove"))
		return prove_main(argc - 1, argv + 1);
	while ((c = cli_getopt(argc, argv, "jsnfh", opts)) != -1) {
		if (c == 'n')
			flags |= KVMTRUST_MEASURE_F_NO_VCPUS;
		else if (c == 'F')
			flags |= KVMTRUST_MEASURE_F_FREEZE;
		else if (c == 'f')
			flags |= KVMTRUST_MEASURE_F_FULL;
		else if (!vm_ref_option(&ref, c, optarg) && !cli_output_option(c, &mode))
			return cli_option_usage(usage, c);
	}
	if (optind != argc)
		return cli_bad_usage("measure", usage, "unexpected argument '%s'", argv[optind]);
	ret = vm_ref_attach(&ref, &name, &nl, &vm);
	if (ret)
		return ret;
	ret = kt_nl_measure(nl, vm.vm_id, flags, &m, &err);
	kt_nl_close(nl);
	if (ret)
		return cli_fail(&err, ret);
	kt_print_start(mode);
	print_measurement(&m, name.uuid);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}
