// SPDX-License-Identifier: GPL-2.0
/*
 * The "kvmtrust" generic netlink family (include/uapi/linux/kvmtrust.h).
 * Each command has its own strict policy; every refusal says why in the
 * extended ack. Handlers run in the sender's process, which is what lets
 * VM_ATTACH resolve the sender's file descriptors.
 */
#include <linux/file.h>
#include <linux/kvm_host.h>
#include <linux/rwsem.h>
#include <net/genetlink.h>
#include <net/sock.h>
#include <uapi/linux/kvmtrust.h>

#include "access.h"
#include "measure.h"
#include "memory.h"
#include "memslots.h"
#include "merkle.h"
#include "netlink.h"
#include "vcpu_set.h"
#include "vm.h"

static struct genl_family genl_family;

enum {
	GRP_MEASURE,
};

static const struct genl_multicast_group genl_mcgrps[] = {
	/* Roots of every VM in the namespace: for administrators only. */
	[GRP_MEASURE] = {
		.name = KVMTRUST_MCGRP_MEASURE,
		.flags = GENL_MCAST_CAP_NET_ADMIN,
	},
};

/*
 * Protects registered. A measurement may end while the module unloads: it
 * must not multicast once the family is unregistered, when its group ids
 * may already belong to another family.
 */
static DECLARE_RWSEM(notify_lock);
static bool registered;

/* Not const: NLA_POLICY_FULL_RANGE takes a plain pointer in 6.1. */
static struct netlink_range_validation fd_range = {
	.min = 0,
	.max = INT_MAX,
};

static const struct nla_policy get_info_policy[KVMTRUST_A_MAX + 1] = {
};

static const struct nla_policy vcpu_policy[KVMTRUST_VCPU_A_MAX + 1] = {
	[KVMTRUST_VCPU_A_FD] = NLA_POLICY_FULL_RANGE(NLA_U32, &fd_range),
};

static const struct nla_policy attach_policy[KVMTRUST_A_MAX + 1] = {
	[KVMTRUST_A_VM_FD] = NLA_POLICY_FULL_RANGE(NLA_U32, &fd_range),
	[KVMTRUST_A_VCPU_FDS] = NLA_POLICY_NESTED(vcpu_policy),
};

static const struct nla_policy vm_id_policy[KVMTRUST_A_MAX + 1] = {
	[KVMTRUST_A_VM_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

/*
 * Flag words are plain u32 so that unknown bits reach the handler and fail
 * with EOPNOTSUPP (a newer CLI on an older module) rather than EINVAL.
 */
static const struct nla_policy measure_policy[KVMTRUST_A_MAX + 1] = {
	[KVMTRUST_A_VM_ID] = NLA_POLICY_MIN(NLA_U32, 1),
	[KVMTRUST_A_MEASURE_FLAGS] = { .type = NLA_U32 },
};

static const struct nla_policy measure_get_policy[KVMTRUST_A_MAX + 1] = {
	[KVMTRUST_A_VM_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

static const struct nla_policy measure_prove_policy[KVMTRUST_A_MAX + 1] = {
	[KVMTRUST_A_VM_ID] = NLA_POLICY_MIN(NLA_U32, 1),
	[KVMTRUST_A_MEASURE_GPA] = { .type = NLA_U64 },
};

static const struct nla_policy vstate_policy[KVMTRUST_VSTATE_A_MAX + 1] = {
	[KVMTRUST_VSTATE_A_INDEX] = { .type = NLA_U32 },
	[KVMTRUST_VSTATE_A_ID] = { .type = NLA_U32 },
	[KVMTRUST_VSTATE_A_REGS] = NLA_POLICY_EXACT_LEN(KVMTRUST_X86_REGS_LEN),
	[KVMTRUST_VSTATE_A_SREGS] = NLA_POLICY_EXACT_LEN(KVMTRUST_X86_SREGS_LEN),
};

static const struct nla_policy vstates_policy[KVMTRUST_VCPU_STATES_A_MAX + 1] = {
	[KVMTRUST_VCPU_STATES_A_VCPU] = NLA_POLICY_NESTED(vstate_policy),
};

static const struct nla_policy set_regs_policy[KVMTRUST_A_MAX + 1] = {
	[KVMTRUST_A_VM_ID] = NLA_POLICY_MIN(NLA_U32, 1),
	[KVMTRUST_A_VCPU_STATES] = NLA_POLICY_NESTED(vstates_policy),
};

/* A reply of size bytes to info's request, or NULL with the extack set. */
static struct sk_buff *reply_new_size(struct genl_info *info, u8 cmd, size_t size,
				      void **hdr)
{
	struct sk_buff *msg = genlmsg_new(size, GFP_KERNEL);

	*hdr = msg ? genlmsg_put_reply(msg, info, &genl_family, 0, cmd) : NULL;
	if (!*hdr) {
		nlmsg_free(msg);
		NL_SET_ERR_MSG_MOD(info->extack, "no memory for the reply");
		return NULL;
	}
	return msg;
}

static struct sk_buff *reply_new(struct genl_info *info, u8 cmd, void **hdr)
{
	return reply_new_size(info, cmd, NLMSG_GOODSIZE, hdr);
}

/* Sends the reply, or frees it when filling it failed (full is non-zero). */
static int reply_send(struct genl_info *info, struct sk_buff *msg, void *hdr,
		      int full)
{
	int err;

	if (full) {
		nlmsg_free(msg);
		NL_SET_ERR_MSG_MOD(info->extack, "the reply does not fit a message");
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	err = genlmsg_reply(msg, info);
	if (err)
		NL_SET_ERR_MSG_MOD(info->extack, "cannot send the reply");
	return err;
}

static int get_info_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = reply_new(info, KVMTRUST_CMD_GET_INFO, &hdr);
	if (!msg)
		return -ENOMEM;
	return reply_send(info, msg, hdr,
			  nla_put_string(msg, KVMTRUST_A_VERSION, KVMTRUST_VERSION) ||
			  nla_put_string(msg, KVMTRUST_A_HASH_ALG, "sha256") ||
			  nla_put_string(msg, KVMTRUST_A_HASH_DRIVER,
					 kvmtrust_hash_driver()) ||
			  nla_put_u32(msg, KVMTRUST_A_FEATURES, __KVMTRUST_F_ALL));
}

static int put_vm(struct sk_buff *msg, struct kvmtrust_vm *vm)
{
	struct kvmtrust_vm_info vi;

	kvmtrust_vm_describe(vm, &vi);
	if (nla_put_u32(msg, KVMTRUST_A_VM_ID, vi.id) ||
	    nla_put_u32(msg, KVMTRUST_A_VMM_PID, vi.vmm_pid) ||
	    nla_put_u32(msg, KVMTRUST_A_VCPU_COUNT, vi.vcpu_count) ||
	    nla_put_u32(msg, KVMTRUST_A_VCPU_FDS_HELD, vi.vcpu_files_held) ||
	    nla_put_u64_64bit(msg, KVMTRUST_A_MEM_BYTES, vi.mem_bytes,
			      KVMTRUST_A_PAD) ||
	    nla_put_u64_64bit(msg, KVMTRUST_A_SEQ, vi.seq, KVMTRUST_A_PAD))
		return -EMSGSIZE;
	return 0;
}

static int reply_vm(struct genl_info *info, struct kvmtrust_vm *vm, u8 cmd)
{
	struct sk_buff *msg;
	void *hdr;

	msg = reply_new(info, cmd, &hdr);
	if (!msg)
		return -ENOMEM;
	return reply_send(info, msg, hdr, put_vm(msg, vm));
}

/* Takes a reference on each vCPU file in the sender's fd table. */
static int attach_vcpus(struct kvmtrust_vm *vm, const struct nlattr *fds,
			struct netlink_ext_ack *extack)
{
	const struct nlattr *attr;
	int rem, err;

	nla_for_each_nested(attr, fds, rem) {
		struct fd f;

		if (nla_type(attr) != KVMTRUST_VCPU_A_FD)
			continue;
		f = fdget(nla_get_u32(attr));
		if (!fd_file(f)) {
			NL_SET_ERR_MSG_MOD(extack, "vcpu fd is not open");
			NL_SET_BAD_ATTR(extack, attr);
			return -EBADF;
		}
		err = kvmtrust_vm_add_vcpu(vm, fd_file(f), extack);
		fdput(f);
		if (err) {
			NL_SET_BAD_ATTR(extack, attr);
			return err;
		}
	}
	return 0;
}

static int vm_attach_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr *fd_attr = info->attrs[KVMTRUST_A_VM_FD];
	struct kvmtrust_vm *vm;
	struct fd f;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, KVMTRUST_A_VM_FD)) {
		NL_SET_ERR_MSG_MOD(extack, "missing vm fd");
		return -EINVAL;
	}
	f = fdget(nla_get_u32(fd_attr));
	if (!fd_file(f)) {
		NL_SET_ERR_MSG_MOD(extack, "vm fd is not open");
		NL_SET_BAD_ATTR(extack, fd_attr);
		return -EBADF;
	}
	vm = kvmtrust_vm_create(fd_file(f), genl_info_net(info), extack);
	fdput(f);
	if (IS_ERR(vm)) {
		NL_SET_BAD_ATTR(extack, fd_attr);
		return PTR_ERR(vm);
	}
	if (info->attrs[KVMTRUST_A_VCPU_FDS]) {
		err = attach_vcpus(vm, info->attrs[KVMTRUST_A_VCPU_FDS], extack);
		if (err)
			goto out;
	}
	err = kvmtrust_vm_register(vm, extack);
	if (err) {
		NL_SET_BAD_ATTR(extack, fd_attr);
		goto out;
	}
	err = reply_vm(info, vm, KVMTRUST_CMD_VM_ATTACH);
	if (err)
		kvmtrust_vm_detach(vm);
out:
	kvmtrust_vm_put(vm);
	return err;
}

/*
 * The VM named by KVMTRUST_A_VM_ID among those attached from the caller's
 * network namespace, referenced, or an ERR_PTR with the extack set.
 * read_memory: the caller must also be allowed to read the VMM's memory.
 */
static struct kvmtrust_vm *lookup_vm(struct genl_info *info, bool read_memory)
{
	struct kvmtrust_vm *vm;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, KVMTRUST_A_VM_ID)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing vm id");
		return ERR_PTR(-EINVAL);
	}
	vm = kvmtrust_vm_get(genl_info_net(info),
			     nla_get_u32(info->attrs[KVMTRUST_A_VM_ID]));
	if (!vm) {
		NL_SET_ERR_MSG_MOD(info->extack, "no attached vm has this id");
		NL_SET_BAD_ATTR(info->extack, info->attrs[KVMTRUST_A_VM_ID]);
		return ERR_PTR(-ENOENT);
	}
	err = read_memory ? kvmtrust_may_read_vmm(vm->vmm_pid, info->extack) : 0;
	if (err) {
		kvmtrust_vm_put(vm);
		return ERR_PTR(err);
	}
	return vm;
}

static int vm_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct kvmtrust_vm *vm = lookup_vm(info, false);
	int err;

	if (IS_ERR(vm))
		return PTR_ERR(vm);
	err = reply_vm(info, vm, KVMTRUST_CMD_VM_GET);
	kvmtrust_vm_put(vm);
	return err;
}

/*
 * cb->args[0]: the next VM id to send, 0 before the first round. A dump
 * lists every VM attached from the caller's network namespace and takes
 * no attribute: one would be a filter it silently ignored.
 */
static int vm_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nlattr **attrs = genl_info_dump(cb)->attrs;
	struct net *net = sock_net(cb->skb->sk);
	u64 next = cb->args[0] ?: 1;
	struct kvmtrust_vm *vm;
	void *hdr;
	u32 id;
	int err;

	if (!cb->args[0] && attrs && attrs[KVMTRUST_A_VM_ID]) {
		NL_SET_ERR_MSG_MOD(cb->extack,
				   "a dump takes no vm id; ask for one vm without NLM_F_DUMP");
		NL_SET_BAD_ATTR(cb->extack, attrs[KVMTRUST_A_VM_ID]);
		return -EINVAL;
	}
	for (; next <= U32_MAX; next = (u64)id + 1) {
		id = next;
		vm = kvmtrust_vm_get_next(net, &id);
		if (!vm) {
			next = (u64)U32_MAX + 1;
			break;
		}
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &genl_family, NLM_F_MULTI,
				  KVMTRUST_CMD_VM_GET);
		err = hdr ? put_vm(skb, vm) : -EMSGSIZE;
		kvmtrust_vm_put(vm);
		if (err) {
			if (hdr)
				genlmsg_cancel(skb, hdr);
			/* Resend this VM in the next round. */
			next = id;
			break;
		}
		genlmsg_end(skb, hdr);
	}
	cb->args[0] = next;
	return skb->len;
}

static int vm_detach_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct kvmtrust_vm *vm = lookup_vm(info, true);
	int err;

	if (IS_ERR(vm))
		return PTR_ERR(vm);
	err = kvmtrust_vm_detach(vm);
	if (err) {
		NL_SET_ERR_MSG_MOD(info->extack, "vm is already detached");
		NL_SET_BAD_ATTR(info->extack, info->attrs[KVMTRUST_A_VM_ID]);
	}
	kvmtrust_vm_put(vm);
	return err;
}

static int put_result(struct sk_buff *msg, const struct kvmtrust_measurement *m)
{
	if (m->err)
		return nla_put_s32(msg, KVMTRUST_A_ERROR, m->err) ||
		       (m->msg && nla_put_string(msg, KVMTRUST_A_ERROR_MSG, m->msg));
	return nla_put_u64_64bit(msg, KVMTRUST_A_SEQ, m->seq, KVMTRUST_A_PAD) ||
	       nla_put(msg, KVMTRUST_A_MEMORY_ROOT, KVMTRUST_HASH_LEN,
		       m->memory_root) ||
	       (m->has_vcpu_root &&
		nla_put(msg, KVMTRUST_A_VCPU_ROOT, KVMTRUST_HASH_LEN,
			m->vcpu_root)) ||
	       nla_put_u64_64bit(msg, KVMTRUST_A_PAGES, m->pages, KVMTRUST_A_PAD) ||
	       nla_put_u32(msg, KVMTRUST_A_VCPU_COUNT, m->vcpus) ||
	       nla_put_u64_64bit(msg, KVMTRUST_A_NS, m->ns, KVMTRUST_A_PAD) ||
	       nla_put_string(msg, KVMTRUST_A_HASH_DRIVER, kvmtrust_hash_driver()) ||
	       nla_put_u32(msg, KVMTRUST_A_LEAF_FORMAT, KVMTRUST_LEAF_FORMAT) ||
	       nla_put_u64_64bit(msg, KVMTRUST_A_ZERO_PAGES, m->zero_pages,
				 KVMTRUST_A_PAD) ||
	       nla_put_u32(msg, KVMTRUST_A_TREE, m->tree) ||
	       (m->tree_note &&
		nla_put_string(msg, KVMTRUST_A_TREE_NOTE, m->tree_note)) ||
	       nla_put_u64_64bit(msg, KVMTRUST_A_TREE_BYTES, m->tree_bytes,
				 KVMTRUST_A_PAD) ||
	       nla_put_u64_64bit(msg, KVMTRUST_A_WORK_BYTES, m->work_bytes,
				 KVMTRUST_A_PAD) ||
	       nla_put_u32(msg, KVMTRUST_A_THREADS, m->threads) ||
	       (m->unchanged && nla_put_flag(msg, KVMTRUST_A_MEMORY_UNCHANGED)) ||
	       (m->frozen &&
		nla_put_u64_64bit(msg, KVMTRUST_A_MEASURE_PAUSE_NS, m->pause_ns,
				  KVMTRUST_A_PAD)) ||
	       nla_put_u64_64bit(msg, KVMTRUST_A_MEASURE_PAGES_HASHED,
				 m->pages_hashed, KVMTRUST_A_PAD) ||
	       nla_put_u8(msg, KVMTRUST_A_MEASURE_FULL, m->full);
}

/* The body of KVMTRUST_CMD_MEASURE_GET replies and of notifications. */
static int put_measurement(struct sk_buff *msg, u32 vm_id,
			   const struct kvmtrust_measurement *m)
{
	if (nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id) ||
	    nla_put_u64_64bit(msg, KVMTRUST_A_MEASURE_ID, m->id, KVMTRUST_A_PAD) ||
	    nla_put_u32(msg, KVMTRUST_A_MEASURE_STATE,
			m->done ? KVMTRUST_MEASURE_DONE : KVMTRUST_MEASURE_RUNNING) ||
	    (m->done && put_result(msg, m)))
		return -EMSGSIZE;
	return 0;
}

void kvmtrust_genl_notify_measured(struct kvmtrust_vm *vm,
				   const struct kvmtrust_measurement *m)
{
	struct sk_buff *msg;
	void *hdr;

	/* A lost notification loses nothing: MEASURE_GET has the result. */
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &genl_family, 0, KVMTRUST_CMD_MEASURE_NTF);
	if (!hdr || put_measurement(msg, vm->id, m)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	down_read(&notify_lock);
	if (registered)
		genlmsg_multicast_netns(&genl_family, vm->net, msg, 0, GRP_MEASURE,
					GFP_KERNEL);
	else
		nlmsg_free(msg);
	up_read(&notify_lock);
}

/* The reply naming the measurement goes out before the measurement can end. */
static int reply_started(struct genl_info *info, u32 vm_id, u64 measure_id)
{
	struct sk_buff *msg;
	void *hdr;

	msg = reply_new(info, KVMTRUST_CMD_MEASURE, &hdr);
	if (!msg)
		return -ENOMEM;
	return reply_send(info, msg, hdr,
			  nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id) ||
			  nla_put_u64_64bit(msg, KVMTRUST_A_MEASURE_ID, measure_id,
					    KVMTRUST_A_PAD));
}

static int measure_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *flags_attr = info->attrs[KVMTRUST_A_MEASURE_FLAGS];
	struct kvmtrust_measure_ctx *ctx;
	struct kvmtrust_vm *vm;
	u32 flags = 0;
	int err;

	if (flags_attr) {
		flags = nla_get_u32(flags_attr);
		if (flags & ~__KVMTRUST_MEASURE_F_ALL) {
			NL_SET_ERR_MSG_MOD(info->extack,
					   "unknown measure flags");
			NL_SET_BAD_ATTR(info->extack, flags_attr);
			return -EOPNOTSUPP;
		}
	}
	vm = lookup_vm(info, true);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	ctx = kvmtrust_measure_prepare(vm, flags, info->extack);
	if (IS_ERR(ctx)) {
		err = PTR_ERR(ctx);
		goto out;
	}
	/* A request whose reply cannot be sent starts nothing, spends no seq. */
	err = reply_started(info, vm->id, kvmtrust_measure_id(ctx));
	if (err) {
		kvmtrust_measure_cancel(ctx);
		goto out;
	}
	kvmtrust_measure_start(ctx);
out:
	kvmtrust_vm_put(vm);
	return err;
}

static int put_proof(struct sk_buff *msg, u32 vm_id,
		     const struct kvmtrust_measurement *m,
		     const struct kvmtrust_proof *p)
{
	if (nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id) ||
	    nla_put_u64_64bit(msg, KVMTRUST_A_MEASURE_ID, m->id, KVMTRUST_A_PAD) ||
	    nla_put_u64_64bit(msg, KVMTRUST_A_SEQ, m->seq, KVMTRUST_A_PAD) ||
	    nla_put(msg, KVMTRUST_A_MEMORY_ROOT, KVMTRUST_HASH_LEN, m->memory_root) ||
	    nla_put_u64_64bit(msg, KVMTRUST_A_PAGES, p->tree_size, KVMTRUST_A_PAD) ||
	    nla_put_u64_64bit(msg, KVMTRUST_A_MEASURE_LEAF_INDEX, p->leaf_index,
			      KVMTRUST_A_PAD) ||
	    nla_put(msg, KVMTRUST_A_MEASURE_LEAF_HASH, KVMTRUST_HASH_LEN,
		    p->leaf_hash) ||
	    nla_put(msg, KVMTRUST_A_MEASURE_AUDIT_PATH,
		    p->path_len * KVMTRUST_HASH_LEN, p->path))
		return -EMSGSIZE;
	return 0;
}

static int measure_prove_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct kvmtrust_measurement *m = NULL;
	struct kvmtrust_proof *p = NULL;
	struct kvmtrust_vm *vm;
	struct sk_buff *msg;
	void *hdr;
	int err;

	if (!info->attrs[KVMTRUST_A_MEASURE_GPA]) {
		NL_SET_ERR_MSG_MOD(info->extack, "a proof needs a guest physical address");
		return -EINVAL;
	}
	vm = lookup_vm(info, true);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	err = -ENOMEM;
	m = kmalloc(sizeof(*m), GFP_KERNEL);
	p = kmalloc(sizeof(*p), GFP_KERNEL);
	if (!m || !p) {
		NL_SET_ERR_MSG_MOD(info->extack, "no memory for a proof");
		goto out;
	}
	err = kvmtrust_measure_prove(vm, nla_get_u64(info->attrs[KVMTRUST_A_MEASURE_GPA]),
				     m, p, info->extack);
	if (err)
		goto out;
	err = -ENOMEM;
	msg = reply_new(info, KVMTRUST_CMD_MEASURE_PROVE, &hdr);
	if (msg)
		err = reply_send(info, msg, hdr, put_proof(msg, vm->id, m, p));
out:
	kfree(p);
	kfree(m);
	kvmtrust_vm_put(vm);
	return err;
}

/* The serializations vcpu_root was hashed from, one attribute each. */
static int put_measured_states(struct sk_buff *msg, const u8 *states, u32 n)
{
	u32 i;

	for (i = 0; states && i < n; i++) {
		if (nla_put(msg, KVMTRUST_A_MEASURE_VCPU_STATE, KVMTRUST_VCPU_STATE_LEN,
			    states + (size_t)i * KVMTRUST_VCPU_STATE_LEN))
			return -EMSGSIZE;
	}
	return 0;
}

static int measure_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct kvmtrust_measurement m;
	struct kvmtrust_vm *vm;
	struct sk_buff *msg;
	u8 *states;
	size_t size;
	void *hdr;
	int err;

	vm = lookup_vm(info, true);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	err = kvmtrust_measure_last_states(vm, &m, &states);
	if (err) {
		NL_SET_ERR_MSG_MOD(info->extack, "no memory for the vcpu states");
		goto out;
	}
	err = -ENOENT;
	if (!m.id) {
		NL_SET_ERR_MSG_MOD(info->extack, "this vm has not been measured");
		goto out;
	}
	/* At most KVM_MAX_VCPUS states: the reply's size is bounded. */
	size = NLMSG_GOODSIZE;
	if (states)
		size += (size_t)m.vcpus * nla_total_size(KVMTRUST_VCPU_STATE_LEN);
	err = -ENOMEM;
	msg = reply_new_size(info, KVMTRUST_CMD_MEASURE_GET, size, &hdr);
	if (msg)
		err = reply_send(info, msg, hdr, put_measurement(msg, vm->id, &m) ||
				 put_measured_states(msg, states, m.vcpus));
out:
	kvmtrust_measure_states_free(states, m.vcpus);
	kvmtrust_vm_put(vm);
	return err;
}

static int memslots_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct kvmtrust_vm *vm;
	struct sk_buff *msg;
	void *hdr;
	int err = -ENOMEM;

	vm = lookup_vm(info, true);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	msg = reply_new(info, KVMTRUST_CMD_MEMSLOTS_GET, &hdr);
	if (msg)
		err = reply_send(info, msg, hdr,
				 nla_put_u32(msg, KVMTRUST_A_VM_ID, vm->id) ||
				 kvmtrust_memslots_put(msg, vm->kvm));
	kvmtrust_vm_put(vm);
	return err;
}

/* NL_SET_ERR_MSG for a message chosen at run time (a KVMTRUST_MSG literal). */
static void set_msg(struct netlink_ext_ack *extack, const char *msg)
{
	if (extack && msg)
		extack->_msg = msg;
}

static int put_vcpu_states(struct sk_buff *msg, const struct kvmtrust_vcpu_regs *regs, u32 n)
{
	struct nlattr *all, *one;
	u32 i;

	all = nla_nest_start(msg, KVMTRUST_A_VCPU_STATES);
	if (!all)
		return -EMSGSIZE;
	for (i = 0; i < n; i++) {
		one = nla_nest_start(msg, KVMTRUST_VCPU_STATES_A_VCPU);
		if (!one || nla_put_u32(msg, KVMTRUST_VSTATE_A_INDEX, regs[i].index) ||
		    nla_put_u32(msg, KVMTRUST_VSTATE_A_ID, regs[i].id) ||
		    nla_put(msg, KVMTRUST_VSTATE_A_REGS, sizeof(regs[i].regs), &regs[i].regs) ||
		    nla_put(msg, KVMTRUST_VSTATE_A_SREGS, sizeof(regs[i].sregs), &regs[i].sregs))
			return -EMSGSIZE;
		nla_nest_end(msg, one);
	}
	nla_nest_end(msg, all);
	return 0;
}

static int vcpu_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct kvmtrust_vcpu_regs *regs;
	struct kvmtrust_vm *vm;
	struct sk_buff *msg;
	const char *why;
	void *hdr;
	u32 n, i;
	int err;

	vm = lookup_vm(info, true);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	n = atomic_read(&vm->kvm->online_vcpus);
	err = -ENOMEM;
	regs = kvcalloc(n ?: 1, sizeof(*regs), GFP_KERNEL);
	if (!regs)
		goto out;
	for (i = 0; i < n; i++)
		regs[i].index = i;
	err = kvmtrust_vcpu_regs_io(vm, regs, n, false, &why);
	if (err) {
		set_msg(info->extack, why);
		goto out;
	}
	err = -ENOMEM;
	msg = reply_new_size(info, KVMTRUST_CMD_VCPU_GET,
			     NLMSG_GOODSIZE + (size_t)n * (sizeof(*regs) + 64), &hdr);
	if (msg)
		err = reply_send(info, msg, hdr,
				 nla_put_u32(msg, KVMTRUST_A_VM_ID, vm->id) ||
				 put_vcpu_states(msg, regs, n));
out:
	kvfree_sensitive(regs, (n ?: 1) * sizeof(*regs));
	kvmtrust_vm_put(vm);
	return err;
}

/* The request's registers, one entry per vCPU given; *n of them. */
static struct kvmtrust_vcpu_regs *parse_vcpu_states(struct genl_info *info, u32 *n)
{
	struct nlattr *states = info->attrs[KVMTRUST_A_VCPU_STATES], *a;
	struct nlattr *tb[KVMTRUST_VSTATE_A_MAX + 1];
	struct kvmtrust_vcpu_regs *regs;
	int rem, err;
	u32 i = 0;

	*n = 0;
	nla_for_each_nested(a, states, rem)
		(*n)++;
	regs = kvcalloc(*n ?: 1, sizeof(*regs), GFP_KERNEL);
	if (!regs)
		return ERR_PTR(-ENOMEM);
	nla_for_each_nested(a, states, rem) {
		err = nla_parse_nested(tb, KVMTRUST_VSTATE_A_MAX, a, vstate_policy, info->extack);
		if (!err && (!tb[KVMTRUST_VSTATE_A_INDEX] || !tb[KVMTRUST_VSTATE_A_REGS] ||
			     !tb[KVMTRUST_VSTATE_A_SREGS])) {
			NL_SET_ERR_MSG_MOD(info->extack, "a vcpu lacks its index, regs or sregs");
			NL_SET_BAD_ATTR(info->extack, a);
			err = -EINVAL;
		}
		if (err) {
			kvfree(regs);
			return ERR_PTR(err);
		}
		regs[i].index = nla_get_u32(tb[KVMTRUST_VSTATE_A_INDEX]);
		nla_memcpy(&regs[i].regs, tb[KVMTRUST_VSTATE_A_REGS], sizeof(regs[i].regs));
		nla_memcpy(&regs[i].sregs, tb[KVMTRUST_VSTATE_A_SREGS], sizeof(regs[i].sregs));
		i++;
	}
	return regs;
}

static int vcpu_set_regs_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct kvmtrust_vcpu_regs *regs;
	struct kvmtrust_vm *vm;
	const char *why;
	u32 n;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, KVMTRUST_A_VCPU_STATES)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing vcpu states");
		return -EINVAL;
	}
	vm = lookup_vm(info, true);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	err = kvmtrust_may_write_vmm(vm->vmm_pid, info->extack);
	if (err)
		goto out;
	regs = parse_vcpu_states(info, &n);
	if (IS_ERR(regs)) {
		err = PTR_ERR(regs);
		goto out;
	}
	err = kvmtrust_vcpu_regs_io(vm, regs, n, true, &why);
	if (err) {
		set_msg(info->extack, why);
		NL_SET_BAD_ATTR(info->extack, info->attrs[KVMTRUST_A_VCPU_STATES]);
	}
	kvfree_sensitive(regs, (n ?: 1) * sizeof(*regs));
out:
	kvmtrust_vm_put(vm);
	return err;
}

static const struct genl_ops genl_ops[] = {
	{
		.cmd = KVMTRUST_CMD_GET_INFO,
		.doit = get_info_doit,
		.policy = get_info_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_VM_ATTACH,
		.flags = GENL_ADMIN_PERM,
		.doit = vm_attach_doit,
		.policy = attach_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_VM_GET,
		.doit = vm_get_doit,
		.dumpit = vm_get_dumpit,
		.policy = vm_id_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_VM_DETACH,
		.flags = GENL_ADMIN_PERM,
		.doit = vm_detach_doit,
		.policy = vm_id_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_MEASURE,
		.flags = GENL_ADMIN_PERM,
		.doit = measure_doit,
		.policy = measure_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_MEASURE_GET,
		.flags = GENL_ADMIN_PERM,
		.doit = measure_get_doit,
		.policy = measure_get_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_MEASURE_PROVE,
		.flags = GENL_ADMIN_PERM,
		.doit = measure_prove_doit,
		.policy = measure_prove_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_MEMSLOTS_GET,
		.flags = GENL_ADMIN_PERM,
		.doit = memslots_get_doit,
		.policy = vm_id_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_VCPU_GET,
		.flags = GENL_ADMIN_PERM,
		.doit = vcpu_get_doit,
		.policy = vm_id_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
	{
		.cmd = KVMTRUST_CMD_VCPU_SET_REGS,
		.flags = GENL_ADMIN_PERM,
		.doit = vcpu_set_regs_doit,
		.policy = set_regs_policy,
		.maxattr = KVMTRUST_A_MAX,
	},
};

/*
 * parallel_ops: handlers never need genl_mutex; the registry has its own
 * lock and each VM serializes its own measurements.
 */
static struct genl_family genl_family __ro_after_init = {
	.ops = genl_ops,
	.n_ops = ARRAY_SIZE(genl_ops),
	.mcgrps = genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(genl_mcgrps),
	.name = KVMTRUST_GENL_NAME,
	.version = KVMTRUST_GENL_VERSION,
	.maxattr = KVMTRUST_A_MAX,
	.module = THIS_MODULE,
	.netnsok = true,
	.parallel_ops = true,
};

int __init kvmtrust_genl_init(void)
{
	int err = genl_register_family(&genl_family);

	if (!err) {
		down_write(&notify_lock);
		registered = true;
		up_write(&notify_lock);
	}
	return err;
}

void __exit kvmtrust_genl_exit(void)
{
	down_write(&notify_lock);
	registered = false;
	up_write(&notify_lock);
	genl_unregister_family(&genl_family);
}
