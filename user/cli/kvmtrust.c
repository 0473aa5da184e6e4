// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust: measure, attest, identify and place KVM guests.
 * This file only dispatches; each command group lives in its own file.
 */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "exitcodes.h"
#include "subcommands.h"

const char *prog;

static const struct {
	const char *name;
	int (*main)(int argc, char *argv[]);
	const char *description;
} commands[] = {
	{ "info", info_main, "Shows the module version, hash driver and features" },
	{ "vm", vm_main, "Attaches, lists and detaches KVM VMs" },
	{ "measure", measure_main, "Measures a VM's memory and vCPU state" },
	{ "ca", ca_main, "Creates CAs, issues and revokes certificates" },
	{ "token", token_main, "Issues, verifies, revokes and shows guest identity tokens" },
	{ "handshake", handshake_main, "Runs the federated handshake over TCP" },
	{ "ledger", ledger_main, "Appends to, reads, proves and verifies the trust ledger" },
	{ "score", score_main, "Shows a VM's trust score and migration decision" },
	{ "tpm", tpm_main, "Provisions the host's TPM-held signing key" },
	{ "attest", attest_main, "Measures a VM and signs an attestation report" },
	{ "verify", verify_main, "Verifies an attestation report" },
	{ "config", config_main, "Measures and attests a VM launch configuration" },
	{ "launch", launch_main, "Runs a VMM only if its configuration is attested" },
	{ "grant", grant_main, "Issues, shows, verifies and revokes migration grants" },
	{ "migrate", migrate_main, "Decides whether a VM may migrate to a host" },
	{ "daemon", daemon_main, "Shows kvmtrustd's results or has it attest now" },
};

static void show_usage(FILE *file)
{
	size_t i;

	fprintf(file, "Usage: %s <cmd> [<args>]\n\n", prog);
	fprintf(file, "Available subcommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(file, "  %-10s %s\n", commands[i].name, commands[i].description);
	fprintf(file, "\nRun '%s <cmd> --help' for a command's options, or see kvmtrust(8).\n", prog);
	cli_usage_exits(file, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE) | CLI_EXIT(KT_EXIT_REFUSED) |
			CLI_EXIT(KT_EXIT_VERIFY_FIRST));
}

int main(int argc, char *argv[])
{
	size_t i;
	int ret;

	prog = argv[0];
	if (cli_group_usage(argc, argv, show_usage, &ret))
		return ret;
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("kvmtrust %s\n", KVMTRUST_VERSION);
		return KT_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	}
	fprintf(stderr, "Invalid subcommand: '%s'\n", argv[1]);
	show_usage(stderr);
	return KT_EXIT_USAGE;
}
