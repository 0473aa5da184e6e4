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
#include <linux/kvmtrust.h>

#include "attest/report.h"
#include "common/error.h"
#include "common/uuid.h"
#include "identity/channel.h"
#include "measure/guest_pause.h"
#include "measure/kt_nl.h"

#define MIGRATE_TIMEOUT 60		/* seconds without progress on the wire */
#define MIGRATE_QEMU_MS (120 * 1000)	/* for QEMU to finish a migration */
#define MIGRATE_TICK_MS 20		/* the source asks QEMU how far its first pass is */

struct migrate_roots {
	struct kt_vm_state state;
	char memory[65], vcpu[65];
	uint64_t pages_hashed;	/* leaves computed: all of them when full */
	bool full;		/* every page hashed, not incremental */
	uint64_t ms;		/* the measurement's wall time */
};

/*
 * Measures the guest of QEMU process pid (attaching it if needed).
 * flags: KVMTRUST_MEASURE_F_*; with KVMTRUST_MEASURE_F_FREEZE the module
 * stops the QEMU process for the measurement and may measure incrementally,
 * hashing only what changed since the last one (Documentation/measurement.rst).
 */
int migrate_measure(pid_t pid, uint32_t flags, struct migrate_roots *r, struct kt_err *err);

/* 32 random bytes in hex: the destination's challenge for a report. */
int migrate_nonce(char out[65], struct kt_err *err);

/*
 * Source: a vm-state report of the measured guest, signed by the host key
 * in key_dir (tcti for a TPM key), answering nonce; config_root may be NULL.
 */
int migrate_sign_state(const char *key_dir, const char *tcti, const char *vm,
		       const struct migrate_roots *r, const char *nonce, const char *config_root,
		       char **jwt, struct kt_err *err);

/*
 * Destination: a report of the source host, verified (attest/report.h) with
 * its x5c chained to anchors (CRLs in crls) and its leaf certifying host
 * source, the host UUID of the certificate that issued the guest's token in
 * the handshake (its TPM key and its identity key are certified apart);
 * of this kind, for this VM (a launch report without vm_id is refused too),
 * answering nonce (NULL: none asked, any age accepted). *claims: verified.
 * Refusals: the report's checks, "report" (VM), "report-host".
 */
int migrate_verify_report(const char *jwt, const char *source, const char *anchors,
			  const char *crls, const char *kind, const char *vm, const char *nonce,
			  json_t **claims, struct kt_err *err);

/* SHA-256 of a report's bytes, as the ledger records it; hex when hex != NULL. */
void migrate_report_digest(const char *jwt, kt_hash out, char hex[65]);

/* A message {"msg": type, ...} of the protocol, checked for its type. */
json_t *migrate_expect(json_t *msg, const char *type, struct kt_err *err);

/* Monotonic milliseconds, for the timings both sides print. */
uint64_t migrate_now_ms(void);

/* The CPU time this process used so far (user and system), in ms. */
uint64_t migrate_cpu_ms(void);

/* Where and as whom the destination writes the outcome to the ledger. */
struct migrate_ledger {
	const char *spec, *ca, *owners;	/* NULL: the environment, then the defaults */
	const char *key, *cert;		/* the destination host's credential */
};

/*
 * Appends the final attestation of the arrived guest (with its memory_root;
 * failed: NULL for a pass, else the failing check, kept as the entry's
 * detail) and, when it passed, the move to this host, whose detail names
 * the grant the decision allowed it by ("grant:<id>", as `ledger append
 * move --detail` and evidence.rst have it; refused when grant_id is not a
 * grant id); both rest on the source's final report (its digest in the
 * entries, format 3; NULL: none arrived).
 */
int migrate_ledger_record(const struct migrate_ledger *l, const char *vm, const char *host,
			  const char *memory_root, const kt_hash report, const char *failed,
			  const char *grant_id, struct kt_err *err);

/*
 * A guest of our own VMM (migrate_vmm.c): the process pid whose --uuid
 * names the VM, its VM attached to kvmtrust.ko; stopped by this side
 * (SIGSTOP, kt_guest_pause) from the transfer on (source) or while it
 * waits for the state (destination).
 */
struct migrate_vmm {
	pid_t pid;
	char vm[KT_UUID_STR_LEN + 1];
	struct kt_nl *nl;
	uint32_t vm_id;
	struct kt_guest_pause pause;
	bool stopped;		/* kt_guest_pause called: resume or kill it */
	const char *side;	/* "source" or "destination", for its messages */
};

/* Opens pid's VM (its uuid must be vm unless vm is NULL): "vmm", "vm". */
int migrate_vmm_open(struct migrate_vmm *v, pid_t pid, const char *vm, struct kt_err *err);
void migrate_vmm_close(struct migrate_vmm *v);
/* Destination: the VMM must be stopped (waiting for a guest); it stays so. */
int migrate_vmm_waiting(struct migrate_vmm *v, struct kt_err *err);
/* Source: stops the VMM, sends "vmm-state" and every slot's bytes, then the end. */
int migrate_vmm_send(struct migrate_vmm *v, struct kt_channel *ch, uint64_t *bytes,
		     struct kt_err *err);
/*
 * Destination: the same layout ("layout"), the bytes written through
 * /proc/PID/mem, the registers set by the module; the VMM stays stopped.
 */
int migrate_vmm_recv(struct migrate_vmm *v, struct kt_channel *ch, uint64_t *bytes,
		     struct kt_err *err);
/* SIGCONT if this side stopped it; "SIDE guest: resumed at SECONDS.MICROS". */
void migrate_vmm_resume(struct migrate_vmm *v);
/* SIGKILL: the copy that must never run (who: "source", "destination"). */
void migrate_vmm_kill(struct migrate_vmm *v, const char *who);

int migrate_start_main(int argc, char *argv[]);
int migrate_receive_main(int argc, char *argv[]);

#endif
