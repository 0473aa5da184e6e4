// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/qmp.h"

#define QMP_LINE_MAX (1024 * 1024)

struct kt_qmp {
	FILE *f;
	pid_t pid;
};

/* One JSON object per line; NULL on EOF or garbage (QEMU gone or not QEMU). */
static json_t *read_msg(struct kt_qmp *q, struct kt_err *err)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, q->f);
	json_error_t je;
	json_t *msg;

	if (n <= 0 || n > QMP_LINE_MAX) {
		free(line);
		kt_fail(err, "qmp", "QEMU closed its QMP socket");
		return NULL;
	}
	msg = json_loads(line, 0, &je);
	free(line);
	if (!json_is_object(msg)) {
		json_decref(msg);
		kt_fail(err, "qmp", "QEMU sent a malformed QMP message");
		return NULL;
	}
	return msg;
}

struct kt_qmp *kt_qmp_open(const char *path, struct kt_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct kt_qmp *q;
	json_t *greeting, *ret;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		kt_fail(err, "qmp", "QMP socket path '%s' is too long", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		kt_fail(err, "qmp", "cannot connect to QMP at '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q || !(q->f = fdopen(fd, "r+"))) {
		free(q);
		close(fd);
		kt_fail(err, "qmp", "out of memory");
		return NULL;
	}
	q->pid = cred.pid;
	greeting = read_msg(q, err);
	if (!greeting || !json_object_get(greeting, "QMP")) {
		if (greeting)
			kt_fail(err, "qmp", "'%s' did not greet as QMP", path);
		json_decref(greeting);
		kt_qmp_close(q);
		return NULL;
	}
	json_decref(greeting);
	ret = kt_qmp_exec(q, "qmp_capabilities", NULL, err);
	if (!ret) {
		kt_qmp_close(q);
		return NULL;
	}
	json_decref(ret);
	return q;
}

void kt_qmp_close(struct kt_qmp *q)
{
	if (!q)
		return;
	fclose(q->f);
	free(q);
}

pid_t kt_qmp_pid(const struct kt_qmp *q)
{
	return q->pid;
}

json_t *kt_qmp_exec(struct kt_qmp *q, const char *cmd, json_t *args, struct kt_err *err)
{
	json_t *req = json_pack("{s:s}", "execute", cmd), *msg, *ret, *e;

	if (args)
		json_object_set_new(req, "arguments", args);
	if (json_dumpf(req, q->f, JSON_COMPACT) || fputs("\n", q->f) == EOF || fflush(q->f)) {
		json_decref(req);
		kt_fail(err, "qmp", "cannot send '%s' to QEMU: %s", cmd, strerror(errno));
		return NULL;
	}
	json_decref(req);
	for (;;) {
		msg = read_msg(q, err);
		if (!msg)
			return NULL;
		if (json_object_get(msg, "event")) {
			json_decref(msg);
			continue;
		}
		break;
	}
	ret = json_object_get(msg, "return");
	if (ret) {
		json_incref(ret);
		json_decref(msg);
		return ret;
	}
	e = json_object_get(json_object_get(msg, "error"), "desc");
	kt_fail(err, "qmp", "QEMU refused '%s': %s", cmd, json_is_string(e) ? json_string_value(e) : "?");
	json_decref(msg);
	return NULL;
}

static int status_of(struct kt_qmp *q, const char *cmd, char *buf, size_t len, struct kt_err *err)
{
	json_t *ret = kt_qmp_exec(q, cmd, NULL, err);
	const char *s = json_string_value(json_object_get(ret, "status"));

	if (!ret)
		return -1;
	snprintf(buf, len, "%s", s ? s : "");
	json_decref(ret);
	return 0;
}

int kt_qmp_runstate(struct kt_qmp *q, char *buf, size_t len, struct kt_err *err)
{
	if (status_of(q, "query-status", buf, len, err))
		return -1;
	return buf[0] ? 0 : kt_fail(err, "qmp", "query-status answered without a status");
}

int kt_qmp_wait_migrated(struct kt_qmp *q, unsigned int timeout_ms, struct kt_err *err)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	char s[32];
	unsigned int waited;

	for (waited = 0; waited <= timeout_ms; waited += 10) {
		if (status_of(q, "query-migrate", s, sizeof(s), err))
			return -1;
		if (!strcmp(s, "completed"))
			return 0;
		if (!strcmp(s, "failed") || !strcmp(s, "cancelled"))
			return kt_fail(err, "migration", "QEMU's migration %s", s);
		nanosleep(&tick, NULL);
	}
	return kt_fail(err, "migration", "QEMU's migration did not complete in %u ms", timeout_ms);
}
