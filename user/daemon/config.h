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
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/merkle.h"
#include "common/uuid.h"
#include "policy/runtime.h"

#define KTD_CONFIG_DEFAULT "/etc/kvmtrust/kvmtrustd.conf"
#define KTD_SOCKET_DEFAULT "/run/kvmtrust/kvmtrustd.sock"
#define KTD_INTERVAL_DEFAULT 5
#define KTD_NAME_MAX 64
#define KTD_STATE_DIR_DEFAULT "/var/lib/kvmtrust"
#define KTD_MIN_GAP_MS_DEFAULT 1000
#define KTD_MAX_MSRS 8			/* KTD_BPF_MAX_MSRS */
#define KTD_DISCOVER_MAX_DEFAULT 16	/* discovered guests attested at most */
#define KTD_DISCOVER_MAX_LIMIT 256
#define KTD_LIBVIRT_RUN_DIR_DEFAULT "/run/libvirt/qemu"
#define KTD_LIBVIRT_NAME_MAX 200
#define KTD_SOCK_PATH_MAX 107			/* sun_path, its NUL aside */
#define KTD_SESSION_TIMEOUT_DEFAULT 600		/* seconds a receive session may take */
#define KTD_INCOMING_MAX 16			/* [vm] sections with incoming */

/* What to do when a result fails or the score falls below 75 or 50. */
enum ktd_action {
	KTD_ACT_LOG = 1u << 0,		/* a line on stderr (the journal) */
	KTD_ACT_HOOK = 1u << 1,		/* run `hook` with KVMTRUST_* in its environment */
	KTD_ACT_FREEZE = 1u << 2,	/* SIGSTOP the VMM; SIGCONT by hand resumes it */
	KTD_ACT_NONMIGRATABLE = 1u << 3, /* write state_dir/nonmigratable/UUID */
	KTD_ACT_ROLLBACK = 1u << 4,	/* on_fail only: restore the newest verified snapshot */
};
#define KTD_NR_ACTIONS 5

/* The configuration's names of the actions, by bit number. */
extern const char *const ktd_action_names[KTD_NR_ACTIONS];

enum ktd_action_event {
	KTD_ON_FAIL,
	KTD_ON_BELOW_75,		/* the score leaves "allow" (> 75) */
	KTD_ON_BELOW_50,		/* the score enters "deny" (< 50) */
	KTD_NR_ON,
};

struct ktd_vm_config {
	char name[KTD_NAME_MAX + 1];
	pid_t pid;				/* 0: found by uuid or libvirt */
	char uuid[KT_UUID_STR_LEN + 1];		/* "": read from the VMM's command line */
	char libvirt[KTD_LIBVIRT_NAME_MAX + 1];	/* a libvirt domain name or UUID, "": none */
	bool learn;				/* expect the first memory_root seen */
	kt_hash memory_root;			/* when !learn */
	bool has_policy;			/* policy = FILE, instead of memory_root */
	struct kt_rp_policy policy;		/* read at load (runtime.h) */
	/* A destination QEMU waiting with -S -incoming unix:incoming ([receive]). */
	char qmp[KTD_SOCK_PATH_MAX + 1];	/* "": not an incoming guest */
	char incoming[KTD_SOCK_PATH_MAX + 1];
	char token_out[KTD_SOCK_PATH_MAX + 1];	/* its new token on arrival, "": none */
};

/*
 * [receive]: kvmtrustd as the destination of verified migrations
 * (receive.h); the options of `kvmtrust migrate receive`. NULL: not given.
 */
struct ktd_receive_config {
	char *listen;				/* NULL: no [receive] section */
	char *key, *cert, *anchors, *crls, *aud;
	char *owner_crls, *host_anchors, *host_crls, *expect_config_root;
	unsigned int session_timeout;		/* seconds */
};

struct ktd_config {
	unsigned int interval;			/* seconds */
	char *ledger, *ledger_ca, *ledger_key, *ledger_cert;
	char *owner_anchors;			/* NULL: none (no register entries) */
	char *key_dir, *tcti;			/* NULL: the host key's defaults */
	char *socket;
	/* Triggers (bpf/kvmtrustd.bpf.c): 0 / empty = not loaded. */
	unsigned int doorbell_port;		/* I/O port the guest writes to ask */
	unsigned int event_cr_mask;		/* bit N: writes to CRn are events */
	uint32_t event_msrs[KTD_MAX_MSRS];
	size_t nr_event_msrs;
	unsigned int event_threshold;		/* events per trigger, default 1 */
	unsigned int trigger_min_gap_ms;	/* per-VM rate limit */
	/* Actions. */
	char *hook;				/* absolute path, NULL: none */
	char *state_dir;			/* reports/ and nonmigratable/ */
	char *snapshot_store;			/* the rollback action's store */
	unsigned int actions[KTD_NR_ON];	/* enum ktd_action bits */
	/* Guests: discovered ones (discover.c) besides those of the [vm] sections. */
	bool discover;
	unsigned int discover_max;
	struct kt_rp_policy discover_policy;	/* what a discovered guest must hold */
	char *libvirt_run_dir;			/* libvirt's status XML files (libvirt.c) */
	struct ktd_receive_config recv;
	struct ktd_vm_config *vms;
	size_t nr_vms;
};

/* 0, or -1 with err naming the file and line ("FILE:LINE: ..."). */
int ktd_config_load(const char *path, struct ktd_config *c, struct kt_err *err);
void ktd_config_free(struct ktd_config *c);

#endif
