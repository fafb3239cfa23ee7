/* ctl_export.c - a whole session as one JSON document, and back.
 *
 * Design notes
 * - The export is generic over the schema: every table of the database
 *   (meta, nodes, node_deps, users, tasks, chat, and blobs/node_blobs when
 *   the file has them) becomes an array of row objects, columns in table
 *   order, rows in primary-key order. A table added by a later migration is
 *   exported without a change here, and import reads exactly what export
 *   writes, so export -> import -> export is byte-identical.
 * - Values keep their SQLite type: INTEGER as a JSON integer, REAL as a JSON
 *   real (17 significant digits, which reads back to the same double),
 *   TEXT as a string (JSON columns such as nodes.data stay the text that was
 *   stored), BLOB as base64. Blob bytes are streamed through
 *   sqlite3_blob_read in 768 KiB pieces; the document is written row by row,
 *   so a large session never sits in memory whole on the way out.
 * - --no-blobs leaves the blobs out (the tables blobs, chunks and
 *   blob_chunks; nodes keep naming their blobs). Each chunk is one row of
 *   at most 1 MiB, so the export carries every shared chunk once.
 * - Import builds the session in DATA_DIR/.import-NAME-PID/ (schema of the
 *   export's version, rows, then migrations to the current version, then
 *   verify) and renames that directory into place with RENAME_NOREPLACE:
 *   an existing session is never overwritten, and a failed import leaves
 *   nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "store.h"
#include "util.h"
#include "validate.h"

#define EXPORT_FORMAT "sessiond-export"
#define EXPORT_VERSION 1
#define B64_CHUNK (768 * 1024) /* a multiple of 3: no padding inside */

/* Column names, whether each is declared BLOB, and the ORDER BY that gives
 * primary-key order, for one table. */
struct table_shape {
	int ncols;
	char **cols;
	int *is_blob;
	char order[512];
	int has_rowid;
};

static void shape_free(struct table_shape *t)
{
	for (int i = 0; i < t->ncols; i++)
		free(t->cols[i]);
	free(t->cols);
	free(t->is_blob);
	memset(t, 0, sizeof(*t));
}

static int shape_read(sqlite3 *db, const char *table, struct table_shape *t)
{
	sqlite3_stmt *st;
	char sql[256];
	int npk = 0;
	memset(t, 0, sizeof(*t));
	if (sqlite3_prepare_v2(db, "SELECT name, upper(type), pk FROM pragma_table_info(?1) "
			       "ORDER BY cid", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		t->cols = xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof(char *));
		t->is_blob = xrealloc(t->is_blob, (size_t)(t->ncols + 1) * sizeof(int));
		t->cols[t->ncols] = xstrdup((const char *)sqlite3_column_text(st, 0));
		t->is_blob[t->ncols] = strcmp((const char *)sqlite3_column_text(st, 1), "BLOB") == 0;
		if (sqlite3_column_int(st, 2) > npk)
			npk = sqlite3_column_int(st, 2);
		t->ncols++;
	}
	sqlite3_reset(st);
	/* ORDER BY the primary key columns in key order, else rowid */
	for (int k = 1; k <= npk; k++) {
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1) WHERE pk = ?2",
				       -1, &q, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 2, k);
		if (sqlite3_step(q) == SQLITE_ROW) {
			size_t n = strlen(t->order);
			snprintf(t->order + n, sizeof(t->order) - n, "%s\"%s\"", n ? ", " : "",
				 sqlite3_column_text(q, 0));
		}
		sqlite3_finalize(q);
	}
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "SELECT rowid FROM \"%s\" LIMIT 0", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		t->has_rowid = 1;
		sqlite3_finalize(st);
	}
	if (!t->order[0])
		snprintf(t->order, sizeof(t->order), "%s", t->has_rowid ? "rowid" : "1");
	return t->ncols ? 0 : -1;
}

/* The session's tables (not SQLite's own), by name. */
static json_t *table_names(sqlite3 *db)
{
	sqlite3_stmt *st;
	json_t *a = json_array();
	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND "
			       "name NOT LIKE 'sqlite_%' ORDER BY name", -1, &st, NULL) != SQLITE_OK)
		return a;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return a;
}

static void put_json(FILE *f, json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	fputs(s, f);
	free(s);
}

/* A BLOB value as a base64 string, streamed when the row has a rowid. */
static int put_blob(FILE *f, sqlite3 *db, const char *table, const char *col, int has_rowid,
		    sqlite3_stmt *row, int i)
{
	unsigned char *buf = NULL;
	char *enc = NULL;
	sqlite3_blob *b = NULL;
	int rc = 0;
	fputc('"', f);
	if (has_rowid && sqlite3_blob_open(db, "main", table, col,
					   sqlite3_column_int64(row, 0), 0, &b) == SQLITE_OK) {
		int len = sqlite3_blob_bytes(b);
		buf = xmalloc(B64_CHUNK);
		enc = xmalloc(B64_CHUNK / 3 * 4 + 8);
		for (int off = 0; off < len && rc == 0;) {
			int k = len - off < B64_CHUNK ? len - off : B64_CHUNK;
			if (sqlite3_blob_read(b, buf, k, off) != SQLITE_OK) {
				rc = -1;
				break;
			}
			fwrite(enc, 1, ctl_base64_encode(buf, (size_t)k, enc), f);
			off += k;
		}
		sqlite3_blob_close(b);
	} else {
		const void *p = sqlite3_column_blob(row, i + has_rowid);
		size_t len = (size_t)sqlite3_column_bytes(row, i + has_rowid);
		enc = xmalloc(len / 3 * 4 + 8);
		fwrite(enc, 1, ctl_base64_encode(p, len, enc), f);
	}
	fputc('"', f);
	free(buf);
	free(enc);
	return rc;
}

static int export_table(sqlite3 *db, const char *table, FILE *f, char *err, size_t errlen)
{
	struct table_shape t;
	struct sbuf sql;
	sqlite3_stmt *st = NULL;
	int rc, first = 1, r = CTL_OK;

	if (shape_read(db, table, &t) != 0) {
		snprintf(err, errlen, "cannot read the columns of %s: %s", table, sqlite3_errmsg(db));
		return CTL_ERROR;
	}
	sbuf_init(&sql, 256);
	sbuf_addstr(&sql, t.has_rowid ? "SELECT rowid" : "SELECT NULL");
	for (int i = 0; i < t.ncols; i++)
		sbuf_printf(&sql, ", \"%s\"", t.cols[i]);
	sbuf_printf(&sql, " FROM \"%s\" ORDER BY %s", table, t.order);
	if (sqlite3_prepare_v2(db, sql.p, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read %s: %s", table, sqlite3_errmsg(db));
		r = CTL_ERROR;
		goto out;
	}
	fprintf(f, "\"%s\":[", table);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fputs(first ? "\n{" : ",\n{", f);
		first = 0;
		for (int i = 0; i < t.ncols; i++) {
			int c = i + 1;
			json_t *v = NULL;
			fprintf(f, "%s\"%s\":", i ? "," : "", t.cols[i]);
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(st, c));
				break;
			case SQLITE_FLOAT:
				v = json_real(sqlite3_column_double(st, c));
				break;
			case SQLITE_TEXT:
				v = json_stringn((const char *)sqlite3_column_text(st, c),
						 (size_t)sqlite3_column_bytes(st, c));
				break;
			case SQLITE_BLOB:
				if (put_blob(f, db, table, t.cols[i], t.has_rowid, st, i) != 0) {
					snprintf(err, errlen, "cannot read a blob of %s: %s", table,
						 sqlite3_errmsg(db));
					r = CTL_ERROR;
					goto out;
				}
				continue;
			default:
				v = json_null();
			}
			if (!v) {
				snprintf(err, errlen, "%s: a %s value is not valid UTF-8", table,
					 t.cols[i]);
				r = CTL_ERROR;
				goto out;
			}
			put_json(f, v);
			json_decref(v);
		}
		fputc('}', f);
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot read %s: %s", table, sqlite3_errmsg(db));
		r = CTL_ERROR;
	}
	fputs(first ? "]" : "\n]", f);
out:
	sqlite3_finalize(st);
	sbuf_free(&sql);
	shape_free(&t);
	return r;
}

int ctl_export(const char *path, int with_blobs, FILE *f, char *err, size_t errlen)
{
	char db[CTL_PATH];
	sqlite3 *h = NULL;
	json_t *tables = NULL, *name;
	size_t i;
	int version, r, n = 0;

	r = ctl_resolve_db(path, db, sizeof(db), err, errlen);
	if (r == CTL_OK)
		r = ctl_open_ro(db, 0, &h, &version, err, errlen);
	if (r != CTL_OK)
		return r == CTL_FAILED ? CTL_ERROR : r;
	/* one read transaction: the document is one committed state */
	if (sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db, sqlite3_errmsg(h));
		sqlite3_close(h);
		return CTL_ERROR;
	}
	tables = table_names(h);
	fprintf(f, "{\"format\":\"%s\",\"version\":%d,\"schema_version\":%d,\"blobs\":%s,\n"
		"\"tables\":{", EXPORT_FORMAT, EXPORT_VERSION, version,
		with_blobs ? "true" : "false");
	json_array_foreach(tables, i, name) {
		const char *t = json_string_value(name);
		if (!with_blobs && (strcmp(t, "blobs") == 0 || strcmp(t, "chunks") == 0 ||
				    strcmp(t, "blob_chunks") == 0))
			continue;
		fputs(n++ ? ",\n" : "\n", f);
		r = export_table(h, t, f, err, errlen);
		if (r != CTL_OK)
			break;
	}
	if (r == CTL_OK)
		fputs("\n}}\n", f);
	json_decref(tables);
	sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(h);
	if (r == CTL_OK && (fflush(f) != 0 || ferror(f))) {
		snprintf(err, errlen, "cannot write the export: %s", strerror(errno));
		r = CTL_ERROR;
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* import                                                              */

static int bind_value(sqlite3_stmt *st, int i, json_t *v, int is_blob, unsigned char **tmp)
{
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		return sqlite3_bind_int64(st, i, json_integer_value(v));
	case JSON_REAL:
		return sqlite3_bind_double(st, i, json_real_value(v));
	case JSON_STRING:
		if (is_blob) {
			size_t len = json_string_length(v);
			long n;
			*tmp = xmalloc(len / 4 * 3 + 3);
			n = ctl_base64_decode(json_string_value(v), len, *tmp);
			if (n < 0)
				return SQLITE_MISMATCH;
			return sqlite3_bind_blob64(st, i, *tmp, (sqlite3_uint64)n, SQLITE_STATIC);
		}
		return sqlite3_bind_text64(st, i, json_string_value(v), json_string_length(v),
					   SQLITE_STATIC, SQLITE_UTF8);
	case JSON_NULL:
		return sqlite3_bind_null(st, i);
	default:
		return SQLITE_MISMATCH;
	}
}

static int import_table(sqlite3 *db, const char *table, json_t *rows, char *err, size_t errlen)
{
	struct table_shape t;
	struct sbuf sql;
	sqlite3_stmt *st = NULL;
	json_t *row;
	size_t i;
	int r = CTL_OK;

	if (!json_is_array(rows)) {
		snprintf(err, errlen, "tables.%s: must be an array", table);
		return CTL_ERROR;
	}
	if (shape_read(db, table, &t) != 0) {
		snprintf(err, errlen, "tables.%s: no such table in this schema version", table);
		return CTL_ERROR;
	}
	sbuf_init(&sql, 256);
	sbuf_printf(&sql, "INSERT INTO \"%s\" (", table);
	for (int c = 0; c < t.ncols; c++)
		sbuf_printf(&sql, "%s\"%s\"", c ? ", " : "", t.cols[c]);
	sbuf_addstr(&sql, ") VALUES (");
	for (int c = 0; c < t.ncols; c++)
		sbuf_printf(&sql, "%s?%d", c ? ", " : "", c + 1);
	sbuf_addstr(&sql, ")");
	if (sqlite3_prepare_v2(db, sql.p, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "tables.%s: %s", table, sqlite3_errmsg(db));
		r = CTL_ERROR;
		goto out;
	}
	json_array_foreach(rows, i, row) {
		unsigned char *bufs[64] = {0};
		const char *key;
		json_t *v;
		int rc = SQLITE_OK;
		if (!json_is_object(row) || t.ncols > 64) {
			snprintf(err, errlen, "tables.%s[%zu]: must be an object", table, i);
			r = CTL_ERROR;
			goto out;
		}
		json_object_foreach(row, key, v) {
			int c = 0;
			while (c < t.ncols && strcmp(t.cols[c], key) != 0)
				c++;
			if (c == t.ncols) {
				snprintf(err, errlen, "tables.%s[%zu]: unknown column %s", table, i, key);
				r = CTL_ERROR;
				break;
			}
			if (bind_value(st, c + 1, v, t.is_blob[c], &bufs[c]) != SQLITE_OK) {
				snprintf(err, errlen, "tables.%s[%zu].%s: not a valid value", table, i,
					 key);
				r = CTL_ERROR;
				break;
			}
		}
		if (r == CTL_OK) {
			rc = sqlite3_step(st);
			if (rc != SQLITE_DONE) {
				snprintf(err, errlen, "tables.%s[%zu]: %s", table, i, sqlite3_errmsg(db));
				r = CTL_ERROR;
			}
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		for (int c = 0; c < 64; c++)
			free(bufs[c]);
		if (r != CTL_OK)
			goto out;
	}
out:
	sqlite3_finalize(st);
	sbuf_free(&sql);
	shape_free(&t);
	return r;
}

/* Removes the import's temporary directory and what is in it. */
static void remove_tmp_dir(const char *dir)
{
	static const char *const files[] = {
		"session.db", "session.db-journal", "session.db-wal", "session.db-shm"
	};
	char p[CTL_PATH + 64];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

int ctl_import(const char *session_dir, const char *file, json_t **out, char *err,
	       size_t errlen)
{
	char data_dir[CTL_PATH], name[256], tmpdir[CTL_PATH + 300], db[CTL_PATH + 320];
	char a[CTL_PATH], b[CTL_PATH];
	json_error_t jerr;
	json_t *doc = NULL, *tables, *rows, *problems = NULL;
	const char *table;
	sqlite3 *h = NULL;
	struct stat st;
	int version, r = CTL_ERROR, made = 0;

	*out = NULL;
	snprintf(a, sizeof(a), "%s", session_dir);
	snprintf(b, sizeof(b), "%s", session_dir);
	snprintf(data_dir, sizeof(data_dir), "%s", dirname(a));
	snprintf(name, sizeof(name), "%s", basename(b));
	if (!validate_session_name(name)) {
		snprintf(err, errlen, "%s: \"%s\" is not a session name", session_dir, name);
		return CTL_ERROR;
	}
	if (stat(session_dir, &st) == 0) {
		snprintf(err, errlen, "%s exists; import creates a new session and never "
			 "overwrites one", session_dir);
		return CTL_ERROR;
	}
	if (stat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: no such directory", data_dir);
		return CTL_ERROR;
	}
	doc = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		snprintf(err, errlen, "%s: %s (line %d)", file, jerr.text, jerr.line);
		return CTL_ERROR;
	}
	if (json_unpack_ex(doc, &jerr, 0, "{s:s, s:i, s:o}", "format", &table, "schema_version",
			   &version, "tables", &tables) != 0 || strcmp(table, EXPORT_FORMAT) != 0 ||
	    !json_is_object(tables)) {
		snprintf(err, errlen, "%s: not a sessionctl export (%s)", file,
			 *jerr.text ? jerr.text : "format");
		goto out;
	}
	if (version < 1 || version > store_migration_count) {
		snprintf(err, errlen, "%s: schema version %d is newer than this sessionctl knows (%d)",
			 file, version, store_migration_count);
		goto out;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/.import-%s-%ld", data_dir, name, (long)getpid());
	snprintf(db, sizeof(db), "%s/session.db", tmpdir);
	remove_tmp_dir(tmpdir);
	if (mkdir(tmpdir, 0700) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmpdir, strerror(errno));
		goto out;
	}
	made = 1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    sqlite3_exec(h, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = OFF",
			 NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db, h ? sqlite3_errmsg(h) : "cannot open");
		goto out;
	}
	if (ctl_create_schema(h, version, err, errlen) != CTL_OK)
		goto out;
	if (sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlerr;
	r = CTL_OK;
	json_object_foreach(tables, table, rows) {
		r = import_table(h, table, rows, err, errlen);
		if (r != CTL_OK)
			break;
	}
	if (r != CTL_OK)
		goto out;
	r = CTL_ERROR;
	if (sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlerr;
	if (store_migrate(h, err, errlen) != SQLITE_OK)
		goto out;
	if (sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlerr;
	sqlite3_close(h);
	h = NULL;
	r = ctl_verify(db, &problems, err, errlen);
	if (r == CTL_FAILED)
		snprintf(err, errlen, "the imported session failed verify (%zu problem(s)), first: %s",
			 json_array_size(problems), json_string_value(json_array_get(problems, 0)));
	if (r != CTL_OK)
		goto out;
	r = CTL_ERROR;
	if (chmod(db, 0600) != 0 || util_fsync_path(db) != 0 || util_fsync_dir(tmpdir) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", db, strerror(errno));
		goto out;
	}
	if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, session_dir, RENAME_NOREPLACE) != 0) {
		snprintf(err, errlen, errno == EEXIST ? "%s appeared meanwhile; not overwriting it" :
			 "cannot create %s: %s", session_dir, strerror(errno));
		goto out;
	}
	made = 0;
	util_fsync_dir(data_dir);
	snprintf(db, sizeof(db), "%s/session.db", session_dir);
	r = ctl_info(db, out, err, errlen);
	goto out;
sqlerr:
	snprintf(err, errlen, "%s: %s", db, sqlite3_errmsg(h));
	r = CTL_ERROR;
out:
	sqlite3_close(h);
	if (made)
		remove_tmp_dir(tmpdir);
	json_decref(problems);
	json_decref(doc);
	return r;
}
