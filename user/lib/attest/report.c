// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "identity/quote.h"
#include "attest/report.h"
#include "attest/report_chain.h"
#include "common/encoding.h"
#include "common/statefile.h"
#include "identity/jws.h"

#define MAX_STATE_FILE (4 * 1024 * 1024)

static int hex_hash(const json_t *value, kt_hash out)
{
	const char *hex = json_string_value(value);

	return hex && strlen(hex) == 2 * KT_HASH_LEN ? kt_hex_decode(hex, out, KT_HASH_LEN) : -1;
}

static json_t *json_hex(const uint8_t *buf, size_t len)
{
	char hex[2 * 64 + 1];

	if (len > 64)
		return NULL;
	kt_hex_encode(buf, len, hex);
	return json_string(hex);
}

int kt_vm_state_load(const char *path, struct kt_vm_state *m, struct kt_err *err)
{
	json_t *doc, *obj, *vcpu, *fmt;
	json_error_t jerr;
	json_int_t pages, seq;
	int ret = -1;

	memset(m, 0, sizeof(*m));
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return kt_fail(err, "measurement", "cannot read '%s': %s", path, jerr.text);
	/* Accept the bare object or one nested under "measurement". */
	obj = json_object_get(doc, "measurement");
	if (!json_is_object(obj))
		obj = doc;
	if (hex_hash(json_object_get(obj, "memory_root"), m->memory_root)) {
		kt_fail(err, "measurement", "'%s' has no 64-digit hex \"memory_root\"", path);
		goto out;
	}
	vcpu = json_object_get(obj, "vcpu_root");
	if (vcpu && !json_is_null(vcpu)) {
		if (hex_hash(vcpu, m->vcpu_root)) {
			kt_fail(err, "measurement", "'%s': \"vcpu_root\" is not 64 hex digits", path);
			goto out;
		}
		m->has_vcpu_root = true;
	}
	pages = json_integer_value(json_object_get(obj, "pages"));
	seq = json_integer_value(json_object_get(obj, "seq"));
	if (!json_is_integer(json_object_get(obj, "seq")) || seq < 1 || pages < 0) {
		kt_fail(err, "measurement", "'%s' needs an integer \"seq\" >= 1 and \"pages\" >= 0",
			path);
		goto out;
	}
	m->pages = (uint64_t)pages;
	m->seq = (uint64_t)seq;
	/* Optional (older measurements lack it), but never a guess. */
	fmt = json_object_get(obj, "leaf_format");
	if (fmt && (!json_is_integer(fmt) || json_integer_value(fmt) < 1 ||
		    json_integer_value(fmt) > UINT32_MAX)) {
		kt_fail(err, "measurement", "'%s': \"leaf_format\" is not a positive integer", path);
		goto out;
	}
	m->leaf_format = fmt ? (uint32_t)json_integer_value(fmt) : 0;
	ret = 0;
out:
	json_decref(doc);
	return ret;
}

json_t *kt_report_vm_claims(const char *vm_id, const struct kt_vm_state *m,
			    const char *nonce, const kt_hash config_root)
{
	json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:o}", "kind", "vm-state", "vm_id", vm_id,
			      "seq", (json_int_t)m->seq, "pages", (json_int_t)m->pages,
			      "memory_root", json_hex(m->memory_root, KT_HASH_LEN));

	if (!c)
		return NULL;
	if (m->has_vcpu_root)
		json_object_set_new(c, "vcpu_root", json_hex(m->vcpu_root, KT_HASH_LEN));
	if (m->leaf_format)
		json_object_set_new(c, "leaf_format", json_integer(m->leaf_format));
	if (config_root)
		json_object_set_new(c, "config_root", json_hex(config_root, KT_HASH_LEN));
	if (nonce)
		json_object_set_new(c, "eat_nonce", json_string(nonce));
	return c;
}

int kt_report_digest(const json_t *claims, kt_hash out)
{
	json_t *body = json_copy((json_t *)claims);
	char *text;

	if (!body)
		return -1;
	json_object_del(body, "tpm");
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	if (!text)
		return -1;
	kt_sha256(text, strlen(text), out);
	free(text);
	return 0;
}

static json_t *b64url(const struct kt_blob *blob)
{
	char *s = kt_b64url_encode(blob->data, blob->len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

static int add_quote(struct kt_hostkey *hk, json_t *claims, struct kt_err *err)
{
	struct kt_quote q;
	kt_hash digest;
	json_t *tpm;
	int ret;

	if (kt_report_digest(claims, digest))
		return kt_fail(err, "claims", "out of memory");
	if (kt_hostkey_extend_quote(hk, digest, &q, err))
		return -1;
	tpm = json_pack("{s:i, s:o, s:o, s:o, s:o}", "pcr", (int)q.pcr,
			"pcr_prev", json_hex(q.pcr_prev, KT_HASH_LEN),
			"pcr_value", json_hex(q.pcr_value, KT_HASH_LEN),
			"quote", b64url(&q.attest), "quote_sig", b64url(&q.sig));
	kt_quote_free(&q);
	ret = tpm ? json_object_set_new(claims, "tpm", tpm) : -1;
	return ret ? kt_fail(err, "claims", "out of memory") : 0;
}

int kt_report_sign(struct kt_hostkey *hk, json_t *claims, char **out, struct kt_err *err)
{
	uint8_t jti[16];
	json_t *header;
	int ret;

	if (!json_is_string(json_object_get(claims, "kind")))
		return kt_fail(err, "claims", "report has no kind");
	if (RAND_bytes(jti, sizeof(jti)) != 1)
		return kt_fail_ssl(err, "claims", "no randomness for the report id");
	if (!json_object_get(claims, "iat"))
		json_object_set_new(claims, "iat", json_integer((json_int_t)time(NULL)));
	if (json_object_set_new(claims, "ver", json_integer(KT_REPORT_VERSION)) ||
	    json_object_set_new(claims, "eat_profile", json_string(KT_REPORT_PROFILE)) ||
	    json_object_set_new(claims, "jti", json_hex(jti, sizeof(jti))) ||
	    json_object_set_new(claims, "host_id", json_string(hk->host_id)) ||
	    json_object_set_new(claims, "key", json_string(kt_key_origin_name(hk->origin))))
		return kt_fail(err, "claims", "out of memory");
	if (hk->origin == KT_KEY_TPM && add_quote(hk, claims, err))
		return -1;
	header = json_pack("{s:s}", "typ", "JWT");
	if (header && hk->chain)
		json_object_set_new(header, "x5c", kt_jws_x5c_from_chain(hk->chain));
	if (!header)
		return kt_fail(err, "claims", "out of memory");
	ret = kt_jws_sign_with(kt_hostkey_sign, hk, header, claims, out, err);
	json_decref(header);
	return ret;
}

EVP_PKEY *kt_report_load_pubkey(const char *path, struct kt_err *err)
{
	EVP_PKEY *key = NULL;
	BIO *bio = BIO_new_file(path, "r");

	if (bio)
		key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key)
		kt_fail_ssl(err, "key", "cannot read a PEM public key from '%s'", path);
	return key;
}

static const char *claim_str(const json_t *claims, const char *name)
{
	return json_string_value(json_object_get(claims, name));
}

static int check_hash_claim(const json_t *claims, const char *name, bool required,
			    struct kt_err *err)
{
	json_t *v = json_object_get(claims, name);
	kt_hash h;

	if (!v && !required)
		return 0;
	if (hex_hash(v, h))
		return kt_fail(err, "claims", "claim \"%s\" is missing or not 64 hex digits", name);
	return 0;
}

static int check_claims(const json_t *c, struct kt_err *err)
{
	const char *kind = claim_str(c, "kind"), *key = claim_str(c, "key");
	json_t *nonce = json_object_get(c, "eat_nonce");

	if (json_integer_value(json_object_get(c, "ver")) != KT_REPORT_VERSION)
		return kt_fail(err, "claims", "report version is not %d", KT_REPORT_VERSION);
	if (!kind || !claim_str(c, "jti") || !claim_str(c, "host_id") || !key ||
	    !json_is_integer(json_object_get(c, "iat")))
		return kt_fail(err, "claims", "report lacks kind, jti, host_id, key or iat");
	if (strcmp(key, "tpm") && strcmp(key, "software"))
		return kt_fail(err, "claims", "unknown key origin \"%s\"", key);
	if (!strcmp(key, "software") && json_object_get(c, "tpm"))
		return kt_fail(err, "claims", "a software-key report carries a TPM quote");
	if (nonce && !json_is_string(nonce))
		return kt_fail(err, "claims", "\"eat_nonce\" is not a string");
	if (!strcmp(kind, "vm-state")) {
		if (!claim_str(c, "vm_id") || json_integer_value(json_object_get(c, "seq")) < 1)
			return kt_fail(err, "claims", "vm-state report lacks vm_id or seq");
		return check_hash_claim(c, "memory_root", true, err) ||
		       check_hash_claim(c, "vcpu_root", false, err) ||
		       check_hash_claim(c, "config_root", false, err) ? -1 : 0;
	}
	if (!strcmp(kind, "launch-config")) {
		if (!json_is_array(json_object_get(c, "params")))
			return kt_fail(err, "claims", "launch-config report lacks params");
		return check_hash_claim(c, "config_root", true, err);
	}
	return kt_fail(err, "claims", "unknown report kind \"%s\"", kind);
}

static int decode_b64url_claim(const json_t *tpm, const char *name, struct kt_blob *blob)
{
	const char *s = json_string_value(json_object_get(tpm, name));

	blob->data = s ? kt_b64url_decode(s, strlen(s), &blob->len) : NULL;
	return blob->data ? 0 : -1;
}

static int check_quote(const json_t *claims, EVP_PKEY *key, struct kt_quote_info *info,
		       struct kt_err *err)
{
	json_t *tpm = json_object_get(claims, "tpm");
	struct kt_blob attest = { 0 }, sig = { 0 };
	kt_hash digest, prev, value, want;
	json_int_t pcr;
	int ret = -1;

	if (!json_is_object(tpm))
		return kt_fail(err, "quote", "TPM report without a quote");
	pcr = json_integer_value(json_object_get(tpm, "pcr"));
	if (pcr < 0 || pcr > 23 || hex_hash(json_object_get(tpm, "pcr_prev"), prev) ||
	    hex_hash(json_object_get(tpm, "pcr_value"), value) ||
	    decode_b64url_claim(tpm, "quote", &attest) ||
	    decode_b64url_claim(tpm, "quote_sig", &sig)) {
		kt_fail(err, "quote", "\"tpm\" claim is malformed");
		goto out;
	}
	if (kt_report_digest(claims, digest)) {
		kt_fail(err, "quote", "out of memory");
		goto out;
	}
	kt_pcr_extend_sw(prev, digest, want);
	if (memcmp(want, value, KT_HASH_LEN)) {
		kt_fail(err, "quote", "PCR %d value is not pcr_prev extended with this report",
			(int)pcr);
		goto out;
	}
	ret = kt_quote_verify(key, &attest, &sig, (unsigned int)pcr, value, digest,
			      KT_HASH_LEN, info, err);
out:
	kt_blob_free(&attest);
	kt_blob_free(&sig);
	return ret;
}

static int check_expected(const json_t *claims, const char *name, const char *want,
			  struct kt_err *err)
{
	const char *got;

	if (!want)
		return 0;
	got = claim_str(claims, name);
	if (!got)
		return kt_fail(err, name, "report has no %s, expected %s", name, want);
	if (strcasecmp(got, want))
		return kt_fail(err, name, "%s is %s, expected %s", name, got, want);
	return 0;
}

static int check_freshness(const json_t *claims, const struct kt_report_policy *p,
			   struct kt_err *err)
{
	int64_t now = p->now ? p->now : (int64_t)time(NULL);
	int64_t max_age = p->max_age ? p->max_age : KT_REPORT_DEFAULT_MAX_AGE;
	int64_t iat = json_integer_value(json_object_get(claims, "iat"));
	char a[KT_TIME_ISO_LEN], b[KT_TIME_ISO_LEN];

	if (max_age < 0)
		return 0;
	if (iat > now + KT_REPORT_CLOCK_SKEW)
		return kt_fail(err, "freshness", "report is from the future (iat %s, now %s)",
			       kt_time_iso(iat, a), kt_time_iso(now, b));
	if (now - iat > max_age)
		return kt_fail(err, "freshness", "report is %" PRId64 " s old, older than %" PRId64
			       " s", now - iat, max_age);
	return 0;
}

static int lock_state(const char *path, struct kt_err *err)
{
	char *lock;
	int fd;

	if (asprintf(&lock, "%s.lock", path) < 0)
		return kt_fail(err, "replay", "out of memory");
	fd = kt_file_lock(lock, err);
	free(lock);
	if (fd < 0 && err)
		err->check = "replay";
	return fd;
}

static json_t *load_state(const char *path, struct kt_err *err)
{
	struct kt_blob raw = { 0 };
	json_error_t jerr;
	struct stat st;
	json_t *state;

	if (stat(path, &st))
		return json_pack("{s:i, s:{}, s:{}}", "version", 1, "vms", "hosts");
	/* It is replaced by rename(): never over a device, FIFO or directory. */
	if (!S_ISREG(st.st_mode)) {
		kt_fail(err, "replay", "'%s' is not a regular file", path);
		return NULL;
	}
	if (kt_file_read(path, MAX_STATE_FILE, 0, &raw.data, &raw.len, err)) {
		if (err)
			err->check = "replay";
		return NULL;
	}
	state = json_loadb((char *)raw.data, raw.len, JSON_REJECT_DUPLICATES, &jerr);
	kt_blob_free(&raw);
	if (!state || !json_is_object(json_object_get(state, "vms")) ||
	    !json_is_object(json_object_get(state, "hosts"))) {
		json_decref(state);
		kt_fail(err, "replay", "'%s' is not a last-seen file", path);
		return NULL;
	}
	return state;
}

/*
 * Refuses a vm-state report whose seq does not exceed the last accepted
 * one for its (host, VM), and a TPM report whose TPM clock went backwards;
 * otherwise records it. Held under a lock so two verifiers cannot both
 * accept the same report.
 */
/* state[member][key], created empty when missing; NULL if not an object. */
static json_t *state_entry(json_t *state, const char *member, const char *key)
{
	json_t *parent = json_object_get(state, member), *entry;

	entry = json_object_get(parent, key);
	if (!entry && json_is_object(parent)) {
		entry = json_object();
		if (json_object_set_new(parent, key, entry))
			return NULL;
	}
	return json_is_object(entry) ? entry : NULL;
}

/*
 * Refuses a vm-state report whose seq does not exceed the last accepted
 * one for its (host, VM), and a TPM report whose TPM clock went backwards;
 * otherwise records it. Held under a lock so two verifiers cannot both
 * accept the same report.
 */
static int check_replay(const json_t *claims, const struct kt_quote_info *qi,
			const char *path, struct kt_err *err)
{
	const char *host = claim_str(claims, "host_id"), *vm = claim_str(claims, "vm_id");
	json_int_t seq = json_integer_value(json_object_get(claims, "seq")), last_seq;
	json_t *state, *vms, *last, *hostrec;
	char *text = NULL;
	int fd, ret = -1;

	if (!json_object_get(claims, "seq"))
		return 0;
	fd = lock_state(path, err);
	if (fd < 0)
		return -1;
	state = load_state(path, err);
	if (!state)
		goto out;
	/* vms: {host: {vm: {seq, jti}}}, hosts: {host: {tpm_clock}} */
	vms = state_entry(state, "vms", host);
	hostrec = state_entry(state, "hosts", host);
	if (!vms || !hostrec) {
		kt_fail(err, "replay", "'%s' is not a last-seen file", path);
		goto out;
	}
	last = json_object_get(vms, vm);
	last_seq = json_integer_value(json_object_get(last, "seq"));
	if (last && seq <= last_seq) {
		kt_fail(err, "replay", "seq %" JSON_INTEGER_FORMAT " of VM %s is not after the "
			"last accepted seq %" JSON_INTEGER_FORMAT, seq, vm, last_seq);
		goto out;
	}
	if (qi && (json_int_t)qi->clock < json_integer_value(json_object_get(hostrec, "tpm_clock"))) {
		kt_fail(err, "replay", "TPM clock of host %s went backwards", host);
		goto out;
	}
	if (json_object_set_new(vms, vm, json_pack("{s:I, s:s}", "seq", seq, "jti",
						   claim_str(claims, "jti"))) ||
	    (qi && json_object_set_new(hostrec, "tpm_clock", json_integer((json_int_t)qi->clock))))
		goto nomem;
	text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		goto nomem;
	if (kt_file_write(path, text, strlen(text), 0644, err)) {
		if (err)
			err->check = "replay";
		goto out;
	}
	ret = 0;
	goto out;
nomem:
	kt_fail(err, "replay", "out of memory");
out:
	free(text);
	json_decref(state);
	close(fd);
	return ret;
}

static EVP_PKEY *select_key(const struct kt_jws *jws, const struct kt_report_policy *p,
			    struct kt_err *err)
{
	EVP_PKEY *key;
	time_t at;

	if (!p->anchors && !p->key) {
		kt_fail(err, "chain", "no trust anchor: give a CA file or the host's public key");
		return NULL;
	}
	if (!p->anchors) {
		EVP_PKEY_up_ref(p->key);
		return p->key;
	}
	/* The iat is the signed claim's: a changed one fails the signature check after. */
	at = p->chain_at == KT_REPORT_CHAIN_AT_IAT ?
	     (time_t)json_integer_value(json_object_get(jws->payload, "iat")) : (time_t)p->chain_at;
	key = kt_report_chain_key(jws, p->anchors, p->crls, claim_str(jws->payload, "host_id"), at,
				  err);
	if (key && p->key && EVP_PKEY_eq(key, p->key) != 1) {
		kt_fail(err, "chain", "certificate's key is not the pinned host key");
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

int kt_report_verify(const char *compact, const struct kt_report_policy *p,
		     json_t **claims_out, struct kt_err *err)
{
	struct kt_quote_info qi, *qip = NULL;
	struct kt_jws jws;
	const char *kind, *nonce;
	EVP_PKEY *key = NULL;
	json_t *c;
	int ret = -1;

	if (kt_jws_parse(compact, &jws, err))
		return -1;
	c = jws.payload;
	key = select_key(&jws, p, err);
	if (!key || kt_jws_verify(&jws, key, err) || check_claims(c, err))
		goto out;
	kind = claim_str(c, "kind");
	if (p->kind && strcmp(kind, p->kind)) {
		kt_fail(err, "claims", "report is a %s report, not %s", kind, p->kind);
		goto out;
	}
	if (!strcmp(claim_str(c, "key"), "tpm")) {
		if (check_quote(c, key, &qi, err))
			goto out;
		qip = &qi;
	} else if (p->require_tpm) {
		kt_fail(err, "key", "report is signed by a software key, a TPM key is required");
		goto out;
	}
	nonce = claim_str(c, "eat_nonce");
	if (p->nonce && (!nonce || strcmp(nonce, p->nonce))) {
		kt_fail(err, "nonce", "report answers nonce \"%s\", not the challenge \"%s\"",
			nonce ? nonce : "(none)", p->nonce);
		goto out;
	}
	if (check_freshness(c, p, err) ||
	    check_expected(c, "memory_root", p->expect_memory_root, err) ||
	    check_expected(c, "vcpu_root", p->expect_vcpu_root, err) ||
	    check_expected(c, "config_root", p->expect_config_root, err))
		goto out;
	if (p->last_seen && check_replay(c, qip, p->last_seen, err))
		goto out;
	if (claims_out)
		*claims_out = json_incref(c);
	ret = 0;
out:
	EVP_PKEY_free(key);
	kt_jws_free(&jws);
	return ret;
}
