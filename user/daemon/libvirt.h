/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A [vm] named by its libvirt domain (libvirt = NAME or UUID), resolved
 * through libvirt's runtime status files, libvirt_run_dir/NAME.xml
 * (<domstatus pid='N'><domain><name/><uuid/>...), which libvirtd's QEMU
 * driver writes while the domain runs and removes when it stops: no
 * libvirtd connection is needed (Documentation/kvmtrustd.rst).
 */
#ifndef KVMTRUSTD_LIBVIRT_H
#define KVMTRUSTD_LIBVIRT_H

#include <stddef.h>
#include <sys/types.h>

#include "common/uuid.h"

/*
 * The running domain's QEMU process and UUID: 0, or -1 with why set (no
 * such domain, a file that cannot be read or is not a status file, a pid
 * that does not run, or runs a QEMU with another -uuid).
 */
int ktd_libvirt_resolve(const char *dir, const char *domain, pid_t *pid,
			char uuid[KT_UUID_STR_LEN + 1], char *why, size_t len);

#endif
