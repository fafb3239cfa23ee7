/* ctl_db.c - sessionctl's read side: open, inspect, verify, list.
 *
 * Design notes
 * - Every database is opened read-only: inspecting a live session never
 *   writes to it, and a WAL reader never blocks the server's writer. A
 *   short busy timeout turns a database another program holds locked into
 *   one clear error instead of a hang.
 * - Errors are sorted the way an operator acts on them: a missing file, a
 *   file that is not SQLite, a lock or a newer schema is CTL_ERROR (exit 2:
 *   nothing was checked); damage found inside the file is CTL_FAILED (exit
 *   1, each problem named).
 * - The expected schema of a file is not written down twice: verify builds
 *   it by applying the compiled-in migrations up to the file's version to an
 *   in-memory database and compares tables and columns. Tables added later
 *   (blobs, node_blobs) are checked only when the file's version has them,
 *   so a backup from before they existed is still sound.
 * - Blob bytes are hashed a chunk (at most 1 MiB) at a time, or in 1 MiB
 *   pieces through sqlite3_blob_read for a 1.1 file (one row per blob): a
 *   512 MiB blob is never held in memory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ctl.h"
#include "store.h"
#include "util.h"
#include "validate.h"

#define BUSY_MS 2000
#define MAX_PROBLEMS 100

int ctl_resolve_db(const char *path, char *db, size_t dblen, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return CTL_ERROR;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(db, dblen, "%s/session.db", path);
		if (stat(db, &st) != 0) {
			snprintf(err, errlen, "%s: %s", db, strerror(errno));
			return CTL_ERROR;
		}
	} else {
		snprintf(db, dblen, "%s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", db);
		return CTL_ERROR;
	}
	return CTL_OK;
}

/* The 16-byte header every SQLite 3 database starts with. */
static int check_header(const char *db, char *err, size_t errlen)
{
	char head[16];
	ssize_t n;
	int fd = open(db, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", db, strerror(errno));
		return CTL_ERROR;
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", db, strerror(errno));
		return CTL_ERROR;
	}
	if (n < (ssize_t)sizeof(head) || memcmp(head, "SQLite format 3", 16) != 0) {
		snprintf(err, errlen, "%s: not an SQLite database%s", db, n == 0 ? " (empty file)" : "");
		return CTL_ERROR;
	}
	return CTL_OK;
}

/* Maps an SQLite failure while opening to the operator's words. */
static int open_error(sqlite3 *h, const char *db, int rc, char *err, size_t errlen)
{
	const char *msg = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		snprintf(err, errlen, "%s: the database is locked by another program (waited %d ms)",
			 db, BUSY_MS);
		return CTL_ERROR;
	case SQLITE_NOTADB:
		snprintf(err, errlen, "%s: not an SQLite database", db);
		return CTL_ERROR;
	case SQLITE_CORRUPT:
		snprintf(err, errlen, "%s: the database is corrupt: %s", db, msg);
		return CTL_FAILED;
	default:
		snprintf(err, errlen, "%s: %s", db, msg);
		return CTL_ERROR;
	}
}

int ctl_open_ro(const char *db, int allow_newer, sqlite3 **out, int *version, char *err,
		size_t errlen)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int rc, r;

	*out = NULL;
	*version = 0;
	r = check_header(db, err, errlen);
	if (r != CTL_OK)
		return r;
	rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(h, BUSY_MS);
		rc = sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL);
	}
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*version = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		r = open_error(h, db, rc, err, errlen);
		sqlite3_close(h);
		return r;
	}
	if (!allow_newer && *version > store_migration_count) {
		snprintf(err, errlen, "%s: schema version %d is newer than this sessionctl knows "
			 "(%d); use a newer sessionctl", db, *version, store_migration_count);
		sqlite3_close(h);
		return CTL_ERROR;
	}
	*out = h;
	return CTL_OK;
}

int ctl_table_exists(sqlite3 *db, const char *schema, const char *table)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".sqlite_master WHERE type = 'table' "
		 "AND name = '%s'", schema, table);
	return ctl_scalar(db, sql) > 0;
}

int64_t ctl_scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

json_t *ctl_meta(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st;
	json_t *v = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return json_null();
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		switch (sqlite3_column_type(st, 0)) {
		case SQLITE_INTEGER:
			v = json_integer(sqlite3_column_int64(st, 0));
			break;
		case SQLITE_FLOAT:
			v = json_real(sqlite3_column_double(st, 0));
			break;
		case SQLITE_TEXT:
			v = json_string((const char *)sqlite3_column_text(st, 0));
			break;
		default:
			break;
		}
	}
	sqlite3_finalize(st);
	return v ? v : json_null();
}

static int meta_present(sqlite3 *db, const char *key)
{
	json_t *v = ctl_meta(db, key);
	int present = !json_is_null(v);
	json_decref(v);
	return present;
}

/* Counts and identity of an open session database, as JSON. */
static json_t *summary(sqlite3 *db, int version)
{
	int blobs = ctl_table_exists(db, "main", "blobs");
	json_t *o = json_object();
	json_object_set_new(o, "schema_version", json_integer(version));
	json_object_set_new(o, "epoch", ctl_meta(db, "epoch"));
	json_object_set_new(o, "seq", ctl_meta(db, "seq"));
	json_object_set_new(o, "initialized",
			    json_boolean(ctl_scalar(db, "SELECT value FROM meta WHERE key = "
						    "'initialized'")));
	json_object_set_new(o, "created_at", ctl_meta(db, "created_at"));
	json_object_set_new(o, "nodes", json_integer(ctl_scalar(db,
		"SELECT count(*) FROM nodes WHERE deleted = 0")));
	json_object_set_new(o, "tombstones", json_integer(ctl_scalar(db,
		"SELECT count(*) FROM nodes WHERE deleted = 1")));
	json_object_set_new(o, "tasks", ctl_table_exists(db, "main", "tasks") ?
		json_integer(ctl_scalar(db, "SELECT count(*) FROM tasks WHERE deleted = 0")) :
		json_integer(0));
	json_object_set_new(o, "chat", ctl_table_exists(db, "main", "chat") ?
		json_integer(ctl_scalar(db, "SELECT count(*) FROM chat")) : json_integer(0));
	json_object_set_new(o, "users", json_integer(ctl_scalar(db, "SELECT count(*) FROM users")));
	json_object_set_new(o, "blobs", json_integer(blobs ?
		ctl_scalar(db, "SELECT count(*) FROM blobs") : 0));
	json_object_set_new(o, "blob_bytes", json_integer(blobs ?
		ctl_scalar(db, "SELECT coalesce(sum(size), 0) FROM blobs") : 0));
	return o;
}

int ctl_info(const char *path, json_t **out, char *err, size_t errlen)
{
	char db[CTL_PATH], wal[CTL_PATH + 8];
	sqlite3 *h;
	int version, r;
	json_t *o, *reason;

	*out = NULL;
	r = ctl_resolve_db(path, db, sizeof(db), err, errlen);
	if (r == CTL_OK)
		r = ctl_open_ro(db, 0, &h, &version, err, errlen);
	if (r != CTL_OK)
		return r;
	o = summary(h, version);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	json_object_set_new(o, "path", json_string(db));
	json_object_set_new(o, "file_bytes", json_integer(util_file_size(db)));
	json_object_set_new(o, "wal_bytes", json_integer(util_file_size(wal)));
	reason = ctl_meta(h, "backup_reason");
	if (json_is_null(reason) && !meta_present(h, "backup_created_at")) {
		json_object_set_new(o, "backup", json_null());
		json_decref(reason);
	} else {
		json_object_set_new(o, "backup", json_pack("{so so}", "reason", reason,
			"created_at", ctl_meta(h, "backup_created_at")));
	}
	json_object_set_new(o, "restored_from", ctl_meta(h, "restored_from"));
	sqlite3_close(h);
	*out = o;
	return CTL_OK;
}

/* ------------------------------------------------------------------ */
/* verify                                                              */

static void problem(json_t *problems, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(json_t *problems, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	if (json_array_size(problems) >= MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one problem, one line (integrity_check answers several in one row) */
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ';' : 0;
	json_array_append_new(problems, json_string(buf));
}

/* Runs a query whose rows each describe one problem (first column). */
static void problems_from(sqlite3 *db, const char *sql, const char *prefix, json_t *problems)
{
	sqlite3_stmt *st;
	int rc;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		problem(problems, "%s: cannot check: %s", prefix, sqlite3_errmsg(db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		problem(problems, "%s: %s", prefix, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		problem(problems, "%s: cannot check: %s", prefix, sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

int ctl_create_schema(sqlite3 *db, int version, char *err, size_t errlen)
{
	char bump[64];
	if (version <= 0 || version > store_migration_count)
		version = store_migration_count;
	for (int i = 0; i < version; i++) {
		char *msg = NULL;
		char e[256] = "";
		if (sqlite3_exec(db, store_migrations[i].sql, NULL, NULL, &msg) != SQLITE_OK ||
		    store_migration_finish(db, store_migrations[i].version, e, sizeof(e)) !=
			    SQLITE_OK) {
			snprintf(err, errlen, "migration %s: %s", store_migrations[i].name,
				 msg ? msg : *e ? e : "failed");
			sqlite3_free(msg);
			return CTL_ERROR;
		}
	}
	snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version);
	return sqlite3_exec(db, bump, NULL, NULL, NULL) == SQLITE_OK ? CTL_OK : CTL_ERROR;
}

/* Tables and columns of schema version `version` that db lacks. */
static void check_schema(sqlite3 *db, int version, json_t *problems)
{
	sqlite3 *mem = NULL;
	sqlite3_stmt *tables = NULL, *have = NULL;
	char err[256], last[128] = "";

	if (sqlite3_open(":memory:", &mem) != SQLITE_OK ||
	    ctl_create_schema(mem, version, err, sizeof(err)) != CTL_OK) {
		problem(problems, "schema: cannot build version %d to compare with", version);
		goto out;
	}
	if (sqlite3_prepare_v2(mem, "SELECT m.name, p.name FROM sqlite_master m, "
			       "pragma_table_info(m.name) p WHERE m.type = 'table' "
			       "ORDER BY m.name, p.cid", -1, &tables, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_master WHERE type = "
			       "'table' AND name = ?1), (SELECT count(*) FROM pragma_table_info(?1) "
			       "WHERE name = ?2)", -1, &have, NULL) != SQLITE_OK) {
		problem(problems, "schema: cannot read the table list: %s", sqlite3_errmsg(db));
		goto out;
	}
	while (sqlite3_step(tables) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(tables, 0);
		const char *c = (const char *)sqlite3_column_text(tables, 1);
		sqlite3_bind_text(have, 1, t, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(have, 2, c, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(have) == SQLITE_ROW) {
			if (sqlite3_column_int(have, 0) == 0) {
				/* name a missing table once, not once per column */
				if (strcmp(last, t) != 0)
					problem(problems, "schema: table %s is missing", t);
				snprintf(last, sizeof(last), "%s", t);
			} else if (sqlite3_column_int(have, 1) == 0) {
				problem(problems, "schema: column %s.%s is missing", t, c);
			}
		}
		sqlite3_reset(have);
	}
out:
	sqlite3_finalize(tables);
	sqlite3_finalize(have);
	sqlite3_close(mem);
}

static void check_blobs(sqlite3 *db, json_t *problems)
{
	sqlite3_stmt *st;
	int rc;
	if (sqlite3_prepare_v2(db, "SELECT rowid, hash, size, length(data) FROM blobs "
			       "ORDER BY hash", -1, &st, NULL) != SQLITE_OK) {
		problem(problems, "blobs: cannot read: %s", sqlite3_errmsg(db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(st, 1);
		char got[65];
		hash = hash ? hash : "(null)";
		if (sqlite3_column_int64(st, 2) != sqlite3_column_int64(st, 3)) {
			problem(problems, "blob %s: size says %lld bytes, it holds %lld", hash,
				(long long)sqlite3_column_int64(st, 2),
				(long long)sqlite3_column_int64(st, 3));
			continue;
		}
		if (ctl_blob_sha256(db, "main", sqlite3_column_int64(st, 0), got) != 0) {
			problem(problems, "blob %s: cannot read its bytes: %s", hash,
				sqlite3_errmsg(db));
			continue;
		}
		if (strcmp(got, hash) != 0)
			problem(problems, "blob %s: its bytes hash to %s", hash, got);
	}
	if (rc != SQLITE_DONE)
		problem(problems, "blobs: cannot read: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* Schema 5 on (protocol 1.2): every chunk's bytes hash to its name and
 * match its size; every blob's chunks are all there, numbered 0..k-1, add
 * up to its size, and hash together (in order, a chunk at a time) to its
 * name. */
static void check_chunks(sqlite3 *db, json_t *problems)
{
	sqlite3_stmt *st = NULL, *parts = NULL;
	int rc;

	problems_from(db, "SELECT 'chunk ' || hash || ': size says ' || size || ' bytes, it holds ' "
		      "|| length(data) FROM chunks WHERE length(data) != size LIMIT 20", "chunks",
		      problems);
	if (sqlite3_prepare_v2(db, "SELECT hash, data FROM chunks ORDER BY hash", -1, &st,
			       NULL) != SQLITE_OK) {
		problem(problems, "chunks: cannot read: %s", sqlite3_errmsg(db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(st, 0);
		const void *data = sqlite3_column_blob(st, 1);
		char got[65];
		ctl_sha256_hex(data ? data : "", (size_t)sqlite3_column_bytes(st, 1), got);
		if (strcmp(got, hash ? hash : "") != 0)
			problem(problems, "chunk %s: its bytes hash to %s", hash ? hash : "(null)",
				got);
	}
	if (rc != SQLITE_DONE)
		problem(problems, "chunks: cannot read: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	problems_from(db, "SELECT 'blob ' || blob || ' names chunk ' || chunk || ', which is not "
		      "stored' FROM blob_chunks WHERE chunk NOT IN (SELECT hash FROM chunks) LIMIT 20",
		      "blob_chunks", problems);
	problems_from(db, "SELECT 'blob ' || b.hash || ': size says ' || b.size || ' bytes, its "
		      "chunks hold ' || coalesce(sum(c.size), 0) FROM blobs b LEFT JOIN blob_chunks "
		      "bc ON bc.blob = b.hash LEFT JOIN chunks c ON c.hash = bc.chunk GROUP BY "
		      "b.hash HAVING coalesce(sum(c.size), 0) != b.size LIMIT 20", "blobs", problems);
	problems_from(db, "SELECT 'blob ' || blob || ': chunks are not numbered 0..' || "
		      "(count(*) - 1) FROM blob_chunks GROUP BY blob HAVING min(n) != 0 OR "
		      "max(n) != count(*) - 1 LIMIT 20", "blob_chunks", problems);
	if (sqlite3_prepare_v2(db, "SELECT hash FROM blobs ORDER BY hash", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT c.data FROM blob_chunks bc JOIN chunks c ON c.hash = "
			       "bc.chunk WHERE bc.blob = ?1 ORDER BY bc.n", -1, &parts, NULL) !=
		    SQLITE_OK) {
		problem(problems, "blobs: cannot read: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(st, 0);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		unsigned char md[32];
		unsigned mdlen = 0;
		char got[65];
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		sqlite3_bind_text(parts, 1, hash, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(parts) == SQLITE_ROW)
			EVP_DigestUpdate(ctx, sqlite3_column_blob(parts, 0),
					 (size_t)sqlite3_column_bytes(parts, 0));
		sqlite3_reset(parts);
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		EVP_MD_CTX_free(ctx);
		for (int i = 0; i < 32; i++)
			snprintf(got + 2 * i, 3, "%02x", md[i]);
		if (strcmp(got, hash ? hash : "") != 0)
			problem(problems, "blob %s: its chunks hash to %s", hash ? hash : "(null)",
				got);
	}
	if (rc != SQLITE_DONE)
		problem(problems, "blobs: cannot read: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_finalize(parts);
}

int ctl_verify_db(sqlite3 *db, int version, json_t *problems, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	problems_from(db, "PRAGMA integrity_check(50)", "integrity_check", problems);
	/* integrity_check answers one "ok" row when sound */
	{
		size_t n = json_array_size(problems);
		if (n && strcmp(json_string_value(json_array_get(problems, n - 1)),
				"integrity_check: ok") == 0)
			json_array_remove(problems, n - 1);
	}
	if (version == 0) {
		problem(problems, "schema version 0: not a sessiond database");
		return CTL_OK;
	}
	if (version > store_migration_count) {
		problem(problems, "schema version %d is newer than this sessionctl knows (%d)",
			version, store_migration_count);
		return CTL_OK;
	}
	check_schema(db, version, problems);
	if (json_array_size(problems))
		return CTL_OK; /* the row checks below need the tables */
	if (!meta_present(db, "epoch"))
		problem(problems, "meta: epoch is missing");
	if (!meta_present(db, "seq"))
		problem(problems, "meta: seq is missing");
	problems_from(db, "SELECT 'seq ' || m || ' is below the highest row seq ' || r FROM "
		      "(SELECT (SELECT value FROM meta WHERE key = 'seq') AS m, max("
		      "(SELECT coalesce(max(seq), 0) FROM nodes), "
		      "(SELECT coalesce(max(seq), 0) FROM tasks), "
		      "(SELECT coalesce(max(seq), 0) FROM chat)) AS r) WHERE m < r",
		      "meta", problems);
	problems_from(db, "SELECT 'row (' || uuid || ', ' || position || ') names node ' || "
		      "uuid || ', which does not exist' FROM node_deps WHERE uuid NOT IN "
		      "(SELECT uuid FROM nodes) LIMIT 20", "node_deps", problems);
	problems_from(db, "SELECT 'deleted node ' || uuid || ' still has deps' FROM node_deps "
		      "WHERE uuid IN (SELECT uuid FROM nodes WHERE deleted = 1) GROUP BY uuid "
		      "LIMIT 20", "node_deps", problems);
	problems_from(db, "SELECT 'node ' || uuid || ': positions are not 0..' || (count(*) - 1) "
		      "FROM node_deps GROUP BY uuid HAVING min(position) != 0 OR "
		      "max(position) != count(*) - 1 LIMIT 20", "node_deps", problems);
	problems_from(db, "SELECT 'node ' || uuid || ': data is not a JSON object' FROM nodes "
		      "WHERE deleted = 0 AND (data IS NULL OR NOT json_valid(data) OR "
		      "json_type(data) != 'object') LIMIT 20", "nodes", problems);
	if (ctl_table_exists(db, "main", "node_blobs")) {
		problems_from(db, "SELECT 'row names node ' || uuid || ', which does not exist' "
			      "FROM node_blobs WHERE uuid NOT IN (SELECT uuid FROM nodes) LIMIT 20",
			      "node_blobs", problems);
		problems_from(db, "SELECT 'deleted node ' || uuid || ' still names blobs' FROM "
			      "node_blobs WHERE uuid IN (SELECT uuid FROM nodes WHERE deleted = 1) "
			      "GROUP BY uuid LIMIT 20", "node_blobs", problems);
		problems_from(db, "SELECT 'node ' || uuid || ': positions are not 0..' || "
			      "(count(*) - 1) FROM node_blobs GROUP BY uuid HAVING min(position) != 0 "
			      "OR max(position) != count(*) - 1 LIMIT 20", "node_blobs", problems);
		/* A node may name a blob the session does not hold (yet), as
		 * deps may name missing nodes; the name itself must be a hash. */
		problems_from(db, "SELECT 'node ' || uuid || ' names \"' || hash || "
			      "'\", which is not a lowercase hex SHA-256' FROM node_blobs WHERE "
			      "length(hash) != 64 OR hash GLOB '*[^0-9a-f]*' LIMIT 20", "node_blobs",
			      problems);
	}
	if (ctl_table_exists(db, "main", "chunks"))
		check_chunks(db, problems);
	else if (ctl_table_exists(db, "main", "blobs"))
		check_blobs(db, problems);
	return CTL_OK;
}

int ctl_verify(const char *path, json_t **problems, char *err, size_t errlen)
{
	char db[CTL_PATH];
	sqlite3 *h = NULL;
	int version, r;

	*problems = json_array();
	r = ctl_resolve_db(path, db, sizeof(db), err, errlen);
	if (r == CTL_OK)
		r = ctl_open_ro(db, 1, &h, &version, err, errlen);
	if (r == CTL_FAILED) {
		/* corrupt beyond reading its version: that is the finding */
		json_array_append_new(*problems, json_string(err));
		*err = 0;
		return CTL_FAILED;
	}
	if (r != CTL_OK)
		return r;
	r = ctl_verify_db(h, version, *problems, err, errlen);
	sqlite3_close(h);
	if (r != CTL_OK)
		return r;
	return json_array_size(*problems) ? CTL_FAILED : CTL_OK;
}

/* ------------------------------------------------------------------ */
/* list                                                                */

static int count_backups(const char *dir)
{
	char bdir[CTL_PATH + 16];
	DIR *d;
	struct dirent *e;
	int n = 0;
	snprintf(bdir, sizeof(bdir), "%s/backups", dir);
	d = opendir(bdir);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "snapshot_", 9) == 0)
			n++;
	closedir(d);
	return n;
}

static json_t *list_one(const char *data_dir, const char *name)
{
	char dir[CTL_PATH], db[CTL_PATH + 16], wal[CTL_PATH + 24], meta[CTL_PATH + 32];
	char err[CTL_ERRLEN];
	json_t *o = json_pack("{ss}", "name", name), *m, *s;
	sqlite3 *h;
	int version;

	snprintf(dir, sizeof(dir), "%s/%s", data_dir, name);
	snprintf(db, sizeof(db), "%s/session.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(meta, sizeof(meta), "%s/session_metadata.json", dir);
	json_object_set_new(o, "bytes", json_integer(util_file_size(db) + util_file_size(wal)));
	json_object_set_new(o, "backups", json_integer(count_backups(dir)));
	m = json_load_file(meta, 0, NULL);
	json_object_set_new(o, "last_save", m ? json_pack("{sO sO sO}",
		"datetime", json_object_get(m, "datetime") ? json_object_get(m, "datetime") : json_null(),
		"reason", json_object_get(m, "reason") ? json_object_get(m, "reason") : json_null(),
		"backup", json_object_get(m, "backup") ? json_object_get(m, "backup") : json_null())
		: json_null());
	json_decref(m);
	if (ctl_open_ro(db, 0, &h, &version, err, sizeof(err)) != CTL_OK) {
		json_object_set_new(o, "error", json_string(err));
		return o;
	}
	s = summary(h, version);
	sqlite3_close(h);
	json_object_update(o, s);
	json_decref(s);
	return o;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ctl_list(const char *data_dir, json_t **out, char *err, size_t errlen)
{
	DIR *d = opendir(data_dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	json_t *sessions;

	*out = NULL;
	if (!d) {
		snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
		return CTL_ERROR;
	}
	while ((e = readdir(d))) {
		char p[CTL_PATH + 300];
		struct stat st;
		if (!validate_session_name(e->d_name))
			continue;
		snprintf(p, sizeof(p), "%s/%s", data_dir, e->d_name);
		if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		/* a session directory, as the server sees one: a database or
		 * backups (an unreadable one is listed with its error) */
		snprintf(p, sizeof(p), "%s/%s/session.db", data_dir, e->d_name);
		if (stat(p, &st) != 0 && errno == ENOENT) {
			snprintf(p, sizeof(p), "%s/%s/backups", data_dir, e->d_name);
			if (stat(p, &st) != 0 && errno == ENOENT)
				continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	sessions = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(sessions, list_one(data_dir, names[i]));
		free(names[i]);
	}
	free(names);
	*out = json_pack("{ss so so}", "data_dir", data_dir, "server_running",
			 json_boolean(ctl_server_running(data_dir) == 1), "sessions", sessions);
	return CTL_OK;
}

/* ------------------------------------------------------------------ */
/* hashing and base64                                                  */

static void hex(const unsigned char *md, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = 0;
}

void ctl_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	hex(md, out);
}

int ctl_blob_sha256(sqlite3 *db, const char *schema, int64_t rowid, char out[65])
{
	sqlite3_blob *b = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = NULL, md[32];
	unsigned int mdlen = 0;
	int len, rc = -1;

	if (!ctx || sqlite3_blob_open(db, schema, "blobs", "data", rowid, 0, &b) != SQLITE_OK)
		goto out;
	buf = xmalloc(1 << 20);
	len = sqlite3_blob_bytes(b);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (int off = 0; off < len;) {
		int k = len - off < (1 << 20) ? len - off : (1 << 20);
		if (sqlite3_blob_read(b, buf, k, off) != SQLITE_OK)
			goto out;
		EVP_DigestUpdate(ctx, buf, (size_t)k);
		off += k;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	hex(md, out);
	rc = 0;
out:
	free(buf);
	sqlite3_blob_close(b);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ctl_base64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

long ctl_base64_decode(const char *in, size_t len, unsigned char *out)
{
	long o = 0;
	unsigned v = 0;
	int bits = 0;
	size_t pad = 0;
	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *p;
		if (in[i] == '=') {
			if (i < len - 2)
				return -1;
			pad++;
			continue;
		}
		if (pad || !(p = strchr(b64, in[i])) || !in[i])
			return -1;
		v = (v << 6) | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	return o;
}
