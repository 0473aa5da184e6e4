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
 *   disk.N.backing.K.sha256
 *                     SHA-256 of the K-th image (1 = nearest) of its qcow2
 *                     backing chain
 *   bootloader.sha256 SHA-256 of the firmware / boot loader image
 *   kernel.sha256     SHA-256 of a directly booted kernel
 *   initrd.sha256     SHA-256 of its initrd
 *   kernel.cmdline    the kernel command line, verbatim
 *   packages.sha256   SHA-256 of the installed-package manifest
 *   qemu.OPT.N        the N-th -OPT of a QEMU command line that changes what
 *                     the guest runs or sees, as written less the parts
 *                     measured above, files replaced by "sha256:HEX"
 *
 * Sources: our JSON, a libvirt domain XML (libxml2) or a QEMU command line;
 * the same configuration gives the same root from each. A QEMU argument
 * that is neither measured nor known to be harmless is refused
 * (qemu_argv.c, Documentation/attestation.rst "QEMU arguments").
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
/*
 * argv[0] is the VMM binary (not measured); every other argument is
 * measured, known to be harmless, or refused (check "config").
 */
int kt_config_from_qemu(int argc, char *const argv[], struct kt_config *cfg,
			struct kt_err *err);
/* The same for a command line split into words, paths relative to cfg->base_dir. */
int kt_config_qemu_parse(int argc, char *const argv[], struct kt_config *cfg,
			 struct kt_err *err);

int kt_config_add(struct kt_config *cfg, const char *name, const char *value,
		  struct kt_err *err);
int kt_config_add_u64(struct kt_config *cfg, const char *name, uint64_t v, struct kt_err *err);
/* nic.N.mac (any case, ':' or '-') and nic.N.vlan (0-4094, 0 untagged). */
int kt_config_add_nic(struct kt_config *cfg, size_t i, const char *mac, long long vlan,
		      struct kt_err *err);
/* Relative paths of later parameters resolve against the directory of path. */
int kt_config_set_base_dir(struct kt_config *cfg, const char *path, struct kt_err *err);
/* path against cfg->base_dir unless absolute; malloc'd, NULL when out of memory. */
char *kt_config_path(const struct kt_config *cfg, const char *path);

/*
 * Files (config_files.c). Only regular files and block devices are read:
 * anything else (a FIFO, a character device) is refused with check "disk"
 * before it is opened, so hashing never blocks or runs forever.
 */
/* Adds name = SHA-256 of the file's bytes, streamed (any size). */
int kt_config_add_file_hash(struct kt_config *cfg, const char *name, const char *path,
			    struct kt_err *err);
int kt_file_sha256(const char *path, kt_hash out, struct kt_err *err);
/*
 * Adds disk.N.sha256 for the image at path and, when it is a qcow2 image
 * with a backing file, disk.N.backing.K.sha256 for each image of the chain.
 * format: "raw", "qcow2", or NULL to probe as QEMU does (formats other than
 * raw and qcow2 are refused: their images may name files we do not read).
 */
int kt_config_add_disk(struct kt_config *cfg, size_t index, const char *path,
		       const char *format, struct kt_err *err);

/*
 * Called after every chunk of a hashed file and once more with done ==
 * total at its end (bytes; total 0 when unknown), so a CLI can show
 * progress; the callee throttles. Process-wide, NULL: none.
 */
typedef void (*kt_config_progress_fn)(const char *path, uint64_t done, uint64_t total);
void kt_config_set_progress(kt_config_progress_fn fn);
kt_config_progress_fn kt_config_progress(void);

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
