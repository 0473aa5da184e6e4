// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust migrate receive: the destination side. It feeds a QEMU started
 * with -S -incoming unix:PATH and lets that copy run only after the guest
 * that arrived measures as the one that left and the source has released
 * its copy.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli_util.h"
#include "common/qmp.h"
#include "grant_common.h"
#include "identity/chanmsg.h"
#include "identity/handshake.h"
#include "ledger_cli.h"
#include "migrate_cli.h"
#include "net.h"
#include "policy/migrate_policy.h"
#include "print.h"
#include "subcommands.h"
#include "vm_ref.h"

#define REPLAY_CACHE 64
#define RECV_EXPECT_MAX 16

/* --expect UUID,QMP,INCOMING[,TOKEN-OUT]: one incoming QEMU a service offers. */
struct recv_expect {
	char uuid[KT_UUID_STR_LEN + 1];
	char *qmp, *incoming, *token_out;	/* in the option's copy (spec) */
	char spec[4096];
};

struct recv_args {
	const char *listen, *qmp, *incoming, *key, *cert, *anchors, *crls, *aud, *host_crls;
	const char *token_out, *report_out, *expect_config;
	int accepted_fd;	/* --accepted-fd: a connection a service accepted, -1: --listen */
	struct recv_expect expect[RECV_EXPECT_MAX];
	size_t nr_expect;	/* --expect: the guest is chosen by the token's subject */
	const char *lock_dir;	/* --lock-dir: one session per expected guest */
	pid_t pid;		/* --pid: a stopped VMM of ours waiting for the guest */
	enum kt_print_mode mode;
	struct grant_cli_trust_opts t;
	struct migrate_ledger ledger;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s migrate receive (--listen ADDR:PORT|unix:PATH | --accepted-fd FD)\n"
		"              (--qmp PATH --incoming PATH | --pid PID |\n"
		"               --expect UUID,QMP,INCOMING[,TOKEN-OUT]... --lock-dir DIR)\n"
		"              --key KEY --cert CERT --anchors DIR --crls DIR --aud AUDIENCE\n"
		"              [--owner-anchors DIR] [--owner-crls DIR] [--host-anchors DIR]\n"
		"              [--host-crls DIR] [--ledger SPEC] [--ledger-ca PATH]\n"
		"              [--token-out FILE] [--report-out FILE] [--expect-config-root HEX]\n"
		"              [--json]\n"
		"--token-out: the guest's new identity token, issued with --key/--cert once it\n"
		"runs here; --report-out: the source's verified final report; --pid: a stopped\n"
		"VMM of ours, started with the guest's configuration and --uuid.\n"
		"--accepted-fd: a connection a service (kvmtrustd) accepted; --expect (repeated):\n"
		"a waiting QEMU, chosen when the guest's token names its UUID; --lock-dir: where\n"
		"a session locks the guest it chose; a guest refused before its incoming socket\n"
		"was reached keeps waiting.\n"
		"See kvmtrust-migrate(8).\n", prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_REFUSED));
}

struct dest {
	const struct recv_args *a;
	struct kt_qmp *qmp;
	struct migrate_vmm vmm;		/* --pid: vmm.pid, else QEMU through qmp */
	const char *incoming, *token_out;	/* the chosen QEMU's */
	bool fed;			/* its incoming socket was reached */
	const struct kt_cred *host;
	struct kt_channel *ch;
	char vm[KT_UUID_STR_LEN + 1];	/* the incoming QEMU's -uuid */
	struct kt_cert_info me;
	const char *source_host;	/* the host that issued the guest's token */
	char nonce[65];			/* the challenge of the report asked for next */
	bool verified_first;
	uint64_t early_ms;		/* the measurement during the stream, 0: none */
	char grant_id[KT_UUID_STR_LEN + 1];	/* the grant the decision allowed the move by */
};

static X509 *cert_from_pem(const char *pem, struct kt_err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (!x)
		kt_fail_ssl(err, "protocol", "the administrator certificate is not PEM");
	return x;
}

/* kt_migrate_check for the token's VM, this host, and the source's grant. */
static int check(struct dest *d, json_t *req, struct kt_migrate_result *res, struct kt_err *err)
{
	const char *by = json_string_value(json_object_get(req, "by"));
	struct kt_migrate_request mr = {
		.vm = d->vm,
		.grant = json_string_value(json_object_get(req, "grant")),
		.admin_order = json_string_value(json_object_get(req, "order")),
		.host = d->host->cert,
		.host_untrusted = d->host->chain,
	};
	const struct recv_args *a = d->a;
	struct grant_cli_ledger ledger = { 0 };
	struct kt_err lerr = { 0 };
	int ret = -1;

	if (!mr.grant || (!by && !mr.admin_order))
		return kt_fail(err, "protocol", "the request names no grant or no administrator");
	if ((by && !(mr.admin = cert_from_pem(by, err))) ||
	    kt_pki_dir_open(a->t.owner_anchors, &mr.owner_anchors, err) ||
	    kt_pki_dir_open(a->t.host_anchors, &mr.host_anchors, err) ||
	    (a->t.owner_crls && kt_pki_dir_open(a->t.owner_crls, &mr.owner_crls, err)) ||
	    (a->host_crls && kt_pki_dir_open(a->host_crls, &mr.host_crls, err)))
		goto out;
	/* An unreadable ledger ends in the decision "error", which refuses. */
	if (grant_cli_ledger_open(a->t.ledger, a->t.ledger_ca, a->t.owner_anchors, KT_LEDGER_READ,
				  &ledger, &lerr))
		cli_error(NULL, &lerr, 0);
	mr.ledger = ledger.log;
	ret = kt_migrate_check(&mr, res, err);
out:
	X509_free(mr.admin);
	kt_pki_dir_free(mr.owner_anchors);
	kt_pki_dir_free(mr.owner_crls);
	kt_pki_dir_free(mr.host_anchors);
	kt_pki_dir_free(mr.host_crls);
	grant_cli_ledger_close(&ledger);
	return ret;
}

static int send_decision(struct dest *d, const char *name, const char *rule, const char *detail,
			 bool challenge, struct kt_err *err)
{
	json_t *msg;
	int rc;

	if (challenge && migrate_nonce(d->nonce, err))
		return -1;
	msg = json_pack("{s:s, s:s, s:s*, s:s*, s:s*}", "msg", "decision", "decision", name,
			"rule", rule, "detail", detail, "nonce", challenge ? d->nonce : NULL);
	rc = kt_chmsg_send_json(d->ch, msg, err);
	json_decref(msg);
	return rc;
}

/*
 * Verify first: the source's full measurement of the running guest, fresh
 * (this session's nonce), bound to the launch-configuration attestation,
 * both signed by the host that issued the guest's token.
 */
static int verify_evidence(struct dest *d, struct kt_err *err)
{
	json_t *ev = migrate_expect(kt_chmsg_recv_json(d->ch, err), "evidence", err);
	json_t *launch = NULL, *state = NULL;
	const char *lroot, *sroot;
	int ret = -1;

	if (!ev)
		return -1;
	if (migrate_verify_report(json_string_value(json_object_get(ev, "launch")), d->source_host,
				  d->a->anchors, d->a->crls, "launch-config", d->vm, NULL, &launch,
				  err) ||
	    migrate_verify_report(json_string_value(json_object_get(ev, "state")), d->source_host,
				  d->a->anchors, d->a->crls, "vm-state", d->vm, d->nonce, &state, err))
		goto out;
	lroot = json_string_value(json_object_get(launch, "config_root"));
	sroot = json_string_value(json_object_get(state, "config_root"));
	if (!lroot || !sroot || strcasecmp(lroot, sroot))
		kt_fail(err, "config-root", "the full measurement is bound to config %s, the launch "
			"attestation is %s", sroot ?: "(none)", lroot ?: "(none)");
	else if (d->a->expect_config && strcasecmp(lroot, d->a->expect_config))
		kt_fail(err, "config-root", "the guest was launched with config %s, expected %s",
			lroot, d->a->expect_config);
	else
		ret = 0;
out:
	json_decref(ev);
	json_decref(launch);
	json_decref(state);
	return ret;
}

/* Sends the decision; 0 only for allow (after verification when asked). */
static int decide(struct dest *d, json_t *req, struct kt_err *err)
{
	const struct kt_migrate_rule_result *first;
	struct kt_migrate_result res;
	struct kt_err verr = { 0 };
	const char *name;

	if (check(d, req, &res, err)) {
		send_decision(d, "error", err->check, err->msg, false, &verr);
		return -1;
	}
	/* The move entry names the grant that allowed it (ledger provenance, evidence). */
	snprintf(d->grant_id, sizeof(d->grant_id), "%s", res.grant_id);
	first = kt_migrate_first_failure(&res);
	name = res.decision == KT_MIGRATE_ALLOW_VERIFY ? "verify-first" :
	       kt_migrate_decision_name(res.decision);
	if (res.decision != KT_MIGRATE_ALLOW && res.decision != KT_MIGRATE_ALLOW_VERIFY) {
		if (!send_decision(d, name, first ? first->rule : NULL,
				   first ? first->detail : NULL, false, err))
			kt_fail(err, first ? first->rule : "decision", "decided %s%s%s", name,
				first ? ": " : "", first ? first->detail : "");
		return -1;
	}
	if (res.decision == KT_MIGRATE_ALLOW_VERIFY) {
		fprintf(stderr, "trust score %d: verify first\n", res.score);
		if (send_decision(d, name, "trust-score", NULL, true, err))
			return -1;
		if (verify_evidence(d, &verr)) {
			if (verr.check && !strcmp(verr.check, "truncated"))
				return kt_fail(err, verr.check, "%s", verr.msg);
			send_decision(d, "deny", "verify-first", verr.msg, false, err);
			return kt_fail(err, "verify-first", "%s: %s", verr.check ?: "?", verr.msg);
		}
		fprintf(stderr, "verify first: full measurement and launch attestation verified\n");
		d->verified_first = true;
	}
	return send_decision(d, "allow", NULL, NULL, true, err);
}

/*
 * At the source's first-pass mark (Documentation/migration.rst: QEMU's
 * first pass over the guest's RAM nearly done, zero pages included) the
 * guest is measured once while QEMU is stopped (--freeze): the module
 * keeps the tree, and what the rest of the stream writes is soft-dirty, so
 * the measurement at switchover can be incremental. The stream waits
 * meanwhile, while the source guest still runs. A failure costs only
 * that: the one at switchover, the proof, is then full.
 */
static void early_measure(struct dest *d, uint64_t bytes)
{
	struct migrate_roots r;
	struct kt_err err = { 0 };

	if (migrate_measure(kt_qmp_pid(d->qmp), KVMTRUST_MEASURE_F_FREEZE, &r, &err)) {
		fprintf(stderr, "warning: the measurement during the stream failed (%s: %s); the "
			"one at switchover will be full\n", err.check ?: "?", err.msg);
		return;
	}
	d->early_ms = r.ms ?: 1;
	fprintf(stderr, "measured at the first-pass mark (%llu bytes in): %llu pages hashed in "
		"%llu ms\n", (unsigned long long)bytes, (unsigned long long)r.pages_hashed,
		(unsigned long long)r.ms);
}

/* Feeds QEMU's incoming socket and waits for QEMU to load the whole state. */
static int receive(struct dest *d, uint64_t *bytes, struct kt_err *err)
{
	bool marked = false;
	char addr[256];
	int fd, rc;

	if (d->vmm.pid)
		return migrate_vmm_recv(&d->vmm, d->ch, bytes, err);
	snprintf(addr, sizeof(addr), "unix:%s", d->incoming);
	fd = net_connect(addr, MIGRATE_TIMEOUT);
	if (fd < 0)
		return kt_fail(err, "stream", "cannot reach QEMU's incoming socket %s", addr);
	d->fed = true;
	/* One measurement a stream: a further mark changes nothing. */
	while ((rc = kt_chmsg_relay_in(d->ch, fd, bytes, err)) == 1)
		if (!marked) {
			marked = true;
			early_measure(d, *bytes);
		}
	close(fd);
	return rc ? -1 : kt_qmp_wait_migrated(d->qmp, MIGRATE_QEMU_MS, err);
}

/*
 * The arrived guest against the source's final report: signed by the source
 * host with this session's nonce, and the roots equal to what arrived. The
 * arrived, paused guest is measured first, while the source measures its
 * copy (--freeze: incremental after the measurement during the stream).
 * *final: the source's final message arrived (only then is a failure an
 * attestation's).
 */
static int verify_arrival(struct dest *d, struct migrate_roots *mine, char **report, bool *final,
			  struct kt_err *err)
{
	json_t *fin, *claims = NULL;
	const char *jwt, *mem, *vcpu;
	int ret = -1;

	*final = false;
	/* Our VMM's guest: written through /proc/PID/mem, so measured in full. */
	if (migrate_measure(d->vmm.pid ?: kt_qmp_pid(d->qmp), d->vmm.pid ?
			    KVMTRUST_MEASURE_F_FREEZE | KVMTRUST_MEASURE_F_FULL :
			    KVMTRUST_MEASURE_F_FREEZE, mine, err))
		return -1;
	fprintf(stderr, "measured at switchover: %llu pages hashed (%s) in %llu ms\n",
		(unsigned long long)mine->pages_hashed, mine->full ? "full" : "incremental",
		(unsigned long long)mine->ms);
	fin = migrate_expect(kt_chmsg_recv_json(d->ch, err), "final", err);
	if (!fin)
		return -1;
	*final = true;
	jwt = json_string_value(json_object_get(fin, "report"));
	if (migrate_verify_report(jwt, d->source_host, d->a->anchors, d->a->crls, "vm-state", d->vm,
				  d->nonce, &claims, err))
		goto out;
	*report = strdup(jwt);
	mem = json_string_value(json_object_get(claims, "memory_root"));
	vcpu = json_string_value(json_object_get(claims, "vcpu_root"));
	if (!*report)
		kt_fail(err, "report", "out of memory");
	else if (!mem || strcasecmp(mem, mine->memory))
		kt_fail(err, "memory-root", "arrived %s, left %s", mine->memory, mem ?: "?");
	else if (!vcpu || strcasecmp(vcpu, mine->vcpu))
		kt_fail(err, "vcpu-root", "arrived %s, left %s", mine->vcpu, vcpu ?: "?");
	else
		ret = 0;
out:
	json_decref(claims);
	json_decref(fin);
	return ret;
}

/* The guest runs whatever the ledger says: a failed write is reported, not undone. */
static int record(struct dest *d, const char *memory_root, const char *report,
		  const char *failed)
{
	struct kt_err err = { 0 };
	kt_hash digest;

	if (report)
		migrate_report_digest(report, digest, NULL);
	if (!migrate_ledger_record(&d->a->ledger, d->vm, d->me.host_uuid, memory_root,
				   report ? digest : NULL, failed, d->grant_id, &err))
		return 0;
	cli_error("cannot record the migration in the ledger", &err, 0);
	return -1;
}

/*
 * The guest's identity on this host: a new token for the same guest key
 * (cnf) and audience, issued by this host's credential, for the lifetime
 * the old one had.
 */
static int new_token(struct dest *d, const struct kt_token *old, struct kt_err *err)
{
	struct kt_token_claims c = { 0 };
	char *tok = NULL;
	int64_t life = old->claims.exp - old->claims.iat;
	int ret;

	strcpy(c.sub, d->vm);
	snprintf(c.aud, sizeof(c.aud), "%s", old->claims.aud);
	c.exp = (int64_t)time(NULL) + (life > 0 && life < KT_TOKEN_MAX_LIFETIME ? life : 3600);
	c.cnf = old->claims.cnf;
	ret = kt_token_issue(d->host, &c, &tok, err) ||
	      cli_write_arg(d->token_out, tok, strlen(tok), 0644, err) ? -1 : 0;
	free(tok);
	return ret;
}

static void print_arrived(struct dest *d, const struct migrate_roots *r, const char *report,
			  uint64_t bytes, bool token)
{
	char digest[65];
	kt_hash dig;

	migrate_report_digest(report, dig, digest);
	kt_print_start(d->a->mode);
	kt_print_open_object(NULL);
	kt_print_string("verdict", "verdict: %s\n", "arrived");
	kt_print_string("vm", "vm: %s\n", d->vm);
	kt_print_string("guest", "guest: %s\n", "running");
	kt_print_string("source_host", "source_host: %s\n", d->source_host);
	kt_print_bool("verified_first", "verified_first: %s\n", d->verified_first);
	kt_print_string("memory_root", "memory_root: %s\n", r->memory);
	kt_print_string("vcpu_root", "vcpu_root: %s\n", r->vcpu);
	kt_print_string("report_digest", "report_digest: %s\n", digest);
	if (token) {
		kt_print_string("token", "token: %s\n", d->token_out);
		kt_print_string("token_issuer", "token_issuer: %s\n", d->me.host_uuid);
	}
	kt_print_u64("bytes", "bytes: %s\n", bytes);
	kt_print_u64("early_measure_ms", "early_measure_ms: %s\n", d->early_ms);
	kt_print_u64("pages_hashed", "pages_hashed: %s\n", r->pages_hashed);
	kt_print_bool("measure_full", "measure_full: %s\n", r->full);
	kt_print_u64("measure_ms", "measure_ms: %s\n", r->ms);
	kt_print_u64("cpu_ms", "cpu_ms: %s\n", migrate_cpu_ms());
	kt_print_close_object();
	kt_print_end();
}

static void send_msg(struct dest *d, const char *type, const char *detail)
{
	json_t *msg = json_pack("{s:s, s:s*}", "msg", type, "detail", detail);
	struct kt_err err = { 0 };

	kt_chmsg_send_json(d->ch, msg, &err);
	json_decref(msg);
}

static void discard(struct dest *d)
{
	struct kt_err err = { 0 };
	json_t *ret;

	if (d->vmm.pid) {
		migrate_vmm_kill(&d->vmm, "destination");
		return;
	}
	if (!d->qmp)
		return;		/* --expect: none was chosen */
	/* A service's guest that nothing reached may take the next attempt. */
	if (d->a->nr_expect && !d->fed) {
		fprintf(stderr, "destination guest: kept waiting (nothing reached it)\n");
		return;
	}
	ret = kt_qmp_exec(d->qmp, "quit", NULL, &err);
	fprintf(stderr, "destination guest: %s\n", ret ? "discarded" : err.msg);
	json_decref(ret);
}

/* --report-out: the source's final report once it verified, whether or not the roots agree. */
static void keep_report(struct dest *d, const char *report)
{
	struct kt_err err = { 0 };

	if (report && d->a->report_out &&
	    cli_write_arg(d->a->report_out, report, strlen(report), 0644, &err))
		cli_error("cannot keep the final report", &err, 0);
}

static int print_failed(struct dest *d, int status, const struct kt_err *err, uint64_t bytes)
{
	if (d->a->mode != KT_PRINT_JSON)
		return status;
	kt_print_start(d->a->mode);
	kt_print_open_object(NULL);
	kt_print_string("verdict", NULL, status == KT_EXIT_REFUSED ? "refused" : "error");
	kt_print_string("vm", NULL, d->vm);
	kt_print_string("check", NULL, err->check ?: "?");
	kt_print_string("message", NULL, err->msg);
	kt_print_u64("bytes", NULL, bytes);
	kt_print_u64("exit", NULL, (uint64_t)status);
	kt_print_close_object();
	kt_print_end();
	return status;
}

/* The QEMU at qmp, which must wait with -incoming and carry a -uuid ("qmp"). */
static int open_qemu(struct dest *d, const char *qmp, const char *incoming, const char *token_out,
		     struct kt_err *err)
{
	char state[32];

	d->incoming = incoming;
	d->token_out = token_out;
	if (!(d->qmp = kt_qmp_open(qmp, err)) ||
	    kt_qmp_runstate(d->qmp, state, sizeof(state), err))
		return -1;
	if (strcmp(state, "inmigrate"))
		return kt_fail(err, "qmp", "the QEMU at %s is %s, not waiting with -incoming", qmp,
			       state);
	if (vm_ref_uuid_of_pid(kt_qmp_pid(d->qmp), d->vm))
		return kt_fail(err, "qmp", "the QEMU at %s was started without -uuid", qmp);
	return 0;
}

/*
 * --expect: the waiting QEMU of the VM the token names, locked for this
 * session (refused "busy" while another session holds it; the lock goes
 * with the process). Without --expect the QEMU was opened before.
 */
static int choose(struct dest *d, const char *vm, struct kt_err *err)
{
	const struct recv_args *a = d->a;
	const struct recv_expect *e = NULL;
	char path[4096];
	size_t i;
	int fd;

	if (!a->nr_expect)
		return 0;
	for (i = 0; i < a->nr_expect && !e; i++)
		if (!strcmp(a->expect[i].uuid, vm))
			e = &a->expect[i];
	if (!e)
		return kt_fail(err, "vm", "no incoming QEMU here awaits VM %s", vm);
	snprintf(path, sizeof(path), "%s/%s.lock", a->lock_dir, vm);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return kt_fail(err, "lock", "%s: %m", path);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return kt_fail(err, "busy", "another session is receiving VM %s", vm);
	}
	fprintf(stderr, "receiving VM %s into the QEMU at %s\n", vm, e->qmp);
	return open_qemu(d, e->qmp, e->incoming, e->token_out, err);
}

static int session(struct dest *d, int fd, const struct kt_hs_host_cfg *cfg)
{
	struct kt_hs_result res = { 0 };
	struct migrate_roots roots;
	struct kt_err err = { 0 };
	uint64_t bytes = 0;
	bool arrived = false, token = false, final = false;
	json_t *msg = NULL, *ret;
	char *report = NULL;
	int rc, status = KT_EXIT_FAILURE;

	if (kt_handshake_host(fd, cfg, &res, &err))
		goto refused;
	d->ch = res.channel;
	d->source_host = res.token.signer.host_uuid;
	fprintf(stderr, "handshake: guest %s, token issued by host %s\n", res.token.claims.sub,
		d->source_host);
	if (choose(d, res.token.claims.sub, &err)) {
		send_msg(d, "decision", err.msg);
		goto refused;
	}
	if (strcmp(res.token.claims.sub, d->vm)) {
		kt_fail(&err, "vm", "the token is for VM %s, the incoming QEMU is %s",
			res.token.claims.sub, d->vm);
		send_msg(d, "decision", err.msg);
		goto refused;
	}
	msg = migrate_expect(kt_chmsg_recv_json(d->ch, &err), "request", &err);
	if (!msg || decide(d, msg, &err))
		goto refused;
	fprintf(stderr, "decision: allow; receiving\n");
	if (receive(d, &bytes, &err))
		goto refused;
	arrived = true;
	fprintf(stderr, "received %llu bytes; measuring the arrived guest\n",
		(unsigned long long)bytes);
	rc = verify_arrival(d, &roots, &report, &final, &err);
	keep_report(d, report);
	if (rc) {
		send_msg(d, "refused", err.msg);
		if (final)
			record(d, roots.memory, report, err.check ?: "arrival");
		goto refused;
	}
	send_msg(d, "verified", NULL);
	/* From here this copy is the one to run, once the source says it let go. */
	json_decref(msg);
	msg = migrate_expect(kt_chmsg_recv_json(d->ch, &err), "released", &err);
	if (!msg) {
		fprintf(stderr, "Error: %s: %s\nthe guest stays paused here: resume it only after "
			"checking that the source quit\n", err.check ?: "protocol", err.msg);
		goto out;
	}
	if (d->vmm.pid) {
		migrate_vmm_resume(&d->vmm);
	} else {
		ret = kt_qmp_exec(d->qmp, "cont", NULL, &err);
		if (!ret) {
			status = cli_error("cannot resume the arrived guest", &err,
					   KT_EXIT_FAILURE);
			goto out;
		}
		json_decref(ret);
	}
	if (d->token_out) {
		if (new_token(d, &res.token, &err)) {
			cli_error("cannot issue the guest's new token", &err, 0);
			send_msg(d, "running", "no new token issued");
			goto out;
		}
		token = true;
	}
	rc = record(d, roots.memory, report, NULL);
	/* The guest runs here: the source may revoke its old token. */
	send_msg(d, "running", rc ? "the move is not in the ledger" : NULL);
	if (rc)
		goto out;
	print_arrived(d, &roots, report, bytes, token);
	status = KT_EXIT_OK;
	goto out;
refused:
	status = err.check && strcmp(err.check, "qmp") && strcmp(err.check, "stream") &&
		 strcmp(err.check, "migration") ? cli_refused(&err) : cli_error(NULL, &err, 1);
	print_failed(d, status, &err, bytes);
	if (arrived || bytes)
		fprintf(stderr, "received %llu bytes\n", (unsigned long long)bytes);
	discard(d);
out:
	free(report);
	json_decref(msg);
	kt_hs_result_free(&res);
	d->ch = NULL;
	d->source_host = NULL;
	return status;
}

static int serve(const struct recv_args *a, const struct kt_cred *host)
{
	struct kt_hs_host_cfg cfg = { .host = host };
	struct ledger_revocations rev = { 0 };
	struct dest d = { .a = a, .host = host, .token_out = a->token_out };
	struct kt_err err = { 0 };
	int lfd = -1, fd, ret = KT_EXIT_FAILURE;

	cfg.verify.audience = a->aud;
	cfg.verify.skew = 60;
	cfg.verify.trl_dir = a->crls;
	cfg.replay = kt_replay_cache_new(REPLAY_CACHE);
	/* The ledger's token revocations too: a revoked (moved) guest identity is refused. */
	cfg.verify.revoked = ledger_token_revoked;
	cfg.verify.revoked_arg = &rev;
	if (!cfg.replay || ledger_revocations_open(a->t.ledger, a->t.ledger_ca, &rev, &err) ||
	    kt_pki_dir_open(a->anchors, &cfg.verify.anchors, &err) ||
	    kt_pki_dir_open(a->crls, &cfg.verify.crls, &err) ||
	    kt_pki_cert_info(host->cert, &d.me, &err)) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	if (a->pid) {
		if (migrate_vmm_open(&d.vmm, a->pid, NULL, &err) || migrate_vmm_waiting(&d.vmm, &err)) {
			ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
			goto out;
		}
		memcpy(d.vm, d.vmm.vm, sizeof(d.vm));
		goto listen;
	}
	if (!a->nr_expect && open_qemu(&d, a->qmp, a->incoming, a->token_out, &err)) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
listen:
	if (a->accepted_fd >= 0) {
		fd = a->accepted_fd;
	} else {
		lfd = net_listen(a->listen);
		if (lfd < 0)
			goto out;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "Unable to accept: %m\n");
			goto out;
		}
	}
	net_set_timeouts(fd, MIGRATE_TIMEOUT);
	ret = session(&d, fd, &cfg);
	close(fd);
out:
	if (lfd >= 0)
		close(lfd);
	kt_qmp_close(d.qmp);
	migrate_vmm_close(&d.vmm);
	kt_pki_dir_free(cfg.verify.anchors);
	kt_pki_dir_free(cfg.verify.crls);
	kt_replay_cache_free(cfg.replay);
	ledger_revocations_close(&rev);
	return ret;
}

/* UUID,QMP,INCOMING[,TOKEN-OUT]: absolute paths without commas. */
static int add_expect(struct recv_args *a, const char *arg)
{
	struct recv_expect *e = &a->expect[a->nr_expect];
	char *f[4] = { 0 }, *save = NULL, *p;
	size_t n = 0, i;

	if (a->nr_expect == RECV_EXPECT_MAX)
		return cli_bad_usage("migrate receive", NULL, "--expect is given more than %d times",
				     RECV_EXPECT_MAX);
	if (strlen(arg) >= sizeof(e->spec))
		return cli_bad_usage("migrate receive", NULL, "--expect '%s' is too long", arg);
	strcpy(e->spec, arg);
	for (p = strtok_r(e->spec, ",", &save); p && n < 4; p = strtok_r(NULL, ",", &save))
		f[n++] = p;
	if (n < 3 || p || kt_uuid_canonical(f[0], e->uuid))
		return cli_bad_usage("migrate receive", NULL,
				     "--expect '%s' is not UUID,QMP,INCOMING[,TOKEN-OUT]", arg);
	for (i = 1; i < n; i++)
		if (f[i][0] != '/')
			return cli_bad_usage("migrate receive", NULL,
					     "--expect '%s': '%s' is not an absolute path", arg, f[i]);
	for (i = 0; i < a->nr_expect; i++)
		if (!strcmp(a->expect[i].uuid, e->uuid))
			return cli_bad_usage("migrate receive", NULL,
					     "--expect names VM %s twice", e->uuid);
	e->qmp = f[1];
	e->incoming = f[2];
	e->token_out = f[3];
	a->nr_expect++;
	return 0;
}

/* The guest: --qmp and --incoming, --pid, or --expect (with --lock-dir). */
static bool one_guest(const struct recv_args *a)
{
	int given = (a->qmp || a->incoming) + !!a->pid + !!a->nr_expect;

	if (given != 1 || (a->nr_expect && a->token_out) || !a->nr_expect != !a->lock_dir)
		return false;
	return a->pid || a->nr_expect || (a->qmp && a->incoming);
}

int migrate_receive_main(int argc, char *argv[])
{
	enum { O_LISTEN = 256, O_QMP, O_INCOMING, O_KEY, O_CERT, O_ANCH, O_CRLS, O_AUD, O_HOST_CRLS,
	       O_TOKEN_OUT, O_REPORT_OUT, O_EXPECT_CONFIG, O_PID, O_ACCEPTED_FD, O_EXPECT,
	       O_LOCK_DIR };
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "qmp", required_argument, NULL, O_QMP },
		{ "incoming", required_argument, NULL, O_INCOMING },
		{ "pid", required_argument, NULL, O_PID },
		{ "accepted-fd", required_argument, NULL, O_ACCEPTED_FD },
		{ "expect", required_argument, NULL, O_EXPECT },
		{ "lock-dir", required_argument, NULL, O_LOCK_DIR },
		{ "key", required_argument, NULL, O_KEY },
		{ "cert", required_argument, NULL, O_CERT },
		{ "anchors", required_argument, NULL, O_ANCH },
		{ "crls", required_argument, NULL, O_CRLS },
		{ "aud", required_argument, NULL, O_AUD },
		{ "host-crls", required_argument, NULL, O_HOST_CRLS },
		{ "token-out", required_argument, NULL, O_TOKEN_OUT },
		{ "report-out", required_argument, NULL, O_REPORT_OUT },
		{ "expect-config-root", required_argument, NULL, O_EXPECT_CONFIG },
		CLI_OUTPUT_OPTIONS,
		GRANT_CLI_TRUST_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct recv_args a;
	struct kt_cred host = { 0 };
	struct kt_err err = { 0 };
	uint32_t pid, fd;
	int opt, ret;
	size_t i;

	memset(&a, 0, sizeof(a));
	a.accepted_fd = -1;

	while ((opt = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (opt) {
		case O_LISTEN: a.listen = optarg; break;
		case O_QMP: a.qmp = optarg; break;
		case O_INCOMING: a.incoming = optarg; break;
		case O_PID:
			if (!cli_parse_u32("pid", optarg, 1, INT32_MAX, &pid))
				return KT_EXIT_USAGE;
			a.pid = (pid_t)pid;
			break;
		case O_KEY: a.key = optarg; break;
		case O_CERT: a.cert = optarg; break;
		case O_ANCH: a.anchors = optarg; break;
		case O_CRLS: a.crls = optarg; break;
		case O_AUD: a.aud = optarg; break;
		case O_HOST_CRLS: a.host_crls = optarg; break;
		case O_TOKEN_OUT: a.token_out = optarg; break;
		case O_REPORT_OUT: a.report_out = optarg; break;
		case O_EXPECT_CONFIG: a.expect_config = optarg; break;
		case O_ACCEPTED_FD:
			if (!cli_parse_u32("accepted-fd", optarg, 0, INT32_MAX, &fd))
				return KT_EXIT_USAGE;
			a.accepted_fd = (int)fd;
			break;
		case O_EXPECT:
			if (add_expect(&a, optarg))
				return KT_EXIT_USAGE;
			break;
		case O_LOCK_DIR: a.lock_dir = optarg; break;
		default:
			if (cli_output_option(opt, &a.mode))
				break;
			if (grant_cli_trust_option(opt, optarg, &a.t))
				break;
			return cli_option_usage(usage, opt);
		}
	}
	if (!a.listen == (a.accepted_fd < 0) || !one_guest(&a) || !a.key || !a.cert ||
	    !a.anchors || !a.crls || !a.aud || optind != argc)
		return cli_bad_usage("migrate receive", usage, "--listen or --accepted-fd; --qmp and "
				     "--incoming, --pid, or --expect with --lock-dir (and no "
				     "--token-out); --key, --cert, --anchors, --crls and --aud "
				     "are required");
	if (a.expect_config && (strlen(a.expect_config) != 64 ||
				strspn(a.expect_config, "0123456789abcdefABCDEF") != 64))
		return cli_bad_usage("migrate receive", NULL, "--expect-config-root takes 64 hex digits");
	a.t.owner_anchors = grant_cli_path(a.t.owner_anchors, KT_OWNER_ANCHORS_ENV,
					   KT_OWNER_ANCHORS_DEFAULT);
	a.t.host_anchors = grant_cli_path(a.t.host_anchors, KT_HOST_ANCHORS_ENV,
					  KT_HOST_ANCHORS_DEFAULT);
	ret = cli_need_files(a.key, a.cert, a.anchors, a.crls, a.t.owner_anchors, a.t.owner_crls,
			     a.t.host_anchors, a.host_crls, a.lock_dir);
	if (ret)
		return ret;
	a.ledger = (struct migrate_ledger){ .spec = a.t.ledger, .ca = a.t.ledger_ca,
		.owners = a.t.owner_anchors, .key = a.key, .cert = a.cert };
	if (kt_cred_load_files(a.key, a.cert, &host, &err) ||
	    (a.token_out && cli_output_check(a.token_out, false, &err)) ||
	    (a.report_out && cli_output_check(a.report_out, false, &err)))
		return cli_error(NULL, &err, KT_EXIT_FAILURE);
	for (i = 0; i < a.nr_expect; i++)
		if (a.expect[i].token_out && cli_output_check(a.expect[i].token_out, false, &err))
			return cli_error(NULL, &err, KT_EXIT_FAILURE);
	signal(SIGPIPE, SIG_IGN);
	ret = serve(&a, &host);
	kt_cred_free(&host);
	return ret;
}
