// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust migrate start: the source side. It owns the only runnable copy
 * of the guest until the destination has proven the arrival ("verified");
 * every failure before that resumes the source QEMU.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/hostkey.h"
#include "attest_cli.h"
#include "cli_util.h"
#include "common/qmp.h"
#include "common/secfile.h"
#include "grant_common.h"
#include "identity/chanmsg.h"
#include "identity/handshake.h"
#include "identity/jws.h"
#include "identity/pki.h"
#include "identity/token.h"
#include "ledger/revocation.h"
#include "ledger_cli.h"
#include "migrate_cli.h"
#include "net.h"
#include "print.h"
#include "subcommands.h"
#include "vm_ref.h"

#define CERT_MAX (64 * 1024)
/* kvmtrustd's default state_dir, where its nonmigratable action marks guests */
#define STATE_DIR_DEFAULT "/var/lib/kvmtrust"

struct start_args {
	const char *connect, *qmp, *token, *guest_key, *anchors, *crls, *expect_host;
	const char *grant, *by, *order;
	const char *key_dir, *tcti, *launch;
	/* The old token's revocation once the guest moved (--ledger...), or none (--no-revoke-token). */
	const char *ledger, *ledger_ca, *ledger_key, *ledger_cert;
	bool no_revoke;
	pid_t pid;			/* --pid: a guest of our own VMM */
	char vm[KT_UUID_STR_LEN + 1];	/* the token's guest */
	char jti[KT_TOKEN_JTI_MAX + 1];	/* the token's id, revoked after the move */
	char issuer[KT_UUID_STR_LEN + 1];	/* the host that issued the token */
	enum kt_print_mode mode;
};

/* What became of the old token after the move (Documentation/migration.rst). */
struct revoke_result {
	bool running;		/* the destination confirmed the guest runs there */
	bool revoked;		/* the revocation is in the ledger, entry index */
	uint64_t index;
	struct kt_err err;	/* why it is not, when it was asked for */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s migrate start (--qmp PATH | --pid PID) --connect ADDR:PORT|unix:PATH\n"
		"              --token FILE --guest-key FILE --anchors DIR [--crls DIR]\n"
		"              [--expect-host UUID] --grant GRANT (--by ADMIN-CERT | --order ORDER)\n"
		"              [--key-dir DIR] [--tcti TCTI] [--launch-report FILE] [--json]\n"
		"              (--ledger SPEC [--ledger-ca PATH] [--ledger-key KEY --ledger-cert CERT]\n"
		"               | --no-revoke-token)\n"
		"The host key in DIR signs the final report (and, for verify first, the full\n"
		"measurement); --launch-report is the guest's launch-configuration attestation;\n"
		"--pid: a guest of our own VMM (its --uuid), moved stopped (stop and copy).\n"
		"Once the guest moved, the old token is revoked in the ledger SPEC, signed by\n"
		"its issuing host's KEY and CERT; --no-revoke-token leaves it valid.\n"
		"See kvmtrust-migrate(8).\n", prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_REFUSED) |
			CLI_EXIT(KT_EXIT_VERIFY_FIRST));
}

struct session {
	struct kt_qmp *qmp;
	struct migrate_vmm vmm;	/* --pid: vmm.pid, else QEMU through qmp */
	struct kt_channel *ch;
	char dir[64];		/* private directory of the local migration socket */
	char sock[96];
	int lfd;
	bool migrating;		/* QEMU was told to migrate: resume it on failure */
	/* The first-pass mark: the watch thread wants it, the relay sends it. */
	atomic_bool want_mark, mark_taken, stop_watch;
	struct kt_err watch_err;	/* the watch's QMP failure, read after the join */
	bool mark_running;	/* at the mark the guest still ran (not paused before switchover) */
	uint64_t t_migrate, mark_ms;	/* when QEMU was told to migrate; the mark after it */
	json_int_t mark_remaining, mark_total;	/* QEMU's RAM figures at the mark */
};

/* Serves a unix socket only this user can reach, for QEMU's outgoing stream. */
static int local_socket(struct session *s, struct kt_err *err)
{
	strcpy(s->dir, "/tmp/kvmtrust-migrate.XXXXXX");
	if (!mkdtemp(s->dir))
		return kt_fail(err, "stream", "cannot create a private directory: %m");
	snprintf(s->sock, sizeof(s->sock), "unix:%s/out.sock", s->dir);
	s->lfd = net_listen(s->sock);
	if (s->lfd < 0)
		return kt_fail(err, "stream", "cannot serve %s", s->sock);
	net_set_timeouts(s->lfd, MIGRATE_TIMEOUT);
	return 0;
}

/*
 * The first-pass mark (Documentation/migration.rst), asked of QEMU every
 * MIGRATE_TICK_MS: while the guest still runs, once QEMU's own count of
 * the RAM still to send (ram.remaining: every dirty page, zero pages
 * included, so also for guests whose stream stays small) is down to 1/16
 * of the guest's RAM, or QEMU synced its dirty bitmap again
 * (ram.dirty-sync-count 2); at the latest when QEMU pauses before the
 * switchover (capability pause-before-switchover), which it leaves only
 * when told to (migrate-continue), after the mark went out.
 *
 * The questions run in a thread of their own: QEMU writes its last round
 * holding its big lock, so a QMP question can wait until the stream has
 * been read, and the relay must never wait for the answer.
 */
static void pass_record(struct session *s, bool running, json_int_t remaining, json_int_t total)
{
	s->mark_running = running;
	s->mark_ms = migrate_now_ms() - s->t_migrate;
	s->mark_remaining = remaining;
	s->mark_total = total;
	atomic_store(&s->want_mark, true);
}

static void *pass_watch(void *ctx)
{
	const struct timespec tick = { .tv_nsec = MIGRATE_TICK_MS * 1000 * 1000 };
	const struct timespec spin = { .tv_nsec = 1000 * 1000 };
	struct session *s = ctx;
	json_int_t remaining, total, syncs;
	json_t *info, *ram, *ret;
	const char *status;
	bool active, paused;

	while (!atomic_load(&s->stop_watch)) {
		info = kt_qmp_exec(s->qmp, "query-migrate", NULL, &s->watch_err);
		if (!info)
			return NULL;
		status = json_string_value(json_object_get(info, "status")) ?: "";
		ram = json_object_get(info, "ram");
		remaining = json_integer_value(json_object_get(ram, "remaining"));
		total = json_integer_value(json_object_get(ram, "total"));
		syncs = json_integer_value(json_object_get(ram, "dirty-sync-count"));
		active = !strcmp(status, "active");
		paused = !strcmp(status, "pre-switchover");
		if (!strcmp(status, "completed") || !strcmp(status, "failed") ||
		    !strcmp(status, "cancelled")) {
			json_decref(info);
			return NULL;
		}
		json_decref(info);
		if (!atomic_load(&s->want_mark) &&
		    (paused || (active && total > 0 && (remaining <= total / 16 || syncs >= 2))))
			pass_record(s, !paused, remaining, total);
		if (paused) {
			/* The mark goes out before anything QEMU writes from here. */
			while (!atomic_load(&s->mark_taken) && !atomic_load(&s->stop_watch))
				nanosleep(&spin, NULL);
			ret = atomic_load(&s->stop_watch) ? NULL :
			      kt_qmp_exec(s->qmp, "migrate-continue",
					  json_pack("{s:s}", "state", "pre-switchover"),
					  &s->watch_err);
			json_decref(ret);
			return NULL;
		}
		nanosleep(&tick, NULL);
	}
	return NULL;
}

/* The relay's tick: the mark, once, as soon as the watch wants it. */
static int pass_tick(void *ctx, struct kt_err *err)
{
	struct session *s = ctx;

	(void)err;
	if (!atomic_load(&s->want_mark) || atomic_load(&s->mark_taken))
		return 0;
	atomic_store(&s->mark_taken, true);	/* sent before any further stream byte is read */
	return 1;
}

static int transfer(struct session *s, uint64_t *bytes, struct kt_err *err)
{
	struct kt_chmsg_tick tick = { .fn = pass_tick, .ctx = s, .interval_ms = MIGRATE_TICK_MS };
	pthread_t watch;
	json_t *ret;
	int fd, rc;

	if (s->vmm.pid) {
		s->migrating = true;
		return migrate_vmm_send(&s->vmm, s->ch, bytes, err);
	}
	if (local_socket(s, err))
		return -1;
	ret = kt_qmp_exec(s->qmp, "migrate-set-capabilities",
			  json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability",
				    "pause-before-switchover", "state", 1), err);
	if (!ret)
		return -1;
	json_decref(ret);
	ret = kt_qmp_exec(s->qmp, "migrate", json_pack("{s:s}", "uri", s->sock), err);
	if (!ret)
		return -1;
	json_decref(ret);
	s->migrating = true;
	s->t_migrate = migrate_now_ms();
	fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return kt_fail(err, "stream", "QEMU did not connect to %s: %m", s->sock);
	net_set_timeouts(fd, MIGRATE_TIMEOUT);
	if (pthread_create(&watch, NULL, pass_watch, s)) {
		close(fd);
		return kt_fail(err, "stream", "cannot start the first-pass watch");
	}
	rc = kt_chmsg_relay_out(s->ch, fd, bytes, &tick, err);
	/* Closed first: a QEMU blocked in its last round answers QMP only then. */
	close(fd);
	atomic_store(&s->stop_watch, true);
	pthread_join(watch, NULL);
	if (!rc && s->watch_err.check)
		rc = kt_fail(err, s->watch_err.check, "%s", s->watch_err.msg);
	if (atomic_load(&s->mark_taken))
		fprintf(stderr, "first pass: marked after %llu ms, %lld of %lld bytes of RAM to go, "
			"%s\n", (unsigned long long)s->mark_ms, (long long)s->mark_remaining,
			(long long)s->mark_total, s->mark_running ? "the guest running" :
			"QEMU paused before the switchover");
	return rc ? -1 : kt_qmp_wait_migrated(s->qmp, MIGRATE_QEMU_MS, err);
}

/*
 * The source copy stays the one to run: cancel a migration still under way
 * (QEMU then resumes by itself) or continue a guest QEMU stopped for it.
 */
static void resume_source(struct session *s)
{
	struct kt_err err = { 0 };
	char state[32];
	json_t *ret;

	if (s->migrating && s->vmm.pid)
		migrate_vmm_resume(&s->vmm);
	if (!s->migrating || !s->qmp)
		return;
	json_decref(kt_qmp_exec(s->qmp, "migrate_cancel", NULL, &err));
	kt_qmp_wait_migrated(s->qmp, 5000, &err);	/* cancelled or failed: expected */
	/* A later migration by other means must not wait for a migrate-continue. */
	json_decref(kt_qmp_exec(s->qmp, "migrate-set-capabilities",
				json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability",
					  "pause-before-switchover", "state", 0), &err));
	memset(&err, 0, sizeof(err));
	if (kt_qmp_runstate(s->qmp, state, sizeof(state), &err) || !strcmp(state, "running")) {
		fprintf(stderr, "source guest: %s\n", err.check ? err.msg : "running");
		return;
	}
	ret = kt_qmp_exec(s->qmp, "cont", NULL, &err);
	fprintf(stderr, "source guest: %s\n", ret ? "resumed" : err.msg);
	json_decref(ret);
}

/*
 * kvmtrustd's nonmigratable action (Documentation/kvmtrustd.rst, Actions)
 * leaves state_dir/nonmigratable/UUID when a guest's score falls: that file
 * refuses the move on this host before anything is sent. The directory is
 * $KVMTRUST_STATE_DIR, else the daemon's default. A mark that cannot be
 * looked up refuses too.
 */
static int nonmigratable(const char *vm, struct kt_err *err)
{
	const char *dir = getenv("KVMTRUST_STATE_DIR");
	char path[PATH_MAX], why[256] = "";
	struct stat st;
	FILE *f;

	if (!dir || !*dir)
		dir = STATE_DIR_DEFAULT;
	if (snprintf(path, sizeof(path), "%s/nonmigratable/%s", dir, vm) >= (int)sizeof(path))
		return kt_fail(err, "nonmigratable", "the state directory's path is too long");
	if (stat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		return kt_fail(err, "nonmigratable", "cannot look up %s: %s", path,
			       strerror(errno));
	}
	f = fopen(path, "r");
	if (f) {
		if (!fgets(why, sizeof(why), f))
			why[0] = 0;
		fclose(f);
	}
	why[strcspn(why, "\n")] = 0;
	return kt_fail(err, "nonmigratable", "VM %s is marked non-migratable on this host (%s%s%s)",
		       vm, path, why[0] ? ": " : "", why);
}

/*
 * The guest the token names (the VM the final report is about), its id and
 * its issuing host (whose signature alone revokes it, revocation.h).
 */
static int token_claims(const char *token, struct start_args *a, struct kt_err *err)
{
	struct kt_token tok;

	if (kt_token_decode(token, &tok, err))
		return -1;
	strcpy(a->vm, tok.claims.sub);
	strcpy(a->jti, tok.claims.jti);
	strcpy(a->issuer, tok.claims.host);
	kt_token_free(&tok);
	return 0;
}

/*
 * Before anything moves: the old token can be revoked after the move. The
 * jti must be one an entry can name ("request"), the ledger one that opens
 * ("revocation"), the credential a host writer its CA accepts (the
 * append's own check, "authorization") and the token's issuing host (no
 * other host's revocation counts: "revoke-signer"). Whether the ledger
 * takes the entry is known only at the end.
 */
static int revoke_possible(const struct start_args *a, struct kt_err *err)
{
	struct ledger_revocations lr = { 0 };
	struct kt_ledger_signer signer = { 0 };
	struct kt_ledger_writer w;
	struct kt_ledger_entry e;
	uint8_t issuer[KT_UUID_LEN];
	char who[KT_UUID_STR_LEN + 1];
	int ret = -1;

	if (kt_ledger_token_revoke_entry(a->jti, &e, err) ||
	    kt_ledger_signer_load(a->ledger_key, a->ledger_cert, &signer, err) ||
	    ledger_revocations_open(a->ledger, a->ledger_ca, &lr, err) ||
	    kt_ledger_auth_check(lr.auth, signer.cert, signer.cert_len, (uint64_t)time(NULL),
				 KT_LEDGER_HOST, &w, err))
		goto out;
	kt_uuid_format(w.host_id, who);
	if (kt_uuid_parse(a->issuer, issuer) || memcmp(w.host_id, issuer, KT_UUID_LEN))
		kt_fail(err, "revoke-signer", "the token was issued by host %s, --ledger-cert is "
			"host %s's: only the issuing host can revoke it", a->issuer, who);
	else
		ret = 0;
out:
	ledger_revocations_close(&lr);
	kt_ledger_signer_free(&signer);
	return ret;
}

/*
 * After the release: the destination's "running" (the guest runs there,
 * with its new token if it issues one), then the old token revoked in the
 * ledger, naming the new host and the final report the move rests on. The
 * guest has moved whatever happens here: a failure is reported, not undone.
 */
static void revoke_old(const struct start_args *a, struct session *s, const char *host,
		       const kt_hash report, struct revoke_result *r)
{
	char reason[KT_LEDGER_DETAIL_MAX + 1];
	json_t *msg;

	msg = migrate_expect(kt_chmsg_recv_json(s->ch, &r->err), "running", &r->err);
	r->running = msg != NULL;
	if (!msg)
		fprintf(stderr, "warning: the destination did not confirm that the guest runs there: "
			"%s\n", r->err.msg);
	else if (json_string_value(json_object_get(msg, "detail")))
		fprintf(stderr, "destination: the guest runs (%s)\n",
			json_string_value(json_object_get(msg, "detail")));
	json_decref(msg);
	memset(&r->err, 0, sizeof(r->err));
	if (a->no_revoke) {
		fprintf(stderr, "warning: the old token %s stays valid (--no-revoke-token)\n", a->jti);
		return;
	}
	/* The source copy is gone: revoked even unconfirmed, the safe side. */
	snprintf(reason, sizeof(reason), "moved to host %s", host);
	if (ledger_revoke_token(a->ledger, a->ledger_ca, a->ledger_key, a->ledger_cert, a->jti,
				reason, report, &r->index, &r->err)) {
		fprintf(stderr, "Error: the guest moved to host %s, but its old token %s is NOT "
			"revoked: %s: %s\nretry: kvmtrust token revoke --ledger %s%s%s --key %s "
			"--cert %s %s\n", host, a->jti, r->err.check ?: "ledger", r->err.msg,
			a->ledger, a->ledger_ca ? " --ledger-ca " : "", a->ledger_ca ?: "",
			a->ledger_key, a->ledger_cert, a->token);
		return;
	}
	r->revoked = true;
	fprintf(stderr, "old token %s revoked in ledger entry %llu (moved to host %s)\n", a->jti,
		(unsigned long long)r->index, host);
}

static json_t *request(const struct start_args *a, struct kt_err *err)
{
	char *grant = cli_read_arg(a->grant, KT_JWS_MAX_LEN, err), *by = NULL, *order = NULL;
	json_t *msg = NULL;

	if (grant && a->by)
		by = cli_read_arg(a->by, CERT_MAX, err);
	if (grant && a->order)
		order = cli_read_arg(a->order, KT_JWS_MAX_LEN, err);
	if (grant && (!a->by || by) && (!a->order || order))
		msg = json_pack("{s:s, s:s, s:s*, s:s*}", "msg", "request", "grant", grant,
				"by", by, "order", order);
	free(grant);
	free(by);
	free(order);
	return msg;
}

/* The destination's answer: 0 allow, KT_EXIT_VERIFY_FIRST, else KT_EXIT_REFUSED. */
static int decision(json_t *m, bool quiet)
{
	const char *d = json_string_value(json_object_get(m, "decision"));
	const char *rule = json_string_value(json_object_get(m, "rule"));
	const char *detail = json_string_value(json_object_get(m, "detail"));

	if (d && !strcmp(d, "allow"))
		return KT_EXIT_OK;
	if (d && !strcmp(d, "verify-first"))
		return KT_EXIT_VERIFY_FIRST;
	if (!quiet)
		fprintf(stderr, "Refused: the destination decided %s (rule %s: %s)\n", d ?: "?",
			rule ?: "-", detail ?: "-");
	return KT_EXIT_REFUSED;
}

/* The config_root a launch report claims (verified by the destination, not here). */
static char *launch_root(const char *launch, struct kt_err *err)
{
	struct kt_jws jws;
	const char *root;
	char *out = NULL;

	if (kt_jws_parse(launch, &jws, err))
		return NULL;
	root = json_string_value(json_object_get(jws.payload, "config_root"));
	if (!root)
		kt_fail(err, "report", "the launch report has no config_root");
	else if (!(out = strdup(root)))
		kt_fail(err, "report", "out of memory");
	kt_jws_free(&jws);
	return out;
}

/*
 * The module measures a guest whose vCPUs are out of KVM_RUN: the guest is
 * paused for the full measurement (QMP stop) and continued whatever the
 * outcome.
 */
static int full_measure(struct session *s, struct migrate_roots *r, struct kt_err *err)
{
	struct kt_err cerr = { 0 };
	uint64_t t0 = migrate_now_ms();
	json_t *ret;
	int rc;

	/* Our VMM: the module's freeze stops it for the measurement and continues it. */
	if (s->vmm.pid)
		return migrate_measure(s->vmm.pid, KVMTRUST_MEASURE_F_FREEZE |
				       KVMTRUST_MEASURE_F_FULL, r, err);
	ret = kt_qmp_exec(s->qmp, "stop", NULL, err);
	if (!ret)
		return -1;
	json_decref(ret);
	rc = migrate_measure(kt_qmp_pid(s->qmp), 0, r, err);
	ret = kt_qmp_exec(s->qmp, "cont", NULL, &cerr);
	if (!ret) {
		fprintf(stderr, "Error: the source guest was paused and could not be continued: %s\n",
			cerr.msg);
		return rc ? rc : kt_fail(err, "qmp", "%s", cerr.msg);
	}
	json_decref(ret);
	if (!rc)
		fprintf(stderr, "verify first: the guest measured in full, paused %llu ms\n",
			(unsigned long long)(migrate_now_ms() - t0));
	return rc;
}

/*
 * Verify first (trust score 50..75): the running guest measured in full and
 * signed with the destination's nonce, bound to the launch-configuration
 * attestation, both sent before any guest byte.
 */
static int evidence(const struct start_args *a, struct session *s, json_t *dec,
		    struct kt_err *err)
{
	const char *nonce = json_string_value(json_object_get(dec, "nonce"));
	struct migrate_roots full;
	char *launch, *root = NULL, *state = NULL;
	json_t *msg = NULL;
	int ret = -1;

	if (!a->launch) {
		fprintf(stderr, "Refused: the destination asks to verify first (trust score "
			"50..75): give --launch-report\n");
		return KT_EXIT_VERIFY_FIRST;
	}
	if (!nonce)
		return kt_fail(err, "protocol", "the verify-first decision carries no nonce");
	launch = cli_read_arg(a->launch, ATTEST_REPORT_MAX, err);
	if (launch && (root = launch_root(launch, err)) && !full_measure(s, &full, err) &&
	    !migrate_sign_state(a->key_dir, a->tcti, a->vm, &full, nonce, root, &state, err))
		msg = json_pack("{s:s, s:s, s:s}", "msg", "evidence", "state", state, "launch",
				launch);
	if (msg && !kt_chmsg_send_json(s->ch, msg, err))
		ret = 0;
	json_decref(msg);
	free(launch);
	free(root);
	free(state);
	return ret;
}

/* A failed check of the peer or of the wire is a refusal; a local failure is not. */
static bool refusal(const char *check)
{
	static const char *const local[] = { "qmp", "stream", "migration", "channel", "vm", NULL };
	size_t i;

	if (!check)
		return false;
	for (i = 0; local[i]; i++)
		if (!strcmp(check, local[i]))
			return false;
	return !strstr(check, "netlink") && strcmp(check, "measure");
}

static void print_moved(const struct start_args *a, const struct session *s, const char *host,
			const struct migrate_roots *r, const char *digest, bool verified_first,
			uint64_t bytes, uint64_t records, json_t *info, uint64_t verify_ms,
			uint64_t total_ms, const struct revoke_result *rv)
{
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_string("verdict", "verdict: %s\n", "moved");
	kt_print_string("vm", "vm: %s\n", a->vm);
	kt_print_string("host", "host: %s\n", host);
	kt_print_bool("destination_running", "destination_running: %s\n", rv->running);
	kt_print_string("old_token", "old_token: %s\n", a->jti);
	kt_print_string("old_token_state", "old_token_state: %s\n", a->no_revoke ? "valid" :
			rv->revoked ? "revoked" : "not-revoked");
	if (rv->revoked)
		kt_print_u64("revocation_index", "revocation_index: %s\n", rv->index);
	if (!a->no_revoke && !rv->revoked) {
		kt_print_string("revocation_check", "revocation_check: %s\n",
				rv->err.check ?: "ledger");
		kt_print_string("revocation_error", "revocation_error: %s\n", rv->err.msg);
	}
	kt_print_bool("verified_first", "verified_first: %s\n", verified_first);
	kt_print_string("memory_root", "memory_root: %s\n", r->memory);
	kt_print_string("vcpu_root", "vcpu_root: %s\n", r->vcpu);
	kt_print_string("report_digest", "report_digest: %s\n", digest);
	kt_print_u64("bytes", "bytes: %s\n", bytes);
	kt_print_u64("records", "records: %s\n", records);
	kt_print_bool("first_pass_marked", "first_pass_marked: %s\n",
		      atomic_load(&s->mark_taken));
	kt_print_bool("first_pass_mark_running", "first_pass_mark_running: %s\n",
		      s->mark_running);
	kt_print_u64("first_pass_mark_ms", "first_pass_mark_ms: %s\n", s->mark_ms);
	kt_print_s64("qemu_total_ms", "qemu_total_ms: %s\n",
		     json_integer_value(json_object_get(info, "total-time")));
	kt_print_s64("qemu_downtime_ms", "qemu_downtime_ms: %s\n",
		     json_integer_value(json_object_get(info, "downtime")));
	kt_print_u64("verify_ms", "verify_ms: %s\n", verify_ms);
	kt_print_u64("total_ms", "total_ms: %s\n", total_ms);
	kt_print_u64("pages_hashed", "pages_hashed: %s\n", r->pages_hashed);
	kt_print_bool("measure_full", "measure_full: %s\n", r->full);
	kt_print_u64("measure_ms", "measure_ms: %s\n", r->ms);
	kt_print_u64("cpu_ms", "cpu_ms: %s\n", migrate_cpu_ms());
	kt_print_close_object();
	kt_print_end();
}

/* The refusal or error a failed session ends with, as --json reports it too. */
static int print_failed(const struct start_args *a, int ret, const struct kt_err *err)
{
	if (a->mode != KT_PRINT_JSON)
		return ret;
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_string("verdict", NULL, ret == KT_EXIT_OK ? "moved" :
			ret == KT_EXIT_REFUSED ? "refused" :
			ret == KT_EXIT_VERIFY_FIRST ? "verify-first" : "error");
	kt_print_string("vm", NULL, a->vm);
	kt_print_string("check", NULL, err->check ?: "decision");
	kt_print_string("message", NULL, err->msg[0] ? err->msg : NULL);
	kt_print_u64("exit", NULL, (uint64_t)ret);
	kt_print_close_object();
	kt_print_end();
	return ret;
}

static int run(const struct start_args *a, struct session *s, struct kt_hs_guest_cfg *cfg)
{
	struct kt_hs_result res = { 0 };
	struct revoke_result rv = { 0 };
	struct migrate_roots roots;
	struct kt_err err = { 0 };
	uint64_t bytes = 0, t0, t_stream;
	json_t *msg = NULL, *info = NULL;
	const char *verdict, *nonce;
	char *report = NULL, digest[65];
	kt_hash dig;
	bool verified_first = false;
	int fd, ret = KT_EXIT_FAILURE;

	fd = net_connect(a->connect, MIGRATE_TIMEOUT);
	if (fd < 0)
		return print_failed(a, KT_EXIT_FAILURE, &err);
	t0 = migrate_now_ms();
	if (kt_handshake_guest(fd, cfg, &res, &err))
		goto fail;
	s->ch = res.channel;
	fprintf(stderr, "handshake: destination host %s\n", res.peer.host_uuid);
	msg = request(a, &err);
	if (!msg || kt_chmsg_send_json(s->ch, msg, &err))
		goto fail;
	json_decref(msg);
	msg = migrate_expect(kt_chmsg_recv_json(s->ch, &err), "decision", &err);
	if (!msg)
		goto fail;
	ret = decision(msg, false);
	if (ret == KT_EXIT_VERIFY_FIRST) {
		ret = evidence(a, s, msg, &err);
		if (ret)
			goto refused;
		json_decref(msg);
		msg = migrate_expect(kt_chmsg_recv_json(s->ch, &err), "decision", &err);
		if (!msg)
			goto fail;
		ret = decision(msg, false);
		if (ret == KT_EXIT_VERIFY_FIRST)
			ret = KT_EXIT_REFUSED;	/* verify first is asked once */
		verified_first = true;
	}
	if (ret)
		goto refused;
	nonce = json_string_value(json_object_get(msg, "nonce"));
	if (!nonce) {
		kt_fail(&err, "protocol", "the decision carries no nonce for the final report");
		goto fail;
	}
	fprintf(stderr, "decision: allow%s; transferring\n", verified_first ? " (verified first)" : "");
	ret = KT_EXIT_FAILURE;
	if (transfer(s, &bytes, &err))
		goto fail;
	t_stream = migrate_now_ms();
	if (s->qmp)
		info = kt_qmp_exec(s->qmp, "query-migrate", NULL, &err);
	fprintf(stderr, "transfer: %llu bytes; signing the final report\n", (unsigned long long)bytes);
	if (migrate_measure(s->vmm.pid ?: kt_qmp_pid(s->qmp), KVMTRUST_MEASURE_F_FREEZE, &roots,
			    &err) ||
	    migrate_sign_state(a->key_dir, a->tcti, a->vm, &roots, nonce, NULL, &report, &err))
		goto fail;
	json_decref(msg);
	msg = json_pack("{s:s, s:s}", "msg", "final", "report", report);
	if (kt_chmsg_send_json(s->ch, msg, &err))
		goto fail;
	json_decref(msg);
	msg = kt_chmsg_recv_json(s->ch, &err);
	verdict = json_string_value(json_object_get(msg, "msg"));
	if (!verdict)
		goto fail;
	if (strcmp(verdict, "verified")) {
		kt_fail(&err, "arrival", "the destination refused the arrival: %s",
			json_string_value(json_object_get(msg, "detail")) ?: "?");
		ret = KT_EXIT_REFUSED;
		goto fail;
	}
	/* Committed: from here the destination's copy is the one to run. */
	s->migrating = false;
	if (s->vmm.pid)
		migrate_vmm_kill(&s->vmm, "source");
	else
		json_decref(kt_qmp_exec(s->qmp, "quit", NULL, &err));
	json_decref(msg);
	msg = json_pack("{s:s}", "msg", "released");
	if (kt_chmsg_send_json(s->ch, msg, &err))
		fprintf(stderr, "warning: the destination was not told the source quit: %s\n", err.msg);
	/* verify_ms and total_ms end at the release, as before the revocation. */
	t_stream = migrate_now_ms() - t_stream;
	t0 = migrate_now_ms() - t0;
	migrate_report_digest(report, dig, digest);
	revoke_old(a, s, res.peer.host_uuid, dig, &rv);
	memset(&err, 0, sizeof(err));
	kt_channel_close(s->ch, &err);
	print_moved(a, s, res.peer.host_uuid, &roots, digest, verified_first, bytes,
		    kt_channel_records_sent(s->ch), info, t_stream, t0, &rv);
	/* Moved, and never undone; a revocation asked for and not made fails loud. */
	ret = a->no_revoke || rv.revoked ? KT_EXIT_OK : KT_EXIT_FAILURE;
	goto out;
refused:
	if (ret != KT_EXIT_VERIFY_FIRST && ret != KT_EXIT_REFUSED) {
		ret = KT_EXIT_FAILURE;
		goto fail;
	}
	kt_fail(&err, json_string_value(json_object_get(msg, "rule")) ?: "decision", "%s",
		json_string_value(json_object_get(msg, "detail")) ?: "the destination refused");
	print_failed(a, ret, &err);
	goto out;
fail:
	if (ret == KT_EXIT_REFUSED || refusal(err.check))
		ret = cli_refused(&err);
	else
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
	print_failed(a, ret, &err);
	resume_source(s);
out:
	json_decref(msg);
	json_decref(info);
	free(report);
	close(fd);
	kt_hs_result_free(&res);
	s->ch = NULL;
	return ret;
}

int migrate_start_main(int argc, char *argv[])
{
	enum { O_CONNECT = 256, O_QMP, O_TOKEN, O_GKEY, O_ANCH, O_CRLS, O_EXPECT, O_GRANT, O_BY,
	       O_ORDER, O_KEY_DIR, O_TCTI, O_LAUNCH, O_PID, O_LEDGER, O_LEDGER_CA, O_LEDGER_KEY,
	       O_LEDGER_CERT, O_NO_REVOKE };
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, O_CONNECT },
		{ "qmp", required_argument, NULL, O_QMP },
		{ "pid", required_argument, NULL, O_PID },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "guest-key", required_argument, NULL, O_GKEY },
		{ "anchors", required_argument, NULL, O_ANCH },
		{ "crls", required_argument, NULL, O_CRLS },
		{ "expect-host", required_argument, NULL, O_EXPECT },
		{ "grant", required_argument, NULL, O_GRANT },
		{ "by", required_argument, NULL, O_BY },
		{ "order", required_argument, NULL, O_ORDER },
		{ "key-dir", required_argument, NULL, O_KEY_DIR },
		{ "tcti", required_argument, NULL, O_TCTI },
		{ "launch-report", required_argument, NULL, O_LAUNCH },
		{ "ledger", required_argument, NULL, O_LEDGER },
		{ "ledger-ca", required_argument, NULL, O_LEDGER_CA },
		{ "ledger-key", required_argument, NULL, O_LEDGER_KEY },
		{ "ledger-cert", required_argument, NULL, O_LEDGER_CERT },
		{ "no-revoke-token", no_argument, NULL, O_NO_REVOKE },
		CLI_OUTPUT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct start_args a = { .key_dir = kt_hostkey_default_dir(),
				.tcti = kt_hostkey_default_tcti() };
	struct kt_hs_guest_cfg cfg = { 0 };
	struct session s = { .lfd = -1 };
	struct kt_err err = { 0 };
	char expect[KT_UUID_STR_LEN + 1], *token = NULL;
	EVP_PKEY *key = NULL;
	uint32_t pid;
	int opt, ret = KT_EXIT_FAILURE;

	while ((opt = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (opt) {
		case O_CONNECT: a.connect = optarg; break;
		case O_QMP: a.qmp = optarg; break;
		case O_PID:
			if (!cli_parse_u32("pid", optarg, 1, INT32_MAX, &pid))
				return KT_EXIT_USAGE;
			a.pid = (pid_t)pid;
			break;
		case O_TOKEN: a.token = optarg; break;
		case O_GKEY: a.guest_key = optarg; break;
		case O_ANCH: a.anchors = optarg; break;
		case O_CRLS: a.crls = optarg; break;
		case O_EXPECT: a.expect_host = optarg; break;
		case O_GRANT: a.grant = optarg; break;
		case O_BY: a.by = optarg; break;
		case O_ORDER: a.order = optarg; break;
		case O_KEY_DIR: a.key_dir = optarg; break;
		case O_TCTI: a.tcti = optarg; break;
		case O_LAUNCH: a.launch = optarg; break;
		case O_LEDGER: a.ledger = optarg; break;
		case O_LEDGER_CA: a.ledger_ca = optarg; break;
		case O_LEDGER_KEY: a.ledger_key = optarg; break;
		case O_LEDGER_CERT: a.ledger_cert = optarg; break;
		case O_NO_REVOKE: a.no_revoke = true; break;
		default:
			if (cli_output_option(opt, &a.mode))
				break;
			return cli_option_usage(usage, opt);
		}
	}
	if (!a.connect || !a.qmp == !a.pid || !a.token || !a.guest_key || !a.anchors || !a.grant ||
	    (!a.by && !a.order) || optind != argc)
		return cli_bad_usage("migrate start", usage, "--qmp or --pid, --connect, --token, --guest-key, "
				     "--anchors, --grant and --by or --order are required");
	/* Fail closed: the old token would stay valid unless the operator says so. */
	if (!a.ledger == !a.no_revoke)
		return cli_bad_usage("migrate start", NULL, "give --ledger SPEC (the old token is "
				     "revoked there once the guest moved) or --no-revoke-token, "
				     "not both");
	if (a.no_revoke && (a.ledger_ca || a.ledger_key || a.ledger_cert))
		return cli_bad_usage("migrate start", NULL, "--ledger-ca, --ledger-key and "
				     "--ledger-cert go with --ledger");
	if (a.ledger) {
		a.ledger_key = grant_cli_path(a.ledger_key, KT_LEDGER_KEY_ENV, NULL);
		a.ledger_cert = grant_cli_path(a.ledger_cert, KT_LEDGER_CERT_ENV, NULL);
		if (!a.ledger_key || !a.ledger_cert)
			return cli_bad_usage("migrate start", NULL, "--ledger needs the token "
					     "issuer's --ledger-key and --ledger-cert (or $%s and $%s)",
					     KT_LEDGER_KEY_ENV, KT_LEDGER_CERT_ENV);
	}
	if (a.expect_host && kt_uuid_canonical(a.expect_host, expect))
		return cli_bad_usage("migrate start", NULL, "--expect-host '%s' is not a UUID",
				     a.expect_host);
	ret = cli_need_files(a.token, a.guest_key, a.anchors, a.crls, a.grant, a.by, a.order,
			     a.launch, a.key_dir, a.ledger_key, a.ledger_cert, a.ledger_ca);
	if (ret)
		return ret;
	ret = KT_EXIT_FAILURE;
	cfg.expect_host = a.expect_host ? expect : NULL;
	token = cli_read_arg(a.token, KT_JWS_MAX_LEN, &err);
	key = token ? kt_pki_load_key(a.guest_key, &err) : NULL;
	if (!key || token_claims(token, &a, &err)) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	if (nonmigratable(a.vm, &err) || (a.ledger && revoke_possible(&a, &err))) {
		ret = cli_refused(&err);
		print_failed(&a, ret, &err);
		goto out;
	}
	if (kt_pki_dir_open(a.anchors, &cfg.anchors, &err) ||
	    (a.crls && kt_pki_dir_open(a.crls, &cfg.crls, &err)) ||
	    (a.qmp && !(s.qmp = kt_qmp_open(a.qmp, &err))) ||
	    (a.pid && migrate_vmm_open(&s.vmm, a.pid, a.vm, &err))) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	cfg.token = token;
	cfg.guest_key = key;
	signal(SIGPIPE, SIG_IGN);
	ret = run(&a, &s, &cfg);
out:
	if (s.lfd >= 0)
		close(s.lfd);
	if (s.dir[0]) {
		unlink(s.sock + 5);
		rmdir(s.dir);
	}
	kt_qmp_close(s.qmp);
	migrate_vmm_close(&s.vmm);
	kt_pki_dir_free(cfg.anchors);
	kt_pki_dir_free(cfg.crls);
	EVP_PKEY_free(key);
	free(token);
	return ret;
}
