/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Drives selftests/vmm (the test guest in its own process) over its
 * stdin/stdout line protocol, documented at the top of vmm.c.
 */
#ifndef KT_VMM_PROC_H
#define KT_VMM_PROC_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kt_genl.h"
#include "kt_vm.h"

struct kt_vmm {
	pid_t pid;
	FILE *cmd;		/* to the VMM's stdin */
	FILE *reply;		/* from its stdout */
	uint32_t seed;
	uint64_t pages;
	int vm_fd;		/* fd numbers inside the VMM process */
	unsigned int nr_vcpus;
	int vcpu_fds[KT_MAX_VCPUS];
};

/* Starts the VMM with extra options (may be NULL); waits for "ready". */
int kt_vmm_start(struct kt_vmm *v, uint32_t seed, const char *options);
/* Sends one command; 0 when the VMM answered "ok". reply may be NULL. */
int __attribute__((format(printf, 4, 5)))
kt_vmm_cmd(struct kt_vmm *v, char *reply, size_t len, const char *fmt, ...);
/*
 * "run", then waits (up to 10 s) until the guest's spin counter has moved:
 * its vCPU is then inside KVM_RUN, not about to enter it (TCG is slow).
 */
int kt_vmm_run_until_progress(struct kt_vmm *v);
/* "exit" and reap; SIGKILL if it does not go. */
void kt_vmm_stop(struct kt_vmm *v);
/* SIGKILL and reap. */
void kt_vmm_kill(struct kt_vmm *v);
/* Duplicates one of the VMM's fds into this process: fd or -errno. */
int kt_vmm_getfd(struct kt_vmm *v, int remote_fd);

/*
 * Attaches the VMM's VM and all its vCPUs the way `kvmtrust --pid` does:
 * fds duplicated with pidfd_getfd, closed again once the module holds its
 * own references. 0 or -errno (g->extack says why).
 */
int kt_vmm_attach(struct kt_vmm *v, struct kt_genl *g, uint32_t *vm_id);

/* Path of a program built next to the running test (selftests/build/). */
void kt_build_path(const char *name, char *out, size_t len);

#endif
