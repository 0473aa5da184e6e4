// SPDX-License-Identifier: GPL-2.0
/* kvmtrustd's actions (action.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "action.h"
#include "common/encoding.h"
#include "common/uuid.h"
#include "ledger/score.h"
#include "measure/kt_attach.h"
#include "snapshot/snapshot_restore.h"

static const char *const event_names[KTD_NR_ON] = {
	[KTD_ON_FAIL] = "fail",
	[KTD_ON_BELOW_75] = "score-below-75",
	[KTD_ON_BELOW_50] = "score-below-50",
};

static void say(const struct ktd_guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct ktd_guest *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "kvmtrustd: [vm %s] ", g->cfg.name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int ktd_nonmigratable_path(const struct ktd_config *c, const char *uuid, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/nonmigratable/%s", c->state_dir, uuid);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void setenv_num(const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	setenv(name, buf, 1);
}

/* The hook runs in the background, its environment naming the VM and the result. */
static void run_hook(const struct ktd_config *c, const struct ktd_guest *g, int event)
{
	char digest[2 * KT_HASH_LEN + 1];
	sigset_t none;
	pid_t pid = fork();

	if (pid < 0) {
		say(g, "hook %s: fork: %s", c->hook, strerror(errno));
		return;
	}
	if (pid > 0) {
		say(g, "hook %s started (pid %d) for %s", c->hook, (int)pid, event_names[event]);
		return;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	kt_hex_encode(g->report_digest, KT_HASH_LEN, digest);
	setenv("KVMTRUST_EVENT", event_names[event], 1);
	setenv("KVMTRUST_VM_NAME", g->cfg.name, 1);
	setenv("KVMTRUST_VM_UUID", g->uuid, 1);
	setenv_num("KVMTRUST_VM_PID", g->pid);
	setenv("KVMTRUST_RESULT", g->last_result == KT_LEDGER_PASS ? "pass" : "fail", 1);
	setenv_num("KVMTRUST_SCORE", g->score);
	setenv_num("KVMTRUST_PREV_SCORE", g->prev_score);
	setenv_num("KVMTRUST_LEDGER_INDEX", (long long)g->last_index);
	setenv("KVMTRUST_REPORT", g->report_path, 1);
	setenv("KVMTRUST_REPORT_DIGEST", digest, 1);
	setenv("KVMTRUST_FAILED_RANGE", g->failed_range, 1);
	execl(c->hook, c->hook, event_names[event], (char *)NULL);
	fprintf(stderr, "kvmtrustd: hook %s: %s\n", c->hook, strerror(errno));
	_exit(127);
}

void ktd_actions_reap(bool (*other)(void *arg, pid_t pid, int status), void *arg)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (other(arg, pid, status))
			continue;
		else if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "kvmtrustd: hook (pid %d) failed with status %d\n",
				(int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void mark_nonmigratable(const struct ktd_config *c, const struct ktd_guest *g, int event)
{
	char path[4096], dir[4096];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/nonmigratable", c->state_dir);
	if (ktd_nonmigratable_path(c, g->uuid, path, sizeof(path)) ||
	    (mkdir(c->state_dir, 0755) && errno != EEXIST) || (mkdir(dir, 0755) && errno != EEXIST)) {
		say(g, "nonmigratable: cannot create %s: %s", dir, strerror(errno));
		return;
	}
	f = fopen(path, "we");
	if (!f) {
		say(g, "nonmigratable: %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "event=%s score=%d ledger_index=%llu time=%lld\n", event_names[event], g->score,
		(unsigned long long)g->last_index, (long long)g->last_time);
	if (fclose(f))
		say(g, "nonmigratable: %s: write error", path);
	else
		say(g, "marked non-migratable: %s", path);
}

/*
 * The rollback action: the newest snapshot of the guest that verifies with
 * the host key, restored and proven (snapshot_restore.h), then a rollback
 * entry in the ledger. True when the guest runs proven in the snapshot's
 * state; a failure after the first page written leaves it frozen.
 */
static bool rollback(const struct ktd_config *c, struct ktd_ctx *ctx, struct ktd_guest *g)
{
	struct kt_report_policy policy = { .key = ctx->hk->pub, .max_age = -1 };
	struct kt_snapshot s;
	struct kt_snap_restored r = { 0 };
	struct kt_ledger_entry e;
	struct kt_err err = { 0 };
	struct kt_nl *nl = NULL;
	struct kt_vm vm;
	kt_hash digest, leaf;
	size_t skipped;
	bool attached;
	int ret = -1;

	if (kt_snap_newest_verified(c->snapshot_store, g->uuid, &policy, &s, &skipped, &err)) {
		say(g, "rollback refused: no snapshot in %s verifies (%s: %s)", c->snapshot_store,
		    err.check ? err.check : "error", err.msg);
		return false;
	}
	if (skipped)
		say(g, "rollback: %zu newer snapshot(s) did not verify, using %s", skipped, s.id);
	if (strcmp(s.vmm, "other")) {
		say(g, "rollback refused: snapshot %s is of a QEMU guest (kvmtrust rollback --qmp "
		    "restores those)", s.id);
		goto out;
	}
	nl = kt_nl_open(&err);
	ret = nl ? kt_vm_attach_pid(nl, g->pid, &vm, &attached, &err) : -ENODEV;
	if (!ret)
		ret = kt_snap_restore_vmm(c->snapshot_store, nl, vm.vm_id, g->pid, &s, &r, &err);
	if (ret) {
		g->frozen = r.frozen;
		say(g, "rollback to snapshot %s %s: %s%s", s.id,
		    kt_snap_refusal(&err) ? "refused" : "failed", err.msg,
		    r.frozen ? "; the guest stays frozen, unproven (kill -CONT resumes it)" : "");
		goto out;
	}
	if (kt_snap_report_digest(c->snapshot_store, s.id, digest, &err) ||
	    kt_ledger_rollback_entry(&e, g->uuid, s.id, r.m.memory_root, digest) ||
	    kt_ledger_append(ctx->log, &ctx->signer, &e, leaf, &err))
		say(g, "rolled back to snapshot %s, roots proven, but the ledger entry failed: %s",
		    s.id, err.msg[0] ? err.msg : "snapshot id too long");
	else
		say(g, "rolled back to snapshot %s: roots proven (seq %llu), %llu page(s) written, "
		    "rollback entry %llu", s.id, (unsigned long long)r.m.seq,
		    (unsigned long long)r.pages_written, (unsigned long long)e.index);
out:
	kt_nl_close(nl);
	kt_snap_free(&s);
	return !ret;
}

static void act(const struct ktd_config *c, struct ktd_ctx *ctx, struct ktd_guest *g,
		int event)
{
	unsigned int a = c->actions[event];

	if (a & KTD_ACT_LOG)
		say(g, "%s: result %s, score %d -> %d, entry %llu%s%s", event_names[event],
		    g->last_result == KT_LEDGER_PASS ? "pass" : "fail", g->prev_score, g->score,
		    (unsigned long long)g->last_index, g->failed_range[0] ? ", range " : "",
		    g->failed_range);
	if (a & KTD_ACT_HOOK)
		run_hook(c, g, event);
	if ((a & KTD_ACT_NONMIGRATABLE))
		mark_nonmigratable(c, g, event);
	/* A proven rollback makes the freeze moot: the guest is in an attested state. */
	if ((a & KTD_ACT_ROLLBACK) && g->pid > 0 && rollback(c, ctx, g))
		return;
	if ((a & KTD_ACT_FREEZE) && !g->frozen && g->pid > 0) {
		if (kill(g->pid, SIGSTOP))
			say(g, "freeze: kill(%d, SIGSTOP): %s", (int)g->pid, strerror(errno));
		else {
			g->frozen = true;
			say(g, "frozen: VMM %d stopped (kill -CONT %d resumes it)", (int)g->pid,
			    (int)g->pid);
		}
	}
}

/* The host-compromise rule held: the ledger says so for every reader. */
static void flag_host(struct ktd_ctx *ctx, struct ktd_guest *g)
{
	struct kt_ledger_entry e = { .kind = KT_LEDGER_COMPROMISE };
	struct kt_err err = { 0 };
	char host[KT_UUID_STR_LEN + 1];
	kt_hash leaf;

	if (ctx->host_flagged && !memcmp(ctx->flagged_host, g->host_id, KT_UUID_LEN))
		return;
	e.time = (uint64_t)time(NULL);
	memcpy(e.host_id, g->host_id, KT_UUID_LEN);
	kt_uuid_format(g->host_id, host);
	if (kt_ledger_append(ctx->log, &ctx->signer, &e, leaf, &err)) {
		say(g, "host %s meets the compromise rule, flagging it failed: %s", host, err.msg);
		return;
	}
	ctx->host_flagged = true;
	memcpy(ctx->flagged_host, g->host_id, KT_UUID_LEN);
	say(g, "host %s meets the compromise rule (%d fails in 24 h): compromise entry %llu",
	    host, KT_SCORE_COMPROMISE_FAILS, (unsigned long long)e.index);
}

const char *ktd_action_event_name(int event)
{
	return event >= 0 && event < KTD_NR_ON ? event_names[event] : "unknown";
}

unsigned int ktd_actions_run(const struct ktd_config *c, struct ktd_ctx *ctx, struct ktd_guest *g)
{
	unsigned int fired = 0;

	if (g->last_result == KT_LEDGER_FAIL)
		fired |= 1u << KTD_ON_FAIL;
	if (g->prev_score > KT_SCORE_ALLOW_ABOVE && g->score >= 0 &&
	    g->score <= KT_SCORE_ALLOW_ABOVE)
		fired |= 1u << KTD_ON_BELOW_75;
	if (g->prev_score >= KT_SCORE_DENY_BELOW && g->score >= 0 &&
	    g->score < KT_SCORE_DENY_BELOW)
		fired |= 1u << KTD_ON_BELOW_50;
	for (int event = 0; event < KTD_NR_ON; event++)
		if (fired & (1u << event))
			act(c, ctx, g, event);
	if (g->host_compromised)
		flag_host(ctx, g);
	return fired;
}
