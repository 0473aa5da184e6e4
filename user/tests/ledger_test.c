// SPDX-License-Identifier: GPL-2.0
/*
 * Trust ledger and trust scores on the SQLite backend:
 *   - appends verify, unauthorized writers are refused;
 *   - tampering (a byte edited, entries reordered, dropped, the log or the
 *     file truncated, the head rewritten) is caught with the entry named;
 *   - inclusion and consistency proofs agree with scripts/lib/rfc9162.py;
 *   - concurrent writers do not fork the log;
 *   - a ledger is opened only where one was created, reads never write;
 *   - owners register VMs, the first register wins, hosts cannot;
 *   - the scoring table: steps, clamping, decay, thresholds, compromise,
 *     the last result;
 *   - host batches: a changed result is named and its proof fails, a
 *     batch with another host's VM or replayed is refused, batched results
 *     score exactly as single entries, checkpoints and the sequencer.
 * Certificates come from the openssl CLI in a temporary directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kselftest_harness.h"
#include "fake_quote.h"

#include "common/encoding.h"
#include "ledger/batch.h"
#include "ledger/ledger.h"
#include "ledger/ledger_auth.h"
#include "identity/pki.h"
#include "identity/quote.h"
#include "ledger/owner.h"
#include "ledger/revocation.h"
#include "ledger/score.h"

#define HOST1 "11111111-1111-4111-8111-111111111111"
#define HOST2 "22222222-2222-4222-8222-222222222222"
#define HOST3 "33333333-3333-4333-8333-333333333333"
#define VM1 "10000000-0000-4000-8000-000000000001"
#define VM3 "10000000-0000-4000-8000-000000000003"
#define VM9 "10000000-0000-4000-8000-000000000009"
#define WEB "7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b"
#define DB "8e5a3c2b-4d6f-4a71-9bac-1d2e3f4a5b6c"

/*
 * CA, two hosts, a host without a UUID SAN and a host under a rogue CA;
 * owner-root (alone in owners/) with the owners alice and bob, and carol, a
 * user certificate under the ledger CA (owners-both/ trusts both roots).
 */
static const char pki_script[] =
	"set -e; cd \"$0\"\n"
	"ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	"  -keyout $1.key -out $1.pem -days 30 -subj /CN=$1 "
	"  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; }\n"
	"host() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	"  -keyout $1.key -out $1.csr -subj /CN=$1 2>/dev/null\n"
	"  if [ -n \"$3\" ]; then echo \"subjectAltName=URI:urn:uuid:$3\" > $1.ext; "
	"  else echo subjectAltName=DNS:$1.example > $1.ext; fi\n"
	"  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial "
	"  -out $1.pem -days 30 -extfile $1.ext 2>/dev/null; }\n"
	"ca ca; ca rogue\n"
	"host host1 ca " HOST1 "; host host2 ca " HOST2 "\n"
	"host nouuid ca; host intruder rogue " HOST3 "\n"
	/* An intermediate CA under ca, and a host under it. */
	"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key "
	"  -out inter.csr -subj /CN=inter 2>/dev/null\n"
	"printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' "
	"  > inter.ext\n"
	"openssl x509 -req -in inter.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out inter.pem "
	"  -days 30 -extfile inter.ext 2>/dev/null\n"
	"host host3 inter " HOST3 "\n"
	"mkdir cadir && cp ca.pem inter.pem cadir/\n"
	"user() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	"  -keyout $1.key -out $1.csr -subj /CN=$1 2>/dev/null\n"
	"  printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n' "
	"  > $1.ext\n"
	"  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial "
	"  -out $1.pem -days 30 -extfile $1.ext 2>/dev/null; }\n"
	"ca owner-root; user alice owner-root; user bob owner-root; user carol ca\n"
	/* A host certificate whose serial is longer than RFC 5280's 20 octets. */
	"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout longserial.key "
	"  -out longserial.csr -subj /CN=longserial 2>/dev/null\n"
	"openssl x509 -req -in longserial.csr -CA ca.pem -CAkey ca.key -days 30 "
	"  -set_serial 0x7d$(openssl rand -hex 21) -out longserial.pem 2>/dev/null\n"
	/* A CA that may not sign revocations. */
	"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout nocrl.key "
	"  -out nocrl.pem -days 30 -subj /CN=nocrl -addext keyUsage=critical,keyCertSign "
	"  2>/dev/null\n"
	"mkdir owners owners-both && cp owner-root.pem owners/ && cp owner-root.pem ca.pem owners-both/\n";

/* Made once before the harness forks its tests; removed when the runner exits. */
static char pki_dir[64];
static pid_t pki_owner;

static void pki_remove(void)
{
	char cmd[128];

	if (getpid() != pki_owner)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pki_dir);
	if (system(cmd))
		fprintf(stderr, "# could not remove %s\n", pki_dir);
}

static void __attribute__((constructor)) pki_make(void)
{
	char cmd[128];

	strcpy(pki_dir, "/tmp/kvmtrust-ledger-pki-XXXXXX");
	if (!mkdtemp(pki_dir))
		return;
	pki_owner = getpid();
	atexit(pki_remove);
	setenv("KT_PKI", pki_script, 1);
	snprintf(cmd, sizeof(cmd), "sh -c 'eval \"$KT_PKI\"' %s", pki_dir);
	if (system(cmd))
		pki_dir[0] = '\0';
}

FIXTURE(ledger) {
	char dir[64], db[128], path[256];
	struct kt_ledger_auth *auth;
	struct kt_ledger *log;
	struct kt_ledger_signer host1, host2;
	struct kt_err err;
};

/* Files of the test PKI. */
static const char *in(FIXTURE_DATA(ledger) *self, const char *name)
{
	snprintf(self->path, sizeof(self->path), "%s/%s", pki_dir, name);
	return self->path;
}

static const char *owners(void)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/owners", pki_dir);
	return path;
}

static int load_signer(FIXTURE_DATA(ledger) *self, const char *name,
		       struct kt_ledger_signer *s)
{
	char key[256], cert[256];

	snprintf(key, sizeof(key), "%s/%s.key", pki_dir, name);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki_dir, name);
	return kt_ledger_signer_load(key, cert, s, &self->err);
}

FIXTURE_SETUP(ledger)
{
	ASSERT_NE(0, pki_dir[0]) TH_LOG("openssl could not make the test PKI");
	strcpy(self->dir, "/tmp/kvmtrust-ledger-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->db, sizeof(self->db), "sqlite:%s/ledger.db", self->dir);
	ASSERT_EQ(0, kt_ledger_auth_load(in(self, "ca.pem"), owners(), &self->auth, &self->err));
	ASSERT_EQ(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_CREATE, &self->log, &self->err))
		TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, load_signer(self, "host1", &self->host1)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, load_signer(self, "host2", &self->host2)) TH_LOG("%s", self->err.msg);
}

FIXTURE_TEARDOWN(ledger)
{
	char cmd[128];

	kt_ledger_close(self->log);
	kt_ledger_auth_free(self->auth);
	kt_ledger_signer_free(&self->host1);
	kt_ledger_signer_free(&self->host2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

static void entry_init(struct kt_ledger_entry *e, int kind, int result, const char *vm,
		       const char *host, uint64_t time)
{
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->result = (uint8_t)result;
	e->time = time;
	snprintf(e->vm_id, sizeof(e->vm_id), "%s", vm ? vm : "");
	if (host)
		kt_uuid_parse(host, e->host_id);
}

static int append(FIXTURE_DATA(ledger) *self, const struct kt_ledger_signer *s, int kind,
		  int result, const char *vm, const char *host, uint64_t time)
{
	struct kt_ledger_entry e;
	kt_hash leaf;

	entry_init(&e, kind, result, vm, host, time);
	return kt_ledger_append(self->log, s, &e, leaf, &self->err);
}

/* n attestations alternating between the two hosts' VMs. */
static int fill(FIXTURE_DATA(ledger) *self, int n)
{
	char vm[KT_UUID_STR_LEN + 1];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(vm, sizeof(vm), "10000000-0000-4000-8000-00000000000%d", i % 4);
		if (append(self, i % 2 ? &self->host2 : &self->host1, KT_LEDGER_ATTEST,
			   i % 5 ? KT_LEDGER_PASS : KT_LEDGER_FAIL, vm, NULL, 0))
			return -1;
	}
	return 0;
}

static int verify(FIXTURE_DATA(ledger) *self, uint64_t *size, uint64_t *bad)
{
	kt_err_clear(&self->err);
	return kt_ledger_verify(self->log, size, bad, &self->err);
}

/* Runs SQL with an optional blob parameter on the ledger file behind the library's back. */
static int tamper(FIXTURE_DATA(ledger) *self, const char *sql, const uint8_t *blob, size_t len)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	int rc;

	if (sqlite3_open(self->db + 7, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && blob)
		sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

TEST_F(ledger, append_get_head_verify)
{
	struct kt_ledger_entry e;
	struct kt_ledger_sth sth;
	uint64_t size, bad;
	uint8_t *raw;
	size_t len;
	char host[37];

	ASSERT_EQ(0, verify(self, &size, &bad));
	EXPECT_EQ(0ULL, size);
	ASSERT_EQ(0, fill(self, 10)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_MOVE, 0, VM9, NULL, 0));
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_COMPROMISE, 0, NULL, HOST1, 0));
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_REVOKE, 0, VM3, NULL, 0));
	ASSERT_EQ(0, verify(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(13ULL, size);
	ASSERT_EQ(0, kt_ledger_head(self->log, &sth, &raw, &self->err));
	EXPECT_EQ(13ULL, sth.size);
	free(raw);
	ASSERT_EQ(0, kt_ledger_get(self->log, 10, &e, &raw, &len, &self->err));
	EXPECT_EQ(KT_LEDGER_MOVE, e.kind);
	EXPECT_STREQ(VM9, e.vm_id);
	kt_uuid_format(e.host_id, host);
	EXPECT_STREQ(HOST1, host);	/* filled in from the signer's certificate */
	free(raw);
	EXPECT_NE(0, kt_ledger_get(self->log, 13, &e, &raw, &len, &self->err));
	EXPECT_STREQ("missing", self->err.check);
}

TEST_F(ledger, unauthorized_writers_are_refused)
{
	struct kt_ledger_signer s;
	uint64_t size, bad;
	char key[256];

	ASSERT_EQ(0, load_signer(self, "intruder", &s));
	EXPECT_NE(0, append(self, &s, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "not trusted")) TH_LOG("%s", self->err.msg);
	kt_ledger_signer_free(&s);

	ASSERT_EQ(0, load_signer(self, "nouuid", &s));
	EXPECT_NE(0, append(self, &s, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "urn:uuid")) TH_LOG("%s", self->err.msg);
	kt_ledger_signer_free(&s);

	/* host1 may not report attestations of VMs on host2. */
	EXPECT_NE(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, VM1, HOST2, 0));
	EXPECT_STREQ("authorization", self->err.check);

	/* A key that does not match the certificate. */
	EXPECT_NE(0, kt_ledger_signer_load(in(self, "host1.key"), "/nonexistent", &s, &self->err));
	EXPECT_STREQ("key", self->err.check);
	snprintf(key, sizeof(key), "%s/host2.key", pki_dir);
	EXPECT_NE(0, kt_ledger_signer_load(key, in(self, "host1.pem"), &s, &self->err));
	EXPECT_STREQ("key", self->err.check);
	ASSERT_EQ(0, verify(self, &size, &bad));
	EXPECT_EQ(0ULL, size);
}

/*
 * Entries carry only the signer's certificate: intermediates belong in the
 * ledger's CA directory, next to the root.
 */
TEST_F(ledger, intermediate_ca_in_ca_directory)
{
	struct kt_ledger_auth *dir_auth;
	struct kt_ledger *log;
	struct kt_ledger_signer s;
	struct kt_ledger_entry e;
	uint64_t size, bad;
	kt_hash leaf;

	ASSERT_EQ(0, load_signer(self, "host3", &s)) TH_LOG("%s", self->err.msg);
	EXPECT_NE(0, append(self, &s, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0));
	EXPECT_STREQ("authorization", self->err.check);
	ASSERT_EQ(0, kt_ledger_auth_load(in(self, "cadir"), NULL, &dir_auth, &self->err))
		TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_ledger_open(self->db, dir_auth, KT_LEDGER_WRITE, &log, &self->err));
	entry_init(&e, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0);
	ASSERT_EQ(0, kt_ledger_append(log, &s, &e, leaf, &self->err)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_ledger_verify(log, &size, &bad, &self->err)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(1ULL, size);
	kt_ledger_close(log);
	kt_ledger_auth_free(dir_auth);
	kt_ledger_signer_free(&s);
	/* The root alone cannot place host3's certificate. */
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_EQ(0ULL, bad);
	EXPECT_STREQ("authorization", self->err.check);
}

/*
 * A writer whose ledger configuration trusts a rogue CA as well (a CA
 * directory holding both) appends a well-chained entry; verify with the
 * real CA names it.
 */
TEST_F(ledger, rogue_entry_is_named)
{
	struct kt_ledger_auth *rogue_auth;
	struct kt_ledger *rogue;
	struct kt_ledger_signer s;
	struct kt_ledger_entry e;
	uint64_t size, bad;
	char cmd[512];
	kt_hash leaf;

	ASSERT_EQ(0, fill(self, 5));
	snprintf(cmd, sizeof(cmd), "mkdir %s/both && cp %s/ca.pem %s/rogue.pem %s/both/",
		 self->dir, pki_dir, pki_dir, self->dir);
	ASSERT_EQ(0, system(cmd));
	snprintf(cmd, sizeof(cmd), "%s/both", self->dir);
	ASSERT_EQ(0, kt_ledger_auth_load(cmd, NULL, &rogue_auth, &self->err))
		TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_ledger_open(self->db, rogue_auth, KT_LEDGER_WRITE, &rogue, &self->err));
	ASSERT_EQ(0, load_signer(self, "intruder", &s));
	entry_init(&e, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, VM1, NULL, 0);
	ASSERT_EQ(0, kt_ledger_append(rogue, &s, &e, leaf, &self->err)) TH_LOG("%s", self->err.msg);
	kt_ledger_close(rogue);
	kt_ledger_auth_free(rogue_auth);
	kt_ledger_signer_free(&s);
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_EQ(5ULL, bad);
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_EQ(0, strncmp(self->err.msg, "entry 5:", 8)) TH_LOG("%s", self->err.msg);
}

/* What flip_blob() XORs in. */
static uint8_t flip_mask = 0x40;

/* Flips one byte (at off; negative: from the end) of a blob, behind the library. */
static int flip_blob(FIXTURE_DATA(ledger) *self, const char *table, const char *column,
		     const char *key, uint64_t id, long off)
{
	sqlite3_stmt *st = NULL;
	uint8_t *raw = NULL;
	sqlite3 *db;
	size_t len = 0;
	char sql[128];
	int ret = -1;

	if (sqlite3_open(self->db + 7, &db) != SQLITE_OK)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s = %llu", column, table, key,
		 (unsigned long long)id);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		len = (size_t)sqlite3_column_bytes(st, 0);
		raw = malloc(len);
		if (raw)
			memcpy(raw, sqlite3_column_blob(st, 0), len);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (!raw)
		return -1;
	raw[off < 0 ? (long)len + off : off] ^= flip_mask;
	snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ?1 WHERE %s = %llu", table, column, key,
		 (unsigned long long)id);
	ret = tamper(self, sql, raw, len);
	free(raw);
	return ret;
}

/* Inverts byte off of a file: a change whatever the byte was. */
static int flip_file_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c = -1;

	if (f && !fseek(f, off, SEEK_SET) && (c = fgetc(f)) != EOF && !fseek(f, off, SEEK_SET))
		c = fputc(c ^ 0xff, f);
	if (f && fclose(f))
		c = EOF;
	return c == EOF || c < 0 ? -1 : 0;
}

static int flip_byte(FIXTURE_DATA(ledger) *self, uint64_t index, long off)
{
	return flip_blob(self, "ledger_entries", "data", "idx", index, off);
}

TEST_F(ledger, tamper_edit_byte)
{
	/* result, time, prev_root, vm_id, certificate, signature */
	static const long offsets[] = { 2, 15, 30, 101, 300, -1 };
	uint64_t size, bad;
	unsigned int i;

	ASSERT_EQ(0, fill(self, 12));
	for (i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		ASSERT_EQ(0, flip_byte(self, 7, offsets[i]));
		ASSERT_NE(0, verify(self, &size, &bad)) TH_LOG("offset %ld", offsets[i]);
		EXPECT_EQ(7ULL, bad);
		EXPECT_EQ(0, strncmp(self->err.msg, "entry 7:", 8)) TH_LOG("%s", self->err.msg);
		ASSERT_EQ(0, flip_byte(self, 7, offsets[i]));
		ASSERT_EQ(0, verify(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	}
}

TEST_F(ledger, tamper_reorder)
{
	uint64_t size, bad;

	ASSERT_EQ(0, fill(self, 10));
	ASSERT_EQ(0, tamper(self, "UPDATE ledger_entries SET idx = -1 WHERE idx = 3", NULL, 0));
	ASSERT_EQ(0, tamper(self, "UPDATE ledger_entries SET idx = 3 WHERE idx = 6", NULL, 0));
	ASSERT_EQ(0, tamper(self, "UPDATE ledger_entries SET idx = 6 WHERE idx = -1", NULL, 0));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_EQ(3ULL, bad);
	EXPECT_STREQ("order", self->err.check);
	EXPECT_EQ(0, strncmp(self->err.msg, "entry 3:", 8)) TH_LOG("%s", self->err.msg);
}

TEST_F(ledger, tamper_drop)
{
	uint64_t size, bad;

	ASSERT_EQ(0, fill(self, 10));
	ASSERT_EQ(0, tamper(self, "DELETE FROM ledger_entries WHERE idx = 5", NULL, 0));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_EQ(5ULL, bad);
	EXPECT_STREQ("missing", self->err.check);
	EXPECT_EQ(0, strncmp(self->err.msg, "entry 5:", 8)) TH_LOG("%s", self->err.msg);
	/* Closing the gap does not help: entry 6 now claims to be entry 6 at place 5. */
	ASSERT_EQ(0, tamper(self, "UPDATE ledger_entries SET idx = idx - 1 WHERE idx > 5", NULL, 0));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_EQ(5ULL, bad);
	EXPECT_STREQ("order", self->err.check);
}

TEST_F(ledger, tamper_truncate_log)
{
	uint64_t size, bad;

	ASSERT_EQ(0, fill(self, 10));
	ASSERT_EQ(0, tamper(self, "DELETE FROM ledger_entries WHERE idx >= 8", NULL, 0));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_EQ(8ULL, bad);
	EXPECT_STREQ("missing", self->err.check);
	EXPECT_EQ(0, strncmp(self->err.msg, "entry 8:", 8)) TH_LOG("%s", self->err.msg);
}

TEST_F(ledger, tamper_truncate_file)
{
	uint64_t size, bad;
	struct stat st;

	ASSERT_EQ(0, fill(self, 200));
	/* Closing checkpoints the WAL into the file, which is then cut short. */
	kt_ledger_close(self->log);
	self->log = NULL;
	ASSERT_EQ(0, stat(self->db + 7, &st));
	ASSERT_EQ(0, truncate(self->db + 7, st.st_size / 2));
	ASSERT_EQ(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_READ, &self->log, &self->err))
		TH_LOG("%s", self->err.msg);
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_GT(bad, 0ULL);
	EXPECT_LT(bad, 200ULL);
	EXPECT_EQ(0, strncmp(self->err.msg, "entry ", 6)) TH_LOG("%s", self->err.msg);
	TH_LOG("%s", self->err.msg);
}

TEST_F(ledger, tamper_head)
{
	uint64_t size, bad;

	ASSERT_EQ(0, fill(self, 4));
	/* Byte 2 + 17 is the first root byte of the signed tree head. */
	ASSERT_EQ(0, flip_blob(self, "ledger_head", "record", "id", 1, 2 + 17));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_STREQ("head", self->err.check);
	EXPECT_EQ(UINT64_MAX, bad);
	TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, flip_blob(self, "ledger_head", "record", "id", 1, 2 + 17));
	ASSERT_EQ(0, verify(self, &size, &bad));
	/* The head's signature: last STH byte, before the frontier (4 entries: 1 hash). */
	ASSERT_EQ(0, flip_blob(self, "ledger_head", "record", "id", 1, -(1 + 32) - 1));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_STREQ("head", self->err.check);
	TH_LOG("%s", self->err.msg);
}

/* A pinned state (size, root) must be extended, never rewritten or cut. */
TEST_F(ledger, pin_detects_fork_and_rollback)
{
	uint64_t size, bad;
	kt_hash root;

	ASSERT_EQ(0, fill(self, 5));
	ASSERT_EQ(0, kt_ledger_walk(self->log, NULL, NULL, &size, root, &bad, &self->err));
	kt_ledger_pin(self->log, size, root);
	ASSERT_EQ(0, fill(self, 2));
	ASSERT_EQ(0, verify(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	/* Another, validly signed history of the same length. */
	ASSERT_EQ(0, tamper(self, "DELETE FROM ledger_entries", NULL, 0));
	ASSERT_EQ(0, tamper(self, "DELETE FROM ledger_head", NULL, 0));
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, VM1, NULL, 0));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_STREQ("rollback", self->err.check);
	ASSERT_EQ(0, fill(self, 6));
	ASSERT_NE(0, verify(self, &size, &bad));
	EXPECT_STREQ("fork", self->err.check) TH_LOG("%s", self->err.msg);
}

static const char *cp_path(FIXTURE_DATA(ledger) *self)
{
	snprintf(self->path, sizeof(self->path), "%s/checkpoint", self->dir);
	return self->path;
}

/* A fresh handle on the fixture's ledger, from its checkpoint (full: not). */
static struct kt_ledger *reopen(FIXTURE_DATA(ledger) *self, bool full)
{
	struct kt_ledger *log;

	kt_err_clear(&self->err);
	if (kt_ledger_open(self->db, self->auth, KT_LEDGER_READ, &log, &self->err))
		return NULL;
	if (kt_ledger_checkpoint_use(log, cp_path(self), full, &self->err)) {
		kt_ledger_close(log);
		return NULL;
	}
	return log;
}

/* Scores VM1 through log, then saves the checkpoint the walk reached. */
static int score_and_save(FIXTURE_DATA(ledger) *self, struct kt_ledger *log,
			  struct kt_score_result *r)
{
	kt_err_clear(&self->err);
	return kt_score_compute(log, VM1, (uint64_t)time(NULL), r, &self->err) ?:
	       kt_ledger_checkpoint_save(log, &self->err);
}

/*
 * After a checkpoint at N entries, k more cost k signature checks (and one
 * for the new head), not N + k; the score is the one a full walk gives.
 */
TEST_F(ledger, checkpoint_costs_what_is_new)
{
	struct kt_score_result full, inc;
	struct kt_ledger *log;
	struct stat st;
	size_t i;

	ASSERT_EQ(0, fill(self, 40));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &full)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(41ULL, kt_ledger_signatures_checked(log));
	kt_score_result_free(&full);
	kt_ledger_close(log);
	ASSERT_EQ(0, stat(cp_path(self), &st));
	EXPECT_EQ(0600U, st.st_mode & 0777);

	ASSERT_EQ(0, fill(self, 3));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &inc)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(3ULL + 1, kt_ledger_signatures_checked(log));
	kt_ledger_close(log);

	ASSERT_NE(NULL, log = reopen(self, true)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &full)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(43ULL + 1, kt_ledger_signatures_checked(log));
	kt_ledger_close(log);
	EXPECT_EQ(full.score, inc.score);
	EXPECT_EQ(full.decision, inc.decision);
	EXPECT_EQ(full.last_attest, inc.last_attest);
	EXPECT_EQ(full.last_time, inc.last_time);
	EXPECT_EQ(0, memcmp(full.host_id, inc.host_id, KT_UUID_LEN));
	/* The checkpoint's steps are folded into one; the new ones follow as in full. */
	ASSERT_LT(1U, inc.nsteps);
	ASSERT_LE(inc.nsteps, full.nsteps);
	EXPECT_STREQ("checkpoint", inc.steps[0].reason);
	for (i = 1; i < inc.nsteps; i++) {
		EXPECT_EQ(full.steps[full.nsteps - inc.nsteps + i].index, inc.steps[i].index);
		EXPECT_EQ(full.steps[full.nsteps - inc.nsteps + i].score, inc.steps[i].score);
	}
	kt_score_result_free(&full);
	kt_score_result_free(&inc);

	/* Nothing new: only the head's signature. */
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &inc)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(1ULL, kt_ledger_signatures_checked(log));
	kt_score_result_free(&inc);
	kt_ledger_close(log);
}

/* A history rewritten under a checkpoint is a fork; a shorter one a rollback. */
TEST_F(ledger, checkpoint_refuses_a_fork)
{
	struct kt_score_result r;
	struct kt_ledger *log;

	ASSERT_EQ(0, fill(self, 6));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &r)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&r);
	kt_ledger_close(log);
	/* Another, validly signed history, longer than the checkpoint. */
	ASSERT_EQ(0, tamper(self, "DELETE FROM ledger_entries", NULL, 0));
	ASSERT_EQ(0, tamper(self, "DELETE FROM ledger_head", NULL, 0));
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_NE(0, score_and_save(self, log, &r));
	EXPECT_STREQ("rollback", self->err.check) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	ASSERT_EQ(0, fill(self, 8));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_NE(0, score_and_save(self, log, &r));
	EXPECT_STREQ("fork", self->err.check) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	/* --full verifies the new history on its own, and checkpoints it. */
	ASSERT_NE(NULL, log = reopen(self, true)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &r)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&r);
	kt_ledger_close(log);
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &r)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&r);
	kt_ledger_close(log);
}

/* The checkpoint file is refused when edited, exposed or another ledger's. */
TEST_F(ledger, checkpoint_file_is_checked)
{
	struct kt_score_result r;
	struct kt_ledger *log;
	char cmd[512];

	ASSERT_EQ(0, fill(self, 5));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &r)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&r);
	kt_ledger_close(log);

	ASSERT_EQ(0, chmod(cp_path(self), 0644));
	EXPECT_EQ(NULL, reopen(self, false));
	EXPECT_STREQ("checkpoint", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "may be written by others")) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, chmod(cp_path(self), 0600));

	/*
	 * One byte changed (in the signed head): the digest no longer matches.
	 * Inverted, not overwritten: the signature's bytes may be any value.
	 */
	ASSERT_EQ(0, flip_file_byte(cp_path(self), 400));
	EXPECT_EQ(NULL, reopen(self, false));
	EXPECT_STREQ("checkpoint", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "digest")) TH_LOG("%s", self->err.msg);
	/* --full ignores it and writes a good one. */
	ASSERT_NE(NULL, log = reopen(self, true)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &r)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&r);
	kt_ledger_close(log);

	/* A version 1 file (one fact per entry; the magic's digit, byte 14): refused by name. */
	snprintf(cmd, sizeof(cmd), "printf 1 | dd of=%s bs=1 seek=14 conv=notrunc status=none",
		 cp_path(self));
	ASSERT_EQ(0, system(cmd));
	EXPECT_EQ(NULL, reopen(self, false));
	EXPECT_STREQ("checkpoint", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "version 1 checkpoint")) TH_LOG("%s", self->err.msg);
	EXPECT_NE(NULL, strstr(self->err.msg, "--full")) TH_LOG("%s", self->err.msg);
	ASSERT_NE(NULL, log = reopen(self, true)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &r)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&r);
	kt_ledger_close(log);
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);

	/* Another ledger's checkpoint. */
	snprintf(cmd, sizeof(cmd), "sqlite:%s/other.db", self->dir);
	ASSERT_EQ(0, kt_ledger_open(cmd, self->auth, KT_LEDGER_CREATE, &log, &self->err));
	EXPECT_NE(0, kt_ledger_checkpoint_use(log, cp_path(self), false, &self->err));
	EXPECT_STREQ("checkpoint", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "belongs to ledger")) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
}

/* Passes for VMs 0..3, dated t, t + 1, ...; one failure for VM 1 at its first. */
static int fill_dated(FIXTURE_DATA(ledger) *self, int from, int n, uint64_t t)
{
	char vm[KT_UUID_STR_LEN + 1];
	int i;

	for (i = from; i < from + n; i++) {
		snprintf(vm, sizeof(vm), "10000000-0000-4000-8000-00000000000%u", (unsigned int)i % 4);
		if (append(self, i % 2 ? &self->host2 : &self->host1, KT_LEDGER_ATTEST,
			   i == 1 ? KT_LEDGER_FAIL : KT_LEDGER_PASS, vm, NULL, t + (uint64_t)i))
			return -1;
	}
	return 0;
}

/* Scores VM1 at time at, then saves the checkpoint the walk reached. */
static int score_at(FIXTURE_DATA(ledger) *self, struct kt_ledger *log, uint64_t at,
		    struct kt_score_result *r)
{
	kt_err_clear(&self->err);
	return kt_score_compute(log, VM1, at, r, &self->err) ?:
	       kt_ledger_checkpoint_save(log, &self->err);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

/*
 * The checkpoint folds the state per VM and host: with more entries for the
 * same VMs its file (what a load reads) keeps its size, and the score from
 * it is the full walk's. A check dated before its latest folded entry
 * cannot use it: it walks the whole log and gets the full walk's answer.
 * (Entries are dated ahead, t + i, certificates being valid from now.)
 */
TEST_F(ledger, checkpoint_size_does_not_grow_with_entries)
{
	uint64_t t = (uint64_t)time(NULL), at = t + 1000;
	struct kt_score_result full, inc;
	struct kt_ledger *log;
	long small, large;

	ASSERT_EQ(0, fill_dated(self, 0, 20, t)) TH_LOG("%s", self->err.msg);
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_at(self, log, at, &full)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&full);
	kt_ledger_close(log);
	small = file_size(cp_path(self));

	ASSERT_EQ(0, fill_dated(self, 20, 200, t));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_at(self, log, at, &inc)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(200ULL + 1, kt_ledger_signatures_checked(log));
	kt_ledger_close(log);
	large = file_size(cp_path(self));
	EXPECT_LT(0, small);
	/* Only the tree's frontier differs: one hash per bit set in the size. */
	EXPECT_EQ(small + KT_HASH_LEN * (__builtin_popcount(220) - __builtin_popcount(20)), large)
		TH_LOG("checkpoint %ld bytes at 20 entries, %ld at 220", small, large);
	ASSERT_NE(NULL, log = reopen(self, true)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_score_compute(log, VM1, at, &full, &self->err));
	kt_ledger_close(log);
	EXPECT_EQ(full.score, inc.score);
	EXPECT_EQ(full.last_attest, inc.last_attest);
	EXPECT_EQ(full.last_time, inc.last_time);
	kt_score_result_free(&full);
	kt_score_result_free(&inc);

	/* Dated before the checkpoint's latest entry: the whole log, the full answer. */
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_score_compute(log, VM1, t + 1, &inc, &self->err)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(220ULL + 1, kt_ledger_signatures_checked(log));
	kt_ledger_close(log);
	ASSERT_NE(NULL, log = reopen(self, true)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_score_compute(log, VM1, t + 1, &full, &self->err));
	kt_ledger_close(log);
	EXPECT_EQ(80, inc.score);
	EXPECT_EQ(full.score, inc.score);
	EXPECT_EQ(full.nsteps, inc.nsteps);
	kt_score_result_free(&full);
	kt_score_result_free(&inc);
}

/* The proof a checkpoint builds from its frontier is RFC 9162's, for every m < n. */
TEST(compact_consistency_proof)
{
	kt_hash leaves[24], frontier[8], p1[KT_MERKLE_MAX_PROOF], p2[KT_MERKLE_MAX_PROOF], r;
	uint64_t m, n, at, size;
	int l1, l2;
	size_t nf;

	for (n = 0; n < 24; n++)
		kt_sha256(&n, sizeof(n), leaves[n]);
	for (m = 1; m < 24; m++) {
		for (nf = 0, at = 0; at < m; at += size, nf++) {
			size = 1ULL << (63 - __builtin_clzll(m - at));
			kt_merkle_root(leaves + at, size, frontier[nf]);
		}
		for (n = m; n <= 24; n++) {
			l1 = kt_merkle_consistency_proof(leaves, m, n, p1);
			l2 = kt_merkle_consistency_proof_compact(frontier, nf, m, leaves + m, n, p2);
			ASSERT_EQ(l1, l2) TH_LOG("m %llu n %llu", (unsigned long long)m,
						 (unsigned long long)n);
			EXPECT_EQ(0, memcmp(p1, p2, (size_t)l1 * KT_HASH_LEN));
			kt_merkle_root(leaves, m, r);
			kt_merkle_root(leaves, n, p1[KT_MERKLE_MAX_PROOF - 1]);
			EXPECT_EQ(0, kt_merkle_verify_consistency(m, n, r, p1[KT_MERKLE_MAX_PROOF - 1],
								  p2, (size_t)l2));
		}
	}
}

/* KT_SRCDIR (user/Makefile): the binary may be built outside user/tests/. */
static char *python_lines(const char *cmd, const char *args, char *out, size_t cap)
{
	size_t got;
	char *full;
	FILE *p;

	if (asprintf(&full, "python3 %s/scripts/lib/rfc9162.py %s %s", KT_SRCDIR, cmd, args) < 0)
		return NULL;
	p = popen(full, "r");
	free(full);
	if (!p)
		return NULL;
	got = fread(out, 1, cap - 1, p);
	out[got] = '\0';
	return pclose(p) == 0 ? out : NULL;
}

/* Space-separated hex of the first n raw entries. */
static char *entries_hex(FIXTURE_DATA(ledger) *self, uint64_t n)
{
	struct kt_ledger_entry e;
	char *all = calloc(1, 1), *hex, *grown;
	size_t used = 0, len;
	uint8_t *raw;
	uint64_t i;

	for (i = 0; i < n && all; i++) {
		if (kt_ledger_get(self->log, i, &e, &raw, &len, &self->err))
			return NULL;
		hex = malloc(2 * len + 1);
		grown = realloc(all, used + 2 * len + 2);
		if (!hex || !grown)
			return NULL;
		all = grown;
		kt_hex_encode(raw, len, hex);
		used += (size_t)sprintf(all + used, " %s", hex);
		free(hex);
		free(raw);
	}
	return all;
}

static void proof_text(const kt_hash *proof, size_t len, char *out)
{
	size_t i;

	*out = '\0';
	for (i = 0; i < len; i++) {
		kt_hex_encode(proof[i], KT_HASH_LEN, out);
		out += 2 * KT_HASH_LEN;
		*out++ = '\n';
		*out = '\0';
	}
}

TEST_F(ledger, proofs_match_rfc9162_py)
{
	kt_hash proof[KT_MERKLE_MAX_PROOF], leaf, root, root_m;
	char got[4096], want[4096], args[64], *hex, *cmd;
	struct kt_ledger_sth sth;
	uint64_t n = 13, i, m;
	size_t len;
	uint8_t *raw;

	ASSERT_EQ(0, fill(self, (int)n));
	hex = entries_hex(self, n);
	ASSERT_NE(NULL, hex);
	ASSERT_NE(NULL, python_lines("root", hex, want, sizeof(want)));
	ASSERT_EQ(0, kt_ledger_head(self->log, &sth, &raw, &self->err));
	kt_hex_encode(sth.root, KT_HASH_LEN, got);
	free(raw);
	EXPECT_EQ(0, strncmp(want, got, 2 * KT_HASH_LEN)) TH_LOG("signed root %s", got);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, kt_ledger_prove_inclusion(self->log, i, 0, leaf, root, proof, &len,
						       &self->err));
		EXPECT_EQ(0, kt_merkle_verify_inclusion(leaf, i, n, proof, len, sth.root));
		proof_text(proof, len, got);
		ASSERT_GT(asprintf(&cmd, "%llu %s", (unsigned long long)i, hex), 0);
		ASSERT_NE(NULL, python_lines("path", cmd, want, sizeof(want)));
		free(cmd);
		EXPECT_STREQ(want, got) TH_LOG("inclusion of %llu", (unsigned long long)i);
	}
	for (m = 1; m <= n; m++) {
		ASSERT_EQ(0, kt_ledger_prove_consistency(self->log, m, 0, root_m, root, proof,
							 &len, &self->err));
		EXPECT_EQ(0, kt_merkle_verify_consistency(m, n, root_m, sth.root, proof, len));
		proof_text(proof, len, got);
		snprintf(args, sizeof(args), "%llu", (unsigned long long)m);
		ASSERT_GT(asprintf(&cmd, "%s %s", args, hex), 0);
		ASSERT_NE(NULL, python_lines("proof", cmd, want, sizeof(want)));
		free(cmd);
		EXPECT_STREQ(want, got) TH_LOG("consistency %llu -> %llu", (unsigned long long)m,
					       (unsigned long long)n);
	}
	free(hex);
	EXPECT_NE(0, kt_ledger_prove_inclusion(self->log, n, 0, leaf, root, proof, &len,
					       &self->err));
	EXPECT_NE(0, kt_ledger_prove_consistency(self->log, 3, n + 1, root_m, root, proof, &len,
						 &self->err));
}

/* Two processes appending at once through SQLite's compare-and-swap. */
TEST_F(ledger, concurrent_writers_do_not_fork)
{
	uint64_t size, bad;
	pid_t pids[2];
	int i, status;

	kt_ledger_close(self->log);
	self->log = NULL;
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (!pids[i]) {
			struct kt_ledger *log;
			int j, bad_appends = 0;

			if (kt_ledger_open(self->db, self->auth, KT_LEDGER_WRITE, &log, &self->err))
				_exit(2);
			self->log = log;
			for (j = 0; j < 40; j++)
				bad_appends += append(self, i ? &self->host2 : &self->host1,
						      KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0) != 0;
			kt_ledger_close(log);
			_exit(bad_appends ? 1 : 0);
		}
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_EQ(0, status);
	}
	ASSERT_EQ(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_READ, &self->log, &self->err));
	ASSERT_EQ(0, verify(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(80ULL, size);
}

/*
 * Only KT_LEDGER_CREATE makes a ledger: a missing or mistyped one is
 * refused, never created, and a read-only log refuses appends.
 */
TEST_F(ledger, open_fails_closed)
{
	static const char *const bad_specs[] = {
		"foo:bar", "/tmp/no-scheme.db", "sqlite:", "etcd:", "etcd:ftp://x", "",
	};
	struct kt_ledger *log = NULL;
	struct kt_ledger_entry e;
	char spec[300], path[256];
	uint64_t size, bad;
	struct stat st;
	unsigned int i;
	kt_hash leaf;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/typo.db", self->dir);
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	EXPECT_NE(0, kt_ledger_open(spec, self->auth, KT_LEDGER_READ, &log, &self->err));
	EXPECT_STREQ("no-ledger", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, path)) TH_LOG("%s", self->err.msg);
	EXPECT_NE(0, kt_ledger_open(spec, self->auth, KT_LEDGER_WRITE, &log, &self->err));
	EXPECT_STREQ("no-ledger", self->err.check);
	EXPECT_NE(0, stat(path, &st)) TH_LOG("opening '%s' created it", path);
	for (i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		/* "" would fall back to $KVMTRUST_LEDGER and the default: name one that is not there. */
		setenv("KVMTRUST_LEDGER", "sqlite:/nonexistent/kvmtrust/ledger.db", 1);
		EXPECT_NE(0, kt_ledger_open(bad_specs[i], self->auth, KT_LEDGER_READ, &log,
					    &self->err)) TH_LOG("'%s' opened", bad_specs[i]);
		EXPECT_TRUE(!strcmp(self->err.check, "spec") || !strcmp(self->err.check, "no-ledger"))
			TH_LOG("'%s': %s: %s", bad_specs[i], self->err.check, self->err.msg);
	}
	EXPECT_NE(0, stat("/tmp/no-scheme.db", &st));

	/* Creating refuses an existing ledger, and any other file. */
	EXPECT_NE(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_CREATE, &log, &self->err));
	EXPECT_STREQ("exists", self->err.check);
	snprintf(spec, sizeof(spec), "sqlite:%s", in(self, "ca.pem"));
	EXPECT_NE(0, kt_ledger_open(spec, self->auth, KT_LEDGER_CREATE, &log, &self->err));
	EXPECT_STREQ("exists", self->err.check);
	EXPECT_EQ(0, stat(in(self, "ca.pem"), &st));
	EXPECT_GT(st.st_size, 0);

	/* A SQLite file that is not a ledger is not taken for an empty one. */
	snprintf(path, sizeof(path), "%s/other.db", self->dir);
	ASSERT_EQ(SQLITE_OK, sqlite3_open(path, &db));
	ASSERT_EQ(SQLITE_OK, sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL));
	sqlite3_close(db);
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	EXPECT_NE(0, kt_ledger_open(spec, self->auth, KT_LEDGER_WRITE, &log, &self->err));
	EXPECT_STREQ("no-ledger", self->err.check);

	/* Read-only: reads work, appends are refused before anything is signed. */
	ASSERT_EQ(0, fill(self, 2));
	ASSERT_EQ(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_READ, &log, &self->err))
		TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_ledger_verify(log, &size, &bad, &self->err)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(2ULL, size);
	entry_init(&e, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0);
	EXPECT_NE(0, kt_ledger_append(log, &self->host1, &e, leaf, &self->err));
	EXPECT_NE(NULL, strstr(self->err.msg, "read-only")) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
}

/* New entries name VMs by UUID (and grants as grant:UUID); names are refused. */
TEST_F(ledger, new_entries_name_vms_by_uuid)
{
	EXPECT_NE(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_PASS, "web", NULL, 0));
	EXPECT_STREQ("format", self->err.check);
	EXPECT_NE(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_PASS,
			    "7D4F2B1A-3C5E-4F60-8A9B-0C1D2E3F4A5B", NULL, 0));
	EXPECT_NE(0, append(self, &self->host1, KT_LEDGER_REVOKE, 0, "grant:web", NULL, 0));
	EXPECT_NE(0, append(self, &self->host1, KT_LEDGER_REVOKE, 0, ":" VM1, NULL, 0));
	EXPECT_EQ(0, append(self, &self->host1, KT_LEDGER_REVOKE, 0, "grant:" VM1, NULL, 0))
		TH_LOG("%s", self->err.msg);
	EXPECT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0))
		TH_LOG("%s", self->err.msg);
}

static const char *owner_of(FIXTURE_DATA(ledger) *self, const char *vm, struct kt_owner *o)
{
	if (kt_owner_read(self->log, vm, o, NULL, &self->err))
		return self->err.msg;
	return o->registered ? o->subject : "(none)";
}

/*
 * Owners register their VMs; the first register wins. Hosts cannot
 * register, owners cannot write anything else, and a ledger CA never
 * vouches for an owner.
 */
TEST_F(ledger, owners_register_vms)
{
	struct kt_ledger_signer alice, bob, carol;
	struct kt_ledger_auth *both, *blind;
	struct kt_ledger *log;
	struct kt_ledger_entry e;
	uint64_t size, bad;
	struct kt_owner o;
	kt_hash leaf;

	ASSERT_EQ(0, load_signer(self, "alice", &alice)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, load_signer(self, "bob", &bob)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, load_signer(self, "carol", &carol)) TH_LOG("%s", self->err.msg);
	EXPECT_STREQ("(none)", owner_of(self, VM1, &o));

	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0));
	ASSERT_EQ(0, append(self, &alice, KT_LEDGER_REGISTER, 0, VM1, NULL, 0))
		TH_LOG("%s", self->err.msg);
	EXPECT_STREQ("CN=alice", owner_of(self, VM1, &o));
	EXPECT_EQ(1ULL, o.index);
	/* The head is now signed by alice: hosts go on appending after her. */
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM3, NULL, 0))
		TH_LOG("%s", self->err.msg);

	EXPECT_NE(0, append(self, &bob, KT_LEDGER_REGISTER, 0, VM1, NULL, 0));
	EXPECT_STREQ("owner", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "CN=alice")) TH_LOG("%s", self->err.msg);
	EXPECT_NE(0, append(self, &alice, KT_LEDGER_REGISTER, 0, VM1, NULL, 0));
	EXPECT_STREQ("registered", self->err.check);
	EXPECT_EQ(0, append(self, &bob, KT_LEDGER_REGISTER, 0, VM3, NULL, 0)) TH_LOG("%s", self->err.msg);

	EXPECT_NE(0, append(self, &self->host1, KT_LEDGER_REGISTER, 0, VM9, NULL, 0));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "host certificate")) TH_LOG("%s", self->err.msg);
	EXPECT_NE(0, append(self, &alice, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM1, NULL, 0));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(0, append(self, &alice, KT_LEDGER_REVOKE, 0, VM3, NULL, 0));
	EXPECT_STREQ("authorization", self->err.check);
	/* carol is a user certificate, but the ledger CA's: refused even where both are trusted. */
	EXPECT_NE(0, append(self, &carol, KT_LEDGER_REGISTER, 0, VM9, NULL, 0));
	EXPECT_STREQ("authorization", self->err.check);
	ASSERT_EQ(0, kt_ledger_auth_load(in(self, "ca.pem"), in(self, "owners-both"), &both,
					 &self->err));
	ASSERT_EQ(0, kt_ledger_open(self->db, both, KT_LEDGER_WRITE, &log, &self->err));
	entry_init(&e, KT_LEDGER_REGISTER, 0, VM9, NULL, 0);
	EXPECT_NE(0, kt_ledger_append(log, &carol, &e, leaf, &self->err));
	EXPECT_NE(NULL, strstr(self->err.msg, "kept apart")) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	kt_ledger_auth_free(both);

	ASSERT_EQ(0, verify(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(4ULL, size);
	/* Without the owner anchors the register entry cannot be judged: fail closed. */
	ASSERT_EQ(0, kt_ledger_auth_load(in(self, "ca.pem"), NULL, &blind, &self->err));
	ASSERT_EQ(0, kt_ledger_open(self->db, blind, KT_LEDGER_READ, &log, &self->err));
	EXPECT_NE(0, kt_ledger_verify(log, &size, &bad, &self->err));
	EXPECT_EQ(1ULL, bad);
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "owner-anchors")) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	kt_ledger_auth_free(blind);
	kt_ledger_signer_free(&alice);
	kt_ledger_signer_free(&bob);
	kt_ledger_signer_free(&carol);
}

/* A second register that got in anyway (another writer's bug) does not move the VM. */
TEST_F(ledger, owner_fold_keeps_the_first)
{
	struct kt_ledger_signer alice, bob;
	struct kt_ledger_entry e;
	struct kt_owner o = { 0 };

	ASSERT_EQ(0, load_signer(self, "alice", &alice));
	ASSERT_EQ(0, load_signer(self, "bob", &bob));
	entry_init(&e, KT_LEDGER_REGISTER, 0, VM1, NULL, 1);
	e.index = 4;
	e.cert = alice.cert;
	e.cert_len = alice.cert_len;
	ASSERT_EQ(0, kt_owner_feed(&o, VM1, &e));
	e.index = 9;
	e.cert = bob.cert;
	e.cert_len = bob.cert_len;
	ASSERT_EQ(0, kt_owner_feed(&o, VM1, &e));
	ASSERT_EQ(0, kt_owner_feed(&o, VM3, &e));	/* about another VM: not counted */
	EXPECT_TRUE(o.registered);
	EXPECT_EQ(4ULL, o.index);
	EXPECT_STREQ("CN=alice", o.subject);
	EXPECT_EQ(1ULL, o.ignored);
	kt_ledger_signer_free(&alice);
	kt_ledger_signer_free(&bob);
}

/* Score through a real ledger: same answer as the table, from verified entries only. */
TEST_F(ledger, score_from_ledger)
{
	struct kt_score_result r;
	/* Entry times must lie within the certificates' validity, which starts now. */
	uint64_t t = (uint64_t)time(NULL) + 60;

	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, WEB, NULL, t));
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_PASS, DB, NULL, t));
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_PASS, WEB, NULL, t + 60));
	ASSERT_EQ(0, kt_score_compute(self->log, WEB, t + 60 + 2 * 3600 + 59, &r, &self->err))
		TH_LOG("%s", self->err.msg);
	/* 100 - 20 + 5 = 85, then 2 full hours of decay. */
	EXPECT_EQ(83, r.score);
	EXPECT_EQ((int)KT_SCORE_ALLOW, (int)r.decision);
	ASSERT_EQ(3U, r.nsteps);
	EXPECT_EQ(0ULL, r.steps[0].index);
	EXPECT_EQ(2ULL, r.steps[1].index);
	EXPECT_STREQ("decay", r.steps[2].reason);
	kt_score_result_free(&r);

	EXPECT_NE(0, kt_score_compute(self->log, VM9, t, &r, &self->err));
	EXPECT_STREQ("vm", self->err.check);

	ASSERT_EQ(0, flip_byte(self, 1, 101));
	EXPECT_NE(0, kt_score_compute(self->log, WEB, t, &r, &self->err));
	EXPECT_EQ(0, strncmp(self->err.msg, "entry 1:", 8)) TH_LOG("%s", self->err.msg);
}

/* Scoring table: entries fed straight to the scorer. */
struct ev {
	int kind, result;
	const char *vm, *host, *signer;
	uint64_t time;
};

struct score_case {
	const char *name;
	struct ev ev[12];
	uint64_t now;
	int score;
	enum kt_score_decision decision;
	bool compromised;
};

#define H 3600ULL
#define T0 1000000000ULL
#define PASS(t) { KT_LEDGER_ATTEST, KT_LEDGER_PASS, "vm", HOST1, HOST1, (t) }
#define FAIL(t) { KT_LEDGER_ATTEST, KT_LEDGER_FAIL, "vm", HOST1, HOST1, (t) }
#define OTHER_FAIL(vm, t) { KT_LEDGER_ATTEST, KT_LEDGER_FAIL, vm, HOST1, HOST1, (t) }

static const struct score_case score_table[] = {
	{ "one pass clamps at 100", { PASS(T0) }, T0, 100, KT_SCORE_ALLOW, false },
	{ "one fail: 80, but the last result failed: verify", { FAIL(T0) }, T0, 80,
	  KT_SCORE_VERIFY, false },
	{ "clamp after each step: pass, fail is 80 not 85", { PASS(T0), FAIL(T0) }, T0, 80,
	  KT_SCORE_VERIFY, false },
	{ "fail then pass", { FAIL(T0), PASS(T0) }, T0, 85, KT_SCORE_ALLOW, false },
	{ "six fails clamp at 0", { FAIL(T0), FAIL(T0 + 2 * 86400), FAIL(T0 + 4 * 86400),
	  FAIL(T0 + 6 * 86400), FAIL(T0 + 8 * 86400), FAIL(T0 + 10 * 86400) },
	  T0 + 10 * 86400, 0, KT_SCORE_DENY, false },
	{ "decay counts full hours only", { PASS(T0) }, T0 + 10 * H + H - 1, 90, KT_SCORE_ALLOW,
	  false },
	{ "decay from the last entry", { PASS(T0), FAIL(T0 + 5 * H) }, T0 + 5 * H + 3 * H, 77,
	  KT_SCORE_VERIFY, false },
	{ "decay clamps at 0", { PASS(T0) }, T0 + 1000 * H, 0, KT_SCORE_DENY, false },
	{ "exactly 75 needs verification", { FAIL(T0), PASS(T0) }, T0 + 10 * H, 75,
	  KT_SCORE_VERIFY, false },
	{ "76 is allowed", { FAIL(T0), PASS(T0) }, T0 + 9 * H, 76, KT_SCORE_ALLOW, false },
	{ "exactly 50 needs verification", { FAIL(T0), FAIL(T0 + 2 * 86400) },
	  T0 + 2 * 86400 + 10 * H, 50, KT_SCORE_VERIFY, false },
	{ "49 is denied", { FAIL(T0), FAIL(T0 + 2 * 86400) }, T0 + 2 * 86400 + 11 * H, 49,
	  KT_SCORE_DENY, false },
	{ "entries after now do not count", { FAIL(T0), FAIL(T0 + H) }, T0, 80, KT_SCORE_VERIFY,
	  false },
	{ "a later pass lifts the cap of a failure", { PASS(T0), FAIL(T0), PASS(T0), PASS(T0),
	  PASS(T0) }, T0, 95, KT_SCORE_ALLOW, false },
	{ "the last attestation in log order counts, not the latest time",
	  { PASS(T0), PASS(T0), FAIL(T0 + H), PASS(T0) }, T0 + H, 84, KT_SCORE_ALLOW, false },
	{ "a move after a failure leaves the failure last",
	  { PASS(T0), FAIL(T0), { KT_LEDGER_MOVE, 0, "vm", HOST1, HOST1, T0 } }, T0, 80,
	  KT_SCORE_VERIFY, false },
	{ "a register entry counts for nothing, decay included",
	  { PASS(T0), { KT_LEDGER_REGISTER, 0, "vm", NULL, NULL, T0 + 5 * H } }, T0 + 5 * H, 95,
	  KT_SCORE_ALLOW, false },
	{ "three failures on the host within 24 h (inclusive): compromised",
	  { OTHER_FAIL("a", T0), OTHER_FAIL("b", T0 + 1), OTHER_FAIL("c", T0 + 86400),
	    PASS(T0 + 86400) }, T0 + 86400, 50, KT_SCORE_VERIFY, true },
	{ "three failures spread over more than 24 h: not compromised",
	  { OTHER_FAIL("a", T0), OTHER_FAIL("b", T0 + 1), OTHER_FAIL("c", T0 + 86401),
	    PASS(T0 + 86401) }, T0 + 86401, 100, KT_SCORE_ALLOW, false },
	{ "failures of the VM itself count towards its host",
	  { FAIL(T0), FAIL(T0 + 1), FAIL(T0 + 2) }, T0 + 2, 0, KT_SCORE_DENY, true },
	{ "explicit compromise flag",
	  { PASS(T0), { KT_LEDGER_COMPROMISE, 0, "", HOST1, HOST2, T0 } }, T0, 50,
	  KT_SCORE_VERIFY, true },
	{ "compromise flag on another host does not matter",
	  { PASS(T0), { KT_LEDGER_COMPROMISE, 0, "", HOST2, HOST2, T0 } }, T0, 100,
	  KT_SCORE_ALLOW, false },
	{ "moving onto a compromised host lowers the VM",
	  { PASS(T0), { KT_LEDGER_COMPROMISE, 0, "", HOST2, HOST1, T0 },
	    { KT_LEDGER_MOVE, 0, "vm", HOST2, HOST2, T0 } }, T0, 50, KT_SCORE_VERIFY, true },
	{ "moving off a compromised host restores it",
	  { PASS(T0), { KT_LEDGER_COMPROMISE, 0, "", HOST1, HOST2, T0 },
	    { KT_LEDGER_MOVE, 0, "vm", HOST2, HOST2, T0 } }, T0, 100, KT_SCORE_ALLOW, false },
	{ "compromise and a failure: 80 - 50",
	  { FAIL(T0), { KT_LEDGER_COMPROMISE, 0, "", HOST1, HOST2, T0 } }, T0, 30,
	  KT_SCORE_DENY, true },
	{ "revoked VM is denied",
	  { PASS(T0), { KT_LEDGER_REVOKE, 0, "vm", NULL, HOST2, T0 } }, T0, 0, KT_SCORE_DENY,
	  false },
	{ "revoked host counts as compromised and its later entries are ignored",
	  { { KT_LEDGER_REVOKE, 0, "", HOST2, HOST1, T0 }, PASS(T0),
	    { KT_LEDGER_ATTEST, KT_LEDGER_FAIL, "vm", HOST2, HOST2, T0 } }, T0, 100,
	  KT_SCORE_ALLOW, false },
	{ "VMs on a revoked host are lowered",
	  { { KT_LEDGER_ATTEST, KT_LEDGER_PASS, "vm", HOST2, HOST2, T0 },
	    { KT_LEDGER_REVOKE, 0, "", HOST2, HOST1, T0 } }, T0, 50, KT_SCORE_VERIFY, true },
};

TEST(scoring_table)
{
	unsigned int c, i;

	for (c = 0; c < sizeof(score_table) / sizeof(score_table[0]); c++) {
		const struct score_case *sc = &score_table[c];
		struct kt_score *s = kt_score_new("vm", sc->now);
		struct kt_score_result r;
		struct kt_err err = { 0 };
		struct kt_ledger_entry e;

		ASSERT_NE(NULL, s);
		for (i = 0; i < 12 && sc->ev[i].kind; i++) {
			entry_init(&e, sc->ev[i].kind, sc->ev[i].result, sc->ev[i].vm,
				   sc->ev[i].host, sc->ev[i].time);
			if (sc->ev[i].signer)
				kt_uuid_parse(sc->ev[i].signer, e.signer_id);
			e.index = i;
			ASSERT_EQ(0, kt_score_feed(s, &e));
		}
		ASSERT_EQ(0, kt_score_finish(s, &r, &err)) TH_LOG("%s: %s", sc->name, err.msg);
		EXPECT_EQ(sc->score, r.score) TH_LOG("%s", sc->name);
		EXPECT_EQ((int)sc->decision, (int)r.decision) TH_LOG("%s", sc->name);
		EXPECT_EQ(sc->compromised, r.host_compromised) TH_LOG("%s", sc->name);
		/* Every step's score is the previous one plus its delta, clamped. */
		for (i = 0; i < r.nsteps; i++) {
			int before = i ? r.steps[i - 1].score : KT_SCORE_START;
			int want = before + r.steps[i].delta;

			want = want < 0 ? 0 : want > 100 ? 100 : want;
			EXPECT_EQ(want, r.steps[i].score) TH_LOG("%s step %u", sc->name, i);
		}
		if (r.nsteps)
			EXPECT_EQ(r.score, r.steps[r.nsteps - 1].score) TH_LOG("%s", sc->name);
		kt_score_result_free(&r);
		kt_score_free(s);
	}
}

TEST(thresholds)
{
	EXPECT_EQ((int)KT_SCORE_ALLOW, (int)kt_score_decide(100, false));
	EXPECT_EQ((int)KT_SCORE_ALLOW, (int)kt_score_decide(76, false));
	EXPECT_EQ((int)KT_SCORE_VERIFY, (int)kt_score_decide(75, false));
	EXPECT_EQ((int)KT_SCORE_VERIFY, (int)kt_score_decide(50, false));
	EXPECT_EQ((int)KT_SCORE_DENY, (int)kt_score_decide(49, false));
	EXPECT_EQ((int)KT_SCORE_DENY, (int)kt_score_decide(0, false));
	/* The last result counts: a failure caps the decision at verify, never lifts it. */
	EXPECT_EQ((int)KT_SCORE_VERIFY, (int)kt_score_decide(100, true));
	EXPECT_EQ((int)KT_SCORE_VERIFY, (int)kt_score_decide(76, true));
	EXPECT_EQ((int)KT_SCORE_VERIFY, (int)kt_score_decide(50, true));
	EXPECT_EQ((int)KT_SCORE_DENY, (int)kt_score_decide(49, true));
}

/* VM i of host h: 3000000h-0000-4000-8000-00000000000i (two hex digits of i). */
static void batch_vm(int h, int i, char out[KT_UUID_STR_LEN + 1])
{
	snprintf(out, KT_UUID_STR_LEN + 1, "3000000%d-0000-4000-8000-0000000000%02x", h, i);
}

/* Seals n results of host h's VMs (every third a failure) at time t. */
static int seal(FIXTURE_DATA(ledger) *self, const struct kt_ledger_signer *s, const char *host,
		int h, int n, uint64_t t, uint8_t **out, size_t *len)
{
	struct kt_batch_result r[64];
	uint8_t id[KT_UUID_LEN];
	int i;

	memset(r, 0, sizeof(r));
	for (i = 0; i < n; i++) {
		batch_vm(h, i, r[i].vm_id);
		r[i].result = i % 3 == 2 ? KT_LEDGER_FAIL : KT_LEDGER_PASS;
		r[i].report[0] = (uint8_t)i;
		r[i].memory_root[1] = (uint8_t)i;
	}
	kt_uuid_parse(host, id);
	return kt_batch_seal(s, id, t, r, (size_t)n, out, len, &self->err);
}

/* A full verify through a new handle (the fixture's follows what it appended). */
static int verify_fresh(FIXTURE_DATA(ledger) *self, uint64_t *size, uint64_t *bad)
{
	struct kt_ledger *log;
	int ret;

	kt_err_clear(&self->err);
	if (kt_ledger_open(self->db, self->auth, KT_LEDGER_READ, &log, &self->err))
		return -1;
	ret = kt_ledger_verify(log, size, bad, &self->err);
	kt_ledger_close(log);
	return ret;
}

static int append_sealed(FIXTURE_DATA(ledger) *self, const struct kt_ledger_signer *s,
			 const char *host, int h, int n, uint64_t t)
{
	struct kt_ledger_entry e;
	uint8_t *b;
	size_t len;
	kt_hash leaf;
	int ret;

	if (seal(self, s, host, h, n, t, &b, &len))
		return -1;
	kt_err_clear(&self->err);
	ret = kt_ledger_append_batch(self->log, s, (const uint8_t *const *)&b, &len, 1, &e, leaf,
				     &self->err);
	free(b);
	return ret;
}

/*
 * One result changed inside a stored batch: verify names the entry, the
 * batch and the result; the result's proof against the signed batch root
 * fails, the untouched results' proofs still hold.
 */
TEST_F(ledger, batch_tamper_names_the_result)
{
	uint64_t now = (uint64_t)time(NULL), size, bad;
	kt_hash proof[KT_MERKLE_MAX_PROOF], proof1[KT_MERKLE_MAX_PROOF], leaf;
	struct kt_ledger_entry e;
	struct kt_batch b;
	size_t raw_len, plen, plen1, off = 0;
	char vm[KT_UUID_STR_LEN + 1], want[160];
	uint8_t *raw;
	long at;

	ASSERT_EQ(0, fill(self, 2));
	ASSERT_EQ(0, append_sealed(self, &self->host1, HOST1, 1, 5, now)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, append_sealed(self, &self->host2, HOST2, 2, 4, now)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, verify_fresh(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(4ULL, size);

	/* Where result 3 of entry 2's batch sits: flip its result byte. */
	ASSERT_EQ(0, kt_ledger_get(self->log, 2, &e, &raw, &raw_len, &self->err));
	ASSERT_EQ(0, kt_batch_body_next(e.body, e.body_len, &off, &b, &self->err));
	at = (long)(b.records + 3 * KT_BATCH_RECORD_STRIDE + 16 - raw);
	ASSERT_EQ(0, kt_batch_prove(&b, 1, proof1, &plen1));
	free(raw);
	/* pass (1) <-> fail (2) */
	flip_mask = 0x03;
	ASSERT_EQ(0, flip_byte(self, 2, at));
	flip_mask = 0x40;
	ASSERT_NE(0, verify_fresh(self, &size, &bad));
	EXPECT_EQ(2ULL, bad);
	EXPECT_STREQ("batch", self->err.check);
	batch_vm(1, 3, vm);
	snprintf(want, sizeof(want), "entry 2: batch 0 (host %s): result 3 (VM %s)", HOST1, vm);
	EXPECT_EQ(0, strncmp(self->err.msg, want, strlen(want))) TH_LOG("%s", self->err.msg);

	/* The proof of the changed result fails; one made before the change still holds. */
	ASSERT_EQ(0, kt_ledger_get(self->log, 2, &e, &raw, &raw_len, &self->err));
	off = 0;
	ASSERT_EQ(0, kt_batch_body_next(e.body, e.body_len, &off, &b, &self->err));
	ASSERT_EQ(0, kt_batch_prove(&b, 3, proof, &plen));
	kt_batch_record_leaf(&b, 3, leaf);
	EXPECT_NE(0, kt_merkle_verify_inclusion(leaf, 3, b.n, proof, plen, b.root));
	kt_batch_record_leaf(&b, 1, leaf);
	EXPECT_EQ(0, kt_merkle_verify_inclusion(leaf, 1, b.n, proof1, plen1, b.root));

	/* Changed together with its check bytes: the batch's signed root catches it. */
	kt_batch_record_leaf(&b, 3, leaf);
	memcpy((uint8_t *)b.records + 3 * KT_BATCH_RECORD_STRIDE + KT_BATCH_RECORD_LEN, leaf,
	       KT_BATCH_CHECK_LEN);
	ASSERT_EQ(0, tamper(self, "UPDATE ledger_entries SET data = ?1 WHERE idx = 2", raw, raw_len));
	free(raw);
	ASSERT_NE(0, verify_fresh(self, &size, &bad));
	EXPECT_EQ(2ULL, bad);
	EXPECT_NE(NULL, strstr(self->err.msg, "do not hash to the batch's signed root"))
		TH_LOG("%s", self->err.msg);
	/* A result that is neither pass nor fail is a format error, named the same way. */
	ASSERT_EQ(0, flip_byte(self, 2, at));
	ASSERT_NE(0, verify_fresh(self, &size, &bad));
	EXPECT_EQ(2ULL, bad);
	EXPECT_STREQ("format", self->err.check);
	EXPECT_EQ(0, strncmp(self->err.msg, "entry 2: batch 0: result 3:", 27))
		TH_LOG("%s", self->err.msg);
}

/* A batch may not speak for a VM the log places on another host, nor come twice. */
TEST_F(ledger, batch_refuses_other_hosts_vms_and_replays)
{
	uint64_t now = (uint64_t)time(NULL), size;
	char vm[KT_UUID_STR_LEN + 1];
	struct kt_ledger_entry e;
	kt_hash leaf;
	uint8_t *b;
	size_t len;

	batch_vm(1, 2, vm);
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_MOVE, 0, vm, HOST2, 0))
		TH_LOG("%s", self->err.msg);
	ASSERT_NE(0, append_sealed(self, &self->host1, HOST1, 1, 4, now));
	EXPECT_STREQ("placement", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "result 2 (VM 30000001-0000-4000-8000-000000000002): "
			       "the VM is on host " HOST2)) TH_LOG("%s", self->err.msg);
	/* Without that VM it goes in; the same interval again does not. */
	ASSERT_EQ(0, append_sealed(self, &self->host1, HOST1, 1, 2, now)) TH_LOG("%s", self->err.msg);
	ASSERT_NE(0, append_sealed(self, &self->host1, HOST1, 1, 2, now));
	EXPECT_STREQ("replay", self->err.check);
	/* A batch signed by another host than the one it names. */
	ASSERT_EQ(0, seal(self, &self->host2, HOST1, 1, 1, now + 1, &b, &len));
	EXPECT_NE(0, kt_ledger_append_batch(self->log, &self->host2, (const uint8_t *const *)&b,
					    &len, 1, &e, leaf, &self->err));
	EXPECT_STREQ("authorization", self->err.check) TH_LOG("%s", self->err.msg);
	free(b);
	ASSERT_EQ(0, verify(self, &size, NULL)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(2ULL, size);
}

/* ---- host batches of a TPM key: version 2, quoted (fake_quote.h: no TPM here) ---- */

/* The signer's quote(): PCR 23 from 0x5a.. extended with digest, quoted by the key in ctx. */
static int soft_quote(void *ctx, const kt_hash digest, struct kt_quote *q, struct kt_err *err)
{
	struct fake_quote f;
	TPMS_ATTEST a;

	memset(q, 0, sizeof(*q));
	q->pcr = 23;
	memset(q->pcr_prev, 0x5a, KT_HASH_LEN);
	kt_pcr_extend_sw(q->pcr_prev, digest, q->pcr_value);
	base_attest(&a, q->pcr_value, digest);
	make_quote(ctx, &a, &f);
	q->attest = f.attest;
	q->sig = f.sig;
	return 0;
}

/*
 * Batch a with the quote fields of batch q (its quote cut to attest_len
 * and sig_len bytes), then a's own signature and records: a quote spliced
 * in from another header, cut short or left out.
 */
static uint8_t *splice_quote(const struct kt_batch *a, const struct kt_batch *q,
			     size_t attest_len, size_t sig_len, size_t *len)
{
	size_t pre = KT_BATCH_HEADER_FIXED + a->cert_len, rest = a->len - (size_t)(a->sig - a->raw);
	uint8_t *p, *o;

	*len = pre + 1 + KT_HASH_LEN + 2 + attest_len + 2 + sig_len + rest;
	p = malloc(*len);
	if (!p)
		return NULL;
	memcpy(p, a->raw, pre);
	o = p + pre;
	*o++ = (uint8_t)q->pcr;
	memcpy(o, q->pcr_prev, KT_HASH_LEN);
	o += KT_HASH_LEN;
	kt_be_put(o, attest_len, 2);
	memcpy(o + 2, q->quote, attest_len);
	o += 2 + attest_len;
	kt_be_put(o, sig_len, 2);
	memcpy(o + 2, q->quote_sig, sig_len);
	memcpy(o + 2 + sig_len, a->sig, rest);
	return p;
}

/*
 * Entry idx (a batch entry of host1's, one host batch) rewritten to hold
 * `batch` and signed again by host1: what a dishonest appender could store.
 */
static int store_batch_entry(FIXTURE_DATA(ledger) *self, uint64_t idx, const uint8_t *batch,
			     size_t blen)
{
	uint8_t *raw, *body = NULL, *enc = NULL;
	size_t raw_len, body_len, enc_len, tbs_len;
	struct kt_ledger_entry e;
	char sql[96];
	int ret = -1;

	if (kt_ledger_get(self->log, idx, &e, &raw, &raw_len, &self->err))
		return -1;
	if (kt_batch_body_encode(&batch, &blen, 1, &body, &body_len, e.measurement, &self->err))
		goto out;
	e.body = body;
	e.body_len = body_len;
	snprintf(sql, sizeof(sql), "UPDATE ledger_entries SET data = ?1 WHERE idx = %llu",
		 (unsigned long long)idx);
	if (kt_ledger_entry_encode(&e, &enc, &enc_len, &tbs_len) ||
	    kt_es256_sign(self->host1.key, enc, tbs_len, enc + tbs_len, &self->err))
		goto out;
	ret = tamper(self, sql, enc, enc_len);
out:
	free(enc);
	free(body);
	free(raw);
	return ret;
}

TEST_F(ledger, batch_quote_binds_the_root_to_the_tpm_key)
{
	uint64_t now = (uint64_t)time(NULL), size, bad;
	struct kt_ledger_signer tpm = self->host1, other_tpm = self->host1;
	EVP_PKEY *other = EVP_EC_gen("P-256");
	uint8_t *a_raw, *b_raw, *c_raw, *v1_raw, *x, *kept;
	size_t a_len, b_len, c_len, v1_len, x_len, kept_len, i;
	struct kt_batch a, b, c;
	struct kt_ledger_entry e;
	kt_hash leaf;
	const struct {
		const char *what, *msg;
		const struct kt_batch *from;
		int cut;		/* -1: no quote at all */
	} cases[] = {
		{ "a quote over another root", "qualifying data", &b, 0 },
		{ "a quote by another key", "does not verify with the signer's key", &c, 0 },
		{ "a truncated quote", "quote", &a, 1 },
		{ "a TPM key without a quote", "claims a TPM key but carries no quote", &a, -1 },
	};

	ASSERT_NE(NULL, other);
	tpm.quote = soft_quote;
	tpm.ctx = self->host1.key;
	other_tpm.quote = soft_quote;
	other_tpm.ctx = other;
	ASSERT_EQ(0, seal(self, &tpm, HOST1, 1, 5, now, &a_raw, &a_len)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, seal(self, &tpm, HOST1, 1, 4, now, &b_raw, &b_len));
	ASSERT_EQ(0, seal(self, &other_tpm, HOST1, 1, 5, now, &c_raw, &c_len));
	ASSERT_EQ(0, seal(self, &self->host1, HOST1, 1, 5, now, &v1_raw, &v1_len));
	ASSERT_EQ(0, kt_batch_parse(a_raw, a_len, &a, &self->err));
	ASSERT_EQ(0, kt_batch_parse(b_raw, b_len, &b, &self->err));
	ASSERT_EQ(0, kt_batch_parse(c_raw, c_len, &c, &self->err));
	/* The TPM key writes version 2 with its quote, a software key version 1. */
	EXPECT_EQ(KT_BATCH_VERSION_TPM, a.version);
	EXPECT_EQ(KT_BATCH_VERSION, v1_raw[0]);
	EXPECT_EQ(v1_len + 1 + KT_HASH_LEN + 2 + a.quote_len + 2 + a.quote_sig_len, a_len);
	EXPECT_EQ(0, kt_batch_check_quote(&a, self->host1.key, &self->err)) TH_LOG("%s", self->err.msg);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kt_batch *q = cases[i].from;

		x = cases[i].cut < 0 ? splice_quote(&a, q, 0, 0, &x_len) :
		    splice_quote(&a, q, q->quote_len - (size_t)cases[i].cut, q->quote_sig_len, &x_len);
		ASSERT_NE(NULL, x);
		kt_err_clear(&self->err);
		EXPECT_NE(0, kt_ledger_append_batch(self->log, &tpm, (const uint8_t *const *)&x,
						    &x_len, 1, &e, leaf, &self->err))
			TH_LOG("append of %s", cases[i].what);
		EXPECT_STREQ("batch-quote", self->err.check) TH_LOG("%s: %s", cases[i].what,
								   self->err.msg);
		EXPECT_NE(NULL, strstr(self->err.msg, cases[i].msg)) TH_LOG("%s", self->err.msg);
		free(x);
	}
	/* Old and new versions in one log: both verify. */
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_PASS,
			    "10000000-0000-4000-8000-000000000001", NULL, 0)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_ledger_append_batch(self->log, &tpm, (const uint8_t *const *)&a_raw, &a_len,
					    1, &e, leaf, &self->err)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, append_sealed(self, &self->host2, HOST2, 2, 3, now)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, verify_fresh(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(3ULL, size);

	/* The same batches stored by a dishonest appender: verify names entry 1's quote. */
	ASSERT_EQ(0, kt_ledger_get(self->log, 1, &e, &kept, &kept_len, &self->err));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kt_batch *q = cases[i].from;

		x = cases[i].cut < 0 ? splice_quote(&a, q, 0, 0, &x_len) :
		    splice_quote(&a, q, q->quote_len - (size_t)cases[i].cut, q->quote_sig_len, &x_len);
		ASSERT_NE(NULL, x);
		ASSERT_EQ(0, store_batch_entry(self, 1, x, x_len)) TH_LOG("%s", self->err.msg);
		free(x);
		EXPECT_NE(0, verify_fresh(self, &size, &bad)) TH_LOG("verify of %s", cases[i].what);
		EXPECT_EQ(1ULL, bad);
		EXPECT_STREQ("batch-quote", self->err.check) TH_LOG("%s: %s", cases[i].what,
								   self->err.msg);
		EXPECT_NE(NULL, strstr(self->err.msg, "entry 1: batch 0 (host " HOST1 "): "))
			TH_LOG("%s", self->err.msg);
	}
	/* Put back as appended: it verifies again. */
	ASSERT_EQ(0, tamper(self, "UPDATE ledger_entries SET data = ?1 WHERE idx = 1", kept,
			    kept_len));
	EXPECT_EQ(0, verify_fresh(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	free(kept);
	free(a_raw);
	free(b_raw);
	free(c_raw);
	free(v1_raw);
	EVP_PKEY_free(other);
}

/* The same results as single entries and as batches: the same scores and host flags. */
TEST_F(ledger, batched_results_score_as_single_entries)
{
	uint64_t now = (uint64_t)time(NULL);
	struct kt_ledger *singles;
	struct kt_score_result a, b;
	char db[160], vm[KT_UUID_STR_LEN + 1];
	struct kt_ledger_entry e;
	kt_hash leaf;
	int round, i, v;

	snprintf(db, sizeof(db), "sqlite:%s/singles.db", self->dir);
	ASSERT_EQ(0, kt_ledger_open(db, self->auth, KT_LEDGER_CREATE, &singles, &self->err));
	for (round = 0; round < 3; round++) {
		ASSERT_EQ(0, append_sealed(self, &self->host1, HOST1, 1, 6, now + round))
			TH_LOG("%s", self->err.msg);
		for (i = 0; i < 6; i++) {
			batch_vm(1, i, vm);
			entry_init(&e, KT_LEDGER_ATTEST, i % 3 == 2 ? KT_LEDGER_FAIL : KT_LEDGER_PASS,
				   vm, NULL, now + round);
			ASSERT_EQ(0, kt_ledger_append(singles, &self->host1, &e, leaf, &self->err));
		}
	}
	for (v = 0; v < 6; v++) {
		batch_vm(1, v, vm);
		ASSERT_EQ(0, kt_score_compute(self->log, vm, now + 10, &a, &self->err))
			TH_LOG("%s", self->err.msg);
		ASSERT_EQ(0, kt_score_compute(singles, vm, now + 10, &b, &self->err));
		EXPECT_EQ(b.score, a.score);
		EXPECT_EQ(b.decision, a.decision);
		EXPECT_EQ(b.host_compromised, a.host_compromised);
		EXPECT_EQ(b.last_result, a.last_result);
		EXPECT_EQ(b.nsteps, a.nsteps);
		EXPECT_EQ(0, memcmp(a.host_id, b.host_id, KT_UUID_LEN));
		kt_score_result_free(&a);
		kt_score_result_free(&b);
	}
	/* 6 failures (2 a round) within 24 hours: host1 is compromised in both. */
	batch_vm(1, 0, vm);
	ASSERT_EQ(0, kt_score_compute(self->log, vm, now + 10, &a, &self->err));
	EXPECT_TRUE(a.host_compromised);
	kt_score_result_free(&a);
	kt_ledger_close(singles);
}

/* After a checkpoint, a new batch entry costs its own signature and its host batches'. */
TEST_F(ledger, batch_checkpoint_costs_what_is_new)
{
	uint64_t now = (uint64_t)time(NULL);
	struct kt_score_result full, inc;
	struct kt_ledger *log;
	char vm[KT_UUID_STR_LEN + 1];

	ASSERT_EQ(0, append_sealed(self, &self->host1, HOST1, 1, 8, now));
	ASSERT_EQ(0, fill(self, 5));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_and_save(self, log, &full)) TH_LOG("%s", self->err.msg);
	kt_score_result_free(&full);
	kt_ledger_close(log);
	ASSERT_EQ(0, append_sealed(self, &self->host1, HOST1, 1, 8, now + 1));
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	batch_vm(1, 2, vm);
	ASSERT_EQ(0, kt_score_compute(log, vm, now + 5, &inc, &self->err)) TH_LOG("%s", self->err.msg);
	/* The entry, its one host batch, the head. */
	EXPECT_EQ(3ULL, kt_ledger_signatures_checked(log));
	ASSERT_EQ(0, kt_ledger_checkpoint_save(log, &self->err)) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	ASSERT_NE(NULL, log = reopen(self, true));
	ASSERT_EQ(0, kt_score_compute(log, vm, now + 5, &full, &self->err));
	EXPECT_EQ(full.score, inc.score);
	EXPECT_EQ(full.nsteps, inc.nsteps);
	kt_score_result_free(&full);
	kt_score_result_free(&inc);
	kt_ledger_close(log);
	/* The saved checkpoint, batch facts and all, loads and still refuses a replayed batch. */
	ASSERT_NE(NULL, log = reopen(self, false)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_ledger_verify(log, NULL, NULL, &self->err)) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	ASSERT_NE(0, append_sealed(self, &self->host1, HOST1, 1, 2, now + 1));
	EXPECT_STREQ("replay", self->err.check);
}

/* The sequencer: three queued host batches become one entry; a bad one is dropped. */
TEST_F(ledger, sequencer_integrates_the_queue)
{
	uint64_t now = (uint64_t)time(NULL), size;
	struct kt_ledger_entry e;
	size_t taken, dropped, len;
	kt_hash leaf;
	uint8_t *b;
	int i;

	for (i = 1; i <= 2; i++) {
		ASSERT_EQ(0, seal(self, i == 1 ? &self->host1 : &self->host2, i == 1 ? HOST1 : HOST2,
				  i, 3, now, &b, &len));
		ASSERT_EQ(0, kt_ledger_enqueue_batch(self->log, b, len, &self->err));
		free(b);
	}
	/* host2 claiming host1's VMs in a later interval: dropped, the rest goes in. */
	ASSERT_EQ(0, seal(self, &self->host2, HOST2, 1, 3, now + 1, &b, &len));
	ASSERT_EQ(0, kt_ledger_enqueue_batch(self->log, b, len, &self->err));
	free(b);
	ASSERT_EQ(0, kt_ledger_integrate(self->log, &self->host1, 10, &taken, &dropped, &e, leaf,
					 &self->err)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(2U, taken);
	EXPECT_EQ(1U, dropped);
	EXPECT_STREQ("placement", self->err.check);
	EXPECT_EQ(KT_LEDGER_BATCH, e.kind);
	/* Nothing left: the next tick writes nothing. */
	ASSERT_EQ(0, kt_ledger_integrate(self->log, &self->host1, 10, &taken, &dropped, &e, leaf,
					 &self->err));
	EXPECT_EQ(0U, taken + dropped);
	ASSERT_EQ(0, verify(self, &size, NULL)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(1ULL, size);
}

/* Blobs by name for kt_batch_refs_expand(): two host batches, one may be hidden. */
struct blobs {
	char name[2][KT_BATCH_NAME_LEN + 1];
	uint8_t *data[2];
	size_t len[2];
	bool hide[2];
};

static int blob_fetch(void *arg, const char *name, uint8_t **data, size_t *len,
		      struct kt_err *err)
{
	struct blobs *b = arg;
	int i;

	for (i = 0; i < 2; i++) {
		if (strcmp(b->name[i], name) || b->hide[i])
			continue;
		*data = malloc(b->len[i]);
		memcpy(*data, b->data[i], b->len[i]);
		*len = b->len[i];
		return 0;
	}
	return kt_fail(err, "missing", "no %s", name);
}

/*
 * A version 4 body: references that expand to exactly the version 3 body,
 * with the same root; a blob missing, a record changed (named) and a byte
 * changed outside the records are each refused.
 */
TEST_F(ledger, batch_references_expand_and_are_checked)
{
	uint64_t now = (uint64_t)time(NULL);
	kt_hash root3, root4;
	struct blobs bl = { 0 };
	struct kt_batch b;
	uint8_t *refs, *body3, *body;
	size_t refs_len, body3_len, body_len;
	char vm[KT_UUID_STR_LEN + 1], want[160];
	int i;

	ASSERT_EQ(0, seal(self, &self->host1, HOST1, 1, 5, now, &bl.data[0], &bl.len[0]));
	ASSERT_EQ(0, seal(self, &self->host2, HOST2, 2, 4, now, &bl.data[1], &bl.len[1]));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_batch_parse(bl.data[i], bl.len[i], &b, &self->err));
		kt_batch_name(b.host_id, b.time, bl.name[i]);
	}
	ASSERT_EQ(0, kt_batch_body_encode((const uint8_t *const *)bl.data, bl.len, 2, &body3,
					  &body3_len, root3, &self->err));
	ASSERT_EQ(0, kt_batch_refs_encode((const uint8_t *const *)bl.data, bl.len, 2, &refs,
					  &refs_len, root4, &self->err));
	EXPECT_EQ((size_t)(4 + 2 * KT_BATCH_REF_LEN), refs_len);
	EXPECT_EQ(0, memcmp(root3, root4, KT_HASH_LEN));
	ASSERT_EQ(0, kt_batch_refs_expand(refs, refs_len, blob_fetch, &bl, &body, &body_len,
					  &self->err)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(body3_len, body_len);
	EXPECT_EQ(0, memcmp(body3, body, body_len));
	free(body);

	bl.hide[1] = true;
	EXPECT_NE(0, kt_batch_refs_expand(refs, refs_len, blob_fetch, &bl, &body, &body_len,
					  &self->err));
	EXPECT_STREQ("batch-blob", self->err.check);
	snprintf(want, sizeof(want), "batch 1 (host %s): its stored host batch %s is missing",
		 HOST2, bl.name[1]);
	EXPECT_STREQ(want, self->err.msg);
	bl.hide[1] = false;

	/* Result 3 of host1's batch: pass <-> fail. */
	ASSERT_EQ(0, kt_batch_parse(bl.data[0], bl.len[0], &b, &self->err));
	bl.data[0][b.header_len + 3 * KT_BATCH_RECORD_STRIDE + 16] ^= 0x03;
	EXPECT_NE(0, kt_batch_refs_expand(refs, refs_len, blob_fetch, &bl, &body, &body_len,
					  &self->err));
	EXPECT_STREQ("batch", self->err.check);
	batch_vm(1, 3, vm);
	snprintf(want, sizeof(want), "batch 0 (host %s): result 3 (VM %s)", HOST1, vm);
	EXPECT_EQ(0, strncmp(self->err.msg, want, strlen(want))) TH_LOG("%s", self->err.msg);
	bl.data[0][b.header_len + 3 * KT_BATCH_RECORD_STRIDE + 16] ^= 0x03;

	/* The last signature byte: the records still match, the digest does not. */
	bl.data[0][b.header_len - 1] ^= 0x01;
	EXPECT_NE(0, kt_batch_refs_expand(refs, refs_len, blob_fetch, &bl, &body, &body_len,
					  &self->err));
	EXPECT_STREQ("batch-blob", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "differs from the one the entry references"))
		TH_LOG("%s", self->err.msg);
	bl.data[0][b.header_len - 1] ^= 0x01;

	EXPECT_NE(0, kt_batch_refs_expand(refs, refs_len - 1, blob_fetch, &bl, &body, &body_len,
					  &self->err));
	EXPECT_STREQ("format", self->err.check);
	free(refs);
	free(body3);
	free(bl.data[0]);
	free(bl.data[1]);
}

TEST(entry_encoding_is_strict)
{
	static const uint8_t cert[3] = { 0x30, 0x01, 0x00 };
	struct kt_ledger_entry e, d;
	struct kt_err err = { 0 };
	size_t len, tbs;
	uint8_t *buf;

	entry_init(&e, KT_LEDGER_ATTEST, KT_LEDGER_PASS, "vm-1", HOST1, 42);
	e.index = 7;
	e.cert = cert;
	e.cert_len = sizeof(cert);
	ASSERT_EQ(0, kt_ledger_entry_encode(&e, &buf, &len, &tbs));
	EXPECT_EQ(166U + 4 + 3, len);
	EXPECT_EQ(len - 64, tbs);
	ASSERT_EQ(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(7ULL, d.index);
	EXPECT_EQ(42ULL, d.time);
	EXPECT_STREQ("vm-1", d.vm_id);
	EXPECT_NE(0, kt_ledger_entry_decode(buf, len - 1, &d, &tbs, &err));
	EXPECT_STREQ("format", err.check);
	buf[2] = KT_LEDGER_NONE;	/* an attestation without a result */
	EXPECT_NE(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err));
	buf[2] = KT_LEDGER_PASS;
	buf[100] = '/';			/* outside the VM id alphabet */
	EXPECT_NE(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err));
	buf[100] = 'v';
	/* Old ids still decode: only new appends must name a UUID. */
	EXPECT_EQ(1, buf[0]);		/* version 1 kinds keep their version 1 bytes */
	buf[0] = 2;			/* one encoding per entry: attest is version 1 */
	EXPECT_NE(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err));
	EXPECT_NE(NULL, strstr(err.msg, "version")) TH_LOG("%s", err.msg);
	buf[0] = 3;			/* unknown version */
	EXPECT_NE(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err));
	free(buf);

	/* Register entries, added in version 2: a VM and nothing else. */
	entry_init(&e, KT_LEDGER_REGISTER, KT_LEDGER_NONE, VM1, NULL, 42);
	e.cert = cert;
	e.cert_len = sizeof(cert);
	ASSERT_EQ(0, kt_ledger_entry_encode(&e, &buf, &len, &tbs));
	EXPECT_EQ(2, buf[0]);
	EXPECT_EQ(KT_LEDGER_REGISTER, buf[1]);
	ASSERT_EQ(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ(VM1, d.vm_id);
	buf[0] = 1;			/* version 1 has no register kind */
	EXPECT_NE(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err));
	buf[0] = 2;
	buf[2] = KT_LEDGER_PASS;	/* a register has no result */
	EXPECT_NE(0, kt_ledger_entry_decode(buf, len, &d, &tbs, &err));
	EXPECT_STREQ("format", err.check);
	free(buf);
}

/* A chain of one certificate of the test PKI, for kt_ledger_certs_revoked(). */
static STACK_OF(X509) *chain_of(FIXTURE_DATA(ledger) *self, const char *name)
{
	return kt_pki_load_certs(in(self, name), &self->err);
}

/* The revocation of cert NAME, signed by signer; 0 or -1 with self->err. */
static int revoke_cert(FIXTURE_DATA(ledger) *self, struct kt_ledger *log,
		       const struct kt_ledger_signer *signer, const char *name)
{
	struct kt_ledger_entry e;
	X509 *cert = kt_pki_load_cert(in(self, name), &self->err);
	kt_hash leaf;
	int ret;

	if (!cert)
		return -1;
	kt_err_clear(&self->err);
	ret = kt_ledger_cert_revoke_entry(cert, "keyCompromise", &e, &self->err) ?:
	      kt_ledger_append(log, signer, &e, leaf, &self->err);
	X509_free(cert);
	return ret;
}

/*
 * Certificates are revoked by their issuing CA only, at append and when a
 * walk verifies; readers find the revocation with or without a checkpoint.
 */
TEST_F(ledger, cert_revocation_by_issuing_ca_only)
{
	struct kt_ledger_signer ca, inter, rogue, nocrl;
	struct kt_ledger_auth *dir_auth;
	struct kt_ledger *log;
	STACK_OF(X509) *host1 = chain_of(self, "host1.pem"), *host2 = chain_of(self, "host2.pem");
	STACK_OF(X509) *longserial;
	struct kt_ledger_entry e;
	uint64_t size, bad, index = 0;
	uint8_t *raw;
	size_t len;
	int which = -1;
	kt_hash leaf;

	ASSERT_NE(NULL, host1);
	ASSERT_NE(NULL, host2);
	ASSERT_EQ(0, load_signer(self, "ca", &ca)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, load_signer(self, "inter", &inter));
	ASSERT_EQ(0, load_signer(self, "rogue", &rogue));
	ASSERT_EQ(0, fill(self, 3));

	/* A host may not revoke another host's certificate, nor its own. */
	EXPECT_NE(0, revoke_cert(self, self->log, &self->host2, "host1.pem"));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "only a CA revokes")) TH_LOG("%s", self->err.msg);
	EXPECT_NE(0, revoke_cert(self, self->log, &self->host1, "host1.pem"));
	EXPECT_STREQ("authorization", self->err.check);
	/* A CA outside the ledger's hierarchy; a CA without cRLSign. */
	EXPECT_NE(0, revoke_cert(self, self->log, &rogue, "intruder.pem"));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "not trusted")) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, load_signer(self, "nocrl", &nocrl));
	EXPECT_NE(0, revoke_cert(self, self->log, &nocrl, "host1.pem"));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "no cRLSign")) TH_LOG("%s", self->err.msg);
	kt_ledger_signer_free(&nocrl);
	/* A CA of the hierarchy that did not issue it (the ledger CA dir holds inter). */
	ASSERT_EQ(0, kt_ledger_auth_load(in(self, "cadir"), NULL, &dir_auth, &self->err));
	ASSERT_EQ(0, kt_ledger_open(self->db, dir_auth, KT_LEDGER_WRITE, &log, &self->err));
	EXPECT_NE(0, revoke_cert(self, log, &inter, "host1.pem"));
	EXPECT_STREQ("authorization", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "only the issuing CA")) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(0, revoke_cert(self, log, &inter, "host3.pem")) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	kt_ledger_auth_free(dir_auth);
	/* A serial too long to name can be neither revoked nor cleared (fail closed). */
	EXPECT_NE(0, revoke_cert(self, self->log, &ca, "longserial.pem"));
	EXPECT_STREQ("revocation", self->err.check);
	EXPECT_NE(NULL, strstr(self->err.msg, "cannot be named")) TH_LOG("%s", self->err.msg);
	longserial = chain_of(self, "longserial.pem");
	ASSERT_NE(NULL, longserial);
	EXPECT_EQ(-1, kt_ledger_certs_revoked(self->log, longserial, &which, &index, &self->err));
	EXPECT_STREQ("revocation", self->err.check);
	sk_X509_pop_free(longserial, X509_free);
	/* An id that does not repeat the report's issuer hash is refused as malformed. */
	entry_init(&e, KT_LEDGER_REVOKE, 0, NULL, NULL, 0);
	ASSERT_EQ(0, kt_ledger_cert_id(sk_X509_value(host1, 0), e.vm_id, e.report, &self->err));
	e.report[0] ^= 1;
	EXPECT_NE(0, kt_ledger_append(self->log, &ca, &e, leaf, &self->err));
	EXPECT_STREQ("format", self->err.check);
	/* The issuing CA may: entry 4 (the inter CA's is entry 3, placed by cadir only). */
	EXPECT_EQ(0, kt_ledger_certs_revoked(self->log, host1, &which, &index, &self->err));
	ASSERT_EQ(0, revoke_cert(self, self->log, &ca, "host1.pem")) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, kt_ledger_get(self->log, 4, &e, &raw, &len, &self->err));
	EXPECT_EQ(KT_LEDGER_REVOKE, e.kind);
	EXPECT_EQ(3, raw[0]);		/* format version 3: it has a report field */
	EXPECT_STREQ("keyCompromise", e.detail);
	free(raw);

	/* Both verify: inter chains to the root, and each revoked what it issued. */
	ASSERT_EQ(0, verify(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(5ULL, size);
	ASSERT_EQ(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_READ, &log, &self->err));
	EXPECT_EQ(1, kt_ledger_certs_revoked(log, host1, &which, &index, &self->err));
	EXPECT_EQ(0, which);
	EXPECT_EQ(4ULL, index);
	EXPECT_EQ(0, kt_ledger_certs_revoked(log, host2, &which, &index, &self->err));
	/* From a checkpoint: the facts still say it. */
	ASSERT_EQ(0, kt_ledger_checkpoint_use(log, cp_path(self), false, &self->err));
	EXPECT_EQ(1, kt_ledger_certs_revoked(log, host1, &which, &index, &self->err));
	ASSERT_EQ(0, kt_ledger_checkpoint_save(log, &self->err)) TH_LOG("%s", self->err.msg);
	kt_ledger_close(log);
	ASSERT_EQ(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_READ, &log, &self->err));
	ASSERT_EQ(0, kt_ledger_checkpoint_use(log, cp_path(self), false, &self->err))
		TH_LOG("%s", self->err.msg);
	EXPECT_EQ(1, kt_ledger_certs_revoked(log, host1, &which, &index, &self->err));
	EXPECT_EQ(4ULL, index);
	/* Only the signed head was verified: the entries came from the checkpoint. */
	EXPECT_EQ(1ULL, kt_ledger_signatures_checked(log));
	kt_ledger_close(log);
	kt_ledger_signer_free(&ca);
	kt_ledger_signer_free(&inter);
	kt_ledger_signer_free(&rogue);
	sk_X509_pop_free(host1, X509_free);
	sk_X509_pop_free(host2, X509_free);
}

/* VM vm's score at `now` through a fresh handle, from the checkpoint or in full. */
static int score_via(FIXTURE_DATA(ledger) *self, bool full, const char *vm,
		     struct kt_score_result *r)
{
	struct kt_ledger *log = reopen(self, full);
	int ret;

	if (!log)
		return -1;
	ret = kt_score_compute(log, vm, (uint64_t)time(NULL), r, &self->err) ?:
	      kt_ledger_checkpoint_save(log, &self->err);
	kt_ledger_close(log);
	return ret;
}

/*
 * Entries a host signs after its certificate was revoked in the ledger
 * count for nothing (no score, no host flag, no placement), from a full
 * walk and from a checkpoint alike; verify lists them; the entries before
 * the revocation still count; a batch it appends or sequences is refused.
 */
TEST_F(ledger, revoked_certificate_entries_do_not_count)
{
	const struct kt_ledger_not_counted *nc;
	struct kt_score_result vm1, vm3, full;
	struct kt_ledger_signer ca;
	struct kt_ledger_entry e;
	size_t n, i, taken, dropped;
	uint64_t size, bad, now = (uint64_t)time(NULL);
	uint8_t *b;
	size_t len;
	kt_hash leaf;

	ASSERT_EQ(0, load_signer(self, "ca", &ca)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, VM1, NULL, 0));
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM3, NULL, 0));
	/* A checkpoint before the revocation: the incremental check must fold it too. */
	ASSERT_EQ(0, score_via(self, false, VM1, &vm1)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(80, vm1.score);
	kt_score_result_free(&vm1);
	/* A host batch of host1 sealed before the revocation, queued for the sequencer. */
	ASSERT_EQ(0, seal(self, &self->host1, HOST1, 1, 3, now, &b, &len));
	ASSERT_EQ(0, kt_ledger_enqueue_batch(self->log, b, len, &self->err));
	free(b);
	ASSERT_EQ(0, revoke_cert(self, self->log, &ca, "host1.pem")) TH_LOG("%s", self->err.msg);
	/* Entry 2. Then host1 (revoked) fails VM1 three times, flags host2, moves VM3. */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, VM1,
				    NULL, 0));
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_COMPROMISE, 0, NULL, HOST2, 0));
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_MOVE, 0, VM3, NULL, 0));
	ASSERT_EQ(0, append(self, &self->host2, KT_LEDGER_ATTEST, KT_LEDGER_PASS, VM3, NULL, 0));

	/* The log verifies; the five entries are listed, by the revocation. */
	ASSERT_EQ(0, verify_fresh(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(9ULL, size);
	ASSERT_EQ(0, verify(self, &size, &bad)) TH_LOG("%s", self->err.msg);
	n = kt_ledger_not_counted(self->log, &nc);
	ASSERT_EQ(5U, n);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(3 + i, nc[i].index);
		EXPECT_EQ(2ULL, nc[i].revoked_in);
		EXPECT_EQ(-1, nc[i].batch_no);
		EXPECT_EQ(0, strncmp(nc[i].cert_id, "cert:", 5)) TH_LOG("%s", nc[i].cert_id);
	}

	/* From the checkpoint taken before the revocation, then in full: the same. */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, score_via(self, i == 1, VM1, &vm1)) TH_LOG("%s", self->err.msg);
		ASSERT_EQ(0, score_via(self, i == 1, VM3, &vm3)) TH_LOG("%s", self->err.msg);
		/* VM1: only the failure before the revocation; host1 not flagged by a burst. */
		EXPECT_EQ(80, vm1.score);
		EXPECT_FALSE(vm1.host_compromised);
		EXPECT_EQ(0ULL, vm1.last_attest);
		/* VM3: still on host2, which host1's entry did not flag. */
		EXPECT_EQ(100, vm3.score);
		EXPECT_FALSE(vm3.host_compromised);
		kt_uuid_parse(HOST2, e.host_id);
		EXPECT_EQ(0, memcmp(vm3.host_id, e.host_id, KT_UUID_LEN));
		kt_score_result_free(&vm1);
		kt_score_result_free(&vm3);
	}
	/* A checkpoint after the revocation still knows it: a later entry does not count. */
	ASSERT_EQ(0, append(self, &self->host1, KT_LEDGER_ATTEST, KT_LEDGER_FAIL, VM1, NULL, 0));
	ASSERT_EQ(0, score_via(self, false, VM1, &vm1)) TH_LOG("%s", self->err.msg);
	ASSERT_EQ(0, score_via(self, true, VM1, &full)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(80, vm1.score);
	EXPECT_EQ(full.score, vm1.score);
	EXPECT_EQ(full.last_attest, vm1.last_attest);
	kt_score_result_free(&vm1);
	kt_score_result_free(&full);

	/* host1 may not append a batch; host2 may not sequence host1's queued one. */
	EXPECT_NE(0, append_sealed(self, &self->host1, HOST1, 1, 3, now + 1));
	EXPECT_STREQ("revocation", self->err.check) TH_LOG("%s", self->err.msg);
	kt_err_clear(&self->err);
	entry_init(&e, 0, 0, NULL, NULL, 0);
	ASSERT_EQ(0, kt_ledger_integrate(self->log, &self->host2, 10, &taken, &dropped, &e, leaf,
					 &self->err)) TH_LOG("%s", self->err.msg);
	EXPECT_EQ(0U, taken);
	EXPECT_EQ(1U, dropped);
	EXPECT_STREQ("revocation", self->err.check) TH_LOG("%s", self->err.msg);
	kt_ledger_signer_free(&ca);
}

/*
 * kvmtrustd's loop: append, then score through the same handle. With the
 * checkpoint kept in memory, each score after the first verifies the new
 * entry and the head only, and equals a full walk's.
 */
TEST_F(ledger, memory_checkpoint_scores_cost_what_is_new)
{
	struct kt_score_result inc, full;
	struct kt_ledger *log;
	uint64_t before;
	kt_hash leaf;
	struct kt_ledger_entry e;
	int i;

	ASSERT_EQ(0, fill(self, 30));
	ASSERT_EQ(0, kt_ledger_open(self->db, self->auth, KT_LEDGER_WRITE, &log, &self->err));
	ASSERT_EQ(0, kt_ledger_checkpoint_memory(log, &self->err));
	ASSERT_EQ(0, kt_score_compute(log, VM1, (uint64_t)time(NULL), &inc, &self->err))
		TH_LOG("%s", self->err.msg);
	EXPECT_EQ(30ULL + 1, kt_ledger_signatures_checked(log));
	kt_score_result_free(&inc);
	for (i = 0; i < 4; i++) {
		entry_init(&e, KT_LEDGER_ATTEST, i == 2 ? KT_LEDGER_FAIL : KT_LEDGER_PASS, VM1, NULL,
			   0);
		ASSERT_EQ(0, kt_ledger_append(log, &self->host2, &e, leaf, &self->err));
		before = kt_ledger_signatures_checked(log);
		ASSERT_EQ(0, kt_score_compute(log, VM1, (uint64_t)time(NULL), &inc, &self->err))
			TH_LOG("%s", self->err.msg);
		/* The new entry and the head. */
		EXPECT_EQ(2ULL, kt_ledger_signatures_checked(log) - before);
		ASSERT_EQ(0, kt_score_compute(self->log, VM1, (uint64_t)time(NULL), &full,
					      &self->err));
		EXPECT_EQ(full.score, inc.score);
		EXPECT_EQ(full.decision, inc.decision);
		EXPECT_EQ(full.last_attest, inc.last_attest);
		EXPECT_EQ(e.index, inc.last_attest);
		/* The step before the new entry's is the score before it. */
		ASSERT_LE(2U, inc.nsteps);
		EXPECT_EQ(full.steps[full.nsteps - 2].score, inc.steps[inc.nsteps - 2].score);
		kt_score_result_free(&inc);
		kt_score_result_free(&full);
	}
	kt_ledger_close(log);
}

TEST_HARNESS_MAIN
