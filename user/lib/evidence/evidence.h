/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Evidence bundles (Documentation/evidence.rst): one file that proves a
 * VM's history to someone with no access to the ledger. It holds the
 * ledger's signed tree head, the VM's entries (and the revocations that
 * concern it) each with its inclusion path, a consistency proof from the
 * tree the VM's first entry was written on to the head, the signing hosts'
 * certificate chains, CRLs, the migration grants move entries name and the
 * signed reports entries rest on. kt_evidence_verify() checks every byte
 * of it against trust anchors alone and names the first check that fails.
 */
#ifndef KVMTRUST_EVIDENCE_H
#define KVMTRUST_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ledger/history.h"
#include "ledger/ledger.h"

#define KT_EVIDENCE_MAGIC "KTEVIDNC"
#define KT_EVIDENCE_VERSION 2
#define KT_EVIDENCE_MAX (256u << 20)

enum kt_evidence_section {
	KT_EV_STH = 1,
	KT_EV_ENTRY = 2,
	KT_EV_CONSISTENCY = 3,
	KT_EV_CHAIN = 4,
	KT_EV_CRL = 5,
	KT_EV_GRANT = 6,
	KT_EV_REPORT = 7,
	KT_EV_BATCHED = 8,
};

struct kt_evidence_blob {
	const uint8_t *data;
	size_t len;
};

struct kt_evidence_inputs {
	const char *ledger_ca;			/* the ledger CA (file or directory) */
	const struct kt_evidence_blob *reports;	/* report files, as stored */
	size_t n_reports;
	/*
	 * Reports found in a directory (kvmtrustd's state_dir/reports): each
	 * carried only when an entry names its digest and it is not in the
	 * bundle already; the others are left out, not refused.
	 */
	const struct kt_evidence_blob *found;
	size_t n_found;
	const struct kt_evidence_blob *crls;	/* CRLs, DER */
	size_t n_crls;
	const char *const *grants;		/* compact JWS */
	size_t n_grants;
};

/*
 * Writes the bundle for h (kt_history_read() with KT_HISTORY_REVOCATIONS)
 * to a malloc'd *out. Refused (check "report", "grant") when a report
 * matches no entry's digest, a grant no move entry's detail, or a move
 * names a grant not given.
 */
int kt_evidence_export(struct kt_ledger *log, const struct kt_history *h,
		       const struct kt_evidence_inputs *in, uint8_t **out, size_t *len,
		       struct kt_err *err);

/* A run of the VM's entries on one host, in log order. */
struct kt_evidence_run {
	uint8_t host[KT_UUID_LEN];
	uint64_t from, to;		/* times of its first and last entry */
	uint64_t first_index, last_index;
};

struct kt_evidence_summary {
	char vm[KT_UUID_STR_LEN + 1];
	uint64_t size, head_time;
	kt_hash root;
	size_t entries, attests, moves, revocations, chains, crls, grants, reports;
	size_t batched;			/* results proven inside host batches */
	size_t reports_missing;		/* entries with a report digest and no report */
	size_t moves_without_grant;
	bool vm_revoked;
	uint64_t first_index, last_time;
	struct kt_evidence_run *runs;	/* where the VM ran: malloc'd, n_runs */
	size_t n_runs;
};

void kt_evidence_summary_free(struct kt_evidence_summary *s);

/*
 * Checks everything, in the order Documentation/evidence.rst lists, with
 * anchors (the ledger CA) and owner_anchors (grant signers; NULL: none, so
 * a bundle with a grant is refused). -1 with err naming the first failing
 * check.
 */
int kt_evidence_verify(const uint8_t *buf, size_t len, const char *anchors,
		       const char *owner_anchors, struct kt_evidence_summary *s,
		       struct kt_err *err);

#endif
