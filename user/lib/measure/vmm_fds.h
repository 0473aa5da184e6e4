/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Borrowing a running VMM's KVM file descriptors: the VM (anon_inode:kvm-vm)
 * and its vCPUs (anon_inode:kvm-vcpu:N), found in /proc/PID/fd and copied
 * into this process with pidfd_open + pidfd_getfd, so that kvmtrust.ko can
 * be handed descriptors "the sender owns". Needs PTRACE_MODE_ATTACH rights
 * over the VMM (root, or CAP_SYS_PTRACE).
 */
#ifndef KVMTRUST_VMM_FDS_H
#define KVMTRUST_VMM_FDS_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

struct kt_vmm_fds {
	int vm_fd;		/* ours, -1 when closed */
	int *vcpu_fds;		/* ours, ordered by N of kvm-vcpu:N */
	size_t nr_vcpus;
};

/*
 * Returns 0, or a negative errno with err set: -ESRCH no such process,
 * -ENODEV the process has no KVM VM, -EMLINK it has several (use --fd),
 * -EPERM not allowed to take its descriptors.
 */
int kt_vmm_fds_get(pid_t pid, struct kt_vmm_fds *out, struct kt_err *err);
void kt_vmm_fds_close(struct kt_vmm_fds *fds);

#endif
