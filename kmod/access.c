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
 *
 * Writing a vCPU's registers (rollback) changes the VMM's state as a
 * debugger would: that takes the attach test's real ids, not the
 * filesystem ids /proc reads go by.
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

/*
 * The caller's filesystem ids (real ids with attach) are the target's, or
 * it has CAP_SYS_PTRACE over it.
 */
static bool same_ids_or_ptrace_cap(struct task_struct *task, bool attach)
{
	const struct cred *cred = current_cred(), *tcred;
	kuid_t uid = attach ? cred->uid : cred->fsuid;
	kgid_t gid = attach ? cred->gid : cred->fsgid;
	bool ok;

	rcu_read_lock();
	tcred = __task_cred(task);
	ok = (uid_eq(uid, tcred->euid) &&
	      uid_eq(uid, tcred->suid) &&
	      uid_eq(uid, tcred->uid) &&
	      gid_eq(gid, tcred->egid) &&
	      gid_eq(gid, tcred->sgid) &&
	      gid_eq(gid, tcred->gid)) ||
	     ns_capable(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	return ok;
}

static bool may_access(struct task_struct *task, bool attach)
{
	struct mm_struct *mm;
	bool ok = true;

	if (same_thread_group(task, current))
		return true;
	if (!same_ids_or_ptrace_cap(task, attach))
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

static int may_access_vmm(struct pid *vmm, bool attach,
			  struct netlink_ext_ack *extack)
{
	struct task_struct *task = get_pid_task(vmm, PIDTYPE_TGID);
	bool ok;

	if (!task) {
		NL_SET_ERR_MSG_MOD(extack, "the vm's process has exited");
		return -ESRCH;
	}
	ok = may_access(task, attach);
	put_task_struct(task);
	if (!ok) {
		if (attach)
			NL_SET_ERR_MSG_MOD(extack,
					   "no ptrace attach access to the vm's process");
		else
			NL_SET_ERR_MSG_MOD(extack,
					   "no ptrace read access to the vm's process");
		return -EPERM;
	}
	return 0;
}

/* 0 if the caller may read the memory of process vmm; extack says why not. */
int kvmtrust_may_read_vmm(struct pid *vmm, struct netlink_ext_ack *extack)
{
	return may_access_vmm(vmm, false, extack);
}

/* 0 if the caller may change the state of process vmm, as ptrace attach. */
int kvmtrust_may_write_vmm(struct pid *vmm, struct netlink_ext_ack *extack)
{
	return may_access_vmm(vmm, true, extack);
}
