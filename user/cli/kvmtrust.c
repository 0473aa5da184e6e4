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
	/* What the group dispatches on; bash completion offers these (cli.rst). */
	const char *subcommands;
} commands[] = {
	{ "info", info_main, "Shows the module version, hash driver and features",
	  NULL },
	{ "vm", vm_main, "Attaches, lists and detaches KVM VMs",
	  "attach list detach" },
	{ "measure", measure_main, "Measures a VM's memory and vCPU state",
	  NULL },
	{ "ca", ca_main, "Creates CAs, issues and revokes certificates",
	  "init issue revoke crl show verify" },
	{ "token", token_main, "Issues, verifies, revokes and shows guest identity tokens",
	  "issue verify revoke show store keyfile" },
	{ "handshake", handshake_main, "Runs the federated handshake over TCP",
	  NULL },
	{ "ledger", ledger_main, "Appends to, reads, proves and verifies the trust ledger",
	  "init append register get head prove verify batch integrate provenance" },
	{ "evidence", evidence_main, "Exports and verifies a VM's offline evidence bundle",
	  "export verify" },
	{ "score", score_main, "Shows a VM's trust score and migration decision",
	  "show" },
	{ "tpm", tpm_main, "Provisions the host's TPM-held signing key",
	  "init show pubkey csr" },
	{ "attest", attest_main, "Measures a VM and signs an attestation report",
	  NULL },
	{ "verify", verify_main, "Verifies an attestation report",
	  NULL },
	{ "config", config_main, "Measures and attests a VM launch configuration",
	  "measure attest" },
	{ "launch", launch_main, "Runs a VMM only if its configuration is attested",
	  NULL },
	{ "grant", grant_main, "Issues, shows, verifies and revokes migration grants",
	  "issue show verify revoke" },
	{ "migrate", migrate_main, "Decides whether a VM may migrate to a host",
	  "check order start receive" },
	{ "daemon", daemon_main, "Shows or follows kvmtrustd's results, or has it attest now",
	  "status attest-now watch" },
	{ "snapshot", snapshot_main, "Saves, lists, shows, verifies and prunes attested snapshots",
	  "save list show verify prune" },
	{ "rollback", rollback_main, "Restores a guest to an attested snapshot, proven",
	  NULL },
	{ "policy", policy_main, "Learns and checks a guest's runtime integrity policy",
	  "learn check" },
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

/*
 * kvmtrust __complete [GROUP [SUBCOMMAND...]]: what bash completion offers
 * after the words given: the groups, a group's subcommands, or the options of
 * the table the command parses (cli_getopt()). Hidden: not for operators.
 */
static int complete(int argc, char *argv[])
{
	size_t i, n = sizeof(commands) / sizeof(commands[0]);
	const char *s;

	if (argc < 2) {
		for (i = 0; i < n; i++)
			printf("%s\n", commands[i].name);
		return fflush(stdout) ? KT_EXIT_FAILURE : KT_EXIT_OK;
	}
	for (i = 0; i < n && strcmp(argv[1], commands[i].name); i++)
		;
	if (i == n)
		return KT_EXIT_NOT_FOUND;
	if (argc == 2 && commands[i].subcommands) {
		for (s = commands[i].subcommands; *s; s += strcspn(s, " "), s += !!*s)
			printf("%.*s\n", (int)strcspn(s, " "), s);
		return fflush(stdout) ? KT_EXIT_FAILURE : KT_EXIT_OK;
	}
	cli_listing_options = true;
	/* Returning at all means the words never reached an option table. */
	commands[i].main(argc - 1, argv + 1);
	return KT_EXIT_NOT_FOUND;
}

int main(int argc, char *argv[])
{
	size_t i;
	int ret;

	prog = argv[0];
	if (cli_group_usage(argc, argv, show_usage, &ret))
		return ret;
	if (!strcmp(argv[1], "__complete"))
		return complete(argc - 1, argv + 1);
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
