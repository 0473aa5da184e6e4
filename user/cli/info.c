// SPDX-License-Identifier: GPL-2.0
/* kvmtrust info: what the loaded module is and how it hashes. */
#include <getopt.h>
#include <stdio.h>

#include "cli_util.h"
#include "exitcodes.h"
#include "measure/kt_nl.h"
#include "print.h"
#include "subcommands.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s info [--json | --script]\n\n"
		"Shows the kvmtrust module's version, hash algorithm, the kernel crypto\n"
		"driver that hashes (e.g. sha256-avx2) and its features.\n", prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_UNAVAILABLE));
}

static const struct {
	uint32_t bit;
	const char *name;
} features[] = {
	{ KVMTRUST_F_MEMORY_ROOT, "memory-root" },
	{ KVMTRUST_F_VCPU_ROOT, "vcpu-root" },
};

int info_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		CLI_OUTPUT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum kt_print_mode mode = KT_PRINT_TEXT;
	struct kt_err err = { 0 };
	struct kt_info info;
	struct kt_nl *nl;
	size_t i;
	int c, ret;

	while ((c = cli_getopt(argc, argv, "jsh", opts)) != -1) {
		switch (c) {
		default:
			if (cli_output_option(c, &mode))
				break;
			return cli_option_usage(usage, c);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	nl = cli_nl_open();
	if (!nl)
		return KT_EXIT_UNAVAILABLE;
	ret = kt_nl_get_info(nl, &info, &err);
	kt_nl_close(nl);
	if (ret)
		return cli_fail(&err, ret);

	kt_print_start(mode);
	kt_print_open_object(NULL);
	kt_print_string("version", "version:      %s\n", info.version);
	kt_print_string("hash_alg", "hash:         %s", info.hash_alg);
	kt_print_string("hash_driver", " (%s)\n", info.hash_driver);
	kt_print_u64("features_mask", NULL, info.features);
	kt_print_text("features:    ");
	kt_print_open_array("features");
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (info.features & features[i].bit)
			kt_print_string(NULL, " %s", features[i].name);
	}
	kt_print_close_array();
	kt_print_text("\n");
	kt_print_close_object();
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}
