/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmtrust migrate start (source) and receive (destination): the verified
 * live migration of a QEMU guest, protocol and states in
 * Documentation/migration.rst. Both sides share the measurement and the
 * way they end a session.
 */
#ifndef KVMTRUST_MIGRATE_CLI_H
#define KVMTRUST_MIGRATE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/error.h"

#define MIGRATE_TIMEOUT 60		/* seconds without progress on the wire */
#define MIGRATE_QEMU_MS (120 * 1000)	/* for QEMU to finish a migration */

struct migrate_roots {
	char memory[65], vcpu[65];
};

/* Measures the paused guest of QEMU process pid (attaching it if needed). */
int migrate_measure(pid_t pid, struct migrate_roots *r, struct kt_err *err);

/* A message {"msg": type, ...} of the protocol, checked for its type. */
json_t *migrate_expect(json_t *msg, const char *type, struct kt_err *err);

/* Monotonic milliseconds, for the timings both sides print. */
uint64_t migrate_now_ms(void);

/* Where and as whom the destination writes the outcome to the ledger. */
struct migrate_ledger {
	const char *spec, *ca, *owners;	/* NULL: the environment, then the defaults */
	const char *key, *cert;		/* the destination host's credential */
};

/*
 * Appends the final attestation of the arrived guest (pass or fail, with
 * its memory_root) and, when it passed, the move to this host.
 */
int migrate_ledger_record(const struct migrate_ledger *l, const char *vm, const char *host,
			  const char *memory_root, bool pass, struct kt_err *err);

int migrate_start_main(int argc, char *argv[]);
int migrate_receive_main(int argc, char *argv[]);

#endif
