// SPDX-License-Identifier: GPL-2.0
/*
 * Offline verification of a stored snapshot: the report, what it binds, the
 * layout, the roots and every page (snapshot.h lists the checks).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/encoding.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_pages.h"

#define REPORT_MAX (64 * 1024)
#define MANIFEST_MAX (1 << 20)

static int check_binding(const json_t *claims, const struct kt_snapshot *s,
			 const kt_hash manifest_sha, struct kt_err *err)
{
	json_t *snap = json_object_get(claims, "snapshot");
	const char *id = json_string_value(json_object_get(snap, "id"));
	const char *digest = json_string_value(json_object_get(snap, "manifest"));
	const char *vm = json_string_value(json_object_get(claims, "vm_id"));
	char hex[2 * KT_HASH_LEN + 1];

	kt_hex_encode(manifest_sha, KT_HASH_LEN, hex);
	if (!id || !digest)
		return kt_fail(err, "binding", "the report is not a snapshot report");
	if (strcmp(id, s->id))
		return kt_fail(err, "binding", "the report is for snapshot '%s', not '%s'", id, s->id);
	if (!vm || strcmp(vm, s->vm_id))
		return kt_fail(err, "binding", "the report is for vm %s, not %s", vm ? vm : "(none)",
			       s->vm_id);
	if (strcmp(digest, hex))
		return kt_fail(err, "binding", "manifest.json is not the manifest the report signed");
	if (json_integer_value(json_object_get(claims, "seq")) != (json_int_t)s->seq ||
	    json_integer_value(json_object_get(claims, "pages")) != (json_int_t)s->pages)
		return kt_fail(err, "binding", "the report's seq or pages differ from the manifest");
	return 0;
}

static int check_report(const char *store, const struct kt_snapshot *s,
			const struct kt_report_policy *policy, struct kt_err *err)
{
	struct kt_report_policy p = *policy;
	char mem[2 * KT_HASH_LEN + 1], vcpu[2 * KT_HASH_LEN + 1];
	uint8_t *report = NULL, *manifest = NULL;
	size_t rlen, mlen;
	json_t *claims = NULL;
	struct kt_err sub = { 0 };
	kt_hash manifest_sha;
	int ret = -1;

	if (kt_snap_read_file(store, s->id, "manifest.json", MANIFEST_MAX, &manifest, &mlen, err))
		return -1;
	kt_sha256(manifest, mlen, manifest_sha);
	free(manifest);
	if (kt_snap_read_file(store, s->id, "report.jws", REPORT_MAX, &report, &rlen, &sub)) {
		kt_fail(err, "report", "%s", sub.msg);
		return -1;
	}
	while (rlen && (report[rlen - 1] == '\n' || report[rlen - 1] == '\r'))
		report[--rlen] = 0;
	kt_hex_encode(s->memory_root, KT_HASH_LEN, mem);
	kt_hex_encode(s->vcpu_root, KT_HASH_LEN, vcpu);
	p.kind = "vm-state";
	p.expect_memory_root = mem;
	p.expect_vcpu_root = s->has_vcpu_root ? vcpu : NULL;
	if (kt_report_verify((const char *)report, &p, &claims, &sub)) {
		kt_fail(err, "report", "%s: %s", sub.check ? sub.check : "error", sub.msg);
		goto out;
	}
	if (s->has_vcpu_root != (json_object_get(claims, "vcpu_root") != NULL)) {
		kt_fail(err, "binding", "the report and the manifest disagree on vcpu_root");
		goto out;
	}
	ret = check_binding(claims, s, manifest_sha, err);
out:
	json_decref(claims);
	free(report);
	return ret;
}

/* The leaves are exactly the pages of the slots, in GPA order. */
static int check_layout(const struct kt_snapshot *s, struct kt_err *err)
{
	uint64_t n = 0, end = 0, off;
	size_t i;

	if (s->leaf_format != 2)
		return kt_fail(err, "layout", "leaf format %u is not 2", s->leaf_format);
	for (i = 0; i < s->nr_slots; i++) {
		const struct kt_snap_slot *sl = &s->slots[i];

		if (sl->gpa % KT_SNAP_PAGE || sl->size % KT_SNAP_PAGE ||
		    sl->gpa + sl->size < sl->gpa || (i && sl->gpa < end))
			return kt_fail(err, "layout", "slot %zu (gpa 0x%llx) is unaligned, wraps or "
				       "overlaps the one before", i, (unsigned long long)sl->gpa);
		end = sl->gpa + sl->size;
		for (off = 0; off < sl->size; off += KT_SNAP_PAGE, n++)
			if (n >= s->pages || s->leaves[n].gpa != sl->gpa + off)
				return kt_fail(err, "layout", "leaf %llu is not the page at gpa 0x%llx",
					       (unsigned long long)n,
					       (unsigned long long)(sl->gpa + off));
	}
	if (n != s->pages)
		return kt_fail(err, "layout", "%llu leaves for %llu pages of memory slots",
			       (unsigned long long)s->pages, (unsigned long long)n);
	return 0;
}

static int check_pages(const char *store, const struct kt_snapshot *s, struct kt_err *err)
{
	uint8_t page[KT_SNAP_PAGE];
	struct kt_snap_zero z;
	uint64_t i;
	int ret = 0;

	if (kt_snap_zero_init(&z))
		return kt_fail(err, "page", "out of memory");
	for (i = 0; i < s->pages && !ret; i++)
		ret = kt_snap_page_read(store, &z, &s->leaves[i], page, err);
	kt_snap_zero_free(&z);
	return ret;
}

static int check_stream(const char *store, const struct kt_snapshot *s, struct kt_err *err)
{
	char *path;
	uint8_t buf[1 << 16];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t total = 0;
	unsigned int len;
	kt_hash h;
	ssize_t got;
	int fd;

	if (!ctx || asprintf(&path, "%s/snapshots/%s/migration.bin", store, s->id) < 0) {
		EVP_MD_CTX_free(ctx);
		return kt_fail(err, "stream", "out of memory");
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0) {
		EVP_MD_CTX_free(ctx);
		return kt_fail(err, "stream", "migration.bin: %s", strerror(errno));
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, got);
		total += got;
	}
	close(fd);
	EVP_DigestFinal_ex(ctx, h, &len);
	EVP_MD_CTX_free(ctx);
	if (got < 0 || total != s->stream_bytes || memcmp(h, s->stream_sha256, KT_HASH_LEN))
		return kt_fail(err, "stream", "migration.bin does not match the manifest's digest");
	return 0;
}

static int check_vcpus(const struct kt_snapshot *s, struct kt_err *err)
{
	kt_hash root;

	if (kt_snap_vcpu_root(s->vcpu_regs, s->nr_vcpu_regs, root))
		return kt_fail(err, "vcpu_root", "out of memory");
	if (!s->has_vcpu_root || memcmp(root, s->vcpu_root, KT_HASH_LEN))
		return kt_fail(err, "vcpu_root", "vcpus.bin does not recompute the attested vcpu_root");
	return 0;
}

int kt_snap_verify(const char *store, const char *id, const struct kt_report_policy *policy,
		   struct kt_snapshot *out, struct kt_err *err)
{
	struct kt_snapshot s;
	kt_hash root;
	int ret = -1;

	if (kt_snap_load(store, id, &s, err))
		return -1;
	if (check_report(store, &s, policy, err) || check_layout(&s, err))
		goto out;
	if (kt_snap_memory_root(&s, root)) {
		kt_fail(err, "memory_root", "out of memory");
		goto out;
	}
	if (memcmp(root, s.memory_root, KT_HASH_LEN)) {
		kt_fail(err, "memory_root", "the leaves do not recompute the attested memory_root");
		goto out;
	}
	if (s.vcpu_regs && check_vcpus(&s, err))
		goto out;
	if (check_pages(store, &s, err) || (s.has_stream && check_stream(store, &s, err)))
		goto out;
	ret = 0;
out:
	if (!ret && out)
		*out = s;
	else
		kt_snap_free(&s);
	return ret;
}
