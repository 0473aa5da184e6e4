/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmtrustd.conf (Documentation/kvmtrustd.rst): "key = value" lines, global
 * first, then one "[vm NAME]" section per guest. Parsed strictly: an unknown
 * key, a repeated key, a bad value or a section without a guest is refused
 * with its line number, and nothing of the file is used.
 */
#ifndef KVMTRUSTD_CONFIG_H
#define KVMTRUSTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/merkle.h"
#include "common/uuid.h"

#define KTD_CONFIG_DEFAULT "/etc/kvmtrust/kvmtrustd.conf"
#define KTD_SOCKET_DEFAULT "/run/kvmtrust/kvmtrustd.sock"
#define KTD_INTERVAL_DEFAULT 5
#define KTD_NAME_MAX 64

struct ktd_vm_config {
	char name[KTD_NAME_MAX + 1];
	pid_t pid;				/* 0: found by uuid */
	char uuid[KT_UUID_STR_LEN + 1];		/* "": read from the VMM's command line */
	bool learn;				/* expect the first memory_root seen */
	kt_hash memory_root;			/* when !learn */
};

struct ktd_config {
	unsigned int interval;			/* seconds */
	char *ledger, *ledger_ca, *ledger_key, *ledger_cert;
	char *owner_anchors;			/* NULL: none (no register entries) */
	char *key_dir, *tcti;			/* NULL: the host key's defaults */
	char *socket;
	struct ktd_vm_config *vms;
	size_t nr_vms;
};

/* 0, or -1 with err naming the file and line ("FILE:LINE: ..."). */
int ktd_config_load(const char *path, struct ktd_config *c, struct kt_err *err);
void ktd_config_free(struct ktd_config *c);

#endif
