// SPDX-License-Identifier: GPL-2.0
/* One attestation round of one guest (guest.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "attest/report.h"
#include "common/encoding.h"
#include "guest.h"
#include "ledger/ledger_auth.h"
#include "ledger/score.h"
#include "measure/kt_attach.h"
#include "measure/vmm_cmdline.h"

int ktd_ctx_open(const struct ktd_config *c, struct ktd_ctx *ctx, struct kt_err *err)
{
	const char *dir = c->key_dir ? c->key_dir : kt_hostkey_default_dir();
	const char *tcti = c->tcti ? c->tcti : kt_hostkey_default_tcti();

	memset(ctx, 0, sizeof(*ctx));
	if (kt_hostkey_open(dir, tcti, &ctx->hk, err) ||
	    kt_ledger_signer_load(c->ledger_key, c->ledger_cert, &ctx->signer, err) ||
	    kt_ledger_auth_load(c->ledger_ca, c->owner_anchors, &ctx->auth, err) ||
	    kt_ledger_open(c->ledger, ctx->auth, KT_LEDGER_WRITE, &ctx->log, err)) {
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
	g->score = -1;
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
static int resolve(struct ktd_guest *g, char *buf)
{
	char uuid[KT_UUID_STR_LEN + 1];
	const char *bad;
	pid_t pids[2];
	int ret;

	g->pid = 0;
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

/* Signs the round's claims: the report is the evidence behind the entry. */
static int sign_report(struct ktd_ctx *ctx, struct ktd_guest *g, const struct kt_measurement *km)
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
	if (!ret && kt_report_digest(claims, g->report_digest))
		ret = kt_fail(&err, "digest", "cannot digest the claims");
	free(jwt);
	json_decref(claims);
	return ret ? guest_fail(g, "sign", err.msg) : 0;
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
	if (kt_ledger_append(ctx->log, &ctx->signer, &e, leaf, &err))
		return guest_fail(g, "ledger", err.msg);
	g->last_index = e.index;
	g->last_result = e.result;
	g->last_time = (time_t)e.time;
	g->rounds++;
	pass ? g->passes++ : g->fails++;
	/* The appended entry counts; a score that cannot be read is shown unknown. */
	if (kt_score_compute(ctx->log, g->uuid, e.time, &res, &err)) {
		g->score = -1;
		fprintf(stderr, "kvmtrustd: [vm %s] score: %s\n", g->cfg.name, err.msg);
		return 0;
	}
	g->score = res.score;
	kt_score_result_free(&res);
	return 0;
}

int ktd_guest_attest(struct ktd_ctx *ctx, struct ktd_guest *g)
{
	char *buf = malloc(KT_VMM_CMDLINE_MAX);
	struct kt_measurement km;
	struct kt_err err = { 0 };
	bool pass;
	int ret;

	g->last_error[0] = '\0';
	ret = buf ? resolve(g, buf) : guest_fail(g, "resolve", "out of memory");
	free(buf);
	if (ret)
		return ret;
	ret = kt_vm_measure_pid(g->pid, 0, &km, &err);
	if (ret)
		return guest_fail(g, "measure", err.msg[0] ? err.msg : strerror(-ret));
	memcpy(g->last_root, km.memory_root, KT_HASH_LEN);
	if (sign_report(ctx, g, &km))
		return -1;
	if (g->cfg.learn && !g->learned) {
		memcpy(g->cfg.memory_root, km.memory_root, KT_HASH_LEN);
		g->learned = true;
	}
	pass = !memcmp(g->cfg.memory_root, km.memory_root, KT_HASH_LEN);
	return record(ctx, g, pass, km.memory_root);
}
