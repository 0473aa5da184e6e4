/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pausing a guest for a consistent capture, in one place so that it can
 * become `kvmtrust measure --freeze` (the module's own SIGSTOP) later.
 *
 * QEMU (a QMP socket given): "stop", and "cont" on resume only if it was
 * running. Any other VMM: SIGSTOP, waiting until every thread is stopped,
 * and SIGCONT on resume. While paused, SIGINT, SIGTERM, SIGHUP and SIGQUIT
 * are blocked, so an interrupted command still reaches its resume (or, for
 * a rollback, its decision to stay frozen); they act once unblocked. A
 * SIGKILL leaves the guest paused: never running half-done.
 */
#ifndef KVMTRUST_GUEST_PAUSE_H
#define KVMTRUST_GUEST_PAUSE_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/qmp.h"

struct guest_pause {
	pid_t pid;
	struct kt_qmp *qmp;	/* NULL: signals */
	bool paused;		/* by us */
	bool was_running;	/* QEMU: resume with "cont" */
	sigset_t saved;
};

int guest_pause(struct guest_pause *g, struct kt_err *err);
/* Continues the guest if this paused it; then unblocks the signals. */
int guest_resume(struct guest_pause *g, struct kt_err *err);
/* Leaves the guest paused (a failed rollback), unblocking the signals. */
void guest_stay_paused(struct guest_pause *g);

#endif
