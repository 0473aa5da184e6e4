/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels kvmtrust.ko supports (Debian 12's 6.1 and
 * the 6.12 Debian ships for 12 and 13), kept here so the sources are written
 * against the newest API, as wireguard-linux-compat does. Kbuild includes
 * this file first in every object (-include), so no source includes it.
 * Headers an older kernel lacks live in kmod/compat/ (6.1: <linux/unaligned.h>,
 * moved from <asm/unaligned.h> in 6.12), searched after the kernel's own.
 */
#ifndef _KVMTRUST_COMPAT_H
#define _KVMTRUST_COMPAT_H

#include <linux/version.h>

/* 6.12 made struct fd opaque; fd_file() is its only accessor there. */
#if KERNEL_VERSION(6, 12, 0) > LINUX_VERSION_CODE
#define fd_file(f) ((f).file)
#endif

/* 6.5 dropped the vmas argument of get_user_pages_remote(). */
#if KERNEL_VERSION(6, 5, 0) > LINUX_VERSION_CODE
#include <linux/mm.h>
#define get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, locked) \
	get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL, locked)
#endif

/* 6.2 gave a dump's info a whole struct genl_info; 6.1 has its attrs only. */
#if KERNEL_VERSION(6, 2, 0) > LINUX_VERSION_CODE
#define genl_info_dump(cb) genl_dumpit_info(cb)
#endif

#endif /* _KVMTRUST_COMPAT_H */
