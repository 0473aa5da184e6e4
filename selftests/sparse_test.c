// SPDX-License-Identifier: GPL-2.0
/*
 * A guest larger than any tree the module may keep: one sparse memslot of
 * 2^25 + 1 pages (128 GiB and a page, MAP_NORESERVE, never touched but a
 * few pages). Sizing anything by the guest would pass INT_MAX to kvmalloc,
 * whose WARN ends the test VM (panic_on_warn); the measurement streams the
 * root instead, says why it kept no tree, allocates a few kilobytes, and
 * never faults in the untouched pages (the VMM's page tables stay small).
 * Under TCG this is the suite's slowest test (a zero page still costs a
 * leaf and a node hash); measure_test checks a 4 GiB sparse guest's root
 * against the recomputation.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "kt_test.h"

#define BIG_PAGES ((1ULL << 25) + 1)

/* VmPTE of this process, in KiB: what faulting in the slot would grow. */
static long vm_pte_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

FIXTURE(big) {
	struct kt_genl g;
	struct kt_vm *vm;
};

FIXTURE_SETUP(big)
{
	KT_KVM_OR_SKIP();
	KT_GENL_OPEN_OR_SKIP(&self->g);
	self->vm = kt_vm_create();
	kt_vm_add_memslot(self->vm, 0, 0, BIG_PAGES * KT_PAGE_SIZE);
}

FIXTURE_TEARDOWN(big)
{
	kt_genl_close(&self->g);
	kt_vm_free(self->vm);
}

/*
 * About two minutes under TCG on an idle 2-core host; on a busy one (other
 * VMs running) 6.12 took over 280 s. The bound is the harness's, not a
 * speed goal: the VM's own timeout still bounds the whole suite.
 */
TEST_F_TIMEOUT(big, more_than_2_25_pages_are_measured_without_a_tree, 900)
{
	struct kt_measurement m;
	long pte_before, pte_after;
	struct kt_genl *g = &self->g;
	struct kt_vm *vm = self->vm;
	uint8_t *mem;
	uint32_t id;
	int ret;

	mem = vm->slots[0].hva;
	mem[0] = 1;
	mem[(BIG_PAGES / 2) * KT_PAGE_SIZE] = 2;
	mem[BIG_PAGES * KT_PAGE_SIZE - 1] = 3;
	ret = kt_genl_attach(g, vm->fd, NULL, 0, &id);
	ASSERT_EQ(0, ret) TH_LOG("attach: %s, extack '%s'", strerror(-ret), g->extack);

	pte_before = vm_pte_kib();
	ret = kt_genl_measure(g, id, KVMTRUST_MEASURE_F_NO_VCPUS, &m);
	pte_after = vm_pte_kib();
	ASSERT_EQ(0, ret) TH_LOG("%s", g->extack);
	TH_LOG("%llu pages (%llu zero) in %.1f s, tree %s ('%s'), work %llu bytes, VmPTE %ld -> %ld kB",
	       (unsigned long long)m.pages, (unsigned long long)m.zero_pages, m.ns / 1e9,
	       m.tree == KVMTRUST_TREE_STREAMED ? "streamed" : "kept", m.tree_note,
	       (unsigned long long)m.work_bytes, pte_before, pte_after);
	ASSERT_EQ(BIG_PAGES, m.pages);
	ASSERT_EQ(BIG_PAGES - 3, m.zero_pages);
	ASSERT_EQ(KVMTRUST_TREE_STREAMED, m.tree);
	ASSERT_NE(NULL, strstr(m.tree_note, "tree_max_mib"));
	ASSERT_GT(64 * 1024, m.work_bytes);
	/* 128 GiB faulted in would need 256 MiB of page tables. */
	ASSERT_GT(1024, pte_after - pte_before);

	kt_genl_detach(g, id);
}

TEST_HARNESS_MAIN
