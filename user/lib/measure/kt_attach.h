/* SPDX-License-Identifier: GPL-2.0 */
/*
 * "The VM of process PID": attach it with the descriptors borrowed from the
 * VMM, or, if it is attached already, find it among the attached VMs. What
 * `kvmtrust measure --pid` and attestation both need.
 */
#ifndef KVMTRUST_KT_ATTACH_H
#define KVMTRUST_KT_ATTACH_H

#include <stdbool.h>
#include <sys/types.h>

#include "measure/kt_nl.h"

/* *attached tells whether this call attached it (or found it attached). */
int kt_vm_attach_pid(struct kt_nl *nl, pid_t pid, struct kt_vm *out,
		     bool *attached, struct kt_err *err);

/* The attached VM whose VMM is pid: 0, -ENOENT or another negative errno. */
int kt_vm_find_pid(struct kt_nl *nl, pid_t pid, struct kt_vm *out,
		   struct kt_err *err);

/*
 * Attaches the VM of process pid if needed (it stays attached, as with
 * `kvmtrust measure`) and measures it. -EPROTONOSUPPORT when kvmtrust.ko
 * cannot be reached; other negative errnos as kt_nl_measure().
 */
int kt_vm_measure_pid(pid_t pid, uint32_t flags, struct kt_measurement *m,
		      struct kt_err *err);

#endif
