// SPDX-License-Identifier: GPL-2.0
/*
 * Freezing a VM's process for one measurement (KVMTRUST_MEASURE_F_FREEZE),
 * without the VMM's cooperation: a SIGSTOP group stop takes every thread
 * of the VMM, vCPU threads included, out of KVM_RUN and out of user mode.
 * The measurement work that froze the process continues it (SIGCONT) on
 * every path out, so neither the client nor the VMM has to; see
 * Documentation/measurement.rst ("Freeze") for who resumes in each case.
 *
 * The module reads the process's job control state without its siglock
 * (6.1 exports neither lock_task_sighand nor anything that reads it): each
 * field is one word read with READ_ONCE, and every decision taken on such
 * a snapshot is either re-checked (the stop must still hold after the
 * measurement) or backed by the measurement's own proofs (vCPU exit
 * counts, soft-dirty bits), which do not trust the freeze.
 */
#include <linux/delay.h>
#include <linux/moduleparam.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/timekeeping.h>

#include "freeze.h"
#include "measure.h"
#include "vm.h"

#define MSG KVMTRUST_MSG

static uint freeze_timeout_ms = 10000;
module_param(freeze_timeout_ms, uint, 0644);
MODULE_PARM_DESC(freeze_timeout_ms,
		 "how long a frozen measurement waits for the vm's process to stop (ms)");

/* A job control stop of the whole thread group is in effect. */
static bool group_stopped(struct task_struct *leader)
{
	return READ_ONCE(leader->signal->flags) & SIGNAL_STOP_STOPPED;
}

/* Exiting or exec'ing: no stop will complete. */
static bool group_leaving(struct task_struct *leader)
{
	struct signal_struct *sig = leader->signal;

	return (READ_ONCE(sig->flags) & SIGNAL_GROUP_EXIT) ||
	       READ_ONCE(sig->group_exec_task);
}

/* A stop signal waits for the group, or a group stop is under way. */
static bool stop_pending(struct task_struct *leader)
{
	struct signal_struct *sig = leader->signal;

	return READ_ONCE(sig->group_stop_count) ||
	       (READ_ONCE(sig->shared_pending.signal.sig[0]) & sigmask(SIGSTOP));
}

/* Every live thread sits in do_signal_stop (or in a ptrace stop). */
static bool all_threads_stopped(struct task_struct *leader)
{
	struct task_struct *t;
	bool all = true;

	rcu_read_lock();
	for_each_thread(leader, t) {
		if (!READ_ONCE(t->exit_state) && !task_is_stopped_or_traced(t)) {
			all = false;
			break;
		}
	}
	rcu_read_unlock();
	return all;
}

static int wait_stopped(struct kvmtrust_freeze *fz, struct task_struct *leader,
			const char **msg)
{
	u64 deadline = ktime_get_ns() + (u64)READ_ONCE(freeze_timeout_ms) * NSEC_PER_MSEC;
	unsigned long us = 20;

	/* Sleeps in the measurement's worker: no lock is held here. */
	for (;;) {
		if (group_stopped(leader) && all_threads_stopped(leader))
			return 0;
		if (group_leaving(leader)) {
			*msg = MSG("the vm's process is exiting");
			return -ESRCH;
		}
		if (kvmtrust_vm_is_detached(fz->vm)) {
			*msg = MSG("vm was detached during the measurement");
			return -ENODEV;
		}
		if (ktime_get_ns() > deadline) {
			*msg = MSG("the vm's process did not stop within freeze_timeout_ms");
			return -ETIMEDOUT;
		}
		usleep_range(us, 2 * us);
		us = min(2 * us, 2000UL);
	}
}

static void resume(struct kvmtrust_freeze *fz)
{
	if (!fz->stopped)
		return;
	/* -ESRCH when the process is gone: nothing is left to continue. */
	kill_pid(fz->vm->vmm_pid, SIGCONT, 1);
	fz->pause_ns = ktime_get_ns() - fz->start_ns;
	fz->stopped = false;
}

int kvmtrust_freeze(struct kvmtrust_freeze *fz, struct kvmtrust_vm *vm,
		    const char **msg)
{
	struct task_struct *leader;
	int err;

	*fz = (struct kvmtrust_freeze){ .vm = vm };
	leader = get_pid_task(vm->vmm_pid, PIDTYPE_TGID);
	if (!leader) {
		*msg = MSG("the vm's process has exited");
		return -ESRCH;
	}
	/*
	 * Stopped (or being stopped) by someone else: measured as it is and
	 * left stopped, as it was found. Otherwise the stop is ours, and so
	 * is the continue.
	 */
	if (!group_stopped(leader) && !stop_pending(leader)) {
		fz->start_ns = ktime_get_ns();
		err = kill_pid(vm->vmm_pid, SIGSTOP, 1);
		if (err) {
			*msg = MSG("cannot stop the vm's process");
			goto out;
		}
		fz->stopped = true;
	}
	err = wait_stopped(fz, leader, msg);
	if (err)
		resume(fz);
out:
	put_task_struct(leader);
	return err;
}

int kvmtrust_thaw(struct kvmtrust_freeze *fz, const char **msg)
{
	struct task_struct *leader;
	bool held = false, gone = true;
	int err = 0;

	leader = get_pid_task(fz->vm->vmm_pid, PIDTYPE_TGID);
	if (leader) {
		/*
		 * Still stopped: nobody continued the process meanwhile (one
		 * who continued and stopped it again is caught by the vCPU
		 * exit counts and the soft-dirty bits). A SIGSTOP that arrived
		 * while it was frozen is pending (a stopped group dequeues
		 * nothing): the operator wants it stopped, so it stays.
		 */
		gone = group_leaving(leader);
		held = group_stopped(leader);
		if (READ_ONCE(leader->signal->shared_pending.signal.sig[0]) &
		    sigmask(SIGSTOP))
			fz->stopped = false;
		put_task_struct(leader);
	}
	if (gone) {
		*msg = MSG("the vm's process exited during the measurement");
		err = -ESRCH;
	} else if (!held) {
		*msg = MSG("the vm's process was continued during the measurement");
		err = -EBUSY;
	}
	if (fz->stopped)
		resume(fz);
	else if (fz->start_ns)
		fz->pause_ns = ktime_get_ns() - fz->start_ns;
	return err;
}
