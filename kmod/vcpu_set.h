/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_VCPU_SET_H
#define _KVMTRUST_VCPU_SET_H

#include <linux/kvm.h>
#include <linux/types.h>

struct kvmtrust_vm;

/* One vCPU's registers, as KVM_GET_REGS/KVM_GET_SREGS give them. */
struct kvmtrust_vcpu_regs {
	u32 index;		/* the vCPU's index in the VM */
	u32 id;			/* its KVM_CREATE_VCPU id */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
};

int kvmtrust_vcpu_regs_io(struct kvmtrust_vm *vm, struct kvmtrust_vcpu_regs *regs, u32 n,
			  bool set, const char **msg);

#endif
