// SPDX-License-Identifier: GPL-2.0
/* The federated handshake (protocol in handshake.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/encoding.h"
#include "identity/handshake.h"
#include "identity/jws.h"

#define HS_FRAME_MAX (128 * 1024)
#define X25519_LEN 32
#define TH_LEN 32
#define LABEL_HOST "kvmtrust handshake v1 host"
#define LABEL_GUEST "kvmtrust handshake v1 guest"
#define INFO_G2H "kvmtrust channel v1 guest->host"
#define INFO_H2G "kvmtrust channel v1 host->guest"

struct replay_entry {
	uint8_t nonce[KT_HS_NONCE_LEN];
	int64_t until;
};

struct kt_replay_cache {
	unsigned int capacity, next;
	struct replay_entry *entries;
};

struct kt_replay_cache *kt_replay_cache_new(unsigned int capacity)
{
	struct kt_replay_cache *cache = calloc(1, sizeof(*cache));

	if (!cache || !capacity)
		goto fail;
	cache->entries = calloc(capacity, sizeof(*cache->entries));
	if (!cache->entries)
		goto fail;
	cache->capacity = capacity;
	return cache;
fail:
	free(cache);
	return NULL;
}

void kt_replay_cache_free(struct kt_replay_cache *cache)
{
	if (cache)
		free(cache->entries);
	free(cache);
}

/* 1 if nonce is remembered and still live; otherwise remembers it until `until`. */
static int replay_seen(struct kt_replay_cache *cache, const uint8_t *nonce, int64_t until)
{
	int64_t now = (int64_t)time(NULL);
	struct replay_entry *slot = NULL, *e;
	unsigned int i;

	for (i = 0; i < cache->capacity; i++) {
		e = &cache->entries[i];
		if (e->until >= now && !CRYPTO_memcmp(e->nonce, nonce, KT_HS_NONCE_LEN))
			return 1;
		if (!slot && e->until < now)
			slot = e;
	}
	if (!slot) {	/* full of live entries: forget the oldest insertion */
		slot = &cache->entries[cache->next];
		cache->next = (cache->next + 1) % cache->capacity;
	}
	memcpy(slot->nonce, nonce, KT_HS_NONCE_LEN);
	slot->until = until;
	return 0;
}

static EVP_MD_CTX *th_new(struct kt_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md && !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	if (!md)
		kt_fail_ssl(err, "protocol", "cannot start the transcript hash");
	return md;
}

static int th_add(EVP_MD_CTX *md, const uint8_t *frame, size_t len)
{
	uint8_t be[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			  (uint8_t)len };

	return EVP_DigestUpdate(md, be, sizeof(be)) && EVP_DigestUpdate(md, frame, len) ? 0 : -1;
}

/* The hash of the frames so far, leaving md usable. */
static int th_peek(EVP_MD_CTX *md, uint8_t out[TH_LEN])
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	int ok = copy && EVP_MD_CTX_copy_ex(copy, md) && EVP_DigestFinal_ex(copy, out, NULL);

	EVP_MD_CTX_free(copy);
	return ok ? 0 : -1;
}

static int send_json(int fd, json_t *obj, EVP_MD_CTX *md, struct kt_err *err)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int ret;

	if (!text)
		return kt_fail(err, "protocol", "out of memory");
	ret = kt_frame_send(fd, text, strlen(text), err);
	if (!ret && md && th_add(md, (uint8_t *)text, strlen(text)))
		ret = kt_fail_ssl(err, "protocol", "transcript hash failed");
	free(text);
	return ret;
}

/* Tells the peer which check refused it; best effort, the peer may be gone. */
static void send_error(int fd, const struct kt_err *err)
{
	json_t *obj = json_pack("{s:s}", "error", err && err->check ? err->check : "protocol");

	send_json(fd, obj, NULL, NULL);
	json_decref(obj);
}

/* Receives one JSON object frame; a peer's {"error":...} becomes "refused". */
static json_t *recv_json(int fd, uint8_t **raw, size_t *len, struct kt_err *err)
{
	const char *peer_check;
	json_error_t jerr;
	json_t *obj;

	if (kt_frame_recv(fd, HS_FRAME_MAX, raw, len, err))
		return NULL;
	obj = json_loadb((const char *)*raw, *len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(obj)) {
		json_decref(obj);
		kt_fail(err, "protocol", "handshake message is not a JSON object");
		goto fail;
	}
	peer_check = json_string_value(json_object_get(obj, "error"));
	if (peer_check) {
		kt_fail(err, "refused", "the host refused the handshake: %.64s", peer_check);
		json_decref(obj);
		goto fail;
	}
	return obj;
fail:
	free(*raw);
	*raw = NULL;
	return NULL;
}

static int get_bytes(json_t *obj, const char *name, uint8_t *out, size_t len, struct kt_err *err)
{
	const char *b64 = json_string_value(json_object_get(obj, name));
	size_t got;
	uint8_t *raw = b64 ? kt_b64url_decode(b64, strlen(b64), &got) : NULL;

	if (!raw || got != len) {
		free(raw);
		return kt_fail(err, "protocol", "\"%s\" must be %zu bytes of base64url", name, len);
	}
	memcpy(out, raw, len);
	free(raw);
	return 0;
}

static int set_bytes(json_t *obj, const char *name, const uint8_t *in, size_t len)
{
	char *b64 = kt_b64url_encode(in, len);
	int ret = b64 ? json_object_set_new(obj, name, json_string(b64)) : -1;

	free(b64);
	return ret;
}

/* Our first message (F1, F2) carries our ephemeral key and nonce; sends msg. */
static int send_eph_nonce(int fd, json_t *msg, const uint8_t eph_pub[X25519_LEN],
			  const uint8_t nonce[KT_HS_NONCE_LEN], EVP_MD_CTX *md, struct kt_err *err)
{
	if (!msg || set_bytes(msg, "eph", eph_pub, X25519_LEN) ||
	    set_bytes(msg, "nonce", nonce, KT_HS_NONCE_LEN) || send_json(fd, msg, md, err))
		return -1;
	return 0;
}

static EVP_PKEY *eph_new(uint8_t pub[X25519_LEN], struct kt_err *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t len = X25519_LEN;

	if (!key || !EVP_PKEY_get_raw_public_key(key, pub, &len) || len != X25519_LEN) {
		EVP_PKEY_free(key);
		kt_fail_ssl(err, "protocol", "cannot make an X25519 key");
		return NULL;
	}
	return key;
}

static int eph_derive(EVP_PKEY *mine, const uint8_t peer_pub[X25519_LEN],
		      uint8_t secret[X25519_LEN], struct kt_err *err)
{
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer_pub, X25519_LEN);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
	size_t len = X25519_LEN;
	int ok;

	/* OpenSSL refuses an all-zero result, i.e. a small-order peer point. */
	ok = peer && ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	     EVP_PKEY_derive(ctx, secret, &len) == 1 && len == X25519_LEN;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return ok ? 0 : kt_fail_ssl(err, "protocol", "X25519 key agreement failed");
}

static json_t *sign_th(EVP_PKEY *key, const char *label, const uint8_t th[TH_LEN],
		       struct kt_err *err)
{
	uint8_t msg[64 + TH_LEN], sig[KT_ES256_SIG_LEN];
	size_t n = strlen(label) + 1;
	json_t *obj;

	memcpy(msg, label, n);	/* label and its NUL separator */
	memcpy(msg + n, th, TH_LEN);
	if (kt_es256_sign(key, msg, n + TH_LEN, sig, err))
		return NULL;
	obj = json_object();
	if (!obj || set_bytes(obj, "sig", sig, sizeof(sig))) {
		json_decref(obj);
		kt_fail(err, "protocol", "out of memory");
		return NULL;
	}
	return obj;
}

static int verify_th(EVP_PKEY *pub, const char *label, const uint8_t th[TH_LEN], json_t *obj,
		     const char *check, struct kt_err *err)
{
	uint8_t msg[64 + TH_LEN], sig[KT_ES256_SIG_LEN];
	size_t n = strlen(label) + 1;

	if (get_bytes(obj, "sig", sig, sizeof(sig), err))
		return -1;
	memcpy(msg, label, n);
	memcpy(msg + n, th, TH_LEN);
	if (kt_es256_verify(pub, msg, n + TH_LEN, sig, err))
		return kt_fail(err, check, "the transcript signature does not verify");
	return 0;
}

static int derive_keys(const uint8_t secret[X25519_LEN], const uint8_t th[TH_LEN], bool guest,
		       struct kt_channel_keys *keys, struct kt_err *err)
{
	uint8_t g2h[KT_AEAD_KEY_LEN + KT_AEAD_NONCE_LEN], h2g[sizeof(g2h)];
	int ret = -1;

	if (kt_hkdf_sha256(secret, X25519_LEN, th, TH_LEN, INFO_G2H, g2h, sizeof(g2h), err) ||
	    kt_hkdf_sha256(secret, X25519_LEN, th, TH_LEN, INFO_H2G, h2g, sizeof(h2g), err))
		goto out;
	memcpy(keys->tx_key, guest ? g2h : h2g, KT_AEAD_KEY_LEN);
	memcpy(keys->tx_iv, (guest ? g2h : h2g) + KT_AEAD_KEY_LEN, KT_AEAD_NONCE_LEN);
	memcpy(keys->rx_key, guest ? h2g : g2h, KT_AEAD_KEY_LEN);
	memcpy(keys->rx_iv, (guest ? h2g : g2h) + KT_AEAD_KEY_LEN, KT_AEAD_NONCE_LEN);
	ret = 0;
out:
	OPENSSL_cleanse(g2h, sizeof(g2h));
	OPENSSL_cleanse(h2g, sizeof(h2g));
	return ret;
}

/* Keys from the agreement and the final transcript; opens res->channel. */
static int open_channel(int fd, EVP_PKEY *eph, const uint8_t peer_pub[X25519_LEN],
			bool guest, struct kt_hs_result *res, struct kt_err *err)
{
	uint8_t secret[X25519_LEN];
	struct kt_channel_keys keys;
	int ret = -1;

	if (!eph_derive(eph, peer_pub, secret, err) &&
	    !derive_keys(secret, res->transcript, guest, &keys, err)) {
		res->channel = kt_channel_new(fd, &keys);
		ret = res->channel ? 0 : kt_fail(err, "protocol", "out of memory");
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(&keys, sizeof(keys));
	return ret;
}

void kt_hs_result_free(struct kt_hs_result *res)
{
	kt_channel_free(res->channel);
	kt_token_free(&res->token);
	memset(res, 0, sizeof(*res));
}

/* F1: the guest's token, ephemeral key and nonce; the token is verified here. */
static int host_read_hello(int fd, const struct kt_hs_host_cfg *cfg, EVP_MD_CTX *md,
			   uint8_t eph_g[X25519_LEN], struct kt_hs_result *res,
			   struct kt_err *err)
{
	uint8_t nonce[KT_HS_NONCE_LEN], *raw = NULL;
	json_t *f1;
	size_t len;
	int ret = -1;

	f1 = recv_json(fd, &raw, &len, err);
	if (!f1)
		return -1;
	if (json_integer_value(json_object_get(f1, "v")) != 1 ||
	    !json_is_string(json_object_get(f1, "token"))) {
		kt_fail(err, "protocol", "not a version 1 guest hello");
		goto out;
	}
	if (get_bytes(f1, "eph", eph_g, X25519_LEN, err) ||
	    get_bytes(f1, "nonce", nonce, sizeof(nonce), err) || th_add(md, raw, len) ||
	    kt_token_verify(json_string_value(json_object_get(f1, "token")), &cfg->verify,
			    &res->token, err))
		goto out;
	/* Remember the nonce while the token could still pass the time check. */
	if (cfg->replay && replay_seen(cfg->replay, nonce,
				       res->token.claims.exp + cfg->verify.skew)) {
		kt_fail(err, "replay", "this guest hello was seen before");
		goto out;
	}
	ret = 0;
out:
	json_decref(f1);
	free(raw);
	return ret;
}

int kt_handshake_host(int fd, const struct kt_hs_host_cfg *cfg, struct kt_hs_result *res,
		      struct kt_err *err)
{
	uint8_t eph_g[X25519_LEN], eph_pub[X25519_LEN], nonce[KT_HS_NONCE_LEN], th[TH_LEN];
	uint8_t *raw = NULL;
	EVP_MD_CTX *md = th_new(err);
	json_t *msg = NULL;
	EVP_PKEY *eph = NULL;
	size_t len;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (!md)
		goto out;
	if (host_read_hello(fd, cfg, md, eph_g, res, err))
		goto refuse;
	eph = eph_new(eph_pub, err);
	if (!eph || RAND_bytes(nonce, sizeof(nonce)) != 1)
		goto refuse;
	msg = json_pack("{s:i, s:o}", "v", 1, "x5c", kt_jws_x5c_from_chain(cfg->host->chain));
	if (send_eph_nonce(fd, msg, eph_pub, nonce, md, err))
		goto refuse;
	json_decref(msg);
	msg = NULL;
	if (th_peek(md, th) || !(msg = sign_th(cfg->host->key, LABEL_HOST, th, err)) ||
	    send_json(fd, msg, md, err))
		goto refuse;
	json_decref(msg);
	msg = NULL;
	/* F4: the guest key from the token signs everything so far. */
	if (th_peek(md, th) || !(msg = recv_json(fd, &raw, &len, err)))
		goto refuse;
	if (verify_th(res->token.claims.cnf, LABEL_GUEST, th, msg, "guest-signature", err) ||
	    th_add(md, raw, len) || !EVP_DigestFinal_ex(md, res->transcript, NULL) ||
	    open_channel(fd, eph, eph_g, false, res, err))
		goto refuse;
	json_decref(msg);
	msg = NULL;
	msg = json_pack("{s:s}", "status", "ok");
	if (send_json(fd, msg, NULL, err) ||
	    kt_channel_send(res->channel, res->transcript, TH_LEN, err))
		goto out;
	ret = 0;
	goto out;
refuse:
	if (err && err->check && strcmp(err->check, "truncated") && strcmp(err->check, "channel"))
		send_error(fd, err);
out:
	json_decref(msg);
	free(raw);
	EVP_PKEY_free(eph);
	EVP_MD_CTX_free(md);
	if (ret)
		kt_hs_result_free(res);
	return ret;
}

/* F2: the host's chain, checked against the guest's anchors and CRLs. */
static int guest_check_host(const struct kt_hs_guest_cfg *cfg, json_t *f2,
			    X509 **leaf, struct kt_hs_result *res, struct kt_err *err)
{
	struct kt_pki_verify_opts opts = {
		.anchors = cfg->anchors, .crls = cfg->crls,
		.flags = cfg->crls ? 0 : KT_PKI_NO_CRL, .require_kind = KT_CERT_HOST,
	};
	struct kt_jws fake = { .header = f2 };	/* x5c decoding lives in jws.c */
	STACK_OF(X509) *x5c = NULL, *path = NULL;
	struct kt_err why = { 0 };
	int ret = -1;

	if (kt_jws_x5c(&fake, &x5c, err)) {
		kt_fail(err, "protocol", "the host sent no usable x5c chain");
		return -1;
	}
	opts.untrusted = x5c;
	if (kt_pki_verify(sk_X509_value(x5c, 0), &opts, &path, &why)) {
		kt_fail(err, "host-chain", "host certificate: %s: %s", why.check, why.msg);
		goto out;
	}
	if (cfg->host_revoked && cfg->host_revoked(cfg->host_revoked_arg, path, "the host's", err))
		goto out;
	if (kt_pki_cert_info(sk_X509_value(x5c, 0), &res->peer, err))
		goto out;
	if (cfg->expect_host && strcmp(cfg->expect_host, res->peer.host_uuid)) {
		kt_fail(err, "host-identity", "host is %s, expected %s", res->peer.host_uuid,
			cfg->expect_host);
		goto out;
	}
	*leaf = sk_X509_shift(x5c);
	ret = 0;
out:
	sk_X509_pop_free(x5c, X509_free);
	sk_X509_pop_free(path, X509_free);
	return ret;
}

int kt_handshake_guest(int fd, const struct kt_hs_guest_cfg *cfg, struct kt_hs_result *res,
		       struct kt_err *err)
{
	uint8_t eph_pub[X25519_LEN], eph_h[X25519_LEN], nonce[KT_HS_NONCE_LEN], th[TH_LEN];
	uint8_t nonce_h[KT_HS_NONCE_LEN], confirm[TH_LEN], *raw = NULL;
	EVP_MD_CTX *md = th_new(err);
	EVP_PKEY *eph = NULL;
	json_t *msg = NULL;
	X509 *leaf = NULL;
	size_t len;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (!md)
		goto out;
	eph = eph_new(eph_pub, err);
	if (!eph || RAND_bytes(nonce, sizeof(nonce)) != 1)
		goto out;
	msg = json_pack("{s:i, s:s}", "v", 1, "token", cfg->token);
	if (send_eph_nonce(fd, msg, eph_pub, nonce, md, err))
		goto out;
	json_decref(msg);
	msg = NULL;
	/* F2 */
	msg = recv_json(fd, &raw, &len, err);
	if (!msg || get_bytes(msg, "eph", eph_h, X25519_LEN, err) ||
	    get_bytes(msg, "nonce", nonce_h, sizeof(nonce_h), err) ||
	    guest_check_host(cfg, msg, &leaf, res, err) || th_add(md, raw, len))
		goto out;
	json_decref(msg);
	msg = NULL;
	free(raw);
	raw = NULL;
	/* F3 */
	if (th_peek(md, th) || !(msg = recv_json(fd, &raw, &len, err)) ||
	    verify_th(X509_get0_pubkey(leaf), LABEL_HOST, th, msg, "host-signature", err) ||
	    th_add(md, raw, len))
		goto out;
	json_decref(msg);
	msg = NULL;
	/* F4 */
	if (th_peek(md, th) || !(msg = sign_th(cfg->guest_key, LABEL_GUEST, th, err)) ||
	    send_json(fd, msg, md, err) || !EVP_DigestFinal_ex(md, res->transcript, NULL))
		goto out;
	json_decref(msg);
	msg = NULL;
	free(raw);
	raw = NULL;
	/* F5 and the host's first record prove it derived the same keys. */
	msg = recv_json(fd, &raw, &len, err);
	if (msg && strcmp(json_string_value(json_object_get(msg, "status")) ?: "", "ok")) {
		kt_fail(err, "protocol", "the host sent no status");
		goto out;
	}
	if (!msg || open_channel(fd, eph, eph_h, true, res, err) ||
	    kt_channel_recv_all(res->channel, confirm, sizeof(confirm), err))
		goto out;
	if (CRYPTO_memcmp(confirm, res->transcript, TH_LEN)) {
		kt_fail(err, "protocol", "key confirmation does not match the transcript");
		goto out;
	}
	ret = 0;
out:
	json_decref(msg);
	free(raw);
	X509_free(leaf);
	EVP_PKEY_free(eph);
	EVP_MD_CTX_free(md);
	if (ret)
		kt_hs_result_free(res);
	return ret;
}
