/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --domain NAME: a libvirt domain's UUID, asked of libvirt through its API
 * on the default read-only connection ($LIBVIRT_DEFAULT_URI, else libvirt's
 * own default, qemu:///system for root).
 */
#ifndef KVMTRUST_VM_DOMAIN_H
#define KVMTRUST_VM_DOMAIN_H

#include "common/uuid.h"

/*
 * Returns an exit status (message printed on failure): KT_EXIT_NOT_FOUND
 * for no such domain, KT_EXIT_UNAVAILABLE when libvirt cannot be reached.
 */
int vm_domain_uuid(const char *name, char uuid[KT_UUID_STR_LEN + 1]);

#endif
