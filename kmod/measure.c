// SPDX-License-Identifier: GPL-2.0
/*
 * One measurement of an attached VM: memory_root over every guest page and
 * vcpu_root over every vCPU's registers (Documentation/measurement.rst).
 *
 * The netlink handler only starts it: the work runs on kvmtrust_wq with a
 * reference on the VM's mm (mm_users), so a VMM that exits meanwhile keeps
 * its memory mapped. Guest pages are pinned with get_user_pages_remote and
 * hashed in place by workers on every CPU (memory.c); vCPU registers come
 * from KVM's own ioctls in a kthread that adopts the mm (vcpu.c). The work
 * owns its context and a reference on the VM; it publishes the result in
 * vm->last and announces it on the "measure" multicast group.
 */
#include <linux/kvm_host.h>
#include <linux/netlink.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/timekeeping.h>

#include "freeze.h"
#include "measure.h"
#include "memory.h"
#include "merkle.h"
#include "netlink.h"
#include "vcpu.h"
#include "vm.h"

#define MSG KVMTRUST_MSG

struct kvmtrust_measure_ctx {
	struct work_struct work;
	struct kvmtrust_vm *vm;
	u32 flags;
	struct kvmtrust_measurement result;
	/* The vCPU serializations hashed, kept with the result, or NULL. */
	u8 *states;
	struct shash_desc *desc;
};

/* Never 0 (0 means "never measured"), never reused while loaded. */
static atomic64_t last_measure_id = ATOMIC64_INIT(0);

void kvmtrust_measure_states_free(u8 *states, u32 n)
{
	if (states)
		kvfree_sensitive(states, (size_t)n * KVMTRUST_VCPU_STATE_LEN);
}

static void ctx_free(struct kvmtrust_measure_ctx *ctx)
{
	kvmtrust_measure_states_free(ctx->states, ctx->result.vcpus);
	kvmtrust_hash_desc_free(ctx->desc);
	kvmtrust_vm_put(ctx->vm);
	kfree(ctx);
}

static int fail(struct kvmtrust_measure_ctx *ctx, int err, const char *msg)
{
	ctx->result.msg = msg;
	return err;
}

static int should_stop(struct kvmtrust_measure_ctx *ctx)
{
	if (kvmtrust_vm_is_detached(ctx->vm))
		return fail(ctx, -ENODEV,
			    MSG("vm was detached during the measurement"));
	return 0;
}

/*
 * Probing every vCPU's mutex and recording its exit count before and after
 * the measurement proves that no vCPU ran in between: the VMM must pause
 * the guest, we never wait for it and never read registers that change.
 */
static int vcpus_idle(struct kvmtrust_measure_ctx *ctx, u64 *exits, u32 n)
{
	struct kvm_vcpu *vcpu;
	u32 i;

	for (i = 0; i < n; i++) {
		vcpu = kvm_get_vcpu(ctx->vm->kvm, i);
		if (!vcpu || !kvmtrust_vcpu_idle(vcpu, &exits[i]))
			return fail(ctx, -EBUSY, MSG("a vcpu is running; pause the guest"));
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* vCPU indexes in vCPU id order (the leaf order), or -ENOENT. */
static int vcpu_order(struct kvmtrust_measure_ctx *ctx, u32 *index, u32 n)
{
	struct kvmtrust_vm *vm = ctx->vm;
	u64 *keys;
	u32 i;

	keys = kvmalloc_array(n ?: 1, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (i >= vm->nr_vcpu_slots || !vm->vcpu_files[i]) {
			kvfree(keys);
			return fail(ctx, -ENOENT,
				    MSG("a vcpu has no file; attach again with every vcpu fd"));
		}
		keys[i] = (u64)kvm_get_vcpu(vm->kvm, i)->vcpu_id << 32 | i;
	}
	sort(keys, n, sizeof(*keys), cmp_u64, NULL);
	for (i = 0; i < n; i++)
		index[i] = lower_32_bits(keys[i]);
	kvfree(keys);
	return 0;
}

static int hash_vcpus(struct kvmtrust_measure_ctx *ctx, const u8 *states, u32 n)
{
	u8 leaf[KVMTRUST_HASH_LEN];
	struct kvmtrust_mth *mth;
	int err = 0;
	u32 i;

	mth = kmalloc(sizeof(*mth), GFP_KERNEL);
	if (!mth)
		return -ENOMEM;
	kvmtrust_mth_init(mth);
	for (i = 0; i < n && !err; i++) {
		err = kvmtrust_merkle_leaf_hash(ctx->desc,
						states + i * KVMTRUST_VCPU_STATE_LEN,
						KVMTRUST_VCPU_STATE_LEN, leaf);
		if (!err)
			err = kvmtrust_mth_push(mth, ctx->desc, leaf, 0);
	}
	if (!err)
		err = kvmtrust_mth_root(mth, ctx->desc, ctx->result.vcpu_root);
	kfree(mth);
	return err;
}

/*
 * Incremental only inside a freeze: the soft-dirty bits are read and then
 * cleared (measurement.rst, "Incremental re-measurement", steps 1 and 2),
 * and only a stopped VMM cannot write in between. A guest merely paused by
 * its VMM leaves the VMM's own threads running, so it is measured in full.
 */
static bool may_be_incremental(u32 flags)
{
	return (flags & (KVMTRUST_MEASURE_F_FREEZE | KVMTRUST_MEASURE_F_FULL)) ==
	       KVMTRUST_MEASURE_F_FREEZE;
}

static int measure_vcpus(struct kvmtrust_measure_ctx *ctx, u64 *exits, u32 n)
{
	size_t states_len = (size_t)n * KVMTRUST_VCPU_STATE_LEN;
	u8 *states = NULL;
	u32 *index;
	int err;

	index = kvmalloc_array(n ?: 1, sizeof(*index), GFP_KERNEL);
	if (!index)
		return -ENOMEM;
	err = vcpu_order(ctx, index, n);
	if (err)
		goto out;
	err = vcpus_idle(ctx, exits, n);
	if (err)
		goto out;
	err = -ENOMEM;
	states = kvmalloc(states_len ?: 1, GFP_KERNEL);
	if (!states)
		goto out;
	ctx->result.work_bytes += states_len + n * (sizeof(*index) + sizeof(u64)) +
				  sizeof(struct kvmtrust_mth);
	err = kvmtrust_vcpus_read(ctx->vm, index, n, states,
				  may_be_incremental(ctx->flags), &ctx->result.msg);
	if (!err)
		err = hash_vcpus(ctx, states, n);
	ctx->result.vcpus = n;
	ctx->result.has_vcpu_root = !err;
	/* Kept with the result: what vcpu_root proves (MEASURE_GET). */
	if (!err) {
		ctx->states = states;
		states = NULL;
	}
out:
	if (states)
		kvfree_sensitive(states, states_len);
	kvfree(index);
	return err;
}

static int vcpus_unchanged(struct kvmtrust_measure_ctx *ctx, const u64 *before, u32 n)
{
	u64 *after;
	int err;
	u32 i;

	if (atomic_read(&ctx->vm->kvm->online_vcpus) != n)
		return fail(ctx, -EBUSY,
			    MSG("a vcpu was added during the measurement; retry"));
	after = kvmalloc_array(n ?: 1, sizeof(*after), GFP_KERNEL);
	if (!after)
		return -ENOMEM;
	err = vcpus_idle(ctx, after, n);
	for (i = 0; i < n && !err; i++) {
		if (after[i] != before[i])
			err = fail(ctx, -EBUSY,
				   MSG("a vcpu ran during the measurement; pause the guest"));
	}
	kvfree(after);
	return err;
}

static int measure_all(struct kvmtrust_measure_ctx *ctx, struct mm_struct *mm)
{
	bool vcpus = !(ctx->flags & KVMTRUST_MEASURE_F_NO_VCPUS);
	u32 n = atomic_read(&ctx->vm->kvm->online_vcpus);
	u64 *exits = NULL;
	int err;

	if (vcpus) {
		exits = kvmalloc_array(n ?: 1, sizeof(*exits), GFP_KERNEL);
		if (!exits)
			return -ENOMEM;
		err = measure_vcpus(ctx, exits, n);
		if (err)
			goto out;
	}
	err = kvmtrust_measure_memory(ctx->vm, mm, ctx->flags, &ctx->result);
	if (!err && vcpus)
		err = vcpus_unchanged(ctx, exits, n);
out:
	kvfree(exits);
	return err;
}

/* The result goes out before the VM is free for the next measurement. */
static void publish(struct kvmtrust_measure_ctx *ctx, int err)
{
	struct kvmtrust_vm *vm = ctx->vm;
	struct kvmtrust_measurement *m = &ctx->result;

	m->done = true;
	m->err = err;
	if (err && !m->msg)
		m->msg = err == -ENOMEM ? MSG("no memory for the measurement") :
					  MSG("the measurement failed");
	mutex_lock(&vm->result_lock);
	if (!err)
		m->seq = ++vm->seq;
	vm->last = *m;
	/* Only a measurement that succeeded keeps its vCPU states. */
	if (!err && m->has_vcpu_root)
		swap(vm->last_states, ctx->states);
	mutex_unlock(&vm->result_lock);
	clear_bit_unlock(KVMTRUST_VM_MEASURING, &vm->flags);
	kvmtrust_genl_notify_measured(vm, m);
}

/*
 * With KVMTRUST_MEASURE_F_FREEZE, the VM's process is stopped around the
 * measurement and continued here, on every path: the client that asked
 * may be gone, and module unload waits for this work (kvmtrust_vm_exit).
 */
static int measure_frozen(struct kvmtrust_measure_ctx *ctx, struct mm_struct *mm)
{
	struct kvmtrust_freeze fz;
	const char *msg = NULL;
	int err, thawed;

	err = kvmtrust_freeze(&fz, ctx->vm, &ctx->result.msg);
	if (err)
		return err;
	err = measure_all(ctx, mm);
	thawed = kvmtrust_thaw(&fz, &msg);
	ctx->result.pause_ns = fz.pause_ns;
	ctx->result.frozen = true;
	return err ?: thawed ? fail(ctx, thawed, msg) : 0;
}

static void measure_work(struct work_struct *work)
{
	struct kvmtrust_measure_ctx *ctx = container_of(work, struct kvmtrust_measure_ctx, work);
	struct kvmtrust_vm *vm = ctx->vm;
	struct mm_struct *mm = vm->kvm->mm;
	u64 start;
	int err;

	err = should_stop(ctx);
	if (err)
		goto out;
	/* Keeps the VMM's memory mapped even if it exits meanwhile. */
	if (!mmget_not_zero(mm)) {
		err = fail(ctx, -ESRCH, MSG("the vm's process has exited"));
		goto out;
	}
	start = ktime_get_ns();
	if (ctx->flags & KVMTRUST_MEASURE_F_FREEZE)
		err = measure_frozen(ctx, mm);
	else
		err = measure_all(ctx, mm);
	ctx->result.ns = ktime_get_ns() - start;
	/* May be the last user: exit_mmap runs here and our .release queues work. */
	mmput(mm);
	if (!err)
		pr_debug("vm %u: measurement %llu, %llu pages, %u vcpus, %llu ns\n",
			 vm->id, ctx->result.id, ctx->result.pages,
			 ctx->result.vcpus, ctx->result.ns);
out:
	publish(ctx, err);
	ctx_free(ctx);
}

struct kvmtrust_measure_ctx *
kvmtrust_measure_prepare(struct kvmtrust_vm *vm, u32 flags,
			 struct netlink_ext_ack *extack)
{
	struct kvmtrust_measure_ctx *ctx;

	/*
	 * One measurement per VM at a time, and no worker parked for as long
	 * as another one hashes a large guest: a second request is refused.
	 */
	if (test_and_set_bit_lock(KVMTRUST_VM_MEASURING, &vm->flags)) {
		NL_SET_ERR_MSG_MOD(extack, "another measurement of this vm is running");
		return ERR_PTR(-EBUSY);
	}
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (ctx)
		ctx->desc = kvmtrust_hash_desc_alloc();
	if (!ctx || !ctx->desc) {
		kfree(ctx);
		clear_bit_unlock(KVMTRUST_VM_MEASURING, &vm->flags);
		NL_SET_ERR_MSG_MOD(extack, "no memory for a measurement");
		return ERR_PTR(-ENOMEM);
	}
	INIT_WORK(&ctx->work, measure_work);
	kref_get(&vm->ref);
	ctx->vm = vm;
	ctx->flags = flags;
	ctx->result.id = atomic64_inc_return(&last_measure_id);
	return ctx;
}

u64 kvmtrust_measure_id(const struct kvmtrust_measure_ctx *ctx)
{
	return ctx->result.id;
}

void kvmtrust_measure_start(struct kvmtrust_measure_ctx *ctx)
{
	struct kvmtrust_vm *vm = ctx->vm;
	u32 old_vcpus;
	u8 *old;

	mutex_lock(&vm->result_lock);
	old = vm->last_states;
	old_vcpus = vm->last.vcpus;
	vm->last_states = NULL;
	vm->last = (struct kvmtrust_measurement){ .id = ctx->result.id };
	mutex_unlock(&vm->result_lock);
	kvmtrust_measure_states_free(old, old_vcpus);
	queue_work(kvmtrust_wq, &ctx->work);
}

void kvmtrust_measure_cancel(struct kvmtrust_measure_ctx *ctx)
{
	clear_bit_unlock(KVMTRUST_VM_MEASURING, &ctx->vm->flags);
	ctx_free(ctx);
}

void kvmtrust_measure_last(struct kvmtrust_vm *vm,
			   struct kvmtrust_measurement *out)
{
	mutex_lock(&vm->result_lock);
	*out = vm->last;
	mutex_unlock(&vm->result_lock);
}

/*
 * The latest measurement and, if it kept them, a copy of its vCPU states
 * (out->vcpus of them, free with kvmtrust_measure_states_free), else NULL.
 */
int kvmtrust_measure_last_states(struct kvmtrust_vm *vm,
				 struct kvmtrust_measurement *out, u8 **states)
{
	size_t len;
	int err = 0;

	*states = NULL;
	mutex_lock(&vm->result_lock);
	*out = vm->last;
	if (vm->last_states) {
		len = (size_t)out->vcpus * KVMTRUST_VCPU_STATE_LEN;
		/* kvmemdup is newer than 6.1. */
		*states = kvmalloc(len ?: 1, GFP_KERNEL);
		if (*states)
			memcpy(*states, vm->last_states, len);
		else
			err = -ENOMEM;
	}
	mutex_unlock(&vm->result_lock);
	return err;
}

/*
 * A proof against the VM's last measurement, which must have succeeded.
 * Claims the VM like a measurement (EBUSY while one runs), so the kept
 * tree cannot change under it.
 */
int kvmtrust_measure_prove(struct kvmtrust_vm *vm, u64 gpa,
			   struct kvmtrust_measurement *last,
			   struct kvmtrust_proof *p, struct netlink_ext_ack *extack)
{
	struct mm_struct *mm = vm->kvm->mm;
	const char *msg = NULL;
	int err;

	if (test_and_set_bit_lock(KVMTRUST_VM_MEASURING, &vm->flags)) {
		NL_SET_ERR_MSG_MOD(extack, "a measurement of this vm is running");
		return -EBUSY;
	}
	kvmtrust_measure_last(vm, last);
	if (!last->done || last->err) {
		NL_SET_ERR_MSG_MOD(extack, "the last measurement failed; measure again");
		err = -ENOENT;
		goto out;
	}
	if (!mmget_not_zero(mm)) {
		NL_SET_ERR_MSG_MOD(extack, "the vm's process has exited");
		err = -ESRCH;
		goto out;
	}
	err = kvmtrust_memory_prove(vm, mm, gpa, last->memory_root, p, &msg);
	mmput(mm);
	/* msg is a static sentence (KVMTRUST_MSG), as an extack needs. */
	if (err && msg && extack)
		extack->_msg = msg;
out:
	clear_bit_unlock(KVMTRUST_VM_MEASURING, &vm->flags);
	return err;
}
