/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one way libkvmtrust and the CLI write a file: keys, certificates,
 * CRLs, tokens, reports, grants, orders and state alike.
 *
 * Only a regular file (or nothing) at the path is ever replaced. A symbolic
 * link is refused rather than followed or replaced, so a link planted in a
 * shared directory cannot redirect a key; a device node, FIFO, socket or
 * directory is refused so `-o /dev/sda` cannot turn a disk's node into a
 * regular file (rename() would). A missing parent directory is refused too,
 * never created. The new content is written to a temporary file in the same
 * directory (O_EXCL, mode set exactly, the umask ignored), fsync'd and
 * renamed over the path, then the directory is fsync'd: a crash leaves the
 * old file or the new one, never half of either. Failures name the check
 * "file" and carry the errno text.
 */
#ifndef KVMTRUST_OUTFILE_H
#define KVMTRUST_OUTFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Atomically replaces path with buf; the new file has exactly mode. */
int kt_file_write(const char *path, const void *buf, size_t len, mode_t mode,
		  struct kt_err *err);

/*
 * The check kt_file_write() starts with: 0 when path is absent (with its
 * parent directory present) or a regular file, else the refusal. For
 * callers that write several files and must refuse before the first.
 */
int kt_file_replaceable(const char *path, struct kt_err *err);

/*
 * Creates directory path with mode unless it is one already; refuses
 * anything else at the path (a file, a device, a dangling link).
 */
int kt_dir_make(const char *path, mode_t mode, struct kt_err *err);

/*
 * For content-addressed stores, where a name says what the file holds: creates
 * path with buf unless it exists (1: created, 0: was there). The bytes go to a
 * temporary file that is then linked to path, so the name never shows a partial
 * file; nothing is synced: the caller writes many and syncs the file system
 * once (syncfs) before it relies on them.
 */
int kt_file_create_once(const char *path, const void *buf, size_t len, mode_t mode,
			struct kt_err *err);

#endif
