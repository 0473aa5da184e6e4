/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VM's history in a verified log, with what proves it: the entries about
 * the VM (attestations, batched results, moves, rollbacks; with
 * KT_HISTORY_REGISTER its register entries, with KT_HISTORY_REVOCATIONS the
 * revoke and compromise entries that name it, one of its grants
 * ("grant:<uuid>") or a host it ran on), the signed head the walk ended
 * at and every leaf hash up to it, from which inclusion and consistency
 * proofs are cut. Shared by `ledger provenance` and `evidence export`.
 */
#ifndef KVMTRUST_LEDGER_HISTORY_H
#define KVMTRUST_LEDGER_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "ledger/batch.h"
#include "ledger/ledger.h"

struct kt_history_entry {
	uint64_t index, time;
	uint8_t kind, result;
	uint8_t host[KT_UUID_LEN];
	kt_hash report;
	char vm_id[KT_LEDGER_VM_MAX + 1];
	char detail[KT_LEDGER_DETAIL_MAX + 1];
	bool in_batch;
	uint32_t batch_no, record_no;
};

enum {
	KT_HISTORY_REGISTER = 1 << 0,
	KT_HISTORY_REVOCATIONS = 1 << 1,
};

struct kt_history {
	char vm[KT_UUID_STR_LEN + 1];
	unsigned int flags;
	struct kt_history_entry *e;	/* in log order */
	size_t n, cap;
	uint64_t size;			/* entries under the signed head */
	kt_hash root;
	struct kt_ledger_sth sth;	/* points into head */
	uint8_t *head;			/* u16 length, then the signed tree head */
	kt_hash *leaves;		/* size leaf hashes */
	/* The tree's levels above the leaves, for proofs in O(log size). */
	kt_hash *level[KT_MERKLE_MAX_PROOF];
	uint64_t level_n[KT_MERKLE_MAX_PROOF];
	unsigned int levels;
};

/*
 * Walks (verifies) the log, gathering vm's entries, then reads the head and
 * the leaves. Fails with check "vm" when the log holds no entry about the
 * VM, "head" when the log grew during the walk.
 */
int kt_history_read(struct kt_ledger *log, const char *vm, unsigned int flags,
		    struct kt_history *h, struct kt_err *err);
void kt_history_free(struct kt_history *h);

/*
 * The RFC 9162 inclusion path of entry index in the signed head's tree
 * (what kt_merkle_inclusion_proof() gives, read off the kept levels): its
 * length, or -1 when index is not under the head.
 */
int kt_history_prove(const struct kt_history *h, uint64_t index, kt_hash *proof);

/*
 * A batched result's own proof (he->in_batch): the batch entry's encoding
 * without its body (span bytes of raw: what its leaf hashes), the host
 * batch's signed header (b, whose records point into raw) and its path
 * among the entry's k headers to the entry's measurement field, and the
 * record's path to the batch's root.
 */
struct kt_history_batch_proof {
	uint8_t *raw;			/* the stored entry, body included */
	size_t span;
	struct kt_ledger_entry e;	/* decoded, pointing into raw */
	struct kt_batch b;
	uint32_t k;
	kt_hash header_path[KT_MERKLE_MAX_PROOF];
	size_t header_plen;
	kt_hash record_path[KT_MERKLE_MAX_PROOF];
	size_t record_plen;
	const uint8_t *record;		/* KT_BATCH_RECORD_LEN bytes */
};

int kt_history_batch_proof(struct kt_ledger *log, const struct kt_history_entry *he,
			   struct kt_history_batch_proof *p, struct kt_err *err);
void kt_history_batch_proof_free(struct kt_history_batch_proof *p);

#endif
