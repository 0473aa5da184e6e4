/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One configured guest and its last result: resolving it to its VMM
 * process and UUID, and one attestation round (measure through
 * kvmtrust.ko, compare with the policy, sign a report with the host key,
 * append pass or fail to the ledger, read the score back).
 */
#ifndef KVMTRUSTD_GUEST_H
#define KVMTRUSTD_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "attest/hostkey.h"
#include "config.h"
#include "ledger/ledger.h"

struct ktd_guest {
	struct ktd_vm_config cfg;
	bool discovered;			/* found by discover.c, not in a [vm] section */
	unsigned long long start_time;		/* discovered: the VMM's, against pid reuse */
	pid_t pid;				/* resolved VMM, 0 until found */
	char uuid[KT_UUID_STR_LEN + 1];		/* resolved name in the ledger */
	bool learned;				/* cfg.memory_root now holds the expectation */
	uint64_t rounds, passes, fails;
	uint8_t last_result;			/* KT_LEDGER_PASS/FAIL, NONE before any */
	time_t last_time;
	int score;				/* from the ledger after the last append; -1 unknown */
	uint64_t last_index;			/* ledger index of the last entry */
	kt_hash last_root, report_digest;
	char report_path[4096];			/* the last signed report, "" before any */
	char failed_range[64];			/* the policy range that failed, "" on pass */
	char last_error[600];			/* why the last round did not append, "" if it did */
	int prev_score;				/* before the last append; -1 unknown */
	/* Triggers: what started each round, and how long it waited. */
	unsigned int last_trigger;		/* enum ktd_trigger_kind */
	uint64_t triggered[5];			/* rounds started, per enum ktd_trigger_kind */
	bool pending;				/* a trigger waits for its round */
	unsigned int pending_kind;
	uint64_t pending_ns;			/* CLOCK_MONOTONIC of the (first) waiting trigger */
	uint64_t lat_n, lat_last_us, lat_min_us, lat_max_us, lat_sum_us;
	bool frozen;				/* stopped by the freeze action */
	bool host_compromised;			/* per the score rules, after the last append */
	uint8_t host_id[KT_UUID_LEN];		/* the host the ledger has the VM on */
	/* cfg.incoming: awaiting until a receive session verified its arrival (receive.h). */
	bool awaiting;
	char received[300];			/* the last session's outcome for it, "": none */
};

/* What every round needs, opened once per configuration. */
struct ktd_ctx {
	struct kt_hostkey *hk;
	struct kt_ledger *log;
	struct kt_ledger_auth *auth;
	struct kt_ledger_signer signer;
	const char *libvirt_run_dir;		/* the configuration's */
	bool host_flagged;			/* a compromise entry was appended for: */
	uint8_t flagged_host[KT_UUID_LEN];
};

int ktd_ctx_open(const struct ktd_config *c, struct ktd_ctx *ctx, struct kt_err *err);
void ktd_ctx_close(struct ktd_ctx *ctx);

void ktd_guest_init(struct ktd_guest *g, const struct ktd_vm_config *cfg);

/*
 * One round for g, started by a trigger of kind (enum ktd_trigger_kind)
 * raised at trigger_ns (CLOCK_MONOTONIC; 0 for the timer and requests,
 * whose latency is not counted): 0 when an entry (pass or fail) was
 * appended, -1 when the guest could not be measured, signed or recorded
 * (g->last_error says why; nothing was appended). The signed report is
 * kept in report_dir.
 */
int ktd_guest_attest(struct ktd_ctx *ctx, struct ktd_guest *g, const char *report_dir,
		     unsigned int kind, uint64_t trigger_ns);

/*
 * The VMM of a guest named by libvirt (cfg.libvirt): 0 with *pid set, or
 * -1 with g->last_error set.
 */
int ktd_guest_libvirt_pid(const struct ktd_ctx *ctx, struct ktd_guest *g, pid_t *pid);

/* CLOCK_MONOTONIC in nanoseconds, the clock of bpf_ktime_get_ns(). */
uint64_t ktd_now_ns(void);

#endif
