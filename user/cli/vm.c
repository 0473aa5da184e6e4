// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust vm attach | list | detach: which KVM VMs the module measures.
 * Script form (--script) of every VM line, in this column order:
 *   vm_id vmm_pid vcpus vcpu_fds mem_bytes seq vm
 */
#include <errno.h>
#include <getopt.h>
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

#define MAX_VCPU_FDS 1024

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s vm attach " VM_REF_USAGE " [--json | --script]\n"
		"       %s vm attach --fd N [--vcpu-fd N ...] [--json | --script]\n"
		"       %s vm list [--json | --script]\n"
		"       %s vm detach " VM_REF_USAGE " | --vm-id ID\n\n"
		"attach  hands a VM to kvmtrust.ko: the VM and vCPU descriptors of its VMM\n"
		"        (borrowed with pidfd_getfd), or descriptors of this process\n"
		"list    shows the attached VMs\n"
		"detach  drops a VM and every reference the module holds to it\n",
		prog, prog, prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE));
}

/* uuid NULL: the VMM's own, when its command line names one. */
static void print_vm(const struct kt_vm *vm, const char *uuid)
{
	char own[KT_UUID_STR_LEN + 1];

	if (!uuid && !vm_ref_uuid_of_pid((pid_t)vm->vmm_pid, own))
		uuid = own;
	kt_print_open_object(NULL);
	kt_print_u64("vm_id", "vm %s:", vm->vm_id);
	kt_print_u64("vmm_pid", " pid %s,", vm->vmm_pid);
	kt_print_u64("vcpus", " %s vcpus", vm->vcpu_count);
	kt_print_u64("vcpu_fds", " (%s held),", vm->vcpu_fds_held);
	kt_print_u64("mem_bytes", " %s bytes,", vm->mem_bytes);
	kt_print_u64("seq", " measured %s times", vm->seq);
	kt_print_string("vm", uuid ? ", uuid %s\n" : "\n", uuid);
	kt_print_close_object();
}

struct args {
	enum kt_print_mode mode;
	struct vm_ref ref;
	int fd;			/* -1: not given */
	int vcpu_fds[MAX_VCPU_FDS];
	size_t nr_vcpu_fds;
	uint32_t vm_id;		/* detach --vm-id; 0: not given */
};

static int parse(int argc, char *argv[], struct args *a)
{
	enum { O_VM_ID = 256 };
	static const struct option opts[] = {
		CLI_OUTPUT_OPTIONS,
		VM_REF_OPTIONS,
		{ "fd", required_argument, NULL, 'f' },
		{ "vcpu-fd", required_argument, NULL, 'v' },
		{ "vm-id", required_argument, NULL, O_VM_ID },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint32_t v;
	int c;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	optind = 1;
	while ((c = cli_getopt(argc, argv, "jsf:v:h", opts)) != -1) {
		if (vm_ref_option(&a->ref, c, optarg))
			continue;
		switch (c) {
		case 'f':
			if (!cli_parse_u32("fd", optarg, 0, INT32_MAX, &v))
				return KT_EXIT_USAGE;
			a->fd = v;
			break;
		case 'v':
			if (!cli_parse_u32("vcpu fd", optarg, 0, INT32_MAX, &v))
				return KT_EXIT_USAGE;
			if (a->nr_vcpu_fds == MAX_VCPU_FDS)
				return cli_bad_usage(NULL, NULL, "at most %d --vcpu-fd", MAX_VCPU_FDS);
			a->vcpu_fds[a->nr_vcpu_fds++] = v;
			break;
		case O_VM_ID:
			if (!cli_parse_u32("vm id", optarg, 1, UINT32_MAX, &a->vm_id))
				return KT_EXIT_USAGE;
			break;
		case 'h': usage(stdout); return -1;
		default:
			if (cli_output_option(c, &a->mode))
				break;
			usage(stderr);
			return KT_EXIT_USAGE;
		}
	}
	return 0;
}

static int attach(struct kt_nl *nl, struct args *a, const struct vm_name *name)
{
	struct kt_err err = { 0 };
	bool attached = true;
	struct kt_vm vm;
	int ret;

	if (name->pid)
		ret = kt_vm_attach_pid(nl, name->pid, &vm, &attached, &err);
	else
		ret = kt_nl_vm_attach(nl, a->fd, a->vcpu_fds, a->nr_vcpu_fds, &vm, &err);
	if (ret)
		return cli_fail(&err, ret);
	if (!attached && a->mode == KT_PRINT_TEXT)
		printf("already attached: ");
	kt_print_start(a->mode);
	print_vm(&vm, name->pid ? name->uuid : NULL);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

static int list(struct kt_nl *nl, struct args *a)
{
	struct kt_err err = { 0 };
	struct kt_vm *vms;
	size_t nr, i;
	int ret;

	ret = kt_nl_vm_list(nl, &vms, &nr, &err);
	if (ret)
		return cli_fail(&err, ret);
	kt_print_start(a->mode);
	if (!nr)
		kt_print_text("no vm is attached\n");
	kt_print_open_array(NULL);
	for (i = 0; i < nr; i++)
		print_vm(&vms[i], NULL);
	kt_print_close_array();
	free(vms);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

static int detach(struct kt_nl *nl, struct args *a, const struct vm_name *name)
{
	struct kt_err err = { 0 };
	uint32_t id = a->vm_id;
	struct kt_vm vm;
	int ret;

	if (name->pid) {
		ret = kt_vm_find_pid(nl, name->pid, &vm, &err);
		if (ret)
			return cli_fail(&err, ret);
		id = vm.vm_id;
	}
	ret = kt_nl_vm_detach(nl, id, &err);
	if (ret)
		return cli_fail(&err, ret);
	if (a->mode == KT_PRINT_TEXT)
		printf("vm %u detached\n", id);
	return KT_EXIT_OK;
}

/* Usage errors are found before the module is asked anything. */
static int check_args(const char *cmd, struct args *a, int argc, char *argv[])
{
	bool named = vm_ref_given(&a->ref), by_fd = a->fd >= 0 || a->nr_vcpu_fds;

	if (optind != argc)
		return cli_bad_usage("vm", usage, "unexpected argument '%s'", argv[optind]);
	if (!strcmp(cmd, "list") && (named || by_fd || a->vm_id))
		return cli_bad_usage("vm", usage, "list takes no VM");
	if (!strcmp(cmd, "attach") && (named == by_fd || a->vm_id || (by_fd && a->fd < 0)))
		return cli_bad_usage("vm", usage, "attach needs a VM name or --fd (with --vcpu-fd)");
	if (!strcmp(cmd, "detach") && (named == !!a->vm_id || by_fd))
		return cli_bad_usage("vm", usage, "detach needs a VM name or --vm-id");
	return KT_EXIT_OK;
}

int vm_main(int argc, char *argv[])
{
	struct vm_name name = { 0 };
	const char *cmd;
	struct args a;
	struct kt_nl *nl;
	int ret;

	if (cli_group_usage(argc, argv, usage, &ret))
		return ret;
	cmd = argv[1];
	if (strcmp(cmd, "attach") && strcmp(cmd, "list") && strcmp(cmd, "detach"))
		return cli_bad_usage("vm", usage, "unknown command '%s'", cmd);
	ret = parse(argc - 1, argv + 1, &a);
	if (ret)
		return ret < 0 ? KT_EXIT_OK : ret;
	ret = check_args(cmd, &a, argc - 1, argv + 1);
	if (!ret && vm_ref_given(&a.ref))
		ret = vm_ref_resolve(&a.ref, VM_REF_PROCESS, &name);
	if (ret)
		return ret;
	nl = cli_nl_open();
	if (!nl)
		return KT_EXIT_UNAVAILABLE;
	if (!strcmp(cmd, "attach"))
		ret = attach(nl, &a, &name);
	else if (!strcmp(cmd, "list"))
		ret = list(nl, &a);
	else
		ret = detach(nl, &a, &name);
	kt_nl_close(nl);
	return ret;
}
