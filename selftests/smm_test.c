// SPDX-License-Identifier: GPL-2.0
/*
 * KVM's second address space (as_id 1, on x86 the SMM view where QEMU maps
 * SMRAM) and the measurement (Documentation/measurement.rst, "Address space
 * 1 (SMM)"): the module measures address space 0 only. The in-process test
 * guest gets an address-space-1 memslot, as QEMU's default "pc" machine
 * does for its SMRAM: the measurement still succeeds, counts and hashes
 * address space 0's pages only (equal to a recomputation without the SMRAM
 * slot), and a write into the SMRAM backing leaves memory_root as it was,
 * while a write into address space 0 moves it (the test could fail).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kt_recompute.h"
#include "kt_test.h"

/* QEMU's i440fx SMRAM window: 128 KiB at 0xa0000. */
#define SMRAM_GPA	0xa0000ULL
#define SMRAM_SIZE	0x20000ULL
#define SMRAM_SLOT	((1U << 16) | 0)	/* as_id 1, slot 0 */

FIXTURE(smm) {
	struct kt_vm *vm;
	struct kt_genl g;
	uint32_t vm_id;
	uint8_t *smram;
};

FIXTURE_SETUP(smm)
{
	struct kvm_userspace_memory_region region;
	uint32_t seed = kt_seed_from_env();
	int vcpu_fd, ret;
	unsigned int i;

	KT_KVM_OR_SKIP();
	KT_GENL_OPEN_OR_SKIP(&self->g);
	TH_LOG("seed %u (KT_SEED=%u reproduces)", seed, seed);
	self->vm = kt_guest_vm_create(seed, 1);
	kt_guest_run_to_done(self->vm);
	if (ioctl(self->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE) < 2) {
		kt_vm_free(self->vm);
		kt_genl_close(&self->g);
		KT_SETUP_SKIP("KVM has one address space here (no SMM)");
	}
	self->smram = mmap(NULL, SMRAM_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->smram);
	for (i = 0; i < SMRAM_SIZE; i++)
		self->smram[i] = (uint8_t)(seed + i * 7);
	region = (struct kvm_userspace_memory_region){
		.slot = SMRAM_SLOT,
		.guest_phys_addr = SMRAM_GPA,
		.memory_size = SMRAM_SIZE,
		.userspace_addr = (uintptr_t)self->smram,
	};
	ASSERT_EQ(0, ioctl(self->vm->fd, KVM_SET_USER_MEMORY_REGION, &region))
		TH_LOG("address space 1 memslot: %s", strerror(errno));
	vcpu_fd = self->vm->vcpus[0].fd;
	ret = kt_genl_attach(&self->g, self->vm->fd, &vcpu_fd, 1, &self->vm_id);
	ASSERT_EQ(0, ret) TH_LOG("attach: %s, extack '%s'", strerror(-ret), self->g.extack);
}

FIXTURE_TEARDOWN(smm)
{
	kt_genl_detach(&self->g, self->vm_id);
	kt_genl_close(&self->g);
	kt_vm_free(self->vm);
	if (self->smram && self->smram != MAP_FAILED)
		munmap(self->smram, SMRAM_SIZE);
}

static void measure(struct __test_metadata *_metadata, struct kt_genl *g, uint32_t id,
		    struct kt_measurement *m)
{
	int ret = kt_genl_measure(g, id, 0, m);

	ASSERT_EQ(0, ret) TH_LOG("measure: %s, extack '%s'", strerror(-ret), g->extack);
}

TEST_F(smm, measures_address_space_0_only)
{
	struct kt_measurement m;
	kt_hash want;

	measure(_metadata, &self->g, self->vm_id, &m);
	kt_memory_root(self->vm, want);
	ASSERT_EQ(kt_vm_pages(self->vm), m.pages) TH_LOG("the SMRAM slot's %llu pages counted",
							 SMRAM_SIZE / KT_PAGE_SIZE);
	ASSERT_HASH_EQ(want, m.memory_root);
	ASSERT_TRUE(m.unchanged);
}

TEST_F(smm, smram_write_leaves_the_root)
{
	struct kt_measurement before, after, moved;

	measure(_metadata, &self->g, self->vm_id, &before);
	self->smram[self->vm->seed % SMRAM_SIZE] ^= 0xff;
	measure(_metadata, &self->g, self->vm_id, &after);
	ASSERT_HASH_EQ(before.memory_root, after.memory_root);
	/* The same kind of write in address space 0 is seen. */
	*kt_vm_gpa_to_hva(self->vm, KT_HIGH_GPA) ^= 0xff;
	measure(_metadata, &self->g, self->vm_id, &moved);
	ASSERT_HASH_NE(after.memory_root, moved.memory_root);
}

TEST_HARNESS_MAIN
