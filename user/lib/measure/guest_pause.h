/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pausing a guest for a capture or a restore that spans several steps
 * (snapshot save, rollback, verify --against, kvmtrustd's rollback action).
 * The module's freeze (KVMTRUST_MEASURE_F_FREEZE) lasts one measurement, so
 * the stop is ours; the measurements inside it pass F_FREEZE, and the
 * module checks the stop itself and leaves the process stopped.
 *
 * QEMU (a QMP socket given): "stop", and "cont" on resume only if it was
 * running. Any other VMM: SIGSTOP, waiting until every thread is stopped,
 * and SIGCONT on resume. While paused, SIGINT, SIGTERM, SIGHUP and SIGQUIT
 * are blocked, so an interrupted command still reaches its resume (or, for
 * a rollback, its decision to stay frozen); they act once unblocked. A
 * SIGKILL leaves the guest paused: never running half-done.
 */
#ifndef KVMTRUST_MEASURE_GUEST_PAUSE_H
#define KVMTRUST_MEASURE_GUEST_PAUSE_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/qmp.h"

struct kt_guest_pause {
	pid_t pid;
	struct kt_qmp *qmp;	/* NULL: signals */
	bool paused;		/* by us */
	bool was_running;	/* QEMU: resume with "cont" */
	sigset_t saved;
};

int kt_guest_pause(struct kt_guest_pause *g, struct kt_err *err);
/* Continues the guest if this paused it; then unblocks the signals. */
int kt_guest_resume(struct kt_guest_pause *g, struct kt_err *err);
/* Leaves the guest paused (a failed rollback), unblocking the signals. */
void kt_guest_stay_paused(struct kt_guest_pause *g);

#endif
