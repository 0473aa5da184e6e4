// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "identity_cli.h"
#include "secfile.h"

int kt_cli_uint(const char *arg, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!arg || !*arg || *arg == '-')
		return -1;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int relative(const char *arg, time_t base, time_t *out)
{
	static const struct { char unit; long mult; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	unsigned long n;
	char num[32];
	size_t len = strlen(arg), i;
	long mult = 1;

	if (len < 2 || len >= sizeof(num) || (arg[0] != '+' && arg[0] != '-'))
		return -1;
	memcpy(num, arg + 1, len - 1);
	num[len - 1] = '\0';
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (num[len - 2] == units[i].unit) {
			mult = units[i].mult;
			num[len - 2] = '\0';
		}
	}
	if (kt_cli_uint(num, 100UL * 365 * 86400, &n))
		return -1;
	*out = arg[0] == '+' ? base + (time_t)(n * mult) : base - (time_t)(n * mult);
	return 0;
}

int kt_cli_time(const char *arg, time_t *out)
{
	unsigned long secs;
	struct tm tm;
	char *end;

	if (!strcmp(arg, "now")) {
		*out = time(NULL);
		return 0;
	}
	if (!strncmp(arg, "now", 3))
		return relative(arg + 3, time(NULL), out);
	if (arg[0] == '@') {
		if (kt_cli_uint(arg + 1, 1UL << 40, &secs))
			return -1;
		*out = (time_t)secs;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(arg, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	*out = timegm(&tm);
	return 0;
}

int kt_cli_error(const char *what, const struct kt_err *err)
{
	int status = KT_EXIT_FAILURE;

	if (err->check && !strcmp(err->check, "permissions"))
		status = KT_EXIT_PERM;
	if (err->check && !strcmp(err->check, "file") && strstr(err->msg, "No such file"))
		status = KT_EXIT_NOT_FOUND;
	return cli_error(what, err, status);
}

int kt_cli_unlock(const char *keyfile, const char *passfile, const char *tpm,
		  struct kt_keystore_unlock *u, char **secret, struct kt_err *err)
{
	uint8_t *buf;
	size_t len;

	memset(u, 0, sizeof(*u));
	*secret = NULL;
	if (!!keyfile + !!passfile + !!tpm != 1)
		return kt_fail(err, "keystore",
			       "give exactly one of --keyfile, --passphrase-file and --tpm");
	u->keyfile = keyfile;
	u->tpm = tpm;
	if (!passfile)
		return 0;
	if (kt_file_read(passfile, 4096, KT_FILE_PRIVATE, &buf, &len, err))
		return -1;
	buf[strcspn((char *)buf, "\r\n")] = '\0';
	if (!buf[0]) {
		free(buf);
		return kt_fail(err, "keystore", "passphrase file '%s' is empty", passfile);
	}
	*secret = (char *)buf;
	u->passphrase = *secret;
	return 0;
}

void kt_cli_drop_secret(char **secret)
{
	if (*secret) {
		OPENSSL_cleanse(*secret, strlen(*secret));
		free(*secret);
		*secret = NULL;
	}
}
