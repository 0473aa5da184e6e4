// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/secfile.h"
#include "identity_cli.h"

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
