/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Error reporting for libkvmtrust. Verification code must name the check
 * that failed ("signature", "chain", "audience", ...) so a user, a test and
 * a policy engine can all tell refusals apart; `check` carries that name and
 * `msg` the human sentence.
 */
#ifndef KVMTRUST_ERROR_H
#define KVMTRUST_ERROR_H

#include <stdarg.h>

struct kt_err {
	const char *check;	/* static string naming the failed check, or NULL */
	char msg[512];
};

/* Records the failure (err may be NULL) and returns -1 for `return kt_fail(...)`. */
int kt_fail(struct kt_err *err, const char *check, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As kt_fail(), appending OpenSSL's most recent error and clearing its queue. */
int kt_fail_ssl(struct kt_err *err, const char *check, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void kt_err_clear(struct kt_err *err);

#endif
