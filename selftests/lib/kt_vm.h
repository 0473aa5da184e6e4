/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small VMM for the selftests, in the spirit of the kernel's
 * tools/testing/selftests/kvm/lib/kvm_util.c: create a VM, add memslots,
 * create vCPUs, load the real-mode test guest (guest.S) and run it until it
 * reports with an "out". Between KVM_RUN calls the guest is paused, which is
 * the state kvmtrust measures.
 *
 * ioctls come in two forms: __kt_ioctl() returns what ioctl(2) returned,
 * kt_ioctl() dies naming the ioctl and errno. Library calls die the same way
 * (kt_die), so a test that gets a struct kt_vm back has a working VM.
 */
#ifndef KT_VM_H
#define KT_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "guest_layout.h"

#define KT_MAX_SLOTS	8
#define KT_MAX_VCPUS	8

void __attribute__((noreturn, format(printf, 3, 4)))
kt_die_at(const char *file, int line, const char *fmt, ...);
#define kt_die(...) kt_die_at(__FILE__, __LINE__, __VA_ARGS__)
#define kt_assert(cond, ...) do { if (!(cond)) kt_die(__VA_ARGS__); } while (0)

#define __kt_ioctl(fd, cmd, arg) ioctl(fd, cmd, arg)
#define kt_ioctl(fd, cmd, arg) ({					\
	int __ret = __kt_ioctl(fd, cmd, arg);				\
	kt_assert(__ret >= 0, "%s failed: %m", #cmd);			\
	__ret;								\
})

struct kt_memslot {
	uint32_t slot;
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct kt_vcpu {
	int fd;
	uint32_t id;
	struct kvm_run *run;
	size_t run_size;
};

struct kt_vm {
	int kvm_fd;
	int fd;
	unsigned int nr_slots;
	struct kt_memslot slots[KT_MAX_SLOTS];
	unsigned int nr_vcpus;
	struct kt_vcpu vcpus[KT_MAX_VCPUS];
	uint32_t seed;
};

/* NULL with errno set when /dev/kvm is missing: callers SKIP on that. */
struct kt_vm *kt_vm_try_create(void);
struct kt_vm *kt_vm_create(void);
void kt_vm_free(struct kt_vm *vm);

void kt_vm_add_memslot(struct kt_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size);
/* Host view of one guest byte, NULL outside every memslot. */
uint8_t *kt_vm_gpa_to_hva(struct kt_vm *vm, uint64_t gpa);
uint64_t kt_vm_pages(const struct kt_vm *vm);
/* Memslots sorted by guest physical address, for recomputation. */
void kt_vm_slots_by_gpa(const struct kt_vm *vm, const struct kt_memslot **out);

struct kt_vcpu *kt_vcpu_add(struct kt_vm *vm, uint32_t id);
void kt_vcpu_get_regs(struct kt_vcpu *vcpu, struct kvm_regs *regs);
void kt_vcpu_set_regs(struct kt_vcpu *vcpu, const struct kvm_regs *regs);
void kt_vcpu_get_sregs(struct kt_vcpu *vcpu, struct kvm_sregs *sregs);
void kt_vcpu_set_sregs(struct kt_vcpu *vcpu, const struct kvm_sregs *sregs);
/* One KVM_RUN: 0 or -errno (EINTR when kicked by a signal). */
int __kt_vcpu_run(struct kt_vcpu *vcpu);

/*
 * The test guest: both memslots (high one first), nr_vcpus vCPUs, guest
 * code at KT_CODE_GPA and vCPU 0 pointed at it in real mode with the seed
 * in EAX. Other vCPUs stay in their reset state and are never run.
 */
struct kt_vm *kt_guest_vm_create(uint32_t seed, unsigned int nr_vcpus);
/* Runs vCPU 0 until the guest's "done" out; dies on any other exit. */
void kt_guest_run_to_done(struct kt_vm *vm);

/* What the guest wrote, for checking that it really ran. */
uint32_t kt_guest_next_random(uint32_t state);
bool kt_guest_memory_is_expected(struct kt_vm *vm, char *why, size_t len);

/* Seed from KT_SEED if set, else from the clock; printed by the caller. */
uint32_t kt_seed_from_env(void);

#endif
