// SPDX-License-Identifier: GPL-2.0
/*
 * Who may see and measure a VM (Documentation/module.rst, "Permission
 * model"): only callers in the network namespace it was attached from see
 * it; the VMM's pid is shown in the caller's pid namespace (0 when it is
 * not there); attaching, measuring and detaching need the right to read
 * the VMM's memory (ptrace read: the same ids or CAP_SYS_PTRACE, and a
 * dumpable VMM) on top of CAP_NET_ADMIN. Each test works in a child
 * process that changes its own namespaces or credentials; the VM is this
 * process's, attached from here.
 */
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kt_test.h"
#include "kt_vm.h"

FIXTURE(vm) {
	struct kt_genl g;
	struct kt_vm *vm;
	uint32_t id;
};

FIXTURE_SETUP(vm)
{
	int ret;

	KT_KVM_OR_SKIP();
	KT_GENL_OPEN_OR_SKIP(&self->g);
	self->vm = kt_vm_create();
	kt_vm_add_memslot(self->vm, 0, 0, 4 * KT_PAGE_SIZE);
	ret = kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &self->id);
	ASSERT_EQ(0, ret) TH_LOG("attach: %s, extack '%s'", strerror(-ret), self->g.extack);
}

FIXTURE_TEARDOWN(vm)
{
	kt_genl_detach(&self->g, self->id);
	kt_genl_close(&self->g);
	kt_vm_free(self->vm);
}

/* Runs the body in a child; the test passes if the child exits 0. */
#define IN_CHILD(...) do {							\
	pid_t __pid = fork();							\
	int __status;								\
	ASSERT_LE(0, __pid);							\
	if (!__pid) {								\
		__VA_ARGS__;							\
		_exit(0);							\
	}									\
	ASSERT_EQ(__pid, waitpid(__pid, &__status, 0));				\
	ASSERT_TRUE(WIFEXITED(__status));					\
	ASSERT_EQ(0, WEXITSTATUS(__status));					\
} while (0)

/* In a child: exit with a line on stderr unless cond holds. */
#define CHILD_CHECK(cond, g) do {						\
	if (!(cond)) {								\
		fprintf(stderr, "# %s:%d: %s failed (extack '%s')\n",		\
			__FILE__, __LINE__, #cond, (g)->extack);		\
		_exit(1);							\
	}									\
} while (0)

static bool refused(struct kt_genl *g, int ret, int err, const char *text)
{
	return ret == -err && strstr(g->extack, text);
}

static uint32_t vmm_pid_of(struct kt_genl *g, uint32_t id)
{
	struct nl_msg *msg = kt_genl_msg(g, KVMTRUST_CMD_VM_GET, 0);
	struct nlattr *tb[KVMTRUST_A_MAX + 1];

	nla_put_u32(msg, KVMTRUST_A_VM_ID, id);
	if (kt_genl_request(g, msg) || kt_genl_reply_attrs(g, 0, tb) || !tb[KVMTRUST_A_VMM_PID])
		return UINT32_MAX;
	return nla_get_u32(tb[KVMTRUST_A_VMM_PID]);
}

TEST_F(vm, another_network_namespace_sees_nothing)
{
	struct kt_measurement m;
	int ready[2], measured[2], status;
	char c;
	pid_t child;

	ASSERT_TRUE(kt_genl_listed(&self->g, self->id));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(measured));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		uint32_t ids[KT_MAX_REPLIES], other;
		struct kt_genl g;
		struct pollfd pfd;

		CHILD_CHECK(!unshare(CLONE_NEWNET), &self->g);
		CHILD_CHECK(!kt_genl_open(&g), &self->g);
		CHILD_CHECK(kt_genl_list(&g, ids, KT_MAX_REPLIES) == 0, &g);
		CHILD_CHECK(refused(&g, kt_genl_measure(&g, self->id, 0, &m), ENOENT,
				    "no attached vm has this id"), &g);
		CHILD_CHECK(refused(&g, kt_genl_measure_get(&g, self->id, &m), ENOENT,
				    "no attached vm has this id"), &g);
		CHILD_CHECK(refused(&g, kt_genl_detach(&g, self->id), ENOENT,
				    "no attached vm has this id"), &g);
		/* The VM is attached once, wherever from. */
		CHILD_CHECK(refused(&g, kt_genl_attach(&g, self->vm->fd, NULL, 0, &other), EEXIST,
				    "vm is already attached"), &g);
		/* Its measurements are announced where it was attached only. */
		CHILD_CHECK(!kt_genl_join_measure(&g), &g);
		CHILD_CHECK(write(ready[1], "r", 1) == 1, &g);
		CHILD_CHECK(read(measured[0], &c, 1) == 1, &g);
		pfd = (struct pollfd){ .fd = nl_socket_get_fd(g.events), .events = POLLIN };
		CHILD_CHECK(poll(&pfd, 1, 0) == 0, &g);
		kt_genl_close(&g);
		_exit(0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->id, KVMTRUST_MEASURE_F_NO_VCPUS, &m))
		TH_LOG("%s", self->g.extack);
	ASSERT_EQ(1, write(measured[1], "m", 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(vm, pids_are_shown_in_the_callers_pid_namespace)
{
	ASSERT_EQ(getpid(), vmm_pid_of(&self->g, self->id));
	IN_CHILD({
		struct kt_genl g;
		pid_t inner;
		int status;

		CHILD_CHECK(!unshare(CLONE_NEWPID), &self->g);
		inner = fork();
		if (!inner) {
			/* pid 1 of a new namespace: the VMM is not in it. */
			CHILD_CHECK(!kt_genl_open(&g), &g);
			CHILD_CHECK(vmm_pid_of(&g, self->id) == 0, &g);
			_exit(0);
		}
		CHILD_CHECK(waitpid(inner, &status, 0) == inner && WIFEXITED(status) &&
			    !WEXITSTATUS(status), &self->g);
	});
}

static int keep_only_cap_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	data[CAP_NET_ADMIN / 32].effective = 1U << (CAP_NET_ADMIN % 32);
	data[CAP_NET_ADMIN / 32].permitted = 1U << (CAP_NET_ADMIN % 32);
	return syscall(SYS_capset, &hdr, data);
}

/* Everything that reads or drops the VM is refused; listing is not. */
static bool reads_refused(struct kt_genl *g, uint32_t id, int vm_fd)
{
	struct kt_measurement m;
	uint32_t other;

	return refused(g, kt_genl_measure(g, id, KVMTRUST_MEASURE_F_NO_VCPUS, &m), EPERM,
		       "no ptrace read access to the vm's process") &&
	       refused(g, kt_genl_measure_get(g, id, &m), EPERM, "no ptrace read access") &&
	       refused(g, kt_genl_detach(g, id), EPERM, "no ptrace read access") &&
	       refused(g, kt_genl_attach(g, vm_fd, NULL, 0, &other), EPERM,
		       "no ptrace read access") &&
	       kt_genl_listed(g, id);
}

/* CAP_NET_ADMIN as another user, without CAP_SYS_PTRACE. */
TEST_F(vm, another_user_with_cap_net_admin_is_refused)
{
	ASSERT_EQ(0, kt_genl_detach(&self->g, self->id));
	ASSERT_EQ(0, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &self->id));
	IN_CHILD({
		struct kt_genl g;

		CHILD_CHECK(!prctl(PR_SET_KEEPCAPS, 1), &self->g);
		CHILD_CHECK(!setresgid(65534, 65534, 65534), &self->g);
		CHILD_CHECK(!setresuid(65534, 65534, 65534), &self->g);
		CHILD_CHECK(!keep_only_cap_net_admin(), &self->g);
		CHILD_CHECK(!kt_genl_open(&g), &g);
		CHILD_CHECK(reads_refused(&g, self->id, self->vm->fd), &g);
		kt_genl_close(&g);
	});
}

/*
 * VCPU_SET_REGS for a vCPU the VM does not have (libnl drops an empty
 * nest): the access check comes first, the list is refused after it.
 */
static int set_no_regs(struct kt_genl *g, uint32_t id)
{
	struct nl_msg *msg = kt_genl_msg(g, KVMTRUST_CMD_VCPU_SET_REGS, 0);
	static const uint8_t regs[KVMTRUST_X86_REGS_LEN], sregs[KVMTRUST_X86_SREGS_LEN];
	struct nlattr *all, *one;

	nla_put_u32(msg, KVMTRUST_A_VM_ID, id);
	all = nla_nest_start(msg, KVMTRUST_A_VCPU_STATES);
	one = nla_nest_start(msg, KVMTRUST_VCPU_STATES_A_VCPU);
	nla_put_u32(msg, KVMTRUST_VSTATE_A_INDEX, 999);
	nla_put(msg, KVMTRUST_VSTATE_A_REGS, sizeof(regs), regs);
	nla_put(msg, KVMTRUST_VSTATE_A_SREGS, sizeof(sregs), sregs);
	nla_nest_end(msg, one);
	nla_nest_end(msg, all);
	return kt_genl_request(g, msg);
}

/*
 * Writing registers takes ptrace attach access: the real ids. A caller
 * whose filesystem ids are the VMM's (it may read) but whose real uid is
 * another's may not write.
 */
TEST_F(vm, writing_registers_needs_the_real_ids)
{
	struct kt_measurement m;

	IN_CHILD({
		struct kt_genl g;

		CHILD_CHECK(!prctl(PR_SET_KEEPCAPS, 1), &self->g);
		CHILD_CHECK(!setresuid(65534, 0, 0), &self->g);
		CHILD_CHECK(!keep_only_cap_net_admin(), &self->g);
		CHILD_CHECK(!kt_genl_open(&g), &g);
		/* Reading is allowed: never measured, but not refused for access. */
		CHILD_CHECK(kt_genl_measure_get(&g, self->id, &m) != -EPERM, &g);
		CHILD_CHECK(refused(&g, set_no_regs(&g, self->id), EPERM,
				    "no ptrace attach access to the vm's process"), &g);
		kt_genl_close(&g);
	});
	/* With the real ids the request gets past the check (to the vCPU list). */
	EXPECT_NE(-EPERM, set_no_regs(&self->g, self->id)) TH_LOG("%s", self->g.extack);
}

/* The same user, but the VMM made itself undumpable: CAP_SYS_PTRACE needed. */
TEST_F(vm, an_undumpable_vmm_needs_cap_sys_ptrace)
{
	struct kt_measurement m;

	ASSERT_EQ(0, prctl(PR_SET_DUMPABLE, 0));
	IN_CHILD({
		struct kt_genl g;

		CHILD_CHECK(!keep_only_cap_net_admin(), &self->g);
		CHILD_CHECK(!kt_genl_open(&g), &g);
		CHILD_CHECK(reads_refused(&g, self->id, self->vm->fd), &g);
		kt_genl_close(&g);
	});
	/* Root with CAP_SYS_PTRACE may. */
	IN_CHILD({
		struct kt_genl g;

		CHILD_CHECK(!kt_genl_open(&g), &g);
		CHILD_CHECK(!kt_genl_measure(&g, self->id, KVMTRUST_MEASURE_F_NO_VCPUS, &m), &g);
		kt_genl_close(&g);
	});
	ASSERT_EQ(0, prctl(PR_SET_DUMPABLE, 1));
	/* The VMM itself always may. */
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->id, KVMTRUST_MEASURE_F_NO_VCPUS, &m));
}

TEST_HARNESS_MAIN
