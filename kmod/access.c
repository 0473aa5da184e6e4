// SPDX-License-Identifier: GPL-2.0
/*
 * Who may attach, measure and detach a VM: besides CAP_NET_ADMIN (the
 * family's GENL_ADMIN_PERM), the caller must be allowed to read the VMM's
 * memory, as ptrace_may_access(task, PTRACE_MODE_READ_FSCREDS) decides for
 * /proc/PID files. A measurement reads every guest page and vCPU register;
 * CAP_NET_ADMIN alone (a network administrator, a container's root) must
 * not be enough.
 *
 * 6.1 exports neither ptrace_may_access() nor the LSM hook behind it, so
 * this is __ptrace_may_access()'s credential and dumpability test, written
 * again; LSMs (Yama's ptrace_scope) are not consulted. The CLI's --pid
 * path also borrows the VMM's descriptors with pidfd_getfd(), which makes
 * the full check (PTRACE_MODE_ATTACH_REALCREDS) with the LSMs.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/netlink.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>

#include "access.h"

/* The caller's filesystem ids are the target's, or CAP_SYS_PTRACE over it. */
static bool same_ids_or_ptrace_cap(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	bool ok;

	rcu_read_lock();
	tcred = __task_cred(task);
	ok = (uid_eq(cred->fsuid, tcred->euid) &&
	      uid_eq(cred->fsuid, tcred->suid) &&
	      uid_eq(cred->fsuid, tcred->uid) &&
	      gid_eq(cred->fsgid, tcred->egid) &&
	      gid_eq(cred->fsgid, tcred->sgid) &&
	      gid_eq(cred->fsgid, tcred->gid)) ||
	     ns_capable(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	return ok;
}

static bool may_read(struct task_struct *task)
{
	struct mm_struct *mm;
	bool ok = true;

	if (same_thread_group(task, current))
		return true;
	if (!same_ids_or_ptrace_cap(task))
		return false;
	/* As __ptrace_may_access: dumpability is read after the credentials. */
	smp_rmb();
	task_lock(task);
	mm = task->mm;
	if (mm && get_dumpable(mm) != SUID_DUMP_USER &&
	    !ns_capable(mm->user_ns, CAP_SYS_PTRACE))
		ok = false;
	task_unlock(task);
	return ok;
}

/* 0 if the caller may read the memory of process vmm; extack says why not. */
int kvmtrust_may_read_vmm(struct pid *vmm, struct netlink_ext_ack *extack)
{
	struct task_struct *task = get_pid_task(vmm, PIDTYPE_TGID);
	bool ok;

	if (!task) {
		NL_SET_ERR_MSG_MOD(extack, "the vm's process has exited");
		return -ESRCH;
	}
	ok = may_read(task);
	put_task_struct(task);
	if (!ok) {
		NL_SET_ERR_MSG_MOD(extack,
				   "no ptrace read access to the vm's process");
		return -EPERM;
	}
	return 0;
}
