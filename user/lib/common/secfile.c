// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secfile.h"

static int check_private(int fd, const char *path, struct kt_err *err)
{
	struct stat st;

	if (fstat(fd, &st))
		return kt_fail(err, "file", "cannot stat '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kt_fail(err, "file", "'%s' is not a regular file", path);
	if (st.st_uid != geteuid())
		return kt_fail(err, "permissions", "'%s' is owned by uid %u, not by us (uid %u)",
			       path, st.st_uid, geteuid());
	if (st.st_mode & 077)
		return kt_fail(err, "permissions",
			       "'%s' has mode %04o: secrets must not be group or world accessible (chmod 600)",
			       path, st.st_mode & 07777);
	return 0;
}

int kt_file_read(const char *path, size_t max, unsigned int flags,
		 uint8_t **buf, size_t *len, struct kt_err *err)
{
	size_t used = 0, cap = 4096;
	uint8_t *data = NULL, *grown;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | ((flags & KT_FILE_PRIVATE) ? O_NOFOLLOW : 0));
	if (fd < 0)
		return kt_fail(err, "file", "cannot open '%s': %s", path, strerror(errno));
	if ((flags & KT_FILE_PRIVATE) && check_private(fd, path, err))
		goto fail;
	for (;;) {
		if (!data || used == cap) {
			cap = data ? cap * 2 : cap;
			grown = realloc(data, cap + 1);
			if (!grown) {
				kt_fail(err, "file", "out of memory reading '%s'", path);
				goto fail;
			}
			data = grown;
		}
		n = read(fd, data + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kt_fail(err, "file", "cannot read '%s': %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max) {
			kt_fail(err, "file", "'%s' is larger than %zu bytes", path, max);
			goto fail;
		}
	}
	close(fd);
	data[used] = '\0';
	*buf = data;
	*len = used;
	return 0;
fail:
	if (data)
		explicit_bzero(data, used);
	free(data);
	close(fd);
	return -1;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kt_file_write(const char *path, const void *buf, size_t len, mode_t mode,
		  struct kt_err *err)
{
	char *tmp = NULL;
	int fd, saved;

	if (asprintf(&tmp, "%s.tmp.%d", path, getpid()) < 0)
		return kt_fail(err, "file", "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		kt_fail(err, "file", "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	/* open() applies the umask; secrets need exactly the mode asked for. */
	if (fchmod(fd, mode) || write_all(fd, buf, len) || fsync(fd)) {
		saved = errno;
		close(fd);
		unlink(tmp);
		kt_fail(err, "file", "cannot write '%s': %s", path, strerror(saved));
		free(tmp);
		return -1;
	}
	if (close(fd) || rename(tmp, path)) {
		saved = errno;
		unlink(tmp);
		kt_fail(err, "file", "cannot replace '%s': %s", path, strerror(saved));
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}
