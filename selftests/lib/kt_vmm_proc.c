// SPDX-License-Identifier: GPL-2.0
/* Drives selftests/vmm; see kt_vmm_proc.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest_layout.h"
#include "kt_vmm_proc.h"

void kt_build_path(const char *name, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	kt_assert(n > 0, "readlink /proc/self/exe: %m");
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(out, len, "%s/%s", self, name);
}

static int parse_ready(struct kt_vmm *v, const char *line)
{
	char fds[128], *tok, *save = NULL;
	unsigned long long pages;
	int pid;

	if (sscanf(line, "ready pid=%d seed=%u vm_fd=%d vcpu_fds=%127s pages=%llu", &pid,
		   &v->seed, &v->vm_fd, fds, &pages) != 5)
		return -1;
	v->pages = pages;
	v->nr_vcpus = 0;
	for (tok = strtok_r(fds, ",", &save); tok && v->nr_vcpus < KT_MAX_VCPUS;
	     tok = strtok_r(NULL, ",", &save))
		v->vcpu_fds[v->nr_vcpus++] = atoi(tok);
	return pid == v->pid ? 0 : -1;
}

int kt_vmm_start(struct kt_vmm *v, uint32_t seed, const char *options)
{
	int to_vmm[2], from_vmm[2];
	char path[PATH_MAX], cmd[PATH_MAX + 256], line[512];

	memset(v, 0, sizeof(*v));
	kt_build_path("vmm", path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "exec %s --seed %u %s", path, seed, options ? options : "");
	kt_assert(!pipe2(to_vmm, O_CLOEXEC) && !pipe2(from_vmm, O_CLOEXEC), "pipe: %m");
	v->pid = fork();
	kt_assert(v->pid >= 0, "fork: %m");
	if (!v->pid) {
		dup2(to_vmm[0], 0);
		dup2(from_vmm[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(to_vmm[0]);
	close(from_vmm[1]);
	v->cmd = fdopen(to_vmm[1], "w");
	v->reply = fdopen(from_vmm[0], "r");
	kt_assert(v->cmd && v->reply, "fdopen: %m");
	setvbuf(v->cmd, NULL, _IOLBF, 0);
	if (!fgets(line, sizeof(line), v->reply) || parse_ready(v, line)) {
		kt_vmm_kill(v);
		return -1;
	}
	return 0;
}

int kt_vmm_cmd(struct kt_vmm *v, char *reply, size_t len, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vfprintf(v->cmd, fmt, ap);
	va_end(ap);
	fputc('\n', v->cmd);
	fflush(v->cmd);
	if (!fgets(line, sizeof(line), v->reply))
		snprintf(line, sizeof(line), "err vmm closed its output");
	line[strcspn(line, "\n")] = '\0';
	if (reply)
		snprintf(reply, len, "%s", line);
	return strncmp(line, "ok", 2) ? -1 : 0;
}

static void reap(struct kt_vmm *v)
{
	if (v->cmd)
		fclose(v->cmd);
	if (v->reply)
		fclose(v->reply);
	v->cmd = v->reply = NULL;
	if (v->pid > 0)
		waitpid(v->pid, NULL, 0);
	v->pid = 0;
}

void kt_vmm_stop(struct kt_vmm *v)
{
	if (v->pid <= 0)
		return;
	if (kt_vmm_cmd(v, NULL, 0, "exit"))
		kill(v->pid, SIGKILL);
	reap(v);
}

void kt_vmm_kill(struct kt_vmm *v)
{
	if (v->pid <= 0)
		return;
	kill(v->pid, SIGKILL);
	reap(v);
}

int kt_vmm_getfd(struct kt_vmm *v, int remote_fd)
{
	int pidfd, fd;

	pidfd = syscall(SYS_pidfd_open, v->pid, 0);
	if (pidfd < 0)
		return -errno;
	fd = syscall(SYS_pidfd_getfd, pidfd, remote_fd, 0);
	if (fd < 0)
		fd = -errno;
	close(pidfd);
	return fd;
}

int kt_vmm_attach(struct kt_vmm *v, struct kt_genl *g, uint32_t *vm_id)
{
	int vm_fd, vcpu_fds[KT_MAX_VCPUS], ret;
	unsigned int i;

	vm_fd = kt_vmm_getfd(v, v->vm_fd);
	if (vm_fd < 0)
		return vm_fd;
	for (i = 0; i < v->nr_vcpus; i++)
		vcpu_fds[i] = kt_vmm_getfd(v, v->vcpu_fds[i]);
	ret = kt_genl_attach(g, vm_fd, vcpu_fds, v->nr_vcpus, vm_id);
	close(vm_fd);
	for (i = 0; i < v->nr_vcpus; i++)
		close(vcpu_fds[i]);
	return ret;
}

static unsigned int guest_counter(struct kt_vmm *v)
{
	char reply[64];
	unsigned int b = 0;

	if (!kt_vmm_cmd(v, reply, sizeof(reply), "peek %#x", KT_COUNTER_GPA))
		sscanf(reply, "ok %x", &b);
	return b;
}

int kt_vmm_run_until_progress(struct kt_vmm *v)
{
	unsigned int start, i;

	start = guest_counter(v);
	if (kt_vmm_cmd(v, NULL, 0, "run"))
		return -1;
	for (i = 0; i < 200; i++) {
		usleep(50 * 1000);
		if (guest_counter(v) != start)
			return 0;
	}
	return -1;
}
