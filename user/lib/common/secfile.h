/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading the files that hold keys, tokens and CA state (outfile.h writes them).
 *
 * Secrets are only read from regular files the caller owns that nobody else
 * can read or write (mode & 077 == 0); the check runs on the opened file
 * descriptor so a rename between check and read cannot swap the file.
 */
#ifndef KVMTRUST_SECFILE_H
#define KVMTRUST_SECFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum kt_file_flags {
	KT_FILE_PRIVATE = 1 << 0,	/* refuse unless owned by us and mode & 077 == 0 */
};

/*
 * Reads a whole file of at most max bytes. *buf is malloc'd and NUL
 * terminated (so text can be used as a string). Failures name the check
 * "file" (missing, unreadable, too large) or "permissions".
 */
int kt_file_read(const char *path, size_t max, unsigned int flags,
		 uint8_t **buf, size_t *len, struct kt_err *err);

#endif
