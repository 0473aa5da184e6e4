/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * kvmtrust: measures running KVM guests over generic netlink.
 *
 * Documentation
 * =============
 *
 * The enums below are the interface of kvmtrust.ko: generic netlink family
 * KVMTRUST_GENL_NAME, version KVMTRUST_GENL_VERSION. Every command takes and
 * returns attributes of the one set enum kvmtrust_attr; each command's policy
 * is strict and refuses attributes it does not list. Every refusal carries an
 * extended ack message (set NETLINK_EXT_ACK on the socket).
 *
 * Permissions: a VM belongs to the network namespace it was attached from;
 * callers elsewhere do not see it. Commands marked "needs CAP_NET_ADMIN"
 * are refused with EPERM by the genetlink core; VM_ATTACH, MEASURE,
 * MEASURE_GET and VM_DETACH also need ptrace read access to the VMM (its
 * uid and gid, or CAP_SYS_PTRACE), else EPERM. Pids are numbered in the
 * caller's pid namespace. The reviewed
 * contract is Documentation/netlink/specs/kvmtrust.yaml; the measurement is
 * specified in Documentation/measurement.rst.
 *
 * KVMTRUST_CMD_GET_INFO
 * ---------------------
 *
 * NLM_F_REQUEST, no attributes. Any user. Replies with:
 *
 *    KVMTRUST_A_VERSION: NLA_NUL_STRING, module version
 *    KVMTRUST_A_HASH_ALG: NLA_NUL_STRING, "sha256"
 *    KVMTRUST_A_HASH_DRIVER: NLA_NUL_STRING, crypto driver in use, bound
 *                            at load: the highest-priority sha256 the CPU
 *                            runs ("sha256-ni", "sha256-avx2", ...), or the
 *                            module's hash_driver parameter
 *    KVMTRUST_A_FEATURES: NLA_U32, KVMTRUST_F_* bits this module implements
 *
 * KVMTRUST_CMD_VM_ATTACH
 * ----------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN. The file descriptors are the caller's
 * own and are resolved in the sending process, the way rtnetlink resolves
 * IFLA_NET_NS_FD; the module keeps references to the files, not the numbers.
 *
 *    KVMTRUST_A_VM_FD: NLA_U32, required, fd of a KVM VM (anon_inode:kvm-vm)
 *    KVMTRUST_A_VCPU_FDS: NLA_NESTED, optional
 *        KVMTRUST_VCPU_A_FD: NLA_U32, fd of one vCPU of that VM
 *                            (anon_inode:kvm-vcpu:N); repeated, one per vCPU
 *
 * Replies with the VM's description, as KVMTRUST_CMD_VM_GET does. Attaching a
 * VM that is already attached fails with EEXIST. The module drops the VM on
 * KVMTRUST_CMD_VM_DETACH, on module unload and when the VM's process exits.
 *
 * KVMTRUST_CMD_VM_GET
 * -------------------
 *
 * NLM_F_REQUEST with KVMTRUST_A_VM_ID for one VM, or NLM_F_REQUEST |
 * NLM_F_DUMP with no attribute (EINVAL otherwise) for every VM attached
 * from the caller's network namespace. Any user. Each VM is one message:
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, handle assigned at attach, never reused
 *                      while the module is loaded (attaching fails with
 *                      ENOSPC once the ids are used up)
 *    KVMTRUST_A_VMM_PID: NLA_U32, pid of the process that created the VM,
 *                        in the caller's pid namespace (0: not visible)
 *    KVMTRUST_A_VCPU_COUNT: NLA_U32, vCPUs the VM has
 *    KVMTRUST_A_VCPU_FDS_HELD: NLA_U32, vCPU files the module holds
 *    KVMTRUST_A_MEM_BYTES: NLA_U64, guest memory in address space 0
 *    KVMTRUST_A_SEQ: NLA_U64, sequence number of the last measurement
 *                    (0: never measured)
 *
 * KVMTRUST_CMD_VM_DETACH
 * ----------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN.
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, required
 *
 * No reply beyond the ack. A measurement in progress completes or fails;
 * it never touches freed memory.
 *
 * KVMTRUST_CMD_MEASURE
 * --------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN. Starts a measurement and returns at
 * once: hashing a large guest takes seconds to minutes, and a handler that
 * waited for it would hold genetlink's locks (every other family's
 * registration, and behind it every genetlink request, would wait too).
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, required
 *    KVMTRUST_A_MEASURE_FLAGS: NLA_U32, optional, KVMTRUST_MEASURE_F_* bits;
 *                              unknown bits fail with EOPNOTSUPP
 *
 * Fails with EBUSY while another measurement of the same VM runs. Otherwise
 * replies, before the measurement starts, with:
 *
 *    KVMTRUST_A_VM_ID: NLA_U32
 *    KVMTRUST_A_MEASURE_ID: NLA_U64, names this measurement; unique among
 *                           all measurements while the module is loaded
 *
 * The measurement ends, successful or not, with a KVMTRUST_CMD_MEASURE_NTF
 * message on the multicast group KVMTRUST_MCGRP_MEASURE, sent to every
 * member in the network namespace the VM was attached from (joining needs
 * CAP_NET_ADMIN), and KVMTRUST_CMD_MEASURE_GET returns the same until the
 * next measurement of the VM starts. A client joins the group before it
 * sends KVMTRUST_CMD_MEASURE, waits for the notification with its
 * KVMTRUST_A_MEASURE_ID, and asks KVMTRUST_CMD_MEASURE_GET if the
 * notification is late (a receive buffer overrun drops multicast). The
 * notification may arrive before the ack of the request.
 *
 * Every vCPU must be outside KVM_RUN for the whole measurement (the VMM
 * paused the guest, or KVMTRUST_MEASURE_F_FREEZE stopped the VMM), and no
 * guest page may be written meanwhile; a measurement that finds a vCPU
 * inside or a page written fails with EBUSY.
 *
 * KVMTRUST_CMD_MEASURE_GET
 * ------------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN.
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, required
 *
 * Fails with ENOENT if the VM was never measured. Replies, like the
 * KVMTRUST_CMD_MEASURE_NTF notification, with the VM's latest measurement:
 *
 *    KVMTRUST_A_VM_ID: NLA_U32
 *    KVMTRUST_A_MEASURE_ID: NLA_U64
 *    KVMTRUST_A_MEASURE_STATE: NLA_U32, enum kvmtrust_measure_state
 *
 * and, once it is KVMTRUST_MEASURE_DONE, if it failed:
 *
 *    KVMTRUST_A_ERROR: NLA_S32, a negative errno (EBUSY: a vCPU ran, ...)
 *    KVMTRUST_A_ERROR_MSG: NLA_NUL_STRING, why, as an extack would say it
 *
 * or if it succeeded:
 *
 *    KVMTRUST_A_SEQ: NLA_U64, this measurement's number, 1 for the first
 *                    of this VM, incremented by one per measurement
 *    KVMTRUST_A_MEMORY_ROOT: KVMTRUST_HASH_LEN bytes
 *    KVMTRUST_A_VCPU_ROOT: KVMTRUST_HASH_LEN bytes, absent with
 *                          KVMTRUST_MEASURE_F_NO_VCPUS
 *    KVMTRUST_A_PAGES: NLA_U64, guest pages hashed
 *    KVMTRUST_A_VCPU_COUNT: NLA_U32, vCPUs hashed
 *    KVMTRUST_A_NS: NLA_U64, nanoseconds the measurement took
 *    KVMTRUST_A_HASH_DRIVER: NLA_NUL_STRING, crypto driver that hashed
 *    KVMTRUST_A_LEAF_FORMAT: NLA_U32, the memory leaf layout hashed
 *                            (KVMTRUST_LEAF_FORMAT_*, measurement.rst)
 *    KVMTRUST_A_ZERO_PAGES: NLA_U64, pages that read as all zero, hashed
 *                           from the state after a zero page; pages the
 *                           VMM never touched are not even faulted in
 *    KVMTRUST_A_TREE: NLA_U32, enum kvmtrust_tree: whether the module kept
 *                     the tree for later updates or only streamed the root
 *    KVMTRUST_A_TREE_NOTE: NLA_NUL_STRING, why it streamed when a tree
 *                          could not be kept (tree_max_mib, memory cgroup)
 *    KVMTRUST_A_TREE_BYTES: NLA_U64, size of the kept tree, charged to the
 *                           VMM's memory cgroup
 *    KVMTRUST_A_WORK_BYTES: NLA_U64, memory the measurement allocated
 *                           besides the kept tree (bounded, whatever the
 *                           guest's size)
 *    KVMTRUST_A_THREADS: NLA_U32, threads that hashed memory
 *    KVMTRUST_A_MEMORY_UNCHANGED: NLA_FLAG, no guest page was written
 *                                 while it was measured (soft-dirty bits
 *                                 cleared before, still clear after);
 *                                 absent with KVMTRUST_MEASURE_F_NO_VCPUS
 *    KVMTRUST_A_MEASURE_PAUSE_NS: NLA_U64, with KVMTRUST_MEASURE_F_FREEZE
 *                                 only: nanoseconds the VM's process was
 *                                 stopped, from the module's SIGSTOP to
 *                                 its SIGCONT (0: it was found stopped and
 *                                 left stopped)
 *    KVMTRUST_A_MEASURE_PAGES_HASHED: NLA_U64, pages whose leaf was
 *                                 computed (SHA-256) this time; equals
 *                                 KVMTRUST_A_PAGES for a full measurement
 *    KVMTRUST_A_MEASURE_FULL: NLA_U8, 1: every page was hashed; 0: only the
 *                             pages that changed since the last measurement
 *                             and their neighbours (incremental; the roots
 *                             are the same as a full measurement's)
 *
 * and, in MEASURE_GET replies only (not in notifications), when the
 * measurement succeeded with a vcpu_root:
 *
 *    KVMTRUST_A_MEASURE_VCPU_STATE: KVMTRUST_VCPU_STATE_LEN bytes, repeated,
 *                                   one per vCPU in vCPU id order: the
 *                                   canonical serializations the leaves of
 *                                   vcpu_root were hashed from, read inside
 *                                   the measurement (so also while a frozen
 *                                   guest runs); at most KVM_MAX_VCPUS
 *
 * A measurement is incremental when KVMTRUST_MEASURE_F_FREEZE is set, the
 * VM's last measurement succeeded with its vCPUs and kept its tree, the
 * memslots are unchanged, no other process cleared the VMM's soft-dirty
 * bits (clear_refs) since, and neither KVMTRUST_MEASURE_F_FULL nor
 * KVMTRUST_MEASURE_F_NO_VCPUS is set.
 * A measurement that finds another process clearing soft-dirty bits while
 * it runs fails with EBUSY.
 *
 * With KVMTRUST_MEASURE_F_FREEZE the module stops the VM's process itself
 * (a SIGSTOP group stop), waits until every thread has stopped (at most the
 * freeze_timeout_ms parameter, else ETIMEDOUT), measures and continues it
 * (SIGCONT), whatever the outcome, also when the requesting client is gone
 * or the module unloads. A process found stopped is measured and left
 * stopped; one continued by someone else during the measurement fails it
 * with EBUSY.
 *
 * KVMTRUST_CMD_MEASURE_PROVE
 * --------------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN and ptrace read access to the VMM.
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, required
 *    KVMTRUST_A_MEASURE_GPA: NLA_U64, required, a guest physical address
 *
 * The RFC 9162 inclusion proof of the page holding that address in the
 * VM's last successful measurement. Fails with EBUSY while a measurement
 * of the VM runs, ENOENT if the last measurement failed or kept no tree or
 * the address is not guest memory, and ESTALE ("stale") if a page under
 * the same lowest kept node changed since (measure again). Replies with:
 *
 *    KVMTRUST_A_VM_ID: NLA_U32
 *    KVMTRUST_A_MEASURE_ID: NLA_U64, the measurement proven
 *    KVMTRUST_A_SEQ: NLA_U64, its sequence number
 *    KVMTRUST_A_MEMORY_ROOT: KVMTRUST_HASH_LEN bytes, its memory_root
 *    KVMTRUST_A_PAGES: NLA_U64, the tree size (leaves)
 *    KVMTRUST_A_MEASURE_LEAF_INDEX: NLA_U64, the page's leaf index
 *    KVMTRUST_A_MEASURE_LEAF_HASH: KVMTRUST_HASH_LEN bytes, its leaf hash
 *    KVMTRUST_A_MEASURE_AUDIT_PATH: binary, the audit path, leaf's
 *                                   sibling first, KVMTRUST_HASH_LEN bytes
 *                                   a hash (RFC 9162 section 2.1.3)
 */
/*
 * KVMTRUST_CMD_MEMSLOTS_GET
 * -------------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN and ptrace read access to the VMM (the
 * reply holds addresses of the VMM's mappings).
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, required
 *
 * Replies with the VM's user memory slots of address space 0, those a
 * measurement hashes, in guest physical address order:
 *
 *    KVMTRUST_A_VM_ID: NLA_U32
 *    KVMTRUST_A_MEMSLOTS: NLA_NESTED
 *        KVMTRUST_MEMSLOTS_A_SLOT: NLA_NESTED, one per slot; repeated
 *            KVMTRUST_SLOT_A_ID: NLA_U32, the VMM's slot number
 *            KVMTRUST_SLOT_A_GPA: NLA_U64, guest physical address
 *            KVMTRUST_SLOT_A_SIZE: NLA_U64, bytes (a multiple of 4096)
 *            KVMTRUST_SLOT_A_HVA: NLA_U64, where the VMM maps it
 *            KVMTRUST_SLOT_A_FLAGS: NLA_U32, the slot's KVM_MEM_* flags
 *
 * What a snapshot tool needs to read the pages a measurement covers through
 * /proc/PID/mem (Documentation/snapshots.rst). The layout may change after
 * the reply; a measurement fails with EAGAIN if it changes under it.
 */
/*
 * KVMTRUST_CMD_VCPU_GET
 * ---------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN and ptrace read access to the VMM.
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, required
 *
 * Replies with every vCPU's registers as KVM_GET_REGS and KVM_GET_SREGS
 * return them (x86: struct kvm_regs and struct kvm_sregs, the VMM's ABI),
 * read like a measurement's (Documentation/measurement.rst); EBUSY while a
 * vCPU is in KVM_RUN:
 *
 *    KVMTRUST_A_VM_ID: NLA_U32
 *    KVMTRUST_A_VCPU_STATES: NLA_NESTED
 *        KVMTRUST_VCPU_STATES_A_VCPU: NLA_NESTED, one per vCPU; repeated
 *            KVMTRUST_VSTATE_A_INDEX: NLA_U32, the vCPU's index in the VM
 *            KVMTRUST_VSTATE_A_ID: NLA_U32, its KVM_CREATE_VCPU id
 *            KVMTRUST_VSTATE_A_REGS: KVMTRUST_X86_REGS_LEN bytes
 *            KVMTRUST_VSTATE_A_SREGS: KVMTRUST_X86_SREGS_LEN bytes
 *
 * KVMTRUST_CMD_VCPU_SET_REGS
 * --------------------------
 *
 * NLM_F_REQUEST, needs CAP_NET_ADMIN and ptrace attach access to the VMM
 * (the caller's real ids, not only its filesystem ids, or CAP_SYS_PTRACE).
 *
 *    KVMTRUST_A_VM_ID: NLA_U32, required
 *    KVMTRUST_A_VCPU_STATES: NLA_NESTED, required, as VCPU_GET replies
 *                            (KVMTRUST_VSTATE_A_ID is ignored), every vCPU
 *                            of the VM exactly once
 *
 * Writes each vCPU's registers through KVM_SET_SREGS then KVM_SET_REGS,
 * from a thread in the VM's mm. Refused with EBUSY while a vCPU is in
 * KVM_RUN (pause the guest) or a measurement of the VM runs; EINVAL unless
 * every vCPU is given once. What kvmtrust rollback restores registers with
 * (Documentation/snapshots.rst). No reply beyond the ack.
 */
#ifndef _UAPI_LINUX_KVMTRUST_H
#define _UAPI_LINUX_KVMTRUST_H

#include <linux/types.h>

#define KVMTRUST_GENL_NAME "kvmtrust"
#define KVMTRUST_GENL_VERSION 1

#define KVMTRUST_HASH_LEN 32

enum kvmtrust_cmd {
	KVMTRUST_CMD_UNSPEC,
	KVMTRUST_CMD_GET_INFO,
	KVMTRUST_CMD_VM_ATTACH,
	KVMTRUST_CMD_VM_GET,
	KVMTRUST_CMD_VM_DETACH,
	KVMTRUST_CMD_MEASURE,
	KVMTRUST_CMD_MEASURE_GET,
	KVMTRUST_CMD_MEASURE_NTF,
	KVMTRUST_CMD_MEASURE_PROVE,
	KVMTRUST_CMD_MEMSLOTS_GET,
	KVMTRUST_CMD_VCPU_GET,
	KVMTRUST_CMD_VCPU_SET_REGS,

	__KVMTRUST_CMD_LAST
};

#define KVMTRUST_CMD_MAX (__KVMTRUST_CMD_LAST - 1)

/* Multicast group of KVMTRUST_CMD_MEASURE_NTF. */
#define KVMTRUST_MCGRP_MEASURE "measure"

/* KVMTRUST_A_FEATURES: what this module can do. */
enum kvmtrust_feature {
	KVMTRUST_F_MEMORY_ROOT = 1U << 0,
	KVMTRUST_F_VCPU_ROOT = 1U << 1,
	/* KVMTRUST_CMD_MEASURE starts; KVMTRUST_CMD_MEASURE_NTF ends. */
	KVMTRUST_F_ASYNC_MEASURE = 1U << 2,

	__KVMTRUST_F_ALL = KVMTRUST_F_MEMORY_ROOT | KVMTRUST_F_VCPU_ROOT |
			   KVMTRUST_F_ASYNC_MEASURE
};

/* KVMTRUST_A_MEASURE_FLAGS */
enum kvmtrust_measure_flag {
	/* Hash memory only; no vCPU files needed, no KVMTRUST_A_VCPU_ROOT. */
	KVMTRUST_MEASURE_F_NO_VCPUS = 1U << 0,
	/* Hash memory on one thread, not one per online CPU (same roots). */
	KVMTRUST_MEASURE_F_ONE_THREAD = 1U << 1,
	/*
	 * Stop the VM's process (SIGSTOP) for the measurement and continue it
	 * after; the module owns the continue (measurement.rst, "Freeze").
	 */
	KVMTRUST_MEASURE_F_FREEZE = 1U << 2,
	/* Hash every page, even when the last measurement allows less. */
	KVMTRUST_MEASURE_F_FULL = 1U << 3,

	__KVMTRUST_MEASURE_F_ALL = KVMTRUST_MEASURE_F_NO_VCPUS |
				   KVMTRUST_MEASURE_F_ONE_THREAD |
				   KVMTRUST_MEASURE_F_FREEZE |
				   KVMTRUST_MEASURE_F_FULL
};

/* KVMTRUST_A_LEAF_FORMAT: memory leaf layouts (Documentation/measurement.rst). */
enum kvmtrust_leaf_format {
	/* SHA-256(0x00 || le64(gpa) || page); never sent, no longer made. */
	KVMTRUST_LEAF_FORMAT_GPA_FIRST = 1,
	/* SHA-256(0x00 || page || le64(gpa)) */
	KVMTRUST_LEAF_FORMAT_GPA_LAST = 2,
};

/* KVMTRUST_A_TREE */
enum kvmtrust_tree {
	KVMTRUST_TREE_STREAMED = 1,
	KVMTRUST_TREE_RETAINED = 2,
};

/* KVMTRUST_A_MEASURE_STATE */
enum kvmtrust_measure_state {
	KVMTRUST_MEASURE_RUNNING = 1,
	KVMTRUST_MEASURE_DONE = 2,
};

enum kvmtrust_attr {
	KVMTRUST_A_UNSPEC,
	KVMTRUST_A_PAD,
	KVMTRUST_A_VERSION,
	KVMTRUST_A_HASH_ALG,
	KVMTRUST_A_HASH_DRIVER,
	KVMTRUST_A_FEATURES,
	KVMTRUST_A_VM_FD,
	KVMTRUST_A_VCPU_FDS,
	KVMTRUST_A_VM_ID,
	KVMTRUST_A_VMM_PID,
	KVMTRUST_A_VCPU_COUNT,
	KVMTRUST_A_VCPU_FDS_HELD,
	KVMTRUST_A_MEM_BYTES,
	KVMTRUST_A_MEASURE_FLAGS,
	KVMTRUST_A_MEMORY_ROOT,
	KVMTRUST_A_VCPU_ROOT,
	KVMTRUST_A_PAGES,
	KVMTRUST_A_NS,
	KVMTRUST_A_SEQ,
	KVMTRUST_A_MEASURE_ID,
	KVMTRUST_A_MEASURE_STATE,
	KVMTRUST_A_ERROR,
	KVMTRUST_A_ERROR_MSG,
	KVMTRUST_A_LEAF_FORMAT,
	KVMTRUST_A_ZERO_PAGES,
	KVMTRUST_A_TREE,
	KVMTRUST_A_TREE_NOTE,
	KVMTRUST_A_TREE_BYTES,
	KVMTRUST_A_WORK_BYTES,
	KVMTRUST_A_THREADS,
	KVMTRUST_A_MEMORY_UNCHANGED,
	KVMTRUST_A_MEASURE_PAUSE_NS,
	KVMTRUST_A_MEASURE_PAGES_HASHED,
	KVMTRUST_A_MEASURE_FULL,
	KVMTRUST_A_MEASURE_GPA,
	KVMTRUST_A_MEASURE_LEAF_INDEX,
	KVMTRUST_A_MEASURE_LEAF_HASH,
	KVMTRUST_A_MEASURE_AUDIT_PATH,
	KVMTRUST_A_MEMSLOTS,
	KVMTRUST_A_VCPU_STATES,
	KVMTRUST_A_MEASURE_VCPU_STATE,

	__KVMTRUST_A_LAST
};

#define KVMTRUST_A_MAX (__KVMTRUST_A_LAST - 1)

/* Inside KVMTRUST_A_VCPU_FDS. */
enum kvmtrust_vcpu_attr {
	KVMTRUST_VCPU_A_UNSPEC,
	KVMTRUST_VCPU_A_FD,

	__KVMTRUST_VCPU_A_LAST
};

#define KVMTRUST_VCPU_A_MAX (__KVMTRUST_VCPU_A_LAST - 1)

/* Inside KVMTRUST_A_MEMSLOTS. */
enum kvmtrust_memslots_attr {
	KVMTRUST_MEMSLOTS_A_UNSPEC,
	KVMTRUST_MEMSLOTS_A_SLOT,

	__KVMTRUST_MEMSLOTS_A_LAST
};

#define KVMTRUST_MEMSLOTS_A_MAX (__KVMTRUST_MEMSLOTS_A_LAST - 1)

/* Inside KVMTRUST_MEMSLOTS_A_SLOT. */
enum kvmtrust_slot_attr {
	KVMTRUST_SLOT_A_UNSPEC,
	KVMTRUST_SLOT_A_PAD,
	KVMTRUST_SLOT_A_ID,
	KVMTRUST_SLOT_A_GPA,
	KVMTRUST_SLOT_A_SIZE,
	KVMTRUST_SLOT_A_HVA,
	KVMTRUST_SLOT_A_FLAGS,

	__KVMTRUST_SLOT_A_LAST
};

#define KVMTRUST_SLOT_A_MAX (__KVMTRUST_SLOT_A_LAST - 1)

/*
 * Size of one vCPU's canonical serialization, a vcpu_root leaf's data
 * (Documentation/measurement.rst, KVMTRUST_A_MEASURE_VCPU_STATE).
 */
#define KVMTRUST_VCPU_STATE_LEN 408

/* Sizes of x86's struct kvm_regs and struct kvm_sregs. */
#define KVMTRUST_X86_REGS_LEN 144
#define KVMTRUST_X86_SREGS_LEN 312

/* Inside KVMTRUST_A_VCPU_STATES. */
enum kvmtrust_vcpu_states_attr {
	KVMTRUST_VCPU_STATES_A_UNSPEC,
	KVMTRUST_VCPU_STATES_A_VCPU,

	__KVMTRUST_VCPU_STATES_A_LAST
};

#define KVMTRUST_VCPU_STATES_A_MAX (__KVMTRUST_VCPU_STATES_A_LAST - 1)

/* Inside KVMTRUST_VCPU_STATES_A_VCPU. */
enum kvmtrust_vstate_attr {
	KVMTRUST_VSTATE_A_UNSPEC,
	KVMTRUST_VSTATE_A_INDEX,
	KVMTRUST_VSTATE_A_ID,
	KVMTRUST_VSTATE_A_REGS,
	KVMTRUST_VSTATE_A_SREGS,

	__KVMTRUST_VSTATE_A_LAST
};

#define KVMTRUST_VSTATE_A_MAX (__KVMTRUST_VSTATE_A_LAST - 1)

#endif /* _UAPI_LINUX_KVMTRUST_H */
