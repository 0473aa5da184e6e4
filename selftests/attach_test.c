// SPDX-License-Identifier: GPL-2.0
/*
 * Everything a caller can get wrong, refused cleanly: each test asserts the
 * errno and the extack text. Files that are not a KVM VM, closed and
 * absurd fds, vCPUs of another VM, missing, unknown, mis-sized and
 * out-of-range attributes, unknown flag bits, and callers without
 * CAP_NET_ADMIN. The harness (scripts/vmtest) fails the run if any of this
 * leaves an oops or a WARN in dmesg.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kt_test.h"
#include "kt_vm.h"

FIXTURE(nl) {
	struct kt_genl g;
	struct kt_vm *vm;	/* a valid VM, paused, not attached */
};

FIXTURE_SETUP(nl)
{
	self->vm = kt_vm_try_create();
	if (!self->vm)
		KT_SETUP_SKIP("/dev/kvm not usable: %s", strerror(errno));
	kt_vm_add_memslot(self->vm, 0, 0, KT_PAGE_SIZE);
	kt_vcpu_add(self->vm, 0);
	KT_GENL_OPEN_OR_SKIP(&self->g);
}

FIXTURE_TEARDOWN(nl)
{
	kt_genl_close(&self->g);
	kt_vm_free(self->vm);
}

static int attach_fd(struct kt_genl *g, int fd)
{
	uint32_t id;
	int ret = kt_genl_attach(g, fd, NULL, 0, &id);

	if (!ret)
		kt_genl_detach(g, id);	/* should not happen: keep the module clean */
	return ret;
}

/* One request with a single attribute built by the caller. */
static struct nl_msg *request(struct kt_genl *g, uint8_t cmd)
{
	struct nl_msg *msg = kt_genl_msg(g, cmd, 0);

	kt_assert(msg, "out of memory");
	return msg;
}

TEST_F(nl, dev_null_is_not_a_vm)
{
	int fd = open("/dev/null", O_RDWR);

	ASSERT_LE(0, fd);
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, fd), EINVAL, "file is not a kvm vm");
	close(fd);
}

TEST_F(nl, pipe_is_not_a_vm)
{
	int p[2];

	ASSERT_EQ(0, pipe(p));
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, p[0]), EINVAL, "file is not a kvm vm");
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, p[1]), EINVAL, "file is not a kvm vm");
	close(p[0]);
	close(p[1]);
}

TEST_F(nl, eventfd_is_not_a_vm)
{
	int fd = eventfd(0, 0);

	ASSERT_LE(0, fd);
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, fd), EINVAL, "file is not a kvm vm");
	close(fd);
}

/* /dev/kvm itself and a vCPU are KVM files, but not a VM. */
TEST_F(nl, kvm_system_and_vcpu_fds_are_not_a_vm)
{
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, self->vm->kvm_fd), EINVAL,
		       "file is not a kvm vm");
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, self->vm->vcpus[0].fd), EINVAL,
		       "file is not a kvm vm");
}

TEST_F(nl, netlink_socket_itself_is_not_a_vm)
{
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, nl_socket_get_fd(self->g.sk)), EINVAL,
		       "file is not a kvm vm");
}

TEST_F(nl, closed_fd)
{
	int fd = dup(self->vm->fd);

	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, fd), EBADF, "vm fd is not open");
}

TEST_F(nl, huge_fd)
{
	ASSERT_REFUSED(&self->g, attach_fd(&self->g, INT_MAX), EBADF, "vm fd is not open");
}

TEST_F(nl, negative_fd_is_out_of_range)
{
	struct nl_msg *msg = request(&self->g, KVMTRUST_CMD_VM_ATTACH);

	nla_put_u32(msg, KVMTRUST_A_VM_FD, 0xffffffffU);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), ERANGE, "out of range");
}

TEST_F(nl, missing_vm_fd)
{
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, request(&self->g,
			KVMTRUST_CMD_VM_ATTACH)), EINVAL, "missing vm fd");
}

TEST_F(nl, missing_vm_id)
{
	static const uint8_t cmds[] = { KVMTRUST_CMD_MEASURE, KVMTRUST_CMD_VM_DETACH };
	unsigned int i;

	for (i = 0; i < sizeof(cmds); i++)
		ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, request(&self->g, cmds[i])),
			       EINVAL, "missing vm id");
}

TEST_F(nl, unknown_vm_id)
{
	struct kt_measurement m;

	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, 0xffffffffU, 0, &m), ENOENT,
		       "no attached vm has this id");
	ASSERT_REFUSED(&self->g, kt_genl_detach(&self->g, 0x7fffffff), ENOENT,
		       "no attached vm has this id");
}

TEST_F(nl, vm_id_zero_is_out_of_range)
{
	struct kt_measurement m;

	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, 0, 0, &m), ERANGE, "out of range");
}

TEST_F(nl, wrong_attribute_length)
{
	struct nl_msg *msg = request(&self->g, KVMTRUST_CMD_VM_ATTACH);

	/* A u64 where the policy wants a u32. */
	nla_put_u64(msg, KVMTRUST_A_VM_FD, self->vm->fd);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL,
		       "invalid attribute length");

	msg = request(&self->g, KVMTRUST_CMD_MEASURE);
	nla_put_u16(msg, KVMTRUST_A_VM_ID, 1);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL,
		       "invalid attribute length");
}

TEST_F(nl, attribute_not_in_the_commands_policy)
{
	struct nl_msg *msg = request(&self->g, KVMTRUST_CMD_VM_ATTACH);

	nla_put_u32(msg, KVMTRUST_A_VM_FD, self->vm->fd);
	nla_put_u64(msg, KVMTRUST_A_PAGES, 1);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL,
		       "Unsupported attribute");
}

TEST_F(nl, attribute_beyond_the_family)
{
	struct nl_msg *msg = request(&self->g, KVMTRUST_CMD_VM_ATTACH);

	nla_put_u32(msg, KVMTRUST_A_VM_FD, self->vm->fd);
	nla_put_u32(msg, KVMTRUST_A_MAX + 1, 1);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL,
		       "Unknown attribute type");
}

TEST_F(nl, malformed_vcpu_fds_nest)
{
	struct nl_msg *msg = request(&self->g, KVMTRUST_CMD_VM_ATTACH);
	struct nlattr *nest;

	/* A vCPU fd that is a u64. */
	nla_put_u32(msg, KVMTRUST_A_VM_FD, self->vm->fd);
	nest = nla_nest_start(msg, KVMTRUST_A_VCPU_FDS);
	nla_put_u64(msg, KVMTRUST_VCPU_A_FD, self->vm->vcpus[0].fd);
	nla_nest_end(msg, nest);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL,
		       "invalid attribute length");

	/* An attribute type the nest does not define. */
	msg = request(&self->g, KVMTRUST_CMD_VM_ATTACH);
	nla_put_u32(msg, KVMTRUST_A_VM_FD, self->vm->fd);
	nest = nla_nest_start(msg, KVMTRUST_A_VCPU_FDS);
	nla_put_u32(msg, KVMTRUST_VCPU_A_MAX + 1, self->vm->vcpus[0].fd);
	nla_nest_end(msg, nest);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL,
		       "Unknown attribute type");

	/* A flat u32 where a nest belongs. */
	msg = request(&self->g, KVMTRUST_CMD_VM_ATTACH);
	nla_put_u32(msg, KVMTRUST_A_VM_FD, self->vm->fd);
	nla_put_u32(msg, KVMTRUST_A_VCPU_FDS, self->vm->vcpus[0].fd);
	ASSERT_EQ(-EINVAL, kt_genl_request(&self->g, msg));
	ASSERT_NE('\0', self->g.extack[0]);
}

TEST_F(nl, unknown_measure_flags)
{
	struct kt_measurement m;
	uint32_t id;

	ASSERT_EQ(0, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &id));
	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, id, 1U << 31, &m), EOPNOTSUPP,
		       "unknown measure flags");
	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, id, ~0U, &m), EOPNOTSUPP,
		       "unknown measure flags");
	ASSERT_EQ(0, kt_genl_detach(&self->g, id));
}

TEST_F(nl, vcpu_of_another_vm)
{
	struct kt_vm *other = kt_vm_create();
	uint32_t id;

	kt_vcpu_add(other, 0);
	ASSERT_REFUSED(&self->g, kt_genl_attach(&self->g, self->vm->fd, &other->vcpus[0].fd, 1,
						&id), EINVAL, "file is not a vcpu of this vm");
	/* The VM fd as a vCPU fd, and a plain file. */
	ASSERT_REFUSED(&self->g, kt_genl_attach(&self->g, self->vm->fd, &self->vm->fd, 1, &id),
		       EINVAL, "file is not a vcpu of this vm");
	kt_vm_free(other);
	/* Nothing half-attached remains. */
	ASSERT_EQ(0, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &id));
	ASSERT_EQ(0, kt_genl_detach(&self->g, id));
}

TEST_F(nl, vcpu_given_twice)
{
	int fds[2] = { self->vm->vcpus[0].fd, self->vm->vcpus[0].fd };
	uint32_t id;

	ASSERT_REFUSED(&self->g, kt_genl_attach(&self->g, self->vm->fd, fds, 2, &id), EINVAL,
		       "vcpu given twice");
}

TEST_F(nl, closed_vcpu_fd)
{
	int fd = dup(self->vm->vcpus[0].fd);
	uint32_t id;

	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_REFUSED(&self->g, kt_genl_attach(&self->g, self->vm->fd, &fd, 1, &id), EBADF,
		       "vcpu fd is not open");
}

TEST_F(nl, measure_without_vcpu_files)
{
	struct kt_measurement m;
	uint32_t id;

	/* The VM has a vCPU the module holds no file for. */
	ASSERT_EQ(0, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &id));
	ASSERT_REFUSED(&self->g, kt_genl_measure(&self->g, id, 0, &m), ENOENT,
		       "a vcpu has no file");
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, KVMTRUST_MEASURE_F_NO_VCPUS, &m));
	ASSERT_EQ(1, m.pages);
	ASSERT_EQ(0, kt_genl_detach(&self->g, id));
}

static int drop_cap_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_NET_ADMIN / 32].effective &= ~(1U << (CAP_NET_ADMIN % 32));
	data[CAP_NET_ADMIN / 32].permitted &= ~(1U << (CAP_NET_ADMIN % 32));
	return syscall(SYS_capset, &hdr, data);
}

/*
 * GENL_ADMIN_PERM is checked by the genetlink core, which refuses with
 * EPERM before the module runs, so there is no extack text to assert.
 */
static void assert_mutations_refused(struct __test_metadata *_metadata, struct kt_genl *g,
				     int vm_fd, uint32_t id)
{
	struct kt_measurement m;
	uint32_t ids[KT_MAX_REPLIES], new_id;

	struct nl_msg *msg;

	ASSERT_EQ(-EPERM, kt_genl_attach(g, vm_fd, NULL, 0, &new_id));
	/* Neither the results' group nor the requests. */
	ASSERT_EQ(-EPERM, kt_genl_join_measure(g));
	ASSERT_EQ(-EPERM, kt_genl_measure(g, id, 0, &m));
	msg = kt_genl_msg(g, KVMTRUST_CMD_MEASURE, 0);
	nla_put_u32(msg, KVMTRUST_A_VM_ID, id);
	ASSERT_EQ(-EPERM, kt_genl_request(g, msg));
	ASSERT_EQ(-EPERM, kt_genl_measure_get(g, id, &m));
	ASSERT_EQ(-EPERM, kt_genl_detach(g, id));
	/* Reading stays open to everyone. */
	ASSERT_LE(1, kt_genl_list(g, ids, KT_MAX_REPLIES));
	ASSERT_EQ(0, kt_genl_request(g, kt_genl_msg(g, KVMTRUST_CMD_GET_INFO, 0)));
}

TEST_F(nl, without_cap_net_admin)
{
	struct kt_genl fresh;
	uint32_t id;

	ASSERT_EQ(0, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &id));
	ASSERT_EQ(0, drop_cap_net_admin());
	/* A socket opened with the capability does not carry it over... */
	assert_mutations_refused(_metadata, &self->g, self->vm->fd, id);
	/* ...and one opened without it has none. */
	ASSERT_EQ(0, kt_genl_open(&fresh));
	assert_mutations_refused(_metadata, &fresh, self->vm->fd, id);
	kt_genl_close(&fresh);
	/* The VM goes with this process; the module drops it then. */
}

TEST_F(nl, as_nobody)
{
	struct kt_genl fresh;
	uint32_t id;

	ASSERT_EQ(0, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &id));
	ASSERT_EQ(0, setgid(65534));
	ASSERT_EQ(0, setuid(65534));
	ASSERT_EQ(0, kt_genl_open(&fresh));
	assert_mutations_refused(_metadata, &fresh, self->vm->fd, id);
	kt_genl_close(&fresh);
}

TEST_F(nl, get_info)
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1];

	ASSERT_EQ(0, kt_genl_request(&self->g, kt_genl_msg(&self->g, KVMTRUST_CMD_GET_INFO, 0)));
	ASSERT_EQ(0, kt_genl_reply_attrs(&self->g, 0, tb));
	ASSERT_NE(NULL, tb[KVMTRUST_A_VERSION]);
	ASSERT_NE(NULL, tb[KVMTRUST_A_HASH_ALG]);
	ASSERT_STREQ("sha256", nla_get_string(tb[KVMTRUST_A_HASH_ALG]));
	ASSERT_NE(NULL, tb[KVMTRUST_A_HASH_DRIVER]);
	ASSERT_NE(NULL, tb[KVMTRUST_A_FEATURES]);
	ASSERT_EQ(__KVMTRUST_F_ALL, nla_get_u32(tb[KVMTRUST_A_FEATURES]) & __KVMTRUST_F_ALL);
	TH_LOG("module %s, hash driver %s", nla_get_string(tb[KVMTRUST_A_VERSION]),
	       nla_get_string(tb[KVMTRUST_A_HASH_DRIVER]));
}

TEST_F(nl, get_info_refuses_attributes)
{
	struct nl_msg *msg = request(&self->g, KVMTRUST_CMD_GET_INFO);

	nla_put_u32(msg, KVMTRUST_A_VM_ID, 1);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL, "Unsupported attribute");
}

/* A dump names no VM: an id there would be a filter it ignored. */
TEST_F(nl, dump_refuses_a_vm_id)
{
	struct nl_msg *msg = kt_genl_msg(&self->g, KVMTRUST_CMD_VM_GET, NLM_F_DUMP);
	uint32_t id;

	ASSERT_EQ(0, kt_genl_attach(&self->g, self->vm->fd, NULL, 0, &id));
	nla_put_u32(msg, KVMTRUST_A_VM_ID, id);
	ASSERT_REFUSED(&self->g, kt_genl_request(&self->g, msg), EINVAL,
		       "a dump takes no vm id");
	ASSERT_EQ(0, kt_genl_detach(&self->g, id));
}

TEST_F(nl, unknown_command)
{
	ASSERT_EQ(-EOPNOTSUPP, kt_genl_request(&self->g, request(&self->g, KVMTRUST_CMD_MAX + 1)));
}

TEST_HARNESS_MAIN
