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
