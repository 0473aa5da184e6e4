/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key and state directories, on top of secfile.h (whole-file reads) and
 * outfile.h (atomic writes): paths inside a directory, and an exclusive lock file for
 * read-modify-write sequences (PCR extend + quote, the last-seen file).
 */
#ifndef KVMTRUST_STATEFILE_H
#define KVMTRUST_STATEFILE_H

#include "common/error.h"
#include "common/outfile.h"
#include "common/secfile.h"

/* Opens (creating) path and takes an exclusive flock; returns the fd or -1. */
int kt_file_lock(const char *path, struct kt_err *err);
/* malloc'd "dir/name". */
char *kt_path_join(const char *dir, const char *name);

#endif
