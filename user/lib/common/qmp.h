/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A QEMU Machine Protocol client over a unix socket (-qmp unix:PATH,
 * server=on,wait=off): the greeting, qmp_capabilities, then one command at a
 * time. Asynchronous events arriving between a command and its answer are
 * skipped. Failures use the check "qmp"; QEMU's own error is in the message.
 */
#ifndef KVMTRUST_QMP_H
#define KVMTRUST_QMP_H

#include <sys/types.h>

#include <jansson.h>

#include "common/error.h"

struct kt_qmp;

struct kt_qmp *kt_qmp_open(const char *path, struct kt_err *err);
void kt_qmp_close(struct kt_qmp *q);

/* The QEMU process on the other end (SO_PEERCRED), to measure it. */
pid_t kt_qmp_pid(const struct kt_qmp *q);

/* Runs cmd with args (stolen; may be NULL); returns its "return" value (a new reference). */
json_t *kt_qmp_exec(struct kt_qmp *q, const char *cmd, json_t *args, struct kt_err *err);

/*
 * Polls query-migrate until its status is "completed" (0) or "failed" /
 * "cancelled" (-1, check "migration"), at most timeout_ms.
 */
int kt_qmp_wait_migrated(struct kt_qmp *q, unsigned int timeout_ms, struct kt_err *err);

/* query-status's "status" ("running", "paused", "postmigrate", ...) into buf. */
int kt_qmp_runstate(struct kt_qmp *q, char *buf, size_t len, struct kt_err *err);

#endif
