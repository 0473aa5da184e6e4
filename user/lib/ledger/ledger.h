/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The trust ledger: an append-only log of signed entries (attestation
 * results, VM host changes, host compromise flags, revocations, VM owner
 * registrations) kept as an RFC 9162 Merkle tree with signed tree heads,
 * inclusion and consistency proofs. Storage is a backend
 * (ledger_backend.h): SQLite on one host, etcd shared by several. A ledger
 * exists only once created (KT_LEDGER_CREATE, `kvmtrust ledger init`):
 * opening one that does not exist fails, so a mistyped name never reads as
 * an empty log.
 *
 * Every entry is signed ES256 by its writer and carries the writer's
 * certificate: a host under the ledger's CA, or for a register entry the
 * VM's owner under the owner trust anchors (ledger_auth.h). Each entry also commits to its position
 * and to the tree root before it, so an edited, reordered, dropped or
 * truncated log is caught by kt_ledger_verify(), which names the first bad
 * entry. The byte layout is in Documentation/ledger.rst and above
 * kt_ledger_entry_encode() in ledger.c.
 */
#ifndef KVMTRUST_LEDGER_H
#define KVMTRUST_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "common/merkle.h"
#include "common/uuid.h"

/*
 * Entry format versions. Version 2 added the register kind; version 3 added
 * the report digest and detail fields and the rollback kind. Every entry is
 * written in the oldest version that can hold it, so entries without the
 * new fields keep their version 1 or 2 bytes and old logs still verify.
 */
#define KT_LEDGER_VERSION 4		/* newest entry format read and written */
#define KT_LEDGER_STH_VERSION 1
#define KT_LEDGER_VM_MAX 64
#define KT_LEDGER_CERT_MAX 8192
#define KT_LEDGER_DETAIL_MAX 128

enum kt_ledger_kind {
	KT_LEDGER_ATTEST = 1,		/* attestation result of a VM on host_id */
	KT_LEDGER_MOVE = 2,		/* VM now runs on host_id */
	KT_LEDGER_COMPROMISE = 3,	/* host_id is flagged compromised */
	KT_LEDGER_REVOKE = 4,		/* vm_id, or else host_id, is revoked */
	KT_LEDGER_REGISTER = 5,		/* vm_id belongs to the signer, its owner (version 2) */
	KT_LEDGER_ROLLBACK = 6,		/* vm_id restored to a snapshot on host_id (version 3) */
	KT_LEDGER_BATCH = 7,		/* host batches of VM results (version 3, batch.h) */
};

enum kt_ledger_result {
	KT_LEDGER_NONE = 0,
	KT_LEDGER_PASS = 1,
	KT_LEDGER_FAIL = 2,
};

struct kt_ledger_entry {
	uint8_t kind;
	uint8_t result;
	uint64_t index;			/* position in the log, from 0 */
	uint64_t time;			/* seconds since the epoch, UTC */
	kt_hash prev_root;		/* root of the tree of the first `index` entries */
	uint8_t host_id[KT_UUID_LEN];
	kt_hash measurement;		/* attestation: measurement root; zero otherwise */
	char vm_id[KT_LEDGER_VM_MAX + 1];
	/*
	 * Version 3: SHA-256 of the signed report (or other evidence file) the
	 * entry rests on, zero for none; and a short printable note (the
	 * failing policy range, a snapshot id), empty for none.
	 */
	kt_hash report;
	char detail[KT_LEDGER_DETAIL_MAX + 1];
	const uint8_t *cert;		/* DER of the signer's certificate */
	size_t cert_len;
	uint8_t sig[64];		/* ES256 r || s over the encoding up to here */
	/*
	 * Not encoded: the host named by the signer's certificate (verified
	 * walks only; zero for an entry signed by an owner).
	 */
	uint8_t signer_id[KT_UUID_LEN];
	/*
	 * Not encoded: a batch entry's body (batch.h: the host batches), stored
	 * after its signature and bound to it by the measurement field, the
	 * root over the batches' headers.
	 */
	const uint8_t *body;
	size_t body_len;
	/*
	 * A batch entry in format version 4: its host batches are stored apart
	 * (batch.h, kt_batch_refs_expand()) and its stored body references
	 * them. Decoded entries always hold the host batches themselves.
	 */
	bool apart;
	/*
	 * Not encoded: walks visit a batch entry as its VM results, each an
	 * attest entry with the entry's index, the host batch's host, time and
	 * certificate, the memory root as measurement and the report digest;
	 * in_batch is then set and batch_no, record_no say where it sits.
	 */
	bool in_batch;
	uint32_t batch_no, record_no;
	/*
	 * Not encoded: a checkpoint's folded state, visited in place of the
	 * entries it covers (kinds KT_LEDGER_FOLDED_VM and _HOST only).
	 */
	const struct kt_ledger_vm_state *vm_state;
	const struct kt_ledger_host_state *host_state;
};

/*
 * Kinds a walk from a checkpoint visits and no entry has (the decoder
 * refuses them): one per VM and one per host of the checkpoint's folded
 * state (checkpoint.h), after the entries the checkpoint keeps whole.
 */
#define KT_LEDGER_FOLDED_VM 0xf0
#define KT_LEDGER_FOLDED_HOST 0xf1
#define KT_LEDGER_NO_INDEX UINT64_MAX

/* A VM's score state folded in log order (score.h: kt_score_vm_apply()). */
struct kt_ledger_vm_state {
	uint8_t vm[KT_UUID_LEN];
	uint8_t place[KT_UUID_LEN];	/* host of its latest attest, move or rollback */
	uint8_t host_id[KT_UUID_LEN];	/* the same, of the entries the score counts */
	bool placed, seen;		/* place set; an entry counted */
	uint8_t last_result;
	int score;
	uint64_t last_attest, last_time, last_index;
	uint64_t revoked;		/* first counted revoke of the VM, or KT_LEDGER_NO_INDEX */
	uint64_t steps;			/* entries folded into it */
};

struct kt_ledger_fail {
	uint64_t time, index;
};

/* A host's state folded in log order. */
struct kt_ledger_host_state {
	uint8_t host[KT_UUID_LEN];
	uint64_t revoked;		/* first counted revoke of the host, or KT_LEDGER_NO_INDEX */
	bool batched;
	uint64_t batch_time;		/* of its latest host batch */
	struct kt_ledger_fail *fails;	/* failed attestations on it, counted */
	size_t nfails, fails_cap;
};

/* Signed tree head (RFC 9162 section 4.10 in spirit, own byte layout). */
struct kt_ledger_sth {
	uint64_t size;
	uint64_t time;
	kt_hash root;
	const uint8_t *cert;
	size_t cert_len;
	uint8_t sig[64];
};

struct kt_ledger;
struct kt_ledger_auth;

/*
 * A signing identity: P-256 key and its certificate (DER).
 *
 * A key that is not an EVP_PKEY (the host's TPM key, attest/hostkey.h)
 * signs through sign(ctx, ...); key then holds its public key only. With
 * quote set too, the host batches it seals carry a TPM quote over their
 * root (batch.h, version 2): quote(ctx, digest, q) extends a PCR with digest
 * and quotes it with digest as qualifying data, as
 * kt_hostkey_extend_quote() does. kt_ledger_signer_free() frees key and
 * cert, never ctx.
 */
struct kt_quote;
struct kt_ledger_signer {
	EVP_PKEY *key;
	uint8_t *cert;
	size_t cert_len;
	int (*sign)(void *ctx, const void *msg, size_t len, uint8_t sig[64], struct kt_err *err);
	int (*quote)(void *ctx, const kt_hash digest, struct kt_quote *q, struct kt_err *err);
	void *ctx;
};

/* ES256 r || s over msg with the signer's key (sign() when set). */
int kt_ledger_signer_sign(const struct kt_ledger_signer *s, const void *msg, size_t len,
			  uint8_t sig[64], struct kt_err *err);

enum kt_ledger_mode {
	KT_LEDGER_READ,		/* an existing ledger, read-only: appends are refused */
	KT_LEDGER_WRITE,	/* an existing ledger, for appends too */
	KT_LEDGER_CREATE,	/* a new, empty ledger; refused when one exists there */
};

/*
 * Opens "sqlite:PATH" or "etcd:URL[,URL...][?prefix=NAME]"; any other spec, a bare path
 * included, is refused (check "spec"). A NULL spec takes $KVMTRUST_LEDGER,
 * then KT_LEDGER_DEFAULT. READ and WRITE fail with check "no-ledger" when
 * nothing was created there, and never create anything. auth may be NULL
 * for unverified reads (get, head, prove); append, verify and scoring need
 * it.
 */
#define KT_LEDGER_DEFAULT "sqlite:/var/lib/kvmtrust/ledger.db"
int kt_ledger_open(const char *spec, struct kt_ledger_auth *auth, enum kt_ledger_mode mode,
		   struct kt_ledger **out, struct kt_err *err);
void kt_ledger_close(struct kt_ledger *log);

/* Loads a PEM key and certificate for appending. */
int kt_ledger_signer_load(const char *key_path, const char *cert_path,
			  struct kt_ledger_signer *signer, struct kt_err *err);
/*
 * The certificate of s->key (set, private or public) from a PEM file, as
 * kt_ledger_signer_load() reads it; key_name names the key in errors. On
 * failure s is freed.
 */
int kt_ledger_signer_cert(struct kt_ledger_signer *s, const char *cert_path,
			  const char *key_name, struct kt_err *err);
void kt_ledger_signer_free(struct kt_ledger_signer *signer);

/*
 * The KT_LEDGER_ROLLBACK entry (format 3) of vm_id restored to snapshot
 * snap_id: the proven memory_root, the digest of the snapshot's report as
 * evidence, the snapshot id as detail, time now; host_id is left to
 * kt_ledger_append() (the signer's host). -1 when an id does not fit.
 */
int kt_ledger_rollback_entry(struct kt_ledger_entry *e, const char *vm_id, const char *snap_id,
			     const kt_hash memory_root, const kt_hash report_digest);

/*
 * Appends `e` (kind, result, time, host_id, measurement, vm_id filled by the
 * caller): sets index and prev_root from the current head, signs it and the
 * new tree head, and stores both atomically, retrying when another writer
 * got there first. On success *e holds the stored entry (cert points into
 * signer) and leaf_hash its Merkle leaf hash.
 *
 * VM ids are canonical UUIDs (a revocation may also name "grant:<uuid>").
 * A register entry is refused when the VM is registered already: check
 * "owner" when by another key, "registered" when by the signer's own; it
 * is stored only if no entry landed since the log was read for that check.
 */
int kt_ledger_append(struct kt_ledger *log, const struct kt_ledger_signer *signer,
		     struct kt_ledger_entry *e, kt_hash leaf_hash, struct kt_err *err);

/*
 * Appends one batch entry (kind batch) holding k host batches (batch.h),
 * signed by `signer`, a host: its own batch, or many when it sequences a
 * queue. Each host batch must verify (its host's certificate and
 * signature, its root) and be later than that host's last batch in the
 * log (check "replay"); a result for a VM the log places on another host
 * is refused (check "placement", naming the batch and the result). The
 * checks run against a verified walk of the log, and the entry is stored
 * only if nothing landed since (else the walk is redone). *e gets the
 * stored entry (its body is not kept).
 */
int kt_ledger_append_batch(struct kt_ledger *log, const struct kt_ledger_signer *signer,
			   const uint8_t *const *batches, const size_t *lens, size_t k,
			   struct kt_ledger_entry *e, kt_hash leaf_hash, struct kt_err *err);

/*
 * Queued host batches (the sequencer, Documentation/ledger.rst "Batches"):
 * a host puts its sealed batch in the ledger's queue; a sequencer takes up
 * to `max` queued batches, appends them as one batch entry and removes
 * them from the queue in the same store transaction. Queued batches the
 * log has already (or that fail their checks) are removed and counted in
 * *dropped, with the first reason in err->msg kept as a note. *taken is the
 * number integrated (0: nothing queued, no entry written).
 */
int kt_ledger_enqueue_batch(struct kt_ledger *log, const uint8_t *batch, size_t len,
			    struct kt_err *err);
int kt_ledger_integrate(struct kt_ledger *log, const struct kt_ledger_signer *signer,
			size_t max, size_t *taken, size_t *dropped, struct kt_ledger_entry *e,
			kt_hash leaf_hash, struct kt_err *err);

/*
 * Keeps what each walk verified in memory and starts the next walk from it
 * (a checkpoint that is never written): a writer or sequencer that walks
 * before every append then verifies only what is new.
 */
int kt_ledger_follow(struct kt_ledger *log, struct kt_err *err);

/* The Merkle leaf hash of a stored entry: of its encoding, a batch entry's body left out. */
void kt_ledger_leaf_hash(const uint8_t *raw, size_t len, kt_hash out);

/* Head of the log; size 0 (and no signature) for an empty log. */
int kt_ledger_head(struct kt_ledger *log, struct kt_ledger_sth *sth, uint8_t **raw,
		   struct kt_err *err);

/* Entry at index: *raw is its malloc'd encoding, *e points into it. */
int kt_ledger_get(struct kt_ledger *log, uint64_t index, struct kt_ledger_entry *e,
		  uint8_t **raw, size_t *raw_len, struct kt_err *err);

/*
 * Checks the whole log: every entry parses, sits at its own index, commits
 * to the root before it, is signed by a certificate that chains to the CA
 * (at the entry's time) and whose host is not revoked, and the signed head
 * matches the recomputed root. On failure err names the first bad entry
 * ("entry 17: signature does not verify") and *bad_index holds it
 * (UINT64_MAX when the head itself is bad).
 */
int kt_ledger_verify(struct kt_ledger *log, uint64_t *size, uint64_t *bad_index,
		     struct kt_err *err);

/*
 * Visits every entry of a verified log in order, with the same checks as
 * kt_ledger_verify. Entries are visited as they pass, so on failure (-1)
 * the caller must discard what it gathered. *e and its cert are valid only
 * during the call.
 */
typedef int (*kt_ledger_visit_fn)(const struct kt_ledger_entry *e, void *arg);
int kt_ledger_for_each(struct kt_ledger *log, kt_ledger_visit_fn fn, void *arg,
		       struct kt_err *err);
/*
 * Both at once: verify, visiting each good entry (progress, scoring); also
 * returns the size and the root (KT_HASH_LEN bytes, if root is not NULL)
 * of what was verified.
 */
int kt_ledger_walk(struct kt_ledger *log, kt_ledger_visit_fn fn, void *arg, uint64_t *size,
		   uint8_t *root, uint64_t *bad_index, struct kt_err *err);

/*
 * Pins a state seen before (tree size and root, e.g. from a saved head):
 * later walks also fail with check "rollback" if the log is now shorter,
 * or "fork" if its first `size` entries no longer hash to `root`.
 */
void kt_ledger_pin(struct kt_ledger *log, uint64_t size, const kt_hash root);
/*
 * Checkpoints (checkpoint.h, Documentation/ledger.rst "Checkpoints"): from
 * now on every walk keeps what it verified (the signed head, the tree's
 * frontier, the state folded from its entries) for kt_ledger_checkpoint_save()
 * to write to path (NULL: kt_checkpoint_default_path()). Unless `full`, the
 * checkpoint already there is loaded (none: the first walk is a full one)
 * and walks start from it: the signed head must extend it (RFC 9162
 * consistency proof, else check "fork"; shorter: "rollback"), visitors see
 * the entries it keeps whole, then one KT_LEDGER_FOLDED_HOST record per
 * host and one KT_LEDGER_FOLDED_VM per VM, and only the entries after it
 * are read and verified. A checkpoint that fails its own checks (a version
 * 1 file among them) is refused (check "checkpoint").
 */
int kt_ledger_checkpoint_use(struct kt_ledger *log, const char *path, bool full,
			     struct kt_err *err);
/*
 * The same without a file: from now on every walk on the handle (scores
 * included) starts from the state the last good walk verified, kept in
 * memory, so a long-running writer that appends and then scores verifies
 * only the entries after its last walk (kvmtrustd). The first walk is a
 * full one; kt_ledger_checkpoint_until() still falls back to a full walk.
 */
int kt_ledger_checkpoint_memory(struct kt_ledger *log, struct kt_err *err);
/*
 * A fold at time `now` (entries dated later left out) cannot start from a
 * checkpoint holding later entries: then the walk starts from entry 0.
 */
void kt_ledger_checkpoint_until(struct kt_ledger *log, uint64_t now);
int kt_ledger_checkpoint_save(struct kt_ledger *log, struct kt_err *err);
const char *kt_ledger_checkpoint_path(const struct kt_ledger *log);
/*
 * Entries (or host batches of a batch entry) signed by a certificate that a
 * certificate revocation earlier in the log revoked (revocation.h): a walk
 * verifies them, keeps them in the tree, and visits, places, folds and
 * checkpoints nothing of them, so they count toward no score, host flag,
 * placement or revocation. The last walk's list (a walk from a checkpoint
 * lists only the entries after it), valid until the next walk.
 */
struct kt_ledger_not_counted {
	uint64_t index;			/* the entry */
	int64_t batch_no;		/* its host batch, or -1: the entry's own signer */
	uint64_t revoked_in;		/* the revocation entry */
	char cert_id[KT_LEDGER_VM_MAX + 1];	/* "cert:<issuer>:<serial>" */
};
size_t kt_ledger_not_counted(const struct kt_ledger *log,
			     const struct kt_ledger_not_counted **list);

/* How many ES256 signatures this handle has verified (entries and heads): tests, statistics. */
uint64_t kt_ledger_signatures_checked(const struct kt_ledger *log);
/* The spec the ledger was opened with, as resolved (environment, default). */
const char *kt_ledger_spec(const struct kt_ledger *log);

/* Audit path for index in the tree of the first `size` entries (0: current). */
int kt_ledger_prove_inclusion(struct kt_ledger *log, uint64_t index, uint64_t size,
			      kt_hash leaf, kt_hash root, kt_hash *proof, size_t *proof_len,
			      struct kt_err *err);
/* Consistency proof between tree sizes m and n (0: current). */
int kt_ledger_prove_consistency(struct kt_ledger *log, uint64_t m, uint64_t n,
				kt_hash root_m, kt_hash root_n, kt_hash *proof,
				size_t *proof_len, struct kt_err *err);

/*
 * Leaf hashes of the first *size entries (0: the whole log; *size gets the
 * count), read without verification (for proofs, which their user checks):
 * a malloc'd array.
 */
int kt_ledger_leaves(struct kt_ledger *log, uint64_t *size, kt_hash **leaves,
		     struct kt_err *err);

/*
 * From now on, walks (verify and every check) and appends through log
 * refuse a host batch without a TPM quote (version 1, a software key),
 * check "batch-quote", as kvmtrust verify --require-tpm refuses a
 * software-key report. Single entries carry no quote and are not affected.
 */
void kt_ledger_require_tpm(struct kt_ledger *log, bool on);

/* Encoding and its inverse (strict, exact length). */
int kt_ledger_entry_encode(const struct kt_ledger_entry *e, uint8_t **out, size_t *len,
			   size_t *tbs_len);
int kt_ledger_entry_decode(const uint8_t *buf, size_t len, struct kt_ledger_entry *e,
			   size_t *tbs_len, struct kt_err *err);

/*
 * One entry or signed tree head on its own, with no log (an evidence
 * bundle): the checks a walk makes of its signer (a writer of the kind's
 * role under auth at the entry's or head's own time, the ES256 signature,
 * attest, move, rollback and batch entries only by their own host). The
 * position checks (index, prev_root) are the caller's. *e and *sth point
 * into data/raw; e->signer_id is set. headless: a batch entry may come
 * without its body (the encoding its leaf hashes), as a batched result's
 * proof carries it.
 */
int kt_ledger_entry_verify(struct kt_ledger_auth *auth, const uint8_t *data, size_t len,
			   bool headless, struct kt_ledger_entry *e, struct kt_err *err);
int kt_ledger_sth_verify(struct kt_ledger_auth *auth, const uint8_t *raw, size_t len,
			 struct kt_ledger_sth *sth, struct kt_err *err);

const char *kt_ledger_kind_name(uint8_t kind);
int kt_ledger_kind_parse(const char *name);
const char *kt_ledger_result_name(uint8_t result);

#endif
