// SPDX-License-Identifier: GPL-2.0
/*
 * Identity library tests: the CA hierarchy, guest identity tokens, the
 * encrypted keystore, the handshake and the record channel. Every refusal
 * asserts the check named in kt_err.check, so a refusal for the wrong
 * reason fails the test.
 *
 *   root (pathlen 1) ── intermediate "eu" (pathlen 0, DNS .eu.example.test)
 *                         └── host A (urn:uuid, region eu-west, site fra1)
 *   other root (not a trust anchor) ── host X
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "kselftest_harness.h"

#include "common/encoding.h"
#include "common/outfile.h"
#include "common/secfile.h"
#include "identity/channel.h"
#include "identity/chanmsg.h"
#include "identity/handshake.h"
#include "identity/jws.h"
#include "identity/keystore.h"
#include "identity/pki.h"
#include "identity/token.h"

#define DAY 86400
#define HOST_UUID "0b7e6a3c-5f1d-4c2e-9a8b-1d2c3e4f5a6b"
#define GUEST_UUID "7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b"

static char *path_in(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

static void copy_file(const char *from, const char *to)
{
	uint8_t *buf;
	size_t len;

	if (kt_file_read(from, 1 << 20, 0, &buf, &len, NULL) ||
	    kt_file_write(to, buf, len, 0644, NULL))
		abort();
	free(buf);
}

static void req_init(struct kt_cert_req *req, enum kt_cert_kind kind, const char *cn,
		     time_t nb, time_t na)
{
	memset(req, 0, sizeof(*req));
	req->kind = kind;
	req->cn = cn;
	req->not_before = nb;
	req->not_after = na;
	req->pathlen = -1;
}

/* Issues a credential from ca into dir; returns 0 or -1. */
static int issue(const char *ca_dir, const struct kt_cert_req *req, const char *dir)
{
	struct kt_cred ca, out;
	struct kt_err err = { 0 };
	EVP_PKEY *key;
	int ret = -1;

	if (kt_cred_load(ca_dir, &ca, &err))
		return -1;
	key = kt_pki_new_key(&err);
	if (key && !kt_ca_issue(&ca, req, key, &out, &err)) {
		out.key = key;
		key = NULL;
		ret = kt_cred_save(dir, &out, &err);
		kt_cred_free(&out);
	}
	if (ret)
		fprintf(stderr, "issue %s: %s: %s\n", dir, err.check, err.msg);
	EVP_PKEY_free(key);
	kt_cred_free(&ca);
	return ret;
}

static int crl(const char *ca_dir, const char *to)
{
	struct kt_err err = { 0 };
	struct kt_cred ca;
	char *from = path_in(ca_dir, "crl.pem");
	int ret;

	ret = kt_cred_load(ca_dir, &ca, &err) || kt_ca_crl(ca_dir, &ca, 0, NULL, &err);
	if (!ret && to)
		copy_file(from, to);
	kt_cred_free(&ca);
	free(from);
	return ret ? -1 : 0;
}

static int revoke_cert(const char *ca_dir, const char *cert_file, const char *crl_copy)
{
	struct kt_err err = { 0 };
	struct kt_cred ca;
	X509 *cert = kt_pki_load_cert(cert_file, &err);
	int ret = -1;

	if (cert && !kt_cred_load(ca_dir, &ca, &err)) {
		ret = kt_ca_revoke(ca_dir, &ca, cert, 1, &err);
		kt_cred_free(&ca);
	}
	X509_free(cert);
	if (ret)
		fprintf(stderr, "revoke: %s: %s\n", err.check, err.msg);
	else
		ret = crl(ca_dir, crl_copy);
	return ret;
}

/* Copies dir/name to to_dir/to_name. */
static void install(const char *dir, const char *name, const char *to_dir, const char *to_name)
{
	char *from = path_in(dir, name), *to = path_in(to_dir, to_name);

	copy_file(from, to);
	free(from);
	free(to);
}

/* A CA tree in a temporary directory, built once per test. */
FIXTURE(tree) {
	char dir[64];
	char *root, *inter, *host, *other, *host_x, *anchors, *crls, *trls;
	EVP_PKEY *guest;
	struct kt_pki_dir *anchor_dir, *crl_dir;
	time_t now;
};

FIXTURE_SETUP(tree)
{
	struct kt_cert_req req;
	static const char *const eu[] = { ".eu.example.test", NULL };
	static const char *const host_dns[] = { "a.eu.example.test", NULL };
	char *file;

	self->now = time(NULL);
	strcpy(self->dir, "/tmp/kt-identity-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	self->root = path_in(self->dir, "root");
	self->inter = path_in(self->dir, "inter");
	self->host = path_in(self->dir, "host");
	self->other = path_in(self->dir, "other");
	self->host_x = path_in(self->dir, "host-x");
	self->anchors = path_in(self->dir, "anchors");
	self->crls = path_in(self->dir, "crls");
	ASSERT_EQ(0, mkdir(self->anchors, 0755));
	ASSERT_EQ(0, mkdir(self->crls, 0755));
	self->trls = path_in(self->dir, "trls");
	ASSERT_EQ(0, mkdir(self->trls, 0755));
	self->guest = kt_pki_new_key(NULL);
	ASSERT_NE(NULL, self->guest);

	req_init(&req, KT_CERT_ROOT, "kvmtrust test root", self->now - 10 * DAY,
		 self->now + 3650 * DAY);
	req.pathlen = 1;
	ASSERT_EQ(0, kt_ca_init(self->root, &req, NULL));
	req_init(&req, KT_CERT_CA, "eu intermediate", self->now - 9 * DAY, self->now + 365 * DAY);
	req.pathlen = 0;
	req.permit_dns = eu;
	ASSERT_EQ(0, issue(self->root, &req, self->inter));
	req_init(&req, KT_CERT_HOST, "host a", self->now - 8 * DAY, self->now + 30 * DAY);
	req.host_uuid = HOST_UUID;
	req.region = "eu-west";
	req.site = "fra1";
	req.dns = host_dns;
	ASSERT_EQ(0, issue(self->inter, &req, self->host));

	req_init(&req, KT_CERT_ROOT, "untrusted root", self->now - DAY, self->now + 365 * DAY);
	ASSERT_EQ(0, kt_ca_init(self->other, &req, NULL));
	req_init(&req, KT_CERT_HOST, "host x", self->now - DAY, self->now + 30 * DAY);
	req.host_uuid = HOST_UUID;
	req.region = "eu-west";
	req.site = "fra1";
	ASSERT_EQ(0, issue(self->other, &req, self->host_x));

	install(self->root, "cert.pem", self->anchors, "root.pem");
	file = path_in(self->crls, "root.crl");
	ASSERT_EQ(0, crl(self->root, file));
	free(file);
	file = path_in(self->crls, "inter.crl");
	ASSERT_EQ(0, crl(self->inter, file));
	free(file);
	ASSERT_EQ(0, kt_pki_dir_open(self->anchors, &self->anchor_dir, NULL));
	ASSERT_EQ(0, kt_pki_dir_open(self->crls, &self->crl_dir, NULL));
}

FIXTURE_TEARDOWN(tree)
{
	char cmd[128];

	kt_pki_dir_free(self->anchor_dir);
	kt_pki_dir_free(self->crl_dir);
	snprintf(cmd, sizeof(cmd), "%s %s", getenv("KT_KEEP") ? "true" : "rm -rf", self->dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", self->dir);
	free(self->root);
	free(self->inter);
	free(self->host);
	free(self->other);
	free(self->host_x);
	free(self->anchors);
	free(self->crls);
	free(self->trls);
	EVP_PKEY_free(self->guest);
}

static STACK_OF(X509) *chain_of(const char *dir)
{
	char *file = path_in(dir, "chain.pem");
	STACK_OF(X509) *chain = kt_pki_load_certs(file, NULL);

	free(file);
	return chain;
}

/* Verifies dir's certificate with its chain as untrusted intermediates. */
static int verify_cred(FIXTURE_DATA(tree) *self, const char *dir, int kind, struct kt_err *err)
{
	STACK_OF(X509) *chain = chain_of(dir);
	struct kt_pki_verify_opts opts = {
		.anchors = self->anchor_dir, .crls = self->crl_dir,
		.untrusted = chain, .require_kind = kind,
		/* A CA verified as itself signs nothing but certificates. */
		.flags = kind == KT_CERT_CA || kind == KT_CERT_ROOT ? KT_PKI_NOT_SIGNER : 0,
	};
	int ret;

	if (!chain)
		return kt_fail(err, "test", "no chain in %s", dir);
	kt_err_clear(err);
	ret = kt_pki_verify(sk_X509_value(chain, 0), &opts, NULL, err);
	sk_X509_pop_free(chain, X509_free);
	return ret;
}

TEST_F(tree, pki_host_verifies_and_carries_its_identity)
{
	STACK_OF(X509) *chain = chain_of(self->host), *path = NULL;
	struct kt_pki_verify_opts opts = {
		.anchors = self->anchor_dir, .crls = self->crl_dir,
		.untrusted = chain, .require_kind = KT_CERT_HOST,
	};
	struct kt_cert_info host, inter, root;
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, chain);
	ASSERT_EQ(2, sk_X509_num(chain));
	ASSERT_EQ(0, kt_pki_verify(sk_X509_value(chain, 0), &opts, &path, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(3, sk_X509_num(path));
	ASSERT_EQ(0, kt_pki_cert_info(sk_X509_value(path, 0), &host, &err));
	ASSERT_EQ(0, kt_pki_cert_info(sk_X509_value(path, 1), &inter, &err));
	ASSERT_EQ(0, kt_pki_cert_info(sk_X509_value(path, 2), &root, &err));
	EXPECT_EQ(KT_CERT_HOST, (int)host.kind);
	EXPECT_EQ(KT_CERT_CA, (int)inter.kind);
	EXPECT_EQ(KT_CERT_ROOT, (int)root.kind);
	EXPECT_STREQ(HOST_UUID, host.host_uuid);
	EXPECT_STREQ("eu-west", host.region);
	EXPECT_STREQ("fra1", host.site);
	EXPECT_STREQ(inter.ski, host.aki);
	EXPECT_STREQ(root.ski, inter.aki);
	EXPECT_EQ(40U, strlen(host.ski));
	EXPECT_EQ(0, inter.pathlen);
	EXPECT_EQ(1, root.pathlen);
	sk_X509_pop_free(path, X509_free);
	sk_X509_pop_free(chain, X509_free);
}

TEST_F(tree, pki_unknown_root_is_refused)
{
	struct kt_err err = { 0 };

	EXPECT_NE(0, verify_cred(self, self->host_x, KT_CERT_HOST, &err));
	EXPECT_STREQ("chain", err.check);
}

TEST_F(tree, pki_wrong_kind_is_refused)
{
	struct kt_err err = { 0 };

	EXPECT_NE(0, verify_cred(self, self->inter, KT_CERT_HOST, &err));
	EXPECT_STREQ("purpose", err.check);
	EXPECT_EQ(0, verify_cred(self, self->inter, KT_CERT_CA, &err)) TH_LOG("%s", err.msg);
	/* Any kind: the CA is still no signer (keyCertSign, cRLSign only). */
	EXPECT_NE(0, verify_cred(self, self->inter, -1, &err));
	EXPECT_STREQ("key-usage", err.check);
}

/* Anchors from one PEM file take the same path; anything else is refused. */
TEST_F(tree, pki_anchor_file_and_not_a_file)
{
	char *root_pem = path_in(self->root, "cert.pem"), *fifo = path_in(self->dir, "fifo");
	STACK_OF(X509) *chain = chain_of(self->host);
	struct kt_pki_verify_opts opts = {
		.untrusted = chain, .flags = KT_PKI_NO_CRL, .require_kind = KT_CERT_HOST,
	};
	struct kt_pki_dir *bad = NULL;
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, chain);
	ASSERT_EQ(0, kt_pki_dir_open(root_pem, &opts.anchors, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(0, kt_pki_verify(sk_X509_value(chain, 0), &opts, NULL, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, mkfifo(fifo, 0600));
	EXPECT_EQ(-1, kt_pki_dir_open(fifo, &bad, &err));
	EXPECT_STREQ("anchors", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "neither a directory nor a PEM file")) TH_LOG("%s", err.msg);
	kt_pki_dir_free(opts.anchors);
	sk_X509_pop_free(chain, X509_free);
	free(root_pem);
	free(fifo);
}

/* An intermediate that expired yesterday and a host it issued that is still valid. */
static char *host_under_expired_ca(FIXTURE_DATA(tree) *self)
{
	char *old = path_in(self->dir, "old"), *host = path_in(self->dir, "host-old");
	char *crl_file = path_in(self->crls, "old.crl");
	struct kt_cert_req req;

	req_init(&req, KT_CERT_CA, "expired intermediate", self->now - 9 * DAY, self->now - DAY);
	if (issue(self->root, &req, old))
		abort();
	req_init(&req, KT_CERT_HOST, "host under expired", self->now - 8 * DAY, self->now + DAY);
	req.host_uuid = HOST_UUID;
	req.region = "eu-west";
	req.site = "fra1";
	if (issue(old, &req, host) || crl(old, crl_file))
		abort();
	free(old);
	free(crl_file);
	return host;
}

TEST_F(tree, pki_expired_intermediate_is_refused)
{
	char *host = host_under_expired_ca(self);
	struct kt_err err = { 0 };

	EXPECT_NE(0, verify_cred(self, host, KT_CERT_HOST, &err));
	EXPECT_STREQ("validity", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "depth 1")) TH_LOG("%s", err.msg);
	free(host);
}

TEST_F(tree, pki_revoked_intermediate_is_refused)
{
	char *cert = path_in(self->inter, "cert.pem"), *to = path_in(self->crls, "root.crl");
	struct kt_err err = { 0 };

	ASSERT_EQ(0, verify_cred(self, self->host, KT_CERT_HOST, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, revoke_cert(self->root, cert, to));
	EXPECT_NE(0, verify_cred(self, self->host, KT_CERT_HOST, &err));
	EXPECT_STREQ("revocation", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "revoked")) TH_LOG("%s", err.msg);
	free(cert);
	free(to);
}

TEST_F(tree, pki_missing_crl_is_refused)
{
	char *file = path_in(self->crls, "inter.crl");
	struct kt_err err = { 0 };

	ASSERT_EQ(0, unlink(file));
	EXPECT_NE(0, verify_cred(self, self->host, KT_CERT_HOST, &err));
	EXPECT_STREQ("revocation", err.check);
	free(file);
}

TEST_F(tree, pki_path_length_is_enforced)
{
	char *sub = path_in(self->dir, "sub"), *host = path_in(self->dir, "host-sub");
	char *crl_file = path_in(self->crls, "sub.crl");
	static const char *const dns[] = { "s.eu.example.test", NULL };
	struct kt_cert_req req;
	struct kt_err err = { 0 };

	req_init(&req, KT_CERT_CA, "sub ca", self->now - DAY, self->now + 10 * DAY);
	req.permit_dns = (const char *const[]){ ".eu.example.test", NULL };
	ASSERT_EQ(0, issue(self->inter, &req, sub));
	req_init(&req, KT_CERT_HOST, "host under sub", self->now - DAY, self->now + 5 * DAY);
	req.host_uuid = HOST_UUID;
	req.region = "eu-west";
	req.site = "fra1";
	req.dns = dns;
	ASSERT_EQ(0, issue(sub, &req, host));
	ASSERT_EQ(0, crl(sub, crl_file));
	EXPECT_NE(0, verify_cred(self, host, KT_CERT_HOST, &err));
	EXPECT_STREQ("pathlen", err.check) TH_LOG("%s", err.msg);
	free(sub);
	free(host);
	free(crl_file);
}

TEST_F(tree, pki_name_constraints_are_enforced)
{
	static const char *const dns[] = { "b.us.example.test", NULL };
	char *host = path_in(self->dir, "host-us");
	struct kt_cert_req req;
	struct kt_err err = { 0 };

	req_init(&req, KT_CERT_HOST, "host in the us", self->now - DAY, self->now + 5 * DAY);
	req.host_uuid = HOST_UUID;
	req.region = "us-east";
	req.site = "iad1";
	req.dns = dns;
	ASSERT_EQ(0, issue(self->inter, &req, host));
	EXPECT_NE(0, verify_cred(self, host, KT_CERT_HOST, &err));
	EXPECT_STREQ("name-constraints", err.check) TH_LOG("%s", err.msg);
	free(host);
}

TEST_F(tree, pki_anchor_directory_is_reread)
{
	char *crl_file = path_in(self->crls, "other.crl");
	struct kt_err err = { 0 };
	unsigned int gen = kt_pki_dir_generation(self->anchor_dir);

	EXPECT_NE(0, verify_cred(self, self->host_x, KT_CERT_HOST, &err));
	EXPECT_EQ(gen, kt_pki_dir_generation(self->anchor_dir));
	install(self->other, "cert.pem", self->anchors, "other.pem");
	ASSERT_EQ(0, crl(self->other, crl_file));
	EXPECT_EQ(0, verify_cred(self, self->host_x, KT_CERT_HOST, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(gen + 1, kt_pki_dir_generation(self->anchor_dir));
	free(crl_file);
}

TEST(pki_request_syntax_is_checked)
{
	struct kt_cert_req req;
	struct kt_err err = { 0 };

	req_init(&req, KT_CERT_ROOT, "r", 100, 50);
	EXPECT_NE(0, kt_ca_init("/nonexistent/x", &req, &err));
	EXPECT_STREQ("request", err.check);
	EXPECT_TRUE(kt_uuid_valid(HOST_UUID));
	EXPECT_FALSE(kt_uuid_valid("0B7E6A3C-5F1D-4C2E-9A8B-1D2C3E4F5A6B"));
	EXPECT_FALSE(kt_uuid_valid("0b7e6a3c5f1d4c2e9a8b1d2c3e4f5a6b"));
}


#define AUDIENCE "kvmtrust:test-federation"

/* Issues a token from the credential in dir; tweak adjusts the claims. */
static char *token_from(FIXTURE_DATA(tree) *self, const char *dir,
			void (*tweak)(struct kt_token_claims *c, time_t now))
{
	struct kt_token_claims c = { 0 };
	struct kt_err err = { 0 };
	struct kt_cred cred;
	char *out = NULL;

	if (kt_cred_load(dir, &cred, &err))
		return NULL;
	strcpy(c.sub, GUEST_UUID);
	strcpy(c.aud, AUDIENCE);
	c.iat = self->now - 10;
	c.exp = self->now + 3600;
	c.cnf = self->guest;
	if (tweak)
		tweak(&c, self->now);
	if (kt_token_issue(&cred, &c, &out, &err))
		fprintf(stderr, "token issue: %s: %s\n", err.check, err.msg);
	kt_cred_free(&cred);
	return out;
}

static int verify_token(FIXTURE_DATA(tree) *self, const char *token, struct kt_err *err)
{
	struct kt_token_verify_opts opts = {
		.anchors = self->anchor_dir, .crls = self->crl_dir, .trl_dir = self->trls,
		.audience = AUDIENCE, .skew = 60, .now = self->now,
	};
	struct kt_token tok;

	kt_err_clear(err);
	if (kt_token_verify(token, &opts, &tok, err))
		return -1;
	kt_token_free(&tok);
	return 0;
}

/* Replaces the header and/or payload of a token (NULL keeps the part). */
static char *forge(const char *token, const char *header, const char *payload)
{
	const char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
	char *h = header ? kt_b64url_encode((const uint8_t *)header, strlen(header)) :
			   strndup(token, (size_t)(dot1 - token));
	char *p = payload ? kt_b64url_encode((const uint8_t *)payload, strlen(payload)) :
			    strndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	char *out;

	if (asprintf(&out, "%s.%s%s", h, p, dot2) < 0)
		out = NULL;
	free(h);
	free(p);
	return out;
}

/* The decoded header or payload of a token as JSON text. */
static char *part(const char *token, int which)
{
	const char *start = token, *end;
	size_t len;
	char *raw;

	if (which)
		start = strchr(token, '.') + 1;
	end = strchr(start, '.');
	raw = (char *)kt_b64url_decode(start, (size_t)(end - start), &len);
	return raw;
}

TEST_F(tree, token_issue_verify_revoke_round_trip)
{
	char *token = token_from(self, self->host, NULL), *trl = path_in(self->trls, "host.trl");
	struct kt_token_verify_opts opts = {
		.anchors = self->anchor_dir, .crls = self->crl_dir, .trl_dir = self->trls,
		.audience = AUDIENCE, .skew = 60,
	};
	struct kt_err err = { 0 };
	struct kt_token tok;
	struct kt_cred cred;

	ASSERT_NE(NULL, token);
	ASSERT_EQ(0, kt_token_verify(token, &opts, &tok, &err)) TH_LOG("%s: %s", err.check, err.msg);
	EXPECT_STREQ(GUEST_UUID, tok.claims.sub);
	EXPECT_STREQ(HOST_UUID, tok.claims.host);
	EXPECT_STREQ(AUDIENCE, tok.claims.aud);
	EXPECT_EQ(32U, strlen(tok.claims.jti));
	EXPECT_EQ(1, EVP_PKEY_eq(tok.claims.cnf, self->guest));
	EXPECT_EQ(3, sk_X509_num(tok.path));
	EXPECT_STREQ("eu-west", tok.signer.region);

	ASSERT_EQ(0, kt_cred_load(self->host, &cred, &err));
	ASSERT_EQ(0, kt_trl_revoke(trl, &cred, tok.claims.jti, tok.claims.exp, &err)) TH_LOG("%s", err.msg);
	EXPECT_NE(0, kt_trl_revoke(trl, &cred, tok.claims.jti, tok.claims.exp, &err));
	kt_cred_free(&cred);
	kt_token_free(&tok);
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("revocation", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "is revoked")) TH_LOG("%s", err.msg);
	free(trl);
	free(token);
}

TEST_F(tree, token_forged_signature_is_refused)
{
	char *token = token_from(self, self->host, NULL), *sig;

	struct kt_err err = { 0 };

	ASSERT_NE(NULL, token);
	sig = strrchr(token, '.') + 20;
	*sig = *sig == 'A' ? 'B' : 'A';
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("signature", err.check);
	free(token);
}

TEST_F(tree, token_changed_claim_is_refused)
{
	char *token = token_from(self, self->host, NULL), *payload, *at, *bad;
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, token);
	payload = part(token, 1);
	at = strstr(payload, GUEST_UUID);
	ASSERT_NE(NULL, at);
	at[0] = at[0] == '1' ? '2' : '1';
	bad = forge(token, NULL, payload);
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("signature", err.check);
	free(bad);
	free(payload);
	free(token);
}

TEST_F(tree, token_signed_with_wrong_key_is_refused)
{
	char *token = token_from(self, self->host, NULL), *header = part(token, 0);
	char *payload = part(token, 1), *bad;
	json_t *h = json_loads(header, 0, NULL), *p = json_loads(payload, 0, NULL);
	EVP_PKEY *other = kt_pki_new_key(NULL);
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, h);
	json_object_del(h, "alg");
	ASSERT_EQ(0, kt_jws_sign(other, h, p, &bad, &err));
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("signature", err.check);
	free(bad);
	json_decref(h);
	json_decref(p);
	EVP_PKEY_free(other);
	free(header);
	free(payload);
	free(token);
}

static void replace_alg(char *header, const char *alg)
{
	char *at = strstr(header, "\"alg\":\"ES256\"");

	memcpy(at + 7, alg, strlen(alg));
	memmove(at + 7 + strlen(alg), at + 12, strlen(at + 12) + 1);
}

TEST_F(tree, token_alg_none_and_hs256_are_refused)
{
	static const char *const algs[] = { "none", "HS256", "RS256", "ES384" };
	char *token = token_from(self, self->host, NULL), *header, *bad;
	struct kt_err err = { 0 };
	size_t i;

	ASSERT_NE(NULL, token);
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		header = part(token, 0);
		ASSERT_NE(NULL, strstr(header, "\"alg\":\"ES256\""));
		replace_alg(header, algs[i]);
		bad = forge(token, header, NULL);
		EXPECT_NE(0, verify_token(self, bad, &err));
		EXPECT_STREQ("algorithm", err.check) TH_LOG("alg %s: %s", algs[i], err.msg);
		/* alg none with an empty signature part, the classic form */
		if (!strcmp(algs[i], "none")) {
			strrchr(bad, '.')[1] = '\0';
			EXPECT_NE(0, verify_token(self, bad, &err));
			EXPECT_STREQ("algorithm", err.check);
		}
		free(bad);
		free(header);
	}
	free(token);
}

static void expired(struct kt_token_claims *c, time_t now)
{
	c->iat = now - 7200;
	c->nbf = now - 7200;
	c->exp = now - 61;	/* just beyond the 60 s skew */
}

static void not_yet_valid(struct kt_token_claims *c, time_t now)
{
	c->iat = now;
	c->nbf = now + 61;
	c->exp = now + 3600;
}

static void within_skew(struct kt_token_claims *c, time_t now)
{
	c->iat = now + 30;
	c->nbf = now + 30;
	c->exp = now + 3600;
}

static void too_long(struct kt_token_claims *c, time_t now)
{
	c->exp = now + KT_TOKEN_MAX_LIFETIME + 100;
}

static void other_audience(struct kt_token_claims *c, time_t now)
{
	(void)now;
	strcpy(c->aud, "kvmtrust:another-federation");
}

static void other_host(struct kt_token_claims *c, time_t now)
{
	(void)now;
	strcpy(c->host, GUEST_UUID);
}

static void expired_other_audience(struct kt_token_claims *c, time_t now)
{
	expired(c, now);
	other_audience(c, now);
}

TEST_F(tree, token_claim_checks_name_the_failing_check)
{
	static const struct {
		const char *name;
		void (*tweak)(struct kt_token_claims *c, time_t now);
		const char *check;	/* NULL: must verify */
	} cases[] = {
		{ "expired", expired, "time" },
		{ "not yet valid", not_yet_valid, "time" },
		{ "nbf within the clock skew", within_skew, NULL },
		{ "lifetime above the maximum", too_long, "time" },
		{ "wrong audience", other_audience, "audience" },
		{ "host claim not the signer", other_host, "issuer" },
		{ "expired and wrong audience: time comes first", expired_other_audience, "time" },
	};
	struct kt_err err = { 0 };
	char *token;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		token = token_from(self, self->host, cases[i].tweak);
		ASSERT_NE(NULL, token);
		if (cases[i].check) {
			EXPECT_NE(0, verify_token(self, token, &err)) TH_LOG("%s", cases[i].name);
			EXPECT_STREQ(cases[i].check, err.check) TH_LOG("%s: %s", cases[i].name, err.msg);
		} else {
			EXPECT_EQ(0, verify_token(self, token, &err)) TH_LOG("%s: %s", cases[i].name, err.msg);
		}
		free(token);
	}
}

TEST_F(tree, token_from_unknown_root_is_refused)
{
	char *token = token_from(self, self->host_x, NULL);
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, token);
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("chain", err.check);
	free(token);
}

TEST_F(tree, token_under_expired_intermediate_is_refused)
{
	char *host = host_under_expired_ca(self), *token = token_from(self, host, NULL);
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, token);
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("validity", err.check);
	free(token);
	free(host);
}

TEST_F(tree, token_under_revoked_intermediate_is_refused)
{
	char *token = token_from(self, self->host, NULL);
	char *cert = path_in(self->inter, "cert.pem"), *to = path_in(self->crls, "root.crl");
	struct kt_err err = { 0 };

	ASSERT_EQ(0, verify_token(self, token, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, revoke_cert(self->root, cert, to));
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("revocation", err.check);
	free(cert);
	free(to);
	free(token);
}

TEST_F(tree, token_from_revoked_host_is_refused)
{
	char *token = token_from(self, self->host, NULL);
	char *cert = path_in(self->host, "cert.pem"), *to = path_in(self->crls, "inter.crl");
	struct kt_err err = { 0 };

	ASSERT_EQ(0, revoke_cert(self->inter, cert, to));
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("revocation", err.check);
	free(cert);
	free(to);
	free(token);
}

TEST_F(tree, token_malformed_input_is_refused)
{
	char *token = token_from(self, self->host, NULL), *bad, *header, *payload, *at, *dup;
	struct kt_err err = { 0 };
	size_t len;

	ASSERT_NE(NULL, token);
	len = strlen(token);
	/* truncated anywhere */
	bad = strndup(token, len / 2);
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	free(bad);
	bad = strndup(token, len - 3);
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	free(bad);
	/* oversized */
	bad = malloc(KT_JWS_MAX_LEN + 100);
	memset(bad, 'A', KT_JWS_MAX_LEN + 99);
	bad[KT_JWS_MAX_LEN + 99] = '\0';
	memcpy(bad, token, len);
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "larger")) TH_LOG("%s", err.msg);
	free(bad);
	/* bad base64url: a '+' and a '*' inside the payload */
	bad = strdup(token);
	strchr(bad, '.')[5] = '*';
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	strchr(bad, '.')[5] = '+';
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	free(bad);
	/* duplicate JSON members in the payload and in the header */
	payload = part(token, 1);
	at = strstr(payload, "\"sub\":");
	ASSERT_NE(NULL, at);
	ASSERT_LT(0, asprintf(&dup, "{\"sub\":\"%s\",%s", GUEST_UUID, payload + 1));
	bad = forge(token, NULL, dup);
	free(dup);
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "duplicate")) TH_LOG("%s", err.msg);
	free(bad);
	header = part(token, 0);
	ASSERT_LT(0, asprintf(&dup, "{\"typ\":\"JWT\",%s", header + 1));
	bad = forge(token, dup, NULL);
	free(dup);
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	free(bad);
	/* a claim of the wrong type */
	at = strstr(payload, "\"exp\":");
	ASSERT_NE(NULL, at);
	at[6] = '"';
	bad = forge(token, NULL, payload);
	EXPECT_NE(0, verify_token(self, bad, &err));
	EXPECT_STREQ("structure", err.check);
	free(bad);
	free(header);
	free(payload);
	free(token);
}

TEST_F(tree, token_revocation_lists_trust_only_the_token_path)
{
	char *token = token_from(self, self->host, NULL), *trl = path_in(self->trls, "x.trl");
	struct kt_token tok;
	struct kt_cred cred;
	struct kt_err err = { 0 };
	uint8_t *buf;
	size_t len;

	ASSERT_EQ(0, kt_token_decode(token, &tok, &err));
	/* host X (another tree) cannot revoke host A's token */
	ASSERT_EQ(0, kt_cred_load(self->host_x, &cred, &err));
	ASSERT_EQ(0, kt_trl_revoke(trl, &cred, tok.claims.jti, tok.claims.exp, &err));
	kt_cred_free(&cred);
	EXPECT_EQ(0, verify_token(self, token, &err)) TH_LOG("%s", err.msg);
	/* the intermediate CA of host A can */
	free(trl);
	trl = path_in(self->trls, "inter.trl");
	ASSERT_EQ(0, kt_cred_load(self->inter, &cred, &err));
	ASSERT_EQ(0, kt_trl_revoke(trl, &cred, tok.claims.jti, tok.claims.exp, &err));
	kt_cred_free(&cred);
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("revocation", err.check);
	/* a tampered list from the path fails closed */
	ASSERT_EQ(0, kt_file_read(trl, 1 << 20, 0, &buf, &len, NULL));
	buf[len - 10] = buf[len - 10] == 'A' ? 'B' : 'A';
	ASSERT_EQ(0, kt_file_write(trl, buf, len, 0644, NULL));
	free(buf);
	EXPECT_NE(0, verify_token(self, token, &err));
	EXPECT_STREQ("revocation", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "bad signature")) TH_LOG("%s", err.msg);
	kt_token_free(&tok);
	free(trl);
	free(token);
}


FIXTURE(tmp) {
	char dir[64];
};

FIXTURE_SETUP(tmp)
{
	strcpy(self->dir, "/tmp/kt-keystore-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
}

FIXTURE_TEARDOWN(tmp)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", self->dir);
}

/* Rewrites a JSON member of a keystore file (keeping mode 0600). */
static void edit_keystore(const char *path, const char *name, json_t *value)
{
	json_t *obj = json_load_file(path, 0, NULL);
	char *text;

	json_object_set_new(obj, name, value);
	text = json_dumps(obj, 0);
	if (kt_file_write(path, text, strlen(text), 0600, NULL))
		abort();
	free(text);
	json_decref(obj);
}

TEST_F(tmp, keystore_round_trip_and_refusals)
{
	char *store = path_in(self->dir, "guest.ks"), *keyfile = path_in(self->dir, "guest.key");
	struct kt_keystore_unlock by_file = { .keyfile = keyfile };
	struct kt_keystore_unlock by_pass = { .passphrase = "correct horse battery staple" };
	struct kt_keystore_unlock wrong = { .passphrase = "Tr0ub4dor&3" };
	EVP_PKEY *key = kt_pki_new_key(NULL), *back = NULL;
	struct kt_err err = { 0 };
	char *token = NULL, *ct;
	struct stat st;
	json_t *obj;

	ASSERT_EQ(0, kt_keyfile_create(keyfile, &err));
	ASSERT_EQ(0, kt_keystore_save(store, &by_file, "hdr.payload.sig", key, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, stat(store, &st));
	EXPECT_EQ(0600U, st.st_mode & 0777);
	ASSERT_EQ(0, kt_keystore_load(store, &by_file, &token, &back, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ("hdr.payload.sig", token);
	EXPECT_EQ(1, EVP_PKEY_eq(key, back));
	free(token);
	EVP_PKEY_free(back);
	/* a keystore made with a keyfile cannot be opened with a passphrase */
	EXPECT_NE(0, kt_keystore_load(store, &by_pass, &token, &back, &err));
	EXPECT_STREQ("keystore", err.check);

	ASSERT_EQ(0, kt_keystore_save(store, &by_pass, "t.o.k", key, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_keystore_load(store, &by_pass, &token, &back, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ("t.o.k", token);
	free(token);
	EVP_PKEY_free(back);
	EXPECT_NE(0, kt_keystore_load(store, &wrong, &token, &back, &err));
	EXPECT_STREQ("decrypt", err.check);

	/* any header member is authenticated */
	edit_keystore(store, "comment", json_string("added later"));
	EXPECT_NE(0, kt_keystore_load(store, &by_pass, &token, &back, &err));
	EXPECT_STREQ("decrypt", err.check);
	/* a flipped ciphertext bit */
	ASSERT_EQ(0, kt_keystore_save(store, &by_pass, "t.o.k", key, &err));
	obj = json_load_file(store, 0, NULL);
	ct = strdup(json_string_value(json_object_get(obj, "ciphertext")));
	json_decref(obj);
	ct[4] = ct[4] == 'A' ? 'B' : 'A';
	edit_keystore(store, "ciphertext", json_string(ct));
	free(ct);
	EXPECT_NE(0, kt_keystore_load(store, &by_pass, &token, &back, &err));
	EXPECT_STREQ("decrypt", err.check);

	/* permissions: the keystore and the keyfile must be private */
	ASSERT_EQ(0, kt_keystore_save(store, &by_file, "t.o.k", key, &err));
	ASSERT_EQ(0, chmod(store, 0640));
	EXPECT_NE(0, kt_keystore_load(store, &by_file, &token, &back, &err));
	EXPECT_STREQ("permissions", err.check);
	ASSERT_EQ(0, chmod(store, 0600));
	ASSERT_EQ(0, chmod(keyfile, 0604));
	EXPECT_NE(0, kt_keystore_load(store, &by_file, &token, &back, &err));
	EXPECT_STREQ("permissions", err.check);
	EVP_PKEY_free(key);
	free(store);
	free(keyfile);
}


/*
 * Handshake tests run the host and the guest in separate processes joined by
 * socketpairs; each reports "ok <transcript hex>" or its failed check on a
 * pipe. The parent may sit in the middle and relay, record or alter frames.
 */
static void report(int fd, const struct kt_hs_result *res, int rc, const struct kt_err *err)
{
	char line[128], hex[65];

	if (rc) {
		snprintf(line, sizeof(line), "%s\n", err->check ? err->check : "?");
	} else {
		kt_hex_encode(res->transcript, sizeof(res->transcript), hex);
		snprintf(line, sizeof(line), "ok %s\n", hex);
	}
	if (write(fd, line, strlen(line)) < 0)
		_exit(99);
}

static void read_report(int fd, char *line, size_t size)
{
	ssize_t n = read(fd, line, size - 1);

	line[n > 0 ? n : 0] = '\0';
	line[strcspn(line, "\n")] = '\0';
}

/* In a child: closes every descriptor but stdio and the listed ones, so peers see EOF. */
static void close_others(const int *keep, int n, int also)
{
	int fd, i;

	for (fd = 3; fd < 1024; fd++) {
		for (i = 0; i < n && keep[i] != fd; i++)
			;
		if (i == n && fd != also)
			close(fd);
	}
}

/* Serves n connections in turn with one replay cache; echoes channel data back. */
static pid_t run_host(FIXTURE_DATA(tree) *self, const int *fds, int n, bool cache, int out)
{
	pid_t pid = fork();
	struct kt_replay_cache *replay;
	struct kt_hs_result res;
	struct kt_err err = { 0 };
	struct kt_cred host;
	uint8_t buf[65536];
	ssize_t got;
	int i, rc;

	if (pid) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		return pid;
	}
	close_others(fds, n, out);
	signal(SIGPIPE, SIG_IGN);
	replay = cache ? kt_replay_cache_new(64) : NULL;
	if (kt_cred_load(self->host, &host, &err))
		_exit(98);
	for (i = 0; i < n; i++) {
		struct kt_hs_host_cfg cfg = {
			.host = &host, .replay = replay,
			.verify = { .anchors = self->anchor_dir, .crls = self->crl_dir,
				    .trl_dir = self->trls, .audience = AUDIENCE, .skew = 60 },
		};

		kt_err_clear(&err);
		rc = kt_handshake_host(fds[i], &cfg, &res, &err);
		report(out, &res, rc, &err);
		while (!rc && (got = kt_channel_recv(res.channel, buf, sizeof(buf), &err)) > 0)
			rc = kt_channel_send(res.channel, buf, (size_t)got, &err);
		if (!rc)
			kt_channel_close(res.channel, &err);
		kt_hs_result_free(&res);
		close(fds[i]);
	}
	_exit(0);
}

/* Runs the guest side; with echo, sends len random bytes and checks the echo. */
static pid_t run_guest(FIXTURE_DATA(tree) *self, int fd, const char *token, EVP_PKEY *key,
		       const char *expect_host, size_t echo, int out)
{
	struct kt_hs_guest_cfg cfg = {
		.token = token, .guest_key = key, .anchors = self->anchor_dir,
		.crls = self->crl_dir, .expect_host = expect_host,
	};
	pid_t pid = fork();
	struct kt_hs_result res;
	struct kt_err err = { 0 };
	uint8_t *data, *back;
	int rc;

	if (pid) {
		close(fd);
		return pid;
	}
	close_others(&fd, 1, out);
	signal(SIGPIPE, SIG_IGN);
	rc = kt_handshake_guest(fd, &cfg, &res, &err);
	report(out, &res, rc, &err);
	if (rc || !echo)
		_exit(rc ? 1 : 0);
	data = malloc(echo);
	back = malloc(echo);
	for (size_t i = 0; i < echo; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	if (kt_channel_send(res.channel, data, echo, &err) || kt_channel_close(res.channel, &err) ||
	    kt_channel_recv_all(res.channel, back, echo, &err) || memcmp(data, back, echo) ||
	    kt_channel_recv(res.channel, back, 1, &err) != 0)
		_exit(2);
	_exit(0);
}

static int wait_exit(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Relays one frame from -> to; keeps a copy in *saved if asked. */
static int relay_frame(int from, int to, uint8_t **saved, size_t *saved_len)
{
	uint8_t *buf;
	size_t len;

	if (kt_frame_recv(from, KT_FRAME_MAX, &buf, &len, NULL))
		return -1;
	if (kt_frame_send(to, buf, len, NULL)) {
		free(buf);
		return -1;
	}
	if (saved) {
		*saved = buf;
		*saved_len = len;
	} else {
		free(buf);
	}
	return 0;
}

TEST_F(tree, handshake_runs_between_two_processes_and_carries_data)
{
	int sv[2], rg[2], rh[2];
	char *token = token_from(self, self->host, NULL), guest_line[128], host_line[128];
	pid_t host, guest;

	ASSERT_NE(NULL, token);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, pipe(rg));
	ASSERT_EQ(0, pipe(rh));
	host = run_host(self, &sv[1], 1, true, rh[1]);
	guest = run_guest(self, sv[0], token, self->guest, HOST_UUID, 200000, rg[1]);
	read_report(rg[0], guest_line, sizeof(guest_line));
	read_report(rh[0], host_line, sizeof(host_line));
	EXPECT_EQ(0, strncmp(guest_line, "ok ", 3)) TH_LOG("guest: %s", guest_line);
	EXPECT_STREQ(guest_line, host_line) TH_LOG("the transcripts must agree");
	EXPECT_EQ(0, wait_exit(guest));
	EXPECT_EQ(0, wait_exit(host));
	free(token);
}

/* One guest/host session over a socketpair; both report lines are returned. */
static void session(FIXTURE_DATA(tree) *self, const char *token, EVP_PKEY *key,
		    const char *expect_host, char *guest_line, char *host_line)
{
	int sv[2], rg[2], rh[2];
	pid_t host, guest;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(rg) || pipe(rh))
		abort();
	host = run_host(self, &sv[1], 1, true, rh[1]);
	guest = run_guest(self, sv[0], token, key, expect_host, 0, rg[1]);
	close(rg[1]);
	close(rh[1]);
	read_report(rg[0], guest_line, 128);
	read_report(rh[0], host_line, 128);
	wait_exit(guest);
	wait_exit(host);
	close(rg[0]);
	close(rh[0]);
}

TEST_F(tree, handshake_refusals_name_the_check_on_both_sides)
{
	char *token = token_from(self, self->host, NULL);
	char *other_token = token_from(self, self->host, other_audience);
	char guest_line[128], host_line[128];
	EVP_PKEY *wrong = kt_pki_new_key(NULL);

	/* key substitution: the token's cnf key is not the key that signs */
	session(self, token, wrong, NULL, guest_line, host_line);
	EXPECT_STREQ("guest-signature", host_line);
	EXPECT_STREQ("refused", guest_line);
	/* the host checks the token: here its audience */
	session(self, other_token, self->guest, NULL, guest_line, host_line);
	EXPECT_STREQ("audience", host_line);
	EXPECT_STREQ("refused", guest_line);
	/* the guest checks the host: not the host it expected */
	session(self, token, self->guest, GUEST_UUID, guest_line, host_line);
	EXPECT_STREQ("host-identity", guest_line);
	EXPECT_STREQ("truncated", host_line);
	/* and the expected one */
	session(self, token, self->guest, HOST_UUID, guest_line, host_line);
	EXPECT_EQ(0, strncmp(guest_line, "ok ", 3)) TH_LOG("%s", guest_line);
	free(other_token);
	free(token);
	EVP_PKEY_free(wrong);
}

/*
 * Session 1 runs through the parent, which records the guest's frames.
 * Session 2 replays them to the same host (replay cache: "replay"), session 3
 * to a host without a cache (fresh nonce: "guest-signature").
 */
TEST_F(tree, handshake_replay_is_refused)
{
	char *token = token_from(self, self->host, NULL), guest_line[128], host_line[128];
	int g[2], h1[2], h2[2], h3[2], rg[2], rh[2], hosts[2];
	uint8_t *f1 = NULL, *f4 = NULL, *reply;
	size_t f1_len, f4_len, len;
	pid_t host, guest, host3;

	ASSERT_EQ(0, pipe(rg));
	ASSERT_EQ(0, pipe(rh));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, h1));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, h2));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, h3));
	hosts[0] = h1[1];
	hosts[1] = h2[1];
	host = run_host(self, hosts, 2, true, rh[1]);
	guest = run_guest(self, g[0], token, self->guest, NULL, 0, rg[1]);
	ASSERT_EQ(0, relay_frame(g[1], h1[0], &f1, &f1_len));	/* F1 */
	ASSERT_EQ(0, relay_frame(h1[0], g[1], NULL, NULL));	/* F2 */
	ASSERT_EQ(0, relay_frame(h1[0], g[1], NULL, NULL));	/* F3 */
	ASSERT_EQ(0, relay_frame(g[1], h1[0], &f4, &f4_len));	/* F4 */
	ASSERT_EQ(0, relay_frame(h1[0], g[1], NULL, NULL));	/* F5 */
	ASSERT_EQ(0, relay_frame(h1[0], g[1], NULL, NULL));	/* key confirmation */
	read_report(rg[0], guest_line, sizeof(guest_line));
	read_report(rh[0], host_line, sizeof(host_line));
	ASSERT_EQ(0, strncmp(guest_line, "ok ", 3)) TH_LOG("%s", guest_line);
	ASSERT_STREQ(guest_line, host_line);
	wait_exit(guest);
	close(h1[0]);

	/* the same host: the nonce is remembered */
	ASSERT_EQ(0, kt_frame_send(h2[0], f1, f1_len, NULL));
	ASSERT_EQ(0, kt_frame_recv(h2[0], KT_FRAME_MAX, &reply, &len, NULL));
	EXPECT_NE(NULL, strstr((char *)reply, "\"error\":\"replay\""));
	free(reply);
	read_report(rh[0], host_line, sizeof(host_line));
	EXPECT_STREQ("replay", host_line);
	close(h2[0]);
	EXPECT_EQ(0, wait_exit(host));

	/* a host that never saw it: the old guest signature does not cover its nonce */
	host3 = run_host(self, &h3[1], 1, false, rh[1]);
	ASSERT_EQ(0, kt_frame_send(h3[0], f1, f1_len, NULL));
	ASSERT_EQ(0, kt_frame_recv(h3[0], KT_FRAME_MAX, &reply, &len, NULL));	/* F2 */
	free(reply);
	ASSERT_EQ(0, kt_frame_recv(h3[0], KT_FRAME_MAX, &reply, &len, NULL));	/* F3 */
	free(reply);
	ASSERT_EQ(0, kt_frame_send(h3[0], f4, f4_len, NULL));
	read_report(rh[0], host_line, sizeof(host_line));
	EXPECT_STREQ("guest-signature", host_line);
	close(h3[0]);
	EXPECT_EQ(0, wait_exit(host3));
	free(f1);
	free(f4);
	free(token);
}

/* A man in the middle swaps the guest's ephemeral key for its own. */
TEST_F(tree, handshake_ephemeral_key_substitution_is_refused)
{
	char *token = token_from(self, self->host, NULL), guest_line[128], host_line[128];
	int g[2], h[2], rg[2], rh[2];
	uint8_t *f1, mitm[32];
	size_t len;
	json_t *obj;
	char *b64, *text;
	pid_t host, guest;

	ASSERT_EQ(0, pipe(rg));
	ASSERT_EQ(0, pipe(rh));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, h));
	host = run_host(self, &h[1], 1, true, rh[1]);
	guest = run_guest(self, g[0], token, self->guest, NULL, 0, rg[1]);
	ASSERT_EQ(0, kt_frame_recv(g[1], KT_FRAME_MAX, &f1, &len, NULL));
	obj = json_loadb((char *)f1, len, 0, NULL);
	ASSERT_NE(NULL, obj);
	memset(mitm, 0x42, sizeof(mitm));
	b64 = kt_b64url_encode(mitm, sizeof(mitm));
	json_object_set_new(obj, "eph", json_string(b64));
	text = json_dumps(obj, JSON_COMPACT);
	ASSERT_EQ(0, kt_frame_send(h[0], text, strlen(text), NULL));
	ASSERT_EQ(0, relay_frame(h[0], g[1], NULL, NULL));	/* F2 */
	ASSERT_EQ(0, relay_frame(h[0], g[1], NULL, NULL));	/* F3 */
	read_report(rg[0], guest_line, sizeof(guest_line));
	EXPECT_STREQ("host-signature", guest_line);
	close(g[1]);
	close(h[0]);
	read_report(rh[0], host_line, sizeof(host_line));
	EXPECT_STREQ("truncated", host_line);
	wait_exit(guest);
	wait_exit(host);
	free(text);
	free(b64);
	json_decref(obj);
	free(f1);
	free(token);
}

TEST_F(tree, handshake_guest_refuses_an_uncertified_host)
{
	char *token = token_from(self, self->host, NULL), *empty = path_in(self->dir, "no-anchors");
	struct kt_pki_dir *none;
	struct kt_hs_result res;
	struct kt_err err = { 0 };
	int sv[2], rh[2];
	pid_t host;

	ASSERT_EQ(0, mkdir(empty, 0755));
	ASSERT_EQ(0, kt_pki_dir_open(empty, &none, NULL));
	ASSERT_EQ(0, pipe(rh));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	host = run_host(self, &sv[1], 1, true, rh[1]);
	{
		struct kt_hs_guest_cfg cfg = {
			.token = token, .guest_key = self->guest, .anchors = none,
			.crls = self->crl_dir,
		};

		EXPECT_NE(0, kt_handshake_guest(sv[0], &cfg, &res, &err));
	}
	EXPECT_STREQ("host-chain", err.check);
	close(sv[0]);
	wait_exit(host);
	kt_pki_dir_free(none);
	free(empty);
	free(token);
}

/* Keys of the two ends of one channel: a's sending key is b's receiving key. */
static void mirror_keys(struct kt_channel_keys *a, struct kt_channel_keys *b, int fill)
{
	memset(a->tx_key, fill, sizeof(a->tx_key));
	memset(a->rx_key, fill + 1, sizeof(a->rx_key));
	*b = *a;
	memcpy(b->rx_key, a->tx_key, sizeof(b->rx_key));
	memcpy(b->tx_key, a->rx_key, sizeof(b->tx_key));
}

/* Records are bound to their sequence number and direction. */
TEST(channel_refuses_reordered_and_truncated_records)
{
	struct kt_channel_keys a = { 0 }, b;
	struct kt_channel *tx, *rx;
	struct kt_err err = { 0 };
	uint8_t *r1, *r2, buf[16];
	size_t l1, l2;
	int sv[2], tap[2];

	mirror_keys(&a, &b, 1);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, tap));
	tx = kt_channel_new(sv[0], &a);
	rx = kt_channel_new(tap[1], &b);
	ASSERT_EQ(0, kt_channel_send(tx, "first", 5, &err));
	ASSERT_EQ(0, kt_channel_send(tx, "second", 6, &err));
	ASSERT_EQ(0, kt_frame_recv(sv[1], KT_FRAME_MAX, &r1, &l1, NULL));
	ASSERT_EQ(0, kt_frame_recv(sv[1], KT_FRAME_MAX, &r2, &l2, NULL));
	/* swapped order */
	ASSERT_EQ(0, kt_frame_send(tap[0], r2, l2, NULL));
	EXPECT_EQ(-1, kt_channel_recv(rx, buf, sizeof(buf), &err));
	EXPECT_STREQ("decrypt", err.check);
	kt_channel_free(rx);
	/* in order, then EOF without a close record */
	rx = kt_channel_new(tap[1], &b);
	ASSERT_EQ(0, kt_frame_send(tap[0], r1, l1, NULL));
	ASSERT_EQ(0, kt_frame_send(tap[0], r2, l2, NULL));
	EXPECT_EQ(5, kt_channel_recv(rx, buf, sizeof(buf), &err));
	EXPECT_EQ(0, memcmp(buf, "first", 5));
	EXPECT_EQ(6, kt_channel_recv(rx, buf, sizeof(buf), &err));
	/* a replayed record */
	ASSERT_EQ(0, kt_frame_send(tap[0], r2, l2, NULL));
	EXPECT_EQ(-1, kt_channel_recv(rx, buf, sizeof(buf), &err));
	EXPECT_STREQ("decrypt", err.check);
	kt_channel_free(rx);
	rx = kt_channel_new(tap[1], &b);
	close(tap[0]);
	EXPECT_EQ(-1, kt_channel_recv(rx, buf, sizeof(buf), &err));
	EXPECT_STREQ("truncated", err.check);
	free(r1);
	free(r2);
	kt_channel_free(tx);
	kt_channel_free(rx);
}


/* The source's tick: a mark at its mark_call-th call (0: never), or a failure. */
struct tick_ctx {
	int calls, mark_call, fail_call;
	const uint64_t *sent;
	uint64_t sent_at_mark;
};

static int tick_fn(void *ctx, struct kt_err *err)
{
	struct tick_ctx *t = ctx;

	t->calls++;
	if (t->calls == t->fail_call)
		return kt_fail(err, "qmp", "tick failed");
	if (t->calls != t->mark_call)
		return 0;
	t->sent_at_mark = *t->sent;
	return 1;
}

/*
 * One stream through the channel: relay_out from a pipe (a tick before
 * every read, a mark at its mark_call-th call), relay_in to another.
 */
static void relay_stream(struct __test_metadata *_metadata, size_t len, int mark_call,
			 uint64_t *at_mark, uint64_t *sent_at_mark, uint64_t *total)
{
	struct kt_channel_keys a = { 0 }, b;
	struct kt_channel *tx, *rx;
	struct kt_err err = { 0 };
	uint8_t *in = malloc(len), *out = malloc(len + 1);
	uint64_t sent = 0, got = 0;
	struct tick_ctx t = { .mark_call = mark_call, .sent = &sent };
	struct kt_chmsg_tick tick = { .fn = tick_fn, .ctx = &t, .interval_ms = 0 };
	int sv[2], src[2], dst[2], rc;
	size_t i;
	ssize_t n;

	ASSERT_TRUE(in && out);
	for (i = 0; i < len; i++)
		in[i] = (uint8_t)(i * 7 + i / 251);
	mirror_keys(&a, &b, 3);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, pipe(src));
	ASSERT_EQ(0, pipe(dst));
	ASSERT_EQ((ssize_t)len, write(src[1], in, len));
	close(src[1]);
	tx = kt_channel_new(sv[0], &a);
	rx = kt_channel_new(sv[1], &b);
	ASSERT_EQ(0, kt_chmsg_relay_out(tx, src[0], &sent, &tick, &err));
	EXPECT_EQ((uint64_t)len, sent);
	*at_mark = 0;
	rc = kt_chmsg_relay_in(rx, dst[1], &got, &err);
	if (rc == 1) {
		*at_mark = got;
		rc = kt_chmsg_relay_in(rx, dst[1], &got, &err);
	}
	EXPECT_EQ(0, rc);
	*sent_at_mark = t.sent_at_mark;
	*total = got;
	close(dst[1]);
	n = read(dst[0], out, len + 1);
	EXPECT_EQ((ssize_t)len, n);
	EXPECT_EQ(0, memcmp(in, out, len));
	kt_channel_free(tx);
	kt_channel_free(rx);
	close(sv[0]);
	close(sv[1]);
	close(src[0]);
	close(dst[0]);
	free(in);
	free(out);
}

/*
 * The source marks a point of the stream in-band (migration: QEMU's first
 * pass nearly over); the destination stops relaying exactly there, once,
 * (to measure) then goes on.
 */
TEST(chanmsg_relay_in_stops_once_at_the_mark)
{
	uint64_t at, sent_at, total;

	relay_stream(_metadata, 3 * KT_CHMSG_DATA_MAX + 100, 3, &at, &sent_at, &total);
	EXPECT_GT(at, (uint64_t)0);
	EXPECT_EQ(sent_at, at);
	EXPECT_EQ((uint64_t)(3 * KT_CHMSG_DATA_MAX + 100), total);
	/* no mark: the stream simply ends */
	relay_stream(_metadata, 40000, 0, &at, &sent_at, &total);
	EXPECT_EQ((uint64_t)0, at);
	EXPECT_EQ((uint64_t)40000, total);
}

/* A failing tick (QMP gone) fails the relay with its error. */
TEST(chanmsg_relay_out_fails_with_its_tick)
{
	struct kt_channel_keys a = { 0 }, b;
	struct tick_ctx t = { .fail_call = 2 };
	struct kt_chmsg_tick tick = { .fn = tick_fn, .ctx = &t, .interval_ms = 0 };
	struct kt_channel *tx;
	struct kt_err err = { 0 };
	uint64_t sent = 0;
	int sv[2], src[2];
	static uint8_t buf[3 * KT_CHMSG_DATA_MAX];

	t.sent = &sent;
	mirror_keys(&a, &b, 3);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, pipe(src));
	ASSERT_EQ((ssize_t)sizeof(buf), write(src[1], buf, sizeof(buf)));
	close(src[1]);
	tx = kt_channel_new(sv[0], &a);
	EXPECT_EQ(-1, kt_chmsg_relay_out(tx, src[0], &sent, &tick, &err));
	EXPECT_STREQ("qmp", err.check);
	EXPECT_EQ(2, t.calls);
	kt_channel_free(tx);
	close(sv[0]);
	close(sv[1]);
	close(src[0]);
}

/* A channel over a fresh socket pair, both ends (chanmsg tests). */
struct chan_pair {
	struct kt_channel *tx, *rx;
	int sv[2];
};

static int pair_open(struct chan_pair *p, const struct kt_channel_keys *a,
		     const struct kt_channel_keys *b)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->sv))
		return -1;
	p->tx = kt_channel_new(p->sv[0], a);
	p->rx = kt_channel_new(p->sv[1], b);
	return p->tx && p->rx ? 0 : -1;
}

static void pair_close(struct chan_pair *p)
{
	kt_channel_free(p->rx);
	kt_channel_free(p->tx);
	close(p->sv[0]);
	close(p->sv[1]);
}

/* Stream data from memory (our VMM's guest pages): in order, bounded, then the end. */
TEST(chanmsg_data_from_memory_and_its_refusals)
{
	struct kt_channel_keys a = { 0 }, b;
	struct kt_err err = { 0 };
	uint8_t page[4096], buf[4096];
	json_t *obj = json_pack("{s:s}", "msg", "vmm-state");
	struct chan_pair p;

	memset(page, 0x5a, sizeof(page));
	mirror_keys(&a, &b, 4);
	ASSERT_EQ(0, pair_open(&p, &a, &b));
	EXPECT_EQ(-1, kt_chmsg_send_data(p.tx, page, 0, &err));
	EXPECT_STREQ("protocol", err.check);
	memset(&err, 0, sizeof(err));
	EXPECT_EQ(-1, kt_chmsg_send_data(p.tx, page, KT_CHMSG_DATA_MAX + 1, &err));
	EXPECT_STREQ("protocol", err.check);
	ASSERT_EQ(0, kt_chmsg_send_data(p.tx, page, sizeof(page), &err));
	ASSERT_EQ(0, kt_chmsg_send_data(p.tx, page, 100, &err));
	ASSERT_EQ(0, kt_chmsg_send_data(p.tx, page, sizeof(page), &err));
	ASSERT_EQ(0, kt_chmsg_send_end(p.tx, &err));
	EXPECT_EQ((ssize_t)sizeof(page), kt_chmsg_recv_data(p.rx, buf, sizeof(buf), &err));
	EXPECT_EQ(0, memcmp(page, buf, sizeof(page)));
	EXPECT_EQ(100, kt_chmsg_recv_data(p.rx, buf, sizeof(buf), &err));
	/* more than the receiver's buffer holds: refused, not truncated */
	EXPECT_EQ(-1, kt_chmsg_recv_data(p.rx, buf, 1000, &err));
	EXPECT_STREQ("protocol", err.check);
	pair_close(&p);
	/* a control message where the stream goes on: refused; then the end */
	ASSERT_EQ(0, pair_open(&p, &a, &b));
	memset(&err, 0, sizeof(err));
	ASSERT_EQ(0, kt_chmsg_send_json(p.tx, obj, &err));
	ASSERT_EQ(0, kt_chmsg_send_end(p.tx, &err));
	EXPECT_EQ(-1, kt_chmsg_recv_data(p.rx, buf, sizeof(buf), &err));
	EXPECT_STREQ("protocol", err.check);
	pair_close(&p);
	ASSERT_EQ(0, pair_open(&p, &a, &b));
	ASSERT_EQ(0, kt_chmsg_send_end(p.tx, &err));
	EXPECT_EQ(0, kt_chmsg_recv_data(p.rx, buf, sizeof(buf), &err));
	pair_close(&p);
	json_decref(obj);
}

/* A software TPM (swtpm) on a free 127.0.0.1 port pair, for the sealed keystore. */
FIXTURE(swtpm) {
	char dir[64], tcti[64];
	pid_t pid;
};

static bool port_free(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Starts swtpm on @port; true once it listens there itself. */
static bool swtpm_try(FIXTURE_DATA(swtpm) *self, const char *state, int port)
{
	char server[96], ctrl[96];
	int i;

	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
	self->pid = fork();
	if (self->pid < 0)
		return false;
	if (!self->pid) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/bin/swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state,
		      "--server", server, "--ctrl", ctrl, "--flags", "not-need-init,startup-clear",
		      (char *)NULL);
		_exit(127);
	}
	/*
	 * A port seen free can be taken before swtpm binds it: swtpm then
	 * exits, and an open port is someone else's, so ours must still run.
	 */
	for (i = 0; i < 100; i++) {
		if (waitpid(self->pid, NULL, WNOHANG) == self->pid) {
			self->pid = 0;
			return false;
		}
		if (port_open(port))
			return waitpid(self->pid, NULL, WNOHANG) == 0;
		usleep(50000);
	}
	kill(self->pid, SIGTERM);
	waitpid(self->pid, NULL, 0);
	self->pid = 0;
	return false;
}

FIXTURE_SETUP(swtpm)
{
	char state[128];
	int port = 0, i, try;
	bool up = false;

	self->pid = 0;
	strcpy(self->dir, "/tmp/kt-swtpm-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	if (access("/usr/bin/swtpm", X_OK))
		SKIP(return, "swtpm is not installed (scripts/setup installs it)");
	snprintf(state, sizeof(state), "dir=%s", self->dir);
	for (try = 0; try < 5 && !up; try++) {
		port = 0;
		for (i = 0; i < 50 && !port; i++) {
			int p = 30000 + (int)((getpid() * 7 + try * 4099 + i * 613) % 10000) * 2;

			if (port_free(p) && port_free(p + 1))
				port = p;
		}
		ASSERT_NE(0, port);
		up = swtpm_try(self, state, port);
	}
	ASSERT_TRUE(up) TH_LOG("swtpm is installed but did not start in 5 tries (last port %d)", port);
	snprintf(self->tcti, sizeof(self->tcti), "swtpm:host=127.0.0.1,port=%d", port);
}

FIXTURE_TEARDOWN(swtpm)
{
	char cmd[128];

	if (self->pid > 0) {
		kill(self->pid, SIGTERM);
		waitpid(self->pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", self->dir);
}

TEST_F(swtpm, keystore_sealed_to_the_tpm)
{
	char *store = path_in(self->dir, "guest.ks"), *token = NULL;
	struct kt_keystore_unlock by_tpm = { .tpm = self->tcti };
	struct kt_keystore_unlock no_tpm = { .tpm = "swtpm:host=127.0.0.1,port=1" };
	EVP_PKEY *key = kt_pki_new_key(NULL), *back = NULL;
	struct kt_err err = { 0 };
	json_t *obj;
	char *pub, *priv;

	setenv("TSS2_LOG", "all+NONE", 1);	/* the missing TPM below is expected */
	ASSERT_EQ(0, kt_keystore_save(store, &by_tpm, "sealed.to.tpm", key, &err))
		TH_LOG("%s: %s", err.check, err.msg);
	ASSERT_EQ(0, kt_keystore_load(store, &by_tpm, &token, &back, &err))
		TH_LOG("%s: %s", err.check, err.msg);
	EXPECT_STREQ("sealed.to.tpm", token);
	EXPECT_EQ(1, EVP_PKEY_eq(key, back));
	free(token);
	EVP_PKEY_free(back);
	/* no TPM there */
	EXPECT_NE(0, kt_keystore_load(store, &no_tpm, &token, &back, &err));
	EXPECT_STREQ("tpm", err.check);
	/* the TPM refuses a private blob that is not the public blob's */
	obj = json_load_file(store, 0, NULL);
	ASSERT_NE(NULL, obj);
	priv = strdup(json_string_value(json_object_get(obj, "sealed_priv")));
	pub = strdup(json_string_value(json_object_get(obj, "sealed_pub")));
	json_decref(obj);
	ASSERT_EQ(0, kt_keystore_save(store, &by_tpm, "sealed.to.tpm", key, &err));
	edit_keystore(store, "sealed_priv", json_string(priv));
	EXPECT_NE(0, kt_keystore_load(store, &by_tpm, &token, &back, &err));
	EXPECT_STREQ("tpm", err.check) TH_LOG("%s", err.msg);
	/* both blobs of another save unseal another secret: the AEAD refuses */
	edit_keystore(store, "sealed_pub", json_string(pub));
	EXPECT_NE(0, kt_keystore_load(store, &by_tpm, &token, &back, &err));
	EXPECT_STREQ("decrypt", err.check) TH_LOG("%s", err.msg);
	free(priv);
	free(pub);
	EVP_PKEY_free(key);
	free(store);
}

TEST_HARNESS_MAIN
