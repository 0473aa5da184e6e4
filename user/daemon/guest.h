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
	pid_t pid;				/* resolved VMM, 0 until found */
	char uuid[KT_UUID_STR_LEN + 1];		/* resolved name in the ledger */
	bool learned;				/* cfg.memory_root now holds the expectation */
	uint64_t rounds, passes, fails;
	uint8_t last_result;			/* KT_LEDGER_PASS/FAIL, NONE before any */
	time_t last_time;
	int score;				/* from the ledger after the last append; -1 unknown */
	uint64_t last_index;			/* ledger index of the last entry */
	kt_hash last_root, report_digest;
	char last_error[600];			/* why the last round did not append, "" if it did */
};

/* What every round needs, opened once per configuration. */
struct ktd_ctx {
	struct kt_hostkey *hk;
	struct kt_ledger *log;
	struct kt_ledger_auth *auth;
	struct kt_ledger_signer signer;
};

int ktd_ctx_open(const struct ktd_config *c, struct ktd_ctx *ctx, struct kt_err *err);
void ktd_ctx_close(struct ktd_ctx *ctx);

void ktd_guest_init(struct ktd_guest *g, const struct ktd_vm_config *cfg);

/*
 * One round for g: 0 when an entry (pass or fail) was appended, -1 when
 * the guest could not be measured, signed or recorded (g->last_error says
 * why; nothing was appended).
 */
int ktd_guest_attest(struct ktd_ctx *ctx, struct ktd_guest *g);

#endif
