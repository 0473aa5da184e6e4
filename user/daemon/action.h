/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kvmtrustd does with a result (Documentation/kvmtrustd.rst,
 * "Actions"): on a fail, and when the score leaves "allow" (falls to 75 or
 * below) or enters "deny" (falls below 50), the configured actions run:
 * log, hook, freeze, nonmigratable. The host-compromise rule of the score
 * (3 fails on one host in 24 h) appends a compromise entry for the host.
 */
#ifndef KVMTRUSTD_ACTION_H
#define KVMTRUSTD_ACTION_H

#include "config.h"
#include "guest.h"

/*
 * After a round of g that appended an entry: the events that fired (bit
 * 1 << enum ktd_action_event), their configured actions run.
 */
unsigned int ktd_actions_run(const struct ktd_config *c, struct ktd_ctx *ctx, struct ktd_guest *g);

/* "fail", "score-below-75", "score-below-50". */
const char *ktd_action_event_name(int event);

/*
 * Reaps finished children without waiting: each is offered to other first
 * (the daemon's receive sessions, which return true for theirs), the rest
 * are hooks.
 */
void ktd_actions_reap(bool (*other)(void *arg, pid_t pid, int status), void *arg);

/* The file whose presence marks the VM non-migratable: state_dir/nonmigratable/UUID. */
int ktd_nonmigratable_path(const struct ktd_config *c, const char *uuid, char *buf, size_t len);

#endif
