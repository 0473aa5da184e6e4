// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust config: the launch configuration as a Merkle tree (measure) and
 * its signed attestation (attest).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/config_tree.h"
#include "attest/hostkey.h"
#include "attest/report.h"
#include "attest_cli.h"
#include "cli_util.h"
#include "common/encoding.h"
#include "print.h"
#include "subcommands.h"
#include "vm_ref.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s config measure (CONFIG | --qemu -- QEMU-ARGV...) [--package-manifest FILE]\n"
		"                         [--progress] [--json | --script]\n"
		"       %s config attest (CONFIG | --qemu -- QEMU-ARGV...) [--package-manifest FILE]\n"
		"                        [--progress] [--pid PID | --uuid UUID | --domain NAME]\n"
		"                        [--nonce N] [-o FILE] [--key-dir DIR] [--tcti TCTI]\n"
		"CONFIG is our JSON, a libvirt domain XML or a file holding a QEMU command line.\n"
		"A QEMU argument that is neither measured nor known to be harmless is refused.\n"
		"--progress shows hashing progress on standard error (default: on a terminal).\n",
		prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE) | CLI_EXIT(KT_EXIT_REFUSED));
}

enum { OPT_QEMU = 256, OPT_PACKAGES, OPT_NONCE, OPT_KEY_DIR, OPT_TCTI, OPT_PROGRESS };

static const struct option options[] = {
	{ "qemu", no_argument, NULL, OPT_QEMU },
	{ "package-manifest", required_argument, NULL, OPT_PACKAGES },
	VM_REF_OPTIONS,
	{ "nonce", required_argument, NULL, OPT_NONCE },
	{ "output", required_argument, NULL, 'o' },
	{ "key-dir", required_argument, NULL, OPT_KEY_DIR },
	{ "tcti", required_argument, NULL, OPT_TCTI },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	CLI_OUTPUT_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct config_args {
	bool qemu, progress;
	struct vm_ref ref;	/* optional: the VM this configuration launches */
	struct vm_name vm;
	const char *packages, *nonce, *output, *key_dir, *tcti;
	enum kt_print_mode mode;
};

static int config_measure(const struct config_args *a, const struct kt_config *cfg)
{
	kt_hash root, leaf, proof[KT_MERKLE_MAX_PROOF];
	char hex[2 * KT_HASH_LEN + 1];
	size_t i;
	int len, k;

	if (kt_config_root(cfg, root))
		return KT_EXIT_FAILURE;
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_hex("root", "root: %s\n", root, sizeof(root));
	kt_print_u64("size", "parameters: %s\n", cfg->n);
	kt_print_open_array("params");
	for (i = 0; i < cfg->n; i++) {
		len = kt_config_proof(cfg, i, proof);
		if (len < 0)
			return KT_EXIT_FAILURE;
		kt_config_leaf(&cfg->params[i], leaf);
		kt_print_open_object(NULL);
		kt_print_u64("index", "  [%s] ", i);
		kt_print_string("name", "%s", cfg->params[i].name);
		kt_print_string("value", " = %s\n", cfg->params[i].value);
		kt_print_hex("leaf", "      leaf  %s\n", leaf, sizeof(leaf));
		kt_print_open_array("proof");
		for (k = 0; k < len; k++) {
			kt_hex_encode(proof[k], KT_HASH_LEN, hex);
			kt_print_string(NULL, "      proof %s\n", hex);
		}
		kt_print_close_array();
		kt_print_close_object();
	}
	kt_print_close_array();
	kt_print_close_object();
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

static int config_attest(const struct config_args *a, const struct kt_config *cfg)
{
	struct kt_hostkey *hk = NULL;
	struct kt_err err = { 0 };
	json_t *claims = NULL;
	char *jwt = NULL;
	kt_hash root;
	char hex[2 * KT_HASH_LEN + 1];
	int ret = KT_EXIT_FAILURE;

	if (kt_config_root(cfg, root))
		return KT_EXIT_FAILURE;
	kt_hex_encode(root, sizeof(root), hex);
	if (kt_hostkey_open(a->key_dir, a->tcti, &hk, &err))
		return attest_hostkey_error("open the host key", &err);
	claims = json_pack("{s:s, s:s, s:o}", "kind", "launch-config", "config_root", hex,
			   "params", kt_config_to_json(cfg));
	if (claims && vm_ref_given(&a->ref))
		json_object_set_new(claims, "vm_id", json_string(a->vm.uuid));
	if (claims && a->nonce)
		json_object_set_new(claims, "eat_nonce", json_string(a->nonce));
	if (!claims || kt_report_sign(hk, claims, &jwt, &err)) {
		fprintf(stderr, "%s: unable to sign the configuration: %s\n", prog,
			claims ? err.msg : "out of memory");
		goto out;
	}
	ret = attest_write_report(a->output, jwt);
	if (ret == KT_EXIT_OK && a->output && strcmp(a->output, "-"))
		fprintf(stderr, "config root %s attested in %s\n", hex, a->output);
out:
	free(jwt);
	json_decref(claims);
	kt_hostkey_close(hk);
	return ret;
}

int config_main(int argc, char *argv[])
{
	struct config_args a = { .key_dir = kt_hostkey_default_dir(),
				 .tcti = kt_hostkey_default_tcti() };
	struct kt_config cfg;
	const char *cmd;
	int c, ret;

	if (cli_group_usage(argc, argv, usage, &ret))
		return ret;
	cmd = argv[1];
	if (strcmp(cmd, "measure") && strcmp(cmd, "attest"))
		return cli_bad_usage("config", usage, "unknown command '%s'", cmd);
	optind = 2;
	while ((c = cli_getopt(argc, argv, "ho:", options)) != -1) {
		if (vm_ref_option(&a.ref, c, optarg))
			continue;
		switch (c) {
		case OPT_QEMU: a.qemu = true; break;
		case OPT_PACKAGES: a.packages = optarg; break;
		case OPT_NONCE: a.nonce = optarg; break;
		case 'o': a.output = optarg; break;
		case OPT_KEY_DIR: a.key_dir = optarg; break;
		case OPT_TCTI: a.tcti = optarg; break;
		case OPT_PROGRESS: a.progress = true; break;
		default:
			if (cli_output_option(c, &a.mode))
				break;
			return cli_option_usage(usage, c);
		}
	}
	if (a.qemu ? optind >= argc : optind != argc - 1) {
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	if (vm_ref_given(&a.ref)) {
		if (!strcmp(cmd, "measure"))
			return cli_bad_usage("config", usage, "measure takes no VM");
		ret = vm_ref_resolve(&a.ref, VM_REF_UUID, &a.vm);
		if (ret)
			return ret;
	}
	ret = attest_load_config(a.qemu ? NULL : argv[optind], argc - optind, argv + optind,
				 a.packages, a.progress, &cfg);
	if (ret != KT_EXIT_OK)
		return ret;
	ret = !strcmp(cmd, "measure") ? config_measure(&a, &cfg) : config_attest(&a, &cfg);
	kt_config_free(&cfg);
	return ret;
}
