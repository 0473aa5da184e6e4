// SPDX-License-Identifier: GPL-2.0
/*
 * The registry of attached VMs.
 *
 * Attaching resolves a VM file the user passed in and takes a reference on
 * its struct kvm (kvm_get_kvm_safe) and on each vCPU file (get_file). The
 * references go when the VM is detached: by the user, at module unload, or
 * when the VM's process exits, which an mmu_notifier .release on kvm->mm
 * reports. Measurements hold their own reference on the kvmtrust_vm, so a
 * detach or a VMM exit in the middle of one never frees what it reads.
 */
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/moduleparam.h>
#include <linux/pid_namespace.h>
#include <linux/netlink.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include <net/net_namespace.h>

#include "access.h"
#include "memory.h"
#include "vm.h"

struct workqueue_struct *kvmtrust_wq __ro_after_init;
struct workqueue_struct *kvmtrust_hash_wq __ro_after_init;

/* Protects vms, next_id and every vm->detached. */
static DEFINE_MUTEX(vms_lock);
static DEFINE_XARRAY_ALLOC1(vms);
/* Ids only grow: a handle never names another VM while the module lives. */
static u64 next_id;

static uint vm_id_base = 1;
module_param(vm_id_base, uint, 0444);
MODULE_PARM_DESC(vm_id_base, "for tests: the first vm id (ids are never reused)");

static void vm_free(struct kref *ref)
{
	struct kvmtrust_vm *vm = container_of(ref, struct kvmtrust_vm, ref);
	unsigned int i;

	/* Never attached, or refused after the notifier went in. */
	if (vm->notifier_registered)
		mmu_notifier_unregister(&vm->notifier, vm->kvm->mm);
	for (i = 0; i < vm->nr_vcpu_slots; i++) {
		if (vm->vcpu_files[i])
			fput(vm->vcpu_files[i]);
	}
	kvmtrust_memory_free(vm->mem);
	kvmtrust_measure_states_free(vm->last_states, vm->last.vcpus);
	kvm_put_kvm(vm->kvm);
	put_net(vm->net);
	put_pid(vm->vmm_pid);
	kvfree(vm->vcpu_files);
	mutex_destroy(&vm->result_lock);
	kfree(vm);
}

void kvmtrust_vm_put(struct kvmtrust_vm *vm)
{
	if (vm)
		kref_put(&vm->ref, vm_free);
}

static void vm_release_work(struct work_struct *work)
{
	struct kvmtrust_vm *vm = container_of(work, struct kvmtrust_vm,
					      release_work);

	if (!kvmtrust_vm_detach(vm))
		pr_info("vm %u detached: its process exited\n", vm->id);
	kvmtrust_vm_put(vm);
}

/*
 * The VM's process is tearing down its mm. Dropping the struct kvm here
 * could be its last reference, and kvm_destroy_vm unregisters KVM's own
 * notifier on this mm, so the detach runs later from kvmtrust_wq. The
 * queued work owns a reference; if the count already hit zero, vm_free is
 * about to unregister us and there is nothing to do. Detach unregisters
 * the notifier and waits for this function, so nothing queues work after
 * kvmtrust_vm_exit detached every VM and drains the workqueue.
 */
static void vm_mm_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct kvmtrust_vm *vm = container_of(mn, struct kvmtrust_vm, notifier);

	/* Also called by our own mmu_notifier_unregister in a detach. */
	if (READ_ONCE(vm->detached) || !kref_get_unless_zero(&vm->ref))
		return;
	if (!queue_work(kvmtrust_wq, &vm->release_work))
		kvmtrust_vm_put(vm);
}

/*
 * Soft-dirty bits cleared by anyone but our own clearing thread (CRIU's
 * pre-dump writes clear_refs too) hide writes from the next incremental
 * measurement and from the unchanged proof: counted, so that measurements
 * notice (memory.c). Called for every invalidation of the VMM's mm, maybe
 * where it must not sleep: one compare and an atomic increment.
 */
static int vm_mm_invalidate_start(struct mmu_notifier *mn,
				  const struct mmu_notifier_range *range)
{
	struct kvmtrust_vm *vm = container_of(mn, struct kvmtrust_vm, notifier);

	if (range->event == MMU_NOTIFY_SOFT_DIRTY &&
	    READ_ONCE(vm->clearing) != current)
		atomic_inc(&vm->foreign_clears);
	return 0;
}

static const struct mmu_notifier_ops vm_mm_ops = {
	.release = vm_mm_release,
	.invalidate_range_start = vm_mm_invalidate_start,
};

/*
 * The process that created the VM: KVM records the creating thread's pid
 * (global). A VMM whose creating thread has exited cannot be named.
 */
static struct pid *vmm_of(struct kvm *kvm)
{
	struct task_struct *task;
	struct pid *pid = NULL;

	rcu_read_lock();
	task = pid_task(find_pid_ns(kvm->userspace_pid, &init_pid_ns),
			PIDTYPE_PID);
	if (task && READ_ONCE(task->mm) == kvm->mm)
		pid = get_task_pid(task, PIDTYPE_TGID);
	rcu_read_unlock();
	return pid;
}

struct kvmtrust_vm *kvmtrust_vm_create(struct file *vm_file, struct net *net,
				       struct netlink_ext_ack *extack)
{
	struct kvmtrust_vm *vm;
	struct pid *vmm;
	struct kvm *kvm;
	int err;

	if (!file_is_kvm(vm_file)) {
		NL_SET_ERR_MSG_MOD(extack, "file is not a kvm vm");
		return ERR_PTR(-EINVAL);
	}
	kvm = vm_file->private_data;
	vmm = vmm_of(kvm);
	if (!vmm) {
		NL_SET_ERR_MSG_MOD(extack, "the thread that created the vm has exited");
		return ERR_PTR(-ESRCH);
	}
	err = kvmtrust_may_read_vmm(vmm, extack);
	if (err)
		goto err_put_pid;
	err = -ENODEV;
	if (!kvm_get_kvm_safe(kvm)) {
		NL_SET_ERR_MSG_MOD(extack, "vm is being destroyed");
		goto err_put_pid;
	}
	err = -ENOMEM;
	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		goto err_put_kvm;
	/* max_vcpus is the VMM's choice (KVM_CAP_MAX_VCPUS): no kcalloc. */
	vm->nr_vcpu_slots = kvm->max_vcpus;
	vm->vcpu_files = kvcalloc(vm->nr_vcpu_slots, sizeof(*vm->vcpu_files),
				  GFP_KERNEL_ACCOUNT);
	if (!vm->vcpu_files)
		goto err_free_vm;
	kref_init(&vm->ref);
	mutex_init(&vm->result_lock);
	INIT_WORK(&vm->release_work, vm_release_work);
	vm->net = get_net(net);
	vm->kvm = kvm;
	vm->vmm_pid = vmm;
	vm->kvm_module = vm_file->f_op->owner;
	return vm;

err_free_vm:
	kfree(vm);
err_put_kvm:
	kvm_put_kvm(kvm);
	NL_SET_ERR_MSG_MOD(extack, "no memory to attach the vm");
err_put_pid:
	put_pid(vmm);
	return ERR_PTR(err);
}

/* The vCPU index of vcpu_file in vm, or -1 if it is not one of its vCPUs. */
static int vcpu_index(struct kvmtrust_vm *vm, struct file *vcpu_file)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	/*
	 * The VM's other anon files (vm, stats, devices) share the owner and
	 * some share private_data with a vCPU (its stats file); only the vCPU
	 * file is named kvm-vcpu:N and has an ioctl handler.
	 */
	if (vcpu_file->f_op->owner != vm->kvm_module ||
	    !vcpu_file->f_op->unlocked_ioctl ||
	    strncmp(vcpu_file->f_path.dentry->d_name.name, "kvm-vcpu:", 9))
		return -1;
	kvm_for_each_vcpu(i, vcpu, vm->kvm) {
		if (vcpu_file->private_data == vcpu)
			return i;
	}
	return -1;
}

int kvmtrust_vm_add_vcpu(struct kvmtrust_vm *vm, struct file *vcpu_file,
			 struct netlink_ext_ack *extack)
{
	int i = vcpu_index(vm, vcpu_file);

	if (i < 0 || i >= vm->nr_vcpu_slots) {
		NL_SET_ERR_MSG_MOD(extack, "file is not a vcpu of this vm");
		return -EINVAL;
	}
	if (vm->vcpu_files[i]) {
		NL_SET_ERR_MSG_MOD(extack, "vcpu given twice");
		return -EINVAL;
	}
	vm->vcpu_files[i] = get_file(vcpu_file);
	vm->vcpu_files_held++;
	return 0;
}

static bool kvm_attached(struct kvm *kvm)
{
	struct kvmtrust_vm *vm;
	unsigned long id;

	lockdep_assert_held(&vms_lock);
	xa_for_each(&vms, id, vm) {
		if (vm->kvm == kvm)
			return true;
	}
	return false;
}

/*
 * Publishes a VM built by kvmtrust_vm_create and kvmtrust_vm_add_vcpu. The
 * registry takes its own reference; the caller keeps and puts its own.
 */
int kvmtrust_vm_register(struct kvmtrust_vm *vm, struct netlink_ext_ack *extack)
{
	struct mm_struct *mm = vm->kvm->mm;
	int err;

	/* mmu_notifier_register needs a live mm; a dead one means no VMM. */
	if (!mmget_not_zero(mm)) {
		NL_SET_ERR_MSG_MOD(extack, "the vm's process has exited");
		return -ESRCH;
	}
	vm->notifier.ops = &vm_mm_ops;
	/*
	 * Set first: .release may fire and its work detach the VM as soon as
	 * the notifier is in the list, before mmu_notifier_register returns.
	 */
	vm->notifier_registered = true;
	err = mmu_notifier_register(&vm->notifier, mm);
	if (err) {
		vm->notifier_registered = false;
		NL_SET_ERR_MSG_MOD(extack, "cannot watch the vm's process");
		goto out_mmput;
	}

	mutex_lock(&vms_lock);
	if (vm->detached) {
		/* The process exited between mmget and here. */
		NL_SET_ERR_MSG_MOD(extack, "the vm's process has exited");
		err = -ESRCH;
	} else if (kvm_attached(vm->kvm)) {
		NL_SET_ERR_MSG_MOD(extack, "vm is already attached");
		err = -EEXIST;
	} else if (next_id > U32_MAX) {
		NL_SET_ERR_MSG_MOD(extack, "vm ids are exhausted; reload the module");
		err = -ENOSPC;
	} else {
		err = xa_alloc(&vms, &vm->id, vm, XA_LIMIT(next_id, U32_MAX),
			       GFP_KERNEL);
		if (!err) {
			next_id = (u64)vm->id + 1;
			kref_get(&vm->ref);
			pr_debug("vm %u attached: pid %d, %u vcpu files\n", vm->id,
				 pid_nr(vm->vmm_pid), vm->vcpu_files_held);
		} else {
			NL_SET_ERR_MSG_MOD(extack, "cannot allocate a vm id");
		}
	}
	mutex_unlock(&vms_lock);
out_mmput:
	/* May run exit_mmap and our .release: it only queues work. */
	mmput(mm);
	return err;
}

/* Returns -ENOENT if somebody else detached the VM first. */
int kvmtrust_vm_detach(struct kvmtrust_vm *vm)
{
	bool registered;

	mutex_lock(&vms_lock);
	if (vm->detached) {
		mutex_unlock(&vms_lock);
		return -ENOENT;
	}
	vm->detached = true;
	registered = vm->id && xa_erase(&vms, vm->id) == vm;
	mutex_unlock(&vms_lock);

	/*
	 * Only one caller gets here, holding a reference, so vm_free cannot
	 * race on notifier_registered. Unregistering waits for a .release in
	 * progress.
	 */
	if (vm->notifier_registered) {
		mmu_notifier_unregister(&vm->notifier, vm->kvm->mm);
		vm->notifier_registered = false;
	}
	if (registered)
		kvmtrust_vm_put(vm);
	return 0;
}

bool kvmtrust_vm_is_detached(struct kvmtrust_vm *vm)
{
	return READ_ONCE(vm->detached);
}

/* The VM attached from net with this id, referenced, or NULL. */
struct kvmtrust_vm *kvmtrust_vm_get(struct net *net, u32 id)
{
	struct kvmtrust_vm *vm;

	mutex_lock(&vms_lock);
	vm = xa_load(&vms, id);
	if (vm && net_eq(vm->net, net))
		kref_get(&vm->ref);
	else
		vm = NULL;
	mutex_unlock(&vms_lock);
	return vm;
}

/*
 * The attached VM with the lowest id >= *id, of net (NULL: of any), for
 * dumps and unload; NULL at the end.
 */
struct kvmtrust_vm *kvmtrust_vm_get_next(struct net *net, u32 *id)
{
	unsigned long index = *id;
	struct kvmtrust_vm *vm;

	mutex_lock(&vms_lock);
	xa_for_each_start(&vms, index, vm, index) {
		if (!net || net_eq(vm->net, net)) {
			kref_get(&vm->ref);
			*id = index;
			break;
		}
	}
	mutex_unlock(&vms_lock);
	return vm;
}

static u64 mem_bytes(struct kvm *kvm)
{
	struct kvm_memory_slot *slot;
	struct kvm_memslots *slots;
	u64 pages = 0;
	int idx, bkt;

	idx = srcu_read_lock(&kvm->srcu);
	slots = kvm_memslots(kvm);
	kvm_for_each_memslot(slot, bkt, slots) {
		if (slot->id < KVM_USER_MEM_SLOTS)
			pages += slot->npages;
	}
	srcu_read_unlock(&kvm->srcu, idx);
	return pages << PAGE_SHIFT;
}

void kvmtrust_vm_describe(struct kvmtrust_vm *vm, struct kvmtrust_vm_info *info)
{
	info->id = vm->id;
	/* 0 when the VMM is outside the caller's pid namespace. */
	info->vmm_pid = pid_nr_ns(vm->vmm_pid, task_active_pid_ns(current));
	info->vcpu_count = atomic_read(&vm->kvm->online_vcpus);
	info->vcpu_files_held = vm->vcpu_files_held;
	info->mem_bytes = mem_bytes(vm->kvm);
	info->seq = READ_ONCE(vm->seq);
}

int __init kvmtrust_vm_init(void)
{
	next_id = vm_id_base ?: 1;
	kvmtrust_wq = alloc_workqueue("kvmtrust", WQ_UNBOUND, 0);
	if (!kvmtrust_wq)
		return -ENOMEM;
	/* Separate: measurements waiting on it must not fill its slots. */
	kvmtrust_hash_wq = alloc_workqueue("kvmtrust_hash", WQ_UNBOUND, 0);
	if (!kvmtrust_hash_wq) {
		destroy_workqueue(kvmtrust_wq);
		return -ENOMEM;
	}
	return 0;
}

/* After the family is gone: nothing can attach or start a measurement. */
void kvmtrust_vm_exit(void)
{
	struct kvmtrust_vm *vm;
	u32 id = 0;

	while ((vm = kvmtrust_vm_get_next(NULL, &id))) {
		kvmtrust_vm_detach(vm);
		kvmtrust_vm_put(vm);
	}
	/*
	 * Runs queued release work, which puts the last references, and
	 * waits for measurements, which wait for their hash workers.
	 */
	destroy_workqueue(kvmtrust_wq);
	destroy_workqueue(kvmtrust_hash_wq);
}
