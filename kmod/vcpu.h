/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_VCPU_H
#define _KVMTRUST_VCPU_H

#include <linux/types.h>
#include <uapi/linux/kvmtrust.h>

struct file;
struct kvm;
struct kvm_vcpu;
struct kvmtrust_vm;

bool kvmtrust_vcpu_idle(struct kvm_vcpu *vcpu, u64 *exits);

int kvmtrust_vcpus_read(struct kvmtrust_vm *vm, const u32 *index, u32 n,
			u8 *states, bool incremental, const char **msg);

#endif
