/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One entry point per command group; each lives in its own file in cli/.
 * Every entry point receives argv with argv[0] set to the group name and
 * returns the process exit status (see kvmtrust(8), EXIT STATUS).
 */
#ifndef KVMTRUST_SUBCOMMANDS_H
#define KVMTRUST_SUBCOMMANDS_H

extern const char *prog;

int info_main(int argc, char *argv[]);
int vm_main(int argc, char *argv[]);
int measure_main(int argc, char *argv[]);
int ca_main(int argc, char *argv[]);
int token_main(int argc, char *argv[]);
int handshake_main(int argc, char *argv[]);
int ledger_main(int argc, char *argv[]);
int evidence_main(int argc, char *argv[]);
int score_main(int argc, char *argv[]);
int tpm_main(int argc, char *argv[]);
int attest_main(int argc, char *argv[]);
int verify_main(int argc, char *argv[]);
int config_main(int argc, char *argv[]);
int launch_main(int argc, char *argv[]);
int grant_main(int argc, char *argv[]);
int migrate_main(int argc, char *argv[]);
int daemon_main(int argc, char *argv[]);
int snapshot_main(int argc, char *argv[]);
int rollback_main(int argc, char *argv[]);
int policy_main(int argc, char *argv[]);

#endif
