/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Glue between the kselftest harness and the kvmtrust test libraries.
 * Include after kselftest_harness.h.
 */
#ifndef KT_TEST_H
#define KT_TEST_H

#include <errno.h>
#include <string.h>

#include "kt_genl.h"
#include "kt_vm.h"
#include "kt_vmm_proc.h"

/*
 * SKIP from a FIXTURE_SETUP. 6.1's harness runs the test body after a setup
 * that merely returned, so leave through the harness's own jump buffer
 * (setup must release what it took before skipping).
 */
#define KT_SETUP_SKIP(fmt, ...) SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

/* KVM can make a VM here, or the test SKIPs. */
#define KT_KVM_OR_SKIP() do {							\
	struct kt_vm *__probe = kt_vm_try_create();				\
	if (!__probe)								\
		KT_SETUP_SKIP("/dev/kvm not usable: %s", strerror(errno));	\
	kt_vm_free(__probe);							\
} while (0)

/* The family is there, or the test SKIPs: a kernel without kvmtrust. */
#define KT_GENL_OPEN_OR_SKIP(g) do {						\
	int __r = kt_genl_open(g);						\
	if (__r == -ENOENT)							\
		KT_SETUP_SKIP("generic netlink family '%s' not registered",	\
			      KVMTRUST_GENL_NAME);				\
	ASSERT_EQ(0, __r) TH_LOG("cannot open generic netlink: %s", strerror(-__r)); \
} while (0)

/*
 * FIXTURE_SETUP of the tests that drive selftests/vmm: a seeded VMM with
 * two vCPUs in a process of its own, attached as `kvmtrust --pid` does.
 */
#define KT_VMM_SETUP(g, v, vm_id) do {						\
	uint32_t __seed = kt_seed_from_env();					\
	int __ret;								\
	KT_KVM_OR_SKIP();							\
	KT_GENL_OPEN_OR_SKIP(g);						\
	TH_LOG("seed %u (KT_SEED=%u reproduces)", __seed, __seed);		\
	ASSERT_EQ(0, kt_vmm_start(v, __seed, "--vcpus 2"));			\
	__ret = kt_vmm_attach(v, g, vm_id);					\
	ASSERT_EQ(0, __ret) TH_LOG("attach: %s, extack '%s'", strerror(-__ret),	\
				   (g)->extack);				\
} while (0)

/* A refusal: the errno and the extack text the kernel gave with it. */
#define ASSERT_REFUSED(g, ret, err, text) do {					\
	int __got = (ret);							\
	ASSERT_EQ(-(err), __got) TH_LOG("got %d (%s), extack '%s'; want %s",	\
				       __got, strerror(-__got), (g)->extack, #err); \
	ASSERT_NE(NULL, strstr((g)->extack, (text)))				\
		TH_LOG("extack '%s' does not say '%s'", (g)->extack, (text));	\
} while (0)

#define ASSERT_HASH_EQ(a, b) ASSERT_EQ(0, memcmp((a), (b), KVMTRUST_HASH_LEN))
#define ASSERT_HASH_NE(a, b) ASSERT_NE(0, memcmp((a), (b), KVMTRUST_HASH_LEN))
#define EXPECT_HASH_EQ(a, b) EXPECT_EQ(0, memcmp((a), (b), KVMTRUST_HASH_LEN))

#endif
