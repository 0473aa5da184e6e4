// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust attest: measures a VM (through kvmtrust.ko) or takes a recorded
 * measurement, and signs an attestation report with the host key.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/hostkey.h"
#include "attest/report.h"
#include "attest_cli.h"
#include "cli_util.h"
#include "common/encoding.h"
#include "measure/kt_attach.h"
#include "measure/kt_nl.h"
#include "subcommands.h"
#include "vm_ref.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s attest " VM_REF_USAGE " [--measurement FILE.json] [--nonce N]\n"
		"                [--config-root HEX] [-o FILE] [--key-dir DIR] [--tcti TCTI]\n"
		"Measures the VM through kvmtrust.ko, or takes the measurement in FILE.json,\n"
		"and writes a signed report (compact JWS) to stdout or FILE.\n",
		prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE));
}

enum { OPT_MEASUREMENT = 256, OPT_NONCE, OPT_CONFIG_ROOT, OPT_KEY_DIR, OPT_TCTI };

static const struct option options[] = {
	VM_REF_OPTIONS,
	{ "measurement", required_argument, NULL, OPT_MEASUREMENT },
	{ "nonce", required_argument, NULL, OPT_NONCE },
	{ "config-root", required_argument, NULL, OPT_CONFIG_ROOT },
	{ "output", required_argument, NULL, 'o' },
	{ "key-dir", required_argument, NULL, OPT_KEY_DIR },
	{ "tcti", required_argument, NULL, OPT_TCTI },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct attest_args {
	struct vm_ref ref;
	const char *measurement, *nonce, *config_root, *output, *key_dir, *tcti;
};

/* Measures the VM of process pid through kvmtrust.ko (kt_vm_measure_pid). */
static int measure_pid(pid_t pid, struct kt_vm_state *m, struct kt_err *err)
{
	struct kt_measurement km;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = kt_vm_measure_pid(pid, 0, &km, err);
	if (ret)
		return ret;	/* -EPROTONOSUPPORT: KT_EXIT_UNAVAILABLE */
	memcpy(m->memory_root, km.memory_root, KT_HASH_LEN);
	memcpy(m->vcpu_root, km.vcpu_root, KT_HASH_LEN);
	m->has_vcpu_root = km.has_vcpu_root;
	m->pages = km.pages;
	m->seq = km.seq;
	m->leaf_format = km.leaf_format;
	return 0;
}

static int do_attest(const struct attest_args *a)
{
	struct kt_hostkey *hk = NULL;
	struct kt_vm_state m;
	struct kt_err err = { 0 };
	struct vm_name vm;
	kt_hash config_root;
	char *jwt = NULL;
	json_t *claims = NULL;
	int ret = KT_EXIT_FAILURE;

	if (a->config_root && (strlen(a->config_root) != 64 ||
			       kt_hex_decode(a->config_root, config_root, sizeof(config_root))))
		return cli_bad_usage(NULL, NULL, "--config-root takes 64 hex digits");
	ret = cli_need_files(a->measurement);
	if (!ret)
		ret = vm_ref_resolve(&a->ref, a->measurement ? VM_REF_UUID : VM_REF_PROCESS, &vm);
	if (ret)
		return ret;
	if (a->measurement && kt_vm_state_load(a->measurement, &m, &err)) {
		fprintf(stderr, "%s: unable to read the measurement: %s\n", prog, err.msg);
		return KT_EXIT_FAILURE;
	}
	if (!a->measurement) {
		ret = measure_pid(vm.pid, &m, &err);
		if (ret)
			return cli_fail(&err, ret);
	}
	ret = KT_EXIT_FAILURE;
	if (kt_hostkey_open(a->key_dir, a->tcti, &hk, &err))
		return attest_hostkey_error("open the host key", &err);
	claims = kt_report_vm_claims(vm.uuid, &m, a->nonce,
				     a->config_root ? config_root : NULL);
	if (!claims || kt_report_sign(hk, claims, &jwt, &err)) {
		fprintf(stderr, "%s: unable to sign the report: %s\n", prog,
			claims ? err.msg : "out of memory");
		goto out;
	}
	ret = attest_write_report(a->output, jwt);
out:
	free(jwt);
	json_decref(claims);
	kt_hostkey_close(hk);
	return ret;
}

int attest_main(int argc, char *argv[])
{
	struct attest_args a = { .key_dir = kt_hostkey_default_dir(),
				 .tcti = kt_hostkey_default_tcti() };
	int c, ret;

	while ((c = cli_getopt(argc, argv, "ho:", options)) != -1) {
		if (vm_ref_option(&a.ref, c, optarg))
			continue;
		switch (c) {
		case OPT_MEASUREMENT: a.measurement = optarg; break;
		case OPT_NONCE: a.nonce = optarg; break;
		case OPT_CONFIG_ROOT: a.config_root = optarg; break;
		case 'o': a.output = optarg; break;
		case OPT_KEY_DIR: a.key_dir = optarg; break;
		case OPT_TCTI: a.tcti = optarg; break;
		default:
			return cli_option_usage(usage, c);
		}
	}
	if (optind != argc)
		return cli_bad_usage("attest", usage, "unexpected argument '%s'", argv[optind]);
	ret = vm_ref_check(&a.ref);
	if (ret)
		return ret;
	if (a.nonce && strlen(a.nonce) > KT_REPORT_MAX_NONCE)
		return cli_bad_usage(NULL, NULL, "--nonce is longer than %d bytes", KT_REPORT_MAX_NONCE);
	return do_attest(&a);
}
