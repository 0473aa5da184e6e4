/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_FREEZE_H
#define _KVMTRUST_FREEZE_H

#include <linux/types.h>

struct kvmtrust_vm;

/*
 * One freeze of a VM's process (KVMTRUST_MEASURE_F_FREEZE), owned by the
 * measurement that asked for it: kvmtrust_freeze() stops the process,
 * kvmtrust_thaw() continues it, and every path out of the measurement
 * passes through the thaw (Documentation/measurement.rst, "Freeze").
 */
struct kvmtrust_freeze {
	struct kvmtrust_vm *vm;
	bool stopped;		/* this freeze sent the SIGSTOP */
	u64 start_ns;		/* when it was sent */
	u64 pause_ns;		/* SIGSTOP to SIGCONT, 0 if not ours */
};

/*
 * Stops the VM's process (unless it is already stopped) and waits until
 * every one of its threads has stopped. On failure the process is already
 * continued again and *msg says why.
 */
int kvmtrust_freeze(struct kvmtrust_freeze *fz, struct kvmtrust_vm *vm,
		    const char **msg);
/*
 * Continues the process if this freeze stopped it, whatever happened in
 * between. Returns -EBUSY (and *msg) if the stop did not last the whole
 * measurement: somebody else continued the process meanwhile.
 */
int kvmtrust_thaw(struct kvmtrust_freeze *fz, const char **msg);

#endif
