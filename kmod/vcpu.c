// SPDX-License-Identifier: GPL-2.0
/*
 * The canonical serialization of one vCPU's registers, the leaf data of the
 * vCPU tree. Registers come from KVM's own KVM_GET_REGS and KVM_GET_SREGS on
 * the vCPU file, so the module needs no vendor (SVM/VMX) code. KVM answers
 * these ioctls only for its VM's mm: the caller runs with kvm->mm adopted
 * and passes a scratch user page mapped there.
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
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/uaccess.h>
#include <linux/unaligned.h>

#include "vcpu.h"

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
 * mapping in it; sleeps on the vCPU mutex, so the caller checks first that
 * the vCPU is not inside KVM_RUN.
 */
int kvmtrust_vcpu_serialize(struct file *vcpu_file, void __user *scratch,
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
