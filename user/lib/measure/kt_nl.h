/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Client of the kvmtrust generic netlink family (include/uapi/linux/
 * kvmtrust.h): one request helper per command, for the CLI and for any
 * other code that measures (attestation, the daemon).
 *
 * Every function returns 0 or a negative errno and, on failure, fills err:
 * err->check is "netlink" and err->msg either the kernel's extended ack as
 * "Error: <message>" or "Unable to <verb> <object>: <strerror>". Callers map
 * the errno to an exit status (ENOENT: no such VM, EPERM: needs
 * CAP_NET_ADMIN, EBUSY: a vCPU is running, ...).
 *
 *	struct kt_nl *nl = kt_nl_open(&err);
 *	struct kt_measurement m;
 *
 *	if (nl && !kt_nl_measure(nl, vm_id, 0, &m, &err))
 *		use(m.memory_root, m.vcpu_root, m.seq);
 *	kt_nl_close(nl);
 */
#ifndef KVMTRUST_KT_NL_H
#define KVMTRUST_KT_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>
#include <linux/kvmtrust.h>

#include "common/error.h"

struct kt_nl;

/* Resolves the family (the kernel autoloads kvmtrust.ko); NULL on failure. */
struct kt_nl *kt_nl_open(struct kt_err *err);
void kt_nl_close(struct kt_nl *nl);

struct kt_info {
	char version[64];
	char hash_alg[16];
	char hash_driver[64];
	uint32_t features;		/* KVMTRUST_F_* */
};

struct kt_vm {
	uint32_t vm_id;
	uint32_t vmm_pid;
	uint32_t vcpu_count;
	uint32_t vcpu_fds_held;
	uint64_t mem_bytes;
	uint64_t seq;			/* last measurement, 0 if none */
};

struct kt_measurement {
	uint32_t vm_id;
	uint64_t seq;			/* 1, 2, ... per VM */
	uint64_t pages;
	uint64_t ns;
	uint32_t vcpus;
	bool has_vcpu_root;		/* false with KVMTRUST_MEASURE_F_NO_VCPUS */
	uint8_t memory_root[KVMTRUST_HASH_LEN];
	uint8_t vcpu_root[KVMTRUST_HASH_LEN];
	char hash_driver[64];
	uint32_t leaf_format;		/* KVMTRUST_LEAF_FORMAT_* */
	uint64_t zero_pages;		/* read as zero, hashed from a saved state */
	bool tree_kept;			/* KVMTRUST_TREE_RETAINED, else streamed */
	char tree_note[128];		/* why no tree was kept, or "" */
	uint64_t tree_bytes;
	uint64_t work_bytes;
	uint32_t threads;		/* that hashed memory */
	bool memory_unchanged;		/* no page written while measured */
	bool frozen;			/* KVMTRUST_MEASURE_F_FREEZE: pause_ns set */
	uint64_t pause_ns;		/* the VMM was stopped (0: found stopped) */
	uint64_t pages_hashed;		/* leaves computed this time */
	bool full;			/* every page hashed (not incremental) */
};

/* An RFC 9162 inclusion proof of one page in the last memory_root. */
struct kt_proof {
	uint32_t vm_id;
	uint64_t measure_id;
	uint64_t seq;
	uint64_t tree_size;
	uint64_t leaf_index;
	uint8_t memory_root[KVMTRUST_HASH_LEN];
	uint8_t leaf_hash[KVMTRUST_HASH_LEN];
	uint8_t path[64][KVMTRUST_HASH_LEN];	/* the leaf's sibling first */
	size_t path_len;
	bool got;
};

int kt_nl_get_info(struct kt_nl *nl, struct kt_info *out, struct kt_err *err);

/* vm_fd and vcpu_fds are this process's descriptors; -EEXIST if attached. */
int kt_nl_vm_attach(struct kt_nl *nl, int vm_fd, const int *vcpu_fds,
		    size_t nr_vcpu_fds, struct kt_vm *out, struct kt_err *err);
int kt_nl_vm_get(struct kt_nl *nl, uint32_t vm_id, struct kt_vm *out,
		 struct kt_err *err);
/* *vms is malloc'd (free it), sorted by vm_id. */
int kt_nl_vm_list(struct kt_nl *nl, struct kt_vm **vms, size_t *nr,
		  struct kt_err *err);
int kt_nl_vm_detach(struct kt_nl *nl, uint32_t vm_id, struct kt_err *err);

/*
 * Starts a measurement and waits for its end (the module measures
 * asynchronously; the first call joins the "measure" group, which needs
 * CAP_NET_ADMIN). A failed measurement returns its errno with the module's
 * message in err, like a refused request. flags: KVMTRUST_MEASURE_F_*;
 * sent only when non-zero.
 */
int kt_nl_measure(struct kt_nl *nl, uint32_t vm_id, uint32_t flags,
		  struct kt_measurement *out, struct kt_err *err);

/* KVMTRUST_CMD_MEASURE_PROVE: the page at gpa in the last measurement. */
int kt_nl_measure_prove(struct kt_nl *nl, uint32_t vm_id, uint64_t gpa,
			struct kt_proof *out, struct kt_err *err);
/* One user memory slot of a VM (KVMTRUST_CMD_MEMSLOTS_GET). */
struct kt_memslot {
	uint32_t id;
	uint32_t flags;			/* KVM_MEM_* */
	uint64_t gpa;
	uint64_t size;			/* bytes, page multiple */
	uint64_t hva;			/* in the VMM's address space */
};

/*
 * The VM's user slots of address space 0 in GPA order, those a measurement
 * hashes; *slots is malloc'd (free it). Needs CAP_NET_ADMIN and ptrace read
 * access to the VMM.
 */
int kt_nl_memslots(struct kt_nl *nl, uint32_t vm_id, struct kt_memslot **slots,
		   size_t *nr, struct kt_err *err);

/* One vCPU's registers (KVMTRUST_CMD_VCPU_GET / VCPU_SET_REGS). */
struct kt_vcpu_regs {
	uint32_t index;			/* in the VM */
	uint32_t id;			/* KVM_CREATE_VCPU id */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
};

/* Every vCPU's registers (the guest paused); *regs malloc'd, by index. */
int kt_nl_vcpu_get(struct kt_nl *nl, uint32_t vm_id, struct kt_vcpu_regs **regs,
		   size_t *nr, struct kt_err *err);
/*
 * The VM's latest measurement: *seq (0 unless it is done and succeeded)
 * and the vCPU serializations (KVMTRUST_VCPU_STATE_LEN bytes each, vCPU
 * id order) its vcpu_root was hashed from, read inside that measurement
 * (KVMTRUST_A_MEASURE_VCPU_STATE); *states malloc'd, *nr 0 if it kept
 * none. Needs CAP_NET_ADMIN and ptrace read access to the VMM.
 */
int kt_nl_measured_states(struct kt_nl *nl, uint32_t vm_id, uint64_t *seq,
			  uint8_t **states, size_t *nr, struct kt_err *err);
/* Writes every vCPU's registers (each vCPU once, the guest paused). */
int kt_nl_vcpu_set(struct kt_nl *nl, uint32_t vm_id, const struct kt_vcpu_regs *regs,
		   size_t nr, struct kt_err *err);

#endif
