/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Restoring a guest of our own VMM to a verified snapshot, in one place for
 * kvmtrust rollback, verify --against --rollback and kvmtrustd's rollback
 * action (Documentation/snapshots.rst, "Restore ordering"): the guest is
 * paused, the pages whose leaves differ are written back, the registers set
 * through the module, and the module's own measurement must give the
 * snapshot's roots before the guest continues. From the first byte written
 * on, a failure leaves the guest frozen.
 */
#ifndef KVMTRUST_SNAPSHOT_RESTORE_H
#define KVMTRUST_SNAPSHOT_RESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "attest/report.h"
#include "common/error.h"
#include "measure/kt_nl.h"
#include "snapshot/snapshot.h"

#define KT_SNAP_DIFF_RANGES 8

/* Pages that differ from a snapshot: how many, and the first ranges. */
struct kt_snap_diff {
	uint64_t pages;
	struct { uint64_t gpa, end; } range[KT_SNAP_DIFF_RANGES];
	size_t nr;
};

/* What a restore did. */
struct kt_snap_restored {
	struct kt_measurement m;	/* the proving measurement (on success) */
	uint64_t pages_written;
	bool frozen;			/* failed after touching the guest: left stopped */
};

/* The VM's slots must be the snapshot's (the VMM's addresses aside): "layout". */
int kt_snap_same_layout(const struct kt_snapshot *s, const struct kt_memslot *slots, size_t nr,
			struct kt_err *err);

/*
 * Each guest page (read through /proc/PID/mem at the slots' addresses) whose
 * leaf differs from the snapshot's goes into diff; with write, the stored
 * page (read back checked against its leaf) is written over it.
 */
int kt_snap_diff_pages(const char *store, pid_t pid, const struct kt_snapshot *s,
		       const struct kt_memslot *slots, bool write, struct kt_snap_diff *diff,
		       struct kt_err *err);

/*
 * A full measurement of pid by the module, inside its freeze (the module
 * checks the stop itself; a process found stopped stays stopped), must give
 * s's roots exactly: 0, -EPERM ("proof") when it does not, or the
 * measurement's error.
 */
int kt_snap_prove(pid_t pid, const struct kt_snapshot *s, struct kt_measurement *m,
		  struct kt_err *err);

/*
 * Restores the guest of our own VMM (s->vmm "other", with vcpu registers)
 * in process pid, VM vm_id on nl, to s, which the caller verified. 0 when
 * proven and continued, else a negative errno; kt_snap_refusal(err) tells
 * a refusal (the snapshot does not fit, or the proof failed) from an error. out->frozen says the guest
 * was left stopped (any failure after the first page written).
 */
int kt_snap_restore_vmm(const char *store, struct kt_nl *nl, uint32_t vm_id, pid_t pid,
			const struct kt_snapshot *s, struct kt_snap_restored *out,
			struct kt_err *err);

/*
 * The ids of vm_id's snapshots in the store, newest first (ids start with
 * the time); a snapshot whose manifest does not load is left out (it can
 * never verify). *nr 0: none.
 */
int kt_snap_list_vm(const char *store, const char *vm_id, char ***ids, size_t *nr,
		    struct kt_err *err);

/*
 * The newest snapshot of vm_id that kt_snap_verify() accepts with policy,
 * into s: 0, or -1 with err saying why none does (the newest one's failure
 * when every one fails, "snapshot" when there is none). *skipped counts the
 * newer snapshots that failed verification.
 */
int kt_snap_newest_verified(const char *store, const char *vm_id,
			    const struct kt_report_policy *policy, struct kt_snapshot *s,
			    size_t *skipped, struct kt_err *err);

/* err names a refusal of the restore (vcpus, layout, proof), not an error. */
bool kt_snap_refusal(const struct kt_err *err);

/* SHA-256 of snapshot id's report.jws bytes: the ledger names this evidence. */
int kt_snap_report_digest(const char *store, const char *id, kt_hash out, struct kt_err *err);

#endif
