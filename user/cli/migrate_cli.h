/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmtrust migrate start (source) and receive (destination): the verified
 * live migration of a QEMU guest, protocol and states in
 * Documentation/migration.rst. Both sides share the measurement and the
 * way they end a session.
 */
#ifndef KVMTRUST_MIGRATE_CLI_H
#define KVMTRUST_MIGRATE_CLI_H

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

int migrate_start_main(int argc, char *argv[]);
int migrate_receive_main(int argc, char *argv[]);

#endif
