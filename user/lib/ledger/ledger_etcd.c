// SPDX-License-Identifier: GPL-2.0
/*
 * etcd ledger backend over the v3 JSON gateway (POST /v3/kv/range and
 * /v3/kv/txn), for several hosts sharing one log.
 *
 * Keys, under a prefix ("kvmtrust/ledger" unless the spec ends in
 * "?prefix=NAME", so that several ledgers share a cluster): "<prefix>/format"
 * marks a created ledger (KT_LEDGER_CREATE puts it; every other open
 * requires it), "<prefix>/head" holds the head record and
 * "<prefix>/entry/%016x" the entry at that index, so key order is index
 * order, "<prefix>/batch/<name>" each queued host batch, written once and
 * kept once integrated (a sequencer's entry references it: entry format
 * version 4; one the sequencer drops is deleted with its marker), and
 * "<prefix>/queue/<name>" an empty marker per host batch waiting for a
 * sequencer (ledger.h, kt_ledger_integrate()). An append is one txn: if the head's
 * mod_revision is still the one the writer read and the entry key does not
 * exist, put both. Two
 * hosts racing therefore cannot fork the log; the loser re-reads and
 * re-signs (ledger.c).
 *
 * The gateway base64-encodes keys and values, leaves out false and zero
 * fields and writes int64 as strings; every field read here allows that.
 * Endpoints are tried in turn: a refused connection or a member without a
 * leader moves to the next one. A txn that may have reached the cluster
 * without an answer returns KT_LEDGER_UNKNOWN so ledger.c can look.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/encoding.h"
#include "ledger/ledger_backend.h"

#define DEFAULT_PREFIX "kvmtrust/ledger"
#define PREFIX_MAX 128
#define FORMAT_VALUE "kvmtrust-ledger 1"
#define MAX_ENDPOINTS 16
#define SCAN_PAGE 256
#define RETRY_SECONDS 30

struct etcd_backend {
	struct kt_ledger_backend ops;
	CURL *curl;
	char *endpoints[MAX_ENDPOINTS];
	int n, cur;
	char prefix[PREFIX_MAX + 2];	/* "<prefix>/" */
	char head_key[PREFIX_MAX + 8], format_key[PREFIX_MAX + 8];
	/*
	 * lift set: the next reply's one "value" string is decoded apart
	 * (lift_value()) into lifted, lifted_len; NULL when it was not.
	 */
	bool lift;
	uint8_t *lifted;
	size_t lifted_len;
	/* The blobs the last queue_scan gave, with their mod_revision (0: absent). */
	char **seen_name;
	uint64_t *seen_rev;
	size_t nseen;
};

struct body {
	char *data;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	char *grown = realloc(b->data, b->len + size * n + 1);

	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

enum outcome { SENT_OK, NOT_SENT, MAYBE_SENT, REFUSED };

/* etcd's answer to a request it could not serve right now (no leader, timeout). */
static bool transient(long status, const char *body)
{
	return status == 503 || status == 504 ||
	       (body && (strstr(body, "leader") || strstr(body, "timed out") ||
			 strstr(body, "unavailable") || strstr(body, "\"code\":14")));
}

static bool not_sent(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
}

/* TLS set up wrong: trying another member or later will not help. */
static bool misconfigured(CURLcode rc)
{
	return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CERTPROBLEM ||
	       rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CIPHER ||
	       rc == CURLE_UNSUPPORTED_PROTOCOL;
}

/*
 * A reply holding one "value" string (a range of one key) has it decoded
 * here and left empty for the JSON parser: jansson reads strings at
 * ~40 MB/s, and a host batch is megabytes of base64. Base64 holds no '"'
 * or '\\', so the string ends at the next '"'; anything else (no value,
 * two, not base64) is left to the parser as it is.
 */
static void lift_value(struct etcd_backend *e, struct body *b)
{
	static const char tag[] = "\"value\":\"";
	char *at, *v, *end;

	at = b->data ? memmem(b->data, b->len, tag, sizeof(tag) - 1) : NULL;
	if (!at || memmem(at + 1, b->len - (size_t)(at + 1 - b->data), tag, sizeof(tag) - 1))
		return;
	v = at + sizeof(tag) - 1;
	end = memchr(v, '"', b->len - (size_t)(v - b->data));
	if (!end || end == v || !(e->lifted = kt_b64_decode(v, (size_t)(end - v), &e->lifted_len)))
		return;
	memmove(v, end, b->len - (size_t)(end - b->data) + 1);
	b->len -= (size_t)(end - v);
}

static enum outcome post_once(struct etcd_backend *e, const char *path, const char *req,
			      json_t **resp, struct kt_err *err)
{
	struct body body = { 0 };
	char url[512];
	json_error_t jerr;
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", e->endpoints[e->cur], path);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &body);
	rc = curl_easy_perform(e->curl);
	if (rc != CURLE_OK) {
		free(body.data);
		kt_fail(err, "storage", "etcd %s: %s", e->endpoints[e->cur], curl_easy_strerror(rc));
		return not_sent(rc) ? NOT_SENT : misconfigured(rc) ? REFUSED : MAYBE_SENT;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		bool again = transient(status, body.data);

		kt_fail(err, "storage", "etcd %s: HTTP %ld: %.200s", e->endpoints[e->cur], status,
			body.data ? body.data : "");
		free(body.data);
		return again ? MAYBE_SENT : REFUSED;
	}
	free(e->lifted);
	e->lifted = NULL;
	if (e->lift)
		lift_value(e, &body);
	*resp = json_loadb(body.data ? body.data : "", body.len, JSON_REJECT_DUPLICATES, &jerr);
	free(body.data);
	if (!*resp || !json_is_object(*resp)) {
		json_decref(*resp);
		kt_fail(err, "storage", "etcd %s: reply is not a JSON object", e->endpoints[e->cur]);
		return REFUSED;
	}
	return SENT_OK;
}

/*
 * POSTs req to the first endpoint that answers. Reads retry anything
 * transient; a txn retries only what surely never left (refused
 * connections) and reports the rest as KT_LEDGER_UNKNOWN.
 */
static int post(struct etcd_backend *e, const char *path, json_t *req, bool idempotent,
		json_t **resp, struct kt_err *err)
{
	time_t deadline = time(NULL) + RETRY_SECONDS;
	char *text = json_dumps(req, JSON_COMPACT);
	enum outcome o = REFUSED;
	int tries = 0;

	json_decref(req);
	if (!text)
		return kt_fail(err, "storage", "out of memory");
	while (time(NULL) < deadline) {
		o = post_once(e, path, text, resp, err);
		if (o == SENT_OK || o == REFUSED || (o == MAYBE_SENT && !idempotent))
			break;
		e->cur = (e->cur + 1) % e->n;
		/* After a full round without an answer, give the cluster time to elect. */
		if (++tries % e->n == 0)
			usleep(200 * 1000);
	}
	free(text);
	if (o == SENT_OK)
		return 0;
	if (o == MAYBE_SENT && !idempotent) {
		e->cur = (e->cur + 1) % e->n;
		return KT_LEDGER_UNKNOWN;
	}
	if (o != REFUSED && err)
		err->check = "unavailable";
	return -1;
}

static char *entry_key(const struct etcd_backend *e, uint64_t index)
{
	char *key;

	if (asprintf(&key, "%sentry/%016llx", e->prefix, (unsigned long long)index) < 0)
		return NULL;
	return key;
}

static json_t *b64_json(const void *p, size_t len)
{
	char *enc = kt_b64_encode(p, len);
	json_t *s = enc ? json_string(enc) : NULL;

	free(enc);
	return s;
}

static json_t *key_json(const char *key)
{
	return b64_json(key, strlen(key));
}

/* int64 fields come as strings; absent means zero. */
static uint64_t int64_field(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static int b64_field(json_t *obj, const char *name, uint8_t **out, size_t *len,
		     struct kt_err *err)
{
	const char *s = json_string_value(json_object_get(obj, name));

	*out = s ? kt_b64_decode(s, strlen(s), len) : NULL;
	return *out ? 0 : kt_fail(err, "storage", "etcd reply has no valid '%s'", name);
}

/* Range over [key, end) (end NULL: the key alone); kvs array borrowed from *resp. */
static int range_of(struct etcd_backend *e, const char *key, const char *end, int limit,
		    bool keys_only, json_t **resp, json_t **kvs, struct kt_err *err)
{
	json_t *req = json_pack("{s:o}", "key", key_json(key));

	if (end)
		json_object_set_new(req, "range_end", key_json(end));
	if (limit)
		json_object_set_new(req, "limit", json_integer(limit));
	if (keys_only)
		json_object_set_new(req, "keys_only", json_true());
	if (post(e, "/v3/kv/range", req, true, resp, err))
		return -1;
	*kvs = json_object_get(*resp, "kvs");
	return 0;
}

static int range(struct etcd_backend *e, const char *key, const char *end, int limit,
		 json_t **resp, json_t **kvs, struct kt_err *err)
{
	return range_of(e, key, end, limit, false, resp, kvs, err);
}

static int etcd_head(struct kt_ledger_backend *b, uint8_t **rec, size_t *len, uint64_t *version,
		     struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	json_t *resp, *kvs, *kv;
	int ret = 0;

	*rec = NULL;
	*len = 0;
	*version = 0;
	if (range(e, e->head_key, NULL, 0, &resp, &kvs, err))
		return -1;
	kv = json_array_get(kvs, 0);
	if (kv) {
		*version = int64_field(kv, "mod_revision");
		ret = b64_field(kv, "value", rec, len, err);
	}
	json_decref(resp);
	return ret;
}

static int etcd_get(struct kt_ledger_backend *b, uint64_t index, uint8_t **data, size_t *len,
		    struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	char *key = entry_key(e, index);
	json_t *resp, *kvs, *kv;
	int ret;

	if (!key)
		return kt_fail(err, "storage", "out of memory");
	ret = range(e, key, NULL, 0, &resp, &kvs, err);
	free(key);
	if (ret)
		return -1;
	kv = json_array_get(kvs, 0);
	ret = kv ? b64_field(kv, "value", data, len, err) :
		   kt_fail(err, "missing", "no entry %llu", (unsigned long long)index);
	json_decref(resp);
	return ret;
}

static int parse_index(const struct etcd_backend *e, json_t *kv, uint64_t *index)
{
	const char *k = json_string_value(json_object_get(kv, "key"));
	size_t len, plen = strlen(e->prefix) + strlen("entry/");
	uint8_t *key = k ? kt_b64_decode(k, strlen(k), &len) : NULL;
	char *end;
	int ret = -1;

	if (key && len == plen + 16 && !memcmp(key, e->prefix, plen - 6) &&
	    !memcmp(key + plen - 6, "entry/", 6)) {
		*index = strtoull((char *)key + plen, &end, 16);
		ret = end == (char *)key + len ? 0 : -1;
	}
	free(key);
	return ret;
}

static int etcd_scan(struct kt_ledger_backend *b, uint64_t from, uint64_t to,
		     kt_ledger_scan_fn fn, void *arg, struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	char *key = entry_key(e, from), *end = entry_key(e, to);
	uint64_t index = from;
	json_t *resp, *kvs, *kv;
	size_t i, len;
	uint8_t *val;
	int ret = 0;

	while (!ret && key && end && index < to) {
		if (range(e, key, end, SCAN_PAGE, &resp, &kvs, err)) {
			ret = -1;
			break;
		}
		json_array_foreach(kvs, i, kv) {
			if (parse_index(e, kv, &index) || b64_field(kv, "value", &val, &len, err)) {
				ret = kt_fail(err, "storage", "etcd holds a malformed ledger key");
				break;
			}
			ret = fn(index, val, len, arg);
			free(val);
			if (ret)
				break;
		}
		if (!ret && !json_is_true(json_object_get(resp, "more")))
			index = to;
		free(key);
		key = index < to ? entry_key(e, ++index) : NULL;
		json_decref(resp);
	}
	if (!ret && index < to && (!key || !end))
		ret = kt_fail(err, "storage", "out of memory");
	free(key);
	free(end);
	return ret;
}

static json_t *put_op(const char *key, const uint8_t *val, size_t len)
{
	return json_pack("{s:{s:o, s:o}}", "request_put", "key", key_json(key), "value",
			 b64_json(val, len));
}

static char *queue_key(const struct etcd_backend *e, const char *name)
{
	char *key;

	if (asprintf(&key, "%squeue/%s", e->prefix, name ? name : "") < 0)
		return NULL;
	return key;
}

static char *blob_key(const struct etcd_backend *e, const char *name)
{
	char *key;

	if (asprintf(&key, "%sbatch/%s", e->prefix, name) < 0)
		return NULL;
	return key;
}

static int delete_op(json_t *ops, char *key)
{
	int ret = !key || json_array_append_new(ops, json_pack("{s:{s:o}}", "request_delete_range",
								"key", key_json(key)));

	free(key);
	return ret ? -1 : 0;
}

/*
 * Delete ops for queued items, appended to the txn's success list: each
 * marker, and the blob of each the sequencer dropped (the log never
 * references it, and a host may then store a corrected batch under its name).
 */
static int delete_ops(const struct etcd_backend *e, json_t *ops, const char *const *keys,
		      const bool *dropped, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (delete_op(ops, queue_key(e, keys[i])) ||
		    (dropped && dropped[i] && delete_op(ops, blob_key(e, keys[i]))))
			return -1;
	return 0;
}

/* One key's value (NULL, 0 when absent) and mod_revision. */
static int get_one(struct etcd_backend *e, const char *key, uint8_t **val, size_t *len,
		   uint64_t *rev, struct kt_err *err)
{
	json_t *resp, *kvs, *kv;
	int ret = 0;

	*val = NULL;
	*len = 0;
	*rev = 0;
	e->lift = true;
	ret = range(e, key, NULL, 0, &resp, &kvs, err);
	e->lift = false;
	if (ret)
		return -1;
	kv = json_array_get(kvs, 0);
	if (kv && json_array_size(kvs) == 1 && e->lifted &&
	    json_is_string(json_object_get(kv, "value")) &&
	    !json_string_length(json_object_get(kv, "value"))) {
		*rev = int64_field(kv, "mod_revision");
		*val = e->lifted;
		*len = e->lifted_len;
		e->lifted = NULL;
	} else if (kv) {
		*rev = int64_field(kv, "mod_revision");
		/* An empty value is left out of the reply. */
		if (json_object_get(kv, "value"))
			ret = b64_field(kv, "value", val, len, err);
		else if (!(*val = malloc(1)))
			ret = kt_fail(err, "storage", "out of memory");
	}
	json_decref(resp);
	return ret;
}

/*
 * The host batch is written once, under "batch/<name>", with its queue
 * marker, if no batch holds that name yet; a repeated put of the same bytes
 * (a retry) succeeds, other bytes under a taken name are refused.
 */
static int etcd_enqueue(struct kt_ledger_backend *b, const char *name, const uint8_t *data,
			size_t len, struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	char *key = queue_key(e, name), *bkey = blob_key(e, name);
	json_t *req = NULL, *resp, *kv;
	uint8_t *have = NULL;
	size_t have_len;
	int ret;

	if (key && bkey)
		req = json_pack("{s:[{s:o, s:s, s:s, s:s}], s:[o, o], s:[{s:{s:o}}]}",
				"compare", "key", key_json(bkey), "target", "CREATE", "result",
				"EQUAL", "create_revision", "0",
				"success", put_op(bkey, data, len), put_op(key, (const uint8_t *)"", 0),
				"failure", "request_range", "key", key_json(bkey));
	free(key);
	free(bkey);
	if (!req)
		return kt_fail(err, "storage", "out of memory");
	/* Idempotent: a second try finds the blob and compares it. */
	ret = post(e, "/v3/kv/txn", req, true, &resp, err);
	if (ret)
		return ret;
	if (!json_is_true(json_object_get(resp, "succeeded"))) {
		kv = json_array_get(json_object_get(json_object_get(json_array_get(
			json_object_get(resp, "responses"), 0), "response_range"), "kvs"), 0);
		if (!kv || b64_field(kv, "value", &have, &have_len, err))
			ret = kt_fail(err, "storage", "etcd refused the batch put without saying why");
		else if (have_len != len || memcmp(have, data, len))
			ret = kt_fail(err, "exists", "a different host batch is stored as %s already "
				      "(a host writes one batch per interval)", name);
		free(have);
	}
	json_decref(resp);
	return ret;
}

static void seen_forget(struct etcd_backend *e)
{
	size_t i;

	for (i = 0; i < e->nseen; i++)
		free(e->seen_name[i]);
	free(e->seen_name);
	free(e->seen_rev);
	e->seen_name = NULL;
	e->seen_rev = NULL;
	e->nseen = 0;
}

/* The first max queue markers, each with its blob (len 0 when the blob is absent). */
static int etcd_queue_scan(struct kt_ledger_backend *b, size_t max, kt_ledger_queue_fn fn,
			   void *arg, struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	char *from = queue_key(e, NULL), *end = from ? strdup(from) : NULL, *bkey;
	json_t *resp, *kvs, *kv;
	size_t i, len, klen, plen;
	uint8_t *val, *key;
	int ret;

	seen_forget(e);
	if (!from || !end) {
		free(from);
		free(end);
		return kt_fail(err, "storage", "out of memory");
	}
	plen = strlen(from);
	end[plen - 1]++;	/* "queue/" .. "queue0": every key under it */
	ret = range_of(e, from, end, (int)max, true, &resp, &kvs, err);
	free(from);
	free(end);
	if (ret)
		return -1;
	e->seen_name = calloc(json_array_size(kvs) + 1, sizeof(*e->seen_name));
	e->seen_rev = calloc(json_array_size(kvs) + 1, sizeof(*e->seen_rev));
	if (!e->seen_name || !e->seen_rev) {
		json_decref(resp);
		return kt_fail(err, "storage", "out of memory");
	}
	json_array_foreach(kvs, i, kv) {
		const char *k = json_string_value(json_object_get(kv, "key"));

		key = k ? kt_b64_decode(k, strlen(k), &klen) : NULL;
		if (!key || klen <= plen) {
			free(key);
			ret = kt_fail(err, "storage", "etcd holds a malformed queue key");
			break;
		}
		key[klen] = '\0';	/* kt_b64_decode leaves room for it */
		bkey = blob_key(e, (char *)key + plen);
		e->seen_name[e->nseen] = strdup((char *)key + plen);
		ret = !bkey || !e->seen_name[e->nseen] ?
		      kt_fail(err, "storage", "out of memory") :
		      get_one(e, bkey, &val, &len, &e->seen_rev[e->nseen], err);
		free(bkey);
		if (!ret) {
			e->nseen++;
			ret = fn((char *)key + plen, val ? val : (const uint8_t *)"", len, arg);
			free(val);
		}
		free(key);
		if (ret)
			break;
	}
	json_decref(resp);
	return ret < 0 ? -1 : 0;
}

static int etcd_blob_get(struct kt_ledger_backend *b, const char *name, uint8_t **data,
			 size_t *len, struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	char *key = blob_key(e, name);
	uint64_t rev;
	int ret;

	if (!key)
		return kt_fail(err, "storage", "out of memory");
	ret = get_one(e, key, data, len, &rev, err);
	free(key);
	if (!ret && !rev)
		ret = kt_fail(err, "missing", "no host batch %s", name);
	return ret;
}

/* Compares that each dequeued item's blob is still the one queue_scan gave. */
static int blob_compares(const struct etcd_backend *e, json_t *cmp, const char *const *names,
			 size_t n)
{
	char rev[24], *key;
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < e->nseen && strcmp(e->seen_name[j], names[i]); j++)
			;
		if (j == e->nseen || !e->seen_rev[j])
			continue;
		snprintf(rev, sizeof(rev), "%llu", (unsigned long long)e->seen_rev[j]);
		key = blob_key(e, names[i]);
		if (!key || json_array_append_new(cmp, json_pack("{s:o, s:s, s:s, s:s}", "key",
								 key_json(key), "target", "MOD",
								 "result", "EQUAL",
								 "mod_revision", rev))) {
			free(key);
			return -1;
		}
		free(key);
	}
	return 0;
}

static int etcd_dequeue(struct kt_ledger_backend *b, const char *const *keys,
			const bool *dropped, size_t n, struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	json_t *ops = json_array(), *req, *resp;
	int ret;

	if (!ops || delete_ops(e, ops, keys, dropped, n)) {
		json_decref(ops);
		return kt_fail(err, "storage", "out of memory");
	}
	req = json_pack("{s:o}", "success", ops);
	if (!req)
		return kt_fail(err, "storage", "out of memory");
	ret = post(e, "/v3/kv/txn", req, true, &resp, err);
	if (!ret)
		json_decref(resp);
	return ret;
}

static int etcd_append(struct kt_ledger_backend *b, uint64_t version, uint64_t index,
		       const uint8_t *entry, size_t entry_len, const uint8_t *head,
		       size_t head_len, const char *const *dequeue, const bool *dropped,
		       size_t ndequeue, struct kt_err *err)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	char *key = entry_key(e, index), rev[24];
	json_t *req, *resp;
	int ret;

	if (!key)
		return kt_fail(err, "storage", "out of memory");
	snprintf(rev, sizeof(rev), "%llu", (unsigned long long)version);
	req = json_pack("{s:[{s:o, s:s, s:s, s:s}, {s:o, s:s, s:s, s:s}], s:[o, o]}",
			"compare",
			"key", key_json(e->head_key), "target", "MOD", "result", "EQUAL",
			"mod_revision", rev,
			"key", key_json(key), "target", "CREATE", "result", "EQUAL",
			"create_revision", "0",
			"success", put_op(key, entry, entry_len),
			put_op(e->head_key, head, head_len));
	free(key);
	if (!req || delete_ops(e, json_object_get(req, "success"), dequeue, dropped, ndequeue) ||
	    blob_compares(e, json_object_get(req, "compare"), dequeue, ndequeue)) {
		json_decref(req);
		return kt_fail(err, "storage", "out of memory");
	}
	ret = post(e, "/v3/kv/txn", req, false, &resp, err);
	if (ret)
		return ret;
	ret = json_is_true(json_object_get(resp, "succeeded")) ? 0 : KT_LEDGER_CONFLICT;
	json_decref(resp);
	return ret;
}

static void etcd_close(struct kt_ledger_backend *b)
{
	struct etcd_backend *e = (struct etcd_backend *)b;
	int i;

	seen_forget(e);
	free(e->lifted);
	for (i = 0; i < e->n; i++)
		free(e->endpoints[i]);
	if (e->curl)
		curl_easy_cleanup(e->curl);
	free(e);
}

/* Reads the format key: 1 present (and ours), 0 absent, -1 unreadable. */
static int format_present(struct etcd_backend *e, struct kt_err *err)
{
	json_t *resp, *kvs, *kv;
	uint8_t *val = NULL;
	size_t len;
	int ret;

	if (range(e, e->format_key, NULL, 0, &resp, &kvs, err))
		return -1;
	kv = json_array_get(kvs, 0);
	ret = kv ? b64_field(kv, "value", &val, &len, err) : 0;
	if (kv && !ret)
		ret = len == strlen(FORMAT_VALUE) && !memcmp(val, FORMAT_VALUE, len) ? 1 :
		      kt_fail(err, "storage", "etcd key %s holds an unknown ledger format", e->format_key);
	free(val);
	json_decref(resp);
	return ret;
}

/*
 * Puts the format key if it is absent. Entries written before the key
 * existed are adopted: the key marks the prefix as a ledger, and verify
 * judges what is in it.
 */
static int format_create(struct etcd_backend *e, const char *spec, struct kt_err *err)
{
	json_t *req, *resp;
	int ret;

	req = json_pack("{s:[{s:o, s:s, s:s, s:s}], s:[o]}", "compare",
			"key", key_json(e->format_key), "target", "CREATE", "result", "EQUAL",
			"create_revision", "0",
			"success", put_op(e->format_key, (const uint8_t *)FORMAT_VALUE,
					  strlen(FORMAT_VALUE)));
	if (!req)
		return kt_fail(err, "storage", "out of memory");
	ret = post(e, "/v3/kv/txn", req, false, &resp, err);
	/* No answer: the key is there now, or not; whoever put it, the ledger exists. */
	if (ret == KT_LEDGER_UNKNOWN)
		return format_present(e, err) == 1 ? 0 : -1;
	if (ret)
		return -1;
	ret = json_is_true(json_object_get(resp, "succeeded")) ? 0 :
	      kt_fail(err, "exists", "a ledger exists already at 'etcd:%s': nothing was changed",
		      spec);
	json_decref(resp);
	return ret;
}

static int check_format(struct etcd_backend *e, const char *spec, enum kt_ledger_mode mode,
			struct kt_err *err)
{
	int present;

	if (mode == KT_LEDGER_CREATE)
		return format_create(e, spec, err);
	present = format_present(e, err);
	if (present < 0)
		return -1;
	if (!present)
		return kt_fail(err, "no-ledger", "no ledger at 'etcd:%s' (no %s key): create one "
			       "with 'kvmtrust ledger init'", spec, e->format_key);
	return 0;
}

/*
 * "?prefix=NAME" after the endpoints: NAME is 1 to PREFIX_MAX characters of
 * [A-Za-z0-9._-] in '/'-separated components, none empty. Anything else
 * after '?' is refused rather than ignored: a typo must not point several
 * ledgers at one prefix.
 */
static int set_prefix(struct etcd_backend *e, const char *query, struct kt_err *err)
{
	const char *name = query ? query + strlen("prefix=") : DEFAULT_PREFIX;
	size_t len;

	if (query && strncmp(query, "prefix=", 7))
		return kt_fail(err, "spec", "etcd ledger option '%s' is unknown: the one option is "
			       "?prefix=NAME", query);
	len = strlen(name);
	if (!len || len > PREFIX_MAX || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					       "abcdefghijklmnopqrstuvwxyz0123456789._-/") != len ||
	    name[0] == '/' || name[len - 1] == '/' || strstr(name, "//"))
		return kt_fail(err, "spec", "etcd key prefix '%s' is not 1 to %d characters of "
			       "[A-Za-z0-9._-] in non-empty '/'-separated parts", name, PREFIX_MAX);
	snprintf(e->prefix, sizeof(e->prefix), "%s/", name);
	snprintf(e->head_key, sizeof(e->head_key), "%shead", e->prefix);
	snprintf(e->format_key, sizeof(e->format_key), "%sformat", e->prefix);
	return 0;
}

struct kt_ledger_backend *kt_ledger_etcd_open(const char *spec, enum kt_ledger_mode mode,
					      struct kt_err *err)
{
	struct etcd_backend *e = calloc(1, sizeof(*e));
	char *list = strdup(spec), *tok, *save = NULL;
	static struct curl_slist *headers;

	if (!e || !list)
		goto nomem;
	e->ops = (struct kt_ledger_backend){
		.name = "etcd", .head = etcd_head, .get = etcd_get, .scan = etcd_scan,
		.append = etcd_append, .close = etcd_close, .enqueue = etcd_enqueue,
		.queue_scan = etcd_queue_scan, .dequeue = etcd_dequeue, .blob_get = etcd_blob_get,
	};
	tok = strchr(list, '?');
	if (tok)
		*tok++ = '\0';
	if (set_prefix(e, tok, err))
		goto fail;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(tok);

		if (strncmp(tok, "http://", 7) && strncmp(tok, "https://", 8)) {
			kt_fail(err, "spec", "etcd endpoint '%s' is not an http(s):// URL", tok);
			goto fail;
		}
		if (e->n == MAX_ENDPOINTS) {
			kt_fail(err, "spec", "more than %d etcd endpoints", MAX_ENDPOINTS);
			goto fail;
		}
		while (len && tok[len - 1] == '/')
			tok[--len] = '\0';
		e->endpoints[e->n++] = strdup(tok);
	}
	if (!e->n) {
		kt_fail(err, "spec", "no etcd endpoint in '%s'", spec);
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(e->curl = curl_easy_init()))
		goto nomem;
	if (!headers)
		headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	/* https:// endpoints: the cluster's CA and a client certificate, as etcdctl's. */
	if (getenv("KVMTRUST_ETCD_CACERT"))
		curl_easy_setopt(e->curl, CURLOPT_CAINFO, getenv("KVMTRUST_ETCD_CACERT"));
	if (getenv("KVMTRUST_ETCD_CERT"))
		curl_easy_setopt(e->curl, CURLOPT_SSLCERT, getenv("KVMTRUST_ETCD_CERT"));
	if (getenv("KVMTRUST_ETCD_KEY"))
		curl_easy_setopt(e->curl, CURLOPT_SSLKEY, getenv("KVMTRUST_ETCD_KEY"));
	e->cur = (int)(getpid() % e->n);
	free(list);
	list = NULL;
	if (check_format(e, spec, mode, err))
		goto fail;
	return &e->ops;
nomem:
	kt_fail(err, "storage", "out of memory");
fail:
	free(list);
	if (e)
		etcd_close(&e->ops);
	return NULL;
}
