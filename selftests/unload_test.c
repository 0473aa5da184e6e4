// SPDX-License-Identifier: GPL-2.0
/*
 * Unloading kvmtrust.ko while VMs are attached, and while a measurement is
 * in flight, then loading it again: the module must drop its VM references
 * on the way out (the VMM keeps running), come back with an empty list and
 * measure again. Runs last (scripts/vmtest runs programs in name order) and
 * always leaves the module loaded. KT_MODULE names the .ko to reload
 * (selftests/run-in-vm sets it), default kmod/kvmtrust.ko.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kt_module.h"
#include "kt_recompute.h"
#include "kt_test.h"
#include "kt_vmm_proc.h"

static int module_unload(void)
{
	return syscall(SYS_delete_module, "kvmtrust", O_NONBLOCK) ? -errno : 0;
}

static int module_load_with(const char *params)
{
	const char *path = getenv("KT_MODULE") ?: "kmod/kvmtrust.ko";
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret == -EEXIST ? 0 : ret;
}

static int module_load(void)
{
	return module_load_with("");
}

FIXTURE(loaded) {
	struct kt_genl g;
	struct kt_vmm v;
	uint32_t vm_id;
};

FIXTURE_SETUP(loaded)
{
	uint32_t seed = kt_seed_from_env();

	KT_KVM_OR_SKIP();
	if (access(getenv("KT_MODULE") ?: "kmod/kvmtrust.ko", R_OK))
		KT_SETUP_SKIP("no module file to reload (KT_MODULE)");
	KT_GENL_OPEN_OR_SKIP(&self->g);
	TH_LOG("seed %u", seed);
	ASSERT_EQ(0, kt_vmm_start(&self->v, seed, "--extra-mib 16"));
	ASSERT_EQ(0, kt_vmm_attach(&self->v, &self->g, &self->vm_id)) TH_LOG("%s", self->g.extack);
}

FIXTURE_TEARDOWN(loaded)
{
	/* Whatever happened, the next program finds the module loaded. */
	module_load();
	kt_vmm_stop(&self->v);
	kt_genl_close(&self->g);
}

/* After a reload: family back, nothing attached, measuring works again. */
static void assert_fresh_module_measures(struct __test_metadata *_metadata, struct kt_vmm *v)
{
	struct kt_measurement m;
	struct kt_genl g;
	uint32_t ids[KT_MAX_REPLIES], id;
	char reply[64];

	ASSERT_EQ(0, module_load());
	ASSERT_EQ(0, kt_genl_open(&g));
	ASSERT_EQ(0, kt_genl_list(&g, ids, KT_MAX_REPLIES));
	ASSERT_EQ(0, kt_vmm_cmd(v, reply, sizeof(reply), "state")) TH_LOG("vmm: %s", reply);
	ASSERT_EQ(0, kt_vmm_attach(v, &g, &id)) TH_LOG("%s", g.extack);
	ASSERT_EQ(0, kt_genl_measure(&g, id, 0, &m)) TH_LOG("%s", g.extack);
	ASSERT_EQ(1, m.seq);
	ASSERT_EQ(v->pages, m.pages);
	ASSERT_EQ(0, kt_genl_detach(&g, id));
	kt_genl_close(&g);
}

TEST_F(loaded, unload_while_attached)
{
	struct kt_genl g;

	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(-ENOENT, kt_genl_open(&g));
	assert_fresh_module_measures(_metadata, &self->v);
}

TEST_F(loaded, unload_while_running)
{
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "run"));
	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "pause"));
	assert_fresh_module_measures(_metadata, &self->v);
}

TEST_F_TIMEOUT(loaded, unload_while_measuring, 120)
{
	int status, ret, tries;
	pid_t child;

	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct kt_genl g;

		ret = kt_genl_measure_until_error(&g, self->vm_id, NULL);
		fprintf(stderr, "# measuring ended: %s, extack '%s'\n", strerror(-ret), g.extack);
		/* Gone with the module (the family's socket sees ENOENT). */
		_exit(ret == -ENOENT || ret == -ESRCH || ret == -ENODEV || ret == -EINTR ? 0 : 1);
	}
	usleep((self->v.seed % 200) * 1000);
	/* The module may be busy for the length of one measurement. */
	for (tries = 0; (ret = module_unload()) == -EAGAIN && tries < 100; tries++)
		usleep(100 * 1000);
	ASSERT_EQ(0, ret) TH_LOG("delete_module: %s", strerror(-ret));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_fresh_module_measures(_metadata, &self->v);
}

static void hash_driver(struct __test_metadata *_metadata, char *out, size_t len)
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1];
	struct kt_genl g;

	ASSERT_EQ(0, kt_genl_open(&g));
	ASSERT_EQ(0, kt_genl_request(&g, kt_genl_msg(&g, KVMTRUST_CMD_GET_INFO, 0)));
	ASSERT_EQ(0, kt_genl_reply_attrs(&g, 0, tb));
	snprintf(out, len, "%s", nla_get_string(tb[KVMTRUST_A_HASH_DRIVER]));
	kt_genl_close(&g);
}

/* hash_driver= picks a driver by name; anything but a sha256 is refused. */
TEST_F(loaded, hash_driver_parameter)
{
	char driver[64];

	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(-ENOENT, module_load_with("hash_driver=no-such-driver"));
	ASSERT_EQ(-EINVAL, module_load_with("hash_driver=sha1-generic"));
	ASSERT_EQ(0, module_load_with("hash_driver=sha256-generic"));
	hash_driver(_metadata, driver, sizeof(driver));
	ASSERT_STREQ("sha256-generic", driver);
	ASSERT_EQ(0, module_unload());
	assert_fresh_module_measures(_metadata, &self->v);
	/* cli_test.sh checks the default against /proc/crypto. */
	hash_driver(_metadata, driver, sizeof(driver));
	TH_LOG("by default: %s", driver);
}

/*
 * VM ids only grow, so a handle never names another VM: past the last id
 * attaching is refused until the module is reloaded. vm_id_base (a test
 * parameter) starts the ids two short of the end.
 */
TEST_F(loaded, vm_ids_are_never_reused)
{
	uint32_t first, second, third;
	struct kt_genl g;

	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load_with("vm_id_base=4294967294"));
	ASSERT_EQ(0, kt_genl_open(&g));
	ASSERT_EQ(0, kt_vmm_attach(&self->v, &g, &first)) TH_LOG("%s", g.extack);
	ASSERT_EQ(4294967294u, first);
	ASSERT_EQ(0, kt_genl_detach(&g, first));
	ASSERT_EQ(0, kt_vmm_attach(&self->v, &g, &second)) TH_LOG("%s", g.extack);
	ASSERT_EQ(4294967295u, second);
	ASSERT_EQ(0, kt_genl_detach(&g, second));
	/* The first id is free again, but is not handed out. */
	ASSERT_REFUSED(&g, kt_vmm_attach(&self->v, &g, &third), ENOSPC,
		       "vm ids are exhausted; reload the module");
	kt_genl_close(&g);
	ASSERT_EQ(0, module_unload());
	assert_fresh_module_measures(_metadata, &self->v);
}

/*
 * A vCPU re-entered KVM_RUN between its probe and its register read (the
 * test hook holds that window open), so the reader waits on vcpu->mutex
 * for as long as the guest runs. Unloading must not wait for the guest.
 */
TEST_F_TIMEOUT(loaded, unload_while_a_vcpu_read_waits, 90)
{
	struct kt_measurement m;
	uint64_t mid;
	int ret, tries;

	/* The reload in the teardown restores the defaults. */
	ASSERT_EQ(0, kt_param_set("vcpu_probe_delay_ms", 1000, NULL));
	ASSERT_EQ(0, kt_param_set("vcpu_wait_ms", 60000, NULL));
	ASSERT_EQ(0, kt_genl_measure_start(&self->g, self->vm_id, 0, &mid));
	ASSERT_TRUE(kt_kthread_appears("kvmtrust-vcpu", 10000));
	usleep(100 * 1000);
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "run"));
	usleep(1500 * 1000);
	/* The reader is in KVM's ioctl now, waiting for the running vCPU. */
	ASSERT_TRUE(kt_kthread_appears("kvmtrust-vcpu", 0));
	for (tries = 0; (ret = module_unload()) == -EAGAIN && tries < 100; tries++)
		usleep(100 * 1000);
	ASSERT_EQ(0, ret) TH_LOG("delete_module: %s", strerror(-ret));
	ASSERT_FALSE(kt_kthread_appears("kvmtrust-vcpu", 0));
	(void)m;
	ASSERT_EQ(0, kt_vmm_cmd(&self->v, NULL, 0, "pause"));
	assert_fresh_module_measures(_metadata, &self->v);
}

TEST_HARNESS_MAIN
