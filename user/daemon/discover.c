// SPDX-License-Identifier: GPL-2.0
/* VMM processes found in /proc (discover.h). */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discover.h"

unsigned long long ktd_process_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold blanks and parentheses: fields count from the last ')'. */
	p = strrchr(buf, ')');
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p + 1, "%llu", &start) != 1)
		start = 0;
	return start;
}

static bool holds_kvm_vm(pid_t pid)
{
	char dir_path[64], link[PATH_MAX], target[64];
	struct dirent *d;
	bool found = false;
	ssize_t len;
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	dir = opendir(dir_path);
	if (!dir)
		return false;	/* gone, or a kernel thread */
	while (!found && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir_path, d->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		found = !strcmp(target, "anon_inode:kvm-vm");
	}
	closedir(dir);
	return found;
}

/* A VMM maps its vCPUs' kvm_run; a process that only borrowed the fds does not. */
static bool maps_kvm_run(pid_t pid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0)
		found = strstr(line, "anon_inode:kvm-vcpu:") != NULL;
	free(line);
	fclose(f);
	return found;
}

long ktd_discover_scan(struct ktd_found *out, size_t max)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;
	long n = 0, pid;
	char *end;

	if (!proc)
		return -1;
	while ((d = readdir(proc))) {
		pid = strtol(d->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		if (!holds_kvm_vm((pid_t)pid) || !maps_kvm_run((pid_t)pid))
			continue;
		if ((size_t)n < max) {
			out[n].pid = (pid_t)pid;
			out[n].start_time = ktd_process_start((pid_t)pid);
			if (!out[n].start_time)
				continue;	/* exited meanwhile */
		}
		n++;
	}
	closedir(proc);
	return n;
}
