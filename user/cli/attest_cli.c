// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest_cli.h"
#include "subcommands.h"

static int is_hash_hex(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdefABCDEF") == 64;
}

int attest_policy_option(struct attest_policy_args *a, int opt, const char *arg)
{
	struct kt_report_policy *p = &a->policy;
	char *end;

	switch (opt) {
	case ATTEST_OPT_PUBKEY: a->key_file = arg; return 0;
	case ATTEST_OPT_ANCHORS: p->anchors = arg; return 0;
	case ATTEST_OPT_CRLS: p->crls = arg; return 0;
	case ATTEST_OPT_NONCE: p->nonce = arg; return 0;
	case ATTEST_OPT_LAST_SEEN: p->last_seen = arg; return 0;
	case ATTEST_OPT_REQUIRE_TPM: p->require_tpm = true; return 0;
	case ATTEST_OPT_MAX_AGE:
		p->max_age = strtoll(arg, &end, 10);
		if (*end || !*arg || p->max_age == 0) {
			fprintf(stderr, "%s: --max-age takes seconds (> 0) or -1\n", prog);
			return -1;
		}
		return 0;
	case ATTEST_OPT_EXPECT_MEMORY:
	case ATTEST_OPT_EXPECT_VCPU:
	case ATTEST_OPT_EXPECT_CONFIG:
		if (!is_hash_hex(arg)) {
			fprintf(stderr, "%s: expected roots are 64 hex digits\n", prog);
			return -1;
		}
		if (opt == ATTEST_OPT_EXPECT_MEMORY)
			p->expect_memory_root = arg;
		else if (opt == ATTEST_OPT_EXPECT_VCPU)
			p->expect_vcpu_root = arg;
		else
			p->expect_config_root = arg;
		return 0;
	}
	return -1;
}

int attest_policy_ready(struct attest_policy_args *a)
{
	struct kt_err err = { 0 };
	int ret = cli_need_files(a->key_file, a->policy.anchors, a->policy.crls);

	if (ret)
		return ret;
	if (!a->key_file)
		return 0;
	a->policy.key = kt_report_load_pubkey(a->key_file, &err);
	if (!a->policy.key) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return KT_EXIT_FAILURE;
	}
	return KT_EXIT_OK;
}

void attest_policy_free(struct attest_policy_args *a)
{
	EVP_PKEY_free(a->policy.key);
	a->policy.key = NULL;
}

int attest_hostkey_error(const char *what, const struct kt_err *err)
{
	fprintf(stderr, "%s: unable to %s: %s\n", prog, what, err->msg);
	if (err->check && !strcmp(err->check, "tpm"))
		return KT_EXIT_UNAVAILABLE;
	if (err->check && !strcmp(err->check, "key") && strstr(err->msg, "no host key"))
		return KT_EXIT_NOT_FOUND;
	return KT_EXIT_FAILURE;
}

/*
 * Hashing progress on standard error, at most four updates a second (and
 * each file's last): redrawn in place on a terminal, a line each otherwise.
 * total 0: the size is not known up front.
 */
static void show_progress(const char *path, uint64_t done, uint64_t total)
{
	static struct timespec last;
	static int tty = -1;
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
	if (done != total && ms < 250)
		return;
	last = now;
	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	fprintf(stderr, "%shashing %s: %.1f", tty ? "\r" : "", path, done / 1048576.0);
	if (total)
		fprintf(stderr, " of %.1f MiB (%" PRIu64 "%%)", total / 1048576.0, 100 * done / total);
	else
		fputs(" MiB", stderr);
	fputs(tty ? "\033[K" : "\n", stderr);
	if (tty && done == total)
		fputc('\n', stderr);
}

int attest_load_config(const char *path, int argc, char *const argv[],
		       const char *package_manifest, bool progress, struct kt_config *cfg)
{
	struct kt_err err = { 0 };
	char *base;
	int ret;

	ret = cli_need_files(path, package_manifest);
	if (ret)
		return ret;
	if (progress || isatty(STDERR_FILENO))
		kt_config_set_progress(show_progress);
	if (path ? kt_config_load(path, cfg, &err) : kt_config_from_qemu(argc, argv, cfg, &err))
		goto fail;
	if (!package_manifest)
		return KT_EXIT_OK;
	/* The manifest named on our command line is relative to the cwd. */
	base = cfg->base_dir;
	cfg->base_dir = NULL;
	ret = kt_config_add_file_hash(cfg, "packages.sha256", package_manifest, &err) ||
	      kt_config_finish(cfg, &err);
	cfg->base_dir = base;
	if (!ret)
		return KT_EXIT_OK;
fail:
	/* What cannot be measured is refused, never left out (fail closed). */
	kt_config_free(cfg);
	return cli_refused(&err);
}

int attest_write_report(const char *path, const char *jwt)
{
	struct kt_err err = { 0 };

	if (cli_write_line(path ? path : "-", jwt, &err))
		return cli_error("cannot write the report", &err, KT_EXIT_FAILURE);
	return KT_EXIT_OK;
}
