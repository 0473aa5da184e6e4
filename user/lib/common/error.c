// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "common/error.h"

static int vfail(struct kt_err *err, const char *check, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	err->check = check;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return -1;
}

int kt_fail(struct kt_err *err, const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(err, check, fmt, ap);
	va_end(ap);
	return -1;
}

int kt_fail_ssl(struct kt_err *err, const char *check, const char *fmt, ...)
{
	unsigned long code = ERR_peek_last_error();
	char ssl[256] = "";
	size_t len;
	va_list ap;

	if (code)
		ERR_error_string_n(code, ssl, sizeof(ssl));
	ERR_clear_error();
	va_start(ap, fmt);
	vfail(err, check, fmt, ap);
	va_end(ap);
	if (err && code) {
		len = strlen(err->msg);
		snprintf(err->msg + len, sizeof(err->msg) - len, " (%s)", ssl);
	}
	return -1;
}

void kt_err_clear(struct kt_err *err)
{
	if (err) {
		err->check = NULL;
		err->msg[0] = '\0';
	}
}
