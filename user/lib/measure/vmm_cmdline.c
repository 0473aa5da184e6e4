// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "measure/vmm_cmdline.h"

/* /proc/PID/cmdline: NUL-separated arguments; -errno when unreadable. */
static ssize_t read_cmdline(pid_t pid, char *buf, size_t size)
{
	char path[32];
	ssize_t n, len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + len, size - 1 - (size_t)len)) > 0)
		len += n;
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return n;
	buf[len] = '\0';
	return len;
}

/*
 * The value of -uuid X or --uuid X (QEMU takes both; selftests/vmm takes
 * --uuid and --uuid=X), or NULL. The last one given counts, as in QEMU.
 */
static const char *cmdline_uuid(const char *buf, ssize_t len)
{
	const char *arg, *next, *value = NULL;

	for (arg = buf; arg < buf + len; arg = next) {
		next = arg + strlen(arg) + 1;
		if (!strcmp(arg, "-uuid") || !strcmp(arg, "--uuid"))
			value = next < buf + len ? next : NULL;
		else if (!strncmp(arg, "-uuid=", 6) || !strncmp(arg, "--uuid=", 7))
			value = strchr(arg, '=') + 1;
	}
	return value;
}

/* 0 with the UUID; 1 with none; -errno when the process cannot be read. */
int kt_vmm_pid_uuid(pid_t pid, char *buf, char uuid[KT_UUID_STR_LEN + 1], const char **bad)
{
	ssize_t len = read_cmdline(pid, buf, KT_VMM_CMDLINE_MAX);
	const char *value;

	*bad = NULL;
	if (len < 0)
		return (int)len;
	value = cmdline_uuid(buf, len);
	if (!value)
		return 1;
	if (kt_uuid_canonical(value, uuid)) {
		*bad = value;
		return 1;
	}
	return 0;
}

size_t kt_vmm_uuid_claims(const char *uuid, char *buf, pid_t *pids, size_t max)
{
	char found[KT_UUID_STR_LEN + 1];
	struct dirent *d;
	const char *bad;
	size_t n = 0;
	char *end;
	DIR *proc = opendir("/proc");
	long pid;

	while (proc && n < max && (d = readdir(proc))) {
		pid = strtol(d->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		if (!kt_vmm_pid_uuid((pid_t)pid, buf, found, &bad) && !strcmp(found, uuid))
			pids[n++] = (pid_t)pid;
	}
	if (proc)
		closedir(proc);
	return n;
}
