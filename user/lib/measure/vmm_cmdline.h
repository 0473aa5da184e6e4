/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VM's UUID as its VMM's command line gives it (QEMU's -uuid, our test
 * VMM's --uuid), and the processes that claim a UUID: how `kvmtrust --pid`
 * and kvmtrustd name a guest.
 */
#ifndef KVMTRUST_VMM_CMDLINE_H
#define KVMTRUST_VMM_CMDLINE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/uuid.h"

/* QEMU's command line is long (devices, drives); 256 KiB holds any sane one. */
#define KT_VMM_CMDLINE_MAX (256 * 1024)

/*
 * Reads process pid's command line into buf (KT_VMM_CMDLINE_MAX bytes):
 * 0 with the UUID; 1 with none (*bad is the value when it is not a UUID);
 * -errno when the process cannot be read.
 */
int kt_vmm_pid_uuid(pid_t pid, char *buf, char uuid[KT_UUID_STR_LEN + 1], const char **bad);

/*
 * The processes (up to max) whose command line names uuid, this one
 * excepted; buf as above.
 */
size_t kt_vmm_uuid_claims(const char *uuid, char *buf, pid_t *pids, size_t max);

#endif
