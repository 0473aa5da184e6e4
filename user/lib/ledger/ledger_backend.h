/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Storage behind the trust ledger. A backend stores opaque entry blobs by
 * index and one head record, and offers exactly one write: "append this
 * entry and replace the head, if the head is still the one I read". That
 * compare-and-swap is what keeps concurrent writers (processes on one host
 * for SQLite, hosts for etcd) from forking the log; ledger.c builds,
 * signs and retries around it and never trusts what a backend returns
 * without checking it.
 */
#ifndef KVMTRUST_LEDGER_BACKEND_H
#define KVMTRUST_LEDGER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ledger/ledger.h"

/* Results of append besides 0 and -1. */
#define KT_LEDGER_CONFLICT 1	/* head moved on: re-read and retry */
#define KT_LEDGER_UNKNOWN 2	/* the write may or may not have happened */

/* Called for each queued item in key order; non-zero stops the scan. */
typedef int (*kt_ledger_queue_fn)(const char *key, const uint8_t *data, size_t len, void *arg);

/* Called for each stored entry in index order; non-zero stops the scan. */
typedef int (*kt_ledger_scan_fn)(uint64_t index, const uint8_t *data, size_t len,
				 void *arg);

struct kt_ledger_backend {
	const char *name;
	/*
	 * Head record (NULL, 0 when the log is empty) and the version token
	 * the next append must quote.
	 */
	int (*head)(struct kt_ledger_backend *b, uint8_t **rec, size_t *len,
		    uint64_t *version, struct kt_err *err);
	/* Entry blob; -1 with check "missing" when there is none. */
	int (*get)(struct kt_ledger_backend *b, uint64_t index, uint8_t **data,
		   size_t *len, struct kt_err *err);
	/* Entries with from <= index < to, in order. */
	int (*scan)(struct kt_ledger_backend *b, uint64_t from, uint64_t to,
		    kt_ledger_scan_fn fn, void *arg, struct kt_err *err);
	/*
	 * Also removes the queued items named in dequeue (ndequeue of them), in
	 * the same transaction; dropped (NULL: none) marks those the sequencer
	 * refused, whose batch a store that keeps them apart deletes too.
	 */
	int (*append)(struct kt_ledger_backend *b, uint64_t version, uint64_t index,
		      const uint8_t *entry, size_t entry_len, const uint8_t *head,
		      size_t head_len, const char *const *dequeue, const bool *dropped,
		      size_t ndequeue, struct kt_err *err);
	/*
	 * The queue of host batches waiting for a sequencer: items by key
	 * (printable, no '/'), put replacing any with that key (unless blob_get,
	 * below); the first max in key order; removal (without an append).
	 */
	int (*enqueue)(struct kt_ledger_backend *b, const char *key, const uint8_t *data,
		       size_t len, struct kt_err *err);
	int (*queue_scan)(struct kt_ledger_backend *b, size_t max, kt_ledger_queue_fn fn,
			  void *arg, struct kt_err *err);
	int (*dequeue)(struct kt_ledger_backend *b, const char *const *keys, const bool *dropped,
		       size_t n, struct kt_err *err);
	/*
	 * NULL, or the store keeps queued host batches apart, written once
	 * (etcd): enqueue writes the batch as a blob under its name, refusing
	 * (check "exists") a different batch under a name already taken, and
	 * a marker in the queue; queue_scan gives each marker's blob; append
	 * removes the markers and requires the blobs it was given to be
	 * unchanged; the blobs it integrates stay, and a sequencer's entry
	 * references them (version 4); those it dropped go with their markers. blob_get reads one, -1 with check "missing" if absent.
	 */
	int (*blob_get)(struct kt_ledger_backend *b, const char *name, uint8_t **data,
			size_t *len, struct kt_err *err);
	void (*close)(struct kt_ledger_backend *b);
};

/*
 * READ and WRITE open only a ledger that was created (the SQLite tables, the
 * etcd format key) and fail with check "no-ledger" otherwise; READ opens
 * it read-only. CREATE makes a new one and refuses, with check "exists",
 * to touch anything already there.
 */
struct kt_ledger_backend *kt_ledger_sqlite_open(const char *path, enum kt_ledger_mode mode,
						struct kt_err *err);
struct kt_ledger_backend *kt_ledger_etcd_open(const char *endpoints, enum kt_ledger_mode mode,
					      struct kt_err *err);

#endif
