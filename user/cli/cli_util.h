/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the kvm-side commands (info, vm, measure) share: turning a library
 * failure into a message on stderr and an exit status, and number parsing.
 */
#ifndef KVMTRUST_CLI_UTIL_H
#define KVMTRUST_CLI_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "print.h"

/* Prints err->msg and returns the exit status for the negative errno ret. */
int cli_fail(const struct kt_err *err, int ret);

/* Strict decimal u32 in [min, max]; false (and a message) otherwise. */
bool cli_parse_u32(const char *what, const char *s, uint32_t min, uint32_t max,
		   uint32_t *out);

bool cli_is_help(const char *arg);

struct kt_nl;
/* Connects to the module; on failure prints why and returns NULL. */
struct kt_nl *cli_nl_open(void);

/* Sets *mode for -j/--json and -s/--script; false for other options. */
bool cli_output_option(int opt, enum kt_print_mode *mode);

#endif
