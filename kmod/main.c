// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust: measures running KVM guests (memory and vCPU state) into Merkle
 * roots, driven over the generic netlink family "kvmtrust".
 */
#include <linux/module.h>
#include <net/genetlink.h>
#include <uapi/linux/kvmtrust.h>

#include "merkle.h"
#include "netlink.h"
#include "vm.h"

static int __init kvmtrust_init(void)
{
	int err;

	err = kvmtrust_merkle_init();
	if (err)
		return err;
	err = kvmtrust_vm_init();
	if (err)
		goto err_merkle;
	err = kvmtrust_genl_init();
	if (err)
		goto err_vm;
	pr_info("version %s, hashing with %s\n", KVMTRUST_VERSION,
		kvmtrust_hash_driver());
	return 0;

err_vm:
	kvmtrust_vm_exit();
err_merkle:
	kvmtrust_merkle_exit();
	return err;
}

static void __exit kvmtrust_exit(void)
{
	kvmtrust_genl_exit();
	kvmtrust_vm_exit();
	kvmtrust_merkle_exit();
}

module_init(kvmtrust_init);
module_exit(kvmtrust_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Measures running KVM guests over generic netlink");
MODULE_VERSION(KVMTRUST_VERSION);
MODULE_ALIAS_GENL_FAMILY(KVMTRUST_GENL_NAME);
/* The SIMD SHA-256 drivers (merkle.c also asks for them by name). */
MODULE_SOFTDEP("pre: sha256_ssse3");
