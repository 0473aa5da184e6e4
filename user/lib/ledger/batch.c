// SPDX-License-Identifier: GPL-2.0
/*
 * Host batches of VM results: sealing, parsing, roots, proofs and the
 * daemon's builder (batch.h). Records are kept in ascending order of VM
 * UUID, which is the one encoding of a set of results and makes a VM
 * appearing twice in one batch a format error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/encoding.h"
#include "identity/jws.h"
#include "identity/quote.h"
#include "ledger/batch.h"

#define R_VM 0
#define R_RESULT 16
#define R_REPORT 17
#define R_MEMORY 49
#define R_VCPU 81

int kt_batch_record_encode(const struct kt_batch_result *r, uint8_t *out)
{
	if (kt_uuid_parse(r->vm_id, out + R_VM) ||
	    (r->result != KT_LEDGER_PASS && r->result != KT_LEDGER_FAIL))
		return -1;
	out[R_RESULT] = r->result;
	memcpy(out + R_REPORT, r->report, KT_HASH_LEN);
	memcpy(out + R_MEMORY, r->memory_root, KT_HASH_LEN);
	memcpy(out + R_VCPU, r->vcpu_root, KT_HASH_LEN);
	return 0;
}

int kt_batch_record_decode(const uint8_t *rec, struct kt_batch_result *r)
{
	kt_uuid_format(rec + R_VM, r->vm_id);
	r->result = rec[R_RESULT];
	memcpy(r->report, rec + R_REPORT, KT_HASH_LEN);
	memcpy(r->memory_root, rec + R_MEMORY, KT_HASH_LEN);
	memcpy(r->vcpu_root, rec + R_VCPU, KT_HASH_LEN);
	return r->result == KT_LEDGER_PASS || r->result == KT_LEDGER_FAIL ? 0 : -1;
}

static int by_vm(const void *a, const void *b)
{
	return memcmp(a, b, KT_UUID_LEN);
}

/* The leaves of n records laid out at stride; their root. */
static void records_root(const uint8_t *rec, uint32_t n, kt_hash *leaves, kt_hash root)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		kt_merkle_leaf_hash(rec + (size_t)i * KT_BATCH_RECORD_STRIDE, KT_BATCH_RECORD_LEN,
				    leaves[i]);
	kt_merkle_root(leaves, n, root);
}

/* Records encoded, sorted by VM and unique, with their check bytes; the root. */
static int seal_records(const struct kt_batch_result *r, size_t n, uint8_t *rec, kt_hash root,
			struct kt_err *err)
{
	kt_hash *leaves = malloc(n * sizeof(kt_hash));
	char vm[KT_UUID_STR_LEN + 1];
	size_t i;

	if (!leaves)
		return kt_fail(err, "batch", "out of memory");
	for (i = 0; i < n; i++) {
		if (kt_batch_record_encode(&r[i], rec + i * KT_BATCH_RECORD_STRIDE)) {
			free(leaves);
			return kt_fail(err, "format", "result %zu: VM '%s' is not a UUID or result is "
				       "not pass or fail", i, r[i].vm_id);
		}
	}
	qsort(rec, n, KT_BATCH_RECORD_STRIDE, by_vm);
	for (i = 1; i < n; i++) {
		if (!by_vm(rec + (i - 1) * KT_BATCH_RECORD_STRIDE, rec + i * KT_BATCH_RECORD_STRIDE)) {
			kt_uuid_format(rec + i * KT_BATCH_RECORD_STRIDE, vm);
			free(leaves);
			return kt_fail(err, "format", "VM %s has two results in one batch", vm);
		}
	}
	records_root(rec, (uint32_t)n, leaves, root);
	for (i = 0; i < n; i++)
		memcpy(rec + i * KT_BATCH_RECORD_STRIDE + KT_BATCH_RECORD_LEN, leaves[i],
		       KT_BATCH_CHECK_LEN);
	free(leaves);
	return 0;
}

/* Version 2's quote fields after the certificate: P, PCR before, A, quote, S, signature. */
static size_t quote_fields_len(const struct kt_quote *q)
{
	return q ? 1 + KT_HASH_LEN + 2 + q->attest.len + 2 + q->sig.len : 0;
}

static void put_quote_fields(uint8_t *p, const struct kt_quote *q)
{
	p[0] = (uint8_t)q->pcr;
	memcpy(p + 1, q->pcr_prev, KT_HASH_LEN);
	p += 1 + KT_HASH_LEN;
	kt_be_put(p, q->attest.len, 2);
	memcpy(p + 2, q->attest.data, q->attest.len);
	p += 2 + q->attest.len;
	kt_be_put(p, q->sig.len, 2);
	memcpy(p + 2, q->sig.data, q->sig.len);
}

int kt_batch_seal(const struct kt_ledger_signer *s, const uint8_t host_id[KT_UUID_LEN],
		  uint64_t time, const struct kt_batch_result *r, size_t n, uint8_t **out,
		  size_t *len, struct kt_err *err)
{
	uint8_t fixed[KT_BATCH_QUOTED], *rec = NULL, *p = NULL;
	struct kt_quote quote = { 0 }, *q = NULL;
	size_t hdr, total;
	kt_hash digest;

	if (!n || n > KT_BATCH_MAX)
		return kt_fail(err, "batch", "a batch holds 1 to %d results, not %zu", KT_BATCH_MAX, n);
	rec = malloc(n * KT_BATCH_RECORD_STRIDE);
	if (!rec)
		return kt_fail(err, "batch", "out of memory");
	if (seal_records(r, n, rec, fixed + 29, err))
		goto fail;
	fixed[0] = s->quote ? KT_BATCH_VERSION_TPM : KT_BATCH_VERSION;
	memcpy(fixed + 1, host_id, KT_UUID_LEN);
	kt_be_put(fixed + 17, time, 8);
	kt_be_put(fixed + 25, n, 4);
	if (s->quote) {
		kt_sha256(fixed, sizeof(fixed), digest);
		if (s->quote(s->ctx, digest, &quote, err))
			goto fail;
		q = &quote;
		if (q->pcr > 23 || q->attest.len > KT_BATCH_QUOTE_MAX ||
		    q->sig.len > KT_BATCH_QUOTE_MAX) {
			kt_fail(err, "batch-quote", "the TPM's quote does not fit a host batch");
			goto fail;
		}
	}
	hdr = KT_BATCH_HEADER_FIXED + s->cert_len + quote_fields_len(q);
	total = hdr + KT_ES256_SIG_LEN + n * KT_BATCH_RECORD_STRIDE;
	p = malloc(total);
	if (!p) {
		kt_fail(err, "batch", "out of memory");
		goto fail;
	}
	memcpy(p, fixed, sizeof(fixed));
	kt_be_put(p + 61, s->cert_len, 2);
	memcpy(p + KT_BATCH_HEADER_FIXED, s->cert, s->cert_len);
	if (q)
		put_quote_fields(p + KT_BATCH_HEADER_FIXED + s->cert_len, q);
	memcpy(p + hdr + KT_ES256_SIG_LEN, rec, n * KT_BATCH_RECORD_STRIDE);
	if (kt_ledger_signer_sign(s, p, hdr, p + hdr, err))
		goto fail;
	kt_quote_free(&quote);
	free(rec);
	*out = p;
	*len = total;
	return 0;
fail:
	kt_quote_free(&quote);
	free(p);
	free(rec);
	return -1;
}

/*
 * Version 2's quote fields at p + *off, within len: P, the PCR before, the
 * quote and its signature, each length-prefixed; *off moves past them.
 */
static int quote_fields(const uint8_t *p, size_t len, size_t *off, struct kt_batch *b)
{
	size_t at = *off;

	if (len - at < 1 + KT_HASH_LEN + 2)
		return -1;
	b->pcr = p[at];
	b->pcr_prev = p + at + 1;
	at += 1 + KT_HASH_LEN;
	b->quote_len = kt_be_get(p + at, 2);
	b->quote = p + at + 2;
	at += 2;
	if (b->quote_len > KT_BATCH_QUOTE_MAX || len - at < b->quote_len + 2)
		return -1;
	at += b->quote_len;
	b->quote_sig_len = kt_be_get(p + at, 2);
	b->quote_sig = p + at + 2;
	at += 2;
	if (b->quote_sig_len > KT_BATCH_QUOTE_MAX || len - at < b->quote_sig_len)
		return -1;
	*off = at + b->quote_sig_len;
	return 0;
}

/* The header's fields; the records, if any, are the caller's. */
static int header_fields(const uint8_t *p, size_t len, struct kt_batch *b, struct kt_err *err)
{
	size_t off;

	memset(b, 0, sizeof(*b));
	if (len < KT_BATCH_HEADER_FIXED + KT_ES256_SIG_LEN ||
	    (p[0] != KT_BATCH_VERSION && p[0] != KT_BATCH_VERSION_TPM))
		return kt_fail(err, "format", "not a version %d or %d host batch", KT_BATCH_VERSION,
			       KT_BATCH_VERSION_TPM);
	b->raw = p;
	b->len = len;
	b->version = p[0];
	memcpy(b->host_id, p + 1, KT_UUID_LEN);
	b->time = kt_be_get(p + 17, 8);
	b->n = (uint32_t)kt_be_get(p + 25, 4);
	memcpy(b->root, p + 29, KT_HASH_LEN);
	b->cert_len = kt_be_get(p + 61, 2);
	b->cert = p + KT_BATCH_HEADER_FIXED;
	off = KT_BATCH_HEADER_FIXED + b->cert_len;
	if (!b->cert_len || b->cert_len > KT_LEDGER_CERT_MAX || !b->n || b->n > KT_BATCH_MAX ||
	    len < off || (b->version == KT_BATCH_VERSION_TPM && quote_fields(p, len, &off, b)) ||
	    len - off < KT_ES256_SIG_LEN)
		return kt_fail(err, "format", "host batch length %zu does not match its fields", len);
	b->sig = p + off;
	b->header_len = off + KT_ES256_SIG_LEN;
	return 0;
}

int kt_batch_check_quote(const struct kt_batch *b, EVP_PKEY *pub, struct kt_err *err)
{
	struct kt_blob attest = { (uint8_t *)b->quote, b->quote_len };
	struct kt_blob sig = { (uint8_t *)b->quote_sig, b->quote_sig_len };
	char host[KT_UUID_STR_LEN + 1], msg[sizeof(err->msg)];
	kt_hash digest, value;

	if (b->version != KT_BATCH_VERSION_TPM)
		return 0;
	kt_uuid_format(b->host_id, host);
	if (!b->quote_len || !b->quote_sig_len)
		return kt_fail(err, "batch-quote", "batch of host %s: claims a TPM key but carries no "
			       "quote", host);
	if (b->pcr > 23)
		return kt_fail(err, "batch-quote", "batch of host %s: PCR %u is not a PCR", host,
			       b->pcr);
	kt_sha256(b->raw, KT_BATCH_QUOTED, digest);
	kt_pcr_extend_sw(b->pcr_prev, digest, value);
	if (kt_quote_verify(pub, &attest, &sig, b->pcr, value, digest, KT_HASH_LEN, NULL, err)) {
		memcpy(msg, err->msg, sizeof(msg));
		return kt_fail(err, "batch-quote", "batch of host %s: %s", host, msg);
	}
	return 0;
}

int kt_batch_header_parse(const uint8_t *p, size_t len, struct kt_batch *b, struct kt_err *err)
{
	if (header_fields(p, len, b, err))
		return -1;
	if (len != b->header_len)
		return kt_fail(err, "format", "host batch header length %zu does not match its "
			       "fields", len);
	return 0;
}

int kt_batch_parse(const uint8_t *p, size_t len, struct kt_batch *b, struct kt_err *err)
{
	const uint8_t *prev = NULL, *rec;
	uint32_t i;

	if (header_fields(p, len, b, err))
		return -1;
	if (len != b->header_len + (size_t)b->n * KT_BATCH_RECORD_STRIDE)
		return kt_fail(err, "format", "host batch length %zu does not match its fields", len);
	b->records = p + b->header_len;
	for (i = 0; i < b->n; i++, prev = rec) {
		rec = b->records + (size_t)i * KT_BATCH_RECORD_STRIDE;
		if (rec[R_RESULT] != KT_LEDGER_PASS && rec[R_RESULT] != KT_LEDGER_FAIL)
			return kt_fail(err, "format", "result %u: result is not pass or fail", i);
		if (prev && by_vm(prev, rec) >= 0)
			return kt_fail(err, "format", "result %u: results are not in ascending VM "
				       "order (or a VM appears twice)", i);
	}
	return 0;
}

int kt_batch_check_root(const struct kt_batch *b, struct kt_err *err)
{
	kt_hash *leaves = malloc(b->n * sizeof(kt_hash)), root;
	char vm[KT_UUID_STR_LEN + 1];
	const uint8_t *rec;
	uint32_t i;

	if (!leaves)
		return kt_fail(err, "batch", "out of memory");
	records_root(b->records, b->n, leaves, root);
	for (i = 0; i < b->n; i++) {
		rec = b->records + (size_t)i * KT_BATCH_RECORD_STRIDE;
		if (CRYPTO_memcmp(rec + KT_BATCH_RECORD_LEN, leaves[i], KT_BATCH_CHECK_LEN)) {
			kt_uuid_format(rec + R_VM, vm);
			free(leaves);
			return kt_fail(err, "batch", "result %u (VM %s): does not match its check "
				       "bytes: the record was changed", i, vm);
		}
	}
	free(leaves);
	if (CRYPTO_memcmp(root, b->root, KT_HASH_LEN))
		return kt_fail(err, "batch", "the results do not hash to the batch's signed root");
	return 0;
}

int kt_batch_result_at(const struct kt_batch *b, uint32_t i, struct kt_batch_result *r)
{
	if (i >= b->n)
		return -1;
	return kt_batch_record_decode(b->records + (size_t)i * KT_BATCH_RECORD_STRIDE, r);
}

void kt_batch_record_leaf(const struct kt_batch *b, uint32_t i, kt_hash leaf)
{
	kt_merkle_leaf_hash(b->records + (size_t)i * KT_BATCH_RECORD_STRIDE, KT_BATCH_RECORD_LEN,
			    leaf);
}

void kt_batch_header_leaf(const struct kt_batch *b, kt_hash leaf)
{
	kt_merkle_leaf_hash(b->raw, b->header_len, leaf);
}

int kt_batch_prove(const struct kt_batch *b, uint32_t i, kt_hash *proof, size_t *proof_len)
{
	kt_hash *leaves = malloc(b->n * sizeof(kt_hash)), root;
	int len;

	if (!leaves)
		return -1;
	records_root(b->records, b->n, leaves, root);
	len = kt_merkle_inclusion_proof(leaves, b->n, i, proof);
	free(leaves);
	if (len < 0)
		return -1;
	*proof_len = (size_t)len;
	return 0;
}

int kt_batch_body_encode(const uint8_t *const *batches, const size_t *lens, size_t k,
			 uint8_t **out, size_t *len, kt_hash root, struct kt_err *err)
{
	size_t total = 4, i, off;
	uint8_t *p;

	if (!k || k > KT_BATCH_ENTRY_MAX)
		return kt_fail(err, "batch", "an entry holds 1 to %d host batches, not %zu",
			       KT_BATCH_ENTRY_MAX, k);
	for (i = 0; i < k; i++)
		total += 4 + lens[i];
	p = malloc(total);
	if (!p)
		return kt_fail(err, "batch", "out of memory");
	kt_be_put(p, k, 4);
	for (i = 0, off = 4; i < k; i++) {
		kt_be_put(p + off, lens[i], 4);
		memcpy(p + off + 4, batches[i], lens[i]);
		off += 4 + lens[i];
	}
	if (kt_batch_body_root(p, total, NULL, NULL, root, err)) {
		free(p);
		return -1;
	}
	*out = p;
	*len = total;
	return 0;
}

void kt_batch_name(const uint8_t host_id[KT_UUID_LEN], uint64_t time,
		   char name[KT_BATCH_NAME_LEN + 1])
{
	kt_hex_encode(host_id, KT_UUID_LEN, name);
	snprintf(name + 2 * KT_UUID_LEN, KT_BATCH_NAME_LEN + 1 - 2 * KT_UUID_LEN, "-%016llx",
		 (unsigned long long)time);
}

int kt_batch_refs_encode(const uint8_t *const *batches, const size_t *lens, size_t k,
			 uint8_t **out, size_t *len, kt_hash root, struct kt_err *err)
{
	size_t total = 4 + k * KT_BATCH_REF_LEN, i;
	kt_hash *leaves;
	struct kt_batch b;
	uint8_t *p, *ref;

	if (!k || k > KT_BATCH_ENTRY_MAX)
		return kt_fail(err, "batch", "an entry holds 1 to %d host batches, not %zu",
			       KT_BATCH_ENTRY_MAX, k);
	p = malloc(total);
	leaves = malloc(k * sizeof(kt_hash));
	if (!p || !leaves) {
		free(p);
		free(leaves);
		return kt_fail(err, "batch", "out of memory");
	}
	kt_be_put(p, k, 4);
	for (i = 0; i < k; i++) {
		if (kt_batch_parse(batches[i], lens[i], &b, err)) {
			free(p);
			free(leaves);
			return -1;
		}
		ref = p + 4 + i * KT_BATCH_REF_LEN;
		memcpy(ref, b.host_id, KT_UUID_LEN);
		kt_be_put(ref + KT_UUID_LEN, b.time, 8);
		kt_sha256(batches[i], lens[i], ref + KT_UUID_LEN + 8);
		kt_batch_header_leaf(&b, leaves[i]);
	}
	kt_merkle_root(leaves, k, root);
	free(leaves);
	*out = p;
	*len = total;
	return 0;
}

/* One referenced blob against its reference; names what differs. */
static int ref_check(const uint8_t *ref, const uint8_t *blob, size_t len, struct kt_err *err)
{
	struct kt_batch b;
	kt_hash digest;

	kt_sha256(blob, len, digest);
	if (!CRYPTO_memcmp(digest, ref + KT_UUID_LEN + 8, KT_HASH_LEN))
		return 0;
	/* Changed: name the record where the change is one. */
	if (!kt_batch_parse(blob, len, &b, err) && kt_batch_check_root(&b, err))
		return -1;
	return kt_fail(err, "batch-blob", "the stored host batch differs from the one the "
		       "entry references (SHA-256 differs): the blob was altered");
}

int kt_batch_refs_expand(const uint8_t *refs, size_t len, kt_batch_fetch_fn fetch, void *arg,
			 uint8_t **body, size_t *body_len, struct kt_err *err)
{
	uint64_t k = len >= 4 ? kt_be_get(refs, 4) : 0, i;
	char name[KT_BATCH_NAME_LEN + 1], host[KT_UUID_STR_LEN + 1], msg[sizeof(err->msg)];
	uint8_t **blob;
	size_t *blen, total = 4, off;
	struct kt_err local;
	const uint8_t *ref;
	int ret = -1;

	if (!err)
		err = &local;
	if (!k || k > KT_BATCH_ENTRY_MAX || len != 4 + k * KT_BATCH_REF_LEN)
		return kt_fail(err, "format", "batch references: length %zu does not hold 1 to %d "
			       "references", len, KT_BATCH_ENTRY_MAX);
	blob = calloc(k, sizeof(*blob));
	blen = calloc(k, sizeof(*blen));
	if (!blob || !blen) {
		kt_fail(err, "batch", "out of memory");
		goto out;
	}
	for (i = 0; i < k; i++) {
		ref = refs + 4 + i * KT_BATCH_REF_LEN;
		kt_batch_name(ref, kt_be_get(ref + KT_UUID_LEN, 8), name);
		kt_uuid_format(ref, host);
		if (fetch(arg, name, &blob[i], &blen[i], err)) {
			if (err->check && !strcmp(err->check, "missing"))
				kt_fail(err, "batch-blob", "batch %llu (host %s): its stored host batch "
					"%s is missing", (unsigned long long)i, host, name);
			goto out;
		}
		if (ref_check(ref, blob[i], blen[i], err)) {
			memcpy(msg, err->msg, sizeof(msg));
			kt_fail(err, err->check, "batch %llu (host %s): %s", (unsigned long long)i,
				host, msg);
			goto out;
		}
		total += 4 + blen[i];
	}
	*body = malloc(total);
	if (!*body) {
		kt_fail(err, "batch", "out of memory");
		goto out;
	}
	kt_be_put(*body, k, 4);
	for (i = 0, off = 4; i < k; i++) {
		kt_be_put(*body + off, blen[i], 4);
		memcpy(*body + off + 4, blob[i], blen[i]);
		off += 4 + blen[i];
	}
	*body_len = total;
	ret = 0;
out:
	for (i = 0; blob && i < k; i++)
		free(blob[i]);
	free(blob);
	free(blen);
	return ret;
}

int kt_batch_body_next(const uint8_t *body, size_t len, size_t *off, struct kt_batch *b,
		       struct kt_err *err)
{
	size_t n;

	if (!*off) {
		if (len < 4)
			return kt_fail(err, "format", "batch body truncated");
		*off = 4;
	}
	if (*off == len)
		return 1;
	if (len - *off < 4 || (n = kt_be_get(body + *off, 4)) > len - *off - 4)
		return kt_fail(err, "format", "batch body truncated");
	if (kt_batch_parse(body + *off + 4, n, b, err))
		return -1;
	*off += 4 + n;
	return 0;
}

int kt_batch_body_root(const uint8_t *body, size_t len, uint32_t *k_out, kt_hash *leaves_out,
		       kt_hash root, struct kt_err *err)
{
	uint64_t k = len >= 4 ? kt_be_get(body, 4) : 0, i = 0;
	kt_hash *leaves;
	struct kt_batch b;
	size_t off = 0;
	int ret;

	if (!k || k > KT_BATCH_ENTRY_MAX)
		return kt_fail(err, "format", "a batch entry holds 1 to %d host batches",
			       KT_BATCH_ENTRY_MAX);
	leaves = leaves_out ? leaves_out : malloc(k * sizeof(kt_hash));
	if (!leaves)
		return kt_fail(err, "batch", "out of memory");
	while (!(ret = kt_batch_body_next(body, len, &off, &b, err))) {
		if (i == k) {
			ret = kt_fail(err, "format", "batch body holds more than its %llu batches",
				      (unsigned long long)k);
			break;
		}
		kt_batch_header_leaf(&b, leaves[i++]);
	}
	if (ret < 0 && i < k) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		kt_fail(err, err->check, "batch %llu: %s", (unsigned long long)i, msg);
	}
	if (ret == 1 && i != k)
		ret = kt_fail(err, "format", "batch body holds %llu of its %llu batches",
			      (unsigned long long)i, (unsigned long long)k);
	if (ret == 1)
		kt_merkle_root(leaves, k, root);
	if (leaves != leaves_out)
		free(leaves);
	if (k_out)
		*k_out = (uint32_t)k;
	return ret == 1 ? 0 : -1;
}

/* The builder: results as added, sorted and made unique at seal time. */
struct kt_batch_builder {
	struct kt_batch_result *r;
	size_t n, cap;
};

struct kt_batch_builder *kt_batch_builder_new(void)
{
	return calloc(1, sizeof(struct kt_batch_builder));
}

void kt_batch_builder_free(struct kt_batch_builder *b)
{
	if (!b)
		return;
	free(b->r);
	free(b);
}

int kt_batch_builder_add(struct kt_batch_builder *b, const struct kt_batch_result *r,
			 struct kt_err *err)
{
	struct kt_batch_result *grown;
	uint8_t rec[KT_BATCH_RECORD_LEN];

	if (kt_batch_record_encode(r, rec))
		return kt_fail(err, "format", "VM '%s' is not a UUID or result is not pass or fail",
			       r->vm_id);
	if (b->n == KT_BATCH_MAX)
		return kt_fail(err, "batch", "a batch holds at most %d results", KT_BATCH_MAX);
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		grown = realloc(b->r, b->cap * sizeof(*grown));
		if (!grown)
			return kt_fail(err, "batch", "out of memory");
		b->r = grown;
	}
	b->r[b->n] = *r;
	kt_uuid_canonical(r->vm_id, b->r[b->n].vm_id);
	b->n++;
	return 0;
}

size_t kt_batch_builder_count(const struct kt_batch_builder *b)
{
	return b->n;
}

/* Latest result per VM: a stable order by VM, then the last of each run. */
struct slot {
	const struct kt_batch_result *r;
	size_t seq;
};

static int by_vm_then_seq(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	int c = strcmp(x->r->vm_id, y->r->vm_id);

	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

int kt_batch_builder_seal(struct kt_batch_builder *b, const struct kt_ledger_signer *signer,
			  const uint8_t host_id[KT_UUID_LEN], uint64_t time, uint8_t **out,
			  size_t *len, struct kt_err *err)
{
	struct kt_batch_result *uniq;
	struct slot *s;
	size_t i, n = 0;
	int ret;

	*out = NULL;
	*len = 0;
	if (!b->n)
		return 0;
	s = malloc(b->n * sizeof(*s));
	uniq = malloc(b->n * sizeof(*uniq));
	if (!s || !uniq) {
		free(s);
		free(uniq);
		return kt_fail(err, "batch", "out of memory");
	}
	for (i = 0; i < b->n; i++)
		s[i] = (struct slot){ .r = &b->r[i], .seq = i };
	qsort(s, b->n, sizeof(*s), by_vm_then_seq);
	for (i = 0; i < b->n; i++)
		if (i + 1 == b->n || strcmp(s[i].r->vm_id, s[i + 1].r->vm_id))
			uniq[n++] = *s[i].r;
	ret = kt_batch_seal(signer, host_id, time, uniq, n, out, len, err);
	free(s);
	free(uniq);
	if (!ret)
		b->n = 0;
	return ret;
}
