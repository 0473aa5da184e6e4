// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "common/outfile.h"
#include "common/secfile.h"
#include "exitcodes.h"
#include "measure/kt_nl.h"
#include "subcommands.h"

static int exit_status(int ret)
{
	switch (-ret) {
	case ENOENT:
	case ESRCH:
	case ENODEV:
		return KT_EXIT_NOT_FOUND;
	case EPERM:
	case EACCES:
		return KT_EXIT_PERM;
	case EPROTONOSUPPORT:
	case EAFNOSUPPORT:
		return KT_EXIT_UNAVAILABLE;
	default:
		return KT_EXIT_FAILURE;
	}
}

int cli_fail(const struct kt_err *err, int ret)
{
	fprintf(stderr, "%s\n", err->msg[0] ? err->msg : strerror(-ret));
	/* genetlink's admin check refuses with EPERM and no extack. */
	if (ret == -EPERM && err->check && !strcmp(err->check, "netlink") &&
	    strncmp(err->msg, "Error:", 6))
		fprintf(stderr, "%s: this needs CAP_NET_ADMIN: run as root\n", prog);
	return exit_status(ret);
}

int cli_error(const char *what, const struct kt_err *err, int status)
{
	fprintf(stderr, "Error: %s%s%s%s%s\n", what ? what : "", what ? ": " : "",
		err->check ? err->check : "", err->check ? ": " : "", err->msg);
	return status;
}

int cli_refused(const struct kt_err *err)
{
	fprintf(stderr, "Refused: %s: %s\n", err->check ? err->check : "?", err->msg);
	return KT_EXIT_REFUSED;
}

static const struct {
	const char *name;
	int status;
} verdicts[] = {
	[CLI_VERIFIED] = { "verified", KT_EXIT_OK },
	[CLI_REFUSED] = { "refused", KT_EXIT_REFUSED },
	[CLI_ALLOW] = { "allow", KT_EXIT_OK },
	[CLI_VERIFY_FIRST] = { "verify-first", KT_EXIT_VERIFY_FIRST },
	[CLI_DENY] = { "deny", KT_EXIT_REFUSED },
	[CLI_NO_VERDICT] = { "error", KT_EXIT_FAILURE },
};

int cli_print_verdict(enum cli_verdict v, const char *fmt)
{
	kt_print_string("verdict", fmt, verdicts[v].name);
	return verdicts[v].status;
}

int cli_print_refused(const struct kt_err *err)
{
	cli_print_verdict(CLI_REFUSED, NULL);
	kt_print_string("check", NULL, err->check);
	kt_print_string("message", NULL, err->msg);
	kt_print_close_object();
	kt_print_end();
	return cli_refused(err);
}

int cli_need_files_n(const char *const paths[], size_t n)
{
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!paths[i] || !strcmp(paths[i], "-") || !stat(paths[i], &st))
			continue;
		if (errno != ENOENT && errno != ENOTDIR && errno != EACCES)
			continue;	/* left to the reader to report */
		fprintf(stderr, "Error: file: cannot open '%s': %s\n", paths[i], strerror(errno));
		return errno == EACCES ? KT_EXIT_PERM : KT_EXIT_NOT_FOUND;
	}
	return KT_EXIT_OK;
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

bool cli_parse_u32(const char *what, const char *s, uint32_t min, uint32_t max,
		   uint32_t *out)
{
	uint64_t v;

	if (cli_parse_uint(s, max, &v) || v < min) {
		fprintf(stderr, "%s: invalid %s '%s'\n", prog, what, s);
		return false;
	}
	*out = v;
	return true;
}

static int parse_relative(const char *arg, time_t base, time_t *out)
{
	static const struct { char unit; long mult; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	uint64_t n;
	char num[32];
	size_t len = strlen(arg), i;
	long mult = 1;

	if (len < 2 || len >= sizeof(num) || (arg[0] != '+' && arg[0] != '-'))
		return -1;
	memcpy(num, arg + 1, len - 1);
	num[len - 1] = '\0';
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (num[len - 2] == units[i].unit) {
			mult = units[i].mult;
			num[len - 2] = '\0';
		}
	}
	if (cli_parse_uint(num, 100ULL * 365 * 86400, &n))
		return -1;
	*out = arg[0] == '+' ? base + (time_t)(n * mult) : base - (time_t)(n * mult);
	return 0;
}

int cli_parse_time(const char *arg, time_t *out)
{
	uint64_t secs;
	struct tm tm;
	char *end;

	if (!strcmp(arg, "now")) {
		*out = time(NULL);
		return 0;
	}
	if (!strncmp(arg, "now", 3))
		return parse_relative(arg + 3, time(NULL), out);
	if (arg[0] == '@') {
		if (cli_parse_uint(arg + 1, 1ULL << 40, &secs))
			return -1;
		*out = (time_t)secs;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(arg, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	*out = timegm(&tm);
	return 0;
}

void cli_usage_exits(FILE *f, unsigned int codes)
{
	static const char *const names[] = {
		[KT_EXIT_OK] = "ok/allow", [KT_EXIT_FAILURE] = "failure",
		[KT_EXIT_USAGE] = "usage", [KT_EXIT_NOT_FOUND] = "not found",
		[KT_EXIT_PERM] = "permission", [KT_EXIT_UNAVAILABLE] = "unavailable",
		[KT_EXIT_REFUSED] = "refused/deny", [KT_EXIT_VERIFY_FIRST] = "verify first",
	};
	const char *sep = "Exit status: ";
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i] && (codes & CLI_EXIT(i))) {
			fprintf(f, "%s%zu %s", sep, i, names[i]);
			sep = ", ";
		}
	}
	fprintf(f, " (kvmtrust(8)).\n");
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help");
}

bool cli_group_usage(int argc, char *argv[], void (*usage)(FILE *), int *status)
{
	/* Listing goes on to the group's option table, which exits. */
	if (cli_listing_options || (argc >= 2 && !is_help(argv[1])))
		return false;
	usage(argc < 2 ? stderr : stdout);
	*status = argc < 2 ? KT_EXIT_USAGE : KT_EXIT_OK;
	return true;
}

int cli_dispatch(const char *group, void (*usage)(FILE *), const struct cli_command *cmds,
		 size_t n, int argc, char *argv[])
{
	size_t i;
	int ret;

	if (cli_group_usage(argc, argv, usage, &ret))
		return ret;
	for (i = 0; i < n; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return cli_bad_usage(group, usage, "unknown command '%s'", argv[1]);
}

int cli_bad_usage(const char *group, void (*usage)(FILE *), const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s%s%s: ", prog, group ? " " : "", group ? group : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (usage)
		usage(stderr);
	return KT_EXIT_USAGE;
}

int cli_need(const char *group, void (*usage)(FILE *), const char *value, const char *option)
{
	return value ? 0 : cli_bad_usage(group, usage, "%s is required", option);
}

int cli_parse_done(const char *group, void (*usage)(FILE *), int bad, int c)
{
	if (!bad)
		return 0;
	if (c != '?')
		fprintf(stderr, "%s %s: invalid value '%s'\n", prog, group, optarg);
	usage(stderr);
	return -1;
}

int cli_option_usage(void (*usage)(FILE *), int opt)
{
	usage(opt == 'h' ? stdout : stderr);
	return opt == 'h' ? KT_EXIT_OK : KT_EXIT_USAGE;
}

char *cli_read_arg(const char *path, size_t max, struct kt_err *err)
{
	uint8_t *buf;
	size_t len;

	if (kt_file_read(strcmp(path, "-") ? path : "/dev/stdin", max, 0, &buf, &len, err))
		return NULL;
	while (len && isspace(buf[len - 1]))
		buf[--len] = '\0';
	return (char *)buf;
}

int cli_output_check(const char *path, bool secret, struct kt_err *err)
{
	if (strcmp(path, "-"))
		return kt_file_replaceable(path, err);
	if (secret)
		return kt_fail(err, "file", "a secret is never written to standard output: give a file");
	return 0;
}

int cli_write_arg(const char *path, const void *buf, size_t len, mode_t mode, struct kt_err *err)
{
	if (strcmp(path, "-"))
		return kt_file_write(path, buf, len, mode, err);
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout))
		return kt_fail(err, "file", "cannot write to standard output: %s", strerror(errno));
	return 0;
}

int cli_write_line(const char *path, const char *line, struct kt_err *err)
{
	char *text;
	int ret;

	if (asprintf(&text, "%s\n", line) < 0)
		return kt_fail(err, "file", "out of memory");
	ret = cli_write_arg(path, text, strlen(text), 0644, err);
	free(text);
	return ret;
}

struct kt_nl *cli_nl_open(void)
{
	struct kt_err err = { 0 };
	struct kt_nl *nl = kt_nl_open(&err);

	if (!nl)
		fprintf(stderr, "%s\n", err.msg);
	return nl;
}

bool cli_output_option(int opt, enum kt_print_mode *mode)
{
	enum kt_print_mode want;

	if (opt == 'j')
		want = KT_PRINT_JSON;
	else if (opt == 's')
		want = KT_PRINT_SCRIPT;
	else
		return false;
	if (*mode != KT_PRINT_TEXT && *mode != want) {
		fprintf(stderr, "%s: --json and --script exclude each other: give one\n", prog);
		exit(KT_EXIT_USAGE);
	}
	*mode = want;
	return true;
}

bool cli_listing_options;

int cli_getopt(int argc, char *const argv[], const char *shortopts,
	       const struct option *longopts)
{
	const struct option *o;

	if (!cli_listing_options)
		return getopt_long(argc, argv, shortopts, longopts, NULL);
	for (o = longopts; o->name; o++)
		printf("--%s%s\n", o->name, o->has_arg == required_argument ? "=" : "");
	exit(fflush(stdout) ? KT_EXIT_FAILURE : KT_EXIT_OK);
}
