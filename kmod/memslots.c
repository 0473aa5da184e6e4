// SPDX-License-Identifier: GPL-2.0
/*
 * The user memory slots of a VM as a measurement sees them (memory.c): what
 * a snapshot tool needs to find each hashed page in the VMM's address space
 * (KVMTRUST_CMD_MEMSLOTS_GET, Documentation/snapshots.rst).
 */
#include <linux/kvm_host.h>
#include <net/netlink.h>
#include <uapi/linux/kvmtrust.h>

#include "memslots.h"

static int put_slot(struct sk_buff *msg, const struct kvm_memory_slot *slot)
{
	struct nlattr *nest = nla_nest_start(msg, KVMTRUST_MEMSLOTS_A_SLOT);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(msg, KVMTRUST_SLOT_A_ID, slot->id) ||
	    nla_put_u64_64bit(msg, KVMTRUST_SLOT_A_GPA,
			      (u64)slot->base_gfn << PAGE_SHIFT, KVMTRUST_SLOT_A_PAD) ||
	    nla_put_u64_64bit(msg, KVMTRUST_SLOT_A_SIZE,
			      (u64)slot->npages << PAGE_SHIFT, KVMTRUST_SLOT_A_PAD) ||
	    nla_put_u64_64bit(msg, KVMTRUST_SLOT_A_HVA, slot->userspace_addr,
			      KVMTRUST_SLOT_A_PAD) ||
	    nla_put_u32(msg, KVMTRUST_SLOT_A_FLAGS, slot->flags)) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

/* KVMTRUST_A_MEMSLOTS: user slots of address space 0, in GPA order. */
int kvmtrust_memslots_put(struct sk_buff *msg, struct kvm *kvm)
{
	struct kvm_memslot_iter iter;
	struct nlattr *nest;
	int idx, err = 0;

	nest = nla_nest_start(msg, KVMTRUST_A_MEMSLOTS);
	if (!nest)
		return -EMSGSIZE;
	idx = srcu_read_lock(&kvm->srcu);
	kvm_for_each_memslot_in_gfn_range(&iter, kvm_memslots(kvm), 0, (gfn_t)-1) {
		if (iter.slot->id >= KVM_USER_MEM_SLOTS)
			continue;
		err = put_slot(msg, iter.slot);
		if (err)
			break;
	}
	srcu_read_unlock(&kvm->srcu, idx);
	if (err) {
		nla_nest_cancel(msg, nest);
		return err;
	}
	nla_nest_end(msg, nest);
	return 0;
}
