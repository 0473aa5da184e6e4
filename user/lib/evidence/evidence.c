// SPDX-License-Identifier: GPL-2.0
/*
 * Evidence bundles: export from a verified walk, verify with anchors alone.
 * The byte layout is in Documentation/evidence.rst.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "attest/report.h"
#include "common/encoding.h"
#include "common/merkle.h"
#include "evidence/evidence.h"
#include "identity/jws.h"
#include "identity/pki.h"
#include "ledger/batch.h"
#include "ledger/ledger_auth.h"
#include "ledger/revocation.h"
#include "policy/grant.h"
#include "policy/grant_ledger.h"

#define HEADER_LEN (8 + 2 + KT_UUID_LEN)
#define CHAIN_MAX 16
#define SECTION_LAST KT_EV_BATCHED

static const char *const section_names[] = {
	[KT_EV_STH] = "head", [KT_EV_ENTRY] = "entry", [KT_EV_CONSISTENCY] = "consistency",
	[KT_EV_CHAIN] = "chain", [KT_EV_CRL] = "crl", [KT_EV_GRANT] = "grant",
	[KT_EV_REPORT] = "report", [KT_EV_BATCHED] = "batched",
};

/* Puts where in front of err's message (check NULL: keeps err's check). */
static int fail_in(struct kt_err *err, const char *check, const char *where)
{
	char msg[sizeof(err->msg)];

	memcpy(msg, err->msg, sizeof(msg));
	return kt_fail(err, check ? check : err->check, "%s: %s", where, msg);
}

/* --- writing --- */

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const void *d, size_t n)
{
	uint8_t *grown;

	/* d may be NULL when n is 0 (an empty section). */
	if (b->oom || !n)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		grown = realloc(b->p, b->cap);
		if (!grown) {
			b->oom = true;
			return;
		}
		b->p = grown;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_be(struct buf *b, uint64_t v, int bytes)
{
	uint8_t tmp[8];

	kt_be_put(tmp, v, bytes);
	put(b, tmp, (size_t)bytes);
}

/* A section's type and a length filled in by section_end(). */
static size_t section_start(struct buf *b, uint8_t type)
{
	put(b, &type, 1);
	put_be(b, 0, 4);
	return b->len;
}

static void section_end(struct buf *b, size_t start)
{
	if (!b->oom)
		kt_be_put(b->p + start - 4, b->len - start, 4);
}

static bool grant_named(const char *detail, const char *id)
{
	return !strncmp(detail, KT_GRANT_REVOKE_PREFIX, strlen(KT_GRANT_REVOKE_PREFIX)) &&
	       !strcmp(detail + strlen(KT_GRANT_REVOKE_PREFIX), id);
}

struct certs {
	uint8_t *der[256];
	size_t len[256], n;
};

static int certs_add(struct certs *c, const uint8_t *der, size_t len, struct kt_err *err)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->len[i] == len && !memcmp(c->der[i], der, len))
			return 0;
	if (c->n == sizeof(c->der) / sizeof(c->der[0]))
		return kt_fail(err, "chain", "more than %zu signing certificates", c->n);
	c->der[c->n] = malloc(len);
	if (!c->der[c->n])
		return kt_fail(err, "evidence", "out of memory");
	memcpy(c->der[c->n], der, len);
	c->len[c->n++] = len;
	return 0;
}

static void certs_free(struct certs *c)
{
	while (c->n)
		free(c->der[--c->n]);
}

/*
 * A report file's text, NUL-terminated, without the line end a file has
 * (its digest, which binds it to its entry, covers those bytes too); NULL
 * when out of memory.
 */
static char *report_text(const uint8_t *p, size_t len)
{
	char *text;

	while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	text = malloc(len + 1);
	if (text) {
		memcpy(text, p, len);
		text[len] = '\0';
	}
	return text;
}

/*
 * A report's signer: the leaf of its x5c header (DER, malloc'd; NULL for
 * none) and its iat claim, not yet verified; -1 (check "report") when the
 * report is not a compact JWS with an x5c chain.
 */
static int report_signer(const uint8_t *p, size_t len, uint8_t **der, size_t *der_len,
			 uint64_t *iat, struct kt_err *err)
{
	char *text = report_text(p, len);
	STACK_OF(X509) *chain = NULL;
	struct kt_jws jws;
	unsigned char *out = NULL;
	int n = -1;

	*der = NULL;
	if (!text)
		return kt_fail(err, "evidence", "out of memory");
	if (memchr(p, '\0', len) || kt_jws_parse(text, &jws, NULL)) {
		free(text);
		return kt_fail(err, "report", "not a signed report (compact JWS)");
	}
	if (!kt_jws_x5c(&jws, &chain, NULL) && sk_X509_num(chain) > 0)
		n = i2d_X509(sk_X509_value(chain, 0), &out);
	*iat = (uint64_t)json_integer_value(json_object_get(jws.payload, "iat"));
	sk_X509_pop_free(chain, X509_free);
	kt_jws_free(&jws);
	free(text);
	if (n <= 0)
		return kt_fail(err, "report", "a report without its signer's certificates (x5c)");
	*der = malloc((size_t)n);
	if (*der)
		memcpy(*der, out, (size_t)n);
	*der_len = (size_t)n;
	OPENSSL_free(out);
	return *der ? 0 : kt_fail(err, "evidence", "out of memory");
}

/* The report's signer goes into rs (whose ledger revocations are carried). */
static int report_signer_add(const struct kt_evidence_blob *r, size_t no, struct certs *rs,
			     struct kt_err *err)
{
	uint8_t *der;
	size_t len;
	uint64_t iat;
	int ret;

	if (report_signer(r->data, r->len, &der, &len, &iat, err)) {
		char where[32];

		snprintf(where, sizeof(where), "report %zu", no);
		return fail_in(err, NULL, where);
	}
	ret = certs_add(rs, der, len, err);
	free(der);
	return ret;
}

/*
 * The verified path of a signer's certificate, leaf first, anchor last.
 * Only the path: whether the leaf may sign what it signed (host, owner, a
 * CA revoking a certificate) is the head's and the entries' own check
 * (kt_ledger_auth_check()), so a CA's certificate, which signs no data,
 * has a path too.
 */
static int chain_of(const uint8_t *der, size_t len, struct kt_pki_dir *anchors,
		    STACK_OF(X509) *untrusted, STACK_OF(X509) **path, struct kt_err *err)
{
	struct kt_pki_verify_opts opts = {
		.anchors = anchors, .untrusted = untrusted,
		.flags = KT_PKI_NO_TIME | KT_PKI_NO_CRL | KT_PKI_NOT_SIGNER, .require_kind = -1,
	};
	const uint8_t *p = der;
	X509 *leaf = d2i_X509(NULL, &p, (long)len);
	int ret;

	if (!leaf || p != der + len) {
		X509_free(leaf);
		return kt_fail(err, "chain", "a signer's certificate does not parse");
	}
	ret = kt_pki_verify(leaf, &opts, path, err);
	X509_free(leaf);
	return ret;
}

static void put_chain(struct buf *b, STACK_OF(X509) *path)
{
	size_t at = section_start(b, KT_EV_CHAIN);
	uint8_t n = (uint8_t)sk_X509_num(path);
	unsigned char *der;
	int i, len;

	put(b, &n, 1);
	for (i = 0; i < n; i++) {
		der = NULL;
		len = i2d_X509(sk_X509_value(path, i), &der);
		if (len <= 0) {
			b->oom = true;
			return;
		}
		put_be(b, (uint64_t)len, 2);
		put(b, der, (size_t)len);
		OPENSSL_free(der);
	}
	section_end(b, at);
}

static int put_chains(struct buf *b, const struct certs *c, const char *ca, struct kt_err *err)
{
	struct kt_pki_dir *anchors;
	STACK_OF(X509) *path;
	size_t i;
	int ret = 0;

	if (!ca)
		return kt_fail(err, "chain", "the ledger CA is needed for the signers' chains");
	if (kt_pki_dir_open(ca, &anchors, err))
		return -1;
	for (i = 0; i < c->n && !ret; i++) {
		path = NULL;
		ret = chain_of(c->der[i], c->len[i], anchors, NULL, &path, err);
		if (!ret && sk_X509_num(path) > CHAIN_MAX)
			ret = kt_fail(err, "chain", "a chain longer than %d", CHAIN_MAX);
		if (!ret)
			put_chain(b, path);
		sk_X509_pop_free(path, X509_free);
	}
	kt_pki_dir_free(anchors);
	return ret;
}

/*
 * The certificates (as revocation.h names them) that signed something in
 * the bundle: the ledger revocations of those are carried.
 */
struct idset {
	char (*v)[KT_LEDGER_VM_MAX + 1];
	size_t n;
};

static bool idset_has(const struct idset *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], id))
			return true;
	return false;
}

/*
 * Adds the ids of c's certificates (one that cannot be named cannot be
 * revoked in the ledger).
 */
static int idset_add(const struct certs *c, struct idset *s, struct kt_err *err)
{
	char (*grown)[KT_LEDGER_VM_MAX + 1];
	const uint8_t *p;
	X509 *x;
	size_t i;

	grown = realloc(s->v, (s->n + c->n + 1) * sizeof(*s->v));
	if (!grown)
		return kt_fail(err, "evidence", "out of memory");
	s->v = grown;
	for (i = 0; i < c->n; i++) {
		p = c->der[i];
		x = d2i_X509(NULL, &p, (long)c->len[i]);
		if (x && !kt_ledger_cert_id(x, s->v[s->n], NULL, NULL))
			s->n++;
		X509_free(x);
	}
	return 0;
}

/* How many of the history's certificate revocations name one of s. */
static size_t revocations_of(const struct kt_history *h, const struct idset *s)
{
	size_t i, n = 0;

	for (i = 0; i < h->n; i++)
		n += h->e[i].kind == KT_LEDGER_REVOKE && idset_has(s, h->e[i].vm_id);
	return n;
}

/*
 * Which entries the bundle carries: the history less other grants'
 * revocations and the revocations of certificates that signed nothing in
 * the bundle (signers).
 */
static bool exported(const struct kt_history_entry *he, const struct kt_evidence_inputs *in,
		     const char *const *ids, const struct idset *signers)
{
	size_t i;

	if (he->kind == KT_LEDGER_REVOKE &&
	    !strncmp(he->vm_id, KT_LEDGER_CERT_PREFIX, strlen(KT_LEDGER_CERT_PREFIX)))
		return idset_has(signers, he->vm_id);
	if (he->kind != KT_LEDGER_REVOKE ||
	    strncmp(he->vm_id, KT_GRANT_REVOKE_PREFIX, strlen(KT_GRANT_REVOKE_PREFIX)))
		return true;
	for (i = 0; i < in->n_grants; i++)
		if (grant_named(he->vm_id, ids[i]))
			return true;
	return false;
}

static int check_grants(const struct kt_history *h, const struct kt_evidence_inputs *in,
			char (*ids)[KT_UUID_STR_LEN + 1], struct kt_err *err)
{
	struct kt_grant g;
	size_t i, j;
	bool found;

	for (i = 0; i < in->n_grants; i++) {
		if (kt_grant_parse(in->grants[i], &g, err))
			return fail_in(err, "grant", "a grant given");
		snprintf(ids[i], sizeof(ids[i]), "%s", g.id);
		found = !strcmp(g.vm, h->vm);
		kt_grant_free(&g);
		for (j = 0; j < i; j++)
			if (!strcmp(ids[j], ids[i]))
				return kt_fail(err, "grant", "grant %s given twice", ids[i]);
		if (!found)
			return kt_fail(err, "grant", "grant %s is not for VM %s", ids[i], h->vm);
		for (j = 0, found = false; j < h->n && !found; j++)
			found = h->e[j].kind == KT_LEDGER_MOVE && grant_named(h->e[j].detail, ids[i]);
		if (!found)
			return kt_fail(err, "grant", "no move entry of the VM names grant %s", ids[i]);
	}
	for (j = 0; j < h->n; j++) {
		if (h->e[j].kind != KT_LEDGER_MOVE ||
		    strncmp(h->e[j].detail, KT_GRANT_REVOKE_PREFIX, strlen(KT_GRANT_REVOKE_PREFIX)))
			continue;
		for (i = 0, found = false; i < in->n_grants && !found; i++)
			found = grant_named(h->e[j].detail, ids[i]);
		if (!found)
			return kt_fail(err, "grant", "entry %llu names %s: give it with --grant",
				       (unsigned long long)h->e[j].index, h->e[j].detail);
	}
	return 0;
}

static bool blob_in(const struct kt_evidence_blob *set, size_t n,
		    const struct kt_evidence_blob *x)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i].len == x->len && !memcmp(set[i].data, x->data, x->len))
			return true;
	return false;
}

static bool digest_named(const struct kt_history *h, const struct kt_evidence_blob *r)
{
	kt_hash d;
	size_t j;

	kt_sha256(r->data, r->len, d);
	for (j = 0; j < h->n; j++)
		if (!CRYPTO_memcmp(h->e[j].report, d, KT_HASH_LEN))
			return true;
	return false;
}

static void put_report(struct buf *b, const struct kt_evidence_blob *r)
{
	size_t at = section_start(b, KT_EV_REPORT);

	put(b, r->data, r->len);
	section_end(b, at);
}

static int put_reports(struct buf *b, const struct kt_history *h,
		       const struct kt_evidence_inputs *in, struct certs *rs, struct kt_err *err)
{
	size_t i;

	for (i = 0; i < in->n_reports; i++) {
		if (blob_in(in->reports, i, &in->reports[i]))
			return kt_fail(err, "report", "report %zu given twice", i + 1);
		if (!digest_named(h, &in->reports[i]))
			return kt_fail(err, "report", "report %zu matches no entry's report digest",
				       i + 1);
		if (report_signer_add(&in->reports[i], i + 1, rs, err))
			return -1;
		put_report(b, &in->reports[i]);
	}
	for (i = 0; i < in->n_found; i++)
		if (digest_named(h, &in->found[i]) &&
		    !blob_in(in->reports, in->n_reports, &in->found[i]) &&
		    !blob_in(in->found, i, &in->found[i])) {
			if (report_signer_add(&in->found[i], in->n_reports + i + 1, rs, err))
				return -1;
			put_report(b, &in->found[i]);
		}
	return 0;
}

static int put_entries(struct buf *b, struct kt_ledger *log, const struct kt_history *h,
		       const struct kt_evidence_inputs *in, const char *const *ids,
		       const struct idset *signers, struct certs *c, uint64_t *first,
		       kt_hash first_root, bool *any, struct kt_err *err)
{
	kt_hash proof[KT_MERKLE_MAX_PROOF];
	struct kt_ledger_entry e;
	uint8_t *raw, n;
	size_t i, raw_len, at;
	int len;

	for (i = 0; i < h->n; i++) {
		if (h->e[i].in_batch || !exported(&h->e[i], in, ids, signers))
			continue;
		if (kt_ledger_get(log, h->e[i].index, &e, &raw, &raw_len, err))
			return -1;
		if (!*any || e.index < *first) {
			*first = e.index;
			memcpy(first_root, e.prev_root, KT_HASH_LEN);
			*any = true;
		}
		len = kt_history_prove(h, e.index, proof);
		if (len < 0 || certs_add(c, e.cert, e.cert_len, err)) {
			free(raw);
			return len < 0 ? kt_fail(err, "entry", "no inclusion proof") : -1;
		}
		at = section_start(b, KT_EV_ENTRY);
		put_be(b, e.index, 8);
		n = (uint8_t)len;
		put(b, &n, 1);
		put(b, proof, (size_t)len * KT_HASH_LEN);
		put(b, raw, raw_len);
		section_end(b, at);
		free(raw);
	}
	return 0;
}

static void put_path(struct buf *b, const kt_hash *path, size_t n)
{
	uint8_t len = (uint8_t)n;

	put(b, &len, 1);
	put(b, path, n * KT_HASH_LEN);
}

/* Batched results: the batch entry without its body, the header, the record and three paths. */
static int put_batched(struct buf *b, struct kt_ledger *log, const struct kt_history *h,
		       struct certs *c, uint64_t *first, kt_hash first_root, bool *any,
		       struct kt_err *err)
{
	kt_hash proof[KT_MERKLE_MAX_PROOF];
	struct kt_history_batch_proof bp;
	struct kt_ledger_entry e;
	size_t i, at;
	int len;

	for (i = 0; i < h->n; i++) {
		if (!h->e[i].in_batch)
			continue;
		if (kt_history_batch_proof(log, &h->e[i], &bp, err))
			return -1;
		len = kt_history_prove(h, h->e[i].index, proof);
		e = bp.e;
		if (len < 0 || certs_add(c, e.cert, e.cert_len, err) ||
		    certs_add(c, bp.b.cert, bp.b.cert_len, err)) {
			kt_history_batch_proof_free(&bp);
			return kt_fail(err, "batch", "entry %llu: cannot carry its batched result",
				       (unsigned long long)h->e[i].index);
		}
		if (!*any || e.index < *first) {
			*first = e.index;
			memcpy(first_root, e.prev_root, KT_HASH_LEN);
			*any = true;
		}
		at = section_start(b, KT_EV_BATCHED);
		put_be(b, e.index, 8);
		put_path(b, proof, (size_t)len);
		put_be(b, bp.span, 4);
		put(b, bp.raw, bp.span);
		put_be(b, h->e[i].batch_no, 4);
		put_be(b, bp.k, 4);
		put_path(b, bp.header_path, bp.header_plen);
		put_be(b, bp.b.header_len, 4);
		put(b, bp.b.raw, bp.b.header_len);
		put_be(b, h->e[i].record_no, 4);
		put_path(b, bp.record_path, bp.record_plen);
		put(b, bp.record, KT_BATCH_RECORD_LEN);
		section_end(b, at);
		kt_history_batch_proof_free(&bp);
	}
	return 0;
}

/*
 * The bundle with the certificate revocations of signers; c gets every
 * signer of the head, entries and host batches, rs the reports' signers.
 */
static int export_once(struct kt_ledger *log, const struct kt_history *h,
		       const struct kt_evidence_inputs *in, const char *const *idp,
		       const struct idset *signers, struct buf *b, struct certs *c,
		       struct certs *rs, struct kt_err *err)
{
	kt_hash proof[KT_MERKLE_MAX_PROOF], first_root;
	struct buf batched = { 0 };
	uint8_t vm[KT_UUID_LEN], n;
	bool any = false;
	uint64_t first = 0;
	size_t i, at;
	int plen, ret = -1;

	if (kt_uuid_parse(h->vm, vm))
		return kt_fail(err, "evidence", "a bad VM id");
	put(b, KT_EVIDENCE_MAGIC, 8);
	put_be(b, KT_EVIDENCE_VERSION, 2);
	put(b, vm, KT_UUID_LEN);
	at = section_start(b, KT_EV_STH);
	put(b, h->head + 2, kt_be_get(h->head, 2));
	section_end(b, at);
	if (certs_add(c, h->sth.cert, h->sth.cert_len, err) ||
	    put_entries(b, log, h, in, idp, signers, c, &first, first_root, &any, err) ||
	    put_batched(&batched, log, h, c, &first, first_root, &any, err))
		goto out;
	plen = first ? kt_merkle_consistency_proof(h->leaves, first, h->size, proof) : 0;
	if (plen < 0) {
		kt_fail(err, "consistency", "no consistency proof from %llu entries",
			(unsigned long long)first);
		goto out;
	}
	if (!first)
		kt_merkle_root(NULL, 0, first_root);
	at = section_start(b, KT_EV_CONSISTENCY);
	put_be(b, first, 8);
	put(b, first_root, KT_HASH_LEN);
	n = (uint8_t)plen;
	put(b, &n, 1);
	put(b, proof, (size_t)plen * KT_HASH_LEN);
	section_end(b, at);
	if (put_chains(b, c, in->ledger_ca, err))
		goto out;
	for (i = 0; i < in->n_crls; i++) {
		at = section_start(b, KT_EV_CRL);
		put(b, in->crls[i].data, in->crls[i].len);
		section_end(b, at);
	}
	for (i = 0; i < in->n_grants; i++) {
		at = section_start(b, KT_EV_GRANT);
		put(b, in->grants[i], strlen(in->grants[i]));
		section_end(b, at);
	}
	if (put_reports(b, h, in, rs, err))
		goto out;
	put(b, batched.p, batched.len);
	if (batched.oom || b->oom) {
		kt_fail(err, "evidence", "out of memory");
		goto out;
	}
	ret = 0;
out:
	free(batched.p);
	return ret;
}

int kt_evidence_export(struct kt_ledger *log, const struct kt_history *h,
		       const struct kt_evidence_inputs *in, uint8_t **out, size_t *len,
		       struct kt_err *err)
{
	char (*ids)[KT_UUID_STR_LEN + 1] = calloc(in->n_grants + 1, sizeof(*ids));
	const char **idp = calloc(in->n_grants + 1, sizeof(*idp));
	struct idset signers = { 0 }, next = { 0 };
	struct certs c = { .n = 0 }, rs = { .n = 0 };
	struct buf b = { 0 };
	size_t i, carried = 0;
	int ret = -1;

	if (!ids || !idp) {
		kt_fail(err, "evidence", "out of memory");
		goto out;
	}
	if (check_grants(h, in, ids, err))
		goto out;
	for (i = 0; i < in->n_grants; i++)
		idp[i] = ids[i];
	/*
	 * The revocations carried add their CAs to the signers, whose own
	 * revocations are then carried too: again until nothing is added
	 * (the set only grows; at most once per revocation in the history).
	 */
	for (;;) {
		next.n = 0;
		if (export_once(log, h, in, idp, &signers, &b, &c, &rs, err) ||
		    idset_add(&c, &next, err) || idset_add(&rs, &next, err))
			goto out;
		if (revocations_of(h, &next) == carried)
			break;
		carried = revocations_of(h, &next);
		free(signers.v);
		signers = next;
		next = (struct idset){ 0 };
		free(b.p);
		b = (struct buf){ 0 };
		certs_free(&c);
		certs_free(&rs);
	}
	*out = b.p;
	*len = b.len;
	b.p = NULL;
	ret = 0;
out:
	free(b.p);
	free(ids);
	free(idp);
	free(signers.v);
	free(next.v);
	certs_free(&c);
	certs_free(&rs);
	return ret;
}

/* --- reading and verifying --- */

struct section {
	const uint8_t *p;
	size_t len;
};

struct ev_entry {
	uint64_t index;
	const kt_hash *path;
	size_t plen;
	const uint8_t *raw;
	size_t raw_len;
	struct kt_ledger_entry e;
};

/* A batched result's proof (section batched). */
struct ev_batched {
	uint64_t index;
	const kt_hash *path, *hpath, *rpath;
	size_t plen, hplen, rplen;
	const uint8_t *entry, *header, *record;
	size_t entry_len, header_len;
	uint32_t batch_no, k, record_no;
	struct kt_ledger_entry e;
	struct kt_batch hb;
	struct kt_batch_result r;
};

/* Where and when the VM was, by one of its entries or batched results. */
struct ev_fact {
	uint64_t index, time;
	uint32_t sub;			/* batch_no for a batched result */
	uint8_t host[KT_UUID_LEN];
};

/*
 * A signature in the bundle: its signer's certificate, when and what it
 * signed, at which log position (an entry's index; the head's size), and
 * the certificate as a ledger revocation names it (revocation.h; empty
 * when it cannot be named).
 */
struct ev_signer {
	const uint8_t *cert;
	size_t len;
	uint64_t time, index;
	char what[64];
	char id[KT_LEDGER_VM_MAX + 1];
};

struct bundle {
	uint8_t vm_bin[KT_UUID_LEN];
	char vm[KT_UUID_STR_LEN + 1];
	struct section *s[SECTION_LAST + 1];
	size_t n[SECTION_LAST + 1], cap[SECTION_LAST + 1];
	struct ev_entry *entries;
	struct ev_batched *batched;
	struct ev_fact *facts;
	size_t n_facts;
	struct ev_signer *signers;
	size_t n_signers;
	struct ev_signer *report_signers;	/* one per report section, in order */
	struct kt_ledger_sth sth;
	struct kt_ledger_auth *auth;
	struct kt_grant *grants;
};

static int parse_sections(struct bundle *b, const uint8_t *buf, size_t len, struct kt_err *err)
{
	size_t off = HEADER_LEN, slen;
	unsigned int type, last = 0;

	if (len < HEADER_LEN || memcmp(buf, KT_EVIDENCE_MAGIC, 8))
		return kt_fail(err, "format", "not an evidence bundle");
	if (kt_be_get(buf + 8, 2) != KT_EVIDENCE_VERSION)
		return kt_fail(err, "format", "bundle version %llu, not %d",
			       (unsigned long long)kt_be_get(buf + 8, 2), KT_EVIDENCE_VERSION);
	memcpy(b->vm_bin, buf + 10, KT_UUID_LEN);
	kt_uuid_format(b->vm_bin, b->vm);
	while (off < len) {
		if (len - off < 5)
			return kt_fail(err, "format", "section header truncated at byte %zu", off);
		type = buf[off];
		slen = kt_be_get(buf + off + 1, 4);
		if (!type || type > SECTION_LAST || type < last)
			return kt_fail(err, "format", "section type %u at byte %zu unknown or out "
				       "of order", type, off);
		if (slen > len - off - 5 || !slen)
			return kt_fail(err, "format", "%s section at byte %zu: length %zu does not "
				       "fit", section_names[type], off, slen);
		if (b->n[type] == b->cap[type]) {
			struct section *grown;

			b->cap[type] = b->cap[type] ? 2 * b->cap[type] : 16;
			grown = realloc(b->s[type], b->cap[type] * sizeof(*grown));
			if (!grown)
				return kt_fail(err, "evidence", "out of memory");
			b->s[type] = grown;
		}
		b->s[type][b->n[type]++] = (struct section){ buf + off + 5, slen };
		last = type;
		off += 5 + slen;
	}
	if (b->n[KT_EV_STH] != 1 || !(b->n[KT_EV_ENTRY] + b->n[KT_EV_BATCHED]) ||
	    b->n[KT_EV_CONSISTENCY] != 1)
		return kt_fail(err, "format", "a bundle has one head, entries and one "
			       "consistency proof");
	return 0;
}

static int parse_entries(struct bundle *b, struct kt_err *err)
{
	size_t i, plen;

	b->entries = calloc(b->n[KT_EV_ENTRY] + 1, sizeof(*b->entries));
	if (!b->entries)
		return kt_fail(err, "evidence", "out of memory");
	for (i = 0; i < b->n[KT_EV_ENTRY]; i++) {
		const struct section *s = &b->s[KT_EV_ENTRY][i];
		struct ev_entry *ee = &b->entries[i];

		plen = s->len > 9 ? s->p[8] : 0;
		if (s->len <= 9 + plen * KT_HASH_LEN || plen > KT_MERKLE_MAX_PROOF)
			return kt_fail(err, "format", "entry section %zu truncated", i);
		ee->index = kt_be_get(s->p, 8);
		ee->path = (const kt_hash *)(s->p + 9);
		ee->plen = plen;
		ee->raw = s->p + 9 + plen * KT_HASH_LEN;
		ee->raw_len = s->len - 9 - plen * KT_HASH_LEN;
		if (i && ee->index <= b->entries[i - 1].index)
			return kt_fail(err, "format", "entry %llu out of order",
				       (unsigned long long)ee->index);
	}
	return 0;
}

/* A cursor over a section's value: each take fails once past its end. */
struct cur {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *at = c->p;

	if (c->bad || n > c->left) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->left -= n;
	return at;
}

static uint64_t take_be(struct cur *c, int n)
{
	const uint8_t *at = take(c, (size_t)n);

	return at ? kt_be_get(at, n) : 0;
}

static const kt_hash *take_path(struct cur *c, size_t *n)
{
	*n = (size_t)take_be(c, 1);
	if (*n > KT_MERKLE_MAX_PROOF)
		c->bad = true;
	return (const kt_hash *)take(c, *n * KT_HASH_LEN);
}

static int parse_batched(struct bundle *b, struct kt_err *err)
{
	size_t i;

	b->batched = calloc(b->n[KT_EV_BATCHED] + 1, sizeof(*b->batched));
	if (!b->batched)
		return kt_fail(err, "evidence", "out of memory");
	for (i = 0; i < b->n[KT_EV_BATCHED]; i++) {
		struct cur c = { b->s[KT_EV_BATCHED][i].p, b->s[KT_EV_BATCHED][i].len, false };
		struct ev_batched *x = &b->batched[i];

		x->index = take_be(&c, 8);
		x->path = take_path(&c, &x->plen);
		x->entry_len = (size_t)take_be(&c, 4);
		x->entry = take(&c, x->entry_len);
		x->batch_no = (uint32_t)take_be(&c, 4);
		x->k = (uint32_t)take_be(&c, 4);
		x->hpath = take_path(&c, &x->hplen);
		x->header_len = (size_t)take_be(&c, 4);
		x->header = take(&c, x->header_len);
		x->record_no = (uint32_t)take_be(&c, 4);
		x->rpath = take_path(&c, &x->rplen);
		x->record = take(&c, KT_BATCH_RECORD_LEN);
		if (c.bad || c.left)
			return kt_fail(err, "format", "batched section %zu: length does not match its "
				       "fields", i);
		if (i && (x->index < x[-1].index ||
			  (x->index == x[-1].index && x->batch_no <= x[-1].batch_no)))
			return kt_fail(err, "format", "batched result %zu out of order", i);
	}
	return 0;
}

/* The head, signed by a writer under the anchors. */
static int check_head(struct bundle *b, struct kt_err *err)
{
	const struct section *s = &b->s[KT_EV_STH][0];

	return kt_ledger_sth_verify(b->auth, s->p, s->len, &b->sth, err);
}

static bool is_grant_id(const struct bundle *b, const char *vm_id)
{
	size_t i;

	for (i = 0; i < b->n[KT_EV_GRANT]; i++)
		if (grant_named(vm_id, b->grants[i].id))
			return true;
	return false;
}

static bool ran_on(const struct bundle *b, const uint8_t *host)
{
	size_t i;

	for (i = 0; i < b->n_facts; i++)
		if (!memcmp(b->facts[i].host, host, KT_UUID_LEN))
			return true;
	return false;
}

static int fact_add(struct bundle *b, uint64_t index, uint32_t sub, const uint8_t *host,
		    uint64_t time)
{
	struct ev_fact *f = realloc(b->facts, (b->n_facts + 1) * sizeof(*f));

	if (!f)
		return -1;
	b->facts = f;
	f = &b->facts[b->n_facts++];
	f->index = index;
	f->sub = sub;
	f->time = time;
	memcpy(f->host, host, KT_UUID_LEN);
	return 0;
}

static int by_place(const void *x, const void *y)
{
	const struct ev_fact *a = x, *b = y;

	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return a->sub < b->sub ? -1 : a->sub > b->sub;
}

/* A certificate revocation of one of the bundle's signers. */
static bool revokes_a_signer(const struct bundle *b, const char *vm_id)
{
	size_t i;

	for (i = 0; i < b->n_signers; i++)
		if (b->signers[i].id[0] && !strcmp(b->signers[i].id, vm_id))
			return true;
	for (i = 0; i < b->n[KT_EV_REPORT]; i++)
		if (b->report_signers[i].id[0] && !strcmp(b->report_signers[i].id, vm_id))
			return true;
	return false;
}

/* An entry belongs in the VM's bundle: about the VM, or a revocation that concerns it. */
static const char *not_about_vm(const struct bundle *b, const struct kt_ledger_entry *e)
{
	if (e->kind == KT_LEDGER_ATTEST || e->kind == KT_LEDGER_MOVE ||
	    e->kind == KT_LEDGER_ROLLBACK)
		return strcmp(e->vm_id, b->vm) ? "names another VM" : NULL;
	if (kt_ledger_is_cert_revocation(e))
		return revokes_a_signer(b, e->vm_id) ? NULL :
			"revokes a certificate that signed nothing in the bundle";
	if (e->kind == KT_LEDGER_REVOKE && e->vm_id[0])
		return !strcmp(e->vm_id, b->vm) || is_grant_id(b, e->vm_id) ? NULL :
			"revokes neither the VM nor one of the bundle's grants";
	if (e->kind == KT_LEDGER_REVOKE || e->kind == KT_LEDGER_COMPROMISE)
		return ran_on(b, e->host_id) ? NULL : "names a host the VM did not run on";
	return "is of a kind a bundle does not carry";
}

static const char *where_entry(uint64_t index)
{
	static char where[32];

	snprintf(where, sizeof(where), "entry %llu", (unsigned long long)index);
	return where;
}

/* Extends the last run when f is on its host, else starts one. */
static int run_note(struct kt_evidence_summary *sum, const struct ev_fact *f)
{
	struct kt_evidence_run *r = sum->n_runs ? &sum->runs[sum->n_runs - 1] : NULL;

	if (!r || memcmp(r->host, f->host, KT_UUID_LEN)) {
		r = realloc(sum->runs, (sum->n_runs + 1) * sizeof(*r));
		if (!r)
			return -1;
		sum->runs = r;
		r = &sum->runs[sum->n_runs++];
		memcpy(r->host, f->host, KT_UUID_LEN);
		r->from = f->time;
		r->first_index = f->index;
	}
	r->to = f->time;
	r->last_index = f->index;
	return 0;
}

void kt_evidence_summary_free(struct kt_evidence_summary *s)
{
	free(s->runs);
	s->runs = NULL;
	s->n_runs = 0;
}

static int check_entries(struct bundle *b, struct kt_err *err)
{
	kt_hash leaf;
	size_t i;

	for (i = 0; i < b->n[KT_EV_ENTRY]; i++) {
		struct ev_entry *ee = &b->entries[i];

		if (kt_ledger_entry_verify(b->auth, ee->raw, ee->raw_len, false, &ee->e, err) ||
		    (ee->e.index != ee->index &&
		     kt_fail(err, "order", "the entry says index %llu",
			     (unsigned long long)ee->e.index)))
			return fail_in(err, NULL, where_entry(ee->index));
		kt_ledger_leaf_hash(ee->raw, ee->raw_len, leaf);
		if (kt_merkle_verify_inclusion(leaf, ee->index, b->sth.size, ee->path, ee->plen,
					       b->sth.root))
			return kt_fail(err, "inclusion", "entry %llu: its path does not lead to the "
				       "signed root", (unsigned long long)ee->index);
	}
	return 0;
}

/*
 * A batched result: the batch entry (without its body) signed and in the
 * head, the host batch's header signed by its host and on the path to the
 * entry's measurement field, the record on the path to the header's root.
 */
static int check_batched(struct bundle *b, struct kt_err *err)
{
	char where[64];
	kt_hash leaf;
	size_t i;

	for (i = 0; i < b->n[KT_EV_BATCHED]; i++) {
		struct ev_batched *x = &b->batched[i];

		snprintf(where, sizeof(where), "batched result %zu (entry %llu)", i,
			 (unsigned long long)x->index);
		if (kt_ledger_entry_verify(b->auth, x->entry, x->entry_len, true, &x->e, err) ||
		    (x->e.kind != KT_LEDGER_BATCH &&
		     kt_fail(err, "format", "not a batch entry")) ||
		    (x->e.index != x->index &&
		     kt_fail(err, "order", "the entry says index %llu",
			     (unsigned long long)x->e.index)))
			return fail_in(err, NULL, where);
		kt_ledger_leaf_hash(x->entry, x->entry_len, leaf);
		if (kt_merkle_verify_inclusion(leaf, x->index, b->sth.size, x->path, x->plen,
					       b->sth.root))
			return kt_fail(err, "inclusion", "%s: its path does not lead to the signed "
				       "root", where);
		if (kt_batch_header_parse(x->header, x->header_len, &x->hb, err) ||
		    kt_ledger_batch_signed(b->auth, &x->hb, err))
			return fail_in(err, NULL, where);
		kt_batch_header_leaf(&x->hb, leaf);
		if (x->batch_no >= x->k ||
		    kt_merkle_verify_inclusion(leaf, x->batch_no, x->k, x->hpath, x->hplen,
					       x->e.measurement))
			return kt_fail(err, "inclusion", "%s: the host batch's path does not lead to "
				       "the entry's root", where);
		kt_merkle_leaf_hash(x->record, KT_BATCH_RECORD_LEN, leaf);
		if (x->record_no >= x->hb.n ||
		    kt_merkle_verify_inclusion(leaf, x->record_no, x->hb.n, x->rpath, x->rplen,
					       x->hb.root))
			return kt_fail(err, "inclusion", "%s: the record's path does not lead to the "
				       "host batch's root", where);
		if (kt_batch_record_decode(x->record, &x->r))
			return kt_fail(err, "format", "%s: the record does not decode", where);
		if (strcmp(x->r.vm_id, b->vm))
			return kt_fail(err, "vm", "%s names another VM", where);
		if (fact_add(b, x->index, x->batch_no, x->hb.host_id, x->hb.time))
			return kt_fail(err, "evidence", "out of memory");
	}
	return 0;
}

/* Every entry is about the VM or a revocation that concerns it; the summary's counts and runs. */
static int check_about(struct bundle *b, struct kt_evidence_summary *sum, struct kt_err *err)
{
	const char *why;
	size_t i;

	for (i = 0; i < b->n[KT_EV_ENTRY]; i++) {
		const struct kt_ledger_entry *e = &b->entries[i].e;

		if (strcmp(e->vm_id, b->vm) || e->kind == KT_LEDGER_REVOKE)
			continue;
		if (fact_add(b, e->index, 0, e->host_id, e->time))
			return kt_fail(err, "evidence", "out of memory");
	}
	for (i = 0; i < b->n[KT_EV_ENTRY]; i++) {
		const struct kt_ledger_entry *e = &b->entries[i].e;

		why = not_about_vm(b, e);
		if (why)
			return kt_fail(err, "vm", "entry %llu %s", (unsigned long long)e->index, why);
		sum->attests += e->kind == KT_LEDGER_ATTEST;
		sum->moves += e->kind == KT_LEDGER_MOVE;
		sum->revocations += e->kind == KT_LEDGER_REVOKE || e->kind == KT_LEDGER_COMPROMISE;
		if (e->kind == KT_LEDGER_REVOKE && !strcmp(e->vm_id, b->vm))
			sum->vm_revoked = true;
	}
	if (!b->n_facts)
		return kt_fail(err, "vm", "no entry about VM %s", b->vm);
	qsort(b->facts, b->n_facts, sizeof(*b->facts), by_place);
	for (i = 0; i < b->n_facts; i++)
		if (run_note(sum, &b->facts[i]))
			return kt_fail(err, "evidence", "out of memory");
	sum->first_index = b->facts[0].index;
	sum->last_time = b->facts[b->n_facts - 1].time;
	sum->entries = b->n[KT_EV_ENTRY];
	sum->batched = b->n[KT_EV_BATCHED];
	sum->attests += b->n[KT_EV_BATCHED];
	return 0;
}

/* From the tree the first entry was written on (its prev_root, signed) to the head. */
static int check_consistency(const struct bundle *b, struct kt_err *err)
{
	const struct section *s = &b->s[KT_EV_CONSISTENCY][0];
	const struct kt_ledger_entry *first = b->n[KT_EV_ENTRY] ? &b->entries[0].e : NULL;
	size_t plen = s->len >= 41 ? s->p[40] : 0;

	if (b->n[KT_EV_BATCHED] && (!first || b->batched[0].e.index < first->index))
		first = &b->batched[0].e;

	if (s->len != 41 + plen * KT_HASH_LEN || plen > KT_MERKLE_MAX_PROOF)
		return kt_fail(err, "format", "consistency section length %zu", s->len);
	if (kt_be_get(s->p, 8) != first->index || CRYPTO_memcmp(s->p + 8, first->prev_root,
								KT_HASH_LEN))
		return kt_fail(err, "consistency", "the proof is not from the tree entry %llu was "
			       "written on", (unsigned long long)first->index);
	if (kt_merkle_verify_consistency(first->index, b->sth.size, first->prev_root, b->sth.root,
					 (const kt_hash *)(s->p + 41), plen))
		return kt_fail(err, "consistency", "the signed head does not extend the tree of "
			       "%llu entries", (unsigned long long)first->index);
	return 0;
}

static X509 *der_cert(const uint8_t *der, size_t len)
{
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x && p != der + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* A chain section: N, then N x (u16 length, DER); *certs gets them. */
static int parse_chain(const struct section *s, STACK_OF(X509) *certs, struct kt_err *err)
{
	size_t off = 1, clen, i, n = s->p[0];
	X509 *x;

	if (!n || n > CHAIN_MAX)
		return kt_fail(err, "format", "chain of %zu certificates", n);
	for (i = 0; i < n; i++) {
		clen = off + 2 <= s->len ? kt_be_get(s->p + off, 2) : 0;
		if (!clen || clen > s->len - off - 2)
			return kt_fail(err, "format", "chain certificate %zu truncated", i);
		x = der_cert(s->p + off + 2, clen);
		if (!x || !sk_X509_push(certs, x)) {
			X509_free(x);
			return kt_fail(err, "chain", "certificate %zu does not parse", i);
		}
		off += 2 + clen;
	}
	return off == s->len ? 0 : kt_fail(err, "format", "bytes after a chain's certificates");
}

static bool same_cert(X509 *x, const uint8_t *der, size_t len)
{
	unsigned char *mine = NULL;
	int n = i2d_X509(x, &mine);
	bool same = n > 0 && (size_t)n == len && !memcmp(mine, der, len);

	OPENSSL_free(mine);
	return same;
}

/*
 * Each chain: its leaf signed an entry or the head, and the path the
 * anchors give for it, with the chain's other certificates offered, is the
 * chain itself, certificate by certificate. Every signer has a chain.
 */
static int check_chain(const struct bundle *b, size_t i, struct kt_pki_dir *anchors,
		       STACK_OF(X509) **all, struct kt_err *err)
{
	STACK_OF(X509) *certs = sk_X509_new_null(), *path = NULL, *rest = NULL;
	unsigned char *der = NULL;
	int len, k, ret = -1;

	if (!certs || parse_chain(&b->s[KT_EV_CHAIN][i], certs, err))
		goto out;
	rest = sk_X509_dup(certs);
	if (!rest)
		goto out;
	(void)sk_X509_shift(rest);
	len = i2d_X509(sk_X509_value(certs, 0), &der);
	if (len <= 0 || chain_of(der, (size_t)len, anchors, rest, &path, err)) {
		fail_in(err, "chain", "a chain");
		goto out;
	}
	if (sk_X509_num(path) != sk_X509_num(certs)) {
		kt_fail(err, "chain", "chain %zu is not the path the anchors give", i);
		goto out;
	}
	for (k = 0; k < sk_X509_num(path); k++) {
		unsigned char *p = NULL;
		int plen = i2d_X509(sk_X509_value(path, k), &p);
		bool same = plen > 0 && same_cert(sk_X509_value(certs, k), p, (size_t)plen);

		OPENSSL_free(p);
		if (!same) {
			kt_fail(err, "chain", "chain %zu is not the path the anchors give", i);
			goto out;
		}
	}
	for (k = 0; k < sk_X509_num(certs); k++)
		if (X509_up_ref(sk_X509_value(certs, k)) != 1 ||
		    !sk_X509_push(*all, sk_X509_value(certs, k))) {
			kt_fail(err, "evidence", "out of memory");
			goto out;
		}
	ret = 0;
out:
	OPENSSL_free(der);
	sk_X509_free(rest);
	sk_X509_pop_free(path, X509_free);
	sk_X509_pop_free(certs, X509_free);
	return ret;
}

static bool chain_leaf_is(const struct bundle *b, size_t i, const uint8_t *der, size_t len)
{
	const struct section *s = &b->s[KT_EV_CHAIN][i];

	return s->len >= 3 + len && kt_be_get(s->p + 1, 2) == len && !memcmp(s->p + 3, der, len);
}

static int signer_has_chain(const struct bundle *b, const uint8_t *der, size_t len,
			    const char *what, struct kt_err *err)
{
	size_t i;

	for (i = 0; i < b->n[KT_EV_CHAIN]; i++)
		if (chain_leaf_is(b, i, der, len))
			return 0;
	return kt_fail(err, "chain", "%s: no certificate chain for its signer", what);
}

static int signer_add(struct bundle *b, const uint8_t *cert, size_t len, uint64_t time,
		      const char *what, uint64_t index)
{
	struct ev_signer *s = realloc(b->signers, (b->n_signers + 1) * sizeof(*s));
	X509 *x;

	if (!s)
		return -1;
	b->signers = s;
	s = &b->signers[b->n_signers++];
	s->cert = cert;
	s->len = len;
	s->time = time;
	s->index = index;
	snprintf(s->what, sizeof(s->what), what, (unsigned long long)index);
	/* Checked already (the entry's, head's or header's own check): it parses. */
	x = der_cert(cert, len);
	if (!x || kt_ledger_cert_id(x, s->id, NULL, NULL))
		s->id[0] = '\0';
	X509_free(x);
	return 0;
}

/*
 * The head's, every entry's, every batch entry's and every host batch
 * header's signer; apart, each report's (its x5c leaf, verified later).
 */
static int collect_signers(struct bundle *b, struct kt_err *err)
{
	size_t i, len;
	uint8_t *der;
	int ret;

	b->report_signers = calloc(b->n[KT_EV_REPORT] + 1, sizeof(*b->report_signers));
	if (!b->report_signers)
		return kt_fail(err, "evidence", "out of memory");
	for (i = 0; i < b->n[KT_EV_REPORT]; i++) {
		struct ev_signer *rs = &b->report_signers[i];
		X509 *x;

		snprintf(rs->what, sizeof(rs->what), "report %zu", i);
		if (report_signer(b->s[KT_EV_REPORT][i].p, b->s[KT_EV_REPORT][i].len, &der, &len,
				  &rs->time, err))
			return fail_in(err, NULL, rs->what);
		x = der_cert(der, len);
		if (!x || kt_ledger_cert_id(x, rs->id, NULL, NULL))
			rs->id[0] = '\0';
		X509_free(x);
		free(der);
	}

	ret = signer_add(b, b->sth.cert, b->sth.cert_len, b->sth.time, "head", b->sth.size);
	for (i = 0; i < b->n[KT_EV_ENTRY] && !ret; i++)
		ret = signer_add(b, b->entries[i].e.cert, b->entries[i].e.cert_len,
				 b->entries[i].e.time, "entry %llu", b->entries[i].index);
	for (i = 0; i < b->n[KT_EV_BATCHED] && !ret; i++) {
		const struct ev_batched *x = &b->batched[i];

		ret = signer_add(b, x->e.cert, x->e.cert_len, x->e.time, "entry %llu", x->index) ||
		      signer_add(b, x->hb.cert, x->hb.cert_len, x->hb.time,
				 "the host batch of entry %llu", x->index);
	}
	return ret ? kt_fail(err, "evidence", "out of memory") : 0;
}

static int check_chains(const struct bundle *b, const char *anchors_path, STACK_OF(X509) *all,
			struct kt_err *err)
{
	struct kt_pki_dir *anchors;
	size_t i, j;
	bool used;
	int ret = 0;

	if (kt_pki_dir_open(anchors_path, &anchors, err))
		return -1;
	for (i = 0; i < b->n[KT_EV_CHAIN] && !ret; i++) {
		for (j = 0, used = false; j < b->n_signers && !used; j++)
			used = chain_leaf_is(b, i, b->signers[j].cert, b->signers[j].len);
		for (j = 0; j < i && used; j++)
			used = !chain_leaf_is(b, i, b->s[KT_EV_CHAIN][j].p + 3,
					      kt_be_get(b->s[KT_EV_CHAIN][j].p + 1, 2));
		ret = used ? check_chain(b, i, anchors, &all, err) :
			kt_fail(err, "chain", "chain %zu: its leaf signed nothing in the bundle "
				"(or is there twice)", i);
	}
	kt_pki_dir_free(anchors);
	for (j = 0; j < b->n_signers && !ret; j++)
		ret = signer_has_chain(b, b->signers[j].cert, b->signers[j].len,
				       b->signers[j].what, err);
	return ret;
}

/*
 * No signer signed after its certificate was revoked in the ledger: an
 * entry or host batch at a higher index than the revocation, or the head
 * (which covers it). The revocations are the bundle's own entries.
 */
static int check_ledger_revocations(const struct bundle *b, struct kt_err *err)
{
	size_t i, j;

	for (i = 0; i < b->n[KT_EV_ENTRY]; i++) {
		const struct kt_ledger_entry *r = &b->entries[i].e;

		if (!kt_ledger_is_cert_revocation(r))
			continue;
		for (j = 0; j < b->n_signers; j++)
			if (!strcmp(b->signers[j].id, r->vm_id) && b->signers[j].index > r->index)
				return kt_fail(err, "revocation", "%s: signed by a certificate (%s) "
					       "revoked in ledger entry %llu, before it signed",
					       b->signers[j].what, r->vm_id,
					       (unsigned long long)r->index);
	}
	return 0;
}

static int revoked_before(const X509_REVOKED *rev, uint64_t when)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(rev), &tm))
		return -1;
	return (uint64_t)timegm(&tm) <= when;
}

/*
 * A CRL: signed by a CA certificate of the bundle's chains; no entry's
 * signer is on it with a revocation date at or before the entry's time.
 */
static int check_crl(const struct bundle *b, size_t i, STACK_OF(X509) *all, struct kt_err *err)
{
	const struct section *s = &b->s[KT_EV_CRL][i];
	const uint8_t *p = s->p;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)s->len);
	X509_REVOKED *rev;
	X509 *issuer = NULL, *leaf;
	size_t j;
	int k, ret = -1, r;

	if (!crl || p != s->p + s->len) {
		kt_fail(err, "crl", "CRL %zu does not parse", i);
		goto out;
	}
	for (k = 0; k < sk_X509_num(all) && !issuer; k++)
		if (!X509_NAME_cmp(X509_get_subject_name(sk_X509_value(all, k)),
				   X509_CRL_get_issuer(crl)) &&
		    X509_CRL_verify(crl, X509_get0_pubkey(sk_X509_value(all, k))) == 1)
			issuer = sk_X509_value(all, k);
	if (!issuer) {
		kt_fail(err, "crl", "CRL %zu is not signed by a CA of the bundle's chains", i);
		goto out;
	}
	for (j = 0; j < b->n_signers; j++) {
		const struct ev_signer *sg = &b->signers[j];

		leaf = der_cert(sg->cert, sg->len);
		r = leaf && !X509_NAME_cmp(X509_get_issuer_name(leaf), X509_CRL_get_issuer(crl)) &&
		    X509_CRL_get0_by_cert(crl, &rev, leaf) == 1 ? revoked_before(rev, sg->time) : 0;
		X509_free(leaf);
		if (r) {
			kt_fail(err, "revocation", "%s: its signer's certificate is on CRL %zu from "
				"before it was signed", sg->what, i);
			goto out;
		}
	}
	ret = 0;
out:
	X509_CRL_free(crl);
	return ret;
}

/* Every part of the JWS in its one base64url spelling, so no byte is slack. */
static bool jws_canonical(const char *jws)
{
	const char *part = jws, *dot;
	uint8_t *raw;
	char *again;
	size_t len, rlen;
	bool ok = true;
	int n;

	for (n = 0; n < 3 && ok; n++, part = dot + 1) {
		dot = strchr(part, '.');
		if (!dot)
			dot = part + strlen(part);
		len = (size_t)(dot - part);
		raw = kt_b64url_decode(part, len, &rlen);
		again = raw ? kt_b64url_encode(raw, rlen) : NULL;
		ok = again && strlen(again) == len && !memcmp(again, part, len) &&
		     (n == 2 ? !*dot : *dot == '.');
		free(raw);
		free(again);
	}
	return ok;
}

/* The first move that names grant id; NULL when none does. */
static const struct kt_ledger_entry *move_naming(const struct bundle *b, const char *id)
{
	size_t j;

	for (j = 0; j < b->n[KT_EV_ENTRY]; j++)
		if (b->entries[j].e.kind == KT_LEDGER_MOVE &&
		    grant_named(b->entries[j].e.detail, id))
			return &b->entries[j].e;
	return NULL;
}

static int parse_grants(struct bundle *b, struct kt_err *err)
{
	char *text, where[32];
	size_t i;
	int ret;

	b->grants = calloc(b->n[KT_EV_GRANT] + 1, sizeof(*b->grants));
	if (!b->grants)
		return kt_fail(err, "evidence", "out of memory");
	for (i = 0; i < b->n[KT_EV_GRANT]; i++) {
		const struct section *s = &b->s[KT_EV_GRANT][i];

		text = malloc(s->len + 1);
		if (!text)
			return kt_fail(err, "evidence", "out of memory");
		memcpy(text, s->p, s->len);
		text[s->len] = '\0';
		snprintf(where, sizeof(where), "grant %zu", i);
		ret = strlen(text) != s->len || !jws_canonical(text) ?
			kt_fail(err, "grant", "%s is not a compact JWS in base64url's one spelling",
				where) :
			kt_grant_parse(text, &b->grants[i], err) ? fail_in(err, "grant", where) : 0;
		free(text);
		if (ret)
			return -1;
	}
	return 0;
}

/*
 * Each grant: for the VM, named by a move, signed under the owner anchors
 * and valid at that move's time, not revoked by an entry before it. Each
 * move that names a grant has it in the bundle.
 */
static int check_grants_at(struct bundle *b, const char *owner_anchors,
			   struct kt_evidence_summary *sum, struct kt_err *err)
{
	struct kt_grant_trust trust = { 0 };
	const struct kt_ledger_entry *mv, *e;
	char where[128];
	size_t i, j;
	int ret = 0;

	if (b->n[KT_EV_GRANT] &&
	    (!owner_anchors ? kt_fail(err, "grant", "grants need --owner-anchors") :
	     kt_pki_dir_open(owner_anchors, &trust.owner_anchors, err)))
		return -1;
	for (i = 0; i < b->n[KT_EV_GRANT] && !ret; i++) {
		const struct kt_grant *g = &b->grants[i];

		mv = move_naming(b, g->id);
		for (j = 0; j < i && !ret; j++)
			if (!strcmp(b->grants[j].id, g->id))
				ret = kt_fail(err, "grant", "grant %s is there twice", g->id);
		if (!ret && strcmp(g->vm, b->vm))
			ret = kt_fail(err, "grant", "grant %s is for VM %s", g->id, g->vm);
		else if (!ret && !mv)
			ret = kt_fail(err, "grant", "no move entry names grant %s", g->id);
		else if (!ret && (kt_grant_verify(g, &trust, (time_t)mv->time, err) ||
				  kt_grant_check_window(g, (time_t)mv->time, err))) {
			snprintf(where, sizeof(where), "grant %s at entry %llu: %s", g->id,
				 (unsigned long long)mv->index, err->check ? err->check : "grant");
			ret = fail_in(err, "grant", where);
		}
		for (j = 0; j < b->n[KT_EV_ENTRY] && !ret; j++) {
			e = &b->entries[j].e;
			if (e->kind == KT_LEDGER_REVOKE && grant_named(e->vm_id, g->id) &&
			    e->index < mv->index)
				ret = kt_fail(err, "grant", "grant %s was revoked at entry %llu, "
					      "before the move at entry %llu", g->id,
					      (unsigned long long)e->index,
					      (unsigned long long)mv->index);
		}
	}
	for (j = 0; j < b->n[KT_EV_ENTRY] && !ret; j++) {
		e = &b->entries[j].e;
		if (e->kind != KT_LEDGER_MOVE)
			continue;
		if (strncmp(e->detail, KT_GRANT_REVOKE_PREFIX, strlen(KT_GRANT_REVOKE_PREFIX))) {
			sum->moves_without_grant++;
			continue;
		}
		for (i = 0; i < b->n[KT_EV_GRANT] && !grant_named(e->detail, b->grants[i].id); i++)
			;
		if (i == b->n[KT_EV_GRANT])
			ret = kt_fail(err, "grant", "entry %llu names %s, which the bundle lacks",
				      (unsigned long long)e->index, e->detail);
	}
	kt_pki_dir_free(trust.owner_anchors);
	return ret;
}

/* The report digests the bundle's entries and batched results name (zeros: none). */
static const uint8_t *digest_at(const struct bundle *b, size_t j)
{
	return j < b->n[KT_EV_ENTRY] ? b->entries[j].e.report :
		b->batched[j - b->n[KT_EV_ENTRY]].r.report;
}

/*
 * A report's own signature: the report JWS, its x5c chain to the anchors
 * judged at the report's iat, its claims (attest/report.h, any age); then
 * that no certificate revocation in the bundle of its signer is dated at
 * or before the report.
 */
static int check_report_signed(const struct bundle *b, size_t i, const char *anchors,
			       struct kt_err *err)
{
	const struct section *s = &b->s[KT_EV_REPORT][i];
	const struct ev_signer *rs = &b->report_signers[i];
	struct kt_report_policy pol = {
		.anchors = anchors, .max_age = -1, .chain_at = KT_REPORT_CHAIN_AT_IAT,
	};
	char *text = report_text(s->p, s->len);
	size_t j;
	int ret;

	if (!text)
		return kt_fail(err, "evidence", "out of memory");
	ret = kt_report_verify(text, &pol, NULL, err);
	free(text);
	if (ret)
		return fail_in(err, NULL, rs->what);
	for (j = 0; j < b->n[KT_EV_ENTRY]; j++) {
		const struct kt_ledger_entry *r = &b->entries[j].e;

		if (kt_ledger_is_cert_revocation(r) && rs->id[0] && !strcmp(r->vm_id, rs->id) &&
		    r->time <= rs->time)
			return kt_fail(err, "revocation", "%s: signed by a certificate (%s) revoked "
				       "in ledger entry %llu, at or before the report's time",
				       rs->what, rs->id, (unsigned long long)r->index);
	}
	return 0;
}

/*
 * Each report is one a digest names and is signed (check_report_signed());
 * digests with no report are counted.
 */
static int check_reports(const struct bundle *b, const char *anchors,
			 struct kt_evidence_summary *sum, struct kt_err *err)
{
	static const kt_hash zero;
	size_t i, j, n = b->n[KT_EV_ENTRY] + b->n[KT_EV_BATCHED];
	kt_hash *d = calloc(b->n[KT_EV_REPORT] + 1, sizeof(*d));
	bool found;
	int ret = -1;

	if (!d)
		return kt_fail(err, "evidence", "out of memory");
	for (i = 0; i < b->n[KT_EV_REPORT]; i++) {
		kt_sha256(b->s[KT_EV_REPORT][i].p, b->s[KT_EV_REPORT][i].len, d[i]);
		for (j = 0, found = false; j < n && !found; j++)
			found = !CRYPTO_memcmp(digest_at(b, j), d[i], KT_HASH_LEN);
		if (!found) {
			kt_fail(err, "report", "report %zu matches no entry's digest", i);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (!CRYPTO_memcmp(d[j], d[i], KT_HASH_LEN)) {
				kt_fail(err, "report", "report %zu is there twice", i);
				goto out;
			}
		if (check_report_signed(b, i, anchors, err))
			goto out;
	}
	for (j = 0; j < n; j++) {
		if (!CRYPTO_memcmp(digest_at(b, j), zero, KT_HASH_LEN))
			continue;
		for (i = 0, found = false; i < b->n[KT_EV_REPORT] && !found; i++)
			found = !CRYPTO_memcmp(digest_at(b, j), d[i], KT_HASH_LEN);
		sum->reports_missing += !found;
	}
	ret = 0;
out:
	free(d);
	return ret;
}

int kt_evidence_verify(const uint8_t *buf, size_t len, const char *anchors,
		       const char *owner_anchors, struct kt_evidence_summary *s,
		       struct kt_err *err)
{
	struct bundle *b = calloc(1, sizeof(*b));
	STACK_OF(X509) *all = sk_X509_new_null();
	size_t i;
	int ret = -1;

	memset(s, 0, sizeof(*s));
	if (!b || !all) {
		kt_fail(err, "evidence", "out of memory");
		goto out;
	}
	if (parse_sections(b, buf, len, err) || parse_entries(b, err) || parse_batched(b, err) ||
	    parse_grants(b, err) || kt_ledger_auth_load(anchors, owner_anchors, &b->auth, err) ||
	    check_head(b, err) || check_entries(b, err) || check_batched(b, err) ||
	    collect_signers(b, err) || check_about(b, s, err) || check_consistency(b, err) ||
	    check_chains(b, anchors, all, err))
		goto out;
	for (i = 0; i < b->n[KT_EV_CRL]; i++)
		if (check_crl(b, i, all, err))
			goto out;
	if (check_ledger_revocations(b, err))
		goto out;
	if (check_grants_at(b, owner_anchors, s, err) || check_reports(b, anchors, s, err))
		goto out;
	memcpy(s->vm, b->vm, sizeof(s->vm));
	s->size = b->sth.size;
	s->head_time = b->sth.time;
	memcpy(s->root, b->sth.root, KT_HASH_LEN);
	s->chains = b->n[KT_EV_CHAIN];
	s->crls = b->n[KT_EV_CRL];
	s->grants = b->n[KT_EV_GRANT];
	s->reports = b->n[KT_EV_REPORT];
	ret = 0;
out:
	if (ret)
		kt_evidence_summary_free(s);
	if (b) {
		for (i = 0; b->grants && i < b->n[KT_EV_GRANT]; i++)
			kt_grant_free(&b->grants[i]);
		free(b->grants);
		free(b->entries);
		free(b->batched);
		free(b->facts);
		free(b->signers);
		free(b->report_signers);
		for (i = 0; i <= SECTION_LAST; i++)
			free(b->s[i]);
		kt_ledger_auth_free(b->auth);
	}
	sk_X509_pop_free(all, X509_free);
	free(b);
	return ret;
}
