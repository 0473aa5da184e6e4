// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "measure/vmm_fds.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* A descriptor of the VMM, in its own numbering. */
struct remote_fd {
	int fd;
	int vcpu;		/* N of kvm-vcpu:N, -1 for the VM */
};

struct scan {
	int vm_fd;
	int nr_vms;
	struct remote_fd *vcpus;
	size_t nr_vcpus, cap;
};

/* Records the failure like kt_fail() and returns code (a negative errno). */
static int fail(struct kt_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct kt_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->check = "vmm";
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

static int add_vcpu(struct scan *s, int fd, int vcpu)
{
	struct remote_fd *grown;

	if (s->nr_vcpus == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		grown = realloc(s->vcpus, s->cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->vcpus = grown;
	}
	s->vcpus[s->nr_vcpus++] = (struct remote_fd){ .fd = fd, .vcpu = vcpu };
	return 0;
}

static int scan_fds(pid_t pid, struct scan *s, struct kt_err *err)
{
	char dir_path[64], link_path[PATH_MAX], target[256];
	struct dirent *d;
	ssize_t len;
	DIR *dir;
	int vcpu, ret = 0;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	dir = opendir(dir_path);
	if (!dir) {
		if (errno == ENOENT)
			return fail(err, -ESRCH, "No process with pid %d", (int)pid);
		if (errno == EACCES || errno == EPERM)
			return fail(err, -EPERM,
				    "Not permitted to read %s: run as root", dir_path);
		return fail(err, -errno, "Unable to read %s: %s", dir_path,
			    strerror(errno));
	}
	while (!ret && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(link_path, sizeof(link_path), "%s/%s", dir_path, d->d_name);
		len = readlink(link_path, target, sizeof(target) - 1);
		if (len < 0)
			continue;	/* closed meanwhile */
		target[len] = '\0';
		if (!strcmp(target, "anon_inode:kvm-vm")) {
			s->vm_fd = atoi(d->d_name);
			s->nr_vms++;
		} else if (sscanf(target, "anon_inode:kvm-vcpu:%d", &vcpu) == 1) {
			ret = add_vcpu(s, atoi(d->d_name), vcpu);
		}
	}
	closedir(dir);
	if (ret)
		return fail(err, ret, "Unable to scan process %d: %s", (int)pid,
			    strerror(-ret));
	if (!s->nr_vms)
		return fail(err, -ENODEV,
			    "Process %d is not a VMM: it has no anon_inode:kvm-vm descriptor",
			    (int)pid);
	if (s->nr_vms > 1)
		return fail(err, -EMLINK, "Process %d has %d KVM VMs: name one with --fd",
			    (int)pid, s->nr_vms);
	return 0;
}

static int cmp_vcpu(const void *a, const void *b)
{
	const struct remote_fd *x = a, *y = b;

	return (x->vcpu > y->vcpu) - (x->vcpu < y->vcpu);
}

static int take_fd(int pidfd, pid_t pid, int fd, struct kt_err *err)
{
	int ours = syscall(SYS_pidfd_getfd, pidfd, fd, 0);

	if (ours >= 0)
		return ours;
	if (errno == EPERM)
		return fail(err, -EPERM,
			    "Not permitted to take descriptors of process %d: run as root",
			    (int)pid);
	return fail(err, -errno, "Unable to take descriptor %d of process %d: %s",
		    fd, (int)pid, strerror(errno));
}

int kt_vmm_fds_get(pid_t pid, struct kt_vmm_fds *out, struct kt_err *err)
{
	struct scan s = { .vm_fd = -1 };
	int pidfd, ret;
	size_t i;

	out->vm_fd = -1;
	out->vcpu_fds = NULL;
	out->nr_vcpus = 0;
	/* First: the pidfd names this process even if the pid is reused later. */
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH)
			return fail(err, -ESRCH, "No process with pid %d", (int)pid);
		return fail(err, -errno, "Unable to open process %d: %s", (int)pid,
			    strerror(errno));
	}
	ret = scan_fds(pid, &s, err);
	if (ret)
		goto out;
	qsort(s.vcpus, s.nr_vcpus, sizeof(*s.vcpus), cmp_vcpu);
	out->vcpu_fds = calloc(s.nr_vcpus ? s.nr_vcpus : 1, sizeof(int));
	if (!out->vcpu_fds) {
		ret = fail(err, -ENOMEM, "Unable to take descriptors: %s",
			   strerror(ENOMEM));
		goto out;
	}
	ret = take_fd(pidfd, pid, s.vm_fd, err);
	if (ret < 0)
		goto out;
	out->vm_fd = ret;
	for (i = 0; i < s.nr_vcpus; i++) {
		ret = take_fd(pidfd, pid, s.vcpus[i].fd, err);
		if (ret < 0)
			goto out;
		out->vcpu_fds[out->nr_vcpus++] = ret;
	}
	/* The scan read /proc/PID: still the same process if it is alive. */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0))
		ret = fail(err, -ESRCH, "Process %d exited", (int)pid);
	else
		ret = 0;
out:
	if (ret < 0)
		kt_vmm_fds_close(out);
	free(s.vcpus);
	close(pidfd);
	return ret < 0 ? ret : 0;
}

void kt_vmm_fds_close(struct kt_vmm_fds *fds)
{
	size_t i;

	if (fds->vm_fd >= 0)
		close(fds->vm_fd);
	for (i = 0; i < fds->nr_vcpus; i++)
		close(fds->vcpu_fds[i]);
	free(fds->vcpu_fds);
	fds->vm_fd = -1;
	fds->vcpu_fds = NULL;
	fds->nr_vcpus = 0;
}
