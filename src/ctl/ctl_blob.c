/* ctl_blob.c - sessionctl blob: one blob's bytes out of a session database
 * (a live session, its session.db or a backup) into a file or stdout.
 *
 * Design notes
 * - Schema 5 on (protocol 1.2): the blob is its chunks in order, each read
 *   in a statement of its own (at most 1 MiB in memory at a time). A 1.1
 *   file (schema 4, one row per blob) is read in 1 MiB pieces with
 *   incremental blob I/O. Either way the bytes are hashed on the way out.
 * - A file is written as FILE.tmp-PID, fsynced, checked against the hash
 *   and size, then renamed: a damaged blob or a full disk never leaves a
 *   half-written FILE behind. On stdout, a mismatch is reported after the
 *   bytes (exit 1). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

struct sink {
	FILE *f;
	EVP_MD_CTX *md;
	int64_t bytes;
	int failed;
};

static void put(struct sink *k, const void *data, size_t len)
{
	if (len && fwrite(data, 1, len, k->f) != len)
		k->failed = 1;
	EVP_DigestUpdate(k->md, data, len);
	k->bytes += (int64_t)len;
}

/* Schema 5: the chunks of blob hash, in order. */
static int from_chunks(sqlite3 *db, const char *hash, struct sink *k, int64_t *size, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = NULL, *one = NULL;
	int rc, r = CTL_OK;

	if (sqlite3_prepare_v2(db, "SELECT size FROM blobs WHERE hash = ?1", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC) != SQLITE_OK)
		goto sqlerr;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto sqlerr;
		snprintf(err, errlen, "no blob with hash %s", hash);
		return CTL_ERROR;
	}
	*size = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT chunk FROM blob_chunks WHERE blob = ?1 ORDER BY n", -1,
			       &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT data FROM chunks WHERE hash = ?1", -1, &one, NULL) !=
		    SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	while (r == CTL_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ch = (const char *)sqlite3_column_text(st, 0);
		sqlite3_bind_text(one, 1, ch, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(one) == SQLITE_ROW) {
			const void *p = sqlite3_column_blob(one, 0);
			put(k, p ? p : "", (size_t)sqlite3_column_bytes(one, 0));
		} else {
			snprintf(err, errlen, "blob %s: its chunk %s is not stored", hash, ch);
			r = CTL_FAILED;
		}
		sqlite3_reset(one);
	}
	if (r == CTL_OK && rc != SQLITE_DONE)
		goto sqlerr;
	sqlite3_finalize(st);
	sqlite3_finalize(one);
	return r;
sqlerr:
	snprintf(err, errlen, "cannot read blob %s: %s", hash, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_finalize(one);
	return CTL_ERROR;
}

/* Schema 4: one row, its bytes in blobs.data. */
static int from_row(sqlite3 *db, const char *hash, struct sink *k, int64_t *size, char *err,
		    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	sqlite3_blob *b = NULL;
	char *buf = NULL;
	int r = CTL_ERROR, rc;

	if (sqlite3_prepare_v2(db, "SELECT rowid, size FROM blobs WHERE hash = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		snprintf(err, errlen, "no blob with hash %s", hash);
		goto out;
	}
	if (rc != SQLITE_ROW ||
	    sqlite3_blob_open(db, "main", "blobs", "data", sqlite3_column_int64(st, 0), 0, &b) !=
		    SQLITE_OK)
		goto sqlerr;
	*size = sqlite3_column_int64(st, 1);
	buf = xmalloc(1 << 20);
	for (int off = 0, len = sqlite3_blob_bytes(b); off < len;) {
		int n = len - off < (1 << 20) ? len - off : (1 << 20);
		if (sqlite3_blob_read(b, buf, n, off) != SQLITE_OK)
			goto sqlerr;
		put(k, buf, (size_t)n);
		off += n;
	}
	r = CTL_OK;
	goto out;
sqlerr:
	snprintf(err, errlen, "cannot read blob %s: %s", hash, sqlite3_errmsg(db));
out:
	free(buf);
	sqlite3_blob_close(b);
	sqlite3_finalize(st);
	return r;
}

int ctl_blob(const char *path, const char *hash, const char *file, int64_t *size, char *err,
	     size_t errlen)
{
	char db[CTL_PATH], tmp[CTL_PATH + 32], got[65];
	struct sink k = {stdout, NULL, 0, 0};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	sqlite3 *h = NULL;
	int version, r;

	*size = 0;
	r = ctl_resolve_db(path, db, sizeof(db), err, errlen);
	if (r == CTL_OK)
		r = ctl_open_ro(db, 0, &h, &version, err, errlen);
	if (r != CTL_OK)
		return r == CTL_FAILED ? CTL_ERROR : r;
	if (!ctl_table_exists(h, "main", "blobs")) {
		snprintf(err, errlen, "%s: schema version %d has no blobs", db, version);
		sqlite3_close(h);
		return CTL_ERROR;
	}
	if (file) {
		snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", file, (long)getpid());
		k.f = fopen(tmp, "wb");
		if (!k.f) {
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			sqlite3_close(h);
			return CTL_ERROR;
		}
	}
	k.md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(k.md, EVP_sha256(), NULL);
	/* One read transaction: the blob as one committed state had it. */
	sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
	r = ctl_table_exists(h, "main", "chunks") ? from_chunks(h, hash, &k, size, err, errlen)
						   : from_row(h, hash, &k, size, err, errlen);
	sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(h);
	EVP_DigestFinal_ex(k.md, md, &mdlen);
	EVP_MD_CTX_free(k.md);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(got + 2 * i, 3, "%02x", md[i]);
	if (r == CTL_OK && (fflush(k.f) != 0 || k.failed || (file && fsync(fileno(k.f)) != 0))) {
		snprintf(err, errlen, "cannot write %s: %s", file ? file : "stdout",
			 strerror(errno));
		r = CTL_ERROR;
	}
	if (r == CTL_OK && (k.bytes != *size || strcmp(got, hash) != 0)) {
		snprintf(err, errlen, "blob %s is damaged: its %lld bytes (size %lld) hash to %s",
			 hash, (long long)k.bytes, (long long)*size, got);
		r = CTL_FAILED;
	}
	if (file) {
		if (fclose(k.f) != 0 && r == CTL_OK) {
			snprintf(err, errlen, "cannot write %s: %s", file, strerror(errno));
			r = CTL_ERROR;
		}
		if (r == CTL_OK && rename(tmp, file) != 0) {
			snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, file,
				 strerror(errno));
			r = CTL_ERROR;
		}
		if (r != CTL_OK)
			unlink(tmp);
	}
	return r;
}
