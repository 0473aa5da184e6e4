// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "statefile.h"

int kt_file_read(const char *path, size_t max, uint8_t **data, size_t *len,
		 struct kt_err *err)
{
	size_t cap = 4096, n = 0;
	uint8_t *buf, *tmp;
	ssize_t r;
	int fd;

	*data = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kt_fail(err, "file", "cannot open '%s': %s", path, strerror(errno));
	buf = malloc(cap + 1);
	while (buf) {
		if (n == cap) {
			cap *= 2;
			tmp = realloc(buf, cap + 1);
			if (!tmp) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = tmp;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kt_fail(err, "file", "cannot read '%s': %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			kt_fail(err, "file", "'%s' is larger than %zu bytes", path, max);
			goto fail;
		}
	}
	close(fd);
	if (!buf)
		return kt_fail(err, "file", "out of memory reading '%s'", path);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

int kt_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 struct kt_err *err)
{
	const uint8_t *p = data;
	char *tmp;
	ssize_t w;
	int fd;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return kt_fail(err, "file", "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		kt_fail(err, "file", "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) || close(fd)) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path)) {
		fd = -1;
		goto fail;
	}
	free(tmp);
	return 0;
fail:
	kt_fail(err, "file", "cannot write '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

char *kt_path_join(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

int kt_file_lock(const char *path, struct kt_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || flock(fd, LOCK_EX)) {
		kt_fail(err, "file", "cannot lock '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}
