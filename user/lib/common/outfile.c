// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/outfile.h"

static const char *type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFLNK: return "a symbolic link";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFDIR: return "a directory";
	default: return "not a regular file";
	}
}

/* The directory part of path ("." for a bare name); malloc'd. */
static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static int check_parent(const char *path, struct kt_err *err)
{
	char *dir = parent_of(path);
	struct stat st;
	int ret = 0;

	if (!dir)
		return kt_fail(err, "file", "out of memory");
	if (stat(dir, &st))
		ret = kt_fail(err, "file", "cannot write '%s': directory '%s': %s", path, dir,
			      strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		ret = kt_fail(err, "file", "cannot write '%s': '%s': %s", path, dir,
			      strerror(ENOTDIR));
	free(dir);
	return ret;
}

int kt_file_replaceable(const char *path, struct kt_err *err)
{
	struct stat st;
	size_t n = strlen(path);

	if (!n)
		return kt_fail(err, "file", "empty file name");
	if (path[n - 1] == '/')
		return kt_fail(err, "file", "cannot write '%s': %s", path, strerror(EISDIR));
	if (lstat(path, &st))
		return errno == ENOENT ? check_parent(path, err) :
		       kt_fail(err, "file", "cannot write '%s': %s", path, strerror(errno));
	if (S_ISREG(st.st_mode))
		return 0;
	if (S_ISLNK(st.st_mode))
		return kt_fail(err, "file", "cannot write '%s': it is a symbolic link, "
			       "which is never written through; give the real path", path);
	if (S_ISDIR(st.st_mode))
		return kt_fail(err, "file", "cannot write '%s': %s", path, strerror(EISDIR));
	return kt_fail(err, "file", "cannot write '%s': it is %s; only a regular file is "
		       "replaced", path, type_name(st.st_mode));
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

/* A rename is durable only once the directory holding the entry is synced. */
static int sync_dir(const char *path)
{
	char *dir = parent_of(path);
	int fd, ret;

	if (!dir)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

/* "<dir>/.<name>.XXXXXX": hidden, so directory scanners (*.pem) skip it. */
static char *temp_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0;
	char *tmp;

	if (asprintf(&tmp, "%.*s.%s.XXXXXX", dir_len, path, path + dir_len) < 0)
		return NULL;
	return tmp;
}

/* A new temporary file next to path (*tmp its name, malloc'd), or -1. */
static int open_temp(const char *path, char **tmp, struct kt_err *err)
{
	int fd;

	*tmp = temp_name(path);
	if (!*tmp)
		return kt_fail(err, "file", "out of memory");
	/* mkostemp: O_CREAT | O_EXCL, mode 0600 until the caller's fchmod. */
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		kt_fail(err, "file", "cannot create a file next to '%s': %s", path, strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

int kt_file_write(const char *path, const void *buf, size_t len, mode_t mode,
		  struct kt_err *err)
{
	char *tmp;
	int fd, saved;

	if (kt_file_replaceable(path, err))
		return -1;
	fd = open_temp(path, &tmp, err);
	if (fd < 0)
		return -1;
	/* The umask does not apply: the caller's mode is the file's mode. */
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
	if (sync_dir(path))
		return kt_fail(err, "file", "'%s' written, but its directory cannot be synced: %s",
			       path, strerror(errno));
	return 0;
}

int kt_file_create_once(const char *path, const void *buf, size_t len, mode_t mode,
			struct kt_err *err)
{
	char *tmp;
	int fd, ret;

	fd = open_temp(path, &tmp, err);
	if (fd < 0)
		return -1;
	ret = fchmod(fd, mode) || write_all(fd, buf, len) ? -1 : 0;
	if (close(fd))
		ret = -1;
	if (!ret)
		ret = link(tmp, path) ? (errno == EEXIST ? 0 : -1) : 1;
	if (ret < 0)
		kt_fail(err, "file", "cannot write '%s': %s", path, strerror(errno));
	unlink(tmp);
	free(tmp);
	return ret;
}

int kt_dir_make(const char *path, mode_t mode, struct kt_err *err)
{
	struct stat st;

	if (!mkdir(path, mode))
		return 0;
	if (errno != EEXIST)
		return kt_fail(err, "file", "cannot create directory '%s': %s", path,
			       strerror(errno));
	/* A link to a directory is fine; anything else named path is not. */
	if (stat(path, &st))
		return kt_fail(err, "file", "cannot create directory '%s': %s", path,
			       strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return kt_fail(err, "file", "cannot create directory '%s': %s (it is %s)", path,
			       strerror(ENOTDIR), type_name(st.st_mode));
	return 0;
}
