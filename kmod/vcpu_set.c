// SPDX-License-Identifier: GPL-2.0
/*
 * Raw vCPU registers out of and back into a paused VM: KVM's own
 * KVM_GET_REGS/KVM_GET_SREGS and KVM_SET_REGS/KVM_SET_SREGS on the vCPU
 * files, called from a kthread that adopts the VM's mm (vCPU ioctls need
 * current->mm == kvm->mm) and lends KVM a scratch page mapped there
 * (vmm_work.c), as vcpu.c reads them for a measurement. What a snapshot stores and a
 * rollback restores (KVMTRUST_CMD_VCPU_GET, KVMTRUST_CMD_VCPU_SET_REGS).
 *
 * A vCPU inside KVM_RUN holds vcpu->mutex: each is probed with a trylock
 * and refused with EBUSY. One that re-enters KVM_RUN between the probe and
 * the ioctl makes the ioctl wait for the mutex, killably: a thread that
 * makes no progress for a second is killed and the request refused. The
 * VM is owned like a measurement (KVMTRUST_VM_MEASURING) meanwhile, so no
 * measurement reads registers half written.
 */
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include <uapi/linux/kvmtrust.h>

#include "measure.h"
#include "vcpu.h"
#include "vcpu_set.h"
#include "vm.h"
#include "vmm_work.h"

/* KVM's x86 ABI, which the UAPI states in bytes. */
static_assert(sizeof(struct kvm_regs) == KVMTRUST_X86_REGS_LEN);
static_assert(sizeof(struct kvm_sregs) == KVMTRUST_X86_SREGS_LEN);

#define VCPU_IO_WAIT_MS 1000
#define MSG_ONCE_EACH KVMTRUST_MSG("give the registers of every vcpu of the vm, once each")

struct vcpu_io {
	struct kvmtrust_vmm_work work;
	struct kvmtrust_vcpu_regs *regs;
	u32 n;
	bool set;
};

static int ioctl_user(struct file *f, unsigned int cmd, void __user *scratch)
{
	long ret = f->f_op->unlocked_ioctl(f, cmd, (unsigned long)scratch);

	return ret ? (ret < 0 ? ret : -EIO) : 0;
}

static int get_one(struct file *f, void __user *scratch, struct kvmtrust_vcpu_regs *r)
{
	int err = ioctl_user(f, KVM_GET_REGS, scratch);

	if (!err && copy_from_user(&r->regs, scratch, sizeof(r->regs)))
		err = -EFAULT;
	if (!err)
		err = ioctl_user(f, KVM_GET_SREGS, scratch);
	if (!err && copy_from_user(&r->sregs, scratch, sizeof(r->sregs)))
		err = -EFAULT;
	return err;
}

static int set_one(struct file *f, void __user *scratch, const struct kvmtrust_vcpu_regs *r)
{
	int err = copy_to_user(scratch, &r->sregs, sizeof(r->sregs)) ? -EFAULT : 0;

	/* Segments and control registers first: KVM_SET_REGS may depend on the mode. */
	if (!err)
		err = ioctl_user(f, KVM_SET_SREGS, scratch);
	if (!err && copy_to_user(scratch, &r->regs, sizeof(r->regs)))
		err = -EFAULT;
	if (!err)
		err = ioctl_user(f, KVM_SET_REGS, scratch);
	return err;
}

/* In the VM's mm (vmm_work.c); every ioctl may be killed. */
static int io_all(struct kvmtrust_vmm_work *w, void __user *scratch)
{
	struct vcpu_io *io = container_of(w, struct vcpu_io, work);
	struct kvm_vcpu *vcpu;
	struct file *f;
	int err = 0;
	u32 i;

	kvmtrust_vmm_work_killable(w, true);
	for (i = 0; i < io->n && !err; i++) {
		struct kvmtrust_vcpu_regs *r = &io->regs[i];

		vcpu = kvm_get_vcpu(w->vm->kvm, r->index);
		if (!vcpu || !kvmtrust_vcpu_idle(vcpu, NULL)) {
			w->msg = KVMTRUST_MSG("a vcpu is running; pause the guest");
			return -EBUSY;
		}
		r->id = vcpu->vcpu_id;
		f = w->vm->vcpu_files[r->index];
		err = io->set ? set_one(f, scratch, r) : get_one(f, scratch, r);
		kvmtrust_vmm_work_progress(w);
	}
	return err;
}

/* Every vCPU of the VM must have a file and appear exactly once. */
static int check_vcpus(struct kvmtrust_vm *vm, const struct kvmtrust_vcpu_regs *regs, u32 n,
		       const char **msg)
{
	u32 online = atomic_read(&vm->kvm->online_vcpus), i, j;

	if (n != online) {
		*msg = MSG_ONCE_EACH;
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (regs[i].index >= vm->nr_vcpu_slots || !vm->vcpu_files[regs[i].index]) {
			*msg = KVMTRUST_MSG("a vcpu has no file; attach again with every vcpu fd");
			return -ENOENT;
		}
		for (j = 0; j < i; j++) {
			if (regs[j].index == regs[i].index) {
				*msg = MSG_ONCE_EACH;
				return -EINVAL;
			}
		}
	}
	return 0;
}

/*
 * Reads (set false: regs[i].index filled in by the caller, id and
 * registers out) or writes the registers of the VM's vCPUs. On failure
 * *msg says why.
 */
int kvmtrust_vcpu_regs_io(struct kvmtrust_vm *vm, struct kvmtrust_vcpu_regs *regs, u32 n,
			  bool set, const char **msg)
{
	struct vcpu_io io = {
		.work = { .vm = vm, .fn = io_all, .wait_ms = VCPU_IO_WAIT_MS },
		.regs = regs, .n = n, .set = set,
	};
	struct mm_struct *mm = vm->kvm->mm;
	int err;

	*msg = NULL;
	err = check_vcpus(vm, regs, n, msg);
	if (err)
		return err;
	if (test_and_set_bit(KVMTRUST_VM_MEASURING, &vm->flags)) {
		*msg = KVMTRUST_MSG("a measurement of this vm is running");
		return -EBUSY;
	}
	if (!mmget_not_zero(mm)) {
		*msg = KVMTRUST_MSG("the vm's process has exited");
		err = -ESRCH;
		goto out_owner;
	}
	err = kvmtrust_vmm_work_run(&io.work, "kvmtrust-vcpu-io");
	if (io.work.killed && err && io.work.detached) {
		err = -ENODEV;
		io.work.msg = KVMTRUST_MSG("the vm was detached meanwhile");
	} else if (io.work.killed && err) {
		err = -EBUSY;
		io.work.msg = KVMTRUST_MSG("a vcpu entered KVM_RUN meanwhile; pause the guest");
	} else if (err && !io.work.msg) {
		io.work.msg = set ? KVMTRUST_MSG("kvm refused the vcpu registers")
				  : KVMTRUST_MSG("cannot read vcpu registers");
	}
	*msg = io.work.msg;
	mmput(mm);
out_owner:
	clear_bit(KVMTRUST_VM_MEASURING, &vm->flags);
	return err;
}
