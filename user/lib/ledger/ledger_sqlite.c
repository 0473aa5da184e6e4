// SPDX-License-Identifier: GPL-2.0
/*
 * SQLite ledger backend: one file, WAL journal, synchronous=FULL. The file
 * is a ledger when it holds the two ledger tables, which only
 * KT_LEDGER_CREATE makes; reads open it read-only. An append
 * is one IMMEDIATE transaction that checks the head size it was built on,
 * inserts the entry and replaces the head; SQLite's atomic commit makes a
 * process killed at any point leave the old head or the new one. Host
 * batches waiting for a sequencer sit in a third table, ledger_queue,
 * made when the first is queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger/ledger_backend.h"

#define BUSY_TIMEOUT_MS 10000

struct sqlite_backend {
	struct kt_ledger_backend ops;
	sqlite3 *db;
	sqlite3_stmt *get_head, *get_entry, *scan, *put_entry, *put_head;
	bool damaged;		/* opened read-only for forensics, see open_damaged() */
};

/* Made once, by KT_LEDGER_CREATE: their presence is what makes a file a ledger. */
static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"BEGIN;"
	"CREATE TABLE ledger_head ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  size INTEGER NOT NULL,"
	"  record BLOB NOT NULL);"
	"CREATE TABLE ledger_entries ("
	"  idx INTEGER PRIMARY KEY,"
	"  data BLOB NOT NULL);"
	"COMMIT;";

/* "unavailable" when trying again later may help, "storage" when the file is bad. */
static int db_fail(struct sqlite_backend *s, struct kt_err *err, const char *what)
{
	switch (sqlite3_errcode(s->db)) {
	case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_CANTOPEN: case SQLITE_PERM:
	case SQLITE_READONLY: case SQLITE_FULL: case SQLITE_NOMEM:
		return kt_fail(err, "unavailable", "%s: %s", what, sqlite3_errmsg(s->db));
	}
	return kt_fail(err, "storage", "%s: %s", what, sqlite3_errmsg(s->db));
}

static int blob_copy(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);
	const void *p = sqlite3_column_blob(st, col);

	*out = malloc(n > 0 ? (size_t)n : 1);
	if (!*out)
		return -1;
	if (n > 0)
		memcpy(*out, p, (size_t)n);
	*len = (size_t)n;
	return 0;
}

static int sq_head(struct kt_ledger_backend *b, uint8_t **rec, size_t *len, uint64_t *version,
		   struct kt_err *err)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;
	int rc;

	*rec = NULL;
	*len = 0;
	*version = 0;
	sqlite3_reset(s->get_head);
	rc = sqlite3_step(s->get_head);
	if (rc == SQLITE_ROW) {
		*version = (uint64_t)sqlite3_column_int64(s->get_head, 0);
		if (blob_copy(s->get_head, 1, rec, len))
			rc = SQLITE_NOMEM;
		else
			rc = SQLITE_DONE;
	}
	sqlite3_reset(s->get_head);
	return rc == SQLITE_DONE ? 0 : db_fail(s, err, "cannot read the ledger head");
}

static int sq_get(struct kt_ledger_backend *b, uint64_t index, uint8_t **data, size_t *len,
		  struct kt_err *err)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;
	int rc, ret;

	sqlite3_reset(s->get_entry);
	sqlite3_bind_int64(s->get_entry, 1, (sqlite3_int64)index);
	rc = sqlite3_step(s->get_entry);
	if (rc == SQLITE_ROW)
		ret = blob_copy(s->get_entry, 0, data, len) ? kt_fail(err, "storage", "out of memory") : 0;
	else if (rc == SQLITE_DONE)
		ret = kt_fail(err, "missing", "no entry %llu", (unsigned long long)index);
	else
		ret = db_fail(s, err, "cannot read entry");
	sqlite3_reset(s->get_entry);
	return ret;
}

static int sq_scan(struct kt_ledger_backend *b, uint64_t from, uint64_t to, kt_ledger_scan_fn fn,
		   void *arg, struct kt_err *err)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;
	int rc, ret = 0;

	/* One read transaction: the scan sees a single snapshot of the log. */
	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, "cannot start reading");
	sqlite3_reset(s->scan);
	sqlite3_bind_int64(s->scan, 1, (sqlite3_int64)(from > INT64_MAX ? INT64_MAX : from));
	sqlite3_bind_int64(s->scan, 2, (sqlite3_int64)(to > INT64_MAX ? INT64_MAX : to));
	while ((rc = sqlite3_step(s->scan)) == SQLITE_ROW) {
		ret = fn((uint64_t)sqlite3_column_int64(s->scan, 0),
			 sqlite3_column_blob(s->scan, 1),
			 (size_t)sqlite3_column_bytes(s->scan, 1), arg);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(s, err, "cannot read entries");
	sqlite3_reset(s->scan);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return ret;
}

/* Deletes queued items inside the caller's transaction. */
static int queue_delete(struct sqlite_backend *s, const char *const *keys, size_t n)
{
	sqlite3_stmt *st;
	size_t i;
	int rc = SQLITE_DONE;

	if (!n)
		return 0;
	if (sqlite3_prepare_v2(s->db, "DELETE FROM ledger_queue WHERE key = ?", -1, &st, NULL))
		return -1;
	for (i = 0; i < n && rc == SQLITE_DONE; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int sq_enqueue(struct kt_ledger_backend *b, const char *key, const uint8_t *data,
		      size_t len, struct kt_err *err)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS ledger_queue (key TEXT PRIMARY KEY, "
			 "data BLOB NOT NULL)", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO ledger_queue VALUES (?, ?)", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, err, "cannot queue the batch");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(s, err, "cannot queue the batch");
}

static int sq_queue_scan(struct kt_ledger_backend *b, size_t max, kt_ledger_queue_fn fn,
			 void *arg, struct kt_err *err)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT key, data FROM ledger_queue ORDER BY key LIMIT ?", -1,
			       &st, NULL) != SQLITE_OK)
		/* Nothing was ever queued here. */
		return strstr(sqlite3_errmsg(s->db), "no such table") ? 0 :
			db_fail(s, err, "cannot read the queue");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ret = fn((const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
			 (size_t)sqlite3_column_bytes(st, 1), arg);
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(s, err, "cannot read the queue");
	sqlite3_finalize(st);
	return ret < 0 ? -1 : 0;
}

/* A queued row holds its batch: removing it removes a dropped one too. */
static int sq_dequeue(struct kt_ledger_backend *b, const char *const *keys,
		      const bool *dropped, size_t n, struct kt_err *err)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;

	(void)dropped;

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, "cannot start the removal");
	if (queue_delete(s, keys, n) ||
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, err, "cannot remove queued batches");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static int sq_append(struct kt_ledger_backend *b, uint64_t version, uint64_t index,
		     const uint8_t *entry, size_t entry_len, const uint8_t *head, size_t head_len,
		     const char *const *dequeue, const bool *dropped, size_t ndequeue,
		     struct kt_err *err)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;
	uint64_t current;
	uint8_t *rec;
	size_t len;
	int ret = -1;

	(void)dropped;	/* the queued rows hold the batches */
	if (s->damaged)
		return kt_fail(err, "storage", "the ledger file is damaged: run 'kvmtrust ledger verify'");
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, "cannot start the append");
	if (sq_head(b, &rec, &len, &current, err))
		goto rollback;
	free(rec);
	if (current != version) {
		ret = KT_LEDGER_CONFLICT;
		goto rollback;
	}
	sqlite3_reset(s->put_entry);
	sqlite3_bind_int64(s->put_entry, 1, (sqlite3_int64)index);
	sqlite3_bind_blob(s->put_entry, 2, entry, (int)entry_len, SQLITE_STATIC);
	sqlite3_reset(s->put_head);
	sqlite3_bind_int64(s->put_head, 1, (sqlite3_int64)(index + 1));
	sqlite3_bind_blob(s->put_head, 2, head, (int)head_len, SQLITE_STATIC);
	if (sqlite3_step(s->put_entry) != SQLITE_DONE || sqlite3_step(s->put_head) != SQLITE_DONE ||
	    queue_delete(s, dequeue, ndequeue)) {
		db_fail(s, err, "cannot store the entry");
		goto rollback;
	}
	sqlite3_reset(s->put_entry);
	sqlite3_reset(s->put_head);
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, err, "cannot commit the entry");
		goto rollback;
	}
	return 0;
rollback:
	sqlite3_reset(s->put_entry);
	sqlite3_reset(s->put_head);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

static void sq_close(struct kt_ledger_backend *b)
{
	struct sqlite_backend *s = (struct sqlite_backend *)b;

	sqlite3_finalize(s->get_head);
	sqlite3_finalize(s->get_entry);
	sqlite3_finalize(s->scan);
	sqlite3_finalize(s->put_entry);
	sqlite3_finalize(s->put_head);
	sqlite3_close(s->db);
	free(s);
}

static int prepare(struct sqlite_backend *s, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static int prepare_all(struct sqlite_backend *s)
{
	return prepare(s, "SELECT size, record FROM ledger_head WHERE id = 1", &s->get_head) ||
	       prepare(s, "SELECT data FROM ledger_entries WHERE idx = ?1", &s->get_entry) ||
	       prepare(s, "SELECT idx, data FROM ledger_entries WHERE idx >= ?1 AND idx < ?2 "
		          "ORDER BY idx", &s->scan) ||
	       prepare(s, "INSERT INTO ledger_entries (idx, data) VALUES (?1, ?2)",
		       &s->put_entry) ||
	       prepare(s, "INSERT OR REPLACE INTO ledger_head (id, size, record) "
		          "VALUES (1, ?1, ?2)", &s->put_head);
}

/*
 * A file cut short makes SQLite refuse it whole (its header counts more
 * pages than there are). For verify to name the first entry lost, such a
 * file is opened read-only with writable_schema, which makes SQLite read
 * what is there and fail at the first missing page. Appends are refused.
 */
static int open_damaged(struct sqlite_backend *s)
{
	sqlite3_stmt **st[] = { &s->get_head, &s->get_entry, &s->scan, &s->put_entry, &s->put_head };
	unsigned int i;

	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		sqlite3_finalize(*st[i]);
		*st[i] = NULL;
	}
	s->damaged = true;
	return sqlite3_exec(s->db, "PRAGMA query_only=ON; PRAGMA writable_schema=ON;", NULL,
			    NULL, NULL) != SQLITE_OK || prepare_all(s);
}

/* O_EXCL: two inits racing, or an init over any existing file, cannot both win. */
static int create_file(const char *path, struct kt_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd >= 0)
		return close(fd);
	if (errno == EEXIST)
		return kt_fail(err, "exists", "ledger '%s' exists already: nothing was changed", path);
	return kt_fail(err, "unavailable", "cannot create ledger '%s': %s", path, strerror(errno));
}

static void remove_files(const char *path)
{
	char *extra;

	unlink(path);
	if (asprintf(&extra, "%s-wal", path) >= 0) {
		unlink(extra);
		free(extra);
	}
	if (asprintf(&extra, "%s-shm", path) >= 0) {
		unlink(extra);
		free(extra);
	}
}

/* 1 when both ledger tables exist, 0 when not, -1 when the file cannot tell. */
static int tables_present(struct sqlite_backend *s)
{
	sqlite3_stmt *st;
	int rc, n = -1;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
			       "AND name IN ('ledger_head', 'ledger_entries')", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n < 0 ? -1 : n == 2;
}

static int open_db(struct sqlite_backend *s, const char *path, enum kt_ledger_mode mode,
		   struct kt_err *err)
{
	int flags = mode == KT_LEDGER_READ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;

	if (mode != KT_LEDGER_CREATE && access(path, F_OK) && errno == ENOENT)
		return kt_fail(err, "no-ledger",
			       "no ledger at 'sqlite:%s': create one with 'kvmtrust ledger init'", path);
	/* Never SQLITE_OPEN_CREATE: only create_file() makes a file. */
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK)
		return kt_fail(err, "unavailable", "cannot open ledger '%s': %s", path,
			       s->db ? sqlite3_errmsg(s->db) : "out of memory");
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (mode == KT_LEDGER_CREATE && sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, "cannot create the ledger tables");
	if (mode != KT_LEDGER_READ &&
	    sqlite3_exec(s->db, "PRAGMA synchronous=FULL;", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, "cannot set up the ledger");
	return 0;
}

struct kt_ledger_backend *kt_ledger_sqlite_open(const char *path, enum kt_ledger_mode mode,
						struct kt_err *err)
{
	struct sqlite_backend *s = calloc(1, sizeof(*s));
	bool created = false;
	int present;

	if (!s) {
		kt_fail(err, "storage", "out of memory");
		return NULL;
	}
	s->ops = (struct kt_ledger_backend){
		.name = "sqlite", .head = sq_head, .get = sq_get, .scan = sq_scan,
		.append = sq_append, .close = sq_close, .enqueue = sq_enqueue,
		.queue_scan = sq_queue_scan, .dequeue = sq_dequeue,
	};
	if (!*path) {
		kt_fail(err, "spec", "'sqlite:' names no file: use sqlite:PATH");
		goto fail;
	}
	if (mode == KT_LEDGER_CREATE) {
		if (create_file(path, err))
			goto fail;
		created = true;
	}
	if (open_db(s, path, mode, err))
		goto fail;
	present = tables_present(s);
	if (!present) {
		kt_fail(err, "no-ledger", "'sqlite:%s' is not a kvmtrust ledger (no ledger tables): "
			"create ledgers with 'kvmtrust ledger init'", path);
		goto fail;
	}
	if (present < 0 || prepare_all(s)) {
		if (sqlite3_errcode(s->db) != SQLITE_CORRUPT || open_damaged(s)) {
			kt_fail(err, "storage", "ledger '%s' unusable: %s", path,
				sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	return &s->ops;
fail:
	sq_close(&s->ops);
	/* A failed create leaves nothing behind; any other open never made a file. */
	if (created)
		remove_files(path);
	return NULL;
}
