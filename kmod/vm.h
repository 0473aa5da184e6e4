/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_VM_H
#define _KVMTRUST_VM_H

#include <linux/kref.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "measure.h"

struct file;
struct kvm;
struct kvmtrust_mem_state;
struct task_struct;
struct net;
struct netlink_ext_ack;

/*
 * An attached VM. The module holds a reference on the struct kvm and on
 * every vCPU file the user handed in; they go away together when the last
 * reference to this object is put, after a detach.
 */
struct kvmtrust_vm {
	struct kref ref;
	u32 id;
	/* The VMM process (thread group), shown in the caller's pid namespace. */
	struct pid *vmm_pid;
	struct kvm *kvm;
	struct module *kvm_module;
	/*
	 * Where it was attached from, referenced: only callers in this network
	 * namespace see the VM, and its notifications go there.
	 */
	struct net *net;

	/* vCPU files by vCPU index; set before the VM is registered, then fixed. */
	struct file **vcpu_files;
	unsigned int nr_vcpu_slots;
	unsigned int vcpu_files_held;

	/* .release queues release_work when the VM's process exits. */
	struct mmu_notifier notifier;
	bool notifier_registered;
	struct work_struct release_work;

	/* Set once under vms_lock; measurements poll it to stop early. */
	bool detached;

	/*
	 * KVMTRUST_VM_MEASURING: a measurement owns the VM, from
	 * kvmtrust_measure_prepare until its result is published. Only the
	 * owner uses mem, clearing and clear_foreign and writes seq, so none
	 * needs a lock.
	 */
	unsigned long flags;
	u64 seq;
	/* The kept tree and fingerprints (memory.c), or NULL. */
	struct kvmtrust_mem_state *mem;
	/* The thread clearing soft-dirty bits for us, while it does. */
	struct task_struct *clearing;
	/* foreign_clears when our last clear began. */
	int clear_foreign;
	/* clear_refs of soft-dirty bits by anyone else (CRIU, ...). */
	atomic_t foreign_clears;

	/* Protects last and last_states. */
	struct mutex result_lock;
	struct kvmtrust_measurement last;
	/*
	 * The vCPU serializations last's vcpu_root was hashed from (last.vcpus
	 * of them, KVMTRUST_VCPU_STATE_LEN each, in leaf order), or NULL.
	 */
	u8 *last_states;
};

#define KVMTRUST_VM_MEASURING 0

int kvmtrust_vm_init(void);
void kvmtrust_vm_exit(void);

struct kvmtrust_vm *kvmtrust_vm_create(struct file *vm_file, struct net *net,
				       struct netlink_ext_ack *extack);
int kvmtrust_vm_add_vcpu(struct kvmtrust_vm *vm, struct file *vcpu_file,
			 struct netlink_ext_ack *extack);
int kvmtrust_vm_register(struct kvmtrust_vm *vm, struct netlink_ext_ack *extack);
int kvmtrust_vm_detach(struct kvmtrust_vm *vm);

struct kvmtrust_vm *kvmtrust_vm_get(struct net *net, u32 id);
struct kvmtrust_vm *kvmtrust_vm_get_next(struct net *net, u32 *id);
void kvmtrust_vm_put(struct kvmtrust_vm *vm);

struct kvmtrust_vm_info {
	u32 id;
	u32 vmm_pid;
	u32 vcpu_count;
	u32 vcpu_files_held;
	u64 mem_bytes;
	u64 seq;
};

void kvmtrust_vm_describe(struct kvmtrust_vm *vm, struct kvmtrust_vm_info *info);
bool kvmtrust_vm_is_detached(struct kvmtrust_vm *vm);

/* Measurements and detaches; a measurement waits for its hash workers. */
extern struct workqueue_struct *kvmtrust_wq;
/* A measurement's hash workers, spread over every CPU; they wait for nothing. */
extern struct workqueue_struct *kvmtrust_hash_wq;

#endif
