// SPDX-License-Identifier: GPL-2.0
/*
 * The canonical serialization of one vCPU's registers, the leaf data of the
 * vCPU tree. Registers come from KVM's own KVM_GET_REGS and KVM_GET_SREGS on
 * the vCPU file, so the module needs no vendor (SVM/VMX) code. KVM answers
 * these ioctls only for its VM's mm, so they run in a kthread that adopts
 * kvm->mm and lends KVM a scratch page mapped there.
 *
 * The ioctls take vcpu->mutex, which the VMM holds for as long as a vCPU is
 * in KVM_RUN (a halted guest stays there indefinitely). Each vCPU is probed
 * with a trylock first, but the VMM may re-enter KVM_RUN between the probe
 * and the ioctl. So the reader is a kthread of its own that accepts
 * SIGKILL: KVM waits for the mutex killably, and a reader that makes no
 * progress for vcpu_wait_ms is killed and the measurement refused. Nothing
 * waits without bound on a lock the VMM controls.
 *
 * Layout, all integers little-endian, no padding:
 *   le32 vcpu_id
 *   le64 rax rbx rcx rdx rsi rdi rsp rbp r8 .. r15 rip rflags
 *   cs ds es fs gs ss tr ldt, each:
 *     le64 base, le32 limit, le16 selector,
 *     u8 type present dpl db s l g avl unusable
 *   gdt idt, each: le64 base, le16 limit
 *   le64 cr0 cr2 cr3 cr4 cr8 efer apic_base
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/kvm_host.h>
#include <linux/mman.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/unaligned.h>

#include "measure.h"
#include "memory.h"
#include "softdirty.h"
#include "vcpu.h"
#include "vm.h"

static unsigned int vcpu_wait_ms = 1000;
module_param(vcpu_wait_ms, uint, 0644);
MODULE_PARM_DESC(vcpu_wait_ms,
		 "refuse a measurement whose vcpu register reads make no progress for this long (ms)");

static unsigned int vcpu_probe_delay_ms;
module_param(vcpu_probe_delay_ms, uint, 0644);
MODULE_PARM_DESC(vcpu_probe_delay_ms,
		 "for tests: sleep between probing a vcpu and reading it (ms), widening the race a vmm can win");

struct cursor {
	u8 *p;
};

static void put8(struct cursor *c, u8 v)
{
	*c->p++ = v;
}

static void put16(struct cursor *c, u16 v)
{
	put_unaligned_le16(v, c->p);
	c->p += 2;
}

static void put32(struct cursor *c, u32 v)
{
	put_unaligned_le32(v, c->p);
	c->p += 4;
}

static void put64(struct cursor *c, u64 v)
{
	put_unaligned_le64(v, c->p);
	c->p += 8;
}

static void put_segment(struct cursor *c, const struct kvm_segment *s)
{
	put64(c, s->base);
	put32(c, s->limit);
	put16(c, s->selector);
	put8(c, s->type);
	put8(c, s->present);
	put8(c, s->dpl);
	put8(c, s->db);
	put8(c, s->s);
	put8(c, s->l);
	put8(c, s->g);
	put8(c, s->avl);
	put8(c, s->unusable);
}

static void put_dtable(struct cursor *c, const struct kvm_dtable *d)
{
	put64(c, d->base);
	put16(c, d->limit);
}

static void put_state(u32 vcpu_id, const struct kvm_regs *r,
		      const struct kvm_sregs *s, u8 *out)
{
	struct cursor c = { .p = out };

	put32(&c, vcpu_id);
	put64(&c, r->rax);
	put64(&c, r->rbx);
	put64(&c, r->rcx);
	put64(&c, r->rdx);
	put64(&c, r->rsi);
	put64(&c, r->rdi);
	put64(&c, r->rsp);
	put64(&c, r->rbp);
	put64(&c, r->r8);
	put64(&c, r->r9);
	put64(&c, r->r10);
	put64(&c, r->r11);
	put64(&c, r->r12);
	put64(&c, r->r13);
	put64(&c, r->r14);
	put64(&c, r->r15);
	put64(&c, r->rip);
	put64(&c, r->rflags);
	put_segment(&c, &s->cs);
	put_segment(&c, &s->ds);
	put_segment(&c, &s->es);
	put_segment(&c, &s->fs);
	put_segment(&c, &s->gs);
	put_segment(&c, &s->ss);
	put_segment(&c, &s->tr);
	put_segment(&c, &s->ldt);
	put_dtable(&c, &s->gdt);
	put_dtable(&c, &s->idt);
	put64(&c, s->cr0);
	put64(&c, s->cr2);
	put64(&c, s->cr3);
	put64(&c, s->cr4);
	put64(&c, s->cr8);
	put64(&c, s->efer);
	put64(&c, s->apic_base);
	WARN_ON_ONCE(c.p - out != KVMTRUST_VCPU_STATE_LEN);
}

/* Runs one vCPU ioctl as the VMM would, result in the scratch page. */
static int vcpu_ioctl(struct file *vcpu_file, unsigned int cmd,
		      void __user *scratch, void *out, size_t len)
{
	long ret;

	ret = vcpu_file->f_op->unlocked_ioctl(vcpu_file, cmd,
					      (unsigned long)scratch);
	if (ret)
		return ret < 0 ? ret : -EIO;
	if (copy_from_user(out, scratch, len))
		return -EFAULT;
	return 0;
}

/*
 * Needs current->mm == the VM's mm (kthread_use_mm) and a PAGE_SIZE scratch
 * mapping in it; sleeps on the vCPU mutex, killably.
 */
static int vcpu_serialize(struct file *vcpu_file, void __user *scratch,
			  u8 out[KVMTRUST_VCPU_STATE_LEN])
{
	struct kvm_vcpu *vcpu = vcpu_file->private_data;
	struct kvm_sregs *sregs;
	struct kvm_regs *regs;
	int err = -ENOMEM;

	BUILD_BUG_ON(sizeof(*regs) > PAGE_SIZE || sizeof(*sregs) > PAGE_SIZE);
	regs = kzalloc(sizeof(*regs), GFP_KERNEL);
	sregs = kzalloc(sizeof(*sregs), GFP_KERNEL);
	if (!regs || !sregs)
		goto out;
	err = vcpu_ioctl(vcpu_file, KVM_GET_REGS, scratch, regs, sizeof(*regs));
	if (err)
		goto out;
	err = vcpu_ioctl(vcpu_file, KVM_GET_SREGS, scratch, sregs,
			 sizeof(*sregs));
	if (err)
		goto out;
	put_state(vcpu->vcpu_id, regs, sregs, out);
out:
	kfree_sensitive(sregs);
	kfree_sensitive(regs);
	return err;
}

/*
 * A vCPU inside KVM_RUN holds vcpu->mutex: a failed trylock means it runs.
 * exits, if not NULL, gets its exit count, which moves whenever it runs.
 */
bool kvmtrust_vcpu_idle(struct kvm_vcpu *vcpu, u64 *exits)
{
	if (!mutex_trylock(&vcpu->mutex))
		return false;
	if (exits)
		*exits = vcpu->stat.exits;
	mutex_unlock(&vcpu->mutex);
	return true;
}

struct reader {
	struct kvmtrust_vm *vm;
	bool incremental;	/* the measurement may be incremental */
	struct kvm *kvm;
	pid_t vmm;		/* global pid, for /proc/PID/clear_refs */
	struct file *const *files;
	const u32 *index;
	u32 n;
	u8 *states;
	struct completion done;
	/* Protects in_ioctls and killed: SIGKILL lands only inside the ioctls. */
	spinlock_t lock;
	bool in_ioctls;
	bool killed;
	/* vCPUs read so far; the waiter watches it move. */
	atomic_t progress;
	bool detached;
	int err;
	const char *msg;
};

static int read_one(struct reader *r, u32 i, void __user *scratch)
{
	struct kvm_vcpu *vcpu = kvm_get_vcpu(r->kvm, r->index[i]);

	if (!vcpu || !kvmtrust_vcpu_idle(vcpu, NULL)) {
		r->msg = KVMTRUST_MSG("a vcpu is running; pause the guest");
		return -EBUSY;
	}
	if (vcpu_probe_delay_ms)
		msleep_interruptible(vcpu_probe_delay_ms);
	return vcpu_serialize(r->files[r->index[i]], scratch,
			      r->states + i * KVMTRUST_VCPU_STATE_LEN);
}

static void read_all(struct reader *r)
{
	unsigned long scratch;
	u32 i;

	/* KVM copies registers to user memory: lend it a page in its mm. */
	scratch = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(scratch)) {
		r->err = (long)scratch;
		r->msg = KVMTRUST_MSG("cannot map a scratch page in the vmm");
		return;
	}
	/*
	 * The pages written since the last measurement, read just before
	 * their bits are cleared, while the guest is paused (memory.c).
	 */
	kvmtrust_memory_collect(r->vm, current->mm, r->incremental);
	/* From here on, any write to guest memory marks its page. */
	WRITE_ONCE(r->vm->clearing, current);
	r->err = kvmtrust_soft_dirty_clear(r->vmm, (void __user *)scratch);
	WRITE_ONCE(r->vm->clearing, NULL);
	/* Collecting and clearing a large guest is progress too. */
	atomic_inc(&r->progress);
	if (r->err)
		r->msg = KVMTRUST_MSG("cannot track guest memory writes (soft-dirty)");
	spin_lock(&r->lock);
	r->in_ioctls = true;
	spin_unlock(&r->lock);
	for (i = 0; i < r->n && !r->err; i++) {
		r->err = read_one(r, i, (void __user *)scratch);
		atomic_inc(&r->progress);
	}
	spin_lock(&r->lock);
	r->in_ioctls = false;
	spin_unlock(&r->lock);
	/* A kill that came too late must not stop the unmap. */
	flush_signals(current);
	vm_munmap(scratch, PAGE_SIZE);
	if (r->err && !r->msg)
		r->msg = KVMTRUST_MSG("cannot read vcpu registers");
}

static int reader_fn(void *data)
{
	struct reader *r = data;
	struct mm_struct *mm = r->kvm->mm;

	allow_signal(SIGKILL);
	/* The caller holds mm_users for as long as it waits for us. */
	kthread_use_mm(mm);
	read_all(r);
	kthread_unuse_mm(mm);
	complete(&r->done);
	return 0;
}

static void kill_reader(struct reader *r, struct task_struct *t)
{
	spin_lock(&r->lock);
	if (r->in_ioctls && !r->killed) {
		r->killed = true;
		send_sig(SIGKILL, t, 1);
	}
	spin_unlock(&r->lock);
}

/*
 * Waits while the reader makes progress; kills it once it made none for
 * vcpu_wait_ms, or when the VM is detached (module unload waits for us).
 */
static void wait_reader(struct reader *r, struct task_struct *t,
			struct kvmtrust_vm *vm)
{
	unsigned long last = jiffies;
	int seen = atomic_read(&r->progress);

	while (!wait_for_completion_timeout(&r->done, HZ / 10)) {
		if (atomic_read(&r->progress) != seen) {
			seen = atomic_read(&r->progress);
			last = jiffies;
		} else if (time_after(jiffies, last + msecs_to_jiffies(vcpu_wait_ms))) {
			kill_reader(r, t);
		}
		if (kvmtrust_vm_is_detached(vm)) {
			r->detached = true;
			kill_reader(r, t);
		}
	}
}

/*
 * Collects the pages written since the last measurement and clears the
 * VMM's soft-dirty bits (memory.c, softdirty.c), then reads the VM's
 * vCPUs index[0], ..., index[n - 1] into states (n serializations), with
 * kvm->mm kept alive by the caller. On failure *msg says why.
 */
int kvmtrust_vcpus_read(struct kvmtrust_vm *vm, const u32 *index, u32 n,
			u8 *states, bool incremental, const char **msg)
{
	struct reader r = {
		.vm = vm, .incremental = incremental, .kvm = vm->kvm,
		.files = vm->vcpu_files, .index = index, .n = n,
		.states = states, .vmm = pid_nr(vm->vmm_pid),
	};
	struct task_struct *t;

	init_completion(&r.done);
	spin_lock_init(&r.lock);
	t = kthread_create(reader_fn, &r, "kvmtrust-vcpu");
	if (IS_ERR(t)) {
		*msg = KVMTRUST_MSG("cannot start a thread to read vcpu registers");
		return PTR_ERR(t);
	}
	get_task_struct(t);
	wake_up_process(t);
	wait_reader(&r, t, vm);
	kthread_stop(t);
	put_task_struct(t);
	if (r.killed && r.err && r.detached) {
		r.err = -ENODEV;
		r.msg = KVMTRUST_MSG("vm was detached during the measurement");
	} else if (r.killed && r.err) {
		r.err = -EBUSY;
		r.msg = KVMTRUST_MSG("a vcpu entered KVM_RUN while it was read; pause the guest");
	}
	*msg = r.msg;
	return r.err;
}
