// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust daemon: asks a running kvmtrustd over its control socket for its
 * guests' last results, or to attest them now, or follows its results as
 * they happen. See kvmtrust-daemon(8).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_util.h"
#include "common/encoding.h"
#include "exitcodes.h"
#include "print.h"
#include "subcommands.h"

/* kvmtrustd's default (daemon/config.h); the daemon and this must agree. */
#define SOCKET_DEFAULT "/run/kvmtrust/kvmtrustd.sock"
#define SOCKET_ENV "KVMTRUSTD_SOCKET"
#define REPLY_MAX (1024 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s daemon status [--socket PATH] [--json | --script]\n"
		"       %s daemon attest-now [--socket PATH] [--json | --script]\n"
		"       %s daemon watch [--socket PATH] [--json]\n"
		"Shows each guest's last result from kvmtrustd, or has it attest every guest\n"
		"now and shows the new results, or prints each result and action as it\n"
		"happens until interrupted. PATH defaults to $%s,\n"
		"else %s.\n",
		prog, prog, prog, SOCKET_ENV, SOCKET_DEFAULT);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_PERM) | CLI_EXIT(KT_EXIT_UNAVAILABLE));
}

static int connect_daemon(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/*
 * Connects and sends the request line: the fd, or minus an exit code
 * (said why). One line in one write: the daemon answers on its newline.
 */
static int request(const char *path, const char *req)
{
	int fd = connect_daemon(path);

	if (fd < 0) {
		fprintf(stderr, "%s daemon: unable to reach kvmtrustd at %s: %s%s\n", prog, path,
			strerror(-fd), fd == -ENOENT || fd == -ECONNREFUSED ?
			" (is kvmtrustd running? see --socket)" : "");
		return fd == -EACCES || fd == -EPERM ? -KT_EXIT_PERM : -KT_EXIT_UNAVAILABLE;
	}
	if (dprintf(fd, "%s\n", req) < 0) {
		fprintf(stderr, "%s daemon: unable to send the request: %s\n", prog, strerror(errno));
		close(fd);
		return -KT_EXIT_FAILURE;
	}
	return fd;
}

/* One line from kvmtrustd: a JSON object that is not an error, or NULL (said why). */
static json_t *parse_line(const char *line)
{
	json_error_t jerr;
	json_t *o = json_loads(line, 0, &jerr);

	if (!o || !json_is_object(o)) {
		fprintf(stderr, "%s daemon: kvmtrustd's reply is not a JSON object\n", prog);
		json_decref(o);
		return NULL;
	}
	if (json_object_get(o, "error")) {
		fprintf(stderr, "%s daemon: kvmtrustd: %s\n", prog,
			json_string_value(json_object_get(o, "error")));
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Sends the request and parses the one-line JSON reply; an exit code. */
static int ask(const char *path, const char *req, json_t **reply)
{
	char *buf = malloc(REPLY_MAX);
	size_t len = 0;
	ssize_t n;
	int fd = buf ? request(path, req) : -KT_EXIT_FAILURE;

	if (fd < 0) {
		free(buf);
		return -fd;
	}
	while (len < REPLY_MAX - 1 && (n = read(fd, buf + len, REPLY_MAX - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	*reply = parse_line(buf);
	if (!*reply)
		goto fail;
	free(buf);
	close(fd);
	return KT_EXIT_OK;
fail:
	free(buf);
	close(fd);
	return KT_EXIT_FAILURE;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static int64_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* What the last result did: the failed range, the kept report, a freeze. */
static void print_actions(json_t *vm)
{
	const char *range = str(vm, "failed_range"), *report = str(vm, "report");
	bool frozen = json_is_true(json_object_get(vm, "frozen"));

	kt_print_s64("prev_score", NULL, num(vm, "prev_score"));
	kt_print_string("failed_range", *range ? "  failed range:  %s\n" : NULL, range);
	kt_print_string("report", *report ? "  report:        %s\n" : NULL, report);
	kt_print_bool("frozen", frozen ? "  frozen:        %s (the freeze action stopped the VMM: "
		      "kill -CONT it, then reload)\n" : NULL, frozen);
}

/* How the daemon found the guest: a [vm] section (libvirt or not) or discovery. */
static void print_origin(json_t *vm)
{
	const char *libvirt = str(vm, "libvirt");
	bool discovered = json_is_true(json_object_get(vm, "discovered"));

	kt_print_bool("discovered", discovered ? "  discovered:    %s (no [vm] section: "
		      "discover_policy applies)\n" : NULL, discovered);
	kt_print_string("libvirt", *libvirt ? "  libvirt:       %s\n" : NULL, libvirt);
	/* A guest a [receive] session brings in: awaiting, then arrived. */
	kt_print_string("incoming", *str(vm, "incoming") ? "  incoming:      %s\n" : NULL,
			str(vm, "incoming"));
	kt_print_string("received", *str(vm, "received") ? "  last session:  %s\n" : NULL,
			str(vm, "received"));
}

/* The [receive] section's socket and sessions, when there is one. */
static void print_receive(json_t *r)
{
	if (!json_is_object(r))
		return;
	kt_print_open_object("receive");
	kt_print_string("listen", "receiving on %s", str(r, "listen"));
	kt_print_s64("sessions", ": %s session(s) running", num(r, "sessions"));
	kt_print_s64("accepted", ", %s accepted", num(r, "accepted"));
	kt_print_s64("refused", ", %s refused (busy)", num(r, "refused"));
	kt_print_s64("arrived", ", %s guest(s) arrived\n", num(r, "arrived"));
	kt_print_close_object();
}

struct field {
	const char *key, *fmt;
};

/* One nested object of integers, printed in the order given. */
static void print_ints(json_t *parent, const char *name, const struct field *f, size_t n)
{
	json_t *o = json_object_get(parent, name);
	size_t i;

	kt_print_open_object(name);
	for (i = 0; i < n; i++)
		kt_print_s64(f[i].key, f[i].fmt, num(o, f[i].key));
	kt_print_close_object();
}

/* What started the rounds, and how long a trigger waited for its measurement. */
static void print_trigger(json_t *t)
{
	static const struct field rounds[] = {
		{ "timer", "  rounds by:     timer %s" }, { "doorbell", ", doorbell %s" },
		{ "cr-write", ", cr-write %s" }, { "msr-write", ", msr-write %s" },
		{ "attest-now", ", attest-now %s\n" },
	}, latency[] = {
		{ "count", "  trigger to measurement start: %s rounds" }, { "last", ", last %s us" },
		{ "min", ", min %s" }, { "max", ", max %s" }, { "avg", ", avg %s\n" },
	}, bpf[] = {
		{ "doorbells", "  seen in BPF:   %s doorbells" }, { "events", ", %s events" },
		{ "limited", ", %s rate limited\n" },
	};

	kt_print_open_object("trigger");
	kt_print_string("last", "  last trigger:  %s\n", str(t, "last"));
	print_ints(t, "rounds", rounds, 5);
	print_ints(t, "latency_us", latency, 5);
	if (json_object_get(t, "bpf"))
		print_ints(t, "bpf", bpf, 3);
	kt_print_close_object();
}

static void print_vm(json_t *vm)
{
	const char *error = str(vm, "error");

	kt_print_open_object(NULL);
	kt_print_string("name", "vm %s", str(vm, "name"));
	kt_print_string("uuid", " %s", str(vm, "uuid"));
	kt_print_s64("pid", " pid %s", num(vm, "pid"));
	kt_print_string("result", ": %s", str(vm, "result"));
	kt_print_s64("score", ", score %s", num(vm, "score"));
	kt_print_s64("rounds", ", %s rounds", num(vm, "rounds"));
	kt_print_s64("passes", " (%s pass", num(vm, "passes"));
	kt_print_s64("fails", ", %s fail)", num(vm, "fails"));
	kt_print_s64("ledger_index", ", entry %s\n", num(vm, "ledger_index"));
	kt_print_time("last_time", "  last:          %s\n", num(vm, "last_time"));
	kt_print_string("memory_root", "  memory_root:   %s\n", str(vm, "memory_root"));
	kt_print_string("report_digest", "  report digest: %s\n", str(vm, "report_digest"));
	kt_print_string("error", *error ? "  last error:    %s\n" : NULL, error);
	print_actions(vm);
	print_origin(vm);
	print_trigger(json_object_get(vm, "trigger"));
	kt_print_close_object();
}

static int show(json_t *reply, enum kt_print_mode mode)
{
	json_t *vms = json_object_get(reply, "vms"), *vm, *trig = json_object_get(reply, "triggers");
	json_t *disc = json_object_get(reply, "discover");
	size_t i;

	kt_print_start(mode);
	kt_print_open_object(NULL);
	kt_print_s64("interval", "interval: %s s\n", num(reply, "interval"));
	kt_print_open_object("triggers");
	kt_print_bool("bpf", "eBPF triggers: %s", json_is_true(json_object_get(trig, "bpf")));
	kt_print_s64("doorbell_port", ", doorbell port %s", num(trig, "doorbell_port"));
	kt_print_s64("event_cr_mask", ", CR mask %s", num(trig, "event_cr_mask"));
	kt_print_s64("event_threshold", ", events per trigger %s", num(trig, "event_threshold"));
	kt_print_s64("min_gap_ms", ", rate limit 1 per %s ms per VM\n", num(trig, "min_gap_ms"));
	kt_print_close_object();
	kt_print_open_object("discover");
	kt_print_bool("enabled", "discovery: %s", json_is_true(json_object_get(disc, "enabled")));
	kt_print_s64("max", ", at most %s guests", num(disc, "max"));
	kt_print_s64("found", ", %s VMs found", num(disc, "found"));
	kt_print_s64("skipped", ", %s beyond the cap\n", num(disc, "skipped"));
	kt_print_close_object();
	print_receive(json_object_get(reply, "receive"));
	kt_print_open_array("vms");
	json_array_foreach(vms, i, vm)
		print_vm(vm);
	kt_print_close_array();
	kt_print_close_object();
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

/* One event of `watch` in text: a result, or the actions an event ran. */
static void print_event(json_t *ev, const char *line)
{
	const char *event = str(ev, "event"), *range = str(ev, "failed_range");
	char when[KT_TIME_ISO_LEN];
	json_t *a;
	size_t i;

	kt_time_iso(num(ev, "time"), when);
	if (!strcmp(event, "result") && !strcmp(str(ev, "result"), "error")) {
		printf("%s vm %s pid %lld: not attested (%s): %s\n", when, str(ev, "name"),
		       (long long)num(ev, "pid"), str(ev, "trigger"), str(ev, "reason"));
	} else if (!strcmp(event, "result")) {
		printf("%s vm %s pid %lld: %s (%s), score %lld -> %lld, entry %lld%s%s\n", when,
		       str(ev, "name"), (long long)num(ev, "pid"), str(ev, "result"),
		       str(ev, "trigger"), (long long)num(ev, "prev_score"),
		       (long long)num(ev, "score"), (long long)num(ev, "ledger_index"),
		       *range ? ", range " : "", range);
	} else if (!strcmp(event, "action")) {
		printf("%s vm %s pid %lld: on %s:", when, str(ev, "name"),
		       (long long)num(ev, "pid"), str(ev, "on"));
		json_array_foreach(json_object_get(ev, "actions"), i, a)
			printf("%s%s", i ? "," : " ", json_string_value(a));
		printf("%s (score %lld -> %lld)%s\n",
		       json_array_size(json_object_get(ev, "actions")) ? "" : " no action",
		       (long long)num(ev, "prev_score"), (long long)num(ev, "score"),
		       json_is_true(json_object_get(ev, "frozen")) ? ", VMM frozen" : "");
	} else {
		/* A kind this CLI does not know yet: shown as sent, not dropped. */
		printf("%s\n", line);
	}
}

/*
 * Follows the daemon's events until SIGINT or SIGTERM (exit 0), the
 * daemon closing the connection (5) or a line that is not an event (1).
 * SIGINT and SIGTERM are blocked but inside ppoll(): no signal is lost
 * between a check and the wait.
 */
static int watch(const char *path, bool json)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, wait_mask, old;
	char *buf = malloc(REPLY_MAX), *nl;
	struct pollfd pfd = { .events = POLLIN };
	size_t len = 0;
	ssize_t n;
	json_t *ev;
	int fd = buf ? request(path, "watch") : -KT_EXIT_FAILURE, ret = KT_EXIT_FAILURE;

	if (fd < 0) {
		free(buf);
		return -fd;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	wait_mask = old;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	pfd.fd = fd;
	for (;;) {
		if (ppoll(&pfd, 1, NULL, &wait_mask) < 0) {
			if (errno == EINTR && interrupted) {
				ret = KT_EXIT_OK;
				break;
			}
			continue;
		}
		n = read(fd, buf + len, REPLY_MAX - 1 - len);
		if (n <= 0) {
			fprintf(stderr, "%s daemon: kvmtrustd closed the connection (it stopped, or "
				"this watcher did not keep up)\n", prog);
			ret = KT_EXIT_UNAVAILABLE;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			ev = parse_line(buf);
			if (!ev)
				goto out;
			if (json)
				printf("%s\n", buf);
			else
				print_event(ev, buf);
			json_decref(ev);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (fflush(stdout))
			goto out;
		if (len == REPLY_MAX - 1) {
			fprintf(stderr, "%s daemon: a line from kvmtrustd is longer than %d bytes\n",
				prog, REPLY_MAX);
			goto out;
		}
	}
out:
	free(buf);
	close(fd);
	/*
	 * A second SIGTERM (timeout(1) signals the child, then its group) stays
	 * pending while blocked; unblocked, the handler takes it. Exiting with it
	 * pending hung LeakSanitizer's exit-time check once.
	 */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

int daemon_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		CLI_OUTPUT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	}, watch_opts[] = {
		/* No --script: a stream of events, one a line, is its own script form. */
		{ "socket", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum kt_print_mode mode = KT_PRINT_TEXT;
	const char *path = getenv(SOCKET_ENV), *cmd;
	json_t *reply = NULL;
	int c, ret;

	if (cli_group_usage(argc, argv, usage, &ret))
		return ret;
	cmd = argv[1];
	if (strcmp(cmd, "status") && strcmp(cmd, "attest-now") && strcmp(cmd, "watch"))
		return cli_bad_usage("daemon", usage, "unknown command '%s'", cmd);
	optind = 2;
	while ((c = cli_getopt(argc, argv, "h", strcmp(cmd, "watch") ? opts : watch_opts)) != -1) {
		if (c == 'S')
			path = optarg;
		else if (!cli_output_option(c, &mode))
			return cli_option_usage(usage, c);
	}
	if (optind != argc)
		return cli_bad_usage("daemon", usage, "unexpected argument '%s'", argv[optind]);
	if (!strcmp(cmd, "watch"))
		return watch(path && *path ? path : SOCKET_DEFAULT, mode == KT_PRINT_JSON);
	ret = ask(path && *path ? path : SOCKET_DEFAULT, cmd, &reply);
	if (ret)
		return ret;
	ret = show(reply, mode);
	json_decref(reply);
	return ret;
}
