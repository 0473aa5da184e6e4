/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small whole-file helpers for key and state directories: read a file into
 * memory, and replace a file atomically (temporary file, fsync, rename) so
 * a crash never leaves a half-written key or last-seen record.
 */
#ifndef KVMTRUST_STATEFILE_H
#define KVMTRUST_STATEFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Reads at most max bytes; *data is NUL-terminated after *len bytes. */
int kt_file_read(const char *path, size_t max, uint8_t **data, size_t *len,
		 struct kt_err *err);
int kt_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 struct kt_err *err);
/* Opens (creating) path and takes an exclusive flock; returns the fd or -1. */
int kt_file_lock(const char *path, struct kt_err *err);
/* malloc'd "dir/name". */
char *kt_path_join(const char *dir, const char *name);

#endif
