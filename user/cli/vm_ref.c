// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "measure/kt_attach.h"
#include "measure/vmm_cmdline.h"
#include "measure/vmm_fds.h"
#include "subcommands.h"
#include "vm_domain.h"
#include "vm_ref.h"

/* More VMMs than this claiming one UUID is a misconfiguration, not a choice. */
#define MAX_CLAIMS 8

bool vm_ref_option(struct vm_ref *r, int opt, const char *arg)
{
	uint32_t pid;

	switch (opt) {
	case VM_REF_O_PID:
		if (!cli_parse_u32("pid", arg, 1, INT32_MAX, &pid))
			exit(KT_EXIT_USAGE);
		r->pid = (pid_t)pid;
		return true;
	case VM_REF_O_UUID:
		r->uuid = arg;
		return true;
	case VM_REF_O_DOMAIN:
		r->domain = arg;
		return true;
	default:
		return false;
	}
}

bool vm_ref_given(const struct vm_ref *r)
{
	return r->pid || r->uuid || r->domain;
}

static int vm_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int vm_error(int status, const char *fmt, ...)
{
	struct kt_err err = { .check = "vm" };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	return cli_error(NULL, &err, status);
}

int vm_ref_uuid_of_pid(pid_t pid, char uuid[KT_UUID_STR_LEN + 1])
{
	char *buf = malloc(KT_VMM_CMDLINE_MAX);
	const char *bad;
	int ret;

	if (!buf)
		return -1;
	ret = kt_vmm_pid_uuid(pid, buf, uuid, &bad);
	free(buf);
	return ret ? -1 : 0;
}

/* --pid: the UUID on its command line, or the one --uuid gives for it. */
static int uuid_of_pid(const struct vm_ref *r, char *buf, struct vm_name *out)
{
	char given[KT_UUID_STR_LEN + 1];
	const char *bad;
	int ret = kt_vmm_pid_uuid(r->pid, buf, out->uuid, &bad);

	if (ret < 0)
		return vm_error(ret == -ENOENT ? KT_EXIT_NOT_FOUND : KT_EXIT_FAILURE,
				"no process with pid %d%s%s", (int)r->pid,
				ret == -ENOENT ? "" : ": ", ret == -ENOENT ? "" : strerror(-ret));
	if (bad)
		return vm_error(KT_EXIT_FAILURE, "process %d has -uuid '%s', which is not a UUID",
				(int)r->pid, bad);
	if (r->uuid && kt_uuid_canonical(r->uuid, given))
		return vm_error(KT_EXIT_USAGE, "'%s' is not a UUID", r->uuid);
	if (ret == 1 && !r->uuid)
		return vm_error(KT_EXIT_USAGE,
				"process %d (%s) was started without -uuid: name its VM with "
				"--pid %d --uuid UUID", (int)r->pid, buf, (int)r->pid);
	if (ret == 1)
		memcpy(out->uuid, given, sizeof(given));
	else if (r->uuid && strcmp(given, out->uuid))
		return vm_error(KT_EXIT_USAGE, "process %d runs VM %s, not %s", (int)r->pid,
				out->uuid, given);
	out->pid = r->pid;
	return KT_EXIT_OK;
}

/*
 * A wrapper script started with the same -uuid as its QEMU also claims the
 * UUID: among several claims, the VMM is the one holding a KVM VM.
 */
static int vmm_of(const char *uuid, char *buf, pid_t *out)
{
	pid_t pids[MAX_CLAIMS + 1], vmm = 0;
	struct kt_vmm_fds fds;
	size_t n = kt_vmm_uuid_claims(uuid, buf, pids, MAX_CLAIMS + 1), i, vmms = 0, denied = 0;
	int ret;

	if (n == 1) {
		*out = pids[0];
		return KT_EXIT_OK;
	}
	if (!n)
		return vm_error(KT_EXIT_NOT_FOUND,
				"no running process has -uuid %s: start the VMM with it, or name "
				"the VM with --pid PID --uuid %s", uuid, uuid);
	for (i = 0; i < n && i < MAX_CLAIMS; i++) {
		ret = kt_vmm_fds_get(pids[i], &fds, NULL);
		if (!ret) {
			kt_vmm_fds_close(&fds);
			vmm = pids[i];
			vmms++;
		}
		denied += ret == -EPERM;
	}
	if (vmms == 1) {
		*out = vmm;
		return KT_EXIT_OK;
	}
	if (!vmms && denied)
		return vm_error(KT_EXIT_PERM, "%zu processes have -uuid %s and their descriptors "
				"cannot be read: run as root, or name the VM with --pid", n, uuid);
	return vm_error(KT_EXIT_FAILURE, "%zu processes have -uuid %s: name the VM with --pid",
			vmms ? vmms : n, uuid);
}

int vm_ref_check(const struct vm_ref *r)
{
	if (!vm_ref_given(r))
		return cli_bad_usage(NULL, NULL, "name the VM with --pid, --uuid or --domain");
	if (r->domain && (r->pid || r->uuid))
		return cli_bad_usage(NULL, NULL, "--domain names the VM alone: drop --pid and --uuid");
	return KT_EXIT_OK;
}

int vm_ref_resolve(const struct vm_ref *r, enum vm_ref_need need, struct vm_name *out)
{
	char *buf;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = vm_ref_check(r);
	if (ret)
		return ret;
	buf = malloc(KT_VMM_CMDLINE_MAX);
	if (!buf)
		return vm_error(KT_EXIT_FAILURE, "out of memory");
	if (r->pid)
		ret = uuid_of_pid(r, buf, out);
	else if (r->domain)
		ret = vm_domain_uuid(r->domain, out->uuid);
	else if (kt_uuid_canonical(r->uuid, out->uuid))
		ret = cli_bad_usage(NULL, NULL, "'%s' is not a UUID", r->uuid);
	else
		ret = KT_EXIT_OK;
	if (!ret && need == VM_REF_PROCESS && !out->pid)
		ret = vmm_of(out->uuid, buf, &out->pid);
	free(buf);
	return ret;
}

int vm_ref_attach(const struct vm_ref *r, struct vm_name *name, struct kt_nl **nl,
		  struct kt_vm *vm)
{
	struct kt_err err = { 0 };
	bool attached;
	int ret;

	ret = vm_ref_resolve(r, VM_REF_PROCESS, name);
	if (ret)
		return ret;
	*nl = cli_nl_open();
	if (!*nl)
		return KT_EXIT_UNAVAILABLE;
	ret = kt_vm_attach_pid(*nl, name->pid, vm, &attached, &err);
	if (ret) {
		kt_nl_close(*nl);
		*nl = NULL;
		return cli_fail(&err, ret);
	}
	return KT_EXIT_OK;
}
