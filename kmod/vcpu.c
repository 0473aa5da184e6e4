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
 * and the ioctl. So the reader accepts SIGKILL: KVM waits for the mutex
 * killably, and a reader that makes no progress for vcpu_wait_ms is killed
 * and the measurement refused. Nothing waits without bound on a lock the
 * VMM controls.
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
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/unaligned.h>

#include "measure.h"
#include "memory.h"
#include "softdirty.h"
#include "vcpu.h"
#include "vm.h"
#include "vmm_work.h"

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
	struct kvmtrust_vmm_work work;
	bool incremental;	/* the measurement may be incremental */
	pid_t vmm;		/* global pid, for /proc/PID/clear_refs */
	const u32 *index;
	u32 n;
	u8 *states;
};

static int read_one(struct reader *r, u32 i, void __user *scratch)
{
	struct kvmtrust_vm *vm = r->work.vm;
	struct kvm_vcpu *vcpu = kvm_get_vcpu(vm->kvm, r->index[i]);

	if (!vcpu || !kvmtrust_vcpu_idle(vcpu, NULL)) {
		r->work.msg = KVMTRUST_MSG("a vcpu is running; pause the guest");
		return -EBUSY;
	}
	if (vcpu_probe_delay_ms)
		msleep_interruptible(vcpu_probe_delay_ms);
	return vcpu_serialize(vm->vcpu_files[r->index[i]], scratch,
			      r->states + i * KVMTRUST_VCPU_STATE_LEN);
}

/* In the VM's mm (vmm_work.c). */
static int read_all(struct kvmtrust_vmm_work *w, void __user *scratch)
{
	struct reader *r = container_of(w, struct reader, work);
	int err;
	u32 i;

	/*
	 * The pages written since the last measurement, read just before
	 * their bits are cleared, while the guest is paused (memory.c).
	 */
	kvmtrust_memory_collect(w->vm, current->mm, r->incremental);
	/* From here on, any write to guest memory marks its page. */
	WRITE_ONCE(w->vm->clearing, current);
	err = kvmtrust_soft_dirty_clear(r->vmm, scratch);
	WRITE_ONCE(w->vm->clearing, NULL);
	/* Collecting and clearing a large guest is progress too. */
	kvmtrust_vmm_work_progress(w);
	if (err) {
		w->msg = KVMTRUST_MSG("cannot track guest memory writes (soft-dirty)");
		return err;
	}
	/* SIGKILL lands only inside the ioctls. */
	kvmtrust_vmm_work_killable(w, true);
	for (i = 0; i < r->n && !err; i++) {
		err = read_one(r, i, scratch);
		kvmtrust_vmm_work_progress(w);
	}
	return err;
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
		.work = { .vm = vm, .fn = read_all, .wait_ms = vcpu_wait_ms },
		.incremental = incremental, .index = index, .n = n,
		.states = states, .vmm = pid_nr(vm->vmm_pid),
	};
	int err = kvmtrust_vmm_work_run(&r.work, "kvmtrust-vcpu");

	if (r.work.killed && err && r.work.detached) {
		err = -ENODEV;
		r.work.msg = KVMTRUST_MSG("vm was detached during the measurement");
	} else if (r.work.killed && err) {
		err = -EBUSY;
		r.work.msg =
			KVMTRUST_MSG("a vcpu entered KVM_RUN while it was read; pause the guest");
	} else if (err && !r.work.msg) {
		r.work.msg = KVMTRUST_MSG("cannot read vcpu registers");
	}
	*msg = r.work.msg;
	return err;
}
