/* SPDX-License-Identifier: GPL-2.0 */
#ifndef KVMTRUST_VMM_WORK_H
#define KVMTRUST_VMM_WORK_H

#include <linux/completion.h>
#include <linux/spinlock.h>
#include <linux/types.h>

struct kvmtrust_vm;

/*
 * Work that must run as the VMM: vCPU ioctls need current->mm == kvm->mm
 * and user memory to copy registers through. The caller fills vm, fn and
 * wait_ms and keeps the VM's mm alive (mm_users) for the whole run.
 */
struct kvmtrust_vmm_work {
	struct kvmtrust_vm *vm;
	/* Runs in a kthread inside the VM's mm; scratch is one user page there. */
	int (*fn)(struct kvmtrust_vmm_work *w, void __user *scratch);
	unsigned int wait_ms;	/* killed after this long without progress */
	const char *msg;	/* fn's reason for a failure, or NULL */
	/* Out of kvmtrust_vmm_work_run(): why the thread was killed, if it was. */
	bool killed;
	bool detached;
	/* Private. */
	struct completion done;
	spinlock_t lock;	/* protects killable and killed */
	bool killable;
	atomic_t progress;
	int err;
};

/* fn made progress: the watchdog starts counting again. */
void kvmtrust_vmm_work_progress(struct kvmtrust_vmm_work *w);

/*
 * From fn: whether SIGKILL may end what follows (a vCPU ioctl waiting for
 * a vcpu->mutex the VMM holds) or must not (clearing soft-dirty bits).
 */
void kvmtrust_vmm_work_killable(struct kvmtrust_vmm_work *w, bool on);

/*
 * Runs fn in a kthread named name that adopts the VM's mm and maps a
 * scratch page there; waits while it makes progress, kills it (while
 * killable) once it made none for wait_ms or when the VM is detached.
 * Returns fn's result (or why it could not run, with w->msg set).
 */
int kvmtrust_vmm_work_run(struct kvmtrust_vmm_work *w, const char *name);

#endif
