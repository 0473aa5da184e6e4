// SPDX-License-Identifier: GPL-2.0
/*
 * The files a launch configuration names: streamed SHA-256 of regular files
 * and block devices, and the backing chain of qcow2 images (only as much
 * of the qcow2 header as names the backing file and its format).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attest/config_tree.h"
#include "common/encoding.h"

/* Small enough to stay in L2 between read() and the hash (bench-attest). */
#define HASH_CHUNK (128 * 1024)
/* Deeper than any chain qemu-img makes in practice; bounds the walk. */
#define MAX_BACKING_DEPTH 16

static kt_config_progress_fn progress_hook;

void kt_config_set_progress(kt_config_progress_fn fn)
{
	progress_hook = fn;
}

kt_config_progress_fn kt_config_progress(void)
{
	return progress_hook;
}

static const char *file_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a file";
}

/*
 * stat() first so that a device node is never opened (opening one can have
 * effects: a watchdog arms); O_NONBLOCK so that a FIFO swapped in after the
 * stat cannot block the open, and fstat() to catch that swap.
 */
static int open_image(const char *path, struct stat *st, struct kt_err *err)
{
	struct stat again;
	int fd, flags;

	if (stat(path, st))
		return kt_fail(err, "disk", "cannot open '%s': %s", path, strerror(errno));
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		goto wrong;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return kt_fail(err, "disk", "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &again) || again.st_dev != st->st_dev || again.st_ino != st->st_ino ||
	    (!S_ISREG(again.st_mode) && !S_ISBLK(again.st_mode))) {
		close(fd);
		*st = again;
		goto wrong;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)) {
		close(fd);
		return kt_fail(err, "disk", "cannot use '%s': %s", path, strerror(errno));
	}
	return fd;
wrong:
	return kt_fail(err, "disk", "'%s' is %s: only regular files and block devices are measured",
		       path, file_kind(st->st_mode));
}

static uint64_t image_size(int fd, const struct stat *st)
{
	uint64_t size = 0;

	if (S_ISREG(st->st_mode))
		return (uint64_t)st->st_size;
	return ioctl(fd, BLKGETSIZE64, &size) ? 0 : size;
}

static int hash_fd(int fd, const char *path, uint64_t total, kt_hash out, struct kt_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(HASH_CHUNK);
	uint64_t done = 0;
	int ret = -1;
	ssize_t n;

	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		kt_fail(err, "config", "out of memory");
		goto out;
	}
	/* Sequential hint: images are read once, front to back. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while ((n = read(fd, buf, HASH_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kt_fail(err, "disk", "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		done += (uint64_t)n;
		/* done == total is the end, reported once below. */
		if (progress_hook && done != total)
			progress_hook(path, done, total > done ? total : 0);
	}
	if (progress_hook)
		progress_hook(path, done, done);
	if (EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
		kt_fail(err, "config", "SHA-256 failed");
		goto out;
	}
	ret = 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int kt_file_sha256(const char *path, kt_hash out, struct kt_err *err)
{
	struct stat st;
	int fd, ret;

	fd = open_image(path, &st, err);
	if (fd < 0)
		return -1;
	ret = hash_fd(fd, path, image_size(fd, &st), out, err);
	close(fd);
	return ret;
}

static int add_hash(struct kt_config *cfg, const char *name, const kt_hash h,
		    struct kt_err *err)
{
	char hex[2 * KT_HASH_LEN + 1];

	kt_hex_encode(h, KT_HASH_LEN, hex);
	return kt_config_add(cfg, name, hex, err);
}

int kt_config_add_file_hash(struct kt_config *cfg, const char *name, const char *path,
			    struct kt_err *err)
{
	char *full = kt_config_path(cfg, path);
	kt_hash h;
	int ret;

	if (!full)
		return kt_fail(err, "config", "out of memory");
	ret = kt_file_sha256(full, h, err);
	free(full);
	return ret ? -1 : add_hash(cfg, name, h, err);
}

/* ---- image formats -------------------------------------------------------- */

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	return n == (ssize_t)len ? 0 : -1;
}

/* vmdk's text descriptor: after comments and blanks, "version=1..3". */
static bool vmdk_descriptor(const char *p, size_t len)
{
	const char *end = p + len;

	while (p < end && (*p == '#' || *p == ' ' || *p == '\n' || *p == '\r')) {
		if (*p == '#')
			p = memchr(p, '\n', (size_t)(end - p)) ?: end;
		else
			p++;
	}
	return end - p >= 10 && !strncmp(p, "version=", 8) && p[8] >= '1' && p[8] <= '3' &&
	       (p[9] == '\n' || p[9] == '\r');
}

/*
 * What QEMU's format probe would pick, as far as it matters here: qcow2,
 * raw, or the name of a format we refuse (its images can name other files,
 * e.g. vmdk extents). The magics are those of QEMU's block drivers.
 */
static const char *probe_format(int fd, const char *path)
{
	static const struct { size_t off; const char *magic; size_t len; const char *name; } m[] = {
		{ 0, "QFI\xfb", 4, "qcow2" }, { 0, "QED\0", 4, "qed" },
		{ 0, "KDMV", 4, "vmdk" }, { 0, "COWD", 4, "vmdk" },
		{ 0, "conectix", 8, "vpc" }, { 0, "vhdxfile", 8, "vhdx" },
		{ 0, "LUKS\xba\xbe", 6, "luks" }, { 64, "\x7f\x10\xda\xbe", 4, "vdi" },
		{ 0, "WithoutFreeSpace", 16, "parallels" }, { 0, "WithouFreSpacExt", 16, "parallels" },
		{ 0, "Bochs Virtual HD Image", 22, "bochs" },
		{ 0, "#!/bin/sh\n#V2.0 Format\n", 23, "cloop" },
	};
	char head[2048] = { 0 };
	ssize_t n = pread(fd, head, sizeof(head), 0);
	size_t i, len = strlen(path);
	uint32_t version;

	if (len >= 4 && !strcmp(path + len - 4, ".dmg"))
		return "dmg";
	for (i = 0; n > 0 && i < sizeof(m) / sizeof(m[0]); i++) {
		if ((size_t)n >= m[i].off + m[i].len && !memcmp(head + m[i].off, m[i].magic, m[i].len))
			break;
	}
	if (n > 0 && i < sizeof(m) / sizeof(m[0])) {
		memcpy(&version, head + 4, 4);
		return i == 0 && be32toh(version) == 1 ? "qcow" : m[i].name;
	}
	return n > 0 && vmdk_descriptor(head, (size_t)n) ? "vmdk" : "raw";
}

#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_MAX_BACKING_NAME 1023	/* QEMU's own limit */

struct qcow2_backing {
	char name[QCOW2_MAX_BACKING_NAME + 1];	/* "" when none */
	char format[16];			/* "" when the header does not say */
};

/* Header extensions follow the header, within the first cluster. */
static int qcow2_extensions(int fd, const char *path, uint64_t off, uint64_t end,
			    struct qcow2_backing *b, struct kt_err *err)
{
	uint32_t ext[2], type, len;
	int i;

	for (i = 0; i < 256 && off + 8 <= end; i++) {
		if (read_at(fd, ext, sizeof(ext), off))
			break;
		type = be32toh(ext[0]);
		len = be32toh(ext[1]);
		if (type == 0)
			return 0;
		if (off + 8 + len > end)
			break;
		if (type == QCOW2_EXT_BACKING_FORMAT) {
			if (len >= sizeof(b->format) || read_at(fd, b->format, len, off + 8))
				break;
			b->format[len] = '\0';
		}
		off += 8 + (((uint64_t)len + 7) & ~7ULL);
	}
	return kt_fail(err, "disk", "'%s': qcow2 header extensions are malformed", path);
}

static int qcow2_backing(int fd, const char *path, struct qcow2_backing *b, struct kt_err *err)
{
	/* magic, version, backing_file_offset, backing_file_size, cluster_bits: big endian */
	struct __attribute__((packed)) {
		uint32_t magic, version;
		uint64_t backing_offset;
		uint32_t backing_size, cluster_bits;
		uint8_t skip[72 - 24];
		uint64_t incompatible, compatible, autoclear;
		uint32_t refcount_order, header_length;
	} h;
	uint64_t cluster, off, hlen = 72;
	uint32_t version, size, bits;

	memset(b, 0, sizeof(*b));
	if (read_at(fd, &h, 72, 0) || memcmp(&h.magic, "QFI\xfb", 4))
		return kt_fail(err, "disk", "'%s' is not a qcow2 image", path);
	version = be32toh(h.version);
	bits = be32toh(h.cluster_bits);
	if (version < 2 || version > 3 || bits < 9 || bits > 21)
		return kt_fail(err, "disk", "'%s': qcow2 version %u, cluster bits %u not understood",
			       path, version, bits);
	cluster = 1ULL << bits;
	if (version == 3) {
		if (read_at(fd, &h, sizeof(h), 0))
			return kt_fail(err, "disk", "'%s': qcow2 v3 header truncated", path);
		if (be64toh(h.incompatible) & QCOW2_INCOMPAT_DATA_FILE)
			return kt_fail(err, "disk", "'%s' keeps its data in an external data file, "
				       "which is not measured", path);
		hlen = be32toh(h.header_length);
	}
	off = be64toh(h.backing_offset);
	size = be32toh(h.backing_size);
	if (off) {
		if (size == 0 || size > QCOW2_MAX_BACKING_NAME || off + size > cluster ||
		    read_at(fd, b->name, size, off) || memchr(b->name, '\0', size))
			return kt_fail(err, "disk", "'%s': qcow2 backing file name is malformed", path);
		b->name[size] = '\0';
	}
	return hlen < 72 || hlen > cluster ? kt_fail(err, "disk", "'%s': bad qcow2 header length", path)
					   : qcow2_extensions(fd, path, hlen, cluster, b, err);
}

/* ---- disks and their backing chains ------------------------------------ */

/*
 * QEMU reads "proto:..." as a protocol (nbd:, json:, http:...) when the ':'
 * comes before any '/': such a file is not on this host's disk.
 */
static bool qemu_protocol(const char *path)
{
	return path[strcspn(path, ":/")] == ':';
}

/* The backing file name resolves against the directory of the image naming it. */
static char *backing_path(const char *image, const char *name)
{
	char *copy, *full = NULL;

	if (name[0] == '/')
		return strdup(name);
	copy = strdup(image);
	if (copy && asprintf(&full, "%s/%s", dirname(copy), name) < 0)
		full = NULL;
	free(copy);
	return full;
}

struct chain {
	struct kt_config *cfg;
	size_t index;
	struct stat seen[MAX_BACKING_DEPTH + 1];
	int depth;
};

/* Hashes one image of the chain; *next gets its backing file (NULL: none). */
static int chain_link(struct chain *c, const char *path, const char *format, char **next,
		      char *next_format, struct kt_err *err)
{
	struct qcow2_backing b = { 0 };
	char name[96];
	kt_hash h;
	int fd, i, ret = -1;

	*next = NULL;
	fd = open_image(path, &c->seen[c->depth], err);
	if (fd < 0)
		return -1;
	for (i = 0; i < c->depth; i++) {
		if (c->seen[i].st_dev == c->seen[c->depth].st_dev &&
		    c->seen[i].st_ino == c->seen[c->depth].st_ino) {
			kt_fail(err, "disk", "backing chain of disk %zu loops back to '%s'",
				c->index, path);
			goto out;
		}
	}
	if (!format)
		format = probe_format(fd, path);
	if (strcmp(format, "raw") && strcmp(format, "qcow2")) {
		kt_fail(err, "disk", "'%s' is a %s image: only raw and qcow2 are measured",
			path, format);
		goto out;
	}
	if (!strcmp(format, "qcow2") && qcow2_backing(fd, path, &b, err))
		goto out;
	if (hash_fd(fd, path, image_size(fd, &c->seen[c->depth]), h, err))
		goto out;
	if (c->depth)
		snprintf(name, sizeof(name), "disk.%zu.backing.%d.sha256", c->index, c->depth);
	else
		snprintf(name, sizeof(name), "disk.%zu.sha256", c->index);
	if (add_hash(c->cfg, name, h, err))
		goto out;
	ret = 0;
	if (!b.name[0])
		goto out;
	if (qemu_protocol(b.name)) {
		ret = kt_fail(err, "disk", "'%s' is backed by '%s', which is not a local file",
			      path, b.name);
		goto out;
	}
	*next = backing_path(path, b.name);
	strcpy(next_format, b.format);
	if (!*next)
		ret = kt_fail(err, "config", "out of memory");
out:
	close(fd);
	return ret;
}

int kt_config_add_disk(struct kt_config *cfg, size_t index, const char *path,
		       const char *format, struct kt_err *err)
{
	struct chain *c = calloc(1, sizeof(*c));
	char fmt[16], *cur, *next = NULL;
	int ret = -1;

	cur = kt_config_path(cfg, path);
	if (!c || !cur) {
		kt_fail(err, "config", "out of memory");
		goto out;
	}
	c->cfg = cfg;
	c->index = index;
	for (;;) {
		if (chain_link(c, cur, format, &next, fmt, err))
			goto out;
		if (!next)
			break;
		if (++c->depth > MAX_BACKING_DEPTH) {
			kt_fail(err, "disk", "backing chain of disk %zu is deeper than %d images",
				index, MAX_BACKING_DEPTH);
			goto out;
		}
		free(cur);
		cur = next;
		next = NULL;
		/* No format extension: QEMU probes the backing file, and so do we. */
		format = fmt[0] ? fmt : NULL;
	}
	ret = 0;
out:
	free(next);
	free(cur);
	free(c);
	return ret;
}
