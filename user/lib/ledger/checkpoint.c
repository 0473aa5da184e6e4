// SPDX-License-Identifier: GPL-2.0
/*
 * Checkpoint files: the layout and its checks (checkpoint.h). All integers
 * big-endian:
 *
 *   0    16  "kvmtrust-ckpt-2\n"
 *   16   2   S, length of the ledger spec; S bytes of it
 *   ..   8   tree size n;  32 root;  1 count f;  f x 32 frontier hashes
 *   ..   2   H, length of the signed tree head; H bytes of it
 *   ..   8   tmax, the latest time of an entry folded
 *   ..   8   F, length of the kept entries; F bytes of records, one each:
 *            kind 1 | result 1 | L 1 | C 2 | index 8 | time 8 | host 16 |
 *            signer 16 | VM id L | certificate C (register entries only)
 *   ..   8   V; V x 91-byte VM records: VM 16 | place 16 | host 16 |
 *            flags 1 (1 placed, 2 seen) | last result 1 | score 1 |
 *            last attest 8 | last time 8 | last index 8 | revoked 8 |
 *            steps 8
 *   ..   8   H; H x host records: host 16 | revoked 8 | flags 1 (1 batched) |
 *            batch time 8 | N 8 | N x (time 8 | index 8) failures
 *   ..   32  SHA-256 of every byte before it
 *
 * Version 1 files (one fact per entry) are refused by name: --full
 * re-verifies the log and writes a version 2 file in their place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/encoding.h"
#include "common/outfile.h"
#include "ledger/checkpoint.h"
#include "ledger/score.h"

#define MAGIC "kvmtrust-ckpt-2\n"
#define MAGIC_V1 "kvmtrust-ckpt-1\n"
#define MAGIC_LEN 16
#define FACT_FIXED 53
#define VM_REC 91
#define HOST_REC 41
#define NONE KT_LEDGER_NO_INDEX
#define FILE_MAX (1ULL << 32)

void kt_checkpoint_default_path(const char *spec, char *out, size_t cap)
{
	const char *dir = getenv("KVMTRUST_STATE_DIR");
	char hex[2 * KT_HASH_LEN + 1];
	kt_hash h;

	if (!dir || !*dir)
		dir = KT_CHECKPOINT_DIR;
	if (!strncmp(spec, "sqlite:", 7)) {
		snprintf(out, cap, "%s.checkpoint", spec + 7);
		return;
	}
	kt_sha256(spec, strlen(spec), h);
	kt_hex_encode(h, KT_HASH_LEN, hex);
	snprintf(out, cap, "%s/checkpoint-%.16s", dir, hex);
}

void kt_checkpoint_free(struct kt_checkpoint *cp)
{
	size_t i;

	if (!cp)
		return;
	free(cp->sth);
	free(cp->facts);
	free(cp->vms);
	for (i = 0; i < cp->nhosts; i++)
		free(cp->hosts[i].fails);
	free(cp->hosts);
	kt_uuidmap_free(&cp->vm_ix);
	kt_uuidmap_free(&cp->host_ix);
	free(cp);
}

/*
 * The record for id in the array *arr (n used, *cap allocated, ix its
 * index): *created when new (zeroed), NULL when out of memory.
 */
static void *state_get(struct kt_uuidmap *ix, void **arr, size_t *n, size_t *cap, size_t sz,
		       const uint8_t id[KT_UUID_LEN], bool *created)
{
	uint8_t *at = kt_uuidmap_get(ix, id), pos[KT_UUID_LEN] = { 0 };
	size_t c = *cap ? 2 * *cap : 64;
	void *p;

	*created = !at;
	if (at)
		return (uint8_t *)*arr + (kt_be_get(at, 8) - 1) * sz;
	if (*n == *cap) {
		if (!(p = realloc(*arr, c * sz)))
			return NULL;
		*arr = p;
		*cap = c;
	}
	kt_be_put(pos, *n + 1, 8);
	if (!kt_uuidmap_put(ix, id, pos))
		return NULL;
	p = (uint8_t *)*arr + (*n)++ * sz;
	memset(p, 0, sz);
	return p;
}

/* The folded state of VM id, created when new; NULL when out of memory. */
static struct kt_ledger_vm_state *vm_get(struct kt_checkpoint *cp, const uint8_t id[KT_UUID_LEN])
{
	struct kt_ledger_vm_state *v;
	bool created;

	v = state_get(&cp->vm_ix, (void **)&cp->vms, &cp->nvms, &cp->vms_cap, sizeof(*v), id,
		      &created);
	if (v && created) {
		kt_score_vm_init(v);
		memcpy(v->vm, id, KT_UUID_LEN);
	}
	return v;
}

static struct kt_ledger_host_state *host_get(struct kt_checkpoint *cp,
					     const uint8_t id[KT_UUID_LEN])
{
	struct kt_ledger_host_state *h;
	bool created;

	h = state_get(&cp->host_ix, (void **)&cp->hosts, &cp->nhosts, &cp->hosts_cap, sizeof(*h),
		      id, &created);
	if (h && created) {
		memcpy(h->host, id, KT_UUID_LEN);
		h->revoked = NONE;
	}
	return h;
}

static int reserve(struct kt_checkpoint *cp, size_t more)
{
	size_t cap = cp->facts_cap ? cp->facts_cap : 4096;
	uint8_t *grown;

	if (cp->facts_len + more <= cp->facts_cap)
		return 0;
	while (cap < cp->facts_len + more)
		cap *= 2;
	grown = realloc(cp->facts, cap);
	if (!grown)
		return -1;
	cp->facts = grown;
	cp->facts_cap = cap;
	return 0;
}

/* Copies from's folded state (not its tree) into the empty cp. */
static int copy_state(struct kt_checkpoint *cp, const struct kt_checkpoint *from)
{
	struct kt_ledger_host_state *h;
	struct kt_ledger_vm_state *v;
	size_t i;

	cp->tmax = from->tmax;
	if (reserve(cp, from->facts_len + 1))
		return -1;
	if (from->facts_len)
		memcpy(cp->facts, from->facts, from->facts_len);
	cp->facts_len = from->facts_len;
	for (i = 0; i < from->nvms; i++) {
		if (!(v = vm_get(cp, from->vms[i].vm)))
			return -1;
		*v = from->vms[i];
	}
	for (i = 0; i < from->nhosts; i++) {
		if (!(h = host_get(cp, from->hosts[i].host)))
			return -1;
		*h = from->hosts[i];
		h->fails = NULL;
		h->nfails = h->fails_cap = 0;
		if (from->hosts[i].nfails &&
		    !(h->fails = malloc(from->hosts[i].nfails * sizeof(*h->fails))))
			return -1;
		if (from->hosts[i].nfails)
			memcpy(h->fails, from->hosts[i].fails,
			       from->hosts[i].nfails * sizeof(*h->fails));
		h->nfails = h->fails_cap = from->hosts[i].nfails;
	}
	return 0;
}

struct kt_checkpoint *kt_checkpoint_start(const struct kt_checkpoint *from)
{
	struct kt_checkpoint *cp = calloc(1, sizeof(*cp));

	if (!cp || !from)
		return cp;
	if (copy_state(cp, from)) {
		kt_checkpoint_free(cp);
		return NULL;
	}
	return cp;
}

/* Keeps e whole, as a fact. */
static int keep(struct kt_checkpoint *cp, const struct kt_ledger_entry *e)
{
	size_t vm_len = strlen(e->vm_id), cert_len = e->kind == KT_LEDGER_REGISTER ? e->cert_len : 0;
	uint8_t *p;

	if (reserve(cp, FACT_FIXED + vm_len + cert_len))
		return -1;
	p = cp->facts + cp->facts_len;
	p[0] = e->kind;
	p[1] = e->result;
	p[2] = (uint8_t)vm_len;
	kt_be_put(p + 3, cert_len, 2);
	kt_be_put(p + 5, e->index, 8);
	kt_be_put(p + 13, e->time, 8);
	memcpy(p + 21, e->host_id, KT_UUID_LEN);
	memcpy(p + 37, e->signer_id, KT_UUID_LEN);
	memcpy(p + FACT_FIXED, e->vm_id, vm_len);
	memcpy(p + FACT_FIXED + vm_len, e->cert, cert_len);
	cp->facts_len += FACT_FIXED + vm_len + cert_len;
	return 0;
}

/*
 * Folds e as kt_score_feed() reads it at any time at or after cp->tmax,
 * and as the walk keeps placements and batch times: attestations, moves
 * and rollbacks of a UUID VM. Every other entry is kept whole and visited
 * after the folded state, in log order (so it is still left out at a time
 * before its own). The fold leaves out entries signed by a host after its
 * revocation: those revocations count towards tmax too.
 */
int kt_checkpoint_add(struct kt_checkpoint *cp, const struct kt_ledger_entry *e)
{
	struct kt_ledger_host_state *signer, *host;
	struct kt_ledger_vm_state *v = NULL;
	uint8_t vm[KT_UUID_LEN];
	bool is_vm = e->vm_id[0] && !kt_uuid_parse(e->vm_id, vm);
	bool placing = e->kind == KT_LEDGER_ATTEST || e->kind == KT_LEDGER_MOVE ||
		       e->kind == KT_LEDGER_ROLLBACK;
	bool kept = !(is_vm && placing), counted;
	int delta;

	if (kept && keep(cp, e))
		return -1;
	if (e->kind == KT_LEDGER_REGISTER)
		return 0;
	if (!(signer = host_get(cp, e->signer_id)) || !(host = host_get(cp, e->host_id)) ||
	    (is_vm && placing && !(v = vm_get(cp, vm))))
		return -1;
	if ((!kept || (e->kind == KT_LEDGER_REVOKE && !e->vm_id[0])) && e->time > cp->tmax)
		cp->tmax = e->time;
	if (e->in_batch && (!host->batched || host->batch_time < e->time)) {
		host->batched = true;
		host->batch_time = e->time;
	}
	if (v) {
		memcpy(v->place, e->host_id, KT_UUID_LEN);
		v->placed = true;
	}
	/* Entries signed by a host after its revocation count for nothing. */
	counted = signer->revoked == NONE || signer->revoked >= e->index;
	if (counted && e->kind == KT_LEDGER_REVOKE && !e->vm_id[0] && host->revoked == NONE)
		host->revoked = e->index;
	if (counted && !kept && e->kind == KT_LEDGER_ATTEST && e->result == KT_LEDGER_FAIL &&
	    kt_score_add_fail(&host->fails, &host->nfails, &host->fails_cap, e->time, e->index))
		return -1;
	if (v && counted)
		kt_score_vm_apply(v, e, &delta);
	else if (v)
		v->steps++;
	return 0;
}

int kt_checkpoint_next(const struct kt_checkpoint *cp, size_t *off, struct kt_ledger_entry *e)
{
	size_t left = cp->facts_len - *off, vm_len, cert_len;
	const uint8_t *p;

	if (!left)
		return 1;	/* also no facts at all: facts may be NULL */
	p = cp->facts + *off;
	if (left < FACT_FIXED)
		return -1;
	vm_len = p[2];
	cert_len = kt_be_get(p + 3, 2);
	if (vm_len > KT_LEDGER_VM_MAX || left < FACT_FIXED + vm_len + cert_len)
		return -1;
	memset(e, 0, sizeof(*e));
	e->kind = p[0];
	e->result = p[1];
	e->index = kt_be_get(p + 5, 8);
	e->time = kt_be_get(p + 13, 8);
	memcpy(e->host_id, p + 21, KT_UUID_LEN);
	memcpy(e->signer_id, p + 37, KT_UUID_LEN);
	memcpy(e->vm_id, p + FACT_FIXED, vm_len);
	e->cert = cert_len ? p + FACT_FIXED + vm_len : NULL;
	e->cert_len = cert_len;
	*off += FACT_FIXED + vm_len + cert_len;
	return 0;
}

/* What the digest cannot show: the parts agree with each other. */
static int consistent(const struct kt_checkpoint *cp, struct kt_err *err)
{
	struct kt_ledger_entry e;
	uint64_t last = 0;
	size_t off = 0, i;
	kt_hash root;
	int ret;

	kt_merkle_fold(cp->frontier, cp->nf, root);
	if (cp->nf != (unsigned int)__builtin_popcountll(cp->size) ||
	    CRYPTO_memcmp(root, cp->root, KT_HASH_LEN))
		return kt_fail(err, "checkpoint", "its frontier does not fold to its root");
	if (cp->size && (cp->sth_len < 49 || kt_be_get(cp->sth + 1, 8) != cp->size ||
			 CRYPTO_memcmp(cp->sth + 17, cp->root, KT_HASH_LEN)))
		return kt_fail(err, "checkpoint", "its signed tree head is not the one of its tree");
	/* Kept entries in log order, within the tree; folded state within it too. */
	while (!(ret = kt_checkpoint_next(cp, &off, &e))) {
		if (e.index >= cp->size || e.index < last ||
		    (e.kind == KT_LEDGER_REVOKE && !e.vm_id[0] && e.time > cp->tmax))
			return kt_fail(err, "checkpoint", "its kept entry %llu is out of order",
				       (unsigned long long)e.index);
		last = e.index;
	}
	if (ret < 0)
		return kt_fail(err, "checkpoint", "its kept entries are malformed");
	for (i = 0; i < cp->nvms; i++)
		if ((cp->vms[i].seen && (cp->vms[i].last_index >= cp->size ||
					 cp->vms[i].last_time > cp->tmax)) ||
		    cp->vms[i].score < 0 || cp->vms[i].score > KT_SCORE_MAX)
			return kt_fail(err, "checkpoint", "its state of VM %zu is out of range", i);
	return 0;
}

/* Reads the bytes of a regular file only its owner, root or the reader, may touch. */
static uint8_t *read_protected(const char *path, size_t *len, struct kt_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	uint8_t *buf = NULL;
	struct stat st;
	ssize_t got;

	if (fd < 0) {
		if (errno != ENOENT)
			kt_fail(err, "checkpoint", "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		kt_fail(err, "checkpoint", "'%s' is not a regular file", path);
	} else if ((st.st_mode & 077) || (st.st_uid && st.st_uid != geteuid())) {
		kt_fail(err, "checkpoint", "'%s' may be written by others (mode %03o, owner %u): it "
			"must be 0600 and root's or yours", path, st.st_mode & 0777, st.st_uid);
	} else if ((uint64_t)st.st_size > FILE_MAX || !(buf = malloc(st.st_size ? st.st_size : 1))) {
		kt_fail(err, "checkpoint", "'%s' is too large", path);
	} else if ((got = read(fd, buf, st.st_size)) != st.st_size) {
		kt_fail(err, "checkpoint", "cannot read '%s'", path);
		free(buf);
		buf = NULL;
	}
	*len = st.st_size;
	close(fd);
	return buf;
}

/* Takes n bytes at *off, or fails. */
static const uint8_t *take(const uint8_t *buf, size_t len, size_t *off, uint64_t n)
{
	const uint8_t *p = buf + *off;

	if (n > len - *off)
		return NULL;
	*off += n;
	return p;
}

static int parse_state(const uint8_t *buf, size_t body, size_t *off, struct kt_checkpoint *cp,
		       struct kt_err *err)
{
	struct kt_ledger_host_state *h;
	struct kt_ledger_vm_state *v;
	const uint8_t *p;
	uint64_t n, i, k;

	if (!(p = take(buf, body, off, 8)) || (n = kt_be_get(p, 8)) > (body - *off) / VM_REC)
		return kt_fail(err, "checkpoint", "truncated");
	for (i = 0; i < n; i++) {
		if (!(p = take(buf, body, off, VM_REC)))
			return kt_fail(err, "checkpoint", "truncated");
		if (kt_uuidmap_get(&cp->vm_ix, p))
			return kt_fail(err, "checkpoint", "VM %llu appears twice", (unsigned long long)i);
		if (!(v = vm_get(cp, p)))
			return kt_fail(err, "checkpoint", "out of memory");
		memcpy(v->place, p + 16, KT_UUID_LEN);
		memcpy(v->host_id, p + 32, KT_UUID_LEN);
		v->placed = p[48] & 1;
		v->seen = p[48] & 2;
		v->last_result = p[49];
		v->score = p[50];
		v->last_attest = kt_be_get(p + 51, 8);
		v->last_time = kt_be_get(p + 59, 8);
		v->last_index = kt_be_get(p + 67, 8);
		v->revoked = kt_be_get(p + 75, 8);
		v->steps = kt_be_get(p + 83, 8);
	}
	if (!(p = take(buf, body, off, 8)) || (n = kt_be_get(p, 8)) > (body - *off) / HOST_REC)
		return kt_fail(err, "checkpoint", "truncated");
	for (i = 0; i < n; i++) {
		if (!(p = take(buf, body, off, HOST_REC)))
			return kt_fail(err, "checkpoint", "truncated");
		if (kt_uuidmap_get(&cp->host_ix, p))
			return kt_fail(err, "checkpoint", "host %llu appears twice",
				       (unsigned long long)i);
		if (!(h = host_get(cp, p)))
			return kt_fail(err, "checkpoint", "out of memory");
		h->revoked = kt_be_get(p + 16, 8);
		h->batched = p[24] & 1;
		h->batch_time = kt_be_get(p + 25, 8);
		k = kt_be_get(p + 33, 8);
		if (k > (body - *off) / 16)
			return kt_fail(err, "checkpoint", "truncated");
		if (k && !(h->fails = malloc(k * sizeof(*h->fails))))
			return kt_fail(err, "checkpoint", "out of memory");
		h->nfails = h->fails_cap = k;
		for (p = take(buf, body, off, 16 * k); k--; p += 16)
			h->fails[h->nfails - k - 1] = (struct kt_ledger_fail){
				.time = kt_be_get(p, 8), .index = kt_be_get(p + 8, 8) };
	}
	return 0;
}

static int parse(const uint8_t *buf, size_t len, const char *spec, struct kt_checkpoint *cp,
		 struct kt_err *err)
{
	const uint8_t *p, *q;
	size_t off = MAGIC_LEN, body;
	kt_hash digest;
	uint64_t n;

	if (len >= MAGIC_LEN && !memcmp(buf, MAGIC_V1, MAGIC_LEN))
		return kt_fail(err, "checkpoint", "a version 1 checkpoint (one fact per entry) is "
			       "no longer read");
	if (len < MAGIC_LEN + KT_HASH_LEN || memcmp(buf, MAGIC, MAGIC_LEN))
		return kt_fail(err, "checkpoint", "not a version 2 checkpoint");
	body = len - KT_HASH_LEN;
	kt_sha256(buf, body, digest);
	if (CRYPTO_memcmp(digest, buf + body, KT_HASH_LEN))
		return kt_fail(err, "checkpoint", "its digest does not match its contents");
	if (!(p = take(buf, body, &off, 2)) || !(q = take(buf, body, &off, kt_be_get(p, 2))))
		return kt_fail(err, "checkpoint", "truncated");
	if (kt_be_get(p, 2) != strlen(spec) || memcmp(q, spec, strlen(spec)))
		return kt_fail(err, "checkpoint", "it belongs to ledger '%.*s', not '%s'",
			       (int)kt_be_get(p, 2), q, spec);
	if (!(p = take(buf, body, &off, 8 + KT_HASH_LEN + 1)))
		return kt_fail(err, "checkpoint", "truncated");
	cp->size = kt_be_get(p, 8);
	memcpy(cp->root, p + 8, KT_HASH_LEN);
	cp->nf = p[8 + KT_HASH_LEN];
	if (cp->nf > KT_CHECKPOINT_FRONTIER_MAX ||
	    !(p = take(buf, body, &off, (uint64_t)cp->nf * KT_HASH_LEN)))
		return kt_fail(err, "checkpoint", "truncated");
	memcpy(cp->frontier, p, cp->nf * KT_HASH_LEN);
	if (!(p = take(buf, body, &off, 2)) || !(q = take(buf, body, &off, n = kt_be_get(p, 2))))
		return kt_fail(err, "checkpoint", "truncated");
	cp->sth_len = n;
	cp->sth = malloc(n ? n : 1);
	if (!cp->sth || !(p = take(buf, body, &off, 16)))
		return kt_fail(err, "checkpoint", "truncated");
	memcpy(cp->sth, q, n);
	cp->tmax = kt_be_get(p, 8);
	n = kt_be_get(p + 8, 8);
	if (!(q = take(buf, body, &off, n)))
		return kt_fail(err, "checkpoint", "its kept entries are not %llu bytes",
			       (unsigned long long)n);
	cp->facts = malloc(n ? n : 1);
	if (!cp->facts)
		return kt_fail(err, "checkpoint", "out of memory");
	memcpy(cp->facts, q, n);
	cp->facts_len = cp->facts_cap = n;
	if (parse_state(buf, body, &off, cp, err))
		return -1;
	if (off != body)
		return kt_fail(err, "checkpoint", "%zu bytes after its state", body - off);
	return consistent(cp, err);
}

int kt_checkpoint_load(const char *path, const char *spec, struct kt_checkpoint **out,
		       struct kt_err *err)
{
	char msg[sizeof(err->msg)];
	struct kt_checkpoint *cp;
	uint8_t *buf;
	size_t len;
	int ret = 0;

	*out = NULL;
	kt_err_clear(err);
	buf = read_protected(path, &len, err);
	if (!buf)
		return err->check ? -1 : 0;
	cp = calloc(1, sizeof(*cp));
	if (!cp) {
		ret = kt_fail(err, "checkpoint", "out of memory");
	} else if (parse(buf, len, spec, cp, err)) {
		memcpy(msg, err->msg, sizeof(msg));
		ret = kt_fail(err, "checkpoint", "checkpoint '%s': %s; re-verify with --full", path,
			      msg);
		kt_checkpoint_free(cp);
		cp = NULL;
	}
	free(buf);
	*out = cp;
	return ret;
}

int kt_checkpoint_save(const char *path, const char *spec, const struct kt_checkpoint *cp,
		       struct kt_err *err)
{
	size_t spec_len = strlen(spec), len, off = 0, i, k;
	const struct kt_ledger_host_state *h;
	const struct kt_ledger_vm_state *v;
	uint8_t *buf, *p;
	int ret;

	len = MAGIC_LEN + 2 + spec_len + 8 + KT_HASH_LEN + 1 + cp->nf * KT_HASH_LEN + 2 +
	      cp->sth_len + 8 + 8 + cp->facts_len + 8 + cp->nvms * VM_REC + 8 +
	      cp->nhosts * HOST_REC + KT_HASH_LEN;
	for (i = 0; i < cp->nhosts; i++)
		len += 16 * cp->hosts[i].nfails;
	buf = calloc(1, len);
	if (!buf)
		return kt_fail(err, "checkpoint", "out of memory");
	memcpy(buf, MAGIC, MAGIC_LEN);
	off = MAGIC_LEN;
	kt_be_put(buf + off, spec_len, 2);
	memcpy(buf + off + 2, spec, spec_len);
	off += 2 + spec_len;
	kt_be_put(buf + off, cp->size, 8);
	memcpy(buf + off + 8, cp->root, KT_HASH_LEN);
	buf[off + 8 + KT_HASH_LEN] = (uint8_t)cp->nf;
	off += 8 + KT_HASH_LEN + 1;
	memcpy(buf + off, cp->frontier, cp->nf * KT_HASH_LEN);
	off += cp->nf * KT_HASH_LEN;
	kt_be_put(buf + off, cp->sth_len, 2);
	memcpy(buf + off + 2, cp->sth, cp->sth_len);
	off += 2 + cp->sth_len;
	kt_be_put(buf + off, cp->tmax, 8);
	kt_be_put(buf + off + 8, cp->facts_len, 8);
	if (cp->facts_len)	/* facts may be NULL when empty */
		memcpy(buf + off + 16, cp->facts, cp->facts_len);
	off += 16 + cp->facts_len;
	kt_be_put(buf + off, cp->nvms, 8);
	off += 8;
	for (i = 0; i < cp->nvms; i++, off += VM_REC) {
		v = &cp->vms[i];
		p = buf + off;
		memcpy(p, v->vm, KT_UUID_LEN);
		memcpy(p + 16, v->place, KT_UUID_LEN);
		memcpy(p + 32, v->host_id, KT_UUID_LEN);
		p[48] = (v->placed ? 1 : 0) | (v->seen ? 2 : 0);
		p[49] = v->last_result;
		p[50] = (uint8_t)v->score;
		kt_be_put(p + 51, v->last_attest, 8);
		kt_be_put(p + 59, v->last_time, 8);
		kt_be_put(p + 67, v->last_index, 8);
		kt_be_put(p + 75, v->revoked, 8);
		kt_be_put(p + 83, v->steps, 8);
	}
	kt_be_put(buf + off, cp->nhosts, 8);
	off += 8;
	for (i = 0; i < cp->nhosts; i++) {
		h = &cp->hosts[i];
		p = buf + off;
		memcpy(p, h->host, KT_UUID_LEN);
		kt_be_put(p + 16, h->revoked, 8);
		p[24] = h->batched ? 1 : 0;
		kt_be_put(p + 25, h->batch_time, 8);
		kt_be_put(p + 33, h->nfails, 8);
		off += HOST_REC;
		for (k = 0; k < h->nfails; k++, off += 16) {
			kt_be_put(buf + off, h->fails[k].time, 8);
			kt_be_put(buf + off + 8, h->fails[k].index, 8);
		}
	}
	kt_sha256(buf, off, buf + off);
	ret = kt_file_write(path, buf, len, 0600, err);
	free(buf);
	return ret;
}
