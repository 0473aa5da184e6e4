// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrustd: attests every configured guest each interval into the trust
 * ledger (kvmtrustd(8), Documentation/kvmtrustd.rst). One thread: a poll
 * loop over the signal fd and the control socket, with the next round's
 * deadline as its timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "common/encoding.h"
#include "measure/vmm_cmdline.h"
#include "action.h"
#include "config.h"
#include "control.h"
#include "discover.h"
#include "guest.h"
#include "receive.h"
#include "trigger.h"

struct daemon {
	const char *config_path;
	struct ktd_config cfg;
	struct ktd_ctx ctx;
	struct ktd_guest *guests;		/* the [vm] sections', then discovered ones */
	size_t nr_guests, nr_configured;
	struct ktd_discovery disc;		/* the last scan's counts */
	int listen_fd;
	struct ktd_watchers watchers;		/* `kvmtrust daemon watch` connections */
	struct ktd_triggers *trig;		/* NULL: no BPF trigger configured */
	struct ktd_receiver rx;			/* [receive]: its socket and sessions */
	char report_dir[4096];
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmtrustd [-c FILE] [--check-config]\n"
		"Attests the guests in FILE (default %s) every interval\n"
		"and appends each result to the trust ledger. --check-config parses FILE,\n"
		"reports the first error with its line number and exits.\n",
		KTD_CONFIG_DEFAULT);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kvmtrustd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Guests of the new configuration; one kept by name with the same policy
 * keeps what it learned, so a reload does not re-learn a tampered root.
 * Discovered guests stay (with the new discover_policy) while discovery is
 * on, so that one without -uuid keeps the UUID it was given.
 */
static struct ktd_guest *make_guests(const struct ktd_config *c, const struct daemon *old,
				     size_t *nr)
{
	size_t kept = c->discover && old ? old->nr_guests - old->nr_configured : 0, i, j;
	struct ktd_guest *g;

	if (kept > c->discover_max)
		kept = c->discover_max;	/* the rest are found again, and skipped */
	g = calloc(c->nr_vms + kept + 1, sizeof(*g));
	*nr = c->nr_vms;
	for (j = 0; g && j < kept; j++) {
		struct ktd_guest *d = &g[(*nr)++];

		*d = old->guests[old->nr_configured + j];
		d->cfg.policy = c->discover_policy;
		d->pending = false;
	}

	for (i = 0; g && i < c->nr_vms; i++) {
		ktd_guest_init(&g[i], &c->vms[i]);
		for (j = 0; old && j < old->nr_guests; j++) {
			const struct ktd_guest *o = &old->guests[j];

			/* An incoming guest that arrived stays arrived (and keeps its QEMU). */
			if (!strcmp(o->cfg.name, g[i].cfg.name) && o->cfg.incoming[0] && !o->awaiting &&
			    !strcmp(o->cfg.uuid, g[i].cfg.uuid) && g[i].cfg.incoming[0]) {
				g[i].awaiting = false;
				g[i].cfg.pid = o->cfg.pid;
				strcpy(g[i].received, o->received);
			}
			if (!strcmp(o->cfg.name, g[i].cfg.name) && o->cfg.learn && g[i].cfg.learn &&
			    o->cfg.pid == g[i].cfg.pid && !strcmp(o->cfg.uuid, g[i].cfg.uuid) &&
			    o->learned) {
				memcpy(g[i].cfg.memory_root, o->cfg.memory_root, KT_HASH_LEN);
				g[i].learned = true;
			}
		}
	}
	return g;
}

/* Everything or nothing: a bad new configuration leaves the running one. */
static int load(struct daemon *d, bool reload)
{
	struct daemon next = *d;
	struct kt_err err = { 0 };
	int rx_fd;

	if (ktd_config_load(d->config_path, &next.cfg, &err)) {
		say("%s%s", err.msg, reload ? " (keeping the running configuration)" : "");
		return -1;
	}
	if (ktd_ctx_open(&next.cfg, &next.ctx, &err)) {
		say("%s%s", err.msg, reload ? " (keeping the running configuration)" : "");
		ktd_config_free(&next.cfg);
		return -1;
	}
	next.trig = NULL;
	if (ktd_triggers_wanted(&next.cfg) && ktd_triggers_open(&next.cfg, &next.trig, &err)) {
		say("%s%s", err.msg, reload ? " (keeping the running configuration)" : "");
		ktd_ctx_close(&next.ctx);
		ktd_config_free(&next.cfg);
		return -1;
	}
	snprintf(next.report_dir, sizeof(next.report_dir), "%s/reports", next.cfg.state_dir);
	if ((mkdir(next.cfg.state_dir, 0700) && errno != EEXIST) ||
	    (mkdir(next.report_dir, 0700) && errno != EEXIST)) {
		say("state_dir %s: %s%s", next.report_dir, strerror(errno),
		    reload ? " (keeping the running configuration)" : "");
		ktd_triggers_close(next.trig);
		ktd_ctx_close(&next.ctx);
		ktd_config_free(&next.cfg);
		return -1;
	}
	next.guests = make_guests(&next.cfg, reload ? d : NULL, &next.nr_guests);
	next.nr_configured = next.cfg.nr_vms;
	rx_fd = next.guests ? ktd_receiver_prepare(&d->rx, &next.cfg, &err) : -1;
	if (!next.guests || rx_fd == -2) {
		say("%s%s", next.guests ? err.msg : "out of memory",
		    reload ? " (keeping the running configuration)" : "");
		free(next.guests);
		ktd_triggers_close(next.trig);
		ktd_ctx_close(&next.ctx);
		ktd_config_free(&next.cfg);
		return -1;
	}
	if (!next.cfg.discover)
		memset(&next.disc, 0, sizeof(next.disc));
	if (reload) {
		ktd_triggers_close(d->trig);
		ktd_ctx_close(&d->ctx);
		ktd_config_free(&d->cfg);
		free(d->guests);
	}
	*d = next;
	ktd_receiver_commit(&d->rx, &d->cfg, rx_fd);
	say("%s: %zu guest(s), every %u s%s%s%s%s", d->config_path, d->nr_configured,
	    d->cfg.interval, d->trig ? ", eBPF triggers attached" : "",
	    d->cfg.discover ? ", discovering KVM VMs" : "",
	    d->rx.listen ? ", receiving on " : "", d->rx.listen ? d->rx.listen : "");
	return 0;
}

/* One round of g; its VMM is watched by the BPF triggers from then on. */
static void attest(struct daemon *d, struct ktd_guest *g, unsigned int kind, uint64_t trigger_ns)
{
	char digest[2 * KT_HASH_LEN + 1];
	unsigned int fired;
	int event;

	if (g->awaiting) {
		snprintf(g->last_error, sizeof(g->last_error),
			 "awaiting an incoming migration: attested once it has arrived");
		return;
	}
	if (g->frozen) {
		snprintf(g->last_error, sizeof(g->last_error),
			 "frozen by the freeze or rollback action: not attested until kill -CONT %d "
			 "and a reload",
			 (int)g->pid);
		return;
	}
	if (g->discovered && ktd_process_start(g->cfg.pid) != g->start_time) {
		/* Exited, or its pid is another process's now: dropped at the next scan. */
		snprintf(g->last_error, sizeof(g->last_error), "resolve: the discovered VMM %d is gone",
			 (int)g->cfg.pid);
		say("[vm %s] not attested (%s): %s", g->cfg.name, ktd_trigger_name(kind),
		    g->last_error);
		ktd_watch_send(&d->watchers, ktd_result_event(g, kind, false));
		return;
	}
	if (ktd_guest_attest(&d->ctx, g, d->report_dir, kind, trigger_ns)) {
		say("[vm %s] not attested (%s): %s", g->cfg.name, ktd_trigger_name(kind),
		    g->last_error);
		ktd_watch_send(&d->watchers, ktd_result_event(g, kind, false));
	} else {
		kt_hex_encode(g->report_digest, KT_HASH_LEN, digest);
		say("[vm %s] %s (%s): entry %llu, score %d, report %s", g->cfg.name,
		    g->last_result == KT_LEDGER_PASS ? "pass" : "FAIL", ktd_trigger_name(kind),
		    (unsigned long long)g->last_index, g->score, digest);
		ktd_watch_send(&d->watchers, ktd_result_event(g, kind, true));
		fired = ktd_actions_run(&d->cfg, &d->ctx, g);
		for (event = 0; event < KTD_NR_ON; event++)
			if (fired & (1u << event))
				ktd_watch_send(&d->watchers, ktd_action_event(&d->cfg, g, event));
	}
	if (d->trig && g->pid > 0 && ktd_triggers_watch(d->trig, g->pid))
		say("[vm %s] unable to watch VMM %d for triggers", g->cfg.name, (int)g->pid);
}

static void run_triggered(struct daemon *d);

/* The configured guest that names process pid (of -uuid uuid, "" if none), or NULL. */
static const struct ktd_guest *configured_for(struct daemon *d, pid_t pid, const char *uuid)
{
	size_t i;

	for (i = 0; i < d->nr_configured; i++) {
		struct ktd_guest *g = &d->guests[i];
		pid_t lv;

		if (g->pid == pid || g->cfg.pid == pid || (uuid[0] && !strcmp(g->cfg.uuid, uuid)))
			return g;
		/* A libvirt domain is looked up now: its pid may be new since the last round. */
		if (g->cfg.libvirt[0] && !ktd_guest_libvirt_pid(&d->ctx, g, &lv) && lv == pid)
			return g;
	}
	return NULL;
}

static void drop_guest(struct daemon *d, size_t i, const char *why)
{
	say("[vm %s] (discovered, pid %d) %s", d->guests[i].cfg.name, (int)d->guests[i].cfg.pid,
	    why);
	memmove(&d->guests[i], &d->guests[i + 1], (d->nr_guests - i - 1) * sizeof(*d->guests));
	d->nr_guests--;
}

/*
 * A discovered guest: named by its VMM's -uuid, or pid-N with a random UUID
 * for the ledger, kept for the life of this process only.
 */
static int add_discovered(struct daemon *d, const struct ktd_found *f, const char *uuid)
{
	struct ktd_guest *grown = realloc(d->guests, (d->nr_guests + 1) * sizeof(*grown));
	struct ktd_vm_config cfg = { .pid = f->pid, .has_policy = true,
				     .policy = d->cfg.discover_policy };

	if (!grown)
		return -1;
	d->guests = grown;
	if (uuid[0]) {
		strcpy(cfg.name, uuid);
		strcpy(cfg.uuid, uuid);
	} else {
		snprintf(cfg.name, sizeof(cfg.name), "pid-%d", (int)f->pid);
		if (kt_uuid_random(cfg.uuid))
			return -1;
	}
	ktd_guest_init(&d->guests[d->nr_guests], &cfg);
	d->guests[d->nr_guests].discovered = true;
	d->guests[d->nr_guests].start_time = f->start_time;
	say("[vm %s] discovered: pid %d%s%s", cfg.name, (int)f->pid, uuid[0] ? "" : ", uuid ",
	    uuid[0] ? "" : cfg.uuid);
	d->nr_guests++;
	return 0;
}

/*
 * Before each timer round: discovered guests whose VMM exited (or that a
 * [vm] section now names) are dropped, new VMMs added, up to discover_max.
 */
static void discover(struct daemon *d)
{
	static struct ktd_found found[KTD_DISCOVER_MAX_LIMIT * 4];
	char uuid[KT_UUID_STR_LEN + 1], *buf = malloc(KT_VMM_CMDLINE_MAX);
	long n = buf ? ktd_discover_scan(found, sizeof(found) / sizeof(found[0])) : -1;
	size_t i, j, listed, skipped = 0;
	const struct ktd_guest *owner;
	const char *bad;
	int ret;

	if (n < 0) {
		say("discover: unable to scan /proc%s", buf ? "" : " (out of memory)");
		free(buf);
		return;
	}
	listed = (size_t)n < sizeof(found) / sizeof(found[0]) ? (size_t)n :
		 sizeof(found) / sizeof(found[0]);
	for (i = d->nr_configured; i < d->nr_guests;) {
		struct ktd_guest *g = &d->guests[i];

		for (j = 0; j < listed; j++)
			if (found[j].pid == g->cfg.pid && found[j].start_time == g->start_time)
				break;
		owner = j < listed ? configured_for(d, g->cfg.pid, g->cfg.uuid) : NULL;
		if (j == listed)
			drop_guest(d, i, "is gone: no longer attested");
		else if (owner)
			drop_guest(d, i, "is a configured guest now");
		else
			i++;
	}
	for (j = 0; j < listed; j++) {
		for (i = d->nr_configured; i < d->nr_guests; i++)
			if (d->guests[i].cfg.pid == found[j].pid)
				break;
		if (i < d->nr_guests)
			continue;
		ret = kt_vmm_pid_uuid(found[j].pid, buf, uuid, &bad);
		if (ret < 0)
			continue;	/* exited meanwhile */
		if (ret)
			uuid[0] = '\0';	/* none, or not a UUID */
		if (configured_for(d, found[j].pid, uuid))
			continue;
		if (d->nr_guests - d->nr_configured >= d->cfg.discover_max ||
		    add_discovered(d, &found[j], uuid))
			skipped++;
	}
	skipped += (size_t)n - listed;
	if (skipped != d->disc.skipped)
		say("discover: %zu VM(s) found beyond discover_max = %u are not attested", skipped,
		    d->cfg.discover_max);
	d->disc.found = (size_t)n;
	d->disc.skipped = skipped;
	free(buf);
}

/*
 * Triggers waiting are served before each guest of a round: a doorbell
 * waits for one guest's round at most, not for all of them.
 */
static void round_all(struct daemon *d, unsigned int kind)
{
	size_t i;

	for (i = 0; i < d->nr_guests; i++) {
		if (d->trig)
			run_triggered(d);
		attest(d, &d->guests[i], kind, 0);
	}
}

/* A trigger the rate limit let through: its VM's round is due now. */
static void on_trigger(void *arg, const struct ktd_bpf_trigger *t)
{
	struct daemon *d = arg;
	size_t i;

	for (i = 0; i < d->nr_guests; i++) {
		struct ktd_guest *g = &d->guests[i];

		if (g->pid != (pid_t)t->tgid)
			continue;
		if (!g->pending) {
			g->pending = true;
			g->pending_kind = t->kind;
			g->pending_ns = t->time_ns;
		}
		return;
	}
}

static void run_triggered(struct daemon *d)
{
	size_t i;

	if (ktd_triggers_consume(d->trig, on_trigger, d) < 0)
		say("reading the trigger ring buffer failed");
	for (i = 0; i < d->nr_guests; i++) {
		struct ktd_guest *g = &d->guests[i];

		if (!g->pending)
			continue;
		g->pending = false;
		attest(d, g, g->pending_kind, g->pending_ns);
	}
}

static void serve(struct daemon *d)
{
	int conn = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC), req;

	if (conn < 0)
		return;
	req = ktd_control_request(conn);
	if (req < 0)
		return;
	if (req == KTD_REQ_WATCH) {
		ktd_watch_add(&d->watchers, conn);
		return;
	}
	if (req == KTD_REQ_ATTEST_NOW)
		round_all(d, KTD_TRIGGER_REQUEST);
	ktd_control_reply(conn, ktd_status_json(&d->cfg, d->trig, &d->disc,
						ktd_receiver_json(&d->rx), d->guests, d->nr_guests));
}

static bool reaped(void *arg, pid_t pid, int status)
{
	struct daemon *d = arg;

	return ktd_receiver_reaped(&d->rx, pid, status, d->guests, d->nr_guests);
}

/* 0 on SIGTERM/SIGINT, 1 when the loop cannot go on. */
static int run(struct daemon *d, int sfd)
{
	struct pollfd fds[4] = { { .fd = sfd, .events = POLLIN },
				 { .fd = d->listen_fd, .events = POLLIN },
				 { .events = POLLIN }, { .events = POLLIN } };
	struct signalfd_siginfo si;
	uint64_t next = now_ms();

	for (;;) {
		uint64_t t = now_ms();
		int wait_ms;

		ktd_actions_reap(reaped, d);
		if (t >= next) {
			if (d->cfg.discover)
				discover(d);
			round_all(d, KTD_TRIGGER_TIMER);
			next = t + 1000ULL * d->cfg.interval;
			t = now_ms();
		}
		/*
		 * Polled between any two timer rounds, even when the rounds take
		 * longer than the interval: triggers and requests are never starved.
		 * Reloads replace the triggers: their fd is looked up each time.
		 */
		fds[2].fd = d->trig ? ktd_triggers_fd(d->trig) : -1;
		fds[3].fd = d->rx.fd;
		wait_ms = next > t ? (int)(next - t) : 0;
		/* Receive sessions past their time are killed (and reaped on SIGCHLD). */
		if (ktd_receiver_expire(&d->rx) >= 0 && wait_ms > 1000)
			wait_ms = 1000;
		if (poll(fds, 4, wait_ms) < 0 && errno != EINTR) {
			say("poll: %s", strerror(errno));
			return 1;
		}
		if (fds[2].revents & POLLIN)
			run_triggered(d);
		if (fds[1].revents & POLLIN)
			serve(d);
		if (fds[3].revents & POLLIN)
			ktd_receiver_accept(&d->rx, &d->cfg, d->guests, d->nr_guests);
		if (!(fds[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD)
			continue;	/* reaped at the top of the loop */
		if (si.ssi_signo != SIGHUP)
			return 0;
		sd_notify(0, "RELOADING=1");
		if (!load(d, true))
			next = now_ms();
		sd_notify(0, "READY=1");
	}
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .config_path = KTD_CONFIG_DEFAULT, .listen_fd = -1 };
	struct kt_err err = { 0 };
	bool check = false;
	sigset_t mask;

	ktd_receiver_init(&d.rx);
	int c, sfd, ret = 1;

	while ((c = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 't': check = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check) {
		if (ktd_config_load(d.config_path, &d.cfg, &err)) {
			fprintf(stderr, "kvmtrustd: %s\n", err.msg);
			return 1;
		}
		printf("%s: ok, %zu guest(s), every %u s%s%s%s\n", d.config_path, d.cfg.nr_vms,
		       d.cfg.interval, d.cfg.discover ? ", discovering KVM VMs" : "",
		       d.cfg.recv.listen ? ", receiving on " : "",
		       d.cfg.recv.listen ? d.cfg.recv.listen : "");
		ktd_config_free(&d.cfg);
		return 0;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		say("signalfd: %s", strerror(errno));
	if (sfd < 0 || load(&d, false))
		goto out;
	d.listen_fd = ktd_control_listen(d.cfg.socket, &err);
	if (d.listen_fd < 0) {
		say("%s", err.msg);
		goto cleanup;
	}
	sd_notify(0, "READY=1");
	ret = run(&d, sfd);
	sd_notify(0, "STOPPING=1");
	say("stopping");
	ktd_watch_close(&d.watchers);
	close(d.listen_fd);
	unlink(d.cfg.socket);
cleanup:
	ktd_receiver_close(&d.rx);
	ktd_triggers_close(d.trig);
	ktd_ctx_close(&d.ctx);
	ktd_config_free(&d.cfg);
	free(d.guests);
out:
	if (sfd >= 0)
		close(sfd);
	return ret;
}
