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
#include <unistd.h>

#include <openssl/pem.h>

#include "kselftest_harness.h"

#include "encoding.h"
#include "jws.h"
#include "pki.h"
#include "secfile.h"

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
	char *root, *inter, *host, *other, *host_x, *anchors, *crls;
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
}

TEST_F(tree, pki_expired_intermediate_is_refused)
{
	struct kt_cert_req req;
	char *old = path_in(self->dir, "old"), *host = path_in(self->dir, "host-old");
	char *crl_file = path_in(self->crls, "old.crl");
	struct kt_err err = { 0 };

	req_init(&req, KT_CERT_CA, "expired intermediate", self->now - 9 * DAY, self->now - DAY);
	ASSERT_EQ(0, issue(self->root, &req, old));
	req_init(&req, KT_CERT_HOST, "host under expired", self->now - 8 * DAY, self->now + DAY);
	req.host_uuid = HOST_UUID;
	req.region = "eu-west";
	req.site = "fra1";
	ASSERT_EQ(0, issue(old, &req, host));
	ASSERT_EQ(0, crl(old, crl_file));
	EXPECT_NE(0, verify_cred(self, host, KT_CERT_HOST, &err));
	EXPECT_STREQ("validity", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "depth 1")) TH_LOG("%s", err.msg);
	free(old);
	free(host);
	free(crl_file);
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

TEST_HARNESS_MAIN
