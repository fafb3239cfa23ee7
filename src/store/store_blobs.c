/* store_blobs.c - the blobs of a session database (part of the store
 * module, with store.c; what they share is in store_int.h).
 *
 * Design notes
 * - One row of `blobs` per blob, `data` its last column (so size and
 *   created_at are read without walking its overflow pages).
 * - Uploads in progress live in a database of their own, attached as `up`
 *   (DATA_DIR/NAME/session.db-uploads, table blob_parts): not in the WAL,
 *   not in checkpoints or backups, no fsync (synchronous OFF, journal in
 *   memory, so a SAVEPOINT still rolls back). Only a checked blob is written
 *   to session.db, once: store_blob_commit inserts its row (zeroblob) and
 *   copies the parts in through one write handle, so SQLite walks the new
 *   row's overflow chain once. (A write handle cannot outlive a COMMIT, and
 *   reopening one at offset N walks N/4 KiB pages: writing the row a part
 *   per loop pass would cost O(size^2).)
 * - Reading goes through a reader, a bounded amount at a time, on its own
 *   read transaction when it streams a download: the blob stays as it was
 *   even if it is collected meanwhile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"
#include "util.h"

/* Attaches the uploads database (see the header), empty: the parts an
 * earlier run left are counted (s->dropped_uploads), then the file is made
 * anew, so a large leftover does not keep its size. */
int store_i_attach_uploads(struct store *s, const char *path, char *err, size_t errlen)
{
	static const char *const schema =
		"PRAGMA up.journal_mode = MEMORY; PRAGMA up.synchronous = OFF; "
		"CREATE TABLE IF NOT EXISTS up.blob_parts (id INTEGER PRIMARY KEY, "
		"upload INTEGER NOT NULL, data BLOB NOT NULL) STRICT; "
		"CREATE INDEX IF NOT EXISTS up.blob_parts_upload ON blob_parts (upload);";
	size_t n = strlen(path) + 16;
	char *up = xmalloc(n);
	sqlite3_stmt *st = NULL;
	int rc;

	snprintf(up, n, "%s", strcmp(path, ":memory:") == 0 ? ":memory:" : path);
	if (strcmp(path, ":memory:") != 0) {
		snprintf(up, n, "%s-uploads", path);
		if (util_file_size(up) > 0) {
			sqlite3 *old = NULL;
			if (sqlite3_open_v2(up, &old, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
			    sqlite3_prepare_v2(old, "SELECT count(DISTINCT upload) FROM blob_parts",
					       -1, &st, NULL) == SQLITE_OK &&
			    sqlite3_step(st) == SQLITE_ROW)
				s->dropped_uploads = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			sqlite3_close(old);
		}
		unlink(up); /* whatever it held (even a damaged file) is of no use */
		char journal[4200];
		snprintf(journal, sizeof(journal), "%s-journal", up);
		unlink(journal);
	}
	rc = sqlite3_prepare_v2(s->db, "ATTACH DATABASE ?1 AS up", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, up, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = store_i_exec(s->db, schema, err, errlen);
	else
		snprintf(err, errlen, "cannot attach %s: %s", up, sqlite3_errmsg(s->db));
	if (rc == SQLITE_OK && strcmp(up, ":memory:") != 0)
		chmod(up, 0600);
	free(up);
	return rc;
}

int store_blob_totals(struct store *s, int64_t *count_out, int64_t *bytes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT count(*), coalesce(sum(size), 0) FROM blobs",
				    -1, &st, NULL);
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

int store_node_get_blobs(struct store *s, const char *uuid, json_t **out)
{
	return store_i_strings(s, ST_NODE_BLOBS, uuid, out);
}

int store_node_set_blobs(struct store *s, const char *uuid, json_t *hashes)
{
	return store_i_set_list(s, ST_NODE_BLOBS_DEL, ST_NODE_BLOBS_ADD, uuid, hashes);
}

int store_blob_has(struct store *s, const char *hash, int64_t *size)
{
	sqlite3_stmt *st = store_i_stmt(s, ST_BLOB_HAS);
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (size)
			*size = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	store_i_finish(st);
	return rc;
}

int store_blob_part_add(struct store *s, int64_t upload, const void *data, size_t len)
{
	sqlite3_stmt *st = store_i_stmt(s, ST_BLOB_PART_ADD);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, upload);
	sqlite3_bind_blob64(st, 2, len ? data : "", len, SQLITE_STATIC);
	return store_i_run(st);
}

int store_blob_parts_drop(struct store *s, int64_t upload)
{
	sqlite3_stmt *st = store_i_stmt(s, ST_BLOB_PARTS_DROP);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, upload);
	return store_i_run(st);
}

int store_blob_parts_clear(struct store *s, int64_t *dropped)
{
	int64_t n = 0;
	int rc = store_i_count(s->db, "SELECT count(DISTINCT upload) FROM up.blob_parts", &n);
	if (rc == SQLITE_OK && n)
		rc = store_i_exec(s->db, "DELETE FROM up.blob_parts", NULL, 0);
	if (dropped)
		*dropped = n + s->dropped_uploads;
	s->dropped_uploads = 0;
	return rc;
}

/* Copies the parts of `upload`, in order, into the blob at rowid `row`
 * (already `size` bytes of zeros): one write handle for the whole copy, so
 * SQLite walks the new row's overflow chain once. A read handle per part;
 * at most STORE_BLOB_CHUNK bytes are in memory at a time. */
static int copy_parts(struct store *s, int64_t upload, int64_t row, int64_t size)
{
	sqlite3_stmt *parts = store_i_stmt(s, ST_BLOB_PARTS);
	sqlite3_blob *dst = NULL, *src = NULL;
	int64_t off = 0;
	char *buf = NULL;
	int rc;

	if (!parts)
		return SQLITE_ERROR;
	if (size > 0) {
		rc = sqlite3_blob_open(s->db, "main", "blobs", "data", row, 1, &dst);
		if (rc != SQLITE_OK)
			goto out;
	}
	buf = xmalloc(STORE_BLOB_CHUNK);
	sqlite3_bind_int64(parts, 1, upload);
	while ((rc = sqlite3_step(parts)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(parts, 0);
		int len = sqlite3_column_int(parts, 1);
		if (len == 0)
			continue;
		if (off + len > size) {
			rc = SQLITE_MISMATCH;
			goto out;
		}
		rc = src ? sqlite3_blob_reopen(src, id)
			 : sqlite3_blob_open(s->db, "up", "blob_parts", "data", id, 0, &src);
		for (int done = 0; rc == SQLITE_OK && done < len;) {
			int n = len - done < STORE_BLOB_CHUNK ? len - done : STORE_BLOB_CHUNK;
			rc = sqlite3_blob_read(src, buf, n, done);
			if (rc == SQLITE_OK)
				rc = sqlite3_blob_write(dst, buf, n, (int)off);
			done += n;
			off += n;
		}
		if (rc != SQLITE_OK)
			goto out;
	}
	rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	if (rc == SQLITE_OK && off != size)
		rc = SQLITE_MISMATCH;
out:
	store_i_finish(parts);
	sqlite3_blob_close(src);
	if (dst) {
		int crc = sqlite3_blob_close(dst);
		if (rc == SQLITE_OK)
			rc = crc;
	}
	free(buf);
	return rc;
}

int store_blob_commit(struct store *s, int64_t upload, const char *hash, int64_t size,
		      const char *user, double now)
{
	sqlite3_stmt *ins = store_i_stmt(s, ST_BLOB_INSERT);
	int rc = store_blob_has(s, hash, NULL);
	if (rc == SQLITE_OK)
		rc = SQLITE_CONSTRAINT; /* uploaded meanwhile on another connection */
	else if (rc == SQLITE_NOTFOUND)
		rc = ins ? SQLITE_OK : SQLITE_ERROR;
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_text(ins, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 2, size);
	sqlite3_bind_double(ins, 3, now);
	sqlite3_bind_text(ins, 4, user, -1, SQLITE_STATIC);
	rc = store_i_run(ins);
	if (rc == SQLITE_OK) {
		int64_t row = sqlite3_last_insert_rowid(s->db);
		rc = copy_parts(s, upload, row, size);
		if (rc == SQLITE_MISMATCH) {
			char sql[64];
			snprintf(sql, sizeof(sql), "DELETE FROM blobs WHERE rowid = %lld",
				 (long long)row);
			int drc = store_i_exec(s->db, sql, NULL, 0);
			if (drc != SQLITE_OK)
				rc = drc;
		}
	}
out:
	if (rc == SQLITE_OK || rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH) {
		int drc = store_blob_parts_drop(s, upload);
		if (drc != SQLITE_OK)
			rc = drc;
	}
	return rc;
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

int store_blob_gc(struct store *s, double before, int64_t *n, int64_t *bytes)
{
	static const char *const where =
		"FROM blobs WHERE created_at <= ?1 AND hash NOT IN (SELECT hash FROM node_blobs)";
	sqlite3_stmt *st = NULL;
	char sql[256];
	int rc;

	*n = *bytes = 0;
	snprintf(sql, sizeof(sql), "SELECT count(*), coalesce(sum(size), 0) %s", where);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_double(st, 1, before);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*n = sqlite3_column_int64(st, 0);
			*bytes = sqlite3_column_int64(st, 1);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_OK || *n == 0)
		return rc;
	snprintf(sql, sizeof(sql), "DELETE %s", where);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_double(st, 1, before);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(st);
	return rc;
}

struct store_blob_reader {
	sqlite3 *own;        /* its own connection, or NULL (the store's) */
	sqlite3_blob *blob;
	int64_t size;
};

static int reader_start(struct store_blob_reader *r, sqlite3 *db, const char *hash)
{
	sqlite3_stmt *st = NULL;
	int64_t row = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT rowid, size FROM blobs WHERE hash = ?1", -1, &st,
				    NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			row = sqlite3_column_int64(st, 0);
			r->size = sqlite3_column_int64(st, 1);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_NOTFOUND;
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_blob_open(db, "main", "blobs", "data", row, 0, &r->blob);
	return rc;
}

int store_blob_reader_open(const char *db_path, struct store *s, const char *hash,
			   struct store_blob_reader **out, int64_t *size)
{
	struct store_blob_reader *r = xcalloc(1, sizeof(*r));
	sqlite3 *db = s ? s->db : NULL;
	int rc = SQLITE_OK;

	*out = NULL;
	if (!s) {
		rc = sqlite3_open_v2(db_path, &r->own, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
				     NULL);
		/* One read transaction for the whole download: the blob it reads
		 * cannot change or vanish under it (WAL snapshot). The cache
		 * stays small: every page is read once. */
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(r->own, "PRAGMA busy_timeout = 5000; "
					  "PRAGMA cache_size = -256; PRAGMA mmap_size = 1073741824; BEGIN",
					  NULL, NULL, NULL);
		db = r->own;
	}
	if (rc == SQLITE_OK)
		rc = reader_start(r, db, hash);
	if (rc != SQLITE_OK) {
		store_blob_reader_close(r);
		return rc;
	}
	*size = r->size;
	*out = r;
	return SQLITE_OK;
}

int store_blob_reader_read(struct store_blob_reader *r, void *buf, int n, int64_t offset)
{
	if (offset < 0 || n < 0 || offset + n > r->size)
		return SQLITE_RANGE;
	return n ? sqlite3_blob_read(r->blob, buf, n, (int)offset) : SQLITE_OK;
}

void store_blob_reader_close(struct store_blob_reader *r)
{
	if (!r)
		return;
	sqlite3_blob_close(r->blob);
	if (r->own) {
		sqlite3_exec(r->own, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(r->own);
	}
	free(r);
}
