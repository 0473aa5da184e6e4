// SPDX-License-Identifier: GPL-2.0
/* kvmtrustd's receive sessions (receive.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cli/net.h"
#include "common/qmp.h"
#include "receive.h"

/* net.c prints its failures under this name. */
const char *prog = "kvmtrustd";

#define ARGS_MAX (40 + 2 * KTD_SESSIONS_MAX)

#define say(fmt, ...) fprintf(stderr, "kvmtrustd: receive: " fmt "\n", ##__VA_ARGS__)

static uint64_t now_ms(void)
{
	return ktd_now_ns() / 1000000;
}

void ktd_receiver_init(struct ktd_receiver *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

int ktd_receiver_prepare(const struct ktd_receiver *r, const struct ktd_config *c,
			 struct kt_err *err)
{
	const char *listen = c->recv.listen;
	int fd;

	if (!listen)
		return -1;
	if (r->listen && !strcmp(r->listen, listen))
		return r->fd;
	/* A unix socket file left by an earlier run is replaced, as the control socket's is. */
	if (!strncmp(listen, "unix:", 5))
		unlink(listen + 5);
	fd = net_listen(listen);
	if (fd < 0) {
		kt_fail(err, "config", "[receive] cannot listen on %s", listen);
		return -2;
	}
	return fd;
}

static void close_listen(struct ktd_receiver *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->listen && !strncmp(r->listen, "unix:", 5))
		unlink(r->listen + 5);
	free(r->listen);
	r->listen = NULL;
	r->fd = -1;
}

void ktd_receiver_commit(struct ktd_receiver *r, const struct ktd_config *c, int fd)
{
	if (fd >= 0 && fd == r->fd)
		return;
	close_listen(r);
	if (fd < 0)
		return;
	r->listen = strdup(c->recv.listen);
	if (!r->listen) {
		close(fd);
		say("out of memory: not listening");
		return;
	}
	r->fd = fd;
}

void ktd_receiver_discard(const struct ktd_receiver *r, int fd)
{
	if (fd >= 0 && fd != r->fd)
		close(fd);
}

void ktd_receiver_close(struct ktd_receiver *r)
{
	close_listen(r);
}

/* The kvmtrust next to this kvmtrustd (both in BINDIR, or both in the build). */
static int cli_path(char *path, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", path, len - sizeof("kvmtrust"));
	char *slash;

	if (n <= 0 || (size_t)n >= len - sizeof("kvmtrust"))
		return -1;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		return -1;
	strcpy(slash + 1, "kvmtrust");
	return 0;
}

/* Exec'd in the child: the session's standard output is the pipe, conn stays open. */
static void __attribute__((noreturn)) run_child(const char *path, char *const argv[], int conn,
						int out)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(out, STDOUT_FILENO) < 0 || fcntl(conn, F_SETFD, 0))
		_exit(127);
	execv(path, argv);
	fprintf(stderr, "kvmtrustd: receive: %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* An option and its value, when the value is given. */
static void add_opt(const char **argv, size_t *a, const char *opt, const char *v)
{
	if (!v)
		return;
	argv[(*a)++] = opt;
	argv[(*a)++] = v;
}

static void spawn(struct ktd_receiver *r, const struct ktd_config *c, const struct ktd_guest *g,
		  size_t n, int conn)
{
	static char expect[KTD_SESSIONS_MAX][4 * (KTD_SOCK_PATH_MAX + 1) + 8];
	const struct ktd_receive_config *rc = &c->recv;
	char path[4096], fdarg[16], lock_dir[4096];
	const char *argv[ARGS_MAX];
	size_t a = 0, i, e = 0;
	struct ktd_session *s = &r->s[r->n];
	int out[2];
	pid_t pid;

#define ARG(x) (argv[a++] = (x))
#define OPT(o, v) add_opt(argv, &a, o, v)
	snprintf(lock_dir, sizeof(lock_dir), "%s/receive", c->state_dir);
	if (cli_path(path, sizeof(path)) || (mkdir(lock_dir, 0700) && errno != EEXIST) ||
	    pipe2(out, O_CLOEXEC)) {
		say("cannot start a session: %s", strerror(errno ?: ENOENT));
		return;
	}
	snprintf(fdarg, sizeof(fdarg), "%d", conn);
	ARG("kvmtrust"); ARG("migrate"); ARG("receive"); ARG("--json");
	OPT("--accepted-fd", fdarg);
	OPT("--lock-dir", lock_dir);
	for (i = 0; i < n && e < KTD_SESSIONS_MAX; i++) {
		if (!g[i].awaiting)
			continue;
		snprintf(expect[e], sizeof(expect[e]), "%s,%s,%s%s%s", g[i].cfg.uuid, g[i].cfg.qmp,
			 g[i].cfg.incoming, g[i].cfg.token_out[0] ? "," : "", g[i].cfg.token_out);
		OPT("--expect", expect[e]);
		e++;
	}
	OPT("--key", rc->key);
	OPT("--cert", rc->cert);
	OPT("--anchors", rc->anchors);
	OPT("--crls", rc->crls);
	OPT("--aud", rc->aud);
	OPT("--owner-anchors", c->owner_anchors);
	OPT("--owner-crls", rc->owner_crls);
	OPT("--host-anchors", rc->host_anchors);
	OPT("--host-crls", rc->host_crls);
	OPT("--expect-config-root", rc->expect_config_root);
	OPT("--ledger", c->ledger);
	OPT("--ledger-ca", c->ledger_ca);
	ARG(NULL);
#undef OPT
#undef ARG
	pid = fork();
	if (pid == 0)
		run_child(path, (char *const *)argv, conn, out[1]);
	close(out[1]);
	if (pid < 0) {
		say("cannot start a session: fork: %s", strerror(errno));
		close(out[0]);
		return;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	*s = (struct ktd_session){ .pid = pid, .out = out[0],
				   .deadline_ms = now_ms() + 1000ULL * rc->session_timeout };
	r->n++;
	r->accepted++;
	say("session %d started for %zu awaiting guest(s)", (int)pid, e);
}

void ktd_receiver_accept(struct ktd_receiver *r, const struct ktd_config *c,
			 struct ktd_guest *g, size_t n)
{
	int conn = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);
	size_t awaiting = 0, i;

	if (conn < 0)
		return;
	for (i = 0; i < n; i++)
		awaiting += g[i].awaiting;
	if (!awaiting || r->n >= awaiting || r->n == KTD_SESSIONS_MAX) {
		r->refused++;
		say("refused a connection: busy (%zu session(s) for %zu awaiting guest(s))", r->n,
		    awaiting);
	} else {
		spawn(r, c, g, n, conn);
	}
	close(conn);
}

static struct ktd_guest *awaited(struct ktd_guest *g, size_t n, const char *uuid)
{
	size_t i;

	for (i = 0; uuid && i < n; i++)
		if (g[i].cfg.incoming[0] && !strcmp(g[i].cfg.uuid, uuid))
			return &g[i];
	return NULL;
}

/* The arrived guest's QEMU, so that rounds find it even while the source's lingers. */
static void arrived(struct ktd_receiver *r, struct ktd_guest *g, pid_t session)
{
	struct kt_err err = { 0 };
	struct kt_qmp *q = kt_qmp_open(g->cfg.qmp, &err);

	r->arrived++;
	g->awaiting = false;
	if (q)
		g->cfg.pid = kt_qmp_pid(q);
	kt_qmp_close(q);
	say("[vm %s] arrived (session %d)%s%s: attested from the next round", g->cfg.name,
	    (int)session, q ? "" : "; its QMP socket: ", q ? "" : err.msg);
}

/* What a session that ended printed: its --json verdict, NULL if none. */
static json_t *verdict(int fd)
{
	char buf[16384];
	size_t len = 0;
	ssize_t got;

	while (len < sizeof(buf) - 1 && (got = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)got;
	buf[len] = '\0';
	return len ? json_loads(buf, 0, NULL) : NULL;
}

bool ktd_receiver_reaped(struct ktd_receiver *r, pid_t pid, int status, struct ktd_guest *g,
			 size_t n)
{
	struct ktd_session s;
	struct ktd_guest *guest;
	const char *v = NULL, *vm = NULL, *check = NULL, *msg = NULL;
	char why[sizeof(g->received)], who[KTD_NAME_MAX + 16] = "";
	json_t *j;
	size_t i;

	for (i = 0; i < r->n && r->s[i].pid != pid; i++)
		;
	if (i == r->n)
		return false;
	s = r->s[i];
	r->s[i] = r->s[--r->n];
	j = verdict(s.out);
	close(s.out);
	json_unpack(j, "{s?s, s?s, s?s, s?s}", "verdict", &v, "vm", &vm, "check", &check,
		    "message", &msg);
	guest = awaited(g, n, vm && *vm ? vm : NULL);
	if (WIFEXITED(status) && !WEXITSTATUS(status) && v && !strcmp(v, "arrived") && guest &&
	    guest->awaiting) {
		snprintf(guest->received, sizeof(guest->received), "arrived");
		arrived(r, guest, pid);
		json_decref(j);
		return true;
	}
	if (s.killed)
		snprintf(why, sizeof(why), "timed out (session_timeout)");
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "ended by signal %d", WTERMSIG(status));
	else if (v)
		snprintf(why, sizeof(why), "%s (exit %d): %s: %s", v, WEXITSTATUS(status),
			 check ?: "?", msg ?: "");
	else
		snprintf(why, sizeof(why), "failed (exit %d) without a verdict",
			 WEXITSTATUS(status));
	if (guest) {
		snprintf(guest->received, sizeof(guest->received), "%s", why);
		snprintf(who, sizeof(who), " for [vm %s]", guest->cfg.name);
	}
	/* Only a verified arrival changes a guest: a failed session leaves it awaiting. */
	say("session %d%s: %s; %s", (int)pid, who, why,
	    guest ? "the guest is still awaiting" : "every awaiting guest still awaits");
	json_decref(j);
	return true;
}

int ktd_receiver_expire(struct ktd_receiver *r)
{
	uint64_t t = now_ms();
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (r->s[i].killed || t < r->s[i].deadline_ms)
			continue;
		say("session %d timed out: killed", (int)r->s[i].pid);
		kill(r->s[i].pid, SIGKILL);
		r->s[i].killed = true;
	}
	return r->n ? 1000 : -1;
}

json_t *ktd_receiver_json(const struct ktd_receiver *r)
{
	if (r->fd < 0)
		return json_null();
	return json_pack("{s:s, s:I, s:I, s:I, s:I}", "listen", r->listen,
			 "sessions", (json_int_t)r->n, "accepted", (json_int_t)r->accepted,
			 "refused", (json_int_t)r->refused, "arrived", (json_int_t)r->arrived);
}
