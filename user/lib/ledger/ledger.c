// SPDX-License-Identifier: GPL-2.0
/*
 * Trust ledger: canonical entries, signed tree heads, the append protocol
 * and whole-log verification, on top of a storage backend.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/encoding.h"
#include "identity/jws.h"
#include "ledger/batch.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"
#include "ledger/ledger_auth.h"
#include "ledger/ledger_backend.h"
#include "ledger/owner.h"
#include "ledger/revocation.h"
#include "ledger/uuidmap.h"

#define APPEND_ATTEMPTS 200
#define FRONTIER_MAX 64

struct tree;

struct kt_ledger {
	struct kt_ledger_backend *backend;
	struct kt_ledger_auth *auth;
	enum kt_ledger_mode mode;
	char *spec;		/* as resolved: what a checkpoint is bound to */
	unsigned int jitter;	/* rand_r() state for append back-off */
	bool pinned;		/* kt_ledger_pin(): a state the log must extend */
	uint64_t pin_size;
	kt_hash pin_root;
	uint64_t sig_checks;	/* signatures verified through this handle */
	bool require_tpm;	/* kt_ledger_require_tpm(): host batches must be quoted */
	char *cp_path;		/* kt_ledger_checkpoint_use(): NULL when off */
	bool cp_memory;		/* kt_ledger_checkpoint_memory(): kept, never written */
	struct kt_checkpoint *cp;	/* walks start from it (NULL: from entry 0) */
	struct kt_checkpoint *cp_next;	/* what the last good walk verified */
	/*
	 * From the last good walk: the host each VM is on (its latest attest,
	 * move, rollback or batched result; zeros: none) and each host's
	 * latest batch time (big-endian in the first 8 value bytes), which a
	 * new batch must pass; the tree they belong to (NULL: none kept). With
	 * follow (kt_ledger_follow()) a walk without a visitor starts there.
	 */
	struct kt_uuidmap place, batch_time;
	/*
	 * Certificates revoked in the log so far: kt_ledger_cert_key() of
	 * the revocation's VM id -> its index (big-endian, first 8 value
	 * bytes); and what the last walk did not count because of them.
	 */
	struct kt_uuidmap revoked;
	struct kt_ledger_not_counted *skipped;
	size_t nskipped, skipped_cap;
	struct tree *ftree;
	bool follow;
};

/*
 * Entry encoding, all integers big-endian (Documentation/ledger.rst):
 *
 *   off      len  field
 *   0        1    version: the oldest that holds the entry (1, 2 register, 3,
 *                 4 batch with its host batches stored apart)
 *   1        1    kind (1 attest, 2 move, 3 compromise, 4 revoke, 5 register,
 *                 6 rollback, 7 batch)
 *   2        1    result (0 none, 1 pass, 2 fail)
 *   3        1    L = length of vm_id (0..64)
 *   4        8    index: position in the log, from 0
 *   12       8    time: seconds since the epoch, UTC
 *   20       32   prev_root: RFC 9162 root of entries [0, index)
 *   52       16   host_id: host UUID, binary
 *   68       32   measurement root (attest, rollback), the root over the host
 *                 batch headers (batch), or zeros
 *   100      L    vm_id, ASCII [A-Za-z0-9._:@-]; new entries: a lowercase UUID
 *   versions 3 and 4, X = 33 + D bytes (X = 0 in versions 1 and 2):
 *   100+L    32   report: SHA-256 of the evidence the entry rests on, or zeros
 *   132+L    1    D = length of detail (0..128)
 *   133+L    D    detail, printable ASCII
 *   100+L+X  2    C = certificate length (1..8192)
 *   102+L+X  C    signer's X.509 certificate, DER
 *   102+L+X+C 64  ES256 signature (r || s) over everything before it
 *   batch only:
 *   166+L+X+C B   body: u32 K, K x (u32 length, host batch) (batch.h);
 *                 version 4: u32 K, K x 56-byte references (host UUID, time,
 *                 SHA-256 of the host batch), the host batches stored apart
 *                 (entry_expand() puts them back before decoding)
 *
 * The Merkle leaf is the encoding up to and with the signature: a batch
 * entry's body is bound by its measurement field, so a result's proof
 * needs the header of its own host batch, not the body.
 */
#define ENTRY_FIXED 100
#define ENTRY_OVERHEAD (ENTRY_FIXED + 2 + KT_ES256_SIG_LEN)

/*
 * Signed tree head:
 *   0 1 version | 1 8 size | 9 8 time | 17 32 root | 49 2 C | 51 C cert
 *   | 51+C 64 signature over [0, 51+C)
 * Head record as stored by a backend: u16 length of the STH, the STH, u8
 * count of frontier hashes, the hashes (roots of the perfect subtrees the
 * tree decomposes into, largest first; they let a writer append without
 * reading the log, and their fold must equal the signed root).
 */
#define STH_FIXED 51

/* Prefixes err's message with where it happened, keeping the check name. */
static int fail_at(struct kt_err *err, const char *where, uint64_t at)
{
	char msg[sizeof(err->msg)];

	memcpy(msg, err->msg, sizeof(msg));
	if (at == UINT64_MAX)
		return kt_fail(err, err->check, "%s: %s", where, msg);
	return kt_fail(err, err->check, "%s %llu: %s", where, (unsigned long long)at, msg);
}

static const char *const kind_names[] = {
	[KT_LEDGER_ATTEST] = "attest",
	[KT_LEDGER_MOVE] = "move",
	[KT_LEDGER_COMPROMISE] = "compromise",
	[KT_LEDGER_REVOKE] = "revoke",
	[KT_LEDGER_REGISTER] = "register",
	[KT_LEDGER_ROLLBACK] = "rollback",
	[KT_LEDGER_BATCH] = "batch",
};

#define KIND_LAST KT_LEDGER_BATCH
#define EXT_FIXED (KT_HASH_LEN + 1)	/* version 3: report, detail length */

static bool is_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

/*
 * The oldest format version that holds the entry, which is the one it is
 * written in: version 4 for a batch entry whose host batches are stored
 * apart, version 3 for the report and detail fields and the kinds it
 * added, else the version that introduced the kind.
 */
static uint8_t entry_version(const struct kt_ledger_entry *e)
{
	if (e->kind == KT_LEDGER_BATCH && e->apart)
		return 4;
	if (e->kind == KT_LEDGER_ROLLBACK || e->kind == KT_LEDGER_BATCH || e->detail[0] ||
	    !is_zero(e->report, KT_HASH_LEN))
		return 3;
	return e->kind == KT_LEDGER_REGISTER ? 2 : 1;
}

const char *kt_ledger_kind_name(uint8_t kind)
{
	return kind >= KT_LEDGER_ATTEST && kind <= KIND_LAST ? kind_names[kind] : "unknown";
}

int kt_ledger_kind_parse(const char *name)
{
	int k;

	for (k = KT_LEDGER_ATTEST; k <= KIND_LAST; k++)
		if (!strcmp(name, kind_names[k]))
			return k;
	return -1;
}

const char *kt_ledger_result_name(uint8_t result)
{
	return result == KT_LEDGER_PASS ? "pass" : result == KT_LEDGER_FAIL ? "fail" : "-";
}

static bool vm_id_valid(const char *vm, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)vm[i]) && !strchr("._:@-", vm[i]))
			return false;
	return len <= KT_LEDGER_VM_MAX;
}

static bool detail_valid(const char *d, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			return false;
	return len <= KT_LEDGER_DETAIL_MAX;
}

/* Which fields each kind uses; everything else must be empty. */
/* headless: a batch entry read without its body (its proof stops at the header). */
static const char *entry_shape_error(const struct kt_ledger_entry *e, bool headless)
{
	bool vm = e->vm_id[0], host = !is_zero(e->host_id, KT_UUID_LEN);
	bool meas = !is_zero(e->measurement, KT_HASH_LEN);

	switch (e->kind) {
	case KT_LEDGER_ATTEST:
		if (e->result != KT_LEDGER_PASS && e->result != KT_LEDGER_FAIL)
			return "attest entry needs result pass or fail";
		return vm && host ? NULL : "attest entry needs a VM and a host";
	case KT_LEDGER_MOVE:
		return vm && host && !meas && !e->result ? NULL :
			"move entry needs a VM and a host, nothing else";
	case KT_LEDGER_COMPROMISE:
		return !vm && host && !meas && !e->result ? NULL :
			"compromise entry needs a host, nothing else";
	case KT_LEDGER_REVOKE:
		return vm != host && !meas && !e->result ? NULL :
			"revoke entry needs either a VM or a host, nothing else";
	case KT_LEDGER_REGISTER:
		/* A new kind: no old entries to keep, so its VM is a UUID even when read. */
		return kt_uuid_valid(e->vm_id) && !host && !meas && !e->result ? NULL :
			"register entry needs a VM UUID, nothing else";
	case KT_LEDGER_ROLLBACK:
		return kt_uuid_valid(e->vm_id) && host && meas && !e->result && e->detail[0] &&
			!is_zero(e->report, KT_HASH_LEN) ? NULL :
			"rollback entry needs a VM UUID, a host, the proven memory root, "
			"the snapshot id as detail and the snapshot report's digest";
	case KT_LEDGER_BATCH:
		return !vm && host && meas && !e->result && (e->body_len || headless) ? NULL :
			"batch entry needs a host, the batches' root and the batches, nothing else";
	}
	return "unknown entry kind";
}

int kt_ledger_entry_encode(const struct kt_ledger_entry *e, uint8_t **out, size_t *len,
			   size_t *tbs_len)
{
	uint8_t version = entry_version(e);
	size_t vm_len = strlen(e->vm_id), d_len = strlen(e->detail);
	size_t ext = version >= 3 ? EXT_FIXED + d_len : 0;
	size_t cert_at = ENTRY_FIXED + vm_len + ext, tbs = cert_at + 2 + e->cert_len;
	uint8_t *p;

	if (vm_len > KT_LEDGER_VM_MAX || d_len > KT_LEDGER_DETAIL_MAX)
		return -1;
	p = malloc(tbs + KT_ES256_SIG_LEN + e->body_len);
	if (!p)
		return -1;
	p[0] = version;
	p[1] = e->kind;
	p[2] = e->result;
	p[3] = (uint8_t)vm_len;
	kt_be_put(p + 4, e->index, 8);
	kt_be_put(p + 12, e->time, 8);
	memcpy(p + 20, e->prev_root, KT_HASH_LEN);
	memcpy(p + 52, e->host_id, KT_UUID_LEN);
	memcpy(p + 68, e->measurement, KT_HASH_LEN);
	memcpy(p + ENTRY_FIXED, e->vm_id, vm_len);
	if (ext) {
		memcpy(p + ENTRY_FIXED + vm_len, e->report, KT_HASH_LEN);
		p[ENTRY_FIXED + vm_len + KT_HASH_LEN] = (uint8_t)d_len;
		memcpy(p + ENTRY_FIXED + vm_len + EXT_FIXED, e->detail, d_len);
	}
	kt_be_put(p + cert_at, e->cert_len, 2);
	memcpy(p + cert_at + 2, e->cert, e->cert_len);
	memcpy(p + tbs, e->sig, KT_ES256_SIG_LEN);
	if (e->body_len)
		memcpy(p + tbs + KT_ES256_SIG_LEN, e->body, e->body_len);
	*out = p;
	*len = tbs + KT_ES256_SIG_LEN + e->body_len;
	if (tbs_len)
		*tbs_len = tbs;
	return 0;
}

/* Version 3's report and detail at buf[at..]; the bytes they take, or 0 on a bad field. */
static size_t decode_ext(const uint8_t *buf, size_t len, size_t at, struct kt_ledger_entry *e)
{
	size_t d_len;

	if (len < ENTRY_OVERHEAD + at - ENTRY_FIXED + EXT_FIXED)
		return 0;
	d_len = buf[at + KT_HASH_LEN];
	if (d_len > KT_LEDGER_DETAIL_MAX || len < ENTRY_OVERHEAD + at - ENTRY_FIXED + EXT_FIXED + d_len)
		return 0;
	memcpy(e->report, buf + at, KT_HASH_LEN);
	memcpy(e->detail, buf + at + EXT_FIXED, d_len);
	e->detail[d_len] = '\0';
	if (!detail_valid(e->detail, d_len) || strlen(e->detail) != d_len)
		return 0;
	return EXT_FIXED + d_len;
}

/*
 * Length of the signed encoding at the start of raw, by its length fields:
 * less than len only for a batch entry, whose body follows. len when the
 * fields do not add up (decoding then says why).
 */
static size_t entry_span(const uint8_t *buf, size_t len)
{
	struct kt_ledger_entry scratch;
	size_t vm_len, ext = 0, span;

	if (len < ENTRY_OVERHEAD || buf[1] != KT_LEDGER_BATCH || buf[0] < 3)
		return len;
	vm_len = buf[3];
	if (len < ENTRY_OVERHEAD + vm_len)
		return len;
	ext = decode_ext(buf, len, ENTRY_FIXED + vm_len, &scratch);
	if (!ext)
		return len;
	span = ENTRY_OVERHEAD + vm_len + ext + kt_be_get(buf + ENTRY_FIXED + vm_len + ext, 2);
	return span <= len ? span : len;
}

void kt_ledger_leaf_hash(const uint8_t *raw, size_t len, kt_hash out)
{
	kt_merkle_leaf_hash(raw, entry_span(raw, len), out);
}

static int entry_decode(const uint8_t *buf, size_t full_len, struct kt_ledger_entry *e,
			size_t *tbs_len, bool headless, struct kt_err *err)
{
	size_t vm_len, cert_len, cert_at, ext = 0, len = entry_span(buf, full_len);
	const char *shape;
	kt_hash root;

	memset(e, 0, sizeof(*e));
	if (len < ENTRY_OVERHEAD || !buf[0] || buf[0] > KT_LEDGER_VERSION)
		return kt_fail(err, "format", "not a version 1 to %d ledger entry", KT_LEDGER_VERSION);
	vm_len = buf[3];
	if (vm_len > KT_LEDGER_VM_MAX || len < ENTRY_OVERHEAD + vm_len)
		return kt_fail(err, "format", "VM id length %zu out of range", vm_len);
	if (buf[0] >= 3) {
		ext = decode_ext(buf, len, ENTRY_FIXED + vm_len, e);
		if (!ext)
			return kt_fail(err, "format", "%s",
				       "report and detail fields out of range or not printable");
	}
	cert_at = ENTRY_FIXED + vm_len + ext;
	cert_len = kt_be_get(buf + cert_at, 2);
	if (!cert_len || cert_len > KT_LEDGER_CERT_MAX ||
	    len != ENTRY_OVERHEAD + vm_len + ext + cert_len)
		return kt_fail(err, "format", "entry length %zu does not match its fields", len);
	e->kind = buf[1];
	e->apart = buf[0] == 4 && e->kind == KT_LEDGER_BATCH;
	e->result = buf[2];
	e->index = kt_be_get(buf + 4, 8);
	e->time = kt_be_get(buf + 12, 8);
	memcpy(e->prev_root, buf + 20, KT_HASH_LEN);
	memcpy(e->host_id, buf + 52, KT_UUID_LEN);
	memcpy(e->measurement, buf + 68, KT_HASH_LEN);
	memcpy(e->vm_id, buf + ENTRY_FIXED, vm_len);
	e->vm_id[vm_len] = '\0';
	if (!vm_id_valid(e->vm_id, vm_len) || strlen(e->vm_id) != vm_len)
		return kt_fail(err, "format", "VM id has characters outside [A-Za-z0-9._:@-]");
	if (len < full_len) {
		e->body = buf + len;
		e->body_len = full_len - len;
		if (kt_batch_body_root(e->body, e->body_len, NULL, NULL, root, err))
			return -1;
		if (CRYPTO_memcmp(root, e->measurement, KT_HASH_LEN))
			return kt_fail(err, "batch", "the host batches do not hash to the entry's root");
	}
	shape = entry_shape_error(e, headless);
	if (shape)
		return kt_fail(err, "format", "%s", shape);
	/* One encoding per entry: the oldest version that holds it. */
	if (buf[0] != entry_version(e))
		return kt_fail(err, "format", "%s entry in format version %u, not %u",
			       kt_ledger_kind_name(e->kind), buf[0], entry_version(e));
	e->cert = buf + cert_at + 2;
	e->cert_len = cert_len;
	memcpy(e->sig, buf + len - KT_ES256_SIG_LEN, KT_ES256_SIG_LEN);
	if (tbs_len)
		*tbs_len = len - KT_ES256_SIG_LEN;
	return 0;
}

int kt_ledger_entry_decode(const uint8_t *buf, size_t full_len, struct kt_ledger_entry *e,
			   size_t *tbs_len, struct kt_err *err)
{
	return entry_decode(buf, full_len, e, tbs_len, false, err);
}

/* Tree state: size, frontier and the root their fold gives. */
struct tree {
	uint64_t size;
	unsigned int nf;
	kt_hash frontier[FRONTIER_MAX];
};

static void tree_root(const struct tree *t, kt_hash root)
{
	kt_merkle_fold(t->frontier, t->nf, root);
}

/* Adds a leaf like a binary counter: equal-sized perfect subtrees merge. */
static void tree_push(struct tree *t, const kt_hash leaf)
{
	uint64_t m = t->size;

	memcpy(t->frontier[t->nf++], leaf, KT_HASH_LEN);
	while (m & 1) {
		kt_merkle_node_hash(t->frontier[t->nf - 2], t->frontier[t->nf - 1],
				    t->frontier[t->nf - 2]);
		t->nf--;
		m >>= 1;
	}
	t->size++;
}

struct head {
	struct kt_ledger_sth sth;
	size_t sth_len;
	struct tree tree;
	uint8_t *raw;		/* backend's record; sth.cert points into it */
	uint64_t version;
};

static int sth_decode(const uint8_t *p, size_t len, struct kt_ledger_sth *sth, struct kt_err *err)
{
	size_t cert_len;

	if (len < STH_FIXED + KT_ES256_SIG_LEN || p[0] != KT_LEDGER_STH_VERSION)
		return kt_fail(err, "head", "not a version %d signed tree head", KT_LEDGER_STH_VERSION);
	cert_len = kt_be_get(p + 49, 2);
	if (!cert_len || len != STH_FIXED + cert_len + KT_ES256_SIG_LEN)
		return kt_fail(err, "head", "signed tree head length %zu does not match", len);
	sth->size = kt_be_get(p + 1, 8);
	sth->time = kt_be_get(p + 9, 8);
	memcpy(sth->root, p + 17, KT_HASH_LEN);
	sth->cert = p + STH_FIXED;
	sth->cert_len = cert_len;
	memcpy(sth->sig, p + STH_FIXED + cert_len, KT_ES256_SIG_LEN);
	return 0;
}

static int head_decode(const uint8_t *rec, size_t len, struct head *h, struct kt_err *err)
{
	size_t off;
	kt_hash root;

	if (len < 3)
		return kt_fail(err, "head", "head record truncated");
	h->sth_len = kt_be_get(rec, 2);
	if (len < 2 + h->sth_len + 1 || sth_decode(rec + 2, h->sth_len, &h->sth, err))
		return kt_fail(err, "head", "head record malformed");
	off = 2 + h->sth_len;
	h->tree.nf = rec[off++];
	h->tree.size = h->sth.size;
	if (h->tree.nf != (unsigned int)__builtin_popcountll(h->sth.size) ||
	    len != off + h->tree.nf * KT_HASH_LEN)
		return kt_fail(err, "head", "head record frontier malformed");
	memcpy(h->tree.frontier, rec + off, h->tree.nf * KT_HASH_LEN);
	tree_root(&h->tree, root);
	if (CRYPTO_memcmp(root, h->sth.root, KT_HASH_LEN))
		return kt_fail(err, "head", "head frontier does not fold to the signed root");
	return 0;
}

/* Reads and parses the head; an empty log gives size 0 and no STH. */
static int head_read(struct kt_ledger *log, struct head *h, struct kt_err *err)
{
	size_t len;

	memset(h, 0, sizeof(*h));
	if (log->backend->head(log->backend, &h->raw, &len, &h->version, err))
		return -1;
	if (!h->raw)
		return 0;
	if (head_decode(h->raw, len, h, err)) {
		free(h->raw);
		h->raw = NULL;
		return -1;
	}
	return 0;
}

/*
 * The head is signed by whoever wrote the last entry: a host, an owner
 * registering or a CA revoking a certificate.
 */
static int sth_signed(struct kt_ledger_auth *auth, const uint8_t *raw, size_t len,
		      const struct kt_ledger_sth *sth, struct kt_err *err)
{
	struct kt_ledger_writer w;

	if (kt_ledger_auth_check(auth, sth->cert, sth->cert_len, sth->time,
				 KT_LEDGER_HOST | KT_LEDGER_OWNER | KT_LEDGER_AUTHORITY, &w, err))
		return fail_at(err, "signed tree head", UINT64_MAX);
	if (kt_es256_verify(w.pub, raw, len - KT_ES256_SIG_LEN, sth->sig, err))
		return kt_fail(err, "head", "signed tree head signature does not verify");
	return 0;
}

static int sth_check(struct kt_ledger *log, const struct head *h, struct kt_err *err)
{
	log->sig_checks++;
	return sth_signed(log->auth, h->raw + 2, h->sth_len, &h->sth, err);
}

int kt_ledger_sth_verify(struct kt_ledger_auth *auth, const uint8_t *raw, size_t len,
			 struct kt_ledger_sth *sth, struct kt_err *err)
{
	return sth_decode(raw, len, sth, err) || sth_signed(auth, raw, len, sth, err) ? -1 : 0;
}

/* Only the two schemes: anything else, a bare file name included, may be a typo. */
static struct kt_ledger_backend *backend_open(const char *spec, enum kt_ledger_mode mode,
					      struct kt_err *err)
{
	if (!strncmp(spec, "sqlite:", 7))
		return kt_ledger_sqlite_open(spec + 7, mode, err);
	if (!strncmp(spec, "etcd:", 5))
		return kt_ledger_etcd_open(spec + 5, mode, err);
	kt_fail(err, "spec", "unknown ledger '%s': use sqlite:PATH or etcd:URL[,URL...][?prefix=NAME]", spec);
	return NULL;
}

int kt_ledger_open(const char *spec, struct kt_ledger_auth *auth, enum kt_ledger_mode mode,
		   struct kt_ledger **out, struct kt_err *err)
{
	struct kt_ledger *log;

	if (!spec || !*spec)
		spec = getenv("KVMTRUST_LEDGER");
	if (!spec || !*spec)
		spec = KT_LEDGER_DEFAULT;
	log = calloc(1, sizeof(*log));
	if (!log)
		return kt_fail(err, "ledger", "out of memory");
	log->auth = auth;
	log->mode = mode;
	log->spec = strdup(spec);
	log->backend = log->spec ? backend_open(spec, mode, err) : NULL;
	if (!log->backend) {
		if (!log->spec)
			kt_fail(err, "ledger", "out of memory");
		free(log->spec);
		free(log);
		return -1;
	}
	*out = log;
	return 0;
}

void kt_ledger_close(struct kt_ledger *log)
{
	if (!log)
		return;
	log->backend->close(log->backend);
	kt_checkpoint_free(log->cp);
	kt_checkpoint_free(log->cp_next);
	kt_uuidmap_free(&log->place);
	kt_uuidmap_free(&log->batch_time);
	kt_uuidmap_free(&log->revoked);
	free(log->skipped);
	free(log->ftree);
	free(log->cp_path);
	free(log->spec);
	free(log);
}

int kt_ledger_signer_load(const char *key_path, const char *cert_path,
			  struct kt_ledger_signer *s, struct kt_err *err)
{
	FILE *f;

	memset(s, 0, sizeof(*s));
	f = key_path ? fopen(key_path, "r") : NULL;
	if (!f)
		return kt_fail(err, "key", "cannot open signing key '%s': give --key FILE",
			       key_path ? key_path : "(none)");
	s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!s->key)
		return kt_fail_ssl(err, "key", "'%s' holds no PEM private key", key_path);
	return kt_ledger_signer_cert(s, cert_path, key_path, err);
}

int kt_ledger_signer_cert(struct kt_ledger_signer *s, const char *cert_path,
			  const char *key_name, struct kt_err *err)
{
	FILE *f;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	int len;

	f = cert_path ? fopen(cert_path, "r") : NULL;
	if (f) {
		cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (cert && X509_check_private_key(cert, s->key) != 1) {
		X509_free(cert);
		kt_ledger_signer_free(s);
		return kt_fail_ssl(err, "key", "certificate '%s' does not match key '%s'",
				   cert_path, key_name);
	}
	len = cert ? i2d_X509(cert, &der) : -1;
	X509_free(cert);
	if (len <= 0 || len > KT_LEDGER_CERT_MAX) {
		kt_ledger_signer_free(s);
		return kt_fail_ssl(err, "key", "cannot read certificate '%s': give --cert FILE",
				   cert_path ? cert_path : "(none)");
	}
	s->cert = malloc((size_t)len);
	if (s->cert)
		memcpy(s->cert, der, (size_t)len);
	s->cert_len = (size_t)len;
	OPENSSL_free(der);
	return s->cert ? 0 : kt_fail(err, "key", "out of memory");
}

void kt_ledger_signer_free(struct kt_ledger_signer *s)
{
	EVP_PKEY_free(s->key);
	free(s->cert);
	memset(s, 0, sizeof(*s));
}

/*
 * The kind decides who may sign: owners register VMs, CAs revoke the
 * certificates they issued (revocation.h), hosts write the rest.
 */
static unsigned int role_for(const struct kt_ledger_entry *e)
{
	if (kt_ledger_is_cert_revocation(e))
		return KT_LEDGER_AUTHORITY;
	return e->kind == KT_LEDGER_REGISTER ? KT_LEDGER_OWNER : KT_LEDGER_HOST;
}

/*
 * Attestations, moves and rollbacks speak for the host that signs them; a
 * certificate revocation for the CA that signs it.
 */
static int writer_may_write(const struct kt_ledger_entry *e, const struct kt_ledger_writer *w,
			    struct kt_err *err)
{
	char a[37], b[37];

	if (kt_ledger_is_cert_revocation(e))
		return kt_ledger_cert_revocation_authorized(e, w, err);
	if ((e->kind != KT_LEDGER_ATTEST && e->kind != KT_LEDGER_MOVE &&
	     e->kind != KT_LEDGER_ROLLBACK && e->kind != KT_LEDGER_BATCH) ||
	    !memcmp(e->host_id, w->host_id, KT_UUID_LEN))
		return 0;
	kt_uuid_format(w->host_id, a);
	kt_uuid_format(e->host_id, b);
	return kt_fail(err, "authorization", "host %s may not write %s entries for host %s", a,
		       kt_ledger_kind_name(e->kind), b);
}

int kt_ledger_signer_sign(const struct kt_ledger_signer *s, const void *msg, size_t len,
			  uint8_t sig[64], struct kt_err *err)
{
	if (s->sign)
		return s->sign(s->ctx, msg, len, sig, err);
	return kt_es256_sign(s->key, msg, len, sig, err);
}

static int sign_tail(const struct kt_ledger_signer *s, uint8_t *buf, size_t tbs_len,
		     struct kt_err *err)
{
	return kt_ledger_signer_sign(s, buf, tbs_len, buf + tbs_len, err);
}

/* Encodes the new head record for `t` (already holding the new leaf). */
static int head_build(const struct tree *t, const struct kt_ledger_signer *s, uint64_t now,
		      uint8_t **out, size_t *len, struct kt_err *err)
{
	size_t sth_len = STH_FIXED + s->cert_len + KT_ES256_SIG_LEN;
	uint8_t *p = malloc(2 + sth_len + 1 + t->nf * KT_HASH_LEN), *sth;

	if (!p)
		return kt_fail(err, "ledger", "out of memory");
	kt_be_put(p, sth_len, 2);
	sth = p + 2;
	sth[0] = KT_LEDGER_STH_VERSION;
	kt_be_put(sth + 1, t->size, 8);
	kt_be_put(sth + 9, now, 8);
	tree_root(t, sth + 17);
	kt_be_put(sth + 49, s->cert_len, 2);
	memcpy(sth + STH_FIXED, s->cert, s->cert_len);
	if (sign_tail(s, sth, STH_FIXED + s->cert_len, err)) {
		free(p);
		return -1;
	}
	p[2 + sth_len] = (uint8_t)t->nf;
	memcpy(p + 2 + sth_len + 1, t->frontier, t->nf * KT_HASH_LEN);
	*out = p;
	*len = 2 + sth_len + 1 + t->nf * KT_HASH_LEN;
	return 0;
}

/* After an unknown outcome: did our exact bytes land at `index`? */
static bool landed(struct kt_ledger *log, uint64_t index, const uint8_t *entry, size_t len)
{
	struct kt_err ignored;
	uint8_t *data;
	size_t got;
	bool same;

	if (log->backend->get(log->backend, index, &data, &got, &ignored))
		return false;
	same = got == len && !memcmp(data, entry, len);
	free(data);
	return same;
}

/*
 * One try: 0 stored, KT_LEDGER_CONFLICT retry, -1 failed. With `expect`
 * other than UINT64_MAX, the log must still hold exactly that many entries.
 */
static int append_once(struct kt_ledger *log, const struct kt_ledger_signer *s,
		       struct kt_ledger_entry *e, kt_hash leaf, uint64_t now, uint64_t expect,
		       const char *const *dequeue, const bool *dropped, size_t ndequeue,
		       struct kt_err *err)
{
	uint8_t *entry = NULL, *rec = NULL;
	size_t entry_len, tbs_len, rec_len = 0;
	struct head h;
	int ret;

	if (head_read(log, &h, err))
		return -1;
	ret = KT_LEDGER_CONFLICT;
	if (expect != UINT64_MAX && h.tree.size != expect)
		goto out;
	ret = -1;
	if (h.raw && sth_check(log, &h, err))
		goto out;
	e->index = h.tree.size;
	tree_root(&h.tree, e->prev_root);
	e->cert = s->cert;
	e->cert_len = s->cert_len;
	if (kt_ledger_entry_encode(e, &entry, &entry_len, &tbs_len)) {
		kt_fail(err, "ledger", "out of memory");
		goto out;
	}
	if (sign_tail(s, entry, tbs_len, err))
		goto out;
	memcpy(e->sig, entry + tbs_len, KT_ES256_SIG_LEN);
	kt_ledger_leaf_hash(entry, entry_len, leaf);
	tree_push(&h.tree, leaf);
	if (head_build(&h.tree, s, now, &rec, &rec_len, err))
		goto out;
	ret = log->backend->append(log->backend, h.version, e->index, entry, entry_len, rec,
				   rec_len, dequeue, dropped, ndequeue, err);
	if (ret == KT_LEDGER_UNKNOWN)
		ret = landed(log, e->index, entry, entry_len) ? 0 : KT_LEDGER_CONFLICT;
out:
	free(entry);
	free(rec);
	free(h.raw);
	return ret;
}

/*
 * New entries name a VM by its canonical UUID; a revocation may instead
 * name another kind of object as "<kind>:<uuid>" (grant_ledger.h's grants).
 * Old entries with other ids still decode and verify.
 */
static bool new_vm_id_valid(const struct kt_ledger_entry *e)
{
	const char *colon = strchr(e->vm_id, ':');
	size_t n = colon ? (size_t)(colon - e->vm_id) : 0;

	if (!e->vm_id[0] || kt_uuid_valid(e->vm_id))
		return true;
	/* A token by its jti, a certificate by its issuer and serial (revocation.h). */
	if (kt_ledger_is_cert_revocation(e))
		return kt_ledger_cert_revocation_id_valid(e->vm_id);
	if (e->kind == KT_LEDGER_REVOKE && n == 5 && !strncmp(e->vm_id, "token", 5))
		return colon[1] && strlen(colon + 1) == strspn(colon + 1, KT_LEDGER_JTI_CHARS);
	return e->kind == KT_LEDGER_REVOKE && n &&
	       strspn(e->vm_id, "abcdefghijklmnopqrstuvwxyz") == n && kt_uuid_valid(colon + 1);
}

/*
 * The first register of a VM wins: refuse another, and note how long the
 * log was when that was checked so the append lands right after it.
 */
static int check_unregistered(struct kt_ledger *log, const struct kt_ledger_signer *s,
			      const char *vm, uint64_t *size, struct kt_err *err)
{
	char mine[KT_OWNER_KEY_HEX + 1];
	struct kt_owner o;

	if (kt_owner_read(log, vm, &o, size, err))
		return -1;
	if (!o.registered)
		return 0;
	if (kt_owner_key_id(s->key, mine))
		return kt_fail(err, "key", "cannot read the signing key");
	if (!strcmp(o.key, mine))
		return kt_fail(err, "registered", "VM %s is registered to this key already (entry %llu)",
			       vm, (unsigned long long)o.index);
	return kt_fail(err, "owner", "VM %s is registered to \"%s\" (entry %llu): the first "
		       "register stands", vm, o.subject, (unsigned long long)o.index);
}

/*
 * Contention backs off a little more each time, with jitter that differs
 * between writers so two losers do not collide again.
 */
static void back_off(struct kt_ledger *log, int attempt)
{
	usleep((useconds_t)(1000 * (attempt < 20 ? attempt : 20) + rand_r(&log->jitter) % 2000));
}

int kt_ledger_rollback_entry(struct kt_ledger_entry *e, const char *vm_id, const char *snap_id,
			     const kt_hash memory_root, const kt_hash report_digest)
{
	memset(e, 0, sizeof(*e));
	if (strlen(vm_id) > KT_LEDGER_VM_MAX || strlen(snap_id) > KT_LEDGER_DETAIL_MAX)
		return -1;
	e->kind = KT_LEDGER_ROLLBACK;
	e->result = KT_LEDGER_NONE;
	e->time = (uint64_t)time(NULL);
	memcpy(e->measurement, memory_root, KT_HASH_LEN);
	memcpy(e->report, report_digest, KT_HASH_LEN);
	strcpy(e->vm_id, vm_id);
	strcpy(e->detail, snap_id);
	return 0;
}

int kt_ledger_append(struct kt_ledger *log, const struct kt_ledger_signer *s,
		     struct kt_ledger_entry *e, kt_hash leaf, struct kt_err *err)
{
	uint64_t now = (uint64_t)time(NULL), expect = UINT64_MAX;
	struct kt_ledger_writer w;
	const char *shape;
	int attempt, ret;

	if (!log->auth)
		return kt_fail(err, "authorization", "appending needs the ledger CA (--ledger-ca)");
	if (log->mode == KT_LEDGER_READ)
		return kt_fail(err, "ledger", "the ledger is open read-only");
	if (e->kind == KT_LEDGER_BATCH)
		return kt_fail(err, "format", "batch entries are appended by kt_ledger_append_batch()");
	if (!e->time)
		e->time = now;
	/* verify judges the certificate at the entry's time: so must append. */
	if (kt_ledger_auth_check(log->auth, s->cert, s->cert_len, now, role_for(e), &w, err) ||
	    kt_ledger_auth_check(log->auth, s->cert, s->cert_len, e->time, role_for(e), &w, err))
		return -1;
	if (EVP_PKEY_eq(w.pub, s->key) != 1)
		return kt_fail(err, "key", "signing key does not match its certificate");
	if ((e->kind == KT_LEDGER_ATTEST || e->kind == KT_LEDGER_MOVE ||
	     e->kind == KT_LEDGER_ROLLBACK) && is_zero(e->host_id, KT_UUID_LEN))
		memcpy(e->host_id, w.host_id, KT_UUID_LEN);
	shape = entry_shape_error(e, false);
	if (shape)
		return kt_fail(err, "format", "%s", shape);
	if (!vm_id_valid(e->vm_id, strlen(e->vm_id)) || !new_vm_id_valid(e))
		return kt_fail(err, "format", "VM id '%s' is not a UUID", e->vm_id);
	if (!detail_valid(e->detail, strlen(e->detail)))
		return kt_fail(err, "format", "detail is longer than %d bytes or not printable ASCII",
			       KT_LEDGER_DETAIL_MAX);
	if (writer_may_write(e, &w, err))
		return -1;
	if (!log->jitter)
		log->jitter = (unsigned int)getpid() ^ (unsigned int)now;
	for (attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
		if (e->kind == KT_LEDGER_REGISTER &&
		    check_unregistered(log, s, e->vm_id, &expect, err))
			return -1;
		ret = append_once(log, s, e, leaf, now, expect, NULL, NULL, 0, err);
		if (ret != KT_LEDGER_CONFLICT)
			return ret;
		back_off(log, attempt);
	}
	return kt_fail(err, "conflict", "gave up after %d conflicting appends", APPEND_ATTEMPTS);
}

/*
 * What an append's checks changed in the walked state, to put back when
 * the entry is not stored (the state then still matches the walked tree).
 */
struct undo {
	struct undo_rec {
		struct kt_uuidmap *map;
		uint8_t key[KT_UUID_LEN], val[KT_UUID_LEN];
	} *rec;
	size_t n, cap;
};

static void undo_apply(struct undo *u)
{
	while (u->n--)
		kt_uuidmap_put(u->rec[u->n].map, u->rec[u->n].key, u->rec[u->n].val);
	free(u->rec);
	memset(u, 0, sizeof(*u));
}

static void undo_forget(struct undo *u)
{
	free(u->rec);
	memset(u, 0, sizeof(*u));
}

static int batches_check(struct kt_ledger *log, struct kt_uuidmap *place,
			 struct kt_uuidmap *batch_time, const struct kt_uuidmap *revoked,
			 struct undo *u, const uint8_t *body, size_t len, bool walking,
			 struct kt_err *err);
static int batch_check(struct kt_ledger *log, struct kt_uuidmap *place,
		       struct kt_uuidmap *batch_time, const struct kt_uuidmap *revoked,
		       struct undo *u, const struct kt_batch *b, struct kt_err *err);
static int signer_revoked(struct kt_ledger *log, const struct kt_ledger_signer *s,
			  struct kt_err *err);

/* The entry just stored extends the walked tree the checks ran on. */
static void follow_stored(struct kt_ledger *log, const kt_hash leaf)
{
	if (log->ftree)
		tree_push(log->ftree, leaf);
}

/* A batch entry's signer: a host, whose key it is; e gets kind, host and time. */
static int batch_signer(struct kt_ledger *log, const struct kt_ledger_signer *s, uint64_t now,
			struct kt_ledger_entry *e, struct kt_err *err)
{
	struct kt_ledger_writer w;

	if (!log->auth)
		return kt_fail(err, "authorization", "appending needs the ledger CA (--ledger-ca)");
	if (log->mode == KT_LEDGER_READ)
		return kt_fail(err, "ledger", "the ledger is open read-only");
	if (kt_ledger_auth_check(log->auth, s->cert, s->cert_len, now, KT_LEDGER_HOST, &w, err))
		return -1;
	if (EVP_PKEY_eq(w.pub, s->key) != 1)
		return kt_fail(err, "key", "signing key does not match its certificate");
	memset(e, 0, sizeof(*e));
	e->kind = KT_LEDGER_BATCH;
	e->time = now;
	memcpy(e->host_id, w.host_id, KT_UUID_LEN);
	/* Walks before each try verify only what is new. */
	log->follow = true;
	if (!log->jitter)
		log->jitter = (unsigned int)getpid() ^ (unsigned int)now;
	return 0;
}

int kt_ledger_append_batch(struct kt_ledger *log, const struct kt_ledger_signer *s,
			   const uint8_t *const *batches, const size_t *lens, size_t k,
			   struct kt_ledger_entry *e, kt_hash leaf, struct kt_err *err)
{
	uint64_t now = (uint64_t)time(NULL), size;
	uint8_t *body;
	size_t body_len;
	int attempt, ret = -1;

	if (batch_signer(log, s, now, e, err) ||
	    kt_batch_body_encode(batches, lens, k, &body, &body_len, e->measurement, err))
		return -1;
	e->body = body;
	e->body_len = body_len;
	for (attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
		struct undo u = { 0 };

		if (kt_ledger_walk(log, NULL, NULL, &size, NULL, NULL, err) ||
		    signer_revoked(log, s, err))
			break;
		ret = batches_check(log, &log->place, &log->batch_time, &log->revoked, &u, body,
				    body_len, false, err);
		if (!ret)
			ret = append_once(log, s, e, leaf, now, size, NULL, NULL, 0, err);
		if (!ret) {
			undo_forget(&u);
			follow_stored(log, leaf);
			break;
		}
		undo_apply(&u);
		if (ret != KT_LEDGER_CONFLICT)
			break;
		back_off(log, attempt);
	}
	if (ret == KT_LEDGER_CONFLICT)
		ret = kt_fail(err, "conflict", "gave up after %d conflicting appends", APPEND_ATTEMPTS);
	free(body);
	e->body = NULL;
	e->body_len = 0;
	return ret;
}

/* Queue keys: "<host hex>-<time hex>", so a host's batches queue in time order. */
int kt_ledger_enqueue_batch(struct kt_ledger *log, const uint8_t *batch, size_t len,
			    struct kt_err *err)
{
	char key[KT_BATCH_NAME_LEN + 1];
	struct kt_batch b;

	if (log->mode == KT_LEDGER_READ)
		return kt_fail(err, "ledger", "the ledger is open read-only");
	if (kt_batch_parse(batch, len, &b, err))
		return -1;
	kt_batch_name(b.host_id, b.time, key);
	return log->backend->enqueue(log->backend, key, batch, len, err);
}

/* What one look at the queue found. */
struct queued {
	char **key;
	uint8_t **data;
	size_t *len;
	bool *dropped;		/* refused by integrate_once */
	size_t n, max;
};

static int take_queued(const char *key, const uint8_t *data, size_t len, void *arg)
{
	struct queued *q = arg;

	if (q->n == q->max)
		return 1;
	q->key[q->n] = strdup(key);
	q->data[q->n] = malloc(len ? len : 1);
	if (!q->key[q->n] || !q->data[q->n]) {
		free(q->key[q->n]);
		free(q->data[q->n]);
		return -1;
	}
	memcpy(q->data[q->n], data, len);
	q->len[q->n++] = len;
	return 0;
}

static void queued_free(struct queued *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->key[i]);
		free(q->data[i]);
	}
	free(q->key);
	free(q->data);
	free(q->len);
	free(q->dropped);
	memset(q, 0, sizeof(*q));
}

/*
 * One tick: the queue's first max batches, checked against the log as
 * walked; the good ones become one entry, and every one looked at leaves
 * the queue in the same transaction. 0 stored (or nothing to store), -1
 * failed, KT_LEDGER_CONFLICT retry.
 */
static int integrate_once(struct kt_ledger *log, const struct kt_ledger_signer *s, size_t max,
			  size_t *taken, size_t *dropped, struct kt_ledger_entry *e, kt_hash leaf,
			  uint64_t now, struct kt_err *err)
{
	struct queued q = { .max = max };
	const uint8_t **good = NULL;
	size_t *good_len = NULL, ngood = 0, i, body_len = 0;
	struct kt_err why = { 0 };
	struct undo u = { 0 };
	uint8_t *body = NULL;
	struct kt_batch b;
	uint64_t size;
	int ret = -1;

	*taken = *dropped = 0;
	q.key = calloc(max, sizeof(*q.key));
	q.data = calloc(max, sizeof(*q.data));
	q.len = calloc(max, sizeof(*q.len));
	q.dropped = calloc(max, sizeof(*q.dropped));
	good = calloc(max, sizeof(*good));
	good_len = calloc(max, sizeof(*good_len));
	if (!q.key || !q.data || !q.len || !q.dropped || !good || !good_len) {
		kt_fail(err, "ledger", "out of memory");
		goto out;
	}
	if (kt_ledger_walk(log, NULL, NULL, &size, NULL, NULL, err) ||
	    signer_revoked(log, s, err) ||
	    log->backend->queue_scan(log->backend, max, take_queued, &q, err))
		goto out;
	for (i = 0; i < q.n; i++) {
		struct kt_err one = { 0 };

		if (kt_batch_parse(q.data[i], q.len[i], &b, &one) ||
		    batch_check(log, &log->place, &log->batch_time, &log->revoked, &u, &b, &one)) {
			if (!(*dropped)++)
				kt_fail(&why, one.check, "queued batch %s: %s", q.key[i], one.msg);
			q.dropped[i] = true;
			continue;
		}
		good[ngood] = q.data[i];
		good_len[ngood++] = q.len[i];
	}
	ret = 0;
	if (!ngood) {
		if (q.n)
			ret = log->backend->dequeue(log->backend, (const char *const *)q.key,
						    q.dropped, q.n, err);
		goto out;
	}
	/* A store that keeps host batches apart: the entry references them (version 4). */
	e->apart = log->backend->blob_get != NULL;
	if ((e->apart ? kt_batch_refs_encode : kt_batch_body_encode)(good, good_len, ngood, &body,
								     &body_len, e->measurement,
								     err)) {
		ret = -1;
		goto out;
	}
	e->body = body;
	e->body_len = body_len;
	ret = append_once(log, s, e, leaf, now, size, (const char *const *)q.key, q.dropped, q.n,
			  err);
	if (!ret) {
		*taken = ngood;
		undo_forget(&u);
		follow_stored(log, leaf);
	}
out:
	undo_apply(&u);
	if (!ret && *dropped)
		*err = why;
	e->body = NULL;
	e->body_len = 0;
	free(body);
	free(good);
	free(good_len);
	queued_free(&q);
	return ret;
}

int kt_ledger_integrate(struct kt_ledger *log, const struct kt_ledger_signer *s, size_t max,
			size_t *taken, size_t *dropped, struct kt_ledger_entry *e, kt_hash leaf,
			struct kt_err *err)
{
	uint64_t now = (uint64_t)time(NULL);
	int attempt, ret;

	if (!max || max > KT_BATCH_ENTRY_MAX)
		return kt_fail(err, "batch", "a tick takes 1 to %d batches", KT_BATCH_ENTRY_MAX);
	if (!log->backend->queue_scan)
		return kt_fail(err, "ledger", "the %s backend has no queue", log->backend->name);
	if (batch_signer(log, s, now, e, err))
		return -1;
	for (attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
		ret = integrate_once(log, s, max, taken, dropped, e, leaf, now, err);
		if (ret != KT_LEDGER_CONFLICT)
			return ret;
		back_off(log, attempt);
	}
	return kt_fail(err, "conflict", "gave up after %d conflicting appends", APPEND_ATTEMPTS);
}

int kt_ledger_head(struct kt_ledger *log, struct kt_ledger_sth *sth, uint8_t **raw,
		   struct kt_err *err)
{
	struct head h;

	if (head_read(log, &h, err))
		return -1;
	if (!h.raw) {
		memset(sth, 0, sizeof(*sth));
		tree_root(&h.tree, sth->root);
	} else {
		*sth = h.sth;
	}
	*raw = h.raw;
	return 0;
}

static int blob_fetch(void *arg, const char *name, uint8_t **data, size_t *len,
		      struct kt_err *err)
{
	struct kt_ledger_backend *b = arg;

	return b->blob_get(b, name, data, len, err);
}

/*
 * A stored batch entry of version 4 with its references replaced by the
 * host batches they name (*full malloc'd); *full NULL for any other entry,
 * which decodes as stored. Refused: a backend that stores no host batches
 * apart, a blob missing or altered (check "batch-blob").
 */
static int entry_expand(struct kt_ledger *log, const uint8_t *data, size_t len, uint8_t **full,
			size_t *full_len, struct kt_err *err)
{
	size_t span = entry_span(data, len), body_len;
	uint8_t *body;

	*full = NULL;
	if (len < ENTRY_OVERHEAD || data[0] != 4 || data[1] != KT_LEDGER_BATCH || span == len)
		return 0;
	if (!log->backend->blob_get)
		return kt_fail(err, "batch-blob", "the %s backend stores no host batches apart",
			       log->backend->name);
	if (kt_batch_refs_expand(data + span, len - span, blob_fetch, log->backend, &body,
				 &body_len, err))
		return -1;
	*full = malloc(span + body_len);
	if (!*full) {
		free(body);
		return kt_fail(err, "ledger", "out of memory");
	}
	memcpy(*full, data, span);
	memcpy(*full + span, body, body_len);
	*full_len = span + body_len;
	free(body);
	return 0;
}

int kt_ledger_get(struct kt_ledger *log, uint64_t index, struct kt_ledger_entry *e,
		  uint8_t **raw, size_t *raw_len, struct kt_err *err)
{
	uint8_t *full;
	size_t full_len;

	if (log->backend->get(log->backend, index, raw, raw_len, err))
		return -1;
	if (entry_expand(log, *raw, *raw_len, &full, &full_len, err)) {
		free(*raw);
		*raw = NULL;
		return fail_at(err, "entry", index);
	}
	if (full) {
		free(*raw);
		*raw = full;
		*raw_len = full_len;
	}
	if (kt_ledger_entry_decode(*raw, *raw_len, e, NULL, err)) {
		free(*raw);
		*raw = NULL;
		return fail_at(err, "entry", index);
	}
	return 0;
}

/* Where a VM runs, by an entry that says so (not for VM ids that are not UUIDs). */
static int place_note(struct kt_uuidmap *place, const struct kt_ledger_entry *e)
{
	uint8_t vm[KT_UUID_LEN];

	if ((e->kind != KT_LEDGER_ATTEST && e->kind != KT_LEDGER_MOVE &&
	     e->kind != KT_LEDGER_ROLLBACK) || kt_uuid_parse(e->vm_id, vm))
		return 0;
	return kt_uuidmap_put(place, vm, e->host_id) ? 0 : -1;
}

/*
 * Checks one host batch against the log so far and records it: signed by
 * the host it names (a host certificate under the CA, valid at its time),
 * its results hash to its root, it is later than the host's last batch,
 * and none of its VMs is on another host. Errors name the result.
 */
/* Stores val under key, first noting the old value in u (if any). */
static uint8_t *state_put(struct kt_uuidmap *map, struct undo *u, const uint8_t *key,
			  const uint8_t *val)
{
	struct undo_rec *grown;
	uint8_t *old;

	if (u) {
		if (u->n == u->cap) {
			u->cap = u->cap ? 2 * u->cap : 256;
			grown = realloc(u->rec, u->cap * sizeof(*grown));
			if (!grown)
				return NULL;
			u->rec = grown;
		}
		old = kt_uuidmap_get(map, key);
		u->rec[u->n].map = map;
		memcpy(u->rec[u->n].key, key, KT_UUID_LEN);
		if (old)
			memcpy(u->rec[u->n].val, old, KT_UUID_LEN);
		else
			memset(u->rec[u->n].val, 0, KT_UUID_LEN);
		u->n++;
	}
	return kt_uuidmap_put(map, key, val);
}

void kt_ledger_require_tpm(struct kt_ledger *log, bool on)
{
	log->require_tpm = on;
}

int kt_ledger_batch_signed(struct kt_ledger_auth *auth, const struct kt_batch *b,
			   struct kt_err *err)
{
	char host[KT_UUID_STR_LEN + 1], other[KT_UUID_STR_LEN + 1];
	struct kt_ledger_writer writer;

	kt_uuid_format(b->host_id, host);
	if (kt_ledger_auth_check(auth, b->cert, b->cert_len, b->time, KT_LEDGER_HOST, &writer, err))
		return -1;
	if (memcmp(writer.host_id, b->host_id, KT_UUID_LEN)) {
		kt_uuid_format(writer.host_id, other);
		return kt_fail(err, "authorization", "batch of host %s is signed by host %s", host,
			       other);
	}
	/* The quote first: a quote spliced from another header is named as one. */
	if (kt_batch_check_quote(b, writer.pub, err))
		return -1;
	if (kt_es256_verify(writer.pub, b->raw, b->header_len - KT_ES256_SIG_LEN, b->sig, err))
		return kt_fail(err, "signature", "batch of host %s: signature does not verify", host);
	return 0;
}

/*
 * The revocation (its index) of the writer's certificate in `revoked`, the
 * certificates revoked by the entries walked so far; KT_LEDGER_NO_INDEX
 * when it was not revoked.
 */
static uint64_t revoked_in(const struct kt_uuidmap *revoked, const struct kt_ledger_writer *w)
{
	const uint8_t *at;

	if (!revoked || !revoked->n || !w->cert_id[0] ||
	    !(at = kt_uuidmap_get(revoked, w->cert_key)))
		return KT_LEDGER_NO_INDEX;
	return kt_be_get(at, 8);
}

/* A verified certificate revocation: later entries of that certificate do not count. */
static int note_revoked(struct kt_uuidmap *revoked, const struct kt_ledger_entry *e)
{
	uint8_t key[KT_UUID_LEN], at[KT_UUID_LEN] = { 0 };

	if (!kt_ledger_is_cert_revocation(e))
		return 0;
	kt_ledger_cert_key(e->vm_id, key);
	if (kt_uuidmap_get(revoked, key))
		return 0;	/* the first revocation stands */
	kt_be_put(at, e->index, 8);
	return kt_uuidmap_put(revoked, key, at) ? 0 : -1;
}

/* A host batch's signer, its certificate revoked in `revoked`: 1 (and err), else 0. */
static int batch_revoked(struct kt_ledger *log, const struct kt_uuidmap *revoked,
			 const struct kt_batch *b, struct kt_ledger_writer *w, struct kt_err *err)
{
	char host[KT_UUID_STR_LEN + 1];
	uint64_t at;

	if (!revoked->n ||
	    kt_ledger_auth_check(log->auth, b->cert, b->cert_len, b->time, KT_LEDGER_HOST, w, NULL) ||
	    (at = revoked_in(revoked, w)) == KT_LEDGER_NO_INDEX)
		return 0;
	kt_uuid_format(b->host_id, host);
	kt_fail(err, "revocation", "batch of host %s is signed by a revoked certificate (%s, "
		"revoked in entry %llu)", host, w->cert_id, (unsigned long long)at);
	return 1;
}

/* An appender whose certificate the walked log revoked is refused (check "revocation"). */
static int signer_revoked(struct kt_ledger *log, const struct kt_ledger_signer *s,
			  struct kt_err *err)
{
	struct kt_ledger_writer w;
	uint64_t at;

	if (kt_ledger_auth_check(log->auth, s->cert, s->cert_len, (uint64_t)time(NULL),
				 KT_LEDGER_HOST, &w, err))
		return -1;
	at = revoked_in(&log->revoked, &w);
	if (at == KT_LEDGER_NO_INDEX)
		return 0;
	return kt_fail(err, "revocation", "the signing certificate (%s) was revoked in entry %llu",
		       w.cert_id, (unsigned long long)at);
}

/*
 * 0 checked and recorded; 1 (with err, check "revocation") when its signer's
 * certificate was revoked in the log: nothing recorded, the caller decides
 * (a walk does not count it, an append refuses it); -1 refused.
 */
static int batch_check(struct kt_ledger *log, struct kt_uuidmap *place,
		       struct kt_uuidmap *batch_time, const struct kt_uuidmap *revoked,
		       struct undo *u, const struct kt_batch *b, struct kt_err *err)
{
	uint8_t stamp[KT_UUID_LEN] = { 0 };
	char host[KT_UUID_STR_LEN + 1], other[KT_UUID_STR_LEN + 1], vm[KT_UUID_STR_LEN + 1];
	struct kt_ledger_writer w;
	uint8_t *last, *on;
	uint32_t i;

	kt_uuid_format(b->host_id, host);
	if (log->require_tpm && b->version != KT_BATCH_VERSION_TPM)
		return kt_fail(err, "batch-quote", "batch of host %s is signed by a software key "
			       "(version %u, no quote), a TPM key is required", host, b->version);
	log->sig_checks++;
	if (kt_ledger_batch_signed(log->auth, b, err) || kt_batch_check_root(b, err))
		return -1;
	if (batch_revoked(log, revoked, b, &w, err))
		return 1;
	last = kt_uuidmap_get(batch_time, b->host_id);
	if (last && kt_be_get(last, 8) >= b->time)
		return kt_fail(err, "replay", "batch of host %s at %llu is not later than its batch "
			       "at %llu (replayed or reordered)", host, (unsigned long long)b->time,
			       (unsigned long long)kt_be_get(last, 8));
	for (i = 0; i < b->n; i++) {
		const uint8_t *rec = b->records + (size_t)i * KT_BATCH_RECORD_STRIDE;

		on = kt_uuidmap_get(place, rec);
		if (on && !is_zero(on, KT_UUID_LEN) && memcmp(on, b->host_id, KT_UUID_LEN)) {
			kt_uuid_format(rec, vm);
			kt_uuid_format(on, other);
			return kt_fail(err, "placement", "result %u (VM %s): the VM is on host %s, "
				       "not on host %s", i, vm, other, host);
		}
	}
	for (i = 0; i < b->n; i++)
		if (!state_put(place, u, b->records + (size_t)i * KT_BATCH_RECORD_STRIDE,
			       b->host_id))
			return kt_fail(err, "ledger", "out of memory");
	kt_be_put(stamp, b->time, 8);
	if (!state_put(batch_time, u, b->host_id, stamp))
		return kt_fail(err, "ledger", "out of memory");
	return 0;
}

/* Every host batch of a body, in order; errors name the batch ("batch 2 (host ...): ..."). */
static int batches_check(struct kt_ledger *log, struct kt_uuidmap *place,
			 struct kt_uuidmap *batch_time, const struct kt_uuidmap *revoked,
			 struct undo *u, const uint8_t *body, size_t len, bool walking,
			 struct kt_err *err)
{
	char host[KT_UUID_STR_LEN + 1], msg[sizeof(err->msg)];
	struct kt_batch b;
	size_t off = 0;
	uint32_t no = 0;
	int ret;

	while (!(ret = kt_batch_body_next(body, len, &off, &b, err))) {
		ret = batch_check(log, place, batch_time, revoked, u, &b, err);
		if (ret > 0 && walking) {
			/* Not counted: batch_visit() lists it. */
			kt_err_clear(err);
			ret = 0;
		}
		if (ret) {
			kt_uuid_format(b.host_id, host);
			memcpy(msg, err->msg, sizeof(msg));
			return kt_fail(err, err->check, "batch %u (host %s): %s", no, host, msg);
		}
		no++;
	}
	return ret < 0 ? -1 : 0;
}

/* A VM result of a batch, as the attest entry the folds see. */
static void batch_result_entry(const struct kt_ledger_entry *outer, const struct kt_batch *b,
			       uint32_t no, uint32_t i, struct kt_ledger_entry *e)
{
	struct kt_batch_result r;

	kt_batch_result_at(b, i, &r);
	memset(e, 0, sizeof(*e));
	e->kind = KT_LEDGER_ATTEST;
	e->result = r.result;
	e->index = outer->index;
	e->time = b->time;
	memcpy(e->prev_root, outer->prev_root, KT_HASH_LEN);
	memcpy(e->host_id, b->host_id, KT_UUID_LEN);
	memcpy(e->signer_id, b->host_id, KT_UUID_LEN);
	memcpy(e->measurement, r.memory_root, KT_HASH_LEN);
	memcpy(e->report, r.report, KT_HASH_LEN);
	memcpy(e->vm_id, r.vm_id, sizeof(r.vm_id));
	e->cert = b->cert;
	e->cert_len = b->cert_len;
	e->in_batch = true;
	e->batch_no = no;
	e->record_no = i;
}

/* State of one pass over the whole log. */
struct walk {
	struct kt_ledger *log;
	struct tree tree;
	kt_ledger_visit_fn visit;
	void *arg;
	struct kt_checkpoint *next;	/* facts of what passed, for the next checkpoint */
	struct kt_uuidmap place, batch_time, revoked;	/* as in struct kt_ledger, so far */
	struct kt_err *err;
};

/* An entry (batch_no -1) or host batch whose signer's certificate was revoked before it. */
static int not_counted(struct kt_ledger *log, uint64_t index, int64_t batch_no,
		       const struct kt_ledger_writer *w, uint64_t revoked_in)
{
	struct kt_ledger_not_counted *grown;

	if (log->nskipped == log->skipped_cap) {
		log->skipped_cap = log->skipped_cap ? 2 * log->skipped_cap : 8;
		grown = realloc(log->skipped, log->skipped_cap * sizeof(*grown));
		if (!grown)
			return -1;
		log->skipped = grown;
	}
	grown = &log->skipped[log->nskipped++];
	grown->index = index;
	grown->batch_no = batch_no;
	grown->revoked_in = revoked_in;
	memcpy(grown->cert_id, w->cert_id, sizeof(grown->cert_id));
	return 0;
}

size_t kt_ledger_not_counted(const struct kt_ledger *log,
			     const struct kt_ledger_not_counted **list)
{
	*list = log->skipped;
	return log->nskipped;
}

/* A verified batch entry, visited as its VM results. */
static int batch_visit(struct walk *w, const struct kt_ledger_entry *outer)
{
	struct kt_ledger_entry e;
	struct kt_batch b;
	struct kt_ledger_writer wr;
	struct kt_err why;
	size_t off = 0;
	uint32_t no = 0, i;

	while (!kt_batch_body_next(outer->body, outer->body_len, &off, &b, w->err)) {
		if (batch_revoked(w->log, &w->revoked, &b, &wr, &why)) {
			if (not_counted(w->log, outer->index, no++, &wr, revoked_in(&w->revoked, &wr)))
				return kt_fail(w->err, "ledger", "out of memory");
			continue;
		}
		for (i = 0; i < b.n; i++) {
			batch_result_entry(outer, &b, no, i, &e);
			if (w->next && kt_checkpoint_add(w->next, &e))
				return kt_fail(w->err, "ledger", "out of memory");
			if (w->visit && w->visit(&e, w->arg))
				return -1;
		}
		no++;
	}
	return 0;
}

void kt_ledger_pin(struct kt_ledger *log, uint64_t size, const kt_hash root)
{
	log->pinned = true;
	log->pin_size = size;
	memcpy(log->pin_root, root, KT_HASH_LEN);
}

uint64_t kt_ledger_signatures_checked(const struct kt_ledger *log)
{
	return log->sig_checks;
}

const char *kt_ledger_spec(const struct kt_ledger *log)
{
	return log->spec;
}

int kt_ledger_checkpoint_use(struct kt_ledger *log, const char *path, bool full,
			     struct kt_err *err)
{
	char def[4096];

	if (!path) {
		kt_checkpoint_default_path(log->spec, def, sizeof(def));
		path = def;
	}
	free(log->cp_path);
	kt_checkpoint_free(log->cp);
	log->cp = NULL;
	log->cp_path = strdup(path);
	if (!log->cp_path)
		return kt_fail(err, "ledger", "out of memory");
	return full ? 0 : kt_checkpoint_load(path, log->spec, &log->cp, err);
}

int kt_ledger_checkpoint_memory(struct kt_ledger *log, struct kt_err *err)
{
	(void)err;
	log->cp_memory = true;
	return 0;
}

void kt_ledger_checkpoint_until(struct kt_ledger *log, uint64_t now)
{
	if (log->cp && log->cp->tmax > now) {
		kt_checkpoint_free(log->cp);
		log->cp = NULL;
	}
}

const char *kt_ledger_checkpoint_path(const struct kt_ledger *log)
{
	return log->cp_path;
}

int kt_ledger_checkpoint_save(struct kt_ledger *log, struct kt_err *err)
{
	const struct kt_checkpoint *next = log->cp_next;

	/* Nothing new verified: the file on disk already says it. */
	if (!log->cp_path || !next || (log->cp && log->cp->size == next->size))
		return 0;
	return kt_checkpoint_save(log->cp_path, log->spec, next, err);
}

/* At the pinned size, the entries so far must hash to the pinned root. */
static int pin_differs(struct walk *w, uint64_t at)
{
	kt_hash root;

	if (!w->log->pinned || at != w->log->pin_size)
		return 0;
	tree_root(&w->tree, root);
	if (!CRYPTO_memcmp(root, w->log->pin_root, KT_HASH_LEN))
		return 0;
	return kt_fail(w->err, "fork", "the first %llu entries differ from the pinned log: "
		       "history was rewritten", (unsigned long long)at);
}

/*
 * The entry's writer: its certificate a writer of the kind's role at the
 * entry's time, the signature over its first tbs_len bytes, and a host
 * writing only for itself; sets e->signer_id.
 */
static int entry_signed(struct kt_ledger_auth *auth, const uint8_t *data, size_t tbs_len,
			struct kt_ledger_entry *e, struct kt_ledger_writer *writer,
			struct kt_err *err)
{
	if (kt_ledger_auth_check(auth, e->cert, e->cert_len, e->time, role_for(e), writer, err) ||
	    kt_es256_verify(writer->pub, data, tbs_len, e->sig, err) ||
	    writer_may_write(e, writer, err))
		return -1;
	memcpy(e->signer_id, writer->host_id, KT_UUID_LEN);
	return 0;
}

int kt_ledger_entry_verify(struct kt_ledger_auth *auth, const uint8_t *data, size_t len,
			   bool headless, struct kt_ledger_entry *e, struct kt_err *err)
{
	struct kt_ledger_writer writer;
	size_t tbs_len;

	if (entry_decode(data, len, e, &tbs_len, headless, err) ||
	    entry_signed(auth, data, tbs_len, e, &writer, err))
		return -1;
	return 0;
}

static int walk_stored(uint64_t key, const uint8_t *data, size_t len, struct walk *w);

/* An entry as stored; a version 4 batch entry with its host batches put back. */
static int walk_entry(uint64_t key, const uint8_t *data, size_t len, void *arg)
{
	struct walk *w = arg;
	uint8_t *full;
	size_t full_len;
	int ret;

	if (key == w->tree.size && entry_expand(w->log, data, len, &full, &full_len, w->err))
		return fail_at(w->err, "entry", key);
	if (key != w->tree.size || !full)
		return walk_stored(key, data, len, w);
	ret = walk_stored(key, full, full_len, w);
	free(full);
	return ret;
}

static int walk_stored(uint64_t key, const uint8_t *data, size_t len, struct walk *w)
{
	struct kt_ledger_writer writer;
	struct kt_ledger_entry e;
	uint64_t at = w->tree.size, revoked;
	struct kt_err *err = w->err;
	kt_hash root, leaf;
	size_t tbs_len;

	if (key != at)
		return kt_fail(err, "missing", "entry %llu: missing (next stored entry is %llu)",
			       (unsigned long long)at, (unsigned long long)key);
	if (pin_differs(w, at))
		return -1;
	if (kt_ledger_entry_decode(data, len, &e, &tbs_len, err))
		goto bad;
	if (e.index != at) {
		kt_fail(err, "order", "claims index %llu (entries reordered or dropped)",
			(unsigned long long)e.index);
		goto bad;
	}
	tree_root(&w->tree, root);
	if (CRYPTO_memcmp(root, e.prev_root, KT_HASH_LEN)) {
		kt_fail(err, "chain", "does not follow the entries before it (prev_root differs)");
		goto bad;
	}
	w->log->sig_checks++;
	if (entry_signed(w->log->auth, data, tbs_len, &e, &writer, err))
		goto bad;
	revoked = revoked_in(&w->revoked, &writer);
	if (revoked != KT_LEDGER_NO_INDEX) {
		/* Verified and in the tree, but it counts for nothing (not visited). */
		kt_ledger_leaf_hash(data, len, leaf);
		tree_push(&w->tree, leaf);
		return not_counted(w->log, at, -1, &writer, revoked) ?
		       kt_fail(err, "ledger", "out of memory") : 0;
	}
	if (e.kind == KT_LEDGER_BATCH &&
	    batches_check(w->log, &w->place, &w->batch_time, &w->revoked, NULL, e.body,
			  e.body_len, true, err))
		goto bad;
	kt_ledger_leaf_hash(data, len, leaf);
	tree_push(&w->tree, leaf);
	if (e.kind == KT_LEDGER_BATCH)
		return batch_visit(w, &e);
	if (place_note(&w->place, &e) || note_revoked(&w->revoked, &e))
		return kt_fail(err, "ledger", "out of memory");
	if (w->next && kt_checkpoint_add(w->next, &e))
		return kt_fail(err, "ledger", "out of memory");
	return w->visit ? w->visit(&e, w->arg) : 0;
bad:
	return fail_at(err, "entry", at);
}

/* Leaf hashes of the entries added after a checkpoint, for the consistency proof. */
struct added {
	kt_hash *hash;
	uint64_t from, n;
};

static int collect_added(uint64_t key, const uint8_t *data, size_t len, void *arg)
{
	struct added *a = arg;

	if (key != a->from + a->n)
		return 1;
	kt_ledger_leaf_hash(data, len, a->hash[a->n++]);
	return 0;
}

/*
 * The signed head must extend the checkpoint: RFC 9162's consistency proof
 * from the checkpoint's tree to the head's, built from the checkpoint's
 * frontier and the entries added since. A rewritten history fails here, as
 * "fork", before anything it says is used.
 */
static int extends(struct kt_ledger *log, const struct head *h, const struct tree *t,
		   const char *what, struct kt_err *err)
{
	kt_hash proof[KT_MERKLE_MAX_PROOF], root;
	struct added a = { .from = t->size };
	int len, ret;

	if (!t->size)
		return 0;
	if (h->tree.size < t->size)
		return kt_fail(err, "rollback", "the log holds %llu entries, the %s %llu: "
			       "rolled back", (unsigned long long)h->tree.size, what,
			       (unsigned long long)t->size);
	a.hash = malloc((h->tree.size - t->size + 1) * sizeof(kt_hash));
	if (!a.hash)
		return kt_fail(err, "ledger", "out of memory");
	ret = log->backend->scan(log->backend, t->size, h->tree.size, collect_added, &a, err);
	if (ret < 0 || a.n != h->tree.size - t->size) {
		/* Entries missing: the walk names the first one. */
		free(a.hash);
		return ret < 0 ? -1 : 0;
	}
	tree_root(t, root);
	len = kt_merkle_consistency_proof_compact(t->frontier, t->nf, t->size, a.hash,
						  h->tree.size, proof);
	ret = len < 0 || kt_merkle_verify_consistency(t->size, h->tree.size, root, h->sth.root,
						      proof, (size_t)len);
	free(a.hash);
	if (ret)
		return kt_fail(err, "fork", "the signed head (%llu entries) does not extend the "
			       "%s (%llu entries): history was rewritten",
			       (unsigned long long)h->tree.size, what, (unsigned long long)t->size);
	return 0;
}

static int extends_checkpoint(struct kt_ledger *log, const struct head *h, struct kt_err *err)
{
	struct tree t = { .size = log->cp->size, .nf = log->cp->nf };

	memcpy(t.frontier, log->cp->frontier, t.nf * KT_HASH_LEN);
	return extends(log, h, &t, "checkpoint", err);
}

/*
 * The checkpoint's state, visited: one folded record per host and per VM,
 * then its kept entries in log order; batch_check() and place_note() state
 * from them. The tree goes on from its frontier.
 */
static int replay(struct walk *w, struct kt_err *err)
{
	const struct kt_checkpoint *cp = w->log->cp;
	struct kt_ledger_entry e;
	uint8_t when[KT_UUID_LEN] = { 0 };
	size_t off = 0, i;

	w->tree.size = cp->size;
	w->tree.nf = cp->nf;
	memcpy(w->tree.frontier, cp->frontier, cp->nf * KT_HASH_LEN);
	for (i = 0; i < cp->nhosts; i++) {
		memset(&e, 0, sizeof(e));
		e.kind = KT_LEDGER_FOLDED_HOST;
		e.host_state = &cp->hosts[i];
		memcpy(e.host_id, cp->hosts[i].host, KT_UUID_LEN);
		kt_be_put(when, cp->hosts[i].batch_time, 8);
		if (cp->hosts[i].batched && !kt_uuidmap_put(&w->batch_time, e.host_id, when))
			return kt_fail(err, "ledger", "out of memory");
		if (w->visit && w->visit(&e, w->arg))
			return kt_fail(err, "ledger", "cannot fold the checkpoint's hosts");
	}
	for (i = 0; i < cp->nvms; i++) {
		memset(&e, 0, sizeof(e));
		e.kind = KT_LEDGER_FOLDED_VM;
		e.vm_state = &cp->vms[i];
		e.index = cp->vms[i].last_index;
		e.time = cp->vms[i].last_time;
		kt_uuid_format(cp->vms[i].vm, e.vm_id);
		if (cp->vms[i].placed && !kt_uuidmap_put(&w->place, cp->vms[i].vm, cp->vms[i].place))
			return kt_fail(err, "ledger", "out of memory");
		if (w->visit && w->visit(&e, w->arg))
			return kt_fail(err, "ledger", "cannot fold the checkpoint's VMs");
	}
	while (!kt_checkpoint_next(cp, &off, &e)) {
		if (place_note(&w->place, &e) || note_revoked(&w->revoked, &e))
			return kt_fail(err, "ledger", "out of memory");
		if (w->visit && w->visit(&e, w->arg))
			return kt_fail(err, "ledger", "entry %llu: cannot fold it",
				       (unsigned long long)e.index);
	}
	return 0;
}

/* What this walk verified becomes the state the next checkpoint holds. */
static int keep_checkpoint(struct kt_ledger *log, struct walk *w, const struct head *h)
{
	struct kt_checkpoint *next = w->next;

	next->size = w->tree.size;
	tree_root(&w->tree, next->root);
	next->nf = w->tree.nf;
	memcpy(next->frontier, w->tree.frontier, w->tree.nf * KT_HASH_LEN);
	next->sth = malloc(h->sth_len ? h->sth_len : 1);
	if (!next->sth)
		return -1;
	memcpy(next->sth, h->raw + 2, h->sth_len);
	next->sth_len = h->sth_len;
	kt_checkpoint_free(log->cp_next);
	log->cp_next = next;
	w->next = NULL;
	return 0;
}

int kt_ledger_walk(struct kt_ledger *log, kt_ledger_visit_fn fn, void *arg, uint64_t *size,
		   uint8_t *root_out, uint64_t *bad_index, struct kt_err *err)
{
	struct walk w = { .log = log, .visit = fn, .arg = arg, .err = err };
	struct kt_err head_err = { 0 };
	bool head_checked = false;
	bool quick = log->follow && log->ftree && !fn && !log->cp && !log->pinned;
	uint64_t ignored;
	kt_hash root;
	struct head h;
	int head_ok, ret;

	if (!bad_index)
		bad_index = &ignored;
	*bad_index = UINT64_MAX;
	log->nskipped = 0;
	if (!log->auth)
		return kt_fail(err, "authorization", "verifying needs the ledger CA (--ledger-ca)");
	head_ok = head_read(log, &h, &head_err) == 0;
	if ((log->cp_path || log->cp_memory) && !(w.next = kt_checkpoint_start(log->cp))) {
		ret = kt_fail(err, "ledger", "out of memory");
		goto out;
	}
	if (quick) {
		/* Following: on from the state the last walk left, kept in memory. */
		ret = -1;
		if (!head_ok)
			ret = kt_fail(err, head_err.check, "%s", head_err.msg);
		else if (!(h.raw && sth_check(log, &h, err)) &&
			 !extends(log, &h, log->ftree, "verified log", err))
			ret = 0;
		if (ret)
			goto out;
		w.tree = *log->ftree;
		w.place = log->place;
		w.batch_time = log->batch_time;
		w.revoked = log->revoked;
		memset(&log->place, 0, sizeof(log->place));
		memset(&log->batch_time, 0, sizeof(log->batch_time));
		memset(&log->revoked, 0, sizeof(log->revoked));
		head_checked = true;
	} else if (log->cp) {
		if (!head_ok) {
			ret = kt_fail(err, head_err.check, "%s", head_err.msg);
			goto out;
		}
		ret = -1;
		if ((h.raw && sth_check(log, &h, err)) || extends_checkpoint(log, &h, err) ||
		    replay(&w, err))
			goto out;
		head_checked = true;
	}
	ret = log->backend->scan(log->backend, w.tree.size, UINT64_MAX, walk_entry, &w, err);
	if (!ret && head_ok && w.tree.size > h.tree.size) {
		/*
		 * A writer appended (entry and head in one transaction) after the
		 * head was read: a head read now may cover exactly what was walked.
		 * It is checked like any other below.
		 */
		struct head now;

		if (!head_read(log, &now, &head_err) && now.tree.size == w.tree.size) {
			free(h.raw);
			h = now;
			head_checked = false;
		} else {
			free(now.raw);
		}
	}
	if (ret) {
		*bad_index = w.tree.size;
		if (ret < 0 && strncmp(err->msg, "entry ", 6) && strcmp(err->check, "unavailable") &&
		    strcmp(err->check, "fork"))
			fail_at(err, "entry", w.tree.size);
		ret = -1;
	} else if (log->pinned && w.tree.size < log->pin_size) {
		ret = kt_fail(err, "rollback", "the log holds %llu entries, the pinned log %llu: "
			      "rolled back", (unsigned long long)w.tree.size,
			      (unsigned long long)log->pin_size);
	} else if (pin_differs(&w, w.tree.size)) {
		ret = -1;
	} else if (!head_ok) {
		ret = kt_fail(err, head_err.check, "%s", head_err.msg);
	} else if (w.tree.size < h.tree.size) {
		*bad_index = w.tree.size;
		ret = kt_fail(err, "missing", "entry %llu: missing (signed head covers %llu entries)",
			      (unsigned long long)w.tree.size, (unsigned long long)h.tree.size);
	} else if (w.tree.size > h.tree.size) {
		*bad_index = h.tree.size;
		ret = kt_fail(err, "head", "entry %llu: not covered by the signed head (size %llu)",
			      (unsigned long long)h.tree.size, (unsigned long long)h.tree.size);
	} else if (h.raw && !head_checked && sth_check(log, &h, err)) {
		ret = -1;
	} else {
		tree_root(&w.tree, root);
		if (CRYPTO_memcmp(root, h.sth.root, KT_HASH_LEN) && h.raw)
			ret = kt_fail(err, "head", "signed root does not match the entries");
	}
	if (!ret && w.next && h.raw && keep_checkpoint(log, &w, &h))
		ret = kt_fail(err, "ledger", "out of memory");
	if (!ret && log->cp_memory && log->cp_next) {
		/* The next walk starts where this one ended. */
		kt_checkpoint_free(log->cp);
		log->cp = log->cp_next;
		log->cp_next = NULL;
	}
	if (!ret && !log->ftree && !(log->ftree = malloc(sizeof(*log->ftree))))
		ret = kt_fail(err, "ledger", "out of memory");
	if (!ret) {
		kt_uuidmap_free(&log->place);
		kt_uuidmap_free(&log->batch_time);
		kt_uuidmap_free(&log->revoked);
		log->place = w.place;
		log->batch_time = w.batch_time;
		log->revoked = w.revoked;
		memset(&w.place, 0, sizeof(w.place));
		memset(&w.batch_time, 0, sizeof(w.batch_time));
		memset(&w.revoked, 0, sizeof(w.revoked));
		*log->ftree = w.tree;
	}
	if (size)
		*size = w.tree.size;
	if (root_out)
		tree_root(&w.tree, root_out);
out:
	if (ret) {
		/* The next walk starts over. */
		free(log->ftree);
		log->ftree = NULL;
	}
	kt_checkpoint_free(w.next);
	kt_uuidmap_free(&w.place);
	kt_uuidmap_free(&w.batch_time);
	kt_uuidmap_free(&w.revoked);
	free(h.raw);
	return ret;
}

int kt_ledger_follow(struct kt_ledger *log, struct kt_err *err)
{
	(void)err;
	log->follow = true;
	return 0;
}

int kt_ledger_verify(struct kt_ledger *log, uint64_t *size, uint64_t *bad_index,
		     struct kt_err *err)
{
	return kt_ledger_walk(log, NULL, NULL, size, NULL, bad_index, err);
}

int kt_ledger_for_each(struct kt_ledger *log, kt_ledger_visit_fn fn, void *arg,
		       struct kt_err *err)
{
	return kt_ledger_walk(log, fn, arg, NULL, NULL, NULL, err);
}

/* Leaf hashes of entries [0, n), read without verification (proofs are checked by their user). */
struct leaves {
	kt_hash *hash;
	uint64_t n;
};

static int collect_leaf(uint64_t key, const uint8_t *data, size_t len, void *arg)
{
	struct leaves *l = arg;

	if (key != l->n)
		return -1;
	kt_ledger_leaf_hash(data, len, l->hash[l->n++]);
	return 0;
}

static int leaves_read(struct kt_ledger *log, uint64_t *n, struct leaves *l, struct kt_err *err)
{
	struct kt_ledger_sth sth;
	uint8_t *raw;
	int ret;

	if (kt_ledger_head(log, &sth, &raw, err))
		return -1;
	free(raw);
	if (!*n)
		*n = sth.size;
	if (*n > sth.size)
		return kt_fail(err, "size", "tree size %llu is beyond the head (%llu)",
			       (unsigned long long)*n, (unsigned long long)sth.size);
	l->n = 0;
	l->hash = malloc((*n ? *n : 1) * sizeof(kt_hash));
	if (!l->hash)
		return kt_fail(err, "ledger", "out of memory");
	ret = log->backend->scan(log->backend, 0, *n, collect_leaf, l, err);
	if (ret || l->n != *n) {
		free(l->hash);
		return ret < 0 ? -1 : kt_fail(err, "missing", "entry %llu: missing",
					      (unsigned long long)l->n);
	}
	return 0;
}

int kt_ledger_leaves(struct kt_ledger *log, uint64_t *size, kt_hash **leaves,
		     struct kt_err *err)
{
	struct leaves l;

	if (leaves_read(log, size, &l, err))
		return -1;
	*leaves = l.hash;
	return 0;
}

int kt_ledger_prove_inclusion(struct kt_ledger *log, uint64_t index, uint64_t size,
			      kt_hash leaf, kt_hash root, kt_hash *proof, size_t *proof_len,
			      struct kt_err *err)
{
	struct leaves l;
	int len;

	if (leaves_read(log, &size, &l, err))
		return -1;
	len = kt_merkle_inclusion_proof(l.hash, size, index, proof);
	if (len >= 0) {
		memcpy(leaf, l.hash[index], KT_HASH_LEN);
		kt_merkle_root(l.hash, size, root);
		*proof_len = (size_t)len;
	}
	free(l.hash);
	if (len < 0)
		return kt_fail(err, "size", "entry %llu is not in a tree of %llu entries",
			       (unsigned long long)index, (unsigned long long)size);
	return 0;
}

int kt_ledger_prove_consistency(struct kt_ledger *log, uint64_t m, uint64_t n,
				kt_hash root_m, kt_hash root_n, kt_hash *proof,
				size_t *proof_len, struct kt_err *err)
{
	struct leaves l;
	int len;

	if (leaves_read(log, &n, &l, err))
		return -1;
	len = m <= n ? kt_merkle_consistency_proof(l.hash, m, n, proof) : -1;
	if (len >= 0) {
		kt_merkle_root(l.hash, m, root_m);
		kt_merkle_root(l.hash, n, root_n);
		*proof_len = (size_t)len;
	}
	free(l.hash);
	if (len < 0)
		return kt_fail(err, "size", "tree size %llu is beyond %llu",
			       (unsigned long long)m, (unsigned long long)n);
	return 0;
}
