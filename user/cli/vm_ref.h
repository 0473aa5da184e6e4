/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one way every command names a VM (Documentation/cli.rst): --pid PID
 * (its VMM process), --uuid UUID, or --domain NAME (a libvirt domain). The
 * VM's UUID is its name in every stage (measure, attest, ledger, score,
 * grant, migrate): QEMU's -uuid, the libvirt domain's UUID, or the one
 * given with --uuid for a VMM started without one. Lowercase on output.
 */
#ifndef KVMTRUST_VM_REF_H
#define KVMTRUST_VM_REF_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/uuid.h"

struct vm_ref {
	pid_t pid;		/* 0: not given */
	const char *uuid;	/* as given, either case */
	const char *domain;
};

/* The options in a getopt_long table; their ids sit above the callers' own. */
enum { VM_REF_O_PID = 0x2000, VM_REF_O_UUID, VM_REF_O_DOMAIN };
#define VM_REF_OPTIONS							\
	{ "pid", required_argument, NULL, VM_REF_O_PID },		\
	{ "uuid", required_argument, NULL, VM_REF_O_UUID },		\
	{ "domain", required_argument, NULL, VM_REF_O_DOMAIN }
#define VM_REF_USAGE "(--pid PID | --uuid UUID | --domain NAME)"

/*
 * Stores one of VM_REF_OPTIONS: true; false for any other option. A --pid
 * that is not a number is said and exits with KT_EXIT_USAGE, as
 * cli_output_option() does: a parse-time error, nothing to unwind yet.
 */
bool vm_ref_option(struct vm_ref *r, int opt, const char *arg);

bool vm_ref_given(const struct vm_ref *r);

/*
 * KT_EXIT_OK when r names a VM in a way that can resolve, else (message
 * printed) KT_EXIT_USAGE; for commands that check usage before any file.
 */
int vm_ref_check(const struct vm_ref *r);

/* What a command needs of the VM: its UUID, or its VMM process too. */
enum vm_ref_need { VM_REF_UUID, VM_REF_PROCESS };

struct vm_name {
	char uuid[KT_UUID_STR_LEN + 1];	/* canonical: lowercase */
	pid_t pid;			/* the VMM; 0 unless VM_REF_PROCESS */
};

/*
 * Resolves r: --pid reads the UUID from the VMM's command line (QEMU's
 * -uuid, our test VMM's --uuid), --domain asks libvirt, --uuid is taken as
 * given; with VM_REF_PROCESS the VMM whose command line carries the UUID is
 * looked up too. Returns an exit status; a failure is printed, naming what
 * to pass instead.
 */
int vm_ref_resolve(const struct vm_ref *r, enum vm_ref_need need, struct vm_name *out);

struct kt_nl;
struct kt_vm;
/*
 * Resolves r to its VMM (VM_REF_PROCESS), connects to the module and
 * attaches the VM if it is not yet: an exit status, failures printed. On
 * KT_EXIT_OK *nl is open (kt_nl_close() it) and *vm the VM.
 */
int vm_ref_attach(const struct vm_ref *r, struct vm_name *name, struct kt_nl **nl,
		  struct kt_vm *vm);

/* The UUID on process pid's command line: 0, or -1 when it has none. */
int vm_ref_uuid_of_pid(pid_t pid, char uuid[KT_UUID_STR_LEN + 1]);

#endif
