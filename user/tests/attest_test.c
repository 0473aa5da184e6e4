// SPDX-License-Identifier: GPL-2.0
/*
 * Attestation library: reports (sign, verify, every refusal by name), the
 * quote verifier on hand-made TPM structures, the software host key and its
 * CSR, and the launch-configuration tree (leaf encoding, sources, proofs,
 * independent recomputation with scripts/lib/rfc9162.py, QEMU arguments
 * measured, harmless or refused, files that are not files refused). The TPM itself
 * is exercised end to end by attest.sh against swtpm.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "kselftest_harness.h"
#include "fake_quote.h"

#include "attest/config_tree.h"
#include "attest/hostkey.h"
#include "identity/quote.h"
#include "attest/report.h"
#include "common/encoding.h"
#include "common/statefile.h"
#include "identity/jws.h"
#include "identity/pki.h"

static const char mem_hex[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char vcpu_hex[] = "2222222222222222222222222222222222222222222222222222222222222222";

static void write_text(const char *dir, const char *name, const char *text)
{
	char *path = kt_path_join(dir, name);

	if (!path || kt_file_write(path, text, strlen(text), 0644, NULL))
		abort();
	free(path);
}

static char *in_dir(const char *dir, const char *name)
{
	char *path = kt_path_join(dir, name);

	if (!path)
		abort();
	return path;
}

FIXTURE(report)
{
	char dir[64];
	struct kt_hostkey *hk;
	struct kt_report_policy policy;
	struct kt_vm_state m;
};

FIXTURE_SETUP(report)
{
	struct kt_hostkey_params p = { .software = true, .host_id = "host-test", .pcr = 23 };
	struct kt_err err = { 0 };
	char *keydir;

	strcpy(self->dir, "/tmp/kt-attest-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	keydir = in_dir(self->dir, "key");
	p.dir = keydir;
	ASSERT_EQ(0, kt_hostkey_init(&p, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_hostkey_open(keydir, NULL, &self->hk, &err)) TH_LOG("%s", err.msg);
	free(keydir);
	memset(&self->policy, 0, sizeof(self->policy));
	self->policy.key = self->hk->pub;
	memset(&self->m, 0, sizeof(self->m));
	ASSERT_EQ(0, kt_hex_decode(mem_hex, self->m.memory_root, KT_HASH_LEN));
	ASSERT_EQ(0, kt_hex_decode(vcpu_hex, self->m.vcpu_root, KT_HASH_LEN));
	self->m.has_vcpu_root = true;
	self->m.pages = 256;
	self->m.seq = 7;
}

FIXTURE_TEARDOWN(report)
{
	char cmd[128];

	kt_hostkey_close(self->hk);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

static char *sign_vm(struct kt_hostkey *hk, const struct kt_vm_state *m, const char *nonce)
{
	json_t *claims = kt_report_vm_claims("vm-1", m, nonce, NULL);
	struct kt_err err = { 0 };
	char *jwt = NULL;

	if (!claims || kt_report_sign(hk, claims, &jwt, &err))
		fprintf(stderr, "# sign: %s\n", err.msg);
	json_decref(claims);
	return jwt;
}

/* Signs arbitrary claims as the host would, bypassing kt_report_sign's rules. */
static char *sign_raw(struct kt_hostkey *hk, json_t *claims)
{
	char *jwt = NULL;

	if (kt_jws_sign(hk->priv, NULL, claims, &jwt, NULL))
		return NULL;
	return jwt;
}

static const char *refusal(const char *jwt, const struct kt_report_policy *p,
			   struct kt_err *err)
{
	kt_err_clear(err);
	if (kt_report_verify(jwt, p, NULL, err) == 0)
		return "accepted";
	return err->check ? err->check : "(no check)";
}

TEST_F(report, round_trip)
{
	struct kt_err err = { 0 };
	json_t *claims = NULL;
	char *jwt = sign_vm(self->hk, &self->m, "n-123");

	ASSERT_NE(NULL, jwt);
	self->policy.nonce = "n-123";
	ASSERT_EQ(0, kt_report_verify(jwt, &self->policy, &claims, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ("software", json_string_value(json_object_get(claims, "key")));
	EXPECT_STREQ("vm-state", json_string_value(json_object_get(claims, "kind")));
	EXPECT_STREQ("host-test", json_string_value(json_object_get(claims, "host_id")));
	EXPECT_STREQ("vm-1", json_string_value(json_object_get(claims, "vm_id")));
	EXPECT_STREQ(mem_hex, json_string_value(json_object_get(claims, "memory_root")));
	EXPECT_STREQ(vcpu_hex, json_string_value(json_object_get(claims, "vcpu_root")));
	EXPECT_EQ(7, json_integer_value(json_object_get(claims, "seq")));
	EXPECT_EQ(KT_REPORT_VERSION, json_integer_value(json_object_get(claims, "ver")));
	/* A software key never carries (or fakes) a TPM quote. */
	EXPECT_EQ(NULL, json_object_get(claims, "tpm"));
	json_decref(claims);
	free(jwt);
}

TEST_F(report, tampered_payload_refused_by_signature)
{
	char *jwt = sign_vm(self->hk, &self->m, NULL), *forged, *p64;
	struct kt_jws jws;
	struct kt_err err = { 0 };
	const char *dot;
	char *text;

	ASSERT_NE(NULL, jwt);
	ASSERT_EQ(0, kt_jws_parse(jwt, &jws, &err));
	json_object_set_new(jws.payload, "memory_root", json_string(vcpu_hex));
	text = json_dumps(jws.payload, JSON_COMPACT | JSON_SORT_KEYS);
	p64 = kt_b64url_encode((uint8_t *)text, strlen(text));
	dot = strchr(jwt, '.');
	ASSERT_LT(0, asprintf(&forged, "%.*s.%s%s", (int)(dot - jwt), jwt, p64,
			      strrchr(jwt, '.')));
	EXPECT_STREQ("signature", refusal(forged, &self->policy, &err));
	/* One flipped signature character too. */
	forged[strlen(forged) - 2] ^= 1;
	EXPECT_NE(0, strcmp("accepted", refusal(forged, &self->policy, &err)));
	kt_jws_free(&jws);
	free(text);
	free(p64);
	free(forged);
	free(jwt);
}

TEST_F(report, wrong_key_and_no_anchor_refused)
{
	EVP_PKEY *other = EVP_EC_gen("P-256");
	char *jwt = sign_vm(self->hk, &self->m, NULL);
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, jwt);
	self->policy.key = other;
	EXPECT_STREQ("signature", refusal(jwt, &self->policy, &err));
	self->policy.key = NULL;
	EXPECT_STREQ("chain", refusal(jwt, &self->policy, &err));
	EVP_PKEY_free(other);
	free(jwt);
}

TEST_F(report, nonce_freshness_and_expected_roots)
{
	char *jwt = sign_vm(self->hk, &self->m, "challenge-1");
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, jwt);
	self->policy.nonce = "challenge-2";
	EXPECT_STREQ("nonce", refusal(jwt, &self->policy, &err));
	self->policy.nonce = "challenge-1";
	EXPECT_STREQ("accepted", refusal(jwt, &self->policy, &err)) TH_LOG("%s", err.msg);
	self->policy.now = time(NULL) + 3600;
	EXPECT_STREQ("freshness", refusal(jwt, &self->policy, &err));
	self->policy.max_age = 7200;
	EXPECT_STREQ("accepted", refusal(jwt, &self->policy, &err));
	self->policy.now = time(NULL) - 3600;	/* the report claims to come from the future */
	EXPECT_STREQ("freshness", refusal(jwt, &self->policy, &err));
	self->policy.now = 0;
	self->policy.max_age = 0;
	self->policy.expect_memory_root = vcpu_hex;
	EXPECT_STREQ("memory_root", refusal(jwt, &self->policy, &err));
	self->policy.expect_memory_root = mem_hex;
	self->policy.expect_vcpu_root = mem_hex;
	EXPECT_STREQ("vcpu_root", refusal(jwt, &self->policy, &err));
	self->policy.expect_vcpu_root = vcpu_hex;
	self->policy.expect_config_root = vcpu_hex;
	EXPECT_STREQ("config_root", refusal(jwt, &self->policy, &err));
	self->policy.expect_config_root = NULL;
	self->policy.require_tpm = true;
	EXPECT_STREQ("key", refusal(jwt, &self->policy, &err));
	free(jwt);
}

TEST_F(report, replay_refused_and_seq_must_advance)
{
	char *last = in_dir(self->dir, "last-seen.json");
	char *first, *again, *older;
	struct kt_err err = { 0 };

	first = sign_vm(self->hk, &self->m, NULL);
	self->m.seq = 8;
	again = sign_vm(self->hk, &self->m, NULL);
	self->m.seq = 6;
	older = sign_vm(self->hk, &self->m, NULL);
	ASSERT_TRUE(first && again && older);
	self->policy.last_seen = last;
	EXPECT_STREQ("accepted", refusal(first, &self->policy, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ("replay", refusal(first, &self->policy, &err));
	EXPECT_NE(NULL, strstr(err.msg, "seq 7"));
	EXPECT_STREQ("accepted", refusal(again, &self->policy, &err));
	EXPECT_STREQ("replay", refusal(older, &self->policy, &err));
	/* Without the state file the same report is fine: replay is per verifier. */
	self->policy.last_seen = NULL;
	EXPECT_STREQ("accepted", refusal(first, &self->policy, &err));
	free(first);
	free(again);
	free(older);
	free(last);
}

TEST_F(report, software_key_claiming_tpm_refused)
{
	struct kt_err err = { 0 };
	json_t *claims;
	char *jwt;

	claims = kt_report_vm_claims("vm-1", &self->m, NULL, NULL);
	json_object_set_new(claims, "ver", json_integer(1));
	json_object_set_new(claims, "jti", json_string("00"));
	json_object_set_new(claims, "iat", json_integer(time(NULL)));
	json_object_set_new(claims, "host_id", json_string("host-test"));
	json_object_set_new(claims, "key", json_string("tpm"));
	jwt = sign_raw(self->hk, claims);
	ASSERT_NE(NULL, jwt);
	EXPECT_STREQ("quote", refusal(jwt, &self->policy, &err));
	free(jwt);
	json_object_set_new(claims, "key", json_string("software"));
	json_object_set_new(claims, "tpm", json_object());
	jwt = sign_raw(self->hk, claims);
	EXPECT_STREQ("claims", refusal(jwt, &self->policy, &err));
	free(jwt);
	json_object_del(claims, "tpm");
	json_object_set_new(claims, "ver", json_integer(2));
	jwt = sign_raw(self->hk, claims);
	EXPECT_STREQ("claims", refusal(jwt, &self->policy, &err));
	free(jwt);
	json_decref(claims);
}

TEST_F(report, csr_is_signed_by_the_host_key)
{
	struct kt_err err = { 0 };
	X509_REQ *req;
	char cn[64];

	ASSERT_EQ(0, kt_hostkey_csr(self->hk, &req, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(1, X509_REQ_verify(req, self->hk->pub));
	ASSERT_LT(0, X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName,
					       cn, sizeof(cn)));
	EXPECT_STREQ("host-test", cn);
	X509_REQ_free(req);
}

#define HOST_UUID "6c1f7c0e-3d2a-4f55-9a8b-0123456789ab"

/*
 * The kvmtrust CA (pki.h) certifies the host key; reports carry the chain
 * and verify against an anchor directory, with revocation from its CRL.
 */
TEST_F(report, kvmtrust_ca_chain_and_revocation)
{
	char *ca = in_dir(self->dir, "ca"), *anchors = in_dir(self->dir, "anchors");
	char *crls = in_dir(self->dir, "crls"), *certfile, *jwt, *cmd;
	struct kt_hostkey_params p = { .software = true, .host_id = HOST_UUID, .pcr = 23 };
	struct kt_cert_req req = { .kind = KT_CERT_ROOT, .cn = "test root", .pathlen = -1 };
	struct kt_cred root, host;
	struct kt_hostkey *hk;
	struct kt_err err = { 0 };

	p.dir = in_dir(self->dir, "uuidkey");
	ASSERT_EQ(0, kt_hostkey_init(&p, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_hostkey_open(p.dir, NULL, &hk, &err)) TH_LOG("%s", err.msg);
	req.not_before = time(NULL) - 3600;
	req.not_after = time(NULL) + 86400;
	ASSERT_EQ(0, kt_ca_init(ca, &req, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_cred_load(ca, &root, &err)) TH_LOG("%s", err.msg);
	req.kind = KT_CERT_HOST;
	req.cn = "host a";
	req.host_uuid = HOST_UUID;
	req.region = "eu-west";
	req.site = "fra1";
	ASSERT_EQ(0, kt_ca_issue(&root, &req, hk->pub, &host, &err)) TH_LOG("%s", err.msg);
	certfile = in_dir(p.dir, "cert.pem");
	ASSERT_EQ(0, kt_pki_save_certs(certfile, host.chain, &err)) TH_LOG("%s", err.msg);
	kt_hostkey_close(hk);
	ASSERT_EQ(0, kt_hostkey_open(p.dir, NULL, &hk, &err)) TH_LOG("%s", err.msg);
	ASSERT_NE(NULL, hk->chain);
	ASSERT_LT(0, asprintf(&cmd, "mkdir -p %s %s && cp %s/cert.pem %s/root.pem", anchors,
			      crls, ca, anchors));
	ASSERT_EQ(0, system(cmd));
	free(cmd);

	jwt = sign_vm(hk, &self->m, NULL);
	ASSERT_NE(NULL, jwt);
	self->policy.key = NULL;
	self->policy.anchors = anchors;
	EXPECT_STREQ("accepted", refusal(jwt, &self->policy, &err)) TH_LOG("%s", err.msg);
	/* A CRL directory without this CA's CRL is a refusal, not a pass. */
	self->policy.crls = crls;
	EXPECT_STREQ("revocation", refusal(jwt, &self->policy, &err));
	ASSERT_EQ(0, kt_ca_revoke(ca, &root, host.cert, 1, &err)) TH_LOG("%s", err.msg);
	ASSERT_LT(0, asprintf(&cmd, "cp %s/crl.pem %s/root.crl.pem", ca, crls));
	ASSERT_EQ(0, system(cmd));
	free(cmd);
	EXPECT_STREQ("revocation", refusal(jwt, &self->policy, &err));
	EXPECT_NE(NULL, strstr(err.msg, "revoked")) TH_LOG("%s", err.msg);
	/* The certificate names the host by UUID: a report for another host fails. */
	self->policy.crls = NULL;
	free(jwt);
	free(hk->host_id);
	hk->host_id = strdup("host-b");
	jwt = sign_vm(hk, &self->m, NULL);
	EXPECT_STREQ("chain", refusal(jwt, &self->policy, &err));
	EXPECT_NE(NULL, strstr(err.msg, "certificate is for host " HOST_UUID)) TH_LOG("%s", err.msg);
	/* And a report without x5c cannot be chained at all. */
	free(jwt);
	jwt = sign_vm(self->hk, &self->m, NULL);
	EXPECT_STREQ("chain", refusal(jwt, &self->policy, &err));

	free(jwt);
	kt_cred_free(&host);
	kt_cred_free(&root);
	kt_hostkey_close(hk);
	free(certfile);
	free((char *)p.dir);
	free(ca);
	free(anchors);
	free(crls);
}

TEST_F(report, measurement_file)
{
	char *path = in_dir(self->dir, "m.json");
	struct kt_err err = { 0 };
	struct kt_vm_state m;

	write_text(self->dir, "m.json", "{\"measurement\": {\"memory_root\": \"1111111111111111111111"
		   "111111111111111111111111111111111111111111\", \"pages\": 3, \"seq\": 2}}");
	ASSERT_EQ(0, kt_vm_state_load(path, &m, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(2u, m.seq);
	EXPECT_EQ(3u, m.pages);
	EXPECT_FALSE(m.has_vcpu_root);
	write_text(self->dir, "m.json", "{\"memory_root\": \"11\", \"pages\": 3, \"seq\": 2}");
	EXPECT_EQ(-1, kt_vm_state_load(path, &m, &err));
	EXPECT_STREQ("measurement", err.check);
	write_text(self->dir, "m.json", "{\"seq\": 1, \"seq\": 2}");
	EXPECT_EQ(-1, kt_vm_state_load(path, &m, &err));
	/* The memory leaf layout travels into the claims; a bad one is refused. */
	EXPECT_EQ(0u, m.leaf_format);
	write_text(self->dir, "m.json", "{\"memory_root\": \"1111111111111111111111"
		   "111111111111111111111111111111111111111111\", \"pages\": 3, \"seq\": 2, "
		   "\"leaf_format\": 2}");
	ASSERT_EQ(0, kt_vm_state_load(path, &m, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(2u, m.leaf_format);
	json_t *claims = kt_report_vm_claims("vm", &m, NULL, NULL);
	EXPECT_EQ(2, json_integer_value(json_object_get(claims, "leaf_format")));
	json_decref(claims);
	write_text(self->dir, "m.json", "{\"memory_root\": \"1111111111111111111111"
		   "111111111111111111111111111111111111111111\", \"pages\": 3, \"seq\": 2, "
		   "\"leaf_format\": \"2\"}");
	EXPECT_EQ(-1, kt_vm_state_load(path, &m, &err));
	EXPECT_NE(NULL, strstr(err.msg, "leaf_format"));
	free(path);
}

/* ---- quote verifier on a TPMS_ATTEST built here and signed in software ---- */

static const char *check_quote(EVP_PKEY *key, TPMS_ATTEST *a, const kt_hash pcr_value,
			       const kt_hash extra, struct kt_err *err)
{
	struct fake_quote q = { 0 };
	struct kt_quote_info info;
	int ret;

	make_quote(key, a, &q);
	kt_err_clear(err);
	ret = kt_quote_verify(key, &q.attest, &q.sig, 23, pcr_value, extra, KT_HASH_LEN,
			      &info, err);
	kt_blob_free(&q.attest);
	kt_blob_free(&q.sig);
	if (ret == 0)
		return info.clock == 12345 ? "accepted" : "wrong clock";
	return err->msg;
}

TEST_F(report, quote_verifier)
{
	kt_hash value, extra, zero = { 0 };
	struct kt_err err = { 0 };
	EVP_PKEY *other = EVP_EC_gen("P-256");
	TPMS_ATTEST a;

	kt_sha256("extra", 5, extra);
	kt_pcr_extend_sw(zero, extra, value);
	base_attest(&a, value, extra);
	EXPECT_STREQ("accepted", check_quote(self->hk->priv, &a, value, extra, &err));

	base_attest(&a, value, extra);
	EXPECT_NE(NULL, strstr(check_quote(self->hk->priv, &a, zero, extra, &err), "PCR 23"));
	EXPECT_STREQ("quote", err.check);
	EXPECT_NE(NULL, strstr(check_quote(self->hk->priv, &a, value, zero, &err),
			       "qualifying data"));
	a.magic = 0;
	EXPECT_NE(NULL, strstr(check_quote(self->hk->priv, &a, value, extra, &err),
			       "TPM-generated"));
	base_attest(&a, value, extra);
	a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[0] = 1;	/* also PCR 0 */
	EXPECT_NE(NULL, strstr(check_quote(self->hk->priv, &a, value, extra, &err),
			       "exactly"));
	base_attest(&a, value, extra);
	{
		struct fake_quote q = { 0 };

		/* Signed by one key, checked against another. */
		make_quote(other, &a, &q);
		EXPECT_EQ(-1, kt_quote_verify(self->hk->pub, &q.attest, &q.sig, 23, value,
					      extra, KT_HASH_LEN, NULL, &err));
		EXPECT_STREQ("quote", err.check);
		kt_blob_free(&q.attest);
		kt_blob_free(&q.sig);
	}
	EVP_PKEY_free(other);
}

/* ---- launch-configuration tree ---------------------------------------------- */

FIXTURE(config)
{
	char dir[64];
};

FIXTURE_SETUP(config)
{
	uint8_t *junk = malloc(3 * 1024 * 1024 + 17);
	char *disk;
	size_t i;

	strcpy(self->dir, "/tmp/kt-config-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_NE(NULL, junk);
	/* Larger than the hashing chunk, and not a multiple of it. */
	for (i = 0; i < 3 * 1024 * 1024 + 17; i++)
		junk[i] = (uint8_t)(i * 2654435761u >> 13);
	disk = in_dir(self->dir, "disk.img");
	ASSERT_EQ(0, kt_file_write(disk, junk, 3 * 1024 * 1024 + 17, 0644, NULL));
	free(disk);
	free(junk);
	write_text(self->dir, "bios.bin", "firmware\n");
	write_text(self->dir, "vm.json",
		   "{\"memory_mib\": 1024, \"vcpus\": 2, \"vcpu_pinning\": [\"0\", \"1-3\"],\n"
		   " \"nics\": [{\"mac\": \"52:54:00:AB:cd:01\", \"vlan\": 42},\n"
		   "          {\"mac\": \"52-54-00-ab-cd-02\"}],\n"
		   " \"disks\": [\"disk.img\"], \"bootloader\": {\"path\": \"bios.bin\"},\n"
		   " \"kernel_cmdline\": \"console=ttyS0 quiet\"}\n");
	write_text(self->dir, "vm.xml",
		   "<domain type='kvm'><name>t</name><memory unit='KiB'>1048576</memory>\n"
		   "<vcpu placement='static'>2</vcpu><cputune><vcpupin vcpu='1' cpuset='1-3'/>\n"
		   "<vcpupin vcpu='0' cpuset='0'/></cputune>\n"
		   "<os><type>hvm</type><loader>bios.bin</loader>"
		   "<cmdline>console=ttyS0 quiet</cmdline></os><devices>\n"
		   "<disk type='file' device='disk'><source file='disk.img'/></disk>\n"
		   "<interface type='network'><mac address='52:54:00:ab:cd:01'/>"
		   "<vlan><tag id='42'/></vlan></interface>\n"
		   "<interface type='network'><mac address='52:54:00:ab:cd:02'/></interface>\n"
		   "</devices></domain>\n");
}

FIXTURE_TEARDOWN(config)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

static const char *value_of(const struct kt_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n; i++) {
		if (!strcmp(cfg->params[i].name, name))
			return cfg->params[i].value;
	}
	return NULL;
}

TEST_F(config, json_parameters_and_leaf_encoding)
{
	char *path = in_dir(self->dir, "vm.json");
	struct kt_err err = { 0 };
	struct kt_config cfg;
	uint8_t data[64] = { 0 };
	kt_hash leaf, want;

	ASSERT_EQ(0, kt_config_load(path, &cfg, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(11u, cfg.n);
	EXPECT_STREQ("1073741824", value_of(&cfg, "memory"));
	EXPECT_STREQ("2", value_of(&cfg, "vcpus"));
	EXPECT_STREQ("1-3", value_of(&cfg, "vcpu.1.pin"));
	EXPECT_STREQ("52:54:00:ab:cd:01", value_of(&cfg, "nic.0.mac"));
	EXPECT_STREQ("52:54:00:ab:cd:02", value_of(&cfg, "nic.1.mac"));
	EXPECT_STREQ("42", value_of(&cfg, "nic.0.vlan"));
	EXPECT_STREQ("0", value_of(&cfg, "nic.1.vlan"));
	EXPECT_STREQ("console=ttyS0 quiet", value_of(&cfg, "kernel.cmdline"));
	/* Sorted by name: the documented leaf order. */
	EXPECT_STREQ("bootloader.sha256", cfg.params[0].name);
	EXPECT_STREQ("vcpus", cfg.params[cfg.n - 1].name);
	/* Leaf = SHA-256(0x00 || name || 0x00 || value), spelled out by hand. */
	memcpy(data + 1, "vcpus", 5);
	memcpy(data + 7, "2", 1);
	kt_sha256(data, 8, want);
	kt_config_leaf(&cfg.params[cfg.n - 1], leaf);
	EXPECT_EQ(0, memcmp(leaf, want, KT_HASH_LEN));
	kt_config_free(&cfg);
	free(path);
}

TEST_F(config, streaming_file_hash_matches_one_shot)
{
	char *path = in_dir(self->dir, "disk.img");
	uint8_t *data;
	size_t len;
	kt_hash streamed, whole;

	ASSERT_EQ(0, kt_file_read(path, 16 << 20, 0, &data, &len, NULL));
	kt_sha256(data, len, whole);
	ASSERT_EQ(0, kt_file_sha256(path, streamed, NULL));
	EXPECT_EQ(0, memcmp(whole, streamed, KT_HASH_LEN));
	free(data);
	free(path);
}

TEST_F(config, json_libvirt_and_qemu_agree)
{
	char *json = in_dir(self->dir, "vm.json"), *xml = in_dir(self->dir, "vm.xml");
	char *disk = in_dir(self->dir, "disk.img"), *bios = in_dir(self->dir, "bios.bin");
	char drive[128], diff[2048];
	struct kt_config a, b, q;
	struct kt_err err = { 0 };
	kt_hash ra, rb, rq;
	char *argv[] = {
		"qemu-system-x86_64", "-m", "1G", "-smp", "cpus=2", "-bios", bios,
		"-drive", drive, "-append", "console=ttyS0 quiet",
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:01",
		"-nographic", "-device", "virtio-rng-pci",
	};

	snprintf(drive, sizeof(drive), "file=%s,if=virtio,format=raw", disk);
	ASSERT_EQ(0, kt_config_load(json, &a, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_config_load(xml, &b, &err)) TH_LOG("%s", err.msg);
	kt_config_root(&a, ra);
	kt_config_root(&b, rb);
	EXPECT_EQ(0, memcmp(ra, rb, KT_HASH_LEN));
	EXPECT_EQ(0u, kt_config_diff(&a, &b, diff, sizeof(diff))) TH_LOG("%s", diff);

	ASSERT_EQ(0, kt_config_from_qemu(sizeof(argv) / sizeof(argv[0]), argv, &q, &err))
		TH_LOG("%s", err.msg);
	kt_config_root(&q, rq);
	EXPECT_NE(0, memcmp(ra, rq, KT_HASH_LEN));
	/*
	 * QEMU has no pinning or VLANs and this one a single NIC; its drive and
	 * devices are measured as written besides: exactly those differ.
	 */
	EXPECT_EQ(8u, kt_config_diff(&a, &q, diff, sizeof(diff))) TH_LOG("%s", diff);
	EXPECT_NE(NULL, strstr(diff, "nic.0.vlan: attested 42, launching 0"));
	EXPECT_NE(NULL, strstr(diff, "vcpu.1.pin: attested 1-3, launching (absent)"));
	EXPECT_NE(NULL, strstr(diff, "qemu.device.1: attested (absent), launching virtio-rng-pci"));
	EXPECT_STREQ("virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:01",
		     value_of(&q, "qemu.device.0"));
	EXPECT_STREQ(value_of(&a, "disk.0.sha256"), value_of(&q, "disk.0.sha256"));
	EXPECT_STREQ("1073741824", value_of(&q, "memory"));
	kt_config_free(&a);
	kt_config_free(&b);
	kt_config_free(&q);
	free(json);
	free(xml);
	free(disk);
	free(bios);
}

TEST_F(config, bad_configurations_refused)
{
	char *path = in_dir(self->dir, "bad.json"), *xml = in_dir(self->dir, "bad.xml");
	struct kt_err err = { 0 };
	struct kt_config cfg;

	write_text(self->dir, "bad.json", "{\"memory_mib\": 1, \"vcpu\": 2}");
	EXPECT_EQ(-1, kt_config_load(path, &cfg, &err));
	EXPECT_NE(NULL, strstr(err.msg, "unknown configuration member \"vcpu\""));
	write_text(self->dir, "bad.json", "{\"memory_mib\": 1, \"nics\": [{\"mac\": \"52:54:00:zz:00:01\"}]}");
	EXPECT_EQ(-1, kt_config_load(path, &cfg, &err));
	EXPECT_NE(NULL, strstr(err.msg, "not a MAC"));
	write_text(self->dir, "bad.json", "{\"memory_mib\": 1, \"nics\": [{\"mac\": \"52:54:00:00:00:01\", \"vlan\": 5000}]}");
	EXPECT_EQ(-1, kt_config_load(path, &cfg, &err));
	write_text(self->dir, "bad.json", "{\"memory_mib\": 1, \"memory_bytes\": 1}");
	EXPECT_EQ(-1, kt_config_load(path, &cfg, &err));
	write_text(self->dir, "bad.json", "{\"memory_mib\": 1, \"disks\": [\"missing.img\"]}");
	EXPECT_EQ(-1, kt_config_load(path, &cfg, &err));
	EXPECT_NE(NULL, strstr(err.msg, "missing.img"));
	/* An external entity must not be fetched into the configuration. */
	write_text(self->dir, "bad.xml",
		   "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY x SYSTEM '/etc/hostname'>]>"
		   "<domain type='kvm'><memory>&x;</memory><vcpu>1</vcpu></domain>");
	EXPECT_EQ(-1, kt_config_load(xml, &cfg, &err));
	EXPECT_STREQ("config", err.check);
	free(path);
	free(xml);
}

/* Each entry: argv after the VMM, and what the refusal must say ("" = accepted). */
static const struct {
	const char *args[4];
	const char *refusal;
} qemu_cases[] = {
	{ { "-nographic", "-name", "vm1" }, "" },
	{ { "-qmp", "unix:/run/vm.qmp,server,nowait", "-pidfile", "/run/vm.pid" }, "" },
	{ { "--enable-kvm", "-cpu", "host" }, "" },
	{ { "-cdrom", "nonexistent.iso" }, "cannot open" },
	{ { "-m=2G" }, "argument '-m=2G' is not a QEMU option: QEMU takes '-m VALUE'" },
	{ { "-frobnicate" }, "argument '-frobnicate' is not measured and not known to be harmless" },
	{ { "-smp" }, "argument '-smp' needs a value" },
	{ { "-virtfs", "local,path=/srv,mount_tag=h" }, "'-virtfs' shares host files" },
	{ { "-device", "vfio-pci,host=01:00.0" }, "its DMA bypasses the measurement" },
	{ { "-device", "driver=vhost-user-fs-pci" }, "served by another process" },
	{ { "-device", "e1000,netdev=n0" }, "a NIC needs mac=" },
	{ { "-device", "virtio-rng-pci,romfile=x:y" }, "is not a single local file" },
	{ { "-device", "pci-testdev" }, "'-device pci-testdev' is not measured" },
	{ { "-object", "qom-type=memory-backend-file,mem-path=/dev/shm/x" },
	  "'-object memory-backend-file' is not measured" },
	{ { "-object", "rng-random,id=r,filename=/tmp/entropy" }, "may feed the guest's entropy" },
	{ { "-netdev", "user,id=n0,tftp=/srv,bootfile=pxe" }, "option 'tftp' is not measured" },
	{ { "-netdev", "tap,id=n0,fd=3" }, "passes a file descriptor" },
	{ { "-netdev", "tap,id=n0,script=/etc/evil" }, "runs a host program" },
	{ { "-netdev", "vhost-user,id=n0,chardev=c" }, "network backend 'vhost-user'" },
	{ { "-machine", "q35,kernel=/boot/vmlinuz" }, "option 'kernel' is not measured" },
	{ { "-drive", "file=nbd:localhost:10809" }, "QEMU reads it as a protocol" },
	{ { "-drive", "file=x.img,format=vmdk" }, "format 'vmdk' is not measured" },
	{ { "-drive", "file.filename=x.img" }, "option 'file.filename' is not measured" },
	{ { "-blockdev", "{\"driver\":\"file\"}" }, "JSON option syntax is not measured" },
	{ { "-serial", "tcp::4444,server" }, "reaches beyond this host" },
	{ { "-chardev", "socket,id=c,host=0.0.0.0,port=4444" }, "option 'host' is not measured" },
	{ { "-vnc", ":0" }, "reaches beyond this host" },
	{ { "-vnc", "unix:/run/vm.vnc,websocket=5700" }, "option 'websocket' is not measured" },
	{ { "-display", "vnc=:0" }, "option 'vnc' is not measured" },
	{ { "-vnc", "unix:/run/vm.vnc", "-display", "gtk,gl=on" }, "" },
	{ { "-global", "virtio-net-pci.romfile=evil.rom" }, "names a host file" },
	{ { "-incoming", "defer" }, "migration stream" },
	{ { "-s" }, "debug stub" },
	{ { "-readconfig", "x.cfg" }, "reads further options" },
	{ { "-set", "drive.d0.file=other.img" }, "rewrites options" },
	{ { "-L", "/tmp" }, "firmware and option ROMs" },
};

TEST_F(config, qemu_arguments_measured_harmless_or_refused)
{
	char *argv[8] = { "qemu-system-x86_64", "-m", "1G" };
	struct kt_config cfg;
	struct kt_err err;
	size_t i, k;
	int ret;

	for (i = 0; i < sizeof(qemu_cases) / sizeof(qemu_cases[0]); i++) {
		for (k = 0; k < 4 && qemu_cases[i].args[k]; k++)
			argv[3 + k] = (char *)qemu_cases[i].args[k];
		memset(&err, 0, sizeof(err));
		ret = kt_config_from_qemu((int)(3 + k), argv, &cfg, &err);
		if (!*qemu_cases[i].refusal) {
			EXPECT_EQ(0, ret) TH_LOG("%s: %s", argv[3], err.msg);
			kt_config_free(&cfg);
			continue;
		}
		EXPECT_EQ(-1, ret) TH_LOG("%s was not refused", argv[3]);
		EXPECT_NE(NULL, strstr(err.msg, qemu_cases[i].refusal))
			TH_LOG("%s: '%s' lacks '%s'", argv[3], err.msg, qemu_cases[i].refusal);
	}
}

/* Harmless arguments leave the root alone; measured ones change it. */
TEST_F(config, qemu_harmless_arguments_leave_the_root)
{
	char *plain[] = { "qemu", "-m", "1G", "-smp", "2" };
	char *harmless[] = { "qemu", "-m", "1G", "-nographic", "-smp", "2", "-name", "x",
			     "-monitor", "none", "-pidfile", "/run/x.pid", "-daemonize" };
	char *measured[] = { "qemu", "-m", "1G", "-smp", "2", "-nodefaults" };
	struct kt_config a, b, c;
	struct kt_err err = { 0 };
	kt_hash ra, rb, rc;

	ASSERT_EQ(0, kt_config_from_qemu(5, plain, &a, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_config_from_qemu(13, harmless, &b, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_config_from_qemu(6, measured, &c, &err)) TH_LOG("%s", err.msg);
	kt_config_root(&a, ra);
	kt_config_root(&b, rb);
	kt_config_root(&c, rc);
	EXPECT_EQ(0, memcmp(ra, rb, KT_HASH_LEN));
	EXPECT_NE(0, memcmp(ra, rc, KT_HASH_LEN));
	EXPECT_STREQ("", value_of(&c, "qemu.nodefaults.0"));
	kt_config_free(&a);
	kt_config_free(&b);
	kt_config_free(&c);
}

/* A FIFO would block the open and a character device never ends: both refused. */
TEST_F(config, only_regular_files_and_block_devices_are_hashed)
{
	char *fifo = in_dir(self->dir, "fifo"), *chr = in_dir(self->dir, "zero");
	struct kt_err err = { 0 };
	kt_hash h;

	ASSERT_EQ(0, mkfifo(fifo, 0600));
	EXPECT_EQ(-1, kt_file_sha256(fifo, h, &err));
	EXPECT_STREQ("disk", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "is a FIFO")) TH_LOG("%s", err.msg);
	EXPECT_EQ(-1, kt_file_sha256(self->dir, h, &err));
	EXPECT_NE(NULL, strstr(err.msg, "is a directory")) TH_LOG("%s", err.msg);
	if (mknod(chr, S_IFCHR | 0600, makedev(1, 5))) {
		TH_LOG("mknod: %s (not root?): character device case not run", strerror(errno));
	} else {
		EXPECT_EQ(-1, kt_file_sha256(chr, h, &err));
		EXPECT_NE(NULL, strstr(err.msg, "is a character device")) TH_LOG("%s", err.msg);
	}
	free(fifo);
	free(chr);
}

/* Root and every proof against scripts/lib/rfc9162.py fed the raw leaf data. */
TEST_F(config, tree_matches_python_and_proofs_verify)
{
	char *path = in_dir(self->dir, "vm.json"), cmd[16384], line[128];
	char hex[2 * KT_HASH_LEN + 1];
	kt_hash root, leaf, proof[KT_MERKLE_MAX_PROOF];
	struct kt_err err = { 0 };
	struct kt_config cfg;
	size_t i, off, k;
	int len;
	FILE *p;

	ASSERT_EQ(0, kt_config_load(path, &cfg, &err)) TH_LOG("%s", err.msg);
	kt_config_root(&cfg, root);
	for (i = 0; i <= cfg.n; i++) {
		/* i == cfg.n: the root; otherwise the audit path of leaf i. */
		off = i == cfg.n ?
			(size_t)snprintf(cmd, sizeof(cmd), "python3 %s/scripts/lib/rfc9162.py root",
					 KT_SRCDIR) :
			(size_t)snprintf(cmd, sizeof(cmd), "python3 %s/scripts/lib/rfc9162.py path %zu",
					 KT_SRCDIR, i);
		for (k = 0; k < cfg.n; k++) {
			const char *s;

			off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, " ");
			for (s = cfg.params[k].name; *s; s++)
				off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, "%02x", (uint8_t)*s);
			off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, "00");
			for (s = cfg.params[k].value; *s; s++)
				off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, "%02x", (uint8_t)*s);
		}
		p = popen(cmd, "r");
		ASSERT_NE(NULL, p);
		if (i == cfg.n) {
			ASSERT_NE(NULL, fgets(line, sizeof(line), p));
			kt_hex_encode(root, KT_HASH_LEN, hex);
			line[strcspn(line, "\n")] = '\0';
			EXPECT_STREQ(hex, line);
		} else {
			len = kt_config_proof(&cfg, i, proof);
			ASSERT_LE(0, len);
			for (k = 0; k < (size_t)len; k++) {
				ASSERT_NE(NULL, fgets(line, sizeof(line), p));
				line[strcspn(line, "\n")] = '\0';
				kt_hex_encode(proof[k], KT_HASH_LEN, hex);
				EXPECT_STREQ(line, hex) TH_LOG("param %zu proof %zu", i, k);
			}
			EXPECT_EQ(NULL, fgets(line, sizeof(line), p));
			kt_config_leaf(&cfg.params[i], leaf);
			EXPECT_EQ(0, kt_merkle_verify_inclusion(leaf, i, cfg.n, proof, (size_t)len,
								root));
		}
		ASSERT_EQ(0, pclose(p));
	}
	kt_config_free(&cfg);
	free(path);
}

TEST_HARNESS_MAIN
