// SPDX-License-Identifier: GPL-2.0
/*
 * The snapshot store: writing a snapshot whole, loading its manifest and
 * leaves, listing and pruning (snapshot.h, Documentation/snapshots.rst).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/encoding.h"
#include "common/outfile.h"
#include "common/secfile.h"
#include "snapshot/snapshot.h"

#define MANIFEST_MAX (1 << 20)
#define REPORT_MAX (1 << 20)

void kt_snap_free(struct kt_snapshot *s)
{
	free(s->slots);
	free(s->leaves);
	free(s->qemu_argv);
	free(s->vcpu_regs);
	memset(s, 0, sizeof(*s));
}

const char *kt_snap_default_store(void)
{
	const char *dir = getenv("KVMTRUST_SNAPSHOT_DIR");

	return dir && *dir ? dir : KT_SNAP_DEFAULT_STORE;
}

bool kt_snap_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > KT_SNAP_ID_MAX || id[0] == '.')
		return false;
	return strspn(id, "0123456789abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-") == n;
}

void kt_snap_leaf_hash(const uint8_t page[KT_SNAP_PAGE], uint64_t gpa, kt_hash out)
{
	uint8_t buf[KT_SNAP_PAGE + 8];
	int i;

	memcpy(buf, page, KT_SNAP_PAGE);
	for (i = 0; i < 8; i++)
		buf[KT_SNAP_PAGE + i] = gpa >> (8 * i);
	kt_merkle_leaf_hash(buf, sizeof(buf), out);
}

char *kt_snap_page_path(const char *store, const kt_hash leaf)
{
	char hex[2 * KT_HASH_LEN + 1], *path;

	kt_hex_encode(leaf, KT_HASH_LEN, hex);
	if (asprintf(&path, "%s/pages/%.2s/%s", store, hex, hex) < 0)
		return NULL;
	return path;
}

static char *snap_path(const char *store, const char *id, const char *file)
{
	char *path;

	if (asprintf(&path, "%s/snapshots/%s%s%s", store, id, file ? "/" : "",
		     file ? file : "") < 0)
		return NULL;
	return path;
}

static json_t *hex_json(const uint8_t *h)
{
	char hex[2 * KT_HASH_LEN + 1];

	kt_hex_encode(h, KT_HASH_LEN, hex);
	return json_string(hex);
}

static json_t *manifest_json(const struct kt_snapshot *s, const kt_hash leaves_sha,
			     const kt_hash vcpus_sha)
{
	json_t *m, *slots = json_array();
	size_t i;

	for (i = 0; i < s->nr_slots; i++)
		json_array_append_new(slots, json_pack("{s:I,s:I,s:I,s:I,s:I}",
			"id", (json_int_t)s->slots[i].id, "gpa", (json_int_t)s->slots[i].gpa,
			"size", (json_int_t)s->slots[i].size, "hva", (json_int_t)s->slots[i].hva,
			"flags", (json_int_t)s->slots[i].flags));
	m = json_pack("{s:i,s:s,s:s,s:s,s:I,s:I,s:i,s:o,s:i,s:I,s:I,s:I,s:o,s:o}",
		      "format", KT_SNAP_FORMAT, "id", s->id, "vm_id", s->vm_id, "vmm", s->vmm,
		      "created", (json_int_t)s->created, "seq", (json_int_t)s->seq,
		      "leaf_format", (int)s->leaf_format, "memory_root", hex_json(s->memory_root),
		      "vcpus", (int)s->vcpus, "pages", (json_int_t)s->pages,
		      "zero_pages", (json_int_t)s->zero_pages,
		      "new_pages", (json_int_t)s->new_pages, "slots", slots,
		      "leaves_sha256", hex_json(leaves_sha));
	if (!m)
		return NULL;
	if (s->has_vcpu_root)
		json_object_set_new(m, "vcpu_root", hex_json(s->vcpu_root));
	if (s->has_stream)
		json_object_set_new(m, "stream", json_pack("{s:s,s:o,s:I}", "file", "migration.bin",
			"sha256", hex_json(s->stream_sha256), "bytes", (json_int_t)s->stream_bytes));
	if (s->qemu_argv)
		json_object_set_new(m, "qemu_argv", json_loads(s->qemu_argv, 0, NULL));
	if (s->vcpu_regs)
		json_object_set_new(m, "vcpus_sha256", hex_json(vcpus_sha));
	return m;
}

static uint8_t *leaves_bytes(const struct kt_snapshot *s)
{
	uint8_t *buf = malloc(s->pages * KT_SNAP_LEAF_RECORD + 1), *p = buf;
	uint64_t i;
	int b;

	if (!buf)
		return NULL;
	for (i = 0; i < s->pages; i++, p += KT_SNAP_LEAF_RECORD) {
		for (b = 0; b < 8; b++)
			p[b] = s->leaves[i].gpa >> (8 * b);
		memcpy(p + 8, s->leaves[i].leaf, KT_HASH_LEN);
	}
	return buf;
}

static int new_id(struct kt_snapshot *s, struct kt_err *err)
{
	uint8_t rnd[4];
	char hex[9];
	struct tm tm;
	time_t t = s->created;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return kt_fail(err, "snapshot", "no random bytes: %s", strerror(errno));
	kt_hex_encode(rnd, sizeof(rnd), hex);
	gmtime_r(&t, &tm);
	strftime(s->id, sizeof(s->id), "%Y%m%dT%H%M%SZ-", &tm);
	strcat(s->id, hex);
	return 0;
}

/* Signs the vm-state report that binds the id and manifest.json's digest. */
static int sign_report(const struct kt_snapshot *s, const kt_hash manifest_sha,
		       struct kt_hostkey *hk, char **jwt, struct kt_err *err)
{
	struct kt_vm_state m = { .has_vcpu_root = s->has_vcpu_root, .pages = s->pages,
				 .seq = s->seq, .leaf_format = s->leaf_format };
	json_t *claims;
	int ret;

	memcpy(m.memory_root, s->memory_root, KT_HASH_LEN);
	memcpy(m.vcpu_root, s->vcpu_root, KT_HASH_LEN);
	claims = kt_report_vm_claims(s->vm_id, &m, NULL, NULL);
	if (!claims || json_object_set_new(claims, "snapshot",
			json_pack("{s:s,s:o}", "id", s->id, "manifest", hex_json(manifest_sha)))) {
		json_decref(claims);
		return kt_fail(err, "report", "out of memory");
	}
	ret = kt_report_sign(hk, claims, jwt, err);
	json_decref(claims);
	return ret;
}

static int write_in(const char *dir, const char *file, const void *buf, size_t len,
		    struct kt_err *err)
{
	char *path;
	int ret;

	if (asprintf(&path, "%s/%s", dir, file) < 0)
		return kt_fail(err, "file", "out of memory");
	ret = kt_file_write(path, buf, len, 0644, err);
	free(path);
	return ret;
}

int kt_dir_make_in(const char *dir, const char *name, struct kt_err *err)
{
	char *path;
	int ret;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return kt_fail(err, "file", "out of memory");
	ret = kt_dir_make(path, 0755, err);
	free(path);
	return ret;
}

static int sync_store(const char *store, struct kt_err *err)
{
	int fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret;

	if (fd < 0)
		return kt_fail(err, "file", "cannot open '%s': %s", store, strerror(errno));
	ret = syncfs(fd);
	close(fd);
	return ret ? kt_fail(err, "file", "cannot sync '%s': %s", store, strerror(errno)) : 0;
}

static int fill_and_write(const char *tmp, struct kt_snapshot *s, const char *stream,
			  struct kt_hostkey *hk, struct kt_err *err)
{
	uint8_t *leaves = leaves_bytes(s), *vcpus = NULL;
	kt_hash leaves_sha, manifest_sha, vcpus_sha;
	json_t *m = NULL;
	char *text = NULL, *jwt = NULL, *dst = NULL;
	size_t vlen;
	int ret = -1;

	if (!leaves)
		return kt_fail(err, "snapshot", "out of memory");
	kt_sha256(leaves, s->pages * KT_SNAP_LEAF_RECORD, leaves_sha);
	if (write_in(tmp, "leaves.bin", leaves, s->pages * KT_SNAP_LEAF_RECORD, err))
		goto out;
	if (s->vcpu_regs) {
		vcpus = kt_snap_vcpus_bytes(s, &vlen);
		if (!vcpus) {
			kt_fail(err, "snapshot", "out of memory");
			goto out;
		}
		kt_sha256(vcpus, vlen, vcpus_sha);
		if (write_in(tmp, "vcpus.bin", vcpus, vlen, err))
			goto out;
	}
	if (stream) {
		if (asprintf(&dst, "%s/migration.bin", tmp) < 0 || rename(stream, dst)) {
			kt_fail(err, "stream", "cannot move the migration stream: %s",
				strerror(errno));
			goto out;
		}
	}
	m = manifest_json(s, leaves_sha, vcpus_sha);
	text = m ? json_dumps(m, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
	if (!text) {
		kt_fail(err, "manifest", "out of memory");
		goto out;
	}
	kt_sha256(text, strlen(text), manifest_sha);
	if (write_in(tmp, "manifest.json", text, strlen(text), err) ||
	    sign_report(s, manifest_sha, hk, &jwt, err))
		goto out;
	ret = write_in(tmp, "report.jws", jwt, strlen(jwt), err);
out:
	free(leaves);
	free(vcpus);
	free(dst);
	free(text);
	free(jwt);
	json_decref(m);
	return ret;
}

static int remove_snapshot(const char *store, const char *id, struct kt_err *err);

int kt_snap_commit(const char *store, struct kt_snapshot *s, const char *stream,
		   struct kt_hostkey *hk, struct kt_err *err)
{
	char *tmp = NULL, *dir = NULL;
	int ret = -1;

	if (!s->created)
		s->created = time(NULL);
	if (!s->id[0] && new_id(s, err))
		return -1;
	if (asprintf(&tmp, "%s/snapshots/.%s.tmp", store, s->id) < 0 ||
	    !(dir = snap_path(store, s->id, NULL))) {
		kt_fail(err, "snapshot", "out of memory");
		goto out;
	}
	if (kt_dir_make(store, 0755, err) || kt_dir_make_in(store, "snapshots", err) ||
	    kt_dir_make_in(store, "pages", err))
		goto out;
	if (!access(dir, F_OK)) {
		kt_fail(err, "snapshot", "snapshot '%s' exists", s->id);
		goto out;
	}
	if (mkdir(tmp, 0755)) {
		kt_fail(err, "file", "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (fill_and_write(tmp, s, stream, hk, err) || sync_store(store, err))
		goto out_tmp;
	if (rename(tmp, dir)) {
		kt_fail(err, "file", "cannot rename '%s': %s", tmp, strerror(errno));
		goto out_tmp;
	}
	ret = sync_store(store, err);
	goto out;
out_tmp:
	/* Never a half-written snapshot left behind (list skips it anyway). */
	snprintf(tmp, strlen(tmp) + 1, ".%s.tmp", s->id);
	remove_snapshot(store, tmp, &(struct kt_err){ 0 });
out:
	free(tmp);
	free(dir);
	return ret;
}

static int hash_field(const json_t *m, const char *name, uint8_t *out, struct kt_err *err)
{
	const char *v = json_string_value(json_object_get(m, name));

	if (!v || strlen(v) != 2 * KT_HASH_LEN || kt_hex_decode(v, out, KT_HASH_LEN))
		return kt_fail(err, "manifest", "\"%s\" is missing or not 64 hex digits", name);
	return 0;
}

static int count_field(const json_t *m, const char *name, const char *check, uint64_t *out,
		       struct kt_err *err)
{
	json_t *v = json_object_get(m, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return kt_fail(err, check, "\"%s\" is missing or not a count", name);
	*out = json_integer_value(v);
	return 0;
}

static int u64_field(const json_t *m, const char *name, uint64_t *out, struct kt_err *err)
{
	return count_field(m, name, "manifest", out, err);
}

int kt_snap_slots_parse(const json_t *arr, bool hva, const char *check, struct kt_snapshot *s,
			struct kt_err *err)
{
	/* The manifest's order; a vmm-state message has no hva (the source's, meaningless here). */
	static const char *const names[] = { "id", "gpa", "size", "flags", "hva" };
	uint64_t v[5] = { 0 };
	json_t *e;
	size_t i, j;

	if (!json_is_array(arr))
		return kt_fail(err, check, "\"slots\" is missing");
	s->nr_slots = json_array_size(arr);
	s->slots = calloc(s->nr_slots ?: 1, sizeof(*s->slots));
	if (!s->slots)
		return kt_fail(err, check, "out of memory");
	json_array_foreach(arr, i, e) {
		for (j = 0; j < (hva ? 5 : 4); j++)
			if (count_field(e, names[j], check, &v[j], err))
				return -1;
		if (v[0] > UINT32_MAX || v[3] > UINT32_MAX)
			return kt_fail(err, check, "slot %zu: \"id\" or \"flags\" exceeds 32 bits", i);
		s->slots[i] = (struct kt_snap_slot){ .id = v[0], .gpa = v[1], .size = v[2],
						     .flags = v[3], .hva = v[4] };
	}
	return 0;
}

static int parse_manifest(const json_t *m, struct kt_snapshot *s, kt_hash leaves_sha,
			  struct kt_err *err)
{
	const char *id = json_string_value(json_object_get(m, "id"));
	const char *vm = json_string_value(json_object_get(m, "vm_id"));
	const char *vmm = json_string_value(json_object_get(m, "vmm"));
	json_t *stream = json_object_get(m, "stream"), *argv = json_object_get(m, "qemu_argv");
	uint64_t fmt, lf, vcpus, created;

	if (u64_field(m, "format", &fmt, err))
		return -1;
	if (fmt != KT_SNAP_FORMAT)
		return kt_fail(err, "manifest", "format %llu is not %d",
			       (unsigned long long)fmt, KT_SNAP_FORMAT);
	if (!id || !vm || !vmm || strlen(id) > KT_SNAP_ID_MAX || strlen(vm) >= sizeof(s->vm_id) ||
	    strlen(vmm) >= sizeof(s->vmm))
		return kt_fail(err, "manifest", "\"id\", \"vm_id\" or \"vmm\" is missing or too long");
	strcpy(s->id, id);
	strcpy(s->vm_id, vm);
	strcpy(s->vmm, vmm);
	if (u64_field(m, "created", &created, err) || u64_field(m, "seq", &s->seq, err) ||
	    u64_field(m, "leaf_format", &lf, err) || u64_field(m, "vcpus", &vcpus, err) ||
	    u64_field(m, "pages", &s->pages, err) ||
	    u64_field(m, "zero_pages", &s->zero_pages, err) ||
	    u64_field(m, "new_pages", &s->new_pages, err) ||
	    hash_field(m, "memory_root", s->memory_root, err) ||
	    hash_field(m, "leaves_sha256", leaves_sha, err))
		return -1;
	s->created = created;
	s->leaf_format = lf;
	s->vcpus = vcpus;
	s->has_vcpu_root = json_object_get(m, "vcpu_root") != NULL;
	if (s->has_vcpu_root && hash_field(m, "vcpu_root", s->vcpu_root, err))
		return -1;
	if (stream) {
		s->has_stream = true;
		if (hash_field(stream, "sha256", s->stream_sha256, err) ||
		    u64_field(stream, "bytes", &s->stream_bytes, err))
			return -1;
	}
	if (argv && !(s->qemu_argv = json_dumps(argv, JSON_COMPACT)))
		return kt_fail(err, "manifest", "out of memory");
	return kt_snap_slots_parse(json_object_get(m, "slots"), true, "manifest", s, err);
}

static int load_leaves(const char *store, struct kt_snapshot *s, const kt_hash want,
		       struct kt_err *err)
{
	char *path = snap_path(store, s->id, "leaves.bin");
	uint8_t *buf = NULL, *p;
	size_t len;
	kt_hash got;
	uint64_t i;
	int b, ret = -1;

	if (!path)
		return kt_fail(err, "leaves", "out of memory");
	if (kt_file_read(path, (s->pages + 1) * KT_SNAP_LEAF_RECORD, 0, &buf, &len, err)) {
		err->check = "leaves";
		goto out;
	}
	kt_sha256(buf, len, got);
	if (memcmp(got, want, KT_HASH_LEN)) {
		kt_fail(err, "leaves", "leaves.bin does not match the manifest's leaves_sha256");
		goto out;
	}
	if (len != s->pages * KT_SNAP_LEAF_RECORD) {
		kt_fail(err, "leaves", "leaves.bin holds %zu bytes, not %llu pages", len,
			(unsigned long long)s->pages);
		goto out;
	}
	s->leaves = calloc(s->pages ?: 1, sizeof(*s->leaves));
	if (!s->leaves) {
		kt_fail(err, "leaves", "out of memory");
		goto out;
	}
	for (i = 0, p = buf; i < s->pages; i++, p += KT_SNAP_LEAF_RECORD) {
		for (b = 0; b < 8; b++)
			s->leaves[i].gpa |= (uint64_t)p[b] << (8 * b);
		memcpy(s->leaves[i].leaf, p + 8, KT_HASH_LEN);
	}
	ret = 0;
out:
	free(buf);
	free(path);
	return ret;
}

static int load_vcpus(const char *store, struct kt_snapshot *s, const json_t *m,
		      struct kt_err *err)
{
	uint8_t *buf = NULL;
	kt_hash want, got;
	size_t len;
	int ret = -1;

	if (hash_field(m, "vcpus_sha256", want, err))
		return -1;
	if (kt_snap_read_file(store, s->id, "vcpus.bin", (s->vcpus + 1) * KT_SNAP_VCPU_RECORD,
			      &buf, &len, err)) {
		err->check = "vcpus";
		return -1;
	}
	kt_sha256(buf, len, got);
	if (memcmp(got, want, KT_HASH_LEN))
		kt_fail(err, "vcpus", "vcpus.bin does not match the manifest's vcpus_sha256");
	else if (kt_snap_vcpus_parse(s, buf, len) || s->nr_vcpu_regs != s->vcpus)
		kt_fail(err, "vcpus", "vcpus.bin does not hold %u vcpus", s->vcpus);
	else
		ret = 0;
	free(buf);
	return ret;
}

int kt_snap_load(const char *store, const char *id, struct kt_snapshot *s,
		 struct kt_err *err)
{
	char *path;
	uint8_t *text = NULL;
	size_t len;
	json_t *m = NULL;
	kt_hash leaves_sha;
	int ret = -1;

	memset(s, 0, sizeof(*s));
	if (!kt_snap_id_valid(id))
		return kt_fail(err, "snapshot", "'%s' is not a snapshot id", id);
	path = snap_path(store, id, NULL);
	if (!path)
		return kt_fail(err, "snapshot", "out of memory");
	if (access(path, F_OK)) {
		kt_fail(err, "snapshot", "no snapshot '%s' in %s", id, store);
		goto out;
	}
	free(path);
	path = snap_path(store, id, "manifest.json");
	if (!path || kt_file_read(path, MANIFEST_MAX, 0, &text, &len, err)) {
		if (path)
			err->check = "manifest";
		goto out;
	}
	m = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(m)) {
		kt_fail(err, "manifest", "manifest.json is not a JSON object");
		goto out;
	}
	if (parse_manifest(m, s, leaves_sha, err))
		goto out;
	if (strcmp(s->id, id)) {
		kt_fail(err, "manifest", "manifest.json is snapshot '%s', not '%s'", s->id, id);
		goto out;
	}
	ret = load_leaves(store, s, leaves_sha, err);
	if (!ret && json_object_get(m, "vcpus_sha256"))
		ret = load_vcpus(store, s, m, err);
out:
	if (ret)
		kt_snap_free(s);
	json_decref(m);
	free(text);
	free(path);
	return ret;
}

int kt_snap_read_file(const char *store, const char *id, const char *file, size_t max,
		      uint8_t **buf, size_t *len, struct kt_err *err)
{
	char *path = snap_path(store, id, file);
	int ret;

	if (!path)
		return kt_fail(err, "snapshot", "out of memory");
	ret = kt_file_read(path, max, 0, buf, len, err);
	free(path);
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int kt_snap_list(const char *store, char ***ids, size_t *nr, struct kt_err *err)
{
	char *path = snap_path(store, "", NULL), **list = NULL, **grown;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	*ids = NULL;
	*nr = 0;
	if (!path)
		return kt_fail(err, "snapshot", "out of memory");
	d = opendir(path);
	free(path);
	if (!d)
		return errno == ENOENT ? 0 : kt_fail(err, "snapshot", "cannot read the store '%s': %s",
						     store, strerror(errno));
	while ((de = readdir(d))) {
		if (!kt_snap_id_valid(de->d_name))
			continue;
		grown = realloc(list, (n + 1) * sizeof(*list));
		if (!grown || !(grown[n] = strdup(de->d_name))) {
			list = grown ? grown : list;
			kt_snap_list_free(list, n);
			closedir(d);
			return kt_fail(err, "snapshot", "out of memory");
		}
		list = grown;
		n++;
	}
	closedir(d);
	qsort(list, n, sizeof(*list), cmp_str);
	*ids = list;
	*nr = n;
	return 0;
}

void kt_snap_list_free(char **ids, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		free(ids[i]);
	free(ids);
}

static int remove_snapshot(const char *store, const char *id, struct kt_err *err)
{
	static const char *const files[] = { "manifest.json", "leaves.bin", "report.jws",
					     "migration.bin", "vcpus.bin" };
	char *path;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path = snap_path(store, id, files[i]);
		if (!path)
			return kt_fail(err, "snapshot", "out of memory");
		if (unlink(path) && errno != ENOENT) {
			kt_fail(err, "file", "cannot remove '%s': %s", path, strerror(errno));
			free(path);
			return -1;
		}
		free(path);
	}
	path = snap_path(store, id, NULL);
	if (!path || rmdir(path)) {
		kt_fail(err, "file", "cannot remove snapshot '%s': %s", id,
			path ? strerror(errno) : "out of memory");
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, KT_HASH_LEN);
}

/* Every leaf the remaining snapshots hold, sorted, for bsearch. */
static int live_leaves(const char *store, kt_hash **live, size_t *nr, struct kt_err *err)
{
	struct kt_snapshot s;
	kt_hash *all = NULL, *grown;
	char **ids;
	size_t n = 0, i, nids;
	uint64_t j;

	if (kt_snap_list(store, &ids, &nids, err))
		return -1;
	for (i = 0; i < nids; i++) {
		if (kt_snap_load(store, ids[i], &s, err)) {
			kt_snap_list_free(ids, nids);
			free(all);
			return -1;	/* never delete pages a damaged snapshot may hold */
		}
		grown = realloc(all, (n + s.pages + 1) * sizeof(*all));
		if (!grown) {
			kt_snap_free(&s);
			kt_snap_list_free(ids, nids);
			free(all);
			return kt_fail(err, "snapshot", "out of memory");
		}
		all = grown;
		for (j = 0; j < s.pages; j++)
			memcpy(all[n++], s.leaves[j].leaf, KT_HASH_LEN);
		kt_snap_free(&s);
	}
	kt_snap_list_free(ids, nids);
	qsort(all, n, sizeof(*all), cmp_hash);
	*live = all;
	*nr = n;
	return 0;
}

static int sweep_dir(const char *dir, const kt_hash *live, size_t nr, uint64_t *freed)
{
	struct dirent *de;
	kt_hash h;
	char *path;
	DIR *d = opendir(dir);

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != 2 * KT_HASH_LEN ||
		    kt_hex_decode(de->d_name, h, KT_HASH_LEN) ||
		    (nr && bsearch(h, live, nr, sizeof(*live), cmp_hash)))
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) >= 0) {
			if (!unlink(path))
				(*freed)++;
			free(path);
		}
	}
	closedir(d);
	return 0;
}

int kt_snap_prune(const char *store, char *const *ids, size_t nr, uint64_t *freed,
		  struct kt_err *err)
{
	kt_hash *live = NULL;
	struct dirent *de;
	size_t nlive, i;
	char *pages, *sub;
	DIR *d;

	*freed = 0;
	for (i = 0; i < nr; i++) {
		if (!kt_snap_id_valid(ids[i]))
			return kt_fail(err, "snapshot", "'%s' is not a snapshot id", ids[i]);
		if (remove_snapshot(store, ids[i], err))
			return -1;
	}
	if (live_leaves(store, &live, &nlive, err))
		return -1;
	if (asprintf(&pages, "%s/pages", store) < 0) {
		free(live);
		return kt_fail(err, "snapshot", "out of memory");
	}
	d = opendir(pages);
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		if (asprintf(&sub, "%s/%s", pages, de->d_name) < 0)
			break;
		sweep_dir(sub, live, nlive, freed);
		rmdir(sub);	/* only when empty */
		free(sub);
	}
	if (d)
		closedir(d);
	free(pages);
	free(live);
	return 0;
}
