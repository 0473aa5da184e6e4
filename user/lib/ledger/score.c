// SPDX-License-Identifier: GPL-2.0
/* Trust scores from the ledger: the rules are listed in score.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/score.h"

#define NONE KT_LEDGER_NO_INDEX

struct host {
	uint8_t id[KT_UUID_LEN];
	uint64_t flagged;	/* first compromise entry, or NONE */
	uint64_t revoked;	/* first revoke entry, or NONE */
	struct kt_ledger_fail *fails;
	size_t nfails, cap;
};

struct kt_score {
	char vm[KT_LEDGER_VM_MAX + 1];
	uint64_t now;
	bool oom;
	struct kt_ledger_vm_state v;	/* the VM's own entries, folded */
	struct kt_score_result res;
	size_t cap;
	struct host *hosts;
	size_t nhosts;
};

enum kt_score_decision kt_score_decide(int score, bool last_failed)
{
	if (score > KT_SCORE_ALLOW_ABOVE)
		return last_failed ? KT_SCORE_VERIFY : KT_SCORE_ALLOW;
	if (score >= KT_SCORE_DENY_BELOW)
		return KT_SCORE_VERIFY;
	return KT_SCORE_DENY;
}

const char *kt_score_decision_name(enum kt_score_decision d)
{
	return d == KT_SCORE_ALLOW ? "allow" : d == KT_SCORE_VERIFY ? "verify" : "deny";
}

struct kt_score *kt_score_new(const char *vm_id, uint64_t now)
{
	struct kt_score *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	snprintf(s->vm, sizeof(s->vm), "%s", vm_id);
	s->now = now;
	kt_score_vm_init(&s->v);
	return s;
}

void kt_score_vm_init(struct kt_ledger_vm_state *v)
{
	memset(v, 0, sizeof(*v));
	v->score = KT_SCORE_START;
	v->revoked = NONE;
}

void kt_score_free(struct kt_score *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nhosts; i++)
		free(s->hosts[i].fails);
	free(s->hosts);
	free(s->res.steps);
	free(s);
}

static struct host *host_get(struct kt_score *s, const uint8_t id[KT_UUID_LEN])
{
	struct host *grown;
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		if (!memcmp(s->hosts[i].id, id, KT_UUID_LEN))
			return &s->hosts[i];
	grown = realloc(s->hosts, (s->nhosts + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	s->hosts = grown;
	grown = &s->hosts[s->nhosts++];
	memset(grown, 0, sizeof(*grown));
	memcpy(grown->id, id, KT_UUID_LEN);
	grown->flagged = grown->revoked = NONE;
	return grown;
}

static int clamp(int v)
{
	return v < 0 ? 0 : v > KT_SCORE_MAX ? KT_SCORE_MAX : v;
}

/* Records a step of delta, already applied to the score. */
static void record(struct kt_score *s, uint64_t index, const char *reason, int delta)
{
	struct kt_score_step *grown;

	if (s->res.nsteps == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		grown = realloc(s->res.steps, s->cap * sizeof(*grown));
		if (!grown) {
			s->oom = true;
			return;
		}
		s->res.steps = grown;
	}
	s->res.steps[s->res.nsteps++] = (struct kt_score_step){
		.index = index, .reason = reason, .delta = delta, .score = s->v.score,
	};
}

static void step(struct kt_score *s, uint64_t index, const char *reason, int delta)
{
	s->v.score = clamp(s->v.score + delta);
	record(s, index, reason, delta);
}

const char *kt_score_vm_apply(struct kt_ledger_vm_state *v, const struct kt_ledger_entry *e,
			      int *delta)
{
	*delta = 0;
	/* The latest entry by index: a checkpoint's kept entries come after its folded state. */
	if (!v->seen || e->index >= v->last_index) {
		v->last_time = e->time;
		v->last_index = e->index;
	}
	v->seen = true;
	if (e->kind == KT_LEDGER_ATTEST || e->kind == KT_LEDGER_MOVE ||
	    e->kind == KT_LEDGER_ROLLBACK)
		memcpy(v->host_id, e->host_id, KT_UUID_LEN);
	if (e->kind == KT_LEDGER_REVOKE && e->index < v->revoked)
		v->revoked = e->index;
	if (e->kind != KT_LEDGER_ATTEST && e->kind != KT_LEDGER_MOVE &&
	    e->kind != KT_LEDGER_ROLLBACK)
		return NULL;
	v->steps++;
	if (e->kind != KT_LEDGER_ATTEST)
		/* A rollback proves a restored state; the next attestation scores it. */
		return kt_ledger_kind_name(e->kind);
	v->last_result = e->result;
	v->last_attest = e->index;
	*delta = e->result == KT_LEDGER_PASS ? KT_SCORE_PASS : KT_SCORE_FAIL;
	v->score = clamp(v->score + *delta);
	return e->result == KT_LEDGER_PASS ? "pass" : "fail";
}

int kt_score_add_fail(struct kt_ledger_fail **fails, size_t *n, size_t *cap, uint64_t time,
		      uint64_t index)
{
	struct kt_ledger_fail *grown;

	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		grown = realloc(*fails, *cap * sizeof(*grown));
		if (!grown)
			return -1;
		*fails = grown;
	}
	(*fails)[(*n)++] = (struct kt_ledger_fail){ .time = time, .index = index };
	return 0;
}

static int add_fail(struct host *h, const struct kt_ledger_entry *e)
{
	return kt_score_add_fail(&h->fails, &h->nfails, &h->cap, e->time, e->index);
}

/* A checkpoint's folded state: the host's failures, the VM's score so far. */
static int feed_folded(struct kt_score *s, const struct kt_ledger_entry *e)
{
	const struct kt_ledger_host_state *hs = e->host_state;
	const struct kt_ledger_vm_state *vs = e->vm_state;
	struct host *h;
	size_t i;
	int before;

	if (e->kind == KT_LEDGER_FOLDED_HOST) {
		if (!(h = host_get(s, hs->host)))
			return -1;
		for (i = 0; i < hs->nfails; i++)
			if (kt_score_add_fail(&h->fails, &h->nfails, &h->cap, hs->fails[i].time,
					      hs->fails[i].index))
				return -1;
		return 0;
	}
	if (strcmp(e->vm_id, s->vm) || !vs->seen)
		return 0;
	/* Visited first, before the checkpoint's kept entries. */
	before = s->v.score;
	s->v = *vs;
	/* Its steps folded into one, at its last entry. */
	record(s, vs->last_index, "checkpoint", vs->score - before);
	return s->oom ? -1 : 0;
}

/* Facts about hosts, gathered from every entry whoever it is about. */
static int note_host(struct kt_score *s, const struct kt_ledger_entry *e)
{
	struct host *h = host_get(s, e->host_id);

	if (!h)
		return -1;
	if (e->kind == KT_LEDGER_ATTEST && e->result == KT_LEDGER_FAIL)
		return add_fail(h, e);
	if (e->kind == KT_LEDGER_COMPROMISE && h->flagged == NONE)
		h->flagged = e->index;
	if (e->kind == KT_LEDGER_REVOKE && !e->vm_id[0] && h->revoked == NONE)
		h->revoked = e->index;
	return 0;
}

int kt_score_feed(struct kt_score *s, const struct kt_ledger_entry *e)
{
	struct host *signer;
	bool mine = !strcmp(e->vm_id, s->vm);
	const char *reason;
	int delta;

	if (e->kind == KT_LEDGER_FOLDED_VM || e->kind == KT_LEDGER_FOLDED_HOST)
		return feed_folded(s, e);
	if (e->time > s->now || e->kind == KT_LEDGER_REGISTER)
		return 0;
	signer = host_get(s, e->signer_id);
	if (!signer)
		return -1;
	if (signer->revoked != NONE && signer->revoked < e->index) {
		if (mine)
			step(s, e->index, "ignored", 0);
		return 0;
	}
	if (note_host(s, e))
		return -1;
	if (!mine)
		return 0;
	reason = kt_score_vm_apply(&s->v, e, &delta);
	if (reason)
		record(s, e->index, reason, delta);
	return s->oom ? -1 : 0;
}

static int by_time(const void *a, const void *b)
{
	const struct kt_ledger_fail *x = a, *y = b;

	return x->time < y->time ? -1 : x->time > y->time;
}

/* The entry that made the host compromised, or NONE. */
static uint64_t compromised_by(struct host *h)
{
	uint64_t first = h->flagged < h->revoked ? h->flagged : h->revoked;
	size_t i, n = KT_SCORE_COMPROMISE_FAILS;

	if (h->nfails) /* fails is NULL until the first failure */
		qsort(h->fails, h->nfails, sizeof(*h->fails), by_time);
	for (i = 0; i + n <= h->nfails; i++) {
		if (h->fails[i + n - 1].time - h->fails[i].time <= KT_SCORE_COMPROMISE_WINDOW) {
			if (h->fails[i + n - 1].index < first)
				first = h->fails[i + n - 1].index;
			break;
		}
	}
	return first;
}

int kt_score_finish(struct kt_score *s, struct kt_score_result *res, struct kt_err *err)
{
	uint64_t hours, cause;
	struct host *h;

	if (s->oom)
		return kt_fail(err, "score", "out of memory");
	if (!s->v.seen)
		return kt_fail(err, "vm", "the ledger has no entry for VM '%s'", s->vm);
	memcpy(s->res.host_id, s->v.host_id, KT_UUID_LEN);
	s->res.last_result = s->v.last_result;
	s->res.last_attest = s->v.last_attest;
	s->res.last_time = s->v.last_time;
	h = host_get(s, s->res.host_id);
	if (!h)
		return kt_fail(err, "score", "out of memory");
	cause = compromised_by(h);
	if (cause != NONE) {
		s->res.host_compromised = true;
		step(s, cause, "host-compromised", -KT_SCORE_COMPROMISE_PENALTY);
	}
	hours = s->now > s->res.last_time ? (s->now - s->res.last_time) / KT_SCORE_DECAY_SECONDS : 0;
	if (hours)
		step(s, s->v.last_index, "decay", hours > KT_SCORE_MAX ? -KT_SCORE_MAX : -(int)hours);
	if (s->v.revoked != NONE) {
		s->res.revoked = true;
		step(s, s->v.revoked, "revoked", -s->v.score);
	}
	if (s->oom)
		return kt_fail(err, "score", "out of memory");
	s->res.score = s->v.score;
	s->res.decision = kt_score_decide(s->v.score, s->res.last_result == KT_LEDGER_FAIL);
	*res = s->res;
	/* The steps now belong to the caller. */
	s->res.steps = NULL;
	s->res.nsteps = 0;
	s->cap = 0;
	return 0;
}

void kt_score_result_free(struct kt_score_result *res)
{
	free(res->steps);
	memset(res, 0, sizeof(*res));
}

static int visit(const struct kt_ledger_entry *e, void *arg)
{
	return kt_score_feed(arg, e);
}

int kt_score_compute(struct kt_ledger *log, const char *vm_id, uint64_t now,
		     struct kt_score_result *res, struct kt_err *err)
{
	struct kt_score *s = kt_score_new(vm_id, now);
	int ret;

	if (!s)
		return kt_fail(err, "score", "out of memory");
	kt_ledger_checkpoint_until(log, now);
	ret = kt_ledger_for_each(log, visit, s, err);
	if (!ret)
		ret = kt_score_finish(s, res, err);
	kt_score_free(s);
	return ret;
}

bool kt_score_host_compromised(struct kt_score *s, const uint8_t host_id[KT_UUID_LEN],
			       uint64_t *cause)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++) {
		if (!memcmp(s->hosts[i].id, host_id, KT_UUID_LEN)) {
			*cause = compromised_by(&s->hosts[i]);
			return *cause != NONE;
		}
	}
	return false;
}
