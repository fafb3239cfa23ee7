/* store_blobs.c - the blobs of a session database as content-addressed
 * chunks (protocol 1.2, section 11; part of the store module, with store.c;
 * what they share is in store_int.h).
 *
 * Design notes
 * - Three tables (migrations/0005_chunks.sql): `chunks` holds each distinct
 *   piece of 1..STORE_CHUNK_MAX bytes once, named by its SHA-256; `blobs`
 *   one row per complete blob (no bytes); `blob_chunks` the ordered list of
 *   a blob's chunks. No row holds more than 1 MiB, so no statement here
 *   copies more than that, and a reader's transaction lasts one chunk.
 * - An upload writes each chunk as it completes (store_chunk_put, INSERT OR
 *   IGNORE: a chunk already held is not written again), in the session's
 *   batch; the blob row and its list are written at the end, once the whole
 *   hash is checked (store_blob_insert). Completed chunks therefore survive
 *   a dropped connection or a kill -9: that is what makes an upload resume.
 * - Collection (store_gc_step) walks blobs, then chunks, by rowid from a
 *   cursor, a bounded number of rows per call, so it never holds the
 *   writer for long however much it deletes.
 * - Downloads read through a store_reader: a read-only connection of their
 *   own, autocommit, one statement (one read transaction) per chunk.
 * - Migration 0005 cuts every 1.1 blob (one row, all its bytes) into 1 MiB
 *   chunks with incremental blob I/O, a chunk at a time in memory. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

enum bstmt_id {
	BS_CHUNK_HAS, BS_CHUNK_PUT, BS_CHUNK_READ, BS_BLOB_HAS, BS_BLOB_TOUCH, BS_BLOB_INSERT,
	BS_BLOB_CHUNK_ADD, BS_BLOB_CHUNKS, BS_GC_BLOBS, BS_GC_BLOB_DEL, BS_GC_CHUNKS,
	BS_GC_CHUNK_DEL, BS_TOUCH_NAMED,
	BS_COUNT
};

static const char *const bstmt_sql[BS_COUNT] = {
	[BS_CHUNK_HAS] = "SELECT size FROM chunks WHERE hash = ?1",
	[BS_CHUNK_PUT] = "INSERT INTO chunks (hash, size, created_at, data) VALUES (?1, ?2, ?3, ?4) "
			 "ON CONFLICT (hash) DO NOTHING",
	[BS_CHUNK_READ] = "SELECT data FROM chunks WHERE hash = ?1",
	[BS_BLOB_HAS] = "SELECT size FROM blobs WHERE hash = ?1",
	[BS_BLOB_TOUCH] = "UPDATE blobs SET touched_at = max(touched_at, ?2) WHERE hash = ?1",
	[BS_BLOB_INSERT] = "INSERT INTO blobs (hash, size, created_at, created_by, touched_at) "
			   "VALUES (?1, ?2, ?3, ?4, ?3)",
	[BS_BLOB_CHUNK_ADD] = "INSERT INTO blob_chunks (blob, n, chunk) VALUES (?1, ?2, ?3)",
	[BS_BLOB_CHUNKS] = "SELECT bc.chunk, c.size FROM blob_chunks bc JOIN chunks c "
			   "ON c.hash = bc.chunk WHERE bc.blob = ?1 ORDER BY bc.n",
	[BS_GC_BLOBS] = "SELECT rowid, hash, size, touched_at <= ?2 AND NOT EXISTS (SELECT 1 FROM "
			"node_blobs nb WHERE nb.hash = blobs.hash) FROM blobs WHERE rowid > ?1 "
			"ORDER BY rowid LIMIT ?3",
	[BS_GC_BLOB_DEL] = "DELETE FROM blobs WHERE rowid = ?1",
	[BS_GC_CHUNKS] = "SELECT rowid, hash, size, created_at <= ?2 AND NOT EXISTS (SELECT 1 FROM "
			 "blob_chunks bc WHERE bc.chunk = chunks.hash) FROM chunks WHERE rowid > ?1 "
			 "ORDER BY rowid LIMIT ?3",
	[BS_GC_CHUNK_DEL] = "DELETE FROM chunks WHERE rowid = ?1",
	[BS_TOUCH_NAMED] = "UPDATE blobs SET touched_at = max(touched_at, ?2) WHERE hash IN "
			   "(SELECT hash FROM node_blobs WHERE uuid = ?1)",
};

static sqlite3_stmt *bstmt(struct store *s, enum bstmt_id id)
{
	if (!s->bstmts[id] &&
	    sqlite3_prepare_v3(s->db, bstmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
			       &s->bstmts[id], NULL) != SQLITE_OK)
		return NULL;
	return s->bstmts[id];
}

void store_i_blobs_close(struct store *s)
{
	for (int i = 0; i < BS_COUNT; i++)
		sqlite3_finalize(s->bstmts[i]);
}

void store_sha256_hex(const void *data, size_t len, char out[STORE_HASH_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = 0;
}

/* A statement's one int64 column for one text parameter: SQLITE_OK with
 * *v, or SQLITE_NOTFOUND. */
static int lookup(sqlite3_stmt *st, const char *key, int64_t *v)
{
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (v)
			*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	store_i_finish(st);
	return rc;
}

int store_chunk_has(struct store *s, const char *hash, int64_t *size)
{
	return lookup(bstmt(s, BS_CHUNK_HAS), hash, size);
}

int store_blob_has(struct store *s, const char *hash, int64_t *size)
{
	return lookup(bstmt(s, BS_BLOB_HAS), hash, size);
}

int store_chunk_put(struct store *s, const char *hash, const void *data, size_t len, double now)
{
	sqlite3_stmt *st = bstmt(s, BS_CHUNK_PUT);
	if (!st)
		return SQLITE_ERROR;
	if (len < 1 || len > STORE_CHUNK_MAX)
		return SQLITE_RANGE;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)len);
	sqlite3_bind_double(st, 3, now);
	sqlite3_bind_blob(st, 4, data, (int)len, SQLITE_STATIC);
	return store_i_run(st);
}

static int read_chunk(sqlite3_stmt *st, const char *hash, store_bytes_fn fn, void *arg)
{
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		fn(arg, p ? p : "", (size_t)n);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int store_chunk_read(struct store *s, const char *hash, store_bytes_fn fn, void *arg)
{
	return read_chunk(bstmt(s, BS_CHUNK_READ), hash, fn, arg);
}

int store_blob_touch(struct store *s, const char *hash, double now)
{
	sqlite3_stmt *st = bstmt(s, BS_BLOB_TOUCH);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, now);
	return store_i_run(st);
}

int store_i_touch_named(struct store *s, const char *uuid, double now)
{
	sqlite3_stmt *st = bstmt(s, BS_TOUCH_NAMED);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, now);
	return store_i_run(st);
}

int store_blob_insert(struct store *s, const char *hash, int64_t size, const char *user,
		      double now, const char *const *chunks, int n)
{
	sqlite3_stmt *ins = bstmt(s, BS_BLOB_INSERT), *add = bstmt(s, BS_BLOB_CHUNK_ADD);
	int rc = store_blob_has(s, hash, NULL);
	if (rc == SQLITE_OK)
		return SQLITE_CONSTRAINT; /* uploaded meanwhile on another connection */
	if (rc != SQLITE_NOTFOUND)
		return rc;
	if (!ins || !add)
		return SQLITE_ERROR;
	sqlite3_bind_text(ins, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 2, size);
	sqlite3_bind_double(ins, 3, now);
	sqlite3_bind_text(ins, 4, user, -1, SQLITE_STATIC);
	rc = store_i_run(ins);
	for (int i = 0; rc == SQLITE_OK && i < n; i++) {
		sqlite3_bind_text(add, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int(add, 2, i);
		sqlite3_bind_text(add, 3, chunks[i], -1, SQLITE_STATIC);
		rc = store_i_run(add);
		if (rc == SQLITE_CONSTRAINT)
			rc = SQLITE_MISMATCH; /* a chunk is not held (foreign key) */
	}
	return rc;
}

/* [[hash, size], ...] of statement st (bound to the blob), and their sum. */
static int chunk_list(sqlite3_stmt *st, const char *hash, json_t **out, int64_t *sum)
{
	int rc;
	*out = json_array();
	*sum = 0;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 1);
		json_array_append_new(*out, json_pack("[sI]", (const char *)sqlite3_column_text(st, 0),
						      (json_int_t)n));
		*sum += n;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	return SQLITE_OK;
}

int store_blob_chunks(struct store *s, const char *hash, int64_t *size, json_t **out)
{
	sqlite3_stmt *st = bstmt(s, BS_BLOB_CHUNKS);
	int64_t sum = 0;
	int rc = store_blob_has(s, hash, size);
	*out = NULL;
	if (rc != SQLITE_OK)
		return rc;
	if (!st)
		return SQLITE_ERROR;
	rc = chunk_list(st, hash, out, &sum);
	if (rc == SQLITE_OK && sum != *size) {
		json_decref(*out);
		*out = NULL;
		rc = SQLITE_CORRUPT; /* a chunk of it is missing */
	}
	return rc;
}

static int totals(struct store *s, const char *sql, int64_t *count_out, int64_t *bytes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	*count_out = *bytes = 0;
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*count_out = sqlite3_column_int64(st, 0);
		*bytes = sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

int store_blob_totals(struct store *s, int64_t *count_out, int64_t *bytes)
{
	return totals(s, "SELECT count(*), coalesce(sum(size), 0) FROM blobs", count_out, bytes);
}

int store_chunk_totals(struct store *s, int64_t *count_out, int64_t *bytes)
{
	return totals(s, "SELECT count(*), coalesce(sum(size), 0) FROM chunks", count_out, bytes);
}

int store_node_get_blobs(struct store *s, const char *uuid, json_t **out)
{
	return store_i_strings(s, ST_NODE_BLOBS, uuid, out);
}

int store_node_set_blobs(struct store *s, const char *uuid, json_t *hashes)
{
	/* The blobs this node stops naming start their hour now (a blob it
	 * names again is protected by the name, whatever its clock says). */
	int rc = store_i_touch_named(s, uuid, util_now());
	if (rc != SQLITE_OK)
		return rc;
	return store_i_set_list(s, ST_NODE_BLOBS_DEL, ST_NODE_BLOBS_ADD, uuid, hashes);
}

int store_blob_list(struct store *s, json_t **out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT hash, size, created_at, created_by FROM blobs "
				    "ORDER BY created_at, hash", -1, &st, NULL);
	*out = json_array();
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, json_pack("{ss sI sf ss}",
			"hash", (const char *)sqlite3_column_text(st, 0),
			"size", (json_int_t)sqlite3_column_int64(st, 1),
			"created_at", sqlite3_column_double(st, 2),
			"created_by", (const char *)sqlite3_column_text(st, 3)));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One step over `rows` rows of blobs or chunks from *cursor: deletes those
 * the query marks (4th column) unless keep() says an upload lists it.
 * Sets *end when the table is walked to its end. */
static int gc_walk(struct store *s, enum bstmt_id sel, enum bstmt_id del, int64_t *cursor,
		   double before, int rows, store_gc_keep_fn keep, void *arg, int64_t *n,
		   int64_t *bytes, int *end)
{
	sqlite3_stmt *st = bstmt(s, sel), *dst = bstmt(s, del);
	int64_t doomed[256], sizes[256];
	int k = 0, seen = 0, rc;

	if (!st || !dst)
		return SQLITE_ERROR;
	if (rows > 256)
		rows = 256;
	sqlite3_bind_int64(st, 1, *cursor);
	sqlite3_bind_double(st, 2, before);
	sqlite3_bind_int(st, 3, rows);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		seen++;
		*cursor = sqlite3_column_int64(st, 0);
		if (!sqlite3_column_int(st, 3))
			continue;
		if (keep && keep(arg, (const char *)sqlite3_column_text(st, 1)))
			continue;
		sizes[k] = sqlite3_column_int64(st, 2);
		doomed[k++] = *cursor;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return rc;
	*end = seen < rows;
	rc = SQLITE_OK;
	for (int i = 0; rc == SQLITE_OK && i < k; i++) {
		sqlite3_bind_int64(dst, 1, doomed[i]);
		rc = store_i_run(dst);
		if (rc == SQLITE_OK) {
			(*n)++;
			*bytes += sizes[i];
		}
	}
	return rc;
}

int store_gc_step(struct store *s, struct store_gc *g, double before, int rows,
		  store_gc_keep_fn keep, void *arg)
{
	int end = 0, rc;
	if (g->done)
		return SQLITE_OK;
	if (!g->blobs_done) {
		rc = gc_walk(s, BS_GC_BLOBS, BS_GC_BLOB_DEL, &g->blob_cursor, before, rows, NULL,
			     NULL, &g->blobs, &g->blob_bytes, &end);
		if (rc == SQLITE_OK && end)
			g->blobs_done = 1;
		return rc;
	}
	rc = gc_walk(s, BS_GC_CHUNKS, BS_GC_CHUNK_DEL, &g->chunk_cursor, before, rows, keep, arg,
		     &g->chunks, &g->chunk_bytes, &end);
	if (rc == SQLITE_OK && end)
		g->done = 1;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Readers (downloads)                                                 */

struct store_reader {
	sqlite3 *db;
	sqlite3_stmt *chunks, *read, *has;
};

int store_reader_open(const char *db_path, struct store_reader **out)
{
	struct store_reader *r = xcalloc(1, sizeof(*r));
	int rc = sqlite3_open_v2(db_path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	/* No mmap: the pages a download reads go through a small cache and
	 * are not mapped into the server's memory. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(r->db, "PRAGMA busy_timeout = 5000; PRAGMA cache_size = -256; "
				  "PRAGMA mmap_size = 0", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(r->db, bstmt_sql[BS_BLOB_CHUNKS], -1, &r->chunks, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(r->db, bstmt_sql[BS_CHUNK_READ], -1, &r->read, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(r->db, bstmt_sql[BS_BLOB_HAS], -1, &r->has, NULL);
	if (rc != SQLITE_OK) {
		store_reader_close(r);
		r = NULL;
	}
	*out = r;
	return rc;
}

int store_reader_blob(struct store_reader *r, const char *hash, int64_t *size, json_t **out)
{
	int64_t sum = 0;
	int rc;
	*out = NULL;
	/* One read transaction for the size and the list, so they agree. */
	rc = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = lookup(r->has, hash, size);
	if (rc == SQLITE_OK)
		rc = chunk_list(r->chunks, hash, out, &sum);
	sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK && sum != *size) {
		json_decref(*out);
		*out = NULL;
		rc = SQLITE_CORRUPT;
	}
	return rc;
}

int store_reader_chunk(struct store_reader *r, const char *hash, store_bytes_fn fn, void *arg)
{
	return read_chunk(r->read, hash, fn, arg);
}

int store_reader_chunk_size(struct store_reader *r, const char *hash, int64_t *size)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(r->db, bstmt_sql[BS_CHUNK_HAS], -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = lookup(st, hash, size);
	sqlite3_finalize(st);
	return rc;
}

void store_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->chunks);
	sqlite3_finalize(r->read);
	sqlite3_finalize(r->has);
	sqlite3_close(r->db);
	free(r);
}

/* ------------------------------------------------------------------ */
/* Migration 0005: 1.1 blobs (blobs_v11, bytes in one row) to chunks     */

static int cut_one(sqlite3 *db, sqlite3_stmt *put, sqlite3_stmt *add, sqlite3_stmt *ins,
		   int64_t row, const char *hash, int64_t size, double created, const char *by,
		   char *buf)
{
	sqlite3_blob *b = NULL;
	char ch[STORE_HASH_HEX];
	int rc = SQLITE_OK, n = 0;

	sqlite3_bind_text(ins, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(ins, 2, size);
	sqlite3_bind_double(ins, 3, created);
	sqlite3_bind_text(ins, 4, by, -1, SQLITE_TRANSIENT);
	rc = store_i_run(ins);
	if (rc == SQLITE_OK && size > 0)
		rc = sqlite3_blob_open(db, "main", "blobs_v11", "data", row, 0, &b);
	for (int64_t off = 0; rc == SQLITE_OK && off < size; off += STORE_CHUNK_MAX, n++) {
		int k = size - off < STORE_CHUNK_MAX ? (int)(size - off) : STORE_CHUNK_MAX;
		rc = sqlite3_blob_read(b, buf, k, (int)off);
		if (rc != SQLITE_OK)
			break;
		store_sha256_hex(buf, (size_t)k, ch);
		sqlite3_bind_text(put, 1, ch, -1, SQLITE_STATIC);
		sqlite3_bind_int(put, 2, k);
		sqlite3_bind_double(put, 3, created);
		sqlite3_bind_blob(put, 4, buf, k, SQLITE_STATIC);
		rc = store_i_run(put);
		if (rc != SQLITE_OK)
			break;
		sqlite3_bind_text(add, 1, hash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(add, 2, n);
		sqlite3_bind_text(add, 3, ch, -1, SQLITE_STATIC);
		rc = store_i_run(add);
	}
	sqlite3_blob_close(b);
	return rc;
}

int store_migration_finish(sqlite3 *db, int version, char *err, size_t errlen)
{
	return version == 5 ? store_i_migrate_chunks(db, err, errlen) : SQLITE_OK;
}

int store_i_migrate_chunks(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *sel = NULL, *put = NULL, *add = NULL, *ins = NULL;
	char *buf = xmalloc(STORE_CHUNK_MAX);
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT rowid, hash, size, created_at, created_by, length(data) "
				"FROM blobs_v11 ORDER BY rowid", -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, bstmt_sql[BS_CHUNK_PUT], -1, &put, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, bstmt_sql[BS_BLOB_CHUNK_ADD], -1, &add, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, bstmt_sql[BS_BLOB_INSERT], -1, &ins, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(sel, 1);
		int64_t size = sqlite3_column_int64(sel, 2);
		if (size != sqlite3_column_int64(sel, 5)) {
			snprintf(err, errlen, "blob %s: size says %lld bytes, it holds %lld", hash,
				 (long long)size, (long long)sqlite3_column_int64(sel, 5));
			rc = SQLITE_CORRUPT;
			break;
		}
		rc = cut_one(db, put, add, ins, sqlite3_column_int64(sel, 0), hash, size,
			     sqlite3_column_double(sel, 3),
			     (const char *)sqlite3_column_text(sel, 4), buf);
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	if (rc != SQLITE_OK && !*err)
		snprintf(err, errlen, "cutting 1.1 blobs into chunks: %s", sqlite3_errmsg(db));
	sqlite3_finalize(sel);
	sqlite3_finalize(put);
	sqlite3_finalize(add);
	sqlite3_finalize(ins);
	free(buf);
	if (rc == SQLITE_OK)
		rc = store_i_exec(db, "DROP TABLE blobs_v11", err, errlen);
	return rc;
}
