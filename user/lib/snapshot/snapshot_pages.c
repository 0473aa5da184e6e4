// SPDX-License-Identifier: GPL-2.0
/*
 * Guest pages in and out of the store: capturing them from the VMM through
 * /proc/PID/mem, and reading a stored page back checked against its leaf.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/encoding.h"
#include "common/outfile.h"
#include "common/secfile.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_pages.h"

#define BATCH_PAGES 64

static const uint8_t zero_page[KT_SNAP_PAGE];

/* SHA-256 after 0x00 || 4096 zero bytes: a zero page's leaf is 8 bytes more. */
int kt_snap_zero_init(struct kt_snap_zero *z)
{
	static const uint8_t prefix;

	z->ctx = EVP_MD_CTX_new();
	z->tmp = EVP_MD_CTX_new();
	if (!z->ctx || !z->tmp || !EVP_DigestInit_ex(z->ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(z->ctx, &prefix, 1) ||
	    !EVP_DigestUpdate(z->ctx, zero_page, sizeof(zero_page))) {
		kt_snap_zero_free(z);
		return -1;
	}
	return 0;
}

void kt_snap_zero_free(struct kt_snap_zero *z)
{
	EVP_MD_CTX_free(z->ctx);
	EVP_MD_CTX_free(z->tmp);
	z->ctx = z->tmp = NULL;
}

void kt_snap_zero_leaf(struct kt_snap_zero *z, uint64_t gpa, kt_hash out)
{
	uint8_t le[8];
	unsigned int len;
	int i;

	for (i = 0; i < 8; i++)
		le[i] = gpa >> (8 * i);
	EVP_MD_CTX_copy_ex(z->tmp, z->ctx);
	EVP_DigestUpdate(z->tmp, le, sizeof(le));
	EVP_DigestFinal_ex(z->tmp, out, &len);
}

bool kt_snap_page_is_zero(const uint8_t *page)
{
	return !memcmp(page, zero_page, KT_SNAP_PAGE);
}

int kt_snap_page_read(const char *store, struct kt_snap_zero *z, const struct kt_snap_leaf *l,
		      uint8_t page[KT_SNAP_PAGE], struct kt_err *err)
{
	char hex[2 * KT_HASH_LEN + 1], *path;
	uint8_t *buf = NULL;
	size_t len;
	kt_hash h;
	int ret;

	kt_snap_zero_leaf(z, l->gpa, h);
	if (!memcmp(h, l->leaf, KT_HASH_LEN)) {
		memset(page, 0, KT_SNAP_PAGE);
		return 0;
	}
	kt_hex_encode(l->leaf, KT_HASH_LEN, hex);
	path = kt_snap_page_path(store, l->leaf);
	if (!path)
		return kt_fail(err, "page", "out of memory");
	ret = kt_file_read(path, KT_SNAP_PAGE, 0, &buf, &len, err);
	free(path);
	if (ret)
		return kt_fail(err, "page", "page gpa 0x%llx (leaf %.16s...): missing from the store",
			       (unsigned long long)l->gpa, hex);
	ret = -1;
	if (len != KT_SNAP_PAGE) {
		kt_fail(err, "page", "page gpa 0x%llx (leaf %.16s...): %zu bytes, not %d",
			(unsigned long long)l->gpa, hex, len, KT_SNAP_PAGE);
		goto out;
	}
	kt_snap_leaf_hash(buf, l->gpa, h);
	if (memcmp(h, l->leaf, KT_HASH_LEN)) {
		kt_fail(err, "page", "page gpa 0x%llx (leaf %.16s...): stored bytes do not hash to its leaf",
			(unsigned long long)l->gpa, hex);
		goto out;
	}
	memcpy(page, buf, KT_SNAP_PAGE);
	ret = 0;
out:
	free(buf);
	return ret;
}

/* Stores one non-zero page; 1 if it was new. */
static int store_page(const char *store, const uint8_t *page, const kt_hash leaf,
		      bool made[256], struct kt_err *err)
{
	char *path = kt_snap_page_path(store, leaf), sub[3];
	int ret;

	if (!path)
		return kt_fail(err, "file", "out of memory");
	if (!made[leaf[0]]) {
		char *pages;

		snprintf(sub, sizeof(sub), "%02x", leaf[0]);
		ret = asprintf(&pages, "%s/pages", store) < 0 ? -1 :
		      kt_dir_make_in(pages, sub, err);
		if (ret >= 0)
			free(pages);
		if (ret) {
			free(path);
			return -1;
		}
		made[leaf[0]] = true;
	}
	ret = kt_file_create_once(path, page, KT_SNAP_PAGE, 0644, err);
	free(path);
	return ret;
}

static int capture_slot(const char *store, int mem, const struct kt_snap_slot *slot,
			struct kt_snapshot *s, struct kt_snap_zero *z, bool made[256],
			struct kt_err *err)
{
	static uint8_t buf[BATCH_PAGES * KT_SNAP_PAGE];
	uint64_t off, n, i, gpa;
	struct kt_snap_leaf *l;
	ssize_t got;
	int ret;

	for (off = 0; off < slot->size; off += n * KT_SNAP_PAGE) {
		n = (slot->size - off) / KT_SNAP_PAGE;
		n = n > BATCH_PAGES ? BATCH_PAGES : n;
		got = pread(mem, buf, n * KT_SNAP_PAGE, slot->hva + off);
		if (got != (ssize_t)(n * KT_SNAP_PAGE))
			return kt_fail(err, "memory", "cannot read guest memory at gpa 0x%llx: %s",
				       (unsigned long long)(slot->gpa + off),
				       got < 0 ? strerror(errno) : "short read");
		for (i = 0; i < n; i++) {
			const uint8_t *page = buf + i * KT_SNAP_PAGE;

			gpa = slot->gpa + off + i * KT_SNAP_PAGE;
			l = &s->leaves[s->pages++];
			l->gpa = gpa;
			if (kt_snap_page_is_zero(page)) {
				kt_snap_zero_leaf(z, gpa, l->leaf);
				s->zero_pages++;
				continue;
			}
			kt_snap_leaf_hash(page, gpa, l->leaf);
			ret = store_page(store, page, l->leaf, made, err);
			if (ret < 0)
				return -1;
			s->new_pages += ret;
		}
	}
	return 0;
}

int kt_snap_memory_root(const struct kt_snapshot *s, kt_hash out)
{
	kt_hash *leaves = malloc((s->pages ?: 1) * sizeof(*leaves));
	uint64_t i;

	if (!leaves)
		return -1;
	for (i = 0; i < s->pages; i++)
		memcpy(leaves[i], s->leaves[i].leaf, KT_HASH_LEN);
	kt_merkle_root(leaves, s->pages, out);
	free(leaves);
	return 0;
}

int kt_snap_capture(const char *store, pid_t pid, struct kt_snapshot *s, struct kt_err *err)
{
	struct kt_snap_zero z;
	bool made[256] = { false };
	uint64_t total = 0;
	char path[64];
	size_t i;
	int mem, ret = -1;

	for (i = 0; i < s->nr_slots; i++)
		total += s->slots[i].size / KT_SNAP_PAGE;
	s->leaves = calloc(total ?: 1, sizeof(*s->leaves));
	s->pages = s->zero_pages = s->new_pages = 0;
	if (!s->leaves || kt_snap_zero_init(&z))
		return kt_fail(err, "memory", "out of memory");
	if (kt_dir_make(store, 0755, err) || kt_dir_make_in(store, "pages", err))
		goto out_zero;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		kt_fail(err, "memory", "cannot open %s: %s", path, strerror(errno));
		goto out_zero;
	}
	for (i = 0; i < s->nr_slots; i++)
		if (capture_slot(store, mem, &s->slots[i], s, &z, made, err))
			goto out;
	if (kt_snap_memory_root(s, s->memory_root)) {
		kt_fail(err, "memory", "out of memory");
		goto out;
	}
	ret = 0;
out:
	close(mem);
out_zero:
	kt_snap_zero_free(&z);
	return ret;
}
