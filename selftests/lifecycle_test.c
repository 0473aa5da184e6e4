// SPDX-License-Identifier: GPL-2.0
/*
 * The guest in its own process (selftests/vmm), attached the way
 * `kvmtrust ... --pid` does it: the VM and vCPU fds taken from the VMM with
 * pidfd_getfd. Measurements match the VMM's own view (its memory dump and
 * KVM_GET_REGS/KVM_GET_SREGS), a running guest is refused with EBUSY until
 * paused, and the VMM may exit or be killed while attached or in the middle
 * of a measurement without the module losing its footing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kt_module.h"
#include "kt_recompute.h"
#include "kt_test.h"
#include "kt_vmm_proc.h"

FIXTURE(vmm) {
	struct kt_genl g;
	struct kt_vmm v;
	uint32_t vm_id;
	/* Module parameters a test changed, restored by the teardown. */
	bool params_changed;
	unsigned long old_delay, old_wait;
};

FIXTURE_SETUP(vmm)
{
	KT_VMM_SETUP(&self->g, &self->v, &self->vm_id);
}

FIXTURE_TEARDOWN(vmm)
{
	if (self->params_changed) {
		kt_param_set("vcpu_probe_delay_ms", self->old_delay, NULL);
		kt_param_set("vcpu_wait_ms", self->old_wait, NULL);
	}
	kt_genl_detach(&self->g, self->vm_id);
	kt_vmm_stop(&self->v);
	kt_genl_close(&self->g);
}

/* Both roots recomputed from the VMM's dump and register files. */
static void vmm_view(struct __test_metadata *_metadata, struct kt_vmm *v, kt_hash memory_root,
		     kt_hash vcpu_root)
{
	kt_hash leaves[KT_MAX_VCPUS];
	char path[64], reply[256];
	struct kt_vm *dump;
	unsigned int i;

	snprintf(path, sizeof(path), "/tmp/kt-dump.%d", getpid());
	ASSERT_EQ(0, kt_vmm_cmd(v, reply, sizeof(reply), "dump %s", path)) TH_LOG("%s", reply);
	dump = kt_vm_from_dump(path);
	ASSERT_NE(NULL, dump);
	ASSERT_EQ(v->pages, kt_vm_pages(dump));
	kt_memory_root(dump, memory_root);
	kt_vm_dump_free(dump);
	unlink(path);
	for (i = 0; i < v->nr_vcpus; i++) {
		snprintf(path, sizeof(path), "/tmp/kt-regs.%d", getpid());
		ASSERT_EQ(0, kt_vmm_cmd(v, reply, sizeof(reply), "regs %u %s", i, path))
			TH_LOG("%s", reply);
		ASSERT_EQ(0, kt_vcpu_leaf_from_file(path, i, leaves[i]));
		unlink(path);
	}
	kt_merkle_root(leaves, v->nr_vcpus, vcpu_root);
}

static void assert_matches_vmm_view(struct __test_metadata *_metadata, struct kt_vmm *v,
				    const struct kt_measurement *m)
{
	kt_hash memory_root, vcpu_root;

	vmm_view(_metadata, v, memory_root, vcpu_root);
	ASSERT_EQ(v->pages, m->pages);
	ASSERT_HASH_EQ(memory_root, m->memory_root);
	ASSERT_TRUE(m->has_vcpu_root);
	ASSERT_HASH_EQ(vcpu_root, m->vcpu_root);
}

TEST_F(vmm, measurement_matches_the_vmms_view)
{
	struct kt_measurement m;

	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &m)) TH_LOG("%s", self->g.extack);
	assert_matches_vmm_view(_metadata, &self->v, &m);
}

TEST_F(vmm, vm_get_describes_the_vm)
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1];
	struct nl_msg *msg = kt_genl_msg(&self->g, KVMTRUST_CMD_VM_GET, 0);

	nla_put_u32(msg, KVMTRUST_A_VM_ID, self->vm_id);
	ASSERT_EQ(0, kt_genl_request(&self->g, msg));
	ASSERT_EQ(0, kt_genl_reply_attrs(&self->g, 0, tb));
	ASSERT_NE(NULL, tb[KVMTRUST_A_VMM_PID]);
	ASSERT_EQ(self->v.pid, nla_get_u32(tb[KVMTRUST_A_VMM_PID]));
	ASSERT_EQ(2, nla_get_u32(tb[KVMTRUST_A_VCPU_COUNT]));
	ASSERT_EQ(2, nla_get_u32(tb[KVMTRUST_A_VCPU_FDS_HELD]));
	ASSERT_EQ(self->v.pages * KT_PAGE_SIZE, nla_get_u64(tb[KVMTRUST_A_MEM_BYTES]));
	ASSERT_EQ(0, nla_get_u64(tb[KVMTRUST_A_SEQ]));
}

TEST_F(vmm, running_guest_is_refused_until_paused)
{
	struct kt_measurement m;
	char reply[64];

	ASSERT_EQ(0, kt_vmm_run_until_progress(&self->v));
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, reply, sizeof(reply), "state"));
	ASSERT_STREQ("ok running", reply);
	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, self->vm_id, 0, &m), EBUSY,
		       "a vcpu is running; pause the guest");
	/* measurement.rst: with --no-vcpus no vCPU is probed, memory is hashed. */
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, KVMTRUST_MEASURE_F_NO_VCPUS, &m))
		TH_LOG("%s", self->g.extack);
	ASSERT_FALSE(m.has_vcpu_root);
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "pause"));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &m)) TH_LOG("%s", self->g.extack);
	assert_matches_vmm_view(_metadata, &self->v, &m);
}

TEST_F(vmm, guest_progress_moves_both_roots)
{
	struct kt_measurement before, after;

	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &before));
	ASSERT_EQ(0, kt_vmm_run_until_progress(&self->v));
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "pause"));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &after));
	/* The spin loop increments a counter in memory and EBP. */
	ASSERT_HASH_NE(before.memory_root, after.memory_root);
	ASSERT_HASH_NE(before.vcpu_root, after.vcpu_root);
	assert_matches_vmm_view(_metadata, &self->v, &after);
}

TEST_F(vmm, setreg_moves_only_vcpu_root)
{
	struct kt_measurement before, after;

	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &before));
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "setreg rbx %#x", self->v.seed ^ 0xdeadbeef));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &after));
	ASSERT_HASH_NE(before.vcpu_root, after.vcpu_root);
	ASSERT_HASH_EQ(before.memory_root, after.memory_root);
	assert_matches_vmm_view(_metadata, &self->v, &after);
}

TEST_F(vmm, poke_moves_only_memory_root)
{
	struct kt_measurement before, after;
	uint64_t gpa = KT_HIGH_GPA + self->v.seed % KT_HIGH_SIZE;
	char reply[64];
	unsigned int b;

	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &before));
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, reply, sizeof(reply), "peek %#llx",
				(unsigned long long)gpa));
	ASSERT_EQ(1, sscanf(reply, "ok %x", &b));
	TH_LOG("poking gpa %#llx: %#x -> %#x", (unsigned long long)gpa, b, b ^ 0x80);
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "poke %#llx %#x", (unsigned long long)gpa,
				b ^ 0x80));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &after));
	ASSERT_HASH_NE(before.memory_root, after.memory_root);
	ASSERT_HASH_EQ(before.vcpu_root, after.vcpu_root);
	assert_matches_vmm_view(_metadata, &self->v, &after);
}

/* The module drops a VM whose process is gone; give it a moment. */
/* The first reply's attributes, all of this header's (as kt_genl_reply_attrs). */
static int reply_attrs(struct kt_genl *g, struct nlattr **tb)
{
	if (!g->nr_replies)
		return -ENOENT;
	return genlmsg_parse(nlmsg_hdr(g->replies[0]), 0, tb, KVMTRUST_A_MAX, NULL) ? -EINVAL : 0;
}

/* VCPU_GET's registers, parsed; returns how many vCPUs. */
static int vcpu_get(struct kt_genl *g, uint32_t vm_id, uint32_t index[2],
		    struct kvm_regs regs[2], struct kvm_sregs sregs[2])
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1], *v[KVMTRUST_VSTATE_A_MAX + 1], *a;
	struct nl_msg *msg = kt_genl_msg(g, KVMTRUST_CMD_VCPU_GET, 0);
	int rem, n = 0;

	nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id);
	if (kt_genl_request(g, msg) || reply_attrs(g, tb) || !tb[KVMTRUST_A_VCPU_STATES])
		return -1;
	nla_for_each_nested(a, tb[KVMTRUST_A_VCPU_STATES], rem) {
		if (n == 2 || nla_parse_nested(v, KVMTRUST_VSTATE_A_MAX, a, NULL))
			return -1;
		index[n] = nla_get_u32(v[KVMTRUST_VSTATE_A_INDEX]);
		memcpy(&regs[n], nla_data(v[KVMTRUST_VSTATE_A_REGS]), sizeof(regs[n]));
		memcpy(&sregs[n], nla_data(v[KVMTRUST_VSTATE_A_SREGS]), sizeof(sregs[n]));
		n++;
	}
	return n;
}

/* VCPU_SET_REGS with the first n vCPUs; regs_len lets a test send a bad size. */
static int vcpu_set(struct kt_genl *g, uint32_t vm_id, const uint32_t *index,
		    const struct kvm_regs *regs, const struct kvm_sregs *sregs, int n,
		    size_t regs_len)
{
	struct nl_msg *msg = kt_genl_msg(g, KVMTRUST_CMD_VCPU_SET_REGS, 0);
	struct nlattr *all, *one;
	int i;

	nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id);
	all = nla_nest_start(msg, KVMTRUST_A_VCPU_STATES);
	for (i = 0; i < n; i++) {
		one = nla_nest_start(msg, KVMTRUST_VCPU_STATES_A_VCPU);
		nla_put_u32(msg, KVMTRUST_VSTATE_A_INDEX, index[i]);
		nla_put(msg, KVMTRUST_VSTATE_A_REGS, regs_len, &regs[i]);
		nla_put(msg, KVMTRUST_VSTATE_A_SREGS, sizeof(sregs[i]), &sregs[i]);
		nla_nest_end(msg, one);
	}
	nla_nest_end(msg, all);
	return kt_genl_request(g, msg);
}

TEST_F(vmm, vcpu_registers_read_and_written_through_the_module)
{
	uint32_t index[2], dup[2];
	struct kvm_regs regs[2], back[2];
	struct kvm_sregs sregs[2], sback[2];

	ASSERT_EQ(2, vcpu_get(&self->g, self->vm_id, index, regs, sregs)) TH_LOG("%s", self->g.extack);
	regs[0].rax = 0x5151;
	regs[1].rbx = 0x6262;
	ASSERT_EQ(0, vcpu_set(&self->g, self->vm_id, index, regs, sregs, 2, sizeof(regs[0])))
		TH_LOG("%s", self->g.extack);
	ASSERT_EQ(2, vcpu_get(&self->g, self->vm_id, index, back, sback));
	ASSERT_EQ(0x5151, back[0].rax);
	ASSERT_EQ(0x6262, back[1].rbx);
	ASSERT_EQ(regs[0].rip, back[0].rip);
	ASSERT_EQ(sregs[0].cr3, sback[0].cr3);
	/* Every vCPU exactly once. */
	ASSERT_REFUSED(&self->g, vcpu_set(&self->g, self->vm_id, index, regs, sregs, 1,
					  sizeof(regs[0])), EINVAL, "every vcpu of the vm, once each");
	dup[0] = dup[1] = index[0];
	ASSERT_REFUSED(&self->g, vcpu_set(&self->g, self->vm_id, dup, regs, sregs, 2,
					  sizeof(regs[0])), EINVAL, "every vcpu of the vm, once each");
	/* A struct kvm_regs of the wrong size never reaches KVM (the policy's exact length). */
	ASSERT_EQ(-ERANGE, vcpu_set(&self->g, self->vm_id, index, regs, sregs, 2, 100));
	ASSERT_NE(0, strlen(self->g.extack));
	/* Refused while a vCPU is in KVM_RUN; nothing written. */
	ASSERT_EQ(0, kt_vmm_run_until_progress(&self->v));
	regs[0].rax = 0x7373;
	ASSERT_REFUSED(&self->g, vcpu_set(&self->g, self->vm_id, index, regs, sregs, 2,
					  sizeof(regs[0])), EBUSY, "a vcpu is running; pause the guest");
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "pause"));
	ASSERT_EQ(2, vcpu_get(&self->g, self->vm_id, index, back, sback));
	ASSERT_NE(0x7373, back[0].rax);
}

TEST_F(vmm, memslots_are_the_vmms_slots)
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1], *s[KVMTRUST_SLOT_A_MAX + 1], *a;
	struct nl_msg *msg = kt_genl_msg(&self->g, KVMTRUST_CMD_MEMSLOTS_GET, 0);
	uint64_t pages = 0, last = 0;
	int rem, n = 0;

	nla_put_u32(msg, KVMTRUST_A_VM_ID, self->vm_id);
	ASSERT_EQ(0, kt_genl_request(&self->g, msg)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, reply_attrs(&self->g, tb));
	ASSERT_NE(NULL, tb[KVMTRUST_A_MEMSLOTS]);
	nla_for_each_nested(a, tb[KVMTRUST_A_MEMSLOTS], rem) {
		ASSERT_EQ(0, nla_parse_nested(s, KVMTRUST_SLOT_A_MAX, a, NULL));
		ASSERT_LE(last, nla_get_u64(s[KVMTRUST_SLOT_A_GPA]));	/* GPA order */
		last = nla_get_u64(s[KVMTRUST_SLOT_A_GPA]) + nla_get_u64(s[KVMTRUST_SLOT_A_SIZE]);
		pages += nla_get_u64(s[KVMTRUST_SLOT_A_SIZE]) / KT_PAGE_SIZE;
		ASSERT_NE(0, nla_get_u64(s[KVMTRUST_SLOT_A_HVA]));
		n++;
	}
	ASSERT_LT(0, n);
	ASSERT_EQ(self->v.pages, pages);
}

static bool dropped_soon(struct kt_genl *g, uint32_t id)
{
	int i;

	for (i = 0; i < 100 && kt_genl_listed(g, id); i++)
		usleep(50 * 1000);
	return !kt_genl_listed(g, id);
}

TEST_F(vmm, vmm_exit_drops_the_vm)
{
	ASSERT_TRUE(kt_genl_listed(&self->g, self->vm_id));
	kt_vmm_stop(&self->v);
	ASSERT_TRUE(dropped_soon(&self->g, self->vm_id));
}

TEST_F(vmm, vmm_killed_while_attached)
{
	struct kt_measurement m;
	int ret;

	kt_vmm_kill(&self->v);
	ret = kt_genl_measure(&self->g, self->vm_id, 0, &m);
	/* Either the module already dropped it or it says the process is gone. */
	ASSERT_TRUE(ret == -ENOENT || ret == -ESRCH)
		TH_LOG("measure after kill: %s, extack '%s'", strerror(-ret), self->g.extack);
	ASSERT_NE('\0', self->g.extack[0]);
	ASSERT_TRUE(dropped_soon(&self->g, self->vm_id));
}

TEST_F(vmm, vmm_killed_while_running)
{
	ASSERT_EQ(0, kt_vmm_run_until_progress(&self->v));
	kt_vmm_kill(&self->v);
	ASSERT_TRUE(dropped_soon(&self->g, self->vm_id));
}

/*
 * A bigger guest so a measurement takes a while under TCG; a child measures
 * in a loop while the VMM is killed at a seeded moment. Every answer must be
 * a result or a clean refusal with a message; the harness timeout catches a
 * hang, the host's dmesg scan an oops.
 */
TEST_F_TIMEOUT(vmm, vmm_killed_while_measuring, 120)
{
	struct kt_vmm big;
	uint32_t id;
	pid_t child;
	int status, delay_ms = self->v.seed % 400;

	ASSERT_EQ(0, kt_vmm_start(&big, self->v.seed, "--extra-mib 32"));
	ASSERT_EQ(0, kt_vmm_attach(&big, &self->g, &id)) TH_LOG("%s", self->g.extack);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct kt_genl g;
		int n, ret = kt_genl_measure_until_error(&g, id, &n);

		fprintf(stderr, "# %d measurements, then %s: '%s'\n", n, strerror(-ret), g.extack);
		_exit((ret == -ESRCH || ret == -ENOENT || ret == -ENODEV) && g.extack[0] ? 0 : 1);
	}
	TH_LOG("killing the VMM %d ms into the measurements", delay_ms);
	usleep(delay_ms * 1000);
	kt_vmm_kill(&big);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(dropped_soon(&self->g, id));
	/* The module still serves the other VM. */
	ASSERT_TRUE(kt_genl_listed(&self->g, self->vm_id));
}

/*
 * Two processes measuring one paused VM at once: each answer is the same
 * root or a clean EBUSY, never a mixed-up tree.
 */
static int measure_rounds(uint32_t id, const uint8_t *want, int rounds)
{
	struct kt_measurement m;
	struct kt_genl g;
	int i, ret, busy = 0;

	if (kt_genl_open(&g))
		return -1;
	for (i = 0; i < rounds; i++) {
		ret = kt_genl_measure(&g, id, KVMTRUST_MEASURE_F_NO_VCPUS, &m);
		if (ret == -EBUSY && strstr(g.extack, "another measurement of this vm is running")) {
			busy++;
			continue;
		}
		if (ret || memcmp(m.memory_root, want, KVMTRUST_HASH_LEN)) {
			fprintf(stderr, "# round %d: %s, extack '%s'\n", i, strerror(-ret), g.extack);
			busy = -1;
			break;
		}
	}
	kt_genl_close(&g);
	return busy;
}

TEST_F_TIMEOUT(vmm, concurrent_measurements_agree_or_are_busy, 120)
{
	struct kt_measurement first;
	struct kt_vmm big;
	int status, busy;
	uint32_t id;
	pid_t child;

	ASSERT_EQ(0, kt_vmm_start(&big, self->v.seed, "--extra-mib 16"));
	ASSERT_EQ(0, kt_vmm_attach(&big, &self->g, &id)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, KVMTRUST_MEASURE_F_NO_VCPUS, &first));
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		_exit(measure_rounds(id, first.memory_root, 4) < 0);
	busy = measure_rounds(id, first.memory_root, 4);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_LE(0, busy);
	TH_LOG("%d of 4 measurements here found the other one running", busy);
	kt_genl_detach(&self->g, id);
	kt_vmm_stop(&big);
}

/*
 * Memslots added after attach count: one in the gap between the two
 * existing slots and one above 4 GiB, both created last, so only ordering
 * by guest physical address matches the VMM's dump.
 */
TEST_F(vmm, memslots_added_later_are_measured_in_gpa_order)
{
	struct kt_measurement before, after;
	char reply[128];

	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &before));
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, reply, sizeof(reply), "addslot 5 %#x %#x",
				KT_LOW_GPA + KT_LOW_SIZE, KT_PAGE_SIZE * 2)) TH_LOG("%s", reply);
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, reply, sizeof(reply), "addslot 3 0x100000000 %#x",
				KT_PAGE_SIZE)) TH_LOG("%s", reply);
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "poke 0x10000 0x5a"));
	self->v.pages += 3;
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &after)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(before.pages + 3, after.pages);
	ASSERT_HASH_NE(before.memory_root, after.memory_root);
	assert_matches_vmm_view(_metadata, &self->v, &after);
}

/*
 * Detaching while another process measures: the measurement completes or
 * fails cleanly; the module never touches the VM after it let it go.
 */
TEST_F_TIMEOUT(vmm, detach_while_measuring, 120)
{
	struct kt_vmm big;
	int status, ret;
	uint32_t id;
	pid_t child;

	ASSERT_EQ(0, kt_vmm_start(&big, self->v.seed, "--extra-mib 32"));
	ASSERT_EQ(0, kt_vmm_attach(&big, &self->g, &id)) TH_LOG("%s", self->g.extack);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct kt_genl g;

		ret = kt_genl_measure_until_error(&g, id, NULL);
		fprintf(stderr, "# measuring ended: %s, extack '%s'\n", strerror(-ret), g.extack);
		_exit((ret == -ENOENT || ret == -ENODEV) && g.extack[0] ? 0 : 1);
	}
	usleep((self->v.seed % 300) * 1000);
	ret = kt_genl_detach(&self->g, id);
	ASSERT_EQ(0, ret) TH_LOG("detach: %s, extack '%s'", strerror(-ret), self->g.extack);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_FALSE(kt_genl_listed(&self->g, id));
	/* The VMM is unharmed and can be attached again. */
	ASSERT_EQ(0, kt_vmm_attach(&big, &self->g, &id));
	kt_genl_detach(&self->g, id);
	kt_vmm_stop(&big);
}

/*
 * The race KVM's locking leaves open: a vCPU probed idle re-enters KVM_RUN
 * before its registers are read, and the ioctl that reads them waits for
 * vcpu->mutex, which KVM_RUN holds for as long as the guest runs (this one
 * spins forever). The module's test hook (vcpu_probe_delay_ms) holds the
 * window open; vcpu_wait_ms is longer, so the read would succeed had the
 * VMM not resumed. The reader must be killed and the measurement refused.
 */
TEST_F_TIMEOUT(vmm, vcpu_reentering_kvm_run_is_refused_not_waited_for, 90)
{
	struct kt_measurement m;
	struct timespec t0, t1;
	uint64_t mid;
	int ret;

	ASSERT_EQ(0, kt_param_set("vcpu_probe_delay_ms", 1000, &self->old_delay));
	ASSERT_EQ(0, kt_param_set("vcpu_wait_ms", 3000, &self->old_wait));
	self->params_changed = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, kt_genl_measure_start(&self->g, self->vm_id, 0, &mid))
		TH_LOG("%s", self->g.extack);
	/* The reader probed vCPU 0 and sleeps in the hook: resume the guest. */
	ASSERT_TRUE(kt_kthread_appears("kvmtrust-vcpu", 10000));
	usleep(100 * 1000);
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "run"));
	ret = kt_genl_measure_wait(&self->g, self->vm_id, mid, &m);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TH_LOG("refused after %ld s: '%s'", (long)(t1.tv_sec - t0.tv_sec), self->g.extack);
	ASSERT_REFUSED(&self->g, ret, EBUSY, "a vcpu entered KVM_RUN while it was read");
	ASSERT_GT(30, t1.tv_sec - t0.tv_sec);
	/*
	 * kthread_stop() returns once the reader has left its mm, a moment
	 * before the task leaves /proc: give it a second, not a stuck reader.
	 */
	for (ret = 0; ret < 100 && kt_kthread_appears("kvmtrust-vcpu", 0); ret++)
		usleep(10 * 1000);
	ASSERT_FALSE(kt_kthread_appears("kvmtrust-vcpu", 0));

	/* Nothing is stuck: paused again, the guest is measured. */
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "pause"));
	ASSERT_EQ(0, kt_param_set("vcpu_probe_delay_ms", 0, NULL));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &m)) TH_LOG("%s", self->g.extack);
	assert_matches_vmm_view(_metadata, &self->v, &m);
}

#define CGROUP_ROOT "/sys/fs/cgroup"

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fputs(text, f) < 0 ? -EIO : 0;
	return fclose(f) ? -errno : ret;
}

static int write_number(const char *dir, const char *name, long long v)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld", v);
	return write_file(dir, name, text);
}

static long long read_number(const char *dir, const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f && fscanf(f, "%lld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

/* A cgroup v2 memory cgroup of its own for pid, or "" if there is none. */
static void memory_cgroup(pid_t pid, char *dir, size_t len)
{
	struct stat st;

	dir[0] = '\0';
	if (stat(CGROUP_ROOT "/cgroup.controllers", &st))
		mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL);
	if (write_file(CGROUP_ROOT, "cgroup.subtree_control", "+memory"))
		return;
	snprintf(dir, len, CGROUP_ROOT "/kt-memcg.%d", getpid());
	if ((mkdir(dir, 0755) && errno != EEXIST) || write_number(dir, "cgroup.procs", pid))
		dir[0] = '\0';
}

/*
 * The kept tree is the VMM's to pay for: allocated by a kworker, it would be
 * charged to no one. A 512 MiB sparse slot (8 MiB of tree) moves the VMM's
 * memory.current by the tree's size while attached; with no room left in
 * the cgroup the measurement streams and says why.
 */
TEST_F(vmm, kept_tree_is_charged_to_the_vmms_memory_cgroup)
{
	struct kt_measurement kept, streamed;
	long long before, after, freed;
	unsigned long old_max;
	struct kt_vmm sparse;
	char cg[128];
	uint32_t id;

	ASSERT_EQ(0, kt_vmm_start(&sparse, self->v.seed, "--sparse-mib 512"));
	memory_cgroup(sparse.pid, cg, sizeof(cg));
	if (!cg[0]) {
		kt_vmm_stop(&sparse);
		SKIP(return, "no cgroup v2 memory controller");
	}
	ASSERT_EQ(0, kt_param_set("tree_max_mib", 64, &old_max));
	ASSERT_EQ(0, kt_vmm_attach(&sparse, &self->g, &id)) TH_LOG("%s", self->g.extack);
	before = read_number(cg, "memory.current");
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, 0, &kept)) TH_LOG("%s", self->g.extack);
	after = read_number(cg, "memory.current");
	ASSERT_EQ(0, kt_genl_detach(&self->g, id));
	usleep(100 * 1000);
	freed = read_number(cg, "memory.current");
	TH_LOG("memory.current %lld -> %lld with a %llu-byte tree, %lld after detach", before,
	       after, (unsigned long long)kept.tree_bytes, freed);
	EXPECT_EQ(KVMTRUST_TREE_RETAINED, kept.tree);
	EXPECT_LE((long long)kept.tree_bytes, after - before);
	EXPECT_GT((long long)kept.tree_bytes / 2, freed - before);

	/* No room left: streamed, with the reason. */
	ASSERT_EQ(0, write_number(cg, "memory.max", read_number(cg, "memory.current") + (1 << 20)));
	ASSERT_EQ(0, kt_vmm_attach(&sparse, &self->g, &id)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, 0, &streamed)) TH_LOG("%s", self->g.extack);
	EXPECT_EQ(KVMTRUST_TREE_STREAMED, streamed.tree);
	EXPECT_NE(NULL, strstr(streamed.tree_note, "memory cgroup has no room"))
		TH_LOG("tree_note '%s'", streamed.tree_note);
	EXPECT_HASH_EQ(kept.memory_root, streamed.memory_root);
	kt_genl_detach(&self->g, id);
	kt_param_set("tree_max_mib", old_max, NULL);
	write_number(CGROUP_ROOT, "cgroup.procs", sparse.pid);
	kt_vmm_stop(&sparse);
	rmdir(cg);
}

/*
 * A VMM thread (not a vCPU) writes guest memory during the measurement, as
 * device emulation would: the vCPU checks see nothing, the soft-dirty
 * proof refuses it.
 */
TEST_F_TIMEOUT(vmm, vmm_writes_during_the_measurement_are_caught, 120)
{
	struct kt_measurement m;
	struct kt_vmm big;
	uint32_t id;

	/* 16 MiB of data: the measurement lasts long enough to be written to. */
	ASSERT_EQ(0, kt_vmm_start(&big, self->v.seed, "--extra-mib 16"));
	ASSERT_EQ(0, kt_vmm_attach(&big, &self->g, &id)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, 0, &m)) TH_LOG("%s", self->g.extack);
	ASSERT_TRUE(m.unchanged);
	ASSERT_EQ(0, kt_vmm_cmd(&big, NULL, 0, "scribble on"));
	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, id, 0, &m), EBUSY,
		       "guest memory was written during the measurement; pause the guest");
	/* --no-vcpus promises nothing about a running VMM, and says so. */
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, KVMTRUST_MEASURE_F_NO_VCPUS, &m));
	ASSERT_FALSE(m.unchanged);
	ASSERT_EQ(0, kt_vmm_cmd(&big, NULL, 0, "scribble off"));
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, 0, &m)) TH_LOG("%s", self->g.extack);
	ASSERT_TRUE(m.unchanged);
	assert_matches_vmm_view(_metadata, &big, &m);
	kt_genl_detach(&self->g, id);
	kt_vmm_stop(&big);
}

TEST_F(vmm, detach_then_measure_is_refused)
{
	struct kt_measurement m;

	ASSERT_EQ(0, kt_genl_detach(&self->g, self->vm_id));
	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, self->vm_id, 0, &m), ENOENT,
		       "no attached vm has this id");
	/* Attaching again gets a new id, never the old one. */
	{
		uint32_t old = self->vm_id;

		ASSERT_EQ(0, kt_vmm_attach(&self->v, &self->g, &self->vm_id));
		ASSERT_NE(old, self->vm_id);
	}
}

TEST_HARNESS_MAIN
