// SPDX-License-Identifier: GPL-2.0
/*
 * Checkpoint files: the layout and its checks (checkpoint.h). All integers
 * big-endian:
 *
 *   0    16  "kvmtrust-ckpt-1\n"
 *   16   2   S, length of the ledger spec; S bytes of it
 *   ..   8   tree size n;  32 root;  1 count f;  f x 32 frontier hashes
 *   ..   2   H, length of the signed tree head; H bytes of it
 *   ..   8   F, length of the facts; F bytes of records, one per entry:
 *            kind 1 | result 1 | L 1 | C 2 | index 8 | time 8 | host 16 |
 *            signer 16 | VM id L | certificate C (register entries only);
 *            a batch entry has one record per VM result, each of kind 7
 *            (read back as attest, in_batch) with the entry's index
 *   ..   32  SHA-256 of every byte before it
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

#define MAGIC "kvmtrust-ckpt-1\n"
#define MAGIC_LEN 16
#define FACT_FIXED 53
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
	if (!cp)
		return;
	free(cp->sth);
	free(cp->facts);
	free(cp);
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

struct kt_checkpoint *kt_checkpoint_start(const struct kt_checkpoint *from)
{
	struct kt_checkpoint *cp = calloc(1, sizeof(*cp));

	if (!cp || !from)
		return cp;
	if (reserve(cp, from->facts_len + 1)) {
		kt_checkpoint_free(cp);
		return NULL;
	}
	memcpy(cp->facts, from->facts, from->facts_len);
	cp->facts_len = from->facts_len;
	return cp;
}

int kt_checkpoint_add(struct kt_checkpoint *cp, const struct kt_ledger_entry *e)
{
	size_t vm_len = strlen(e->vm_id), cert_len = e->kind == KT_LEDGER_REGISTER ? e->cert_len : 0;
	uint8_t *p;

	if (reserve(cp, FACT_FIXED + vm_len + cert_len))
		return -1;
	p = cp->facts + cp->facts_len;
	p[0] = e->in_batch ? KT_LEDGER_BATCH : e->kind;
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

int kt_checkpoint_next(const struct kt_checkpoint *cp, size_t *off, struct kt_ledger_entry *e)
{
	const uint8_t *p = cp->facts + *off;
	size_t left = cp->facts_len - *off, vm_len, cert_len;

	if (!left)
		return 1;
	if (left < FACT_FIXED)
		return -1;
	vm_len = p[2];
	cert_len = kt_be_get(p + 3, 2);
	if (vm_len > KT_LEDGER_VM_MAX || left < FACT_FIXED + vm_len + cert_len)
		return -1;
	memset(e, 0, sizeof(*e));
	e->kind = p[0] == KT_LEDGER_BATCH ? KT_LEDGER_ATTEST : p[0];
	e->in_batch = p[0] == KT_LEDGER_BATCH;
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
	uint64_t n = 0;
	size_t off = 0;
	bool batched = false;
	kt_hash root;
	int ret;

	kt_merkle_fold(cp->frontier, cp->nf, root);
	if (cp->nf != (unsigned int)__builtin_popcountll(cp->size) ||
	    CRYPTO_memcmp(root, cp->root, KT_HASH_LEN))
		return kt_fail(err, "checkpoint", "its frontier does not fold to its root");
	if (cp->size && (cp->sth_len < 49 || kt_be_get(cp->sth + 1, 8) != cp->size ||
			 CRYPTO_memcmp(cp->sth + 17, cp->root, KT_HASH_LEN)))
		return kt_fail(err, "checkpoint", "its signed tree head is not the one of its tree");
	/* One fact an entry, or one per VM result of a batch entry: all at its index. */
	while (!(ret = kt_checkpoint_next(cp, &off, &e))) {
		if (e.in_batch && n && e.index == n - 1 && batched)
			continue;
		batched = e.in_batch;
		if (e.index != n++)
			return kt_fail(err, "checkpoint", "its facts skip entry %llu",
				       (unsigned long long)n - 1);
	}
	if (ret < 0 || n != cp->size)
		return kt_fail(err, "checkpoint", "its facts do not cover its %llu entries",
			       (unsigned long long)cp->size);
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

static int parse(const uint8_t *buf, size_t len, const char *spec, struct kt_checkpoint *cp,
		 struct kt_err *err)
{
	const uint8_t *p, *q;
	size_t off = MAGIC_LEN, body;
	kt_hash digest;
	uint64_t n;

	if (len < MAGIC_LEN + KT_HASH_LEN || memcmp(buf, MAGIC, MAGIC_LEN))
		return kt_fail(err, "checkpoint", "not a version 1 checkpoint");
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
	if (!(p = take(buf, body, &off, 8)) || !cp->sth)
		return kt_fail(err, "checkpoint", "truncated");
	memcpy(cp->sth, q, n);
	n = kt_be_get(p, 8);
	if (!(q = take(buf, body, &off, n)) || off != body)
		return kt_fail(err, "checkpoint", "its facts are not %llu bytes", (unsigned long long)n);
	cp->facts = malloc(n ? n : 1);
	if (!cp->facts)
		return kt_fail(err, "checkpoint", "out of memory");
	memcpy(cp->facts, q, n);
	cp->facts_len = cp->facts_cap = n;
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
	size_t spec_len = strlen(spec), len, off = 0;
	uint8_t *buf;
	int ret;

	len = MAGIC_LEN + 2 + spec_len + 8 + KT_HASH_LEN + 1 + cp->nf * KT_HASH_LEN + 2 +
	      cp->sth_len + 8 + cp->facts_len + KT_HASH_LEN;
	buf = malloc(len);
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
	kt_be_put(buf + off, cp->facts_len, 8);
	memcpy(buf + off + 8, cp->facts, cp->facts_len);
	off += 8 + cp->facts_len;
	kt_sha256(buf, off, buf + off);
	ret = kt_file_write(path, buf, len, 0600, err);
	free(buf);
	return ret;
}
