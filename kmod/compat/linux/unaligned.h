/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Found only on kernels before 6.12, which keep the unaligned accessors in
 * <asm/unaligned.h>: Kbuild searches this directory after the kernel's own
 * include directories (kmod/compat.h).
 */
#ifndef _KVMTRUST_COMPAT_LINUX_UNALIGNED_H
#define _KVMTRUST_COMPAT_LINUX_UNALIGNED_H
#include <asm/unaligned.h>
#endif
