/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A verifier's checkpoint: a signed tree head it verified, the frontier of
 * that tree (so the next check continues the tree and builds the RFC 9162
 * consistency proof without the old entries), and what every fold of the
 * log needs from the entries it covers, so those entries are neither read
 * nor re-verified again: the state folded per VM (score so far, last
 * result, placement, revocation) and per host (revocation, failures, last
 * batch time), and whole only the rare entries the folds look up by name
 * (register, revoke, compromise; and attestations of a VM id that is not a
 * UUID). Loading it costs O(VMs + hosts + those entries), not O(entries).
 *
 * The fold takes every entry, whatever its time: a check at a time earlier
 * than the latest entry folded (kt_checkpoint.tmax) cannot use it and walks
 * the whole log instead (kt_ledger_checkpoint_until()).
 *
 * The file (Documentation/ledger.rst, "Checkpoints") ends in a SHA-256 over
 * everything before it, which binds the facts to the head; it is written
 * through kt_file_write() with mode 0600, and loading refuses a file that
 * is not a regular file owned by root or by the reader, or that group or
 * others may access: whoever can write it decides what the old entries say.
 */
#ifndef KVMTRUST_LEDGER_CHECKPOINT_H
#define KVMTRUST_LEDGER_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/merkle.h"
#include "ledger/ledger.h"
#include "ledger/uuidmap.h"

#define KT_CHECKPOINT_DIR "/var/lib/kvmtrust"
#define KT_CHECKPOINT_FRONTIER_MAX 64

struct kt_checkpoint {
	uint64_t size;
	kt_hash root;
	unsigned int nf;
	kt_hash frontier[KT_CHECKPOINT_FRONTIER_MAX];
	uint8_t *sth;			/* the signed tree head verified, as stored */
	size_t sth_len;
	uint64_t tmax;			/* latest time of an entry folded */
	uint8_t *facts;			/* the entries kept whole, in log order */
	size_t facts_len, facts_cap;
	struct kt_ledger_vm_state *vms;	/* folded, in order of first entry */
	size_t nvms, vms_cap;
	struct kt_ledger_host_state *hosts;
	size_t nhosts, hosts_cap;
	struct kt_uuidmap vm_ix, host_ix;	/* UUID -> 1 + position in vms, hosts */
};

/*
 * Where a ledger's checkpoint lives by default: beside a SQLite ledger
 * ("PATH.checkpoint"), else $KVMTRUST_STATE_DIR (or KT_CHECKPOINT_DIR)
 * /checkpoint-<first 16 hex digits of SHA-256(spec)>. The variable lets a
 * test run keep its checkpoints apart from the host's: an etcd ledger built
 * again under the same spec is, to an old checkpoint, a rewritten history.
 */
void kt_checkpoint_default_path(const char *spec, char *out, size_t cap);

/*
 * Loads and checks the file (protection, layout, digest, facts, the ledger
 * it belongs to): *out NULL when there is none; -1 with check "checkpoint".
 */
int kt_checkpoint_load(const char *path, const char *spec, struct kt_checkpoint **out,
		       struct kt_err *err);
int kt_checkpoint_save(const char *path, const char *spec, const struct kt_checkpoint *cp,
		       struct kt_err *err);
void kt_checkpoint_free(struct kt_checkpoint *cp);

/* A copy of cp's folded state only (NULL: none), to extend with a walk's new entries. */
struct kt_checkpoint *kt_checkpoint_start(const struct kt_checkpoint *cp);
/* Folds a verified entry (in log order) into the state, or keeps it whole. */
int kt_checkpoint_add(struct kt_checkpoint *cp, const struct kt_ledger_entry *e);
/*
 * The kept entry at *off of the facts, as the folds see it (no measurement,
 * prev_root or signature; cert only for register entries): 0, 1 at the
 * end, -1 when malformed.
 */
int kt_checkpoint_next(const struct kt_checkpoint *cp, size_t *off, struct kt_ledger_entry *e);

#endif
