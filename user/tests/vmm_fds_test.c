// SPDX-License-Identifier: GPL-2.0
/*
 * kt_vmm_fds_get on the host, where no KVM VM exists: every refusal a user
 * can hit before the module is involved (no such process, not a VMM).
 * Borrowing real VM descriptors is tested in the VM (selftests/).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "measure/vmm_fds.h"

TEST(no_such_process)
{
	struct kt_err err = { 0 };
	struct kt_vmm_fds fds;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	/* Reaped: the pid is free (reuse within this test is not plausible). */
	EXPECT_EQ(-ESRCH, kt_vmm_fds_get(pid, &fds, &err));
	EXPECT_STREQ("vmm", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "No process with pid"));
	EXPECT_EQ(-1, fds.vm_fd);
}

TEST(process_without_a_vm_is_not_a_vmm)
{
	struct kt_err err = { 0 };
	struct kt_vmm_fds fds;

	EXPECT_EQ(-ENODEV, kt_vmm_fds_get(getpid(), &fds, &err));
	EXPECT_NE(NULL, strstr(err.msg, "is not a VMM"));
	EXPECT_EQ(-1, fds.vm_fd);
	EXPECT_EQ(0U, fds.nr_vcpus);
}

TEST(close_is_idempotent)
{
	struct kt_vmm_fds fds = { .vm_fd = -1 };

	kt_vmm_fds_close(&fds);
	kt_vmm_fds_close(&fds);
	EXPECT_EQ(-1, fds.vm_fd);
}

TEST_HARNESS_MAIN
