// SPDX-License-Identifier: GPL-2.0
/*
 * A kthread that runs work as the VMM: it adopts the VM's mm, lends KVM a
 * scratch page mapped there, and accepts SIGKILL, because a vCPU ioctl
 * waits (killably) for vcpu->mutex, which the VMM holds for as long as a
 * vCPU is in KVM_RUN. The waiter kills a thread that makes no progress, so
 * nothing waits without bound on a lock the VMM controls. vcpu.c reads
 * registers for a measurement this way, vcpu_set.c for snapshots and
 * rollbacks.
 */
#include <linux/kthread.h>
#include <linux/kvm_host.h>
#include <linux/mman.h>
#include <linux/sched/signal.h>

#include "measure.h"
#include "vm.h"
#include "vmm_work.h"

void kvmtrust_vmm_work_progress(struct kvmtrust_vmm_work *w)
{
	atomic_inc(&w->progress);
}

void kvmtrust_vmm_work_killable(struct kvmtrust_vmm_work *w, bool on)
{
	spin_lock(&w->lock);
	w->killable = on;
	spin_unlock(&w->lock);
}

static int work_fn(void *data)
{
	struct kvmtrust_vmm_work *w = data;
	struct mm_struct *mm = w->vm->kvm->mm;
	unsigned long scratch;

	allow_signal(SIGKILL);
	/* The caller holds mm_users for as long as it waits for us. */
	kthread_use_mm(mm);
	scratch = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(scratch)) {
		w->err = (long)scratch;
		w->msg = KVMTRUST_MSG("cannot map a scratch page in the vmm");
	} else {
		w->err = w->fn(w, (void __user *)scratch);
		kvmtrust_vmm_work_killable(w, false);
		/* A kill that came too late must not stop the unmap. */
		flush_signals(current);
		vm_munmap(scratch, PAGE_SIZE);
	}
	kthread_unuse_mm(mm);
	complete(&w->done);
	return 0;
}

static void kill_work(struct kvmtrust_vmm_work *w, struct task_struct *t)
{
	spin_lock(&w->lock);
	if (w->killable && !w->killed) {
		w->killed = true;
		send_sig(SIGKILL, t, 1);
	}
	spin_unlock(&w->lock);
}

int kvmtrust_vmm_work_run(struct kvmtrust_vmm_work *w, const char *name)
{
	unsigned long last = jiffies;
	struct task_struct *t;
	int seen = 0;

	init_completion(&w->done);
	spin_lock_init(&w->lock);
	atomic_set(&w->progress, 0);
	w->killable = false;
	w->killed = false;
	w->detached = false;
	w->err = 0;
	t = kthread_create(work_fn, w, "%s", name);
	if (IS_ERR(t)) {
		w->msg = KVMTRUST_MSG("cannot start a thread in the vm's memory");
		return PTR_ERR(t);
	}
	get_task_struct(t);
	wake_up_process(t);
	while (!wait_for_completion_timeout(&w->done, HZ / 10)) {
		if (atomic_read(&w->progress) != seen) {
			seen = atomic_read(&w->progress);
			last = jiffies;
		} else if (time_after(jiffies, last + msecs_to_jiffies(w->wait_ms))) {
			kill_work(w, t);
		}
		/* Module unload waits for us. */
		if (kvmtrust_vm_is_detached(w->vm)) {
			w->detached = true;
			kill_work(w, t);
		}
	}
	kthread_stop(t);
	put_task_struct(t);
	return w->err;
}
