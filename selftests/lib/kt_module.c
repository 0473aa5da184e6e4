// SPDX-License-Identifier: GPL-2.0
/* Module parameters and kernel threads of kvmtrust.ko; see kt_module.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_module.h"

static void param_path(const char *name, char *out, size_t len)
{
	snprintf(out, len, "/sys/module/kvmtrust/parameters/%s", name);
}

int kt_param_get(const char *name, unsigned long *value)
{
	char path[256];
	FILE *f;
	int ok;

	param_path(name, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ok = fscanf(f, "%lu", value) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

int kt_param_set(const char *name, unsigned long value, unsigned long *old)
{
	char path[256];
	FILE *f;
	int ret;

	if (old) {
		ret = kt_param_get(name, old);
		if (ret)
			return ret;
	}
	param_path(name, path, sizeof(path));
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fprintf(f, "%lu\n", value) < 0 ? -EIO : 0;
	if (fclose(f))
		ret = -errno;
	return ret;
}

static bool kthread_exists(const char *comm)
{
	char path[300], name[64];
	struct dirent *d;
	bool found = false;
	DIR *proc = opendir("/proc");
	FILE *f;

	while (proc && !found && (d = readdir(proc))) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = '\0';
			found = !strcmp(name, comm);
		}
		fclose(f);
	}
	if (proc)
		closedir(proc);
	return found;
}

bool kt_kthread_appears(const char *comm, unsigned int timeout_ms)
{
	unsigned int waited;

	for (waited = 0; waited <= timeout_ms; waited += 10) {
		if (kthread_exists(comm))
			return true;
		usleep(10 * 1000);
	}
	return false;
}
