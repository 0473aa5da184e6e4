/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VM's launch configuration as an RFC 9162 Merkle tree (merkle.h), one
 * leaf per parameter (Documentation/attestation.rst, "Configuration tree"):
 *
 *   leaf data  = name || 0x00 || value        (UTF-8, no NUL inside)
 *   leaf hash  = SHA-256(0x00 || leaf data)
 *   leaf order = parameters sorted by name (strcmp), names unique
 *
 *   memory            bytes, decimal
 *   vcpus             decimal
 *   vcpu.N.pin        host CPU list for vCPU N, as written ("0-1,4")
 *   nic.N.mac         lowercase xx:xx:xx:xx:xx:xx
 *   nic.N.vlan        decimal VLAN id, 0 for untagged
 *   disk.N.sha256     SHA-256 of disk image N's bytes (streamed)
 *   bootloader.sha256 SHA-256 of the firmware / boot loader image
 *   kernel.sha256     SHA-256 of a directly booted kernel
 *   initrd.sha256     SHA-256 of its initrd
 *   kernel.cmdline    the kernel command line, verbatim
 *   packages.sha256   SHA-256 of the installed-package manifest
 *
 * Sources: our JSON, a libvirt domain XML (libxml2) or a QEMU command line;
 * the same configuration gives the same root from each.
 */
#ifndef KVMTRUST_CONFIG_TREE_H
#define KVMTRUST_CONFIG_TREE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"
#include "common/merkle.h"

#define KT_CONFIG_MAX_PARAMS 1024

struct kt_config_param {
	char *name;
	char *value;
};

struct kt_config {
	struct kt_config_param *params;
	size_t n;
	size_t cap;
	/* Relative paths in the source are resolved against this directory. */
	char *base_dir;
};

/* Parsers leave cfg empty (nothing to free) when they fail. */
/* Detects the format by content: '{' JSON, '<' libvirt XML, else a QEMU command line. */
int kt_config_load(const char *path, struct kt_config *cfg, struct kt_err *err);
int kt_config_from_json(const char *path, struct kt_config *cfg, struct kt_err *err);
int kt_config_from_libvirt(const char *path, struct kt_config *cfg, struct kt_err *err);
/* argv[0] is the VMM binary; options it does not know are skipped. */
int kt_config_from_qemu(int argc, char *const argv[], struct kt_config *cfg,
			struct kt_err *err);

int kt_config_add(struct kt_config *cfg, const char *name, const char *value,
		  struct kt_err *err);
/* Adds name = SHA-256 of the file's bytes, streamed (any size). */
int kt_config_add_file_hash(struct kt_config *cfg, const char *name, const char *path,
			    struct kt_err *err);
int kt_file_sha256(const char *path, kt_hash out, struct kt_err *err);

/*
 * Called while large files are hashed (done and total in bytes, done ==
 * total at the end) so a CLI can show progress; process-wide, NULL: none.
 */
typedef void (*kt_config_progress_fn)(const char *path, uint64_t done, uint64_t total);
void kt_config_set_progress(kt_config_progress_fn fn);

/* Sorts the parameters and refuses duplicates; call before hashing. */
int kt_config_finish(struct kt_config *cfg, struct kt_err *err);
void kt_config_leaf(const struct kt_config_param *p, kt_hash out);
int kt_config_root(const struct kt_config *cfg, kt_hash root);
/* Inclusion proof of parameter i; returns its length or -1. */
int kt_config_proof(const struct kt_config *cfg, size_t i, kt_hash *proof);

/* [{"name":..,"value":..}, ...] and back (the launch-config report's params). */
json_t *kt_config_to_json(const struct kt_config *cfg);
int kt_config_from_params(const json_t *params, struct kt_config *cfg, struct kt_err *err);

/*
 * Writes "name: attested A, launching B" for each differing parameter into
 * buf; returns how many differ.
 */
size_t kt_config_diff(const struct kt_config *attested, const struct kt_config *launching,
		      char *buf, size_t len);

void kt_config_free(struct kt_config *cfg);

#endif
