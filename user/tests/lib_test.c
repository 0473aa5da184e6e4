// SPDX-License-Identifier: GPL-2.0
/*
 * libkvmtrust building blocks: RFC 9162 Merkle hashing (against the
 * Certificate Transparency vectors and an independent Python
 * implementation), strict base64url, the ES256 JWS and the file writer
 * (outfile.sh drives the writer through every command that uses it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "kselftest_harness.h"

#include "common/encoding.h"
#include "common/merkle.h"
#include "common/outfile.h"
#include "common/statefile.h"
#include "identity/jws.h"

/* RFC 6962 test leaves used by every CT implementation. */
static const char *const ct_leaves[] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static const char *const ct_roots[] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void leaves_for(kt_hash *leaves, unsigned int n)
{
	uint8_t data[8];
	unsigned int i;

	for (i = 0; i < n; i++) {
		memcpy(data, &i, sizeof(i));
		memset(data + sizeof(i), 0xa5, sizeof(data) - sizeof(i));
		kt_merkle_leaf_hash(data, sizeof(data), leaves[i]);
	}
}

TEST(merkle_ct_vectors)
{
	kt_hash leaves[8], root, want;
	uint8_t data[16];
	unsigned int i;

	kt_merkle_root(NULL, 0, root);
	ASSERT_EQ(0, kt_hex_decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
				   want, sizeof(want)));
	ASSERT_EQ(0, memcmp(root, want, sizeof(root)));
	for (i = 0; i < 8; i++) {
		size_t len = strlen(ct_leaves[i]) / 2;

		ASSERT_EQ(0, kt_hex_decode(ct_leaves[i], data, len));
		kt_merkle_leaf_hash(data, len, leaves[i]);
		kt_merkle_root(leaves, i + 1, root);
		ASSERT_EQ(0, kt_hex_decode(ct_roots[i], want, sizeof(want)));
		EXPECT_EQ(0, memcmp(root, want, sizeof(root))) TH_LOG("tree size %u", i + 1);
	}
}

/* Cross-check against scripts/lib/rfc9162.py, written from the RFC alone. */
TEST(merkle_matches_python)
{
	static const unsigned int sizes[] = { 1, 2, 3, 5, 13, 64, 100 };
	char cmd[16384], line[128], hex[2 * KT_HASH_LEN + 1];
	kt_hash leaves[100], root;
	unsigned int s, i;
	size_t off;
	FILE *p;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		leaves_for(leaves, sizes[s]);
		off = (size_t)snprintf(cmd, sizeof(cmd), "python3 %s/scripts/lib/rfc9162.py root-hashes",
				       KT_SRCDIR);
		for (i = 0; i < sizes[s]; i++) {
			kt_hex_encode(leaves[i], KT_HASH_LEN, hex);
			off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, " %s", hex);
		}
		p = popen(cmd, "r");
		ASSERT_NE(NULL, p);
		ASSERT_NE(NULL, fgets(line, sizeof(line), p));
		ASSERT_EQ(0, pclose(p));
		kt_merkle_root(leaves, sizes[s], root);
		kt_hex_encode(root, KT_HASH_LEN, hex);
		line[strcspn(line, "\n")] = '\0';
		EXPECT_STREQ(line, hex) TH_LOG("tree size %u", sizes[s]);
	}
}

TEST(merkle_inclusion_proofs)
{
	kt_hash leaves[40], root, proof[KT_MERKLE_MAX_PROOF];
	unsigned int n, i;
	int len;

	leaves_for(leaves, 40);
	for (n = 1; n <= 40; n++) {
		kt_merkle_root(leaves, n, root);
		for (i = 0; i < n; i++) {
			len = kt_merkle_inclusion_proof(leaves, n, i, proof);
			ASSERT_GE(len, 0);
			ASSERT_EQ(0, kt_merkle_verify_inclusion(leaves[i], i, n, proof, (size_t)len, root));
			/* The same proof must not work for a neighbour or another size. */
			if (n > 1)
				EXPECT_NE(0, kt_merkle_verify_inclusion(leaves[i], (i + 1) % n, n,
									proof, (size_t)len, root));
			if (len > 0) {
				proof[len - 1][0] ^= 1;
				EXPECT_NE(0, kt_merkle_verify_inclusion(leaves[i], i, n, proof,
									(size_t)len, root));
			}
		}
		EXPECT_EQ(-1, kt_merkle_inclusion_proof(leaves, n, n, proof));
	}
}

TEST(merkle_consistency_proofs)
{
	kt_hash leaves[40], root_m, root_n, proof[KT_MERKLE_MAX_PROOF];
	unsigned int m, n;
	int len;

	leaves_for(leaves, 40);
	for (n = 1; n <= 40; n++) {
		kt_merkle_root(leaves, n, root_n);
		for (m = 1; m <= n; m++) {
			kt_merkle_root(leaves, m, root_m);
			len = kt_merkle_consistency_proof(leaves, m, n, proof);
			ASSERT_GE(len, 0);
			ASSERT_EQ(0, kt_merkle_verify_consistency(m, n, root_m, root_n, proof,
								  (size_t)len)) TH_LOG("m=%u n=%u", m, n);
			if (m < n) {
				root_m[0] ^= 1;
				EXPECT_NE(0, kt_merkle_verify_consistency(m, n, root_m, root_n,
									  proof, (size_t)len));
				root_m[0] ^= 1;
				proof[0][5] ^= 1;
				EXPECT_NE(0, kt_merkle_verify_consistency(m, n, root_m, root_n,
									  proof, (size_t)len));
			}
		}
	}
}

TEST(base64url_is_strict)
{
	size_t len;
	uint8_t *out;
	char *enc;

	enc = kt_b64url_encode((const uint8_t *)"\xfb\xff", 2);
	ASSERT_STREQ("-_8", enc);
	out = kt_b64url_decode(enc, strlen(enc), &len);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(2U, len);
	ASSERT_EQ(0, memcmp(out, "\xfb\xff", 2));
	free(out);
	free(enc);
	EXPECT_EQ(NULL, kt_b64url_decode("-_8=", 4, &len));	/* padding */
	EXPECT_EQ(NULL, kt_b64url_decode("+/8", 3, &len));	/* wrong alphabet */
	EXPECT_EQ(NULL, kt_b64url_decode("-_9", 3, &len));	/* non-canonical bits */
	EXPECT_EQ(NULL, kt_b64url_decode("a", 1, &len));	/* impossible length */
	EXPECT_EQ(NULL, kt_b64url_decode("ab c", 4, &len));	/* whitespace */
}

static EVP_PKEY *p256_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static char *forge(const char *header, const char *payload, const char *sig)
{
	char *h = kt_b64url_encode((const uint8_t *)header, strlen(header));
	char *p = kt_b64url_encode((const uint8_t *)payload, strlen(payload));
	char *out;

	if (asprintf(&out, "%s.%s.%s", h, p, sig) < 0)
		out = NULL;
	free(h);
	free(p);
	return out;
}

TEST(jws_round_trip_and_refusals)
{
	EVP_PKEY *key = p256_key(), *other = p256_key();
	json_t *payload = json_pack("{s:s, s:i}", "sub", "guest", "exp", 42);
	struct kt_err err = { 0 };
	struct kt_jws jws;
	char *token, *bad, *sig;

	ASSERT_NE(NULL, key);
	ASSERT_EQ(0, kt_jws_sign(key, NULL, payload, &token, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_jws_parse(token, &jws, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ("guest", json_string_value(json_object_get(jws.payload, "sub")));
	EXPECT_EQ(0, kt_jws_verify(&jws, key, &err));
	EXPECT_NE(0, kt_jws_verify(&jws, other, &err));
	EXPECT_STREQ("signature", err.check);
	kt_jws_free(&jws);

	sig = strrchr(token, '.') + 1;
	bad = forge("{\"alg\":\"none\"}", "{\"sub\":\"guest\"}", sig);
	EXPECT_NE(0, kt_jws_parse(bad, &jws, &err));
	EXPECT_STREQ("algorithm", err.check);
	free(bad);
	bad = forge("{\"alg\":\"HS256\"}", "{\"sub\":\"guest\"}", sig);
	EXPECT_NE(0, kt_jws_parse(bad, &jws, &err));
	EXPECT_STREQ("algorithm", err.check);
	free(bad);
	bad = forge("{\"alg\":\"ES256\",\"alg\":\"ES256\"}", "{}", sig);
	EXPECT_NE(0, kt_jws_parse(bad, &jws, &err));
	EXPECT_STREQ("structure", err.check);
	free(bad);
	bad = forge("{\"alg\":\"ES256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", sig);
	EXPECT_NE(0, kt_jws_parse(bad, &jws, &err));
	EXPECT_STREQ("structure", err.check);
	free(bad);
	/* A valid signature over another payload. */
	bad = forge("{\"alg\":\"ES256\"}", "{\"exp\":42,\"sub\":\"evil\"}", sig);
	ASSERT_EQ(0, kt_jws_parse(bad, &jws, &err));
	EXPECT_NE(0, kt_jws_verify(&jws, key, &err));
	kt_jws_free(&jws);
	free(bad);
	/* Truncated: drop the signature's last characters. */
	token[strlen(token) - 4] = '\0';
	EXPECT_NE(0, kt_jws_parse(token, &jws, &err));
	EXPECT_STREQ("structure", err.check);

	free(token);
	json_decref(payload);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* The mode asked for, whatever the umask; and an existing file is replaced. */
TEST(outfile_mode_and_replace)
{
	char dir[] = "/tmp/kt-lib-test.XXXXXX", path[64], buf[8] = { 0 };
	struct kt_err err = { 0 };
	struct stat st;
	mode_t old = umask(077);
	FILE *f;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	EXPECT_EQ(0, kt_file_write(path, "one", 3, 0644, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(0, kt_file_write(path, "two", 3, 0640, &err)) TH_LOG("%s", err.msg);
	umask(old);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(0640u, st.st_mode & 07777);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	EXPECT_EQ(3u, fread(buf, 1, sizeof(buf), f));
	fclose(f);
	EXPECT_STREQ("two", buf);
	unlink(path);
	rmdir(dir);
}

/* Names no writer may take: refused by kt_file_write and kt_dir_make alike. */
TEST(outfile_refusals)
{
	char dir[] = "/tmp/kt-lib-test.XXXXXX", file[64], link[64], sub[64];
	struct kt_err err = { 0 };

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(link, sizeof(link), "%s/dangling", dir);
	snprintf(sub, sizeof(sub), "%s/", dir);
	ASSERT_EQ(0, kt_file_write(file, "x", 1, 0600, NULL));
	ASSERT_EQ(0, symlink("nowhere", link));

	EXPECT_EQ(-1, kt_file_write(link, "x", 1, 0600, &err));
	EXPECT_NE(NULL, strstr(err.msg, "symbolic link")) TH_LOG("%s", err.msg);
	EXPECT_EQ(-1, access(link, F_OK));	/* still dangling: nothing written through it */
	EXPECT_EQ(-1, kt_file_write(sub, "x", 1, 0600, &err));
	EXPECT_NE(NULL, strstr(err.msg, "Is a directory")) TH_LOG("%s", err.msg);
	EXPECT_EQ(-1, kt_file_write("", "x", 1, 0600, &err));
	EXPECT_STREQ("file", err.check);
	EXPECT_EQ(-1, kt_dir_make(file, 0700, &err));
	EXPECT_NE(NULL, strstr(err.msg, "Not a directory")) TH_LOG("%s", err.msg);
	EXPECT_EQ(-1, kt_dir_make(link, 0700, &err));
	EXPECT_NE(NULL, strstr(err.msg, "No such file")) TH_LOG("%s", err.msg);
	EXPECT_EQ(0, kt_dir_make(dir, 0700, &err));
	unlink(file);
	unlink(link);
	rmdir(dir);
}

/* A lock file is opened, never followed through a link or into a FIFO. */
TEST(lock_file_refusals)
{
	char dir[] = "/tmp/kt-lib-test.XXXXXX", fifo[64], link[64], lock[64];
	struct kt_err err = { 0 };
	int fd;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	ASSERT_EQ(0, mkfifo(fifo, 0600));
	ASSERT_EQ(0, symlink("lock", link));

	EXPECT_EQ(-1, kt_file_lock(fifo, &err));
	EXPECT_NE(NULL, strstr(err.msg, "not a regular file")) TH_LOG("%s", err.msg);
	EXPECT_EQ(-1, kt_file_lock(link, &err));
	EXPECT_NE(NULL, strstr(err.msg, "cannot lock")) TH_LOG("%s", err.msg);
	EXPECT_EQ(-1, access(lock, F_OK));	/* the link's target was not created */
	fd = kt_file_lock(lock, &err);
	EXPECT_LE(0, fd) TH_LOG("%s", err.msg);
	if (fd >= 0)
		close(fd);
	unlink(fifo);
	unlink(link);
	unlink(lock);
	rmdir(dir);
}

TEST_HARNESS_MAIN
