/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Attested snapshots of a KVM guest (Documentation/snapshots.rst).
 *
 * A store is a directory:
 *
 *   pages/XX/<leaf>          4096 bytes of one guest page, named by its
 *                            memory leaf hash (64 hex, XX its first two), so
 *                            a page is stored once for every snapshot that
 *                            holds it at the same address; all-zero pages
 *                            are never stored
 *   snapshots/<id>/          one snapshot:
 *       manifest.json        what was captured (the fields below)
 *       leaves.bin           one 40-byte record per guest page, GPA order:
 *                            le64 gpa || 32-byte leaf hash
 *       report.jws           a vm-state attestation report whose claims add
 *                            "snapshot": {"id", "manifest"}: the snapshot id
 *                            and SHA-256 of manifest.json's bytes
 *       vcpus.bin            when the module returned them: every vCPU's
 *                            registers, KT_SNAP_VCPU_RECORD bytes each
 *       migration.bin        QEMU guests: QEMU's own migration stream
 *
 * Verification names the failing check in kt_err.check: snapshot (no such
 * snapshot, bad id), manifest, leaves, vcpus, report, binding, layout,
 * memory_root, vcpu_root, page, stream.
 */
#ifndef KVMTRUST_SNAPSHOT_H
#define KVMTRUST_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "attest/hostkey.h"
#include "attest/report.h"
#include "common/error.h"
#include "common/merkle.h"
#include "measure/kt_nl.h"

#define KT_SNAP_FORMAT 1
#define KT_SNAP_PAGE 4096
#define KT_SNAP_LEAF_RECORD 40
#define KT_SNAP_ID_MAX 48
/* vcpus.bin: le32 index, le32 id, struct kvm_regs, struct kvm_sregs (x86-64). */
#define KT_SNAP_VCPU_RECORD (8 + sizeof(struct kvm_regs) + sizeof(struct kvm_sregs))
/* The module's serialization of one vCPU (measurement.rst). */
#define KT_SNAP_VCPU_STATE 408
/* $KVMTRUST_SNAPSHOT_DIR or this. */
#define KT_SNAP_DEFAULT_STORE "/var/lib/kvmtrust/snapshots"
/* The restorer's own QMP socket in the store: STORE/.rollback-PID.qmp. */
#define KT_SNAP_RESTORE_QMP_PREFIX ".rollback-"

struct kt_snap_slot {
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;		/* where the VMM mapped it when captured */
	uint32_t id;
	uint32_t flags;		/* KVM_MEM_* */
};

struct kt_snap_leaf {
	uint64_t gpa;
	kt_hash leaf;
};

struct kt_snapshot {
	char id[KT_SNAP_ID_MAX + 1];
	char vm_id[40];
	char vmm[16];		/* "qemu" or "other" */
	int64_t created;	/* Unix seconds */
	uint64_t seq;		/* of the module's measurement */
	uint32_t leaf_format;
	kt_hash memory_root;
	kt_hash vcpu_root;
	bool has_vcpu_root;
	uint32_t vcpus;
	struct kt_snap_slot *slots;
	size_t nr_slots;
	struct kt_snap_leaf *leaves;
	uint64_t pages;		/* records in leaves */
	uint64_t zero_pages;	/* not stored */
	uint64_t new_pages;	/* stored by this snapshot, not before */
	bool has_stream;	/* migration.bin */
	kt_hash stream_sha256;
	uint64_t stream_bytes;
	char *qemu_argv;	/* JSON array text, or NULL */
	struct kt_vcpu_regs *vcpu_regs;	/* vcpus.bin, by index; NULL: none */
	size_t nr_vcpu_regs;
};

void kt_snap_free(struct kt_snapshot *s);

/* $KVMTRUST_SNAPSHOT_DIR or KT_SNAP_DEFAULT_STORE. */
const char *kt_snap_default_store(void);

/* An id is [0-9A-Za-z._-], 1..KT_SNAP_ID_MAX, not starting with '.'. */
bool kt_snap_id_valid(const char *id);

/* SHA-256(0x00 || page || le64(gpa)): a format 2 memory leaf. */
void kt_snap_leaf_hash(const uint8_t page[KT_SNAP_PAGE], uint64_t gpa, kt_hash out);

/* "<store>/pages/XX/<hex leaf>", malloc'd. */
char *kt_snap_page_path(const char *store, const kt_hash leaf);

/*
 * Reads the guest pages of process pid at the slots' addresses through
 * /proc/PID/mem (the guest must be paused), stores each non-zero page in the
 * store and fills s->leaves, pages, zero_pages, new_pages and memory_root.
 * The slots are taken over (freed with s).
 */
int kt_snap_capture(const char *store, pid_t pid, struct kt_snapshot *s, struct kt_err *err);

/*
 * Writes the snapshot (s->id new) with manifest.json, leaves.bin and a
 * report signed by hk; stream, when not NULL, is moved in as
 * migration.bin. The directory appears whole or not at all.
 */
int kt_snap_commit(const char *store, struct kt_snapshot *s, const char *stream,
		   struct kt_hostkey *hk, struct kt_err *err);

/*
 * The "slots" array of manifest.json (hva true) or of migrate's vmm-state
 * message (hva false: the source's addresses mean nothing elsewhere):
 * objects of counts id, gpa, size, flags (and hva), id and flags within
 * 32 bits, into s->slots and s->nr_slots; anything else fails check.
 */
int kt_snap_slots_parse(const json_t *arr, bool hva, const char *check, struct kt_snapshot *s,
			struct kt_err *err);

/* Loads manifest.json and leaves.bin (their own consistency only). */
int kt_snap_load(const char *store, const char *id, struct kt_snapshot *s,
		 struct kt_err *err);

/*
 * Every check, offline: the report verifies with policy (its kind,
 * memory_root and vcpu_root are set here) and binds this id and
 * manifest.json; the layout and the leaves recompute memory_root; every
 * stored page hashes to its leaf (the first that does not is named by GPA);
 * the stream's digest. s (may be NULL) receives the snapshot.
 */
int kt_snap_verify(const char *store, const char *id, const struct kt_report_policy *policy,
		   struct kt_snapshot *s, struct kt_err *err);

/* A file of snapshot id, as stored (the report binds manifest.json's bytes). */
int kt_snap_read_file(const char *store, const char *id, const char *file, size_t max,
		      uint8_t **buf, size_t *len, struct kt_err *err);

/* mkdir dir/name unless it is a directory already. */
int kt_dir_make_in(const char *dir, const char *name, struct kt_err *err);

/* The 408-byte serialization of one vCPU, and vcpu_root over n of them. */
void kt_snap_vcpu_state(const struct kt_vcpu_regs *v, uint8_t out[KT_SNAP_VCPU_STATE]);
/*
 * The inverse: the registers a serialization holds (index 0; the rest of
 * kvm_regs/kvm_sregs, which it does not hold, zero).
 */
void kt_snap_vcpu_unstate(const uint8_t in[KT_SNAP_VCPU_STATE], struct kt_vcpu_regs *v);
int kt_snap_vcpu_root(const struct kt_vcpu_regs *regs, size_t n, kt_hash out);
/* vcpus.bin's bytes (malloc'd), and back into s->vcpu_regs (-1: bad size). */
uint8_t *kt_snap_vcpus_bytes(const struct kt_snapshot *s, size_t *len);
int kt_snap_vcpus_parse(struct kt_snapshot *s, const uint8_t *buf, size_t len);

/* The snapshots in the store, sorted by id (ids start with the time); malloc'd. */
int kt_snap_list(const char *store, char ***ids, size_t *nr, struct kt_err *err);
void kt_snap_list_free(char **ids, size_t nr);

/*
 * Removes the snapshots named, then every page no remaining snapshot holds.
 * *freed counts the page files removed.
 */
int kt_snap_prune(const char *store, char *const *ids, size_t nr, uint64_t *freed,
		  struct kt_err *err);

/*
 * The command line that restores QEMU snapshot s: the recorded one without
 * -incoming, -daemonize and an earlier restorer's -qmp, plus -S, -qmp unix:QMP,server=on,wait=off and
 * -incoming "exec:cat 'STREAM'". *argv is NULL-terminated; free it with
 * kt_snap_argv_free().
 */
int kt_snap_qemu_argv(const struct kt_snapshot *s, const char *stream, const char *qmp,
		      char ***argv, struct kt_err *err);
void kt_snap_argv_free(char **argv);

#endif
