// SPDX-License-Identifier: GPL-2.0
/* One attestation round of one guest (guest.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "attest/report.h"
#include "common/encoding.h"
#include "guest.h"
#include "libvirt.h"
#include "ledger/ledger_auth.h"
#include "ledger/score.h"
#include "measure/kt_attach.h"
#include "measure/vmm_cmdline.h"
#include "policy/runtime.h"

int ktd_ctx_open(const struct ktd_config *c, struct ktd_ctx *ctx, struct kt_err *err)
{
	const char *dir = c->key_dir ? c->key_dir : kt_hostkey_default_dir();
	const char *tcti = c->tcti ? c->tcti : kt_hostkey_default_tcti();

	memset(ctx, 0, sizeof(*ctx));
	ctx->libvirt_run_dir = c->libvirt_run_dir;
	if (kt_hostkey_open(dir, tcti, &ctx->hk, err) ||
	    kt_ledger_signer_load(c->ledger_key, c->ledger_cert, &ctx->signer, err) ||
	    kt_ledger_auth_load(c->ledger_ca, c->owner_anchors, &ctx->auth, err) ||
	    kt_ledger_open(c->ledger, ctx->auth, KT_LEDGER_WRITE, &ctx->log, err) ||
	    /* Each score after an append verifies only what is new since the last. */
	    kt_ledger_checkpoint_memory(ctx->log, err)) {
		ktd_ctx_close(ctx);
		return -1;
	}
	return 0;
}

void ktd_ctx_close(struct ktd_ctx *ctx)
{
	kt_ledger_close(ctx->log);
	kt_ledger_auth_free(ctx->auth);
	kt_ledger_signer_free(&ctx->signer);
	kt_hostkey_close(ctx->hk);
	memset(ctx, 0, sizeof(*ctx));
}

void ktd_guest_init(struct ktd_guest *g, const struct ktd_vm_config *cfg)
{
	memset(g, 0, sizeof(*g));
	g->cfg = *cfg;
	g->awaiting = cfg->incoming[0] != '\0';
	if (g->awaiting)
		strcpy(g->uuid, cfg->uuid);	/* named by uuid alone (config.c) */
	g->score = -1;
	g->prev_score = -1;
}

uint64_t ktd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int guest_fail(struct ktd_guest *g, const char *what, const char *why)
{
	snprintf(g->last_error, sizeof(g->last_error), "%s: %s", what, why);
	return -1;
}

/*
 * The VMM and the UUID the ledger knows the guest by. A configured pid must
 * still carry the configured UUID (a reused pid is another guest); a guest
 * named by UUID alone is looked up each round, so a restarted VMM is found
 * and a reused pid is never taken for it.
 */
static int resolve(const struct ktd_ctx *ctx, struct ktd_guest *g, char *buf)
{
	char uuid[KT_UUID_STR_LEN + 1];
	const char *bad;
	pid_t pids[2];
	int ret;

	g->pid = 0;
	if (g->cfg.libvirt[0])
		return ktd_guest_libvirt_pid(ctx, g, &g->pid);
	if (!g->cfg.pid) {
		if (kt_vmm_uuid_claims(g->cfg.uuid, buf, pids, 2) != 1)
			return guest_fail(g, "resolve", "not exactly one running process has "
					  "this -uuid: give pid in the [vm] section");
		strcpy(g->uuid, g->cfg.uuid);
		g->pid = pids[0];
		return 0;
	}
	ret = kt_vmm_pid_uuid(g->cfg.pid, buf, uuid, &bad);
	if (ret < 0)
		return guest_fail(g, "resolve", strerror(-ret));
	if (ret == 1 && !g->cfg.uuid[0])
		return guest_fail(g, "resolve", "the VMM has no -uuid: give uuid in the [vm] section");
	if (ret == 0 && g->cfg.uuid[0] && strcmp(uuid, g->cfg.uuid))
		return guest_fail(g, "resolve", "the process runs another VM (its -uuid differs)");
	strcpy(g->uuid, ret == 0 ? uuid : g->cfg.uuid);
	g->pid = g->cfg.pid;
	return 0;
}

int ktd_guest_libvirt_pid(const struct ktd_ctx *ctx, struct ktd_guest *g, pid_t *pid)
{
	char why[sizeof(g->last_error) - 16];

	/* Read each round: a restarted domain has a new pid, a stopped one none. */
	if (ktd_libvirt_resolve(ctx->libvirt_run_dir, g->cfg.libvirt, pid, g->uuid, why,
				sizeof(why))) {
		*pid = 0;
		return guest_fail(g, "resolve", why);
	}
	return 0;
}

/*
 * Keeps the signed report (REPORT_DIR/UUID-TIME-NONCE.jwt, written whole
 * then renamed) and digests its bytes: that digest goes into the ledger
 * entry, so the entry names the evidence anyone can check it against.
 */
static int keep_report(struct ktd_guest *g, const char *dir, const char *nonce, const char *jwt)
{
	char tmp[4096 + 8];
	size_t len = strlen(jwt);
	FILE *f;
	int n;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return guest_fail(g, "report", strerror(errno));
	n = snprintf(g->report_path, sizeof(g->report_path), "%s/%s-%lld-%.8s.jwt", dir, g->uuid,
		     (long long)time(NULL), nonce);
	if (n < 0 || (size_t)n >= sizeof(g->report_path))
		return guest_fail(g, "report", "report_dir is too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp", g->report_path);
	f = fopen(tmp, "wxe");
	if (!f)
		return guest_fail(g, "report", strerror(errno));
	n = fwrite(jwt, 1, len, f) != len;
	if (fclose(f) || n || rename(tmp, g->report_path)) {
		unlink(tmp);
		return guest_fail(g, "report", "unable to write the report");
	}
	kt_sha256(jwt, len, g->report_digest);
	return 0;
}

/*
 * Signs the round's claims with the host key: the daemon is the verifier,
 * its challenge (eat_nonce) is fresh from the CSPRNG for every round, so a
 * report is never replayed for another round.
 */
static int sign_report(struct ktd_ctx *ctx, struct ktd_guest *g, const struct kt_measurement *km,
		       const char *report_dir)
{
	struct kt_vm_state m = { .has_vcpu_root = km->has_vcpu_root, .pages = km->pages,
				 .seq = km->seq };
	uint8_t raw[16];
	char nonce[2 * sizeof(raw) + 1];
	struct kt_err err = { 0 };
	json_t *claims;
	char *jwt = NULL;
	size_t i;
	int ret;

	memcpy(m.memory_root, km->memory_root, KT_HASH_LEN);
	memcpy(m.vcpu_root, km->vcpu_root, KT_HASH_LEN);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return guest_fail(g, "sign", "no random nonce");
	for (i = 0; i < sizeof(raw); i++)
		sprintf(nonce + 2 * i, "%02x", raw[i]);
	claims = kt_report_vm_claims(g->uuid, &m, nonce, NULL);
	if (!claims)
		return guest_fail(g, "sign", "out of memory");
	ret = kt_report_sign(ctx->hk, claims, &jwt, &err);
	json_decref(claims);
	if (ret) {
		free(jwt);
		return guest_fail(g, "sign", err.msg);
	}
	ret = keep_report(g, report_dir, nonce, jwt);
	free(jwt);
	return ret;
}

/* The score just before the step of entry index (the start score if first). */
static int prev_score(const struct kt_score_result *res, uint64_t index)
{
	size_t i;

	for (i = 0; i < res->nsteps; i++)
		if (res->steps[i].index == index && strcmp(res->steps[i].reason, "decay"))
			return i ? res->steps[i - 1].score : KT_SCORE_START;
	return -1;
}

static int record(struct ktd_ctx *ctx, struct ktd_guest *g, bool pass, const kt_hash root)
{
	struct kt_ledger_entry e = { .kind = KT_LEDGER_ATTEST,
				     .result = pass ? KT_LEDGER_PASS : KT_LEDGER_FAIL };
	struct kt_score_result res;
	struct kt_err err = { 0 };
	kt_hash leaf;

	e.time = (uint64_t)time(NULL);
	memcpy(e.measurement, root, KT_HASH_LEN);
	strcpy(e.vm_id, g->uuid);
	/* Format 3: the entry names its evidence, and on a fail the failing range. */
	memcpy(e.report, g->report_digest, KT_HASH_LEN);
	snprintf(e.detail, sizeof(e.detail), "%s", g->failed_range);
	if (kt_ledger_append(ctx->log, &ctx->signer, &e, leaf, &err))
		return guest_fail(g, "ledger", err.msg);
	g->last_index = e.index;
	g->last_result = e.result;
	g->last_time = (time_t)e.time;
	g->rounds++;
	pass ? g->passes++ : g->fails++;
	/* The appended entry counts; a score that cannot be read is shown unknown. */
	if (kt_score_compute(ctx->log, g->uuid, e.time, &res, &err)) {
		g->score = g->prev_score = -1;
		fprintf(stderr, "kvmtrustd: [vm %s] score: %s\n", g->cfg.name, err.msg);
		return 0;
	}
	g->prev_score = prev_score(&res, e.index);
	g->score = res.score;
	g->host_compromised = res.host_compromised;
	memcpy(g->host_id, res.host_id, KT_UUID_LEN);
	kt_score_result_free(&res);
	return 0;
}

static void count_latency(struct ktd_guest *g, uint64_t trigger_ns)
{
	uint64_t now = ktd_now_ns(), us = now > trigger_ns ? (now - trigger_ns) / 1000 : 0;

	g->lat_last_us = us;
	if (!g->lat_n || us < g->lat_min_us)
		g->lat_min_us = us;
	if (us > g->lat_max_us)
		g->lat_max_us = us;
	g->lat_sum_us += us;
	g->lat_n++;
}

/*
 * With a runtime integrity policy (Documentation/policy.rst): freeze,
 * measure (incrementally after the first), read the protected ranges'
 * leaves and the vCPUs' registers bound to that measurement, compare.
 */
static int policy_round(struct ktd_ctx *ctx, struct ktd_guest *g, const char *report_dir)
{
	struct kt_rp_evidence ev;
	struct kt_rp_verdict v;
	struct kt_err err = { 0 };
	struct kt_nl *nl;
	struct kt_vm vm;
	bool attached;
	int ret;

	nl = kt_nl_open(&err);
	if (!nl)
		return guest_fail(g, "measure", err.msg);
	ret = kt_vm_attach_pid(nl, g->pid, &vm, &attached, &err);
	if (!ret)
		ret = kt_rp_gather(nl, vm.vm_id, 0, &g->cfg.policy, &ev, &err);
	kt_nl_close(nl);
	if (ret)
		return guest_fail(g, "policy", err.msg[0] ? err.msg : strerror(-ret));
	memcpy(g->last_root, ev.m.memory_root, KT_HASH_LEN);
	kt_rp_evaluate(&g->cfg.policy, &ev, &v);
	kt_rp_evidence_free(&ev);
	if (sign_report(ctx, g, &ev.m, report_dir))
		return -1;
	if (!v.pass)
		fprintf(stderr, "kvmtrustd: [vm %s] policy: %s\n", g->cfg.name, v.why);
	snprintf(g->failed_range, sizeof(g->failed_range), "%s", v.failed);
	return record(ctx, g, v.pass, ev.m.memory_root);
}

int ktd_guest_attest(struct ktd_ctx *ctx, struct ktd_guest *g, const char *report_dir,
		     unsigned int kind, uint64_t trigger_ns)
{
	char *buf = malloc(KT_VMM_CMDLINE_MAX);
	struct kt_measurement km;
	struct kt_err err = { 0 };
	bool pass;
	int ret;

	g->last_error[0] = '\0';
	ret = buf ? resolve(ctx, g, buf) : guest_fail(g, "resolve", "out of memory");
	free(buf);
	if (ret)
		return ret;
	g->last_trigger = kind;
	g->triggered[kind < 5 ? kind : 0]++;
	/* Trigger to measurement start: the measurement begins here. */
	if (trigger_ns)
		count_latency(g, trigger_ns);
	if (g->cfg.has_policy)
		return policy_round(ctx, g, report_dir);
	ret = kt_vm_measure_pid(g->pid, 0, &km, &err);
	if (ret)
		return guest_fail(g, "measure", err.msg[0] ? err.msg : strerror(-ret));
	memcpy(g->last_root, km.memory_root, KT_HASH_LEN);
	if (sign_report(ctx, g, &km, report_dir))
		return -1;
	if (g->cfg.learn && !g->learned) {
		memcpy(g->cfg.memory_root, km.memory_root, KT_HASH_LEN);
		g->learned = true;
	}
	pass = !memcmp(g->cfg.memory_root, km.memory_root, KT_HASH_LEN);
	/* The whole-memory policy has one range: all of guest memory. */
	strcpy(g->failed_range, pass ? "" : "memory_root");
	return record(ctx, g, pass, km.memory_root);
}
