/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace recomputation of a measurement, written from
 * Documentation/measurement.rst and the VMM's own view of the guest (its
 * memory mappings, KVM_GET_REGS/KVM_GET_SREGS), never from the module's
 * code. The Merkle tree is user/lib/common/merkle.h (RFC 9162); selftests/
 * memory_root.py is a second, independent path in Python.
 */
#ifndef KT_RECOMPUTE_H
#define KT_RECOMPUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "common/merkle.h"
#include "kt_vm.h"

#define KT_VCPU_STATE_LEN 408

/* One leaf hash per guest page, ordered by guest physical address. */
kt_hash *kt_memory_leaves(struct kt_vm *vm, uint64_t *nr_leaves);
void kt_memory_root(struct kt_vm *vm, kt_hash root);

void kt_vcpu_state(uint32_t vcpu_id, const struct kvm_regs *regs, const struct kvm_sregs *sregs,
		   uint8_t out[KT_VCPU_STATE_LEN]);
/* Leaf hashes of an in-process VM's vCPUs, by id or in creation order. */
void kt_vcpu_leaves(struct kt_vm *vm, kt_hash *leaves, bool by_id);
/* Over every vCPU of an in-process VM, ordered by vCPU id. */
void kt_vcpu_root(struct kt_vm *vm, kt_hash root);

/*
 * The guest as selftests/vmm sees it: a "dump" file (per memslot: le64 gpa,
 * le64 size, the bytes) loaded as a kt_vm without fds, and one vCPU's
 * leaf from a "regs" file (struct kvm_regs then struct kvm_sregs).
 */
struct kt_vm *kt_vm_from_dump(const char *path);
void kt_vm_dump_free(struct kt_vm *vm);
int kt_vcpu_leaf_from_file(const char *path, uint32_t vcpu_id, kt_hash leaf);

#endif
