/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every command group shares: usage and --help handling, the output
 * options, reading a file argument, printing an error or a refusal with its
 * exit status, and number and time arguments.
 */
#ifndef KVMTRUST_CLI_UTIL_H
#define KVMTRUST_CLI_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "common/error.h"
#include "exitcodes.h"
#include "print.h"

/*
 * Prints "Error: [<what>: ]<check>: <message>" ("Error: [<what>: ]<message>"
 * when no check is named) on stderr and returns status.
 */
int cli_error(const char *what, const struct kt_err *err, int status);

/* Prints "Refused: <check>: <message>" on stderr and returns KT_EXIT_REFUSED. */
int cli_refused(const struct kt_err *err);

/*
 * The outcome of a command that verifies or decides, under the one key
 * "verdict" in every output form (Documentation/cli.rst), and the exit
 * status that goes with it.
 */
enum cli_verdict {
	CLI_VERIFIED,		/* "verified", 0 */
	CLI_REFUSED,		/* "refused", 10 */
	CLI_ALLOW,		/* "allow", 0 */
	CLI_VERIFY_FIRST,	/* "verify-first", 11 */
	CLI_DENY,		/* "deny", 10 */
	CLI_NO_VERDICT,		/* "error": no decision could be reached, 1 */
};

/* Prints "verdict" (as text with fmt) and returns the verdict's exit status. */
int cli_print_verdict(enum cli_verdict v, const char *fmt);

/*
 * Ends the open result object of a verifying command with verdict
 * "refused", the check and the message, then as cli_refused().
 */
int cli_print_refused(const struct kt_err *err);

/*
 * KT_EXIT_OK when every named input file or directory exists (NULL and "-"
 * are skipped); otherwise "Error: file: ..." naming the first that does not
 * and KT_EXIT_NOT_FOUND (KT_EXIT_PERM when it cannot be looked up).
 */
int cli_need_files_n(const char *const paths[], size_t n);
#define cli_need_files(...)						\
	cli_need_files_n((const char *const[]){ __VA_ARGS__ },		\
			 sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* Prints err->msg and returns the exit status for the negative errno ret. */
int cli_fail(const struct kt_err *err, int ret);

/* Strict unsigned decimal (digits only) up to max; -1 if not one. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* Strict decimal u32 in [min, max]; false (and a message) otherwise. */
bool cli_parse_u32(const char *what, const char *s, uint32_t min, uint32_t max,
		   uint32_t *out);

/*
 * Parses a time, in the one form every command accepts: ISO 8601 UTC
 * "2026-01-31T12:00:00Z", "@1700000000" (Unix seconds), "now", or "now+90d"
 * / "now-1h" (units s, m, h, d). Returns -1 if invalid.
 */
int cli_parse_time(const char *arg, time_t *out);
/* What a usage text says about TIME, the same in every group. */
#define CLI_TIME_USAGE \
	"TIME is ISO 8601 UTC (2026-11-23T04:00:00Z), @SECONDS, now, now+90d or now-1h.\n"

/* A set of exit statuses (exitcodes.h) for cli_usage_exits(). */
#define CLI_EXIT(code) (1u << (code))
#define CLI_EXITS_BASE (CLI_EXIT(KT_EXIT_OK) | CLI_EXIT(KT_EXIT_FAILURE) | CLI_EXIT(KT_EXIT_USAGE))

/*
 * Ends a usage text with the statuses a group returns, named as in
 * kvmtrust(8): "Exit status: 0 ok/allow, 1 failure, ... (kvmtrust(8))."
 */
void cli_usage_exits(FILE *f, unsigned int codes);

/*
 * A group run without a command prints its usage on stderr (KT_EXIT_USAGE);
 * with -h, --help or help on stdout (KT_EXIT_OK). True when it did, the
 * exit status in *status.
 */
bool cli_group_usage(int argc, char *argv[], void (*usage)(FILE *), int *status);

/* One command of a group: its name and the function that runs it. */
struct cli_command {
	const char *name;
	int (*fn)(int argc, char *argv[]);
};

/*
 * Runs the command argv[1] names with argv from it, after cli_group_usage();
 * an unknown one is a usage error of the group, with its usage.
 */
int cli_dispatch(const char *group, void (*usage)(FILE *), const struct cli_command *cmds,
		 size_t n, int argc, char *argv[]);

/*
 * Prints "<prog> <group>: <message>" ("<prog>: <message>" when group is
 * NULL) and then, unless usage is NULL, the usage on stderr; returns
 * KT_EXIT_USAGE.
 */
int cli_bad_usage(const char *group, void (*usage)(FILE *), const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* 0 when value is given, else "<option> is required" as cli_bad_usage(). */
int cli_need(const char *group, void (*usage)(FILE *), const char *value, const char *option);

/*
 * Ends a group's getopt_long loop that stops at the first bad value (bad
 * set, c the option, optarg its value): names the value unless getopt_long
 * already complained ('?'), prints the usage on stderr and returns -1;
 * returns 0 when nothing was bad.
 */
int cli_parse_done(const char *group, void (*usage)(FILE *), int bad, int c);

/*
 * For getopt_long's 'h' (-h, --help): usage on stdout, KT_EXIT_OK; for an
 * option it refused: usage on stderr, KT_EXIT_USAGE.
 */
int cli_option_usage(void (*usage)(FILE *), int opt);

/*
 * Reads a file argument ("-": standard input) of at most max bytes, without
 * its trailing white space; NULL (err set) on failure.
 */
char *cli_read_arg(const char *path, size_t max, struct kt_err *err);

/*
 * Writes an output file argument ("-": standard output) with
 * kt_file_write()'s rules (outfile.h); -1 with err set on failure.
 * cli_write_line() writes line and a newline, mode 0644.
 */
int cli_write_arg(const char *path, const void *buf, size_t len, mode_t mode,
		  struct kt_err *err);
int cli_write_line(const char *path, const char *line, struct kt_err *err);
/*
 * Before any work: 0 if path can be written (as kt_file_replaceable(), or
 * "-" unless the output is a secret, which never goes to standard output).
 */
int cli_output_check(const char *path, bool secret, struct kt_err *err);

struct kt_nl;
/* Connects to the module; on failure prints why and returns NULL. */
struct kt_nl *cli_nl_open(void);

/*
 * --json and --script in a getopt_long table. Groups that take -j and -s
 * too add "js" to their short options.
 */
#define CLI_OUTPUT_OPTIONS \
	{ "json", no_argument, NULL, 'j' }, { "script", no_argument, NULL, 's' }

/*
 * Sets *mode for --json and --script; false for other options. The two
 * exclude each other: given both, it says so and exits with KT_EXIT_USAGE
 * (a parse-time error, like iproute2's invarg(): nothing to unwind yet).
 */
bool cli_output_option(int opt, enum kt_print_mode *mode);

struct option;
/*
 * getopt_long() for every group, so that its option table is the one list
 * bash completion offers: when cli_listing_options is set (kvmtrust
 * __complete), the first call prints the table's long options, one a line
 * ("--name=" when it takes a value) and exits. Completion runs the command
 * with the words typed so far, so a command parses its options before it
 * does anything else.
 */
extern bool cli_listing_options;
int cli_getopt(int argc, char *const argv[], const char *shortopts,
	       const struct option *longopts);

#endif
