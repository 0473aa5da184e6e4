// SPDX-License-Identifier: GPL-2.0
/* Options and errors shared by 'kvmtrust ledger' and 'kvmtrust score'. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "common/encoding.h"
#include "ledger_cli.h"
#include "subcommands.h"

static const struct option long_opts[] = {
	{ "ledger", required_argument, NULL, 'l' },
	{ "ca", required_argument, NULL, 'c' },
	{ "key", required_argument, NULL, 'k' },
	{ "cert", required_argument, NULL, 'C' },
	CLI_OUTPUT_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int ledger_opts_parse(int argc, char *argv[], struct ledger_opts *o, void (*usage)(FILE *),
		      int *status)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->spec = getenv("KVMTRUST_LEDGER");
	o->ca = getenv("KVMTRUST_LEDGER_CA");
	o->key = getenv("KVMTRUST_LEDGER_KEY");
	o->cert = getenv("KVMTRUST_LEDGER_CERT");
	optind = 1;
	while ((c = getopt_long(argc, argv, "+l:c:k:C:jsh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'l': o->spec = optarg; break;
		case 'c': o->ca = optarg; break;
		case 'k': o->key = optarg; break;
		case 'C': o->cert = optarg; break;
		default:
			if (cli_output_option(c, &o->mode))
				break;
			*status = cli_option_usage(usage, c);
			return -1;
		}
	}
	if (optind >= argc || !strcmp(argv[optind], "help")) {
		usage(optind >= argc ? stderr : stdout);
		*status = optind >= argc ? KT_EXIT_USAGE : KT_EXIT_OK;
		return -1;
	}
	return optind;
}

int ledger_opts_open(struct ledger_opts *o, int need_ca)
{
	struct kt_err err = { 0 };

	if ((need_ca || o->ca) && kt_ledger_auth_load(o->ca, &o->auth, &err))
		return ledger_error(&err);
	if (kt_ledger_open(o->spec, o->auth, &o->log, &err)) {
		kt_ledger_auth_free(o->auth);
		o->auth = NULL;
		return ledger_error(&err);
	}
	kt_print_start(o->mode);
	return 0;
}

void ledger_opts_close(struct ledger_opts *o)
{
	kt_ledger_close(o->log);
	kt_ledger_auth_free(o->auth);
	o->log = NULL;
	o->auth = NULL;
}

int ledger_error(const struct kt_err *err)
{
	const char *check = err->check ? err->check : "";
	int status = KT_EXIT_FAILURE;

	if (!strcmp(check, "missing") || !strcmp(check, "vm"))
		status = KT_EXIT_NOT_FOUND;
	else if (!strcmp(check, "unavailable"))
		status = KT_EXIT_UNAVAILABLE;
	else if (!strcmp(check, "authorization") || !strcmp(check, "key"))
		status = KT_EXIT_PERM;
	return cli_error(NULL, err, status);
}

int ledger_state_read(const char *path, struct kt_ledger *log, bool verified)
{
	char hex[2 * KT_HASH_LEN + 2];
	unsigned long long size;
	kt_hash root;
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return 0;	/* first run: nothing recorded yet */
	ok = fscanf(f, "%llu %65s", &size, hex) == 2 && strlen(hex) == 2 * KT_HASH_LEN &&
	     !kt_hex_decode(hex, root, KT_HASH_LEN);
	fclose(f);
	if (!ok) {
		fprintf(stderr, "Error: state file '%s' is not \"SIZE ROOT\"\n", path);
		return -1;
	}
	if (verified)
		kt_ledger_trust_prefix(log, size, root);
	else
		kt_ledger_pin(log, size, root);
	return 0;
}

int ledger_state_write(const char *path, uint64_t size, const kt_hash root)
{
	char hex[2 * KT_HASH_LEN + 1], *tmp;
	FILE *f;
	int ok;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -1;
	kt_hex_encode(root, KT_HASH_LEN, hex);
	f = fopen(tmp, "w");
	ok = f && fprintf(f, "%llu %s\n", (unsigned long long)size, hex) > 0;
	ok = f && !fclose(f) && ok && !rename(tmp, path);
	if (!ok)
		fprintf(stderr, "Error: cannot write state file '%s'\n", path);
	free(tmp);
	return ok ? 0 : -1;
}
