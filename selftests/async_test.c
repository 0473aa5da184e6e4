// SPDX-License-Identifier: GPL-2.0
/*
 * KVMTRUST_CMD_MEASURE only starts a measurement (include/uapi/linux/
 * kvmtrust.h): the request returns at once, the result arrives on the
 * "measure" multicast group and through KVMTRUST_CMD_MEASURE_GET. While a
 * large guest is hashed, genetlink must stay usable for everyone else: a
 * handler that waited for the hash would hold genetlink's cb_lock, so
 * registering another family (loading its module) would wait for the
 * whole measurement, and every genetlink request on the host behind it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <netlink/genl/ctrl.h>

#include "kselftest_harness.h"
#include "kt_test.h"
#include "kt_vmm_proc.h"

/* Enough filled memory that hashing it takes seconds under TCG. */
#define BIG_MIB "384"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

FIXTURE(vmm) {
	struct kt_genl g;
	struct kt_vmm v;
	uint32_t vm_id;
};

FIXTURE_SETUP(vmm)
{
	KT_VMM_SETUP(&self->g, &self->v, &self->vm_id);
}

FIXTURE_TEARDOWN(vmm)
{
	kt_genl_detach(&self->g, self->vm_id);
	kt_vmm_stop(&self->v);
	kt_genl_close(&self->g);
}

/*
 * Loads and unloads team.ko, a genetlink family ("team") of its own, with
 * modprobe (the host's, in the chroot: it also reads 6.12's compressed
 * modules). Registering a family takes genetlink's cb_lock for writing.
 */
static int cycle_team_module(struct __test_metadata *_metadata, double *ms)
{
	struct kt_genl probe;
	double t0 = now_ms();
	int ret;

	ret = system("modprobe team");
	if (ret)
		return ret;
	if (kt_genl_open(&probe) == 0) {
		EXPECT_LE(0, genl_ctrl_resolve(probe.sk, "team"));
		kt_genl_close(&probe);
	}
	ret = system("modprobe -r team");
	*ms = now_ms() - t0;
	return ret;
}

TEST_F_TIMEOUT(vmm, genetlink_stays_usable_during_a_measurement, 200)
{
	struct kt_measurement m, got;
	struct kt_vmm big;
	struct kt_genl other;
	double t0, start_ms, ctrl_ms, team_ms = 0;
	uint64_t mid;
	uint32_t id;
	int ret;

	ASSERT_EQ(0, kt_vmm_start(&big, self->v.seed, "--extra-mib " BIG_MIB));
	ASSERT_EQ(0, kt_vmm_attach(&big, &self->g, &id)) TH_LOG("%s", self->g.extack);

	t0 = now_ms();
	ASSERT_EQ(0, kt_genl_measure_start(&self->g, id, 0, &mid)) TH_LOG("%s", self->g.extack);
	start_ms = now_ms() - t0;

	ASSERT_EQ(0, kt_genl_open(&other));
	t0 = now_ms();
	ASSERT_LE(0, genl_ctrl_resolve(other.sk, "nlctrl"));
	ctrl_ms = now_ms() - t0;
	kt_genl_close(&other);

	ret = cycle_team_module(_metadata, &team_ms);
	ASSERT_EQ(0, ret) TH_LOG("modprobe team, then modprobe -r team: status %d", ret);

	/* All of the above happened while the measurement ran. */
	ASSERT_EQ(0, kt_genl_measure_get(&self->g, id, &got)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(mid, got.measure_id);
	ASSERT_FALSE(got.done) TH_LOG("the measurement ended too early to prove anything");
	TH_LOG("request %.0f ms, nlctrl %.0f ms, team.ko in and out %.0f ms, measurement running",
	       start_ms, ctrl_ms, team_ms);
	EXPECT_GT(2000, start_ms);
	EXPECT_GT(2000, ctrl_ms);

	ASSERT_EQ(0, kt_genl_measure_wait(&self->g, id, mid, &m)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(big.pages, m.pages);
	ASSERT_EQ(1, m.seq);
	TH_LOG("%llu pages in %.0f ms", (unsigned long long)m.pages, m.ns / 1e6);

	/* MEASURE_GET keeps the same result. */
	ASSERT_EQ(0, kt_genl_measure_get(&self->g, id, &got));
	ASSERT_TRUE(got.done);
	ASSERT_EQ(0, got.error);
	ASSERT_EQ(mid, got.measure_id);
	ASSERT_EQ(m.seq, got.seq);
	ASSERT_HASH_EQ(m.memory_root, got.memory_root);
	ASSERT_HASH_EQ(m.vcpu_root, got.vcpu_root);
	kt_genl_detach(&self->g, id);
	kt_vmm_stop(&big);
}

TEST_F(vmm, every_member_of_the_group_is_told)
{
	struct kt_measurement mine, theirs;
	struct kt_genl other;
	uint64_t mid;

	ASSERT_EQ(0, kt_genl_open(&other));
	ASSERT_EQ(0, kt_genl_join_measure(&other));
	ASSERT_EQ(0, kt_genl_measure_start(&self->g, self->vm_id, 0, &mid));
	ASSERT_EQ(0, kt_genl_measure_wait(&self->g, self->vm_id, mid, &mine));
	ASSERT_EQ(0, kt_genl_measure_wait(&other, self->vm_id, mid, &theirs));
	ASSERT_EQ(mine.seq, theirs.seq);
	ASSERT_HASH_EQ(mine.memory_root, theirs.memory_root);
	kt_genl_close(&other);
}

TEST_F(vmm, ids_are_new_for_every_measurement)
{
	uint64_t first, second;
	struct kt_measurement m;

	ASSERT_EQ(0, kt_genl_measure_start(&self->g, self->vm_id, 0, &first));
	ASSERT_EQ(0, kt_genl_measure_wait(&self->g, self->vm_id, first, &m));
	ASSERT_EQ(0, kt_genl_measure_start(&self->g, self->vm_id, 0, &second));
	ASSERT_EQ(0, kt_genl_measure_wait(&self->g, self->vm_id, second, &m));
	ASSERT_LT(first, second);
	ASSERT_EQ(2, m.seq);
}

TEST_F(vmm, get_before_any_measurement_is_refused)
{
	struct kt_measurement m;

	ASSERT_REFUSED(&self->g, kt_genl_measure_get(&self->g, self->vm_id, &m), ENOENT,
		       "this vm has not been measured");
}

/*
 * A measurement that fails does so after the request was accepted: the
 * error and its message come with the notification and stay for GET, and
 * no sequence number is spent on it.
 */
TEST_F(vmm, a_failure_arrives_with_its_message)
{
	struct kt_measurement m, got;
	uint64_t mid;

	/* the guest seen spinning: its vCPU is in KVM_RUN, not about to enter it */
	ASSERT_EQ(0, kt_vmm_run_until_progress(&self->v));
	ASSERT_EQ(0, kt_genl_measure_start(&self->g, self->vm_id, 0, &mid))
		TH_LOG("the request itself is accepted: %s", self->g.extack);
	ASSERT_REFUSED(&self->g, kt_genl_measure_wait(&self->g, self->vm_id, mid, &m), EBUSY,
		       "a vcpu is running; pause the guest");
	ASSERT_TRUE(m.done);
	ASSERT_EQ(-EBUSY, m.error);
	ASSERT_EQ(0, kt_genl_measure_get(&self->g, self->vm_id, &got));
	ASSERT_EQ(mid, got.measure_id);
	ASSERT_EQ(-EBUSY, got.error);
	ASSERT_NE(NULL, strstr(self->g.extack, "a vcpu is running"));
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "pause"));
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &m)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(1, m.seq);
}

/*
 * The reply naming a measurement cannot be sent (the caller's receive
 * buffer is full): nothing starts and no sequence number is spent.
 */
TEST_F(vmm, a_reply_that_cannot_be_sent_starts_nothing)
{
	struct kt_measurement m;
	struct kt_genl full;
	struct nl_msg *msg;
	char buf[16384];
	int fd, one = 1, i, overruns = 0;
	ssize_t n;

	ASSERT_EQ(0, kt_genl_open(&full));
	fd = nl_socket_get_fd(full.sk);
	ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)));
	/* Replies nobody reads fill the smallest receive buffer at once. */
	for (i = 0; i < 8; i++) {
		msg = kt_genl_msg(&full, KVMTRUST_CMD_GET_INFO, 0);
		ASSERT_LE(0, nl_send_auto(full.sk, msg));
		nlmsg_free(msg);
	}
	msg = kt_genl_msg(&full, KVMTRUST_CMD_MEASURE, 0);
	nla_put_u32(msg, KVMTRUST_A_VM_ID, self->vm_id);
	ASSERT_LE(0, nl_send_auto(full.sk, msg));
	nlmsg_free(msg);
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) != 0) {
		if (n < 0 && errno == ENOBUFS)
			overruns++;
		else if (n < 0)
			break;
	}
	ASSERT_LT(0, overruns);
	kt_genl_close(&full);

	ASSERT_REFUSED(&self->g, kt_genl_measure_get(&self->g, self->vm_id, &m), ENOENT,
		       "this vm has not been measured");
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &m)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(1, m.seq);
}

TEST_F(vmm, busy_while_one_runs)
{
	struct kt_measurement m;
	struct kt_vmm big;
	uint64_t mid, other;
	uint32_t id;

	ASSERT_EQ(0, kt_vmm_start(&big, self->v.seed, "--extra-mib 32"));
	ASSERT_EQ(0, kt_vmm_attach(&big, &self->g, &id)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, kt_genl_measure_start(&self->g, id, 0, &mid));
	ASSERT_REFUSED(&self->g, kt_genl_measure_start(&self->g, id, 0, &other), EBUSY,
		       "another measurement of this vm is running");
	/* Other VMs are not held up. */
	ASSERT_EQ(0, kt_genl_measure(&self->g, self->vm_id, 0, &m)) TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, kt_genl_measure_wait(&self->g, id, mid, &m)) TH_LOG("%s", self->g.extack);
	kt_genl_detach(&self->g, id);
	kt_vmm_stop(&big);
}

TEST_HARNESS_MAIN
