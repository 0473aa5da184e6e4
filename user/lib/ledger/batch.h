/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-host batches of VM results (Documentation/ledger.rst, "Batches").
 *
 * A host collects its VMs' results for one interval and seals them into a
 * host batch: the records, an RFC 9162 Merkle root over them, and the
 * host's ES256 signature over a header naming the host, the interval's
 * time, the count and the root. One ledger entry of kind batch carries one
 * or more host batches (one when a host appends its own, many when a
 * sequencer integrates a queue of them in one log append); its
 * measurement field is the RFC 9162 root over the host batches' headers,
 * so the entry's signature covers them all while each batch stays signed
 * by its own host.
 *
 * A VM result is proven by the record's inclusion in its batch's root,
 * the batch header's inclusion in the entry's root, and the entry's
 * inclusion in the log: each an RFC 9162 audit path.
 *
 * Layout of a host batch, integers big-endian:
 *
 *   0       1    version: 1 software key, 2 TPM key (with a quote, below)
 *   1       16   host UUID, binary
 *   17      8    time: end of the interval, seconds since the epoch, UTC
 *   25      4    N, number of records (1..KT_BATCH_MAX)
 *   29      32   root: RFC 9162 root over the N record leaves
 *   61      2    C, certificate length; 63 C the host's certificate, DER
 *   63+C    64   ES256 signature (r || s) over bytes [0, 63+C)
 *   127+C   N x 121  records:
 *             0 16 VM UUID | 16 1 result (1 pass, 2 fail) | 17 32 report
 *             digest | 49 32 memory root | 81 32 vCPU root (zeros: none)
 *             | 113 8 check: the first 8 bytes of the record's leaf hash
 *
 * The record's leaf is RFC 9162's hash of bytes [0, 113) of it; the check
 * bytes only let a verifier name which record changed.
 *
 * Version 2 (the signer's key is in a TPM) has, between the certificate
 * and the signature, the TPM's quote over the batch:
 *
 *   63+C    1    PCR index P (0..23)
 *   64+C    32   PCR P's value before the extend
 *   96+C    2    A; 98+C A the quote, marshalled TPMS_ATTEST
 *   98+C+A  2    S; 100+C+A S its signature, marshalled TPMT_SIGNATURE
 *   100+C+A+S 64 ES256 signature over bytes [0, 100+C+A+S)
 *
 * and the records after that. The quote digest is SHA-256 of bytes
 * [0, 61) (version, host, time, N, root): the TPM extended PCR P with it
 * and quoted P with it as qualifying data, as for a report's quote.
 */
#ifndef KVMTRUST_LEDGER_BATCH_H
#define KVMTRUST_LEDGER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "common/merkle.h"
#include "common/uuid.h"
#include "ledger/ledger.h"

#define KT_BATCH_VERSION 1		/* software key, no quote */
#define KT_BATCH_VERSION_TPM 2		/* TPM key, quote over the root */
#define KT_BATCH_HEADER_FIXED 63
#define KT_BATCH_QUOTED 61		/* bytes [0, 61): what the quote digest hashes */
#define KT_BATCH_QUOTE_MAX 1024		/* bytes of a quote or of its signature */
#define KT_BATCH_RECORD_LEN 113		/* what the leaf hashes */
#define KT_BATCH_CHECK_LEN 8
#define KT_BATCH_RECORD_STRIDE (KT_BATCH_RECORD_LEN + KT_BATCH_CHECK_LEN)
#define KT_BATCH_MAX 100000		/* records in one host batch */
#define KT_BATCH_ENTRY_MAX 4096		/* host batches in one entry */

struct kt_batch_result {
	char vm_id[KT_UUID_STR_LEN + 1];
	uint8_t result;			/* KT_LEDGER_PASS or KT_LEDGER_FAIL */
	kt_hash report;			/* SHA-256 of the signed report; zeros: none */
	kt_hash memory_root;
	kt_hash vcpu_root;
};

/* A parsed host batch; pointers into the buffer it was parsed from. */
struct kt_batch {
	const uint8_t *raw;
	size_t len;			/* the whole batch, records included */
	size_t header_len;		/* bytes [0, header_len): the signed header and signature */
	uint8_t host_id[KT_UUID_LEN];
	uint64_t time;
	uint32_t n;
	kt_hash root;
	const uint8_t *cert;
	size_t cert_len;
	const uint8_t *sig;
	const uint8_t *records;		/* n x KT_BATCH_RECORD_STRIDE */
	uint8_t version;
	/* Version 2 only: the quote's fields (pointers into raw). */
	unsigned int pcr;
	const uint8_t *pcr_prev;
	const uint8_t *quote;
	size_t quote_len;
	const uint8_t *quote_sig;
	size_t quote_sig_len;
};

/* One record's bytes [0, KT_BATCH_RECORD_LEN); -1 for a VM that is not a UUID or a bad result. */
int kt_batch_record_encode(const struct kt_batch_result *r, uint8_t *out);
int kt_batch_record_decode(const uint8_t *rec, struct kt_batch_result *r);

/*
 * Seals results into a host batch signed by `signer` for host_id at time:
 * a malloc'd buffer in the layout above. The same VM twice is refused. A
 * signer with a quote() writes version 2 with its quote, any other
 * version 1.
 */
int kt_batch_seal(const struct kt_ledger_signer *signer, const uint8_t host_id[KT_UUID_LEN],
		  uint64_t time, const struct kt_batch_result *r, size_t n, uint8_t **out,
		  size_t *len, struct kt_err *err);

/* The layout only (lengths, version, record fields); no signature or root checked. */
int kt_batch_parse(const uint8_t *p, size_t len, struct kt_batch *b, struct kt_err *err);

/*
 * The records against the root: every record's check bytes, then the
 * root. Names the first bad record ("result 3 (VM ...): ...").
 */
int kt_batch_check_root(const struct kt_batch *b, struct kt_err *err);

/*
 * A host batch's header alone (bytes [0, header_len): header and
 * signature, no records): b->records is NULL. What a batched result's
 * proof carries.
 */
int kt_batch_header_parse(const uint8_t *p, size_t len, struct kt_batch *b, struct kt_err *err);

/*
 * A version 2 batch's quote against `pub`, the certified key that signed
 * the batch: a TPM quote by that key of the PCR the batch names, whose
 * value is the one before extended with the quote digest, with the quote
 * digest as qualifying data. Refusals name the check "batch-quote" (a
 * missing quote included). A version 1 batch has none and passes.
 */
int kt_batch_check_quote(const struct kt_batch *b, EVP_PKEY *pub, struct kt_err *err);

/*
 * The header's signer: a host under auth at the batch's time, the host the
 * header names, for version 2 the quote by the same key, then its ES256
 * signature ("authorization", "batch-quote", "signature").
 */
struct kt_ledger_auth;
int kt_ledger_batch_signed(struct kt_ledger_auth *auth, const struct kt_batch *b,
			   struct kt_err *err);

/* Record i as a result; its leaf hash. */
int kt_batch_result_at(const struct kt_batch *b, uint32_t i, struct kt_batch_result *r);
void kt_batch_record_leaf(const struct kt_batch *b, uint32_t i, kt_hash leaf);
/* The leaf of the batch in its entry's tree: RFC 9162 leaf hash of the header. */
void kt_batch_header_leaf(const struct kt_batch *b, kt_hash leaf);

/* Audit path of record i in the batch root. */
int kt_batch_prove(const struct kt_batch *b, uint32_t i, kt_hash *proof, size_t *proof_len);

/*
 * A kind batch entry's body: u32 K, then K times (u32 length, host batch).
 * root gets the RFC 9162 root over the K header leaves.
 */
int kt_batch_body_encode(const uint8_t *const *batches, const size_t *lens, size_t k,
			 uint8_t **out, size_t *len, kt_hash root, struct kt_err *err);
/*
 * Walks a body: *off starts at 0; 0 with the next batch parsed, 1 at the
 * end, -1 malformed.
 */
int kt_batch_body_next(const uint8_t *body, size_t len, size_t *off, struct kt_batch *b,
		       struct kt_err *err);
/* K, the header leaves and their root; -1 malformed. leaves may be NULL. */
int kt_batch_body_root(const uint8_t *body, size_t len, uint32_t *k, kt_hash *leaves,
		       kt_hash root, struct kt_err *err);

/*
 * A batch entry whose host batches are stored apart (entry format version
 * 4, Documentation/ledger.rst "Batches stored once"): its stored body is
 * u32 K, then K references of KT_BATCH_REF_LEN bytes: host UUID (16),
 * time (8, big-endian), SHA-256 of the whole host batch (32). Each host
 * batch is a blob of its own in the store, named by kt_batch_name().
 */
#define KT_BATCH_REF_LEN 56
#define KT_BATCH_NAME_LEN (2 * KT_UUID_LEN + 1 + 16)

/* "<host hex>-<time hex>": a host batch's queue and blob name. */
void kt_batch_name(const uint8_t host_id[KT_UUID_LEN], uint64_t time,
		   char name[KT_BATCH_NAME_LEN + 1]);

/* The references body of k host batches; root as kt_batch_body_encode() gives it. */
int kt_batch_refs_encode(const uint8_t *const *batches, const size_t *lens, size_t k,
			 uint8_t **out, size_t *len, kt_hash root, struct kt_err *err);

/*
 * Fetches a blob by name: 0 with a malloc'd copy; -1 with check "missing"
 * when there is none, any other check when the store cannot say.
 */
typedef int (*kt_batch_fetch_fn)(void *arg, const char *name, uint8_t **data, size_t *len,
				 struct kt_err *err);

/*
 * The body a references body stands for (u32 K, K x (u32 length, host
 * batch), as kt_batch_body_encode() writes it), each host batch fetched by
 * name and checked against its reference. Refused with check "batch-blob":
 * a blob missing, one naming another host or time, one whose digest
 * differs; where a changed blob still parses, the changed record is named
 * as kt_batch_check_root() names it (check "batch").
 */
int kt_batch_refs_expand(const uint8_t *refs, size_t len, kt_batch_fetch_fn fetch, void *arg,
			 uint8_t **body, size_t *body_len, struct kt_err *err);

/*
 * The daemon's builder: add each VM's result as it comes, flush once per
 * interval (kt_ledger_append_batch(), or kt_ledger_enqueue_batch() for a
 * sequencer). A VM added twice in one interval keeps its latest result.
 */
struct kt_batch_builder;
struct kt_batch_builder *kt_batch_builder_new(void);
void kt_batch_builder_free(struct kt_batch_builder *b);
int kt_batch_builder_add(struct kt_batch_builder *b, const struct kt_batch_result *r,
			 struct kt_err *err);
size_t kt_batch_builder_count(const struct kt_batch_builder *b);
/* Seals what was added (nothing: *out NULL) and starts the next interval. */
int kt_batch_builder_seal(struct kt_batch_builder *b, const struct kt_ledger_signer *signer,
			  const uint8_t host_id[KT_UUID_LEN], uint64_t time, uint8_t **out,
			  size_t *len, struct kt_err *err);

#endif
