// SPDX-License-Identifier: GPL-2.0
/*
 * Measurement correctness on an in-process guest: the module's memory_root
 * and vcpu_root equal a userspace recomputation from this VMM's own view
 * (lib/kt_recompute.c), one changed byte changes exactly one leaf and the
 * root, registers move vcpu_root and nothing else, and the bookkeeping
 * around a measurement (seq, flags, list, detach) holds.
 *
 * The guest is lib/guest.S with two memslots created out of GPA order and
 * two vCPUs. KT_SEED fixes its random data; the seed is printed.
 */
#include <stdlib.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kt_module.h"
#include "kt_recompute.h"
#include "kt_test.h"

#define NR_VCPUS 2U

FIXTURE(guest) {
	struct kt_vm *vm;
	struct kt_genl g;
	uint32_t vm_id;
};

FIXTURE_SETUP(guest)
{
	int vcpu_fds[NR_VCPUS], ret;
	unsigned int i;
	uint32_t seed = kt_seed_from_env();

	KT_KVM_OR_SKIP();
	KT_GENL_OPEN_OR_SKIP(&self->g);

	TH_LOG("seed %u (KT_SEED=%u reproduces)", seed, seed);
	self->vm = kt_guest_vm_create(seed, NR_VCPUS);
	kt_guest_run_to_done(self->vm);
	for (i = 0; i < NR_VCPUS; i++)
		vcpu_fds[i] = self->vm->vcpus[i].fd;
	ret = kt_genl_attach(&self->g, self->vm->fd, vcpu_fds, NR_VCPUS, &self->vm_id);
	ASSERT_EQ(0, ret) TH_LOG("attach: %s, extack '%s'", strerror(-ret), self->g.extack);
}

FIXTURE_TEARDOWN(guest)
{
	kt_genl_detach(&self->g, self->vm_id);
	kt_genl_close(&self->g);
	kt_vm_free(self->vm);
}

static int measure(struct kt_genl *g, uint32_t id, struct kt_measurement *m)
{
	int ret = kt_genl_measure(g, id, 0, m);

	if (ret)
		fprintf(stderr, "# measure: %s, extack '%s'\n", strerror(-ret), g->extack);
	return ret;
}

TEST_F(guest, guest_wrote_its_memory)
{
	char why[128];

	ASSERT_TRUE(kt_guest_memory_is_expected(self->vm, why, sizeof(why))) TH_LOG("%s", why);
}

TEST_F(guest, memory_root_matches_recomputation)
{
	struct kt_measurement m;
	kt_hash want;
	char hex[2 * KVMTRUST_HASH_LEN + 1];

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &m));
	kt_memory_root(self->vm, want);
	kt_hex(m.memory_root, KVMTRUST_HASH_LEN, hex);
	TH_LOG("memory_root %s, %llu pages, %llu ns, %s", hex,
		       (unsigned long long)m.pages, (unsigned long long)m.ns, m.hash_driver);
	ASSERT_EQ(kt_vm_pages(self->vm), m.pages);
	ASSERT_HASH_EQ(want, m.memory_root);
	ASSERT_NE('\0', m.hash_driver[0]);
	ASSERT_EQ(KVMTRUST_LEAF_FORMAT_GPA_LAST, m.leaf_format);
}

/* Proves the test above would catch leaves ordered by slot, not by GPA. */
TEST_F(guest, slot_order_root_differs)
{
	struct kt_measurement m;
	uint64_t n, low_pages = KT_LOW_SIZE / KT_PAGE_SIZE;
	kt_hash *leaves, *slot_order, root;

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &m));
	leaves = kt_memory_leaves(self->vm, &n);
	slot_order = calloc(n, sizeof(*slot_order));
	ASSERT_NE(NULL, slot_order);
	/* The high slot was created first: put its leaves first. */
	memcpy(slot_order, leaves + low_pages, (n - low_pages) * sizeof(kt_hash));
	memcpy(slot_order + (n - low_pages), leaves, low_pages * sizeof(kt_hash));
	kt_merkle_root(slot_order, n, root);
	ASSERT_HASH_NE(root, m.memory_root);
	free(slot_order);
	free(leaves);
}

TEST_F(guest, one_byte_changes_one_leaf_and_the_root)
{
	uint64_t n, page = self->vm->seed % kt_vm_pages(self->vm), i, changed = 0;
	const struct kt_memslot *slots[KT_MAX_SLOTS];
	struct kt_measurement before, after, again;
	kt_hash *leaves_before, *leaves_after, want;
	uint64_t gpa;
	uint8_t *p;

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &before));
	/* The page'th page in GPA order, at an offset the seed picks. */
	kt_vm_slots_by_gpa(self->vm, slots);
	gpa = page * KT_PAGE_SIZE;
	if (gpa >= slots[0]->size)
		gpa = slots[1]->gpa + gpa - slots[0]->size;
	gpa += (self->vm->seed >> 8) % KT_PAGE_SIZE;
	TH_LOG("flipping the byte at gpa %#llx (leaf %llu)", (unsigned long long)gpa,
		       (unsigned long long)page);

	leaves_before = kt_memory_leaves(self->vm, &n);
	p = kt_vm_gpa_to_hva(self->vm, gpa);
	ASSERT_NE(NULL, p);
	*p ^= 0x01;
	leaves_after = kt_memory_leaves(self->vm, &n);
	for (i = 0; i < n; i++) {
		if (memcmp(leaves_before[i], leaves_after[i], KT_HASH_LEN)) {
			ASSERT_EQ(page, i);
			changed++;
		}
	}
	ASSERT_EQ(1, changed);

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &after));
	ASSERT_HASH_NE(before.memory_root, after.memory_root);
	kt_merkle_root(leaves_after, n, want);
	ASSERT_HASH_EQ(want, after.memory_root);
	/* Only memory changed. */
	ASSERT_HASH_EQ(before.vcpu_root, after.vcpu_root);

	*p ^= 0x01;
	ASSERT_EQ(0, measure(&self->g, self->vm_id, &again));
	ASSERT_HASH_EQ(before.memory_root, again.memory_root);
	free(leaves_before);
	free(leaves_after);
}

TEST_F(guest, vcpu_root_matches_recomputation)
{
	struct kt_measurement m;
	kt_hash want;

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &m));
	ASSERT_TRUE(m.has_vcpu_root);
	ASSERT_EQ(NR_VCPUS, m.vcpu_count);
	kt_vcpu_root(self->vm, want);
	ASSERT_HASH_EQ(want, m.vcpu_root);
}

TEST_F(guest, vcpu_root_follows_registers)
{
	struct kt_measurement before, after, restored;
	struct kvm_regs regs, saved;
	kt_hash want;

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &before));
	/* vCPU 1 never ran: a change there must show as well as on vCPU 0. */
	kt_vcpu_get_regs(&self->vm->vcpus[1], &saved);
	regs = saved;
	regs.r12 ^= 0x5a5a5a5a5a5a5a5aULL;
	kt_vcpu_set_regs(&self->vm->vcpus[1], &regs);

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &after));
	ASSERT_HASH_NE(before.vcpu_root, after.vcpu_root);
	ASSERT_HASH_EQ(before.memory_root, after.memory_root);
	kt_vcpu_root(self->vm, want);
	ASSERT_HASH_EQ(want, after.vcpu_root);

	kt_vcpu_set_regs(&self->vm->vcpus[1], &saved);
	ASSERT_EQ(0, measure(&self->g, self->vm_id, &restored));
	ASSERT_HASH_EQ(before.vcpu_root, restored.vcpu_root);
}

TEST_F(guest, vcpu_root_follows_segment_registers)
{
	struct kt_measurement before, after;
	struct kvm_sregs sregs;
	kt_hash want;

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &before));
	kt_vcpu_get_sregs(&self->vm->vcpus[0], &sregs);
	sregs.fs.base += KT_PAGE_SIZE;
	kt_ioctl(self->vm->vcpus[0].fd, KVM_SET_SREGS, &sregs);
	ASSERT_EQ(0, measure(&self->g, self->vm_id, &after));
	ASSERT_HASH_NE(before.vcpu_root, after.vcpu_root);
	kt_vcpu_root(self->vm, want);
	ASSERT_HASH_EQ(want, after.vcpu_root);
}

TEST_F(guest, seq_counts_measurements)
{
	struct kt_measurement m;
	uint64_t i;

	for (i = 1; i <= 3; i++) {
		ASSERT_EQ(0, measure(&self->g, self->vm_id, &m));
		ASSERT_EQ(i, m.seq);
		ASSERT_EQ(self->vm_id, m.vm_id);
	}
}

TEST_F(guest, no_vcpus_flag_measures_memory_only)
{
	struct kt_measurement full, mem;

	ASSERT_EQ(0, measure(&self->g, self->vm_id, &full));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, KVMTRUST_MEASURE_F_NO_VCPUS, &mem));
	ASSERT_FALSE(mem.has_vcpu_root);
	ASSERT_HASH_EQ(full.memory_root, mem.memory_root);
}

TEST_F(guest, list_detach_and_detach_twice)
{
	struct kt_measurement m;
	uint32_t ids[KT_MAX_REPLIES];
	int n, i, found = 0;

	n = kt_genl_list(&self->g, ids, KT_MAX_REPLIES);
	ASSERT_LE(1, n);
	for (i = 0; i < n; i++)
		found += ids[i] == self->vm_id;
	ASSERT_EQ(1, found);

	ASSERT_EQ(0, kt_genl_detach(&self->g, self->vm_id));
	n = kt_genl_list(&self->g, ids, KT_MAX_REPLIES);
	for (i = 0; i < n; i++)
		ASSERT_NE(self->vm_id, ids[i]);
	ASSERT_REFUSED(&self->g, kt_genl_detach(&self->g, self->vm_id), ENOENT,
		       "no attached vm has this id");
	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, self->vm_id, 0, &m), ENOENT,
		       "no attached vm has this id");
}

TEST_F(guest, attach_twice_is_refused)
{
	uint32_t id;

	ASSERT_REFUSED(&self->g, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &id), EEXIST,
		       "vm is already attached");
}

/*
 * vCPU ids created out of order and with gaps (7, 0, 3): leaves follow the
 * id, not the creation order (which the second root proves would differ).
 */
TEST(vcpu_leaves_follow_vcpu_ids)
{
	static const uint32_t ids[] = { 7, 0, 3 };
	kt_hash want, leaves[3], creation_order;
	struct kt_measurement m;
	struct kvm_regs regs;
	struct kt_genl g;
	struct kt_vm *vm;
	int fds[3], ret;
	unsigned int i;
	uint32_t id;

	vm = kt_vm_try_create();
	if (!vm)
		SKIP(return, "/dev/kvm not usable: %s", strerror(errno));
	if (kt_genl_open(&g)) {
		kt_vm_free(vm);
		SKIP(return, "generic netlink family '%s' not registered", KVMTRUST_GENL_NAME);
	}
	kt_vm_add_memslot(vm, 0, 0, KT_PAGE_SIZE);
	for (i = 0; i < 3; i++) {
		fds[i] = kt_vcpu_add(vm, ids[i])->fd;
		kt_vcpu_get_regs(&vm->vcpus[i], &regs);
		regs.rbx = ids[i];
		kt_vcpu_set_regs(&vm->vcpus[i], &regs);
	}
	ret = kt_genl_attach(&g, vm->fd, fds, 3, &id);
	ASSERT_EQ(0, ret) TH_LOG("attach: %s, extack '%s'", strerror(-ret), g.extack);
	ASSERT_EQ(0, kt_genl_measure(&g, id, 0, &m)) TH_LOG("%s", g.extack);
	ASSERT_EQ(3, m.vcpu_count);
	kt_vcpu_root(vm, want);
	ASSERT_HASH_EQ(want, m.vcpu_root);
	kt_vcpu_leaves(vm, leaves, false);
	kt_merkle_root(leaves, 3, creation_order);
	ASSERT_HASH_NE(creation_order, m.vcpu_root);
	kt_genl_detach(&g, id);
	kt_genl_close(&g);
	kt_vm_free(vm);
}

/* Sets tree_max_mib for one measurement, then puts the old value back. */
static int measure_tree_max(struct kt_genl *g, uint32_t id, unsigned long mib,
			    struct kt_measurement *m)
{
	unsigned long old;
	int ret = kt_param_set("tree_max_mib", mib, &old);

	if (ret)
		return ret;
	ret = kt_genl_measure(g, id, KVMTRUST_MEASURE_F_NO_VCPUS, m);
	kt_param_set("tree_max_mib", old, NULL);
	return ret;
}

/*
 * A 4 GiB guest the VMM mostly never touched: a few pages written with
 * data, some written with zeros (present, all zero), some only read (the
 * shared zero page), the rest not even mapped. Its root equals the
 * recomputation with the tree kept and with the root only streamed, and
 * every page but the data pages reads as zero.
 */
FIXTURE(sparse) {
	struct kt_genl g;
	struct kt_vm *vm;
};

FIXTURE_SETUP(sparse)
{
	KT_KVM_OR_SKIP();
	KT_GENL_OPEN_OR_SKIP(&self->g);
	self->vm = kt_vm_create();
}

FIXTURE_TEARDOWN(sparse)
{
	kt_genl_close(&self->g);
	kt_vm_free(self->vm);
}

TEST_F_TIMEOUT(sparse, guest_of_4gib_matches_recomputation, 150)
{
	const uint64_t size = 4ULL << 30, pages = size / KT_PAGE_SIZE;
	struct kt_measurement kept, streamed;
	uint32_t seed = kt_seed_from_env(), id, x = seed | 1;
	unsigned int i, data = 0;
	volatile uint8_t sink = 0;
	struct kt_genl *g = &self->g;
	struct kt_vm *vm = self->vm;
	uint8_t *mem;
	kt_hash want;
	int ret;

	TH_LOG("seed %u (KT_SEED=%u reproduces)", seed, seed);
	kt_vm_add_memslot(vm, 0, 0, size);
	mem = vm->slots[0].hva;
	for (i = 0; i < 96; i++) {
		uint64_t page;

		x = kt_guest_next_random(x);
		page = x % pages;
		switch (i % 3) {
		case 0:
			if (!mem[page * KT_PAGE_SIZE + 7])
				data++;
			mem[page * KT_PAGE_SIZE + 7] = 0x5a;
			break;
		case 1:
			if (!mem[page * KT_PAGE_SIZE + 9])
				mem[page * KT_PAGE_SIZE + 9] = 0;	/* a write of zero */
			break;
		default:
			sink ^= mem[page * KT_PAGE_SIZE];	/* a read */
		}
	}
	(void)sink;
	/* The last page, so a wrong end of the slot shows. */
	mem[size - 1] = 0xa5;
	data++;
	ret = kt_genl_attach(g, vm->fd, NULL, 0, &id);
	ASSERT_EQ(0, ret) TH_LOG("attach: %s, extack '%s'", strerror(-ret), g->extack);

	ASSERT_EQ(0, measure_tree_max(g, id, 64, &kept)) TH_LOG("%s", g->extack);
	ASSERT_EQ(0, measure_tree_max(g, id, 0, &streamed)) TH_LOG("%s", g->extack);
	kt_memory_root(vm, want);
	TH_LOG("%llu pages, %llu zero; kept %.0f ms (tree %llu bytes), streamed %.0f ms "
	       "(work %llu bytes)", (unsigned long long)kept.pages,
	       (unsigned long long)kept.zero_pages, kept.ns / 1e6,
	       (unsigned long long)kept.tree_bytes, streamed.ns / 1e6,
	       (unsigned long long)streamed.work_bytes);
	ASSERT_EQ(pages, kept.pages);
	ASSERT_HASH_EQ(want, kept.memory_root);
	ASSERT_HASH_EQ(want, streamed.memory_root);
	ASSERT_EQ(pages - data, kept.zero_pages);
	ASSERT_EQ(KVMTRUST_TREE_RETAINED, kept.tree);
	ASSERT_LT(0, kept.tree_bytes);
	ASSERT_EQ(KVMTRUST_TREE_STREAMED, streamed.tree);
	ASSERT_EQ(0, streamed.tree_bytes);
	ASSERT_NE(NULL, strstr(streamed.tree_note, "tree_max_mib"));
	ASSERT_GT(64 * 1024, streamed.work_bytes);
	kt_genl_detach(g, id);
}

/*
 * Hashing on every CPU gives the roots one thread gives, with the tree
 * kept and streamed: 16 MiB of data (five chunks) on top of the guest,
 * compared with the recomputation too.
 */
TEST_F(guest, one_thread_and_every_cpu_agree)
{
	struct kt_measurement one, all, one_streamed, all_streamed;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint8_t *data;
	kt_hash want;
	unsigned int i;

	kt_vm_add_memslot(self->vm, 5, 0x100000000ULL, 16 << 20);
	data = kt_vm_gpa_to_hva(self->vm, 0x100000000ULL);
	for (i = 0; i < (16 << 20) / 4; i++)
		((uint32_t *)data)[i] = kt_guest_next_random(i + self->vm->seed);
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, KVMTRUST_MEASURE_F_ONE_THREAD, &one))
		TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &all)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, measure_tree_max(&self->g, self->vm_id, 0, &all_streamed));
	ASSERT_EQ(0, kt_param_set("threads", 1, NULL));
	ASSERT_EQ(0, measure_tree_max(&self->g, self->vm_id, 0, &one_streamed));
	ASSERT_EQ(0, kt_param_set("threads", 0, NULL));
	TH_LOG("%llu pages: 1 thread %.0f ms, %u threads %.0f ms", (unsigned long long)all.pages,
	       one.ns / 1e6, all.threads, all.ns / 1e6);
	ASSERT_EQ(1, one.threads);
	ASSERT_EQ(1, one_streamed.threads);
	ASSERT_EQ(cpus < 5 ? cpus : 5, all.threads);
	ASSERT_EQ(all.threads, all_streamed.threads);
	ASSERT_EQ(KVMTRUST_TREE_RETAINED, all.tree);
	ASSERT_EQ(KVMTRUST_TREE_STREAMED, all_streamed.tree);
	kt_memory_root(self->vm, want);
	ASSERT_HASH_EQ(want, one.memory_root);
	ASSERT_HASH_EQ(want, all.memory_root);
	ASSERT_HASH_EQ(want, one_streamed.memory_root);
	ASSERT_HASH_EQ(want, all_streamed.memory_root);
	ASSERT_HASH_EQ(one.vcpu_root, all.vcpu_root);
}

TEST_HARNESS_MAIN
