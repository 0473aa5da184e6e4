/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Auto-discovery of KVM VMs (discover = yes, Documentation/kvmtrustd.rst):
 * a scan of /proc for VMM processes, those holding an anon_inode:kvm-vm
 * descriptor and mapping a vCPU's kvm_run (anon_inode:kvm-vcpu:N in their
 * maps), so that a tool borrowing a VMM's descriptors for a moment (the
 * kvmtrust CLI, pidfd_getfd) is not taken for a VM.
 */
#ifndef KVMTRUSTD_DISCOVER_H
#define KVMTRUSTD_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ktd_found {
	pid_t pid;
	unsigned long long start_time;	/* /proc/PID/stat's starttime: with pid, one process */
};

/*
 * The VMMs running now, this process excepted, in /proc order: up to max in
 * out; the number found (which may be more than max), or -1 when /proc
 * cannot be read.
 */
long ktd_discover_scan(struct ktd_found *out, size_t max);

/* The start time of process pid, 0 when it is gone. */
unsigned long long ktd_process_start(pid_t pid);

#endif
