/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmtrustd's eBPF triggers (bpf/kvmtrustd.bpf.c): loads the programs on
 * KVM's tracepoints when the configuration asks for a doorbell or events,
 * keeps the set of watched VMMs (by tgid) and hands the daemon each trigger
 * the per-VM rate limit let through. Documentation/kvmtrustd.rst, "Triggers".
 */
#ifndef KVMTRUSTD_TRIGGER_H
#define KVMTRUSTD_TRIGGER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf/trigger.h"
#include "common/error.h"
#include "config.h"

struct ktd_triggers;

/* True when c asks for any BPF trigger (doorbell_port, event_cr or event_msr). */
bool ktd_triggers_wanted(const struct ktd_config *c);

/*
 * Loads and attaches the programs configured by c: 0 with *t set, or -1
 * with err naming what failed (no BTF, no kvm tracepoints, no privilege:
 * the daemon refuses to start rather than run without the triggers asked for).
 */
int ktd_triggers_open(const struct ktd_config *c, struct ktd_triggers **t, struct kt_err *err);
void ktd_triggers_close(struct ktd_triggers *t);

/* The ring buffer's fd, readable when triggers wait. */
int ktd_triggers_fd(const struct ktd_triggers *t);

/* Watches the VMM process tgid (idempotent; its counters are kept). */
int ktd_triggers_watch(struct ktd_triggers *t, pid_t tgid);

/* The BPF counters of tgid; false when it is not watched. */
bool ktd_triggers_stats(const struct ktd_triggers *t, pid_t tgid, struct ktd_bpf_vm *out);

typedef void (*ktd_trigger_fn)(void *arg, const struct ktd_bpf_trigger *trig);
/* Calls fn for each waiting trigger; the number consumed, or -1. */
int ktd_triggers_consume(struct ktd_triggers *t, ktd_trigger_fn fn, void *arg);

const char *ktd_trigger_name(unsigned int kind);

#endif
