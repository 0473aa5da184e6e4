// SPDX-License-Identifier: GPL-2.0
/* A VM's entries in a verified log, its signed head and leaves (history.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/history.h"

#define GRANT_PREFIX "grant:"
#define CERT_PREFIX "cert:"

static bool history_has_host(const struct kt_history *h, const uint8_t *host)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->e[i].vm_id[0] && !strcmp(h->e[i].vm_id, h->vm) &&
		    !memcmp(h->e[i].host, host, KT_UUID_LEN))
			return true;
	return false;
}

/*
 * A revocation counts when it names the VM, a grant (any: which grants are
 * the VM's only the grants themselves say), a certificate (any: whose
 * signatures the caller carries decides) or a host seen so far; one of a
 * host the VM reaches later is in the log before it, so hosts are checked
 * again once the walk is done (history_prune).
 */
static bool wanted(const struct kt_history *h, const struct kt_ledger_entry *e)
{
	if (e->kind == KT_LEDGER_REGISTER)
		return (h->flags & KT_HISTORY_REGISTER) && !strcmp(e->vm_id, h->vm);
	if (e->kind == KT_LEDGER_REVOKE || e->kind == KT_LEDGER_COMPROMISE)
		return (h->flags & KT_HISTORY_REVOCATIONS) &&
		       (!strcmp(e->vm_id, h->vm) || !e->vm_id[0] ||
			!strncmp(e->vm_id, GRANT_PREFIX, strlen(GRANT_PREFIX)) ||
			!strncmp(e->vm_id, CERT_PREFIX, strlen(CERT_PREFIX)));
	return !strcmp(e->vm_id, h->vm);
}

static int collect(const struct kt_ledger_entry *e, void *arg)
{
	struct kt_history *h = arg;
	struct kt_history_entry *he;

	if (!wanted(h, e))
		return 0;
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 64;
		he = realloc(h->e, h->cap * sizeof(*he));
		if (!he)
			return -1;
		h->e = he;
	}
	he = &h->e[h->n++];
	memset(he, 0, sizeof(*he));
	he->index = e->index;
	he->time = e->time;
	he->kind = e->kind;
	he->result = e->result;
	memcpy(he->host, e->host_id, KT_UUID_LEN);
	memcpy(he->report, e->report, KT_HASH_LEN);
	memcpy(he->vm_id, e->vm_id, sizeof(he->vm_id));
	memcpy(he->detail, e->detail, sizeof(he->detail));
	he->in_batch = e->in_batch;
	he->batch_no = e->batch_no;
	he->record_no = e->record_no;
	return 0;
}

/* Host revocations and compromise flags kept only for hosts the VM ran on. */
static void history_prune(struct kt_history *h)
{
	size_t i, j = 0;

	for (i = 0; i < h->n; i++) {
		const struct kt_history_entry *he = &h->e[i];

		if ((he->kind == KT_LEDGER_REVOKE || he->kind == KT_LEDGER_COMPROMISE) &&
		    !he->vm_id[0] && !history_has_host(h, he->host))
			continue;
		h->e[j++] = *he;
	}
	h->n = j;
}

static bool history_names_vm(const struct kt_history *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->e[i].kind != KT_LEDGER_REGISTER && h->e[i].kind != KT_LEDGER_REVOKE &&
		    !strcmp(h->e[i].vm_id, h->vm))
			return true;
	return false;
}

/*
 * Bottom up: each level pairs the one below, an odd last node moving up
 * as it is; this is RFC 9162's tree (split at the largest power of two
 * below n), so a node's sibling at each level, where it has one, is the
 * next hash of its path.
 */
static int levels_build(struct kt_history *h)
{
	const kt_hash *below = h->leaves;
	uint64_t n = h->size, j;
	kt_hash *up;

	while (n > 1) {
		if (h->levels == KT_MERKLE_MAX_PROOF)
			return -1;
		up = malloc((n + 1) / 2 * sizeof(*up));
		if (!up)
			return -1;
		for (j = 0; j + 1 < n; j += 2)
			kt_merkle_node_hash(below[j], below[j + 1], up[j / 2]);
		if (n & 1)
			memcpy(up[n / 2], below[n - 1], KT_HASH_LEN);
		h->level[h->levels] = up;
		h->level_n[h->levels++] = n = (n + 1) / 2;
		below = up;
	}
	return 0;
}

int kt_history_prove(const struct kt_history *h, uint64_t index, kt_hash *proof)
{
	const kt_hash *at = h->leaves;
	uint64_t n = h->size, i = index;
	unsigned int k;
	int len = 0;

	if (index >= h->size)
		return -1;
	for (k = 0; k <= h->levels && n > 1; k++) {
		if ((i ^ 1) < n)
			memcpy(proof[len++], at[i ^ 1], KT_HASH_LEN);
		if (k < h->levels) {
			at = h->level[k];
			n = h->level_n[k];
		}
		i >>= 1;
	}
	return len;
}

int kt_history_read(struct kt_ledger *log, const char *vm, unsigned int flags,
		    struct kt_history *h, struct kt_err *err)
{
	uint64_t size = 0;

	memset(h, 0, sizeof(*h));
	snprintf(h->vm, sizeof(h->vm), "%s", vm);
	h->flags = flags;
	if (kt_ledger_walk(log, collect, h, &h->size, h->root, NULL, err) ||
	    kt_ledger_head(log, &h->sth, &h->head, err))
		goto fail;
	if (h->sth.size != h->size) {
		kt_fail(err, "head", "the log grew during the walk: run again");
		goto fail;
	}
	size = h->size;
	if (kt_ledger_leaves(log, &size, &h->leaves, err))
		goto fail;
	if (levels_build(h)) {
		kt_fail(err, "ledger", "out of memory");
		goto fail;
	}
	history_prune(h);
	if (!history_names_vm(h)) {
		kt_fail(err, "vm", "the ledger holds no entry for this VM");
		goto fail;
	}
	return 0;
fail:
	kt_history_free(h);
	return -1;
}

void kt_history_free(struct kt_history *h)
{
	free(h->e);
	free(h->head);
	free(h->leaves);
	while (h->levels)
		free(h->level[--h->levels]);
	memset(h, 0, sizeof(*h));
}

int kt_history_batch_proof(struct kt_ledger *log, const struct kt_history_entry *he,
			   struct kt_history_batch_proof *p, struct kt_err *err)
{
	struct kt_ledger_entry *e = &p->e;
	kt_hash root, *hl = NULL;
	size_t len, off = 0;
	uint32_t no = 0;
	int plen, ret = -1;

	memset(p, 0, sizeof(*p));
	if (kt_ledger_get(log, he->index, e, &p->raw, &len, err))
		return -1;
	while (!kt_batch_body_next(e->body, e->body_len, &off, &p->b, err) && no < he->batch_no)
		no++;
	p->span = len - e->body_len;
	hl = malloc(KT_BATCH_ENTRY_MAX * sizeof(kt_hash));
	if (!hl || no != he->batch_no || he->record_no >= p->b.n ||
	    kt_batch_body_root(e->body, e->body_len, &p->k, hl, root, err) ||
	    kt_batch_prove(&p->b, he->record_no, p->record_path, &p->record_plen) ||
	    (plen = kt_merkle_inclusion_proof(hl, p->k, he->batch_no, p->header_path)) < 0) {
		kt_fail(err, "ledger", "entry %llu: cannot build the batch proof",
			(unsigned long long)he->index);
		goto out;
	}
	p->header_plen = (size_t)plen;
	p->record = p->b.records + (size_t)he->record_no * KT_BATCH_RECORD_STRIDE;
	ret = 0;
out:
	free(hl);
	if (ret)
		kt_history_batch_proof_free(p);
	return ret;
}

void kt_history_batch_proof_free(struct kt_history_batch_proof *p)
{
	free(p->raw);
	memset(p, 0, sizeof(*p));
}
