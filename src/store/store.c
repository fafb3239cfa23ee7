/* store.c - one session's SQLite database.
 *
 * Design notes
 * - The database is the only copy of the scene graph: the server keeps no
 *   in-memory mirror that could disagree with it after a failed commit. The
 *   one copy (store_heads.c: owner, version, seq of live nodes) is forgotten
 *   whenever SQLite may have undone something; other reads use the cache.
 * - The network thread owns this connection. Statements are prepared once,
 *   lazily, with SQLITE_PREPARE_PERSISTENT, and reset right after every use:
 *   a statement left running would block checkpoints and VACUUM INTO on the
 *   saver's connection ("SQL statements in progress").
 * - A batch is one transaction; each request inside it is a SAVEPOINT so a
 *   failing request rolls back alone (see session.c).
 * - Automatic checkpoints are off on this connection: a checkpoint writes
 *   and fsyncs the database file, and must not stall the network thread.
 *   The saver thread checkpoints instead (server_cron asks it to when the
 *   WAL holds more than SESSION_WAL_CHECKPOINT_FRAMES, as the WAL hook
 *   counts after each commit; every save checkpoints too).
 * - Blobs and chunks are in store_blobs.c (the same module; store_int.h is
 *   what the two files share), with their own prepared statements.
 * - secure_delete is FAST (Debian builds SQLite with it ON): deleted rows
 *   are still wiped from b-tree pages, but the overflow pages of a dropped
 *   chunk go to the freelist without being rewritten with
 *   zeros, which would write every byte of a deleted blob again (and copy it
 *   into the SAVEPOINT's journal in memory).
 * - Migrations are compiled in (embed_sql.c); each runs in its own
 *   transaction together with its PRAGMA user_version bump, so a crash never
 *   leaves a half-migrated file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "util.h"

/* enum stmt_id and struct store: store_int.h */

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT req",
	[ST_RELEASE] = "RELEASE req",
	[ST_ROLLBACK_TO] = "ROLLBACK TO req",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
			"ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_NODE_GET] = "SELECT uuid, kind, data, owner, version, seq, updated_by, updated_at, "
			"deleted FROM nodes WHERE uuid = ?1",
	/* store_heads.c: the head of a node, and the two changes that find
	 * their row by the rowid it holds (the uuid and deleted are checked). */
	[ST_NODE_PEEK] = "SELECT rowid, owner, version, seq, deleted FROM nodes WHERE uuid = ?1",
	[ST_NODE_CHANGE] = "UPDATE nodes SET kind = coalesce(?3, kind), data = CASE WHEN ?5 IS NULL "
			   "THEN coalesce(?4, data) ELSE merge_patch(coalesce(?4, data), ?5) END, "
			   "version = ?6, seq = ?7, updated_by = ?8, updated_at = ?9 "
			   "WHERE rowid = ?1 AND uuid = ?2 AND deleted = 0",
	[ST_NODE_OWNER] = "UPDATE nodes SET owner = ?3, seq = ?4 "
			  "WHERE rowid = ?1 AND uuid = ?2 AND deleted = 0",
	[ST_NODE_DEPS] = "SELECT dep FROM node_deps WHERE uuid = ?1 ORDER BY position",
	[ST_NODE_INSERT] = "INSERT INTO nodes (uuid, kind, data, owner, version, seq, updated_by, "
			   "updated_at, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0) "
			   "ON CONFLICT (uuid) DO UPDATE SET kind = excluded.kind, data = excluded.data, "
			   "owner = excluded.owner, version = excluded.version, seq = excluded.seq, "
			   "updated_by = excluded.updated_by, updated_at = excluded.updated_at, "
			   "deleted = 0 WHERE deleted = 1",
	/* ?3 NULL keeps the data; ?9 is an RFC 7386 merge patch applied by
	 * merge_patch() (store_patch.c), so the hot path never parses data. */
	[ST_NODE_UPDATE] = "UPDATE nodes SET kind = ?2, data = CASE WHEN ?9 IS NULL THEN "
			   "coalesce(?3, data) ELSE merge_patch(coalesce(?3, data), ?9) END, "
			   "owner = ?4, version = ?5, seq = ?6, updated_by = ?7, updated_at = ?8 "
			   "WHERE uuid = ?1 AND deleted = 0",
	[ST_NODE_DEPS_DEL] = "DELETE FROM node_deps WHERE uuid = ?1",
	[ST_NODE_DEPS_ADD] = "INSERT INTO node_deps (uuid, position, dep) VALUES (?1, ?2, ?3)",
	[ST_NODE_TOMB] = "UPDATE nodes SET data = NULL, owner = NULL, deleted = 1, seq = ?2, "
			 "updated_by = ?3, updated_at = ?4 WHERE uuid = ?1 AND deleted = 0",
	[ST_NODES_OWNED] = "SELECT uuid FROM nodes WHERE owner = ?1 AND deleted = 0 ORDER BY uuid",
	[ST_TASK_INSERT] = "INSERT INTO tasks (title, description, status, assignee, node, "
			   "created_by, created_at, updated_at, seq) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_TASK_GET] = "SELECT id, title, description, status, assignee, node, created_by, "
			"created_at, updated_at, seq, deleted FROM tasks WHERE id = ?1",
	[ST_TASK_UPDATE] = "UPDATE tasks SET title = ?2, description = ?3, status = ?4, "
			   "assignee = ?5, node = ?6, updated_at = ?7, seq = ?8 "
			   "WHERE id = ?1 AND deleted = 0",
	[ST_TASK_TOMB] = "UPDATE tasks SET deleted = 1, seq = ?2, updated_at = ?3 "
			 "WHERE id = ?1 AND deleted = 0",
	[ST_CHAT_INSERT] = "INSERT INTO chat (user, text, ts, seq) VALUES (?1, ?2, ?3, ?4)",
	[ST_CHAT_HISTORY] = "SELECT id, user, text, ts, seq FROM (SELECT * FROM chat "
			    "WHERE id < ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
	[ST_CHAT_TRIM] = "DELETE FROM chat WHERE id <= (SELECT id FROM chat ORDER BY id DESC "
			 "LIMIT 1 OFFSET ?1)",
	[ST_USER_TOUCH] = "INSERT INTO users (name, role, color, first_seen, last_seen) "
			  "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO UPDATE SET "
			  "role = excluded.role, color = coalesce(excluded.color, users.color), "
			  "last_seen = excluded.last_seen",
	[ST_USER_META] = "UPDATE users SET metadata = ?2, last_seen = ?3 WHERE name = ?1",
	[ST_USERS] = "SELECT name, role, color, metadata, first_seen, last_seen FROM users "
		     "ORDER BY name",
	[ST_USER_GET] = "SELECT name, role, color, metadata, first_seen, last_seen FROM users "
			"WHERE name = ?1",
	[ST_NODE_BLOBS] = "SELECT hash FROM node_blobs WHERE uuid = ?1 ORDER BY position",
	[ST_NODE_BLOBS_DEL] = "DELETE FROM node_blobs WHERE uuid = ?1",
	[ST_NODE_BLOBS_ADD] = "INSERT INTO node_blobs (uuid, position, hash) VALUES (?1, ?2, ?3)",
};

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct store *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

int store_wal_frames(struct store *s) { return s->wal_frames; }
void store_wal_checkpointed(struct store *s) { s->wal_frames = 0; }

static sqlite3_stmt *stmt(struct store *s, enum stmt_id id)
{
	if (!s->stmts[id]) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->stmts[id], NULL);
		if (rc != SQLITE_OK) {
			log_error("store: cannot prepare \"%s\": %s", stmt_sql[id],
				  sqlite3_errmsg(s->db));
			return NULL;
		}
	}
	return s->stmts[id];
}

/* Runs a statement that returns no rows; resets it whatever happens. */
static int run(sqlite3_stmt *st)
{
	int rc;
	if (!st)
		return SQLITE_ERROR;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void finish(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK && err)
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

static int read_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*version = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* The schema version, refused (SQLITE_MISMATCH) when it is newer than
 * every migration this binary has. */
static int check_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
	int rc = read_version(db, version, err, errlen);
	if (rc == SQLITE_OK && *version > store_migration_count) {
		snprintf(err, errlen, "schema version %d is newer than this server knows (%d); "
			 "use a newer sessiond", *version, store_migration_count);
		rc = SQLITE_MISMATCH;
	}
	return rc;
}

int store_migrate(sqlite3 *db, char *err, size_t errlen)
{
	int version = 0;
	int rc = check_version(db, &version, err, errlen);
	if (rc != SQLITE_OK)
		return rc;
	for (int i = version; i < store_migration_count; i++) {
		const struct migration *m = &store_migrations[i];
		char bump[64], e[512];
		rc = exec(db, "BEGIN IMMEDIATE", e, sizeof(e));
		e[0] = 0;
		if (rc == SQLITE_OK)
			rc = exec(db, m->sql, e, sizeof(e));
		if (rc == SQLITE_OK)
			rc = store_migration_finish(db, m->version, e, sizeof(e));
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", m->version);
		if (rc == SQLITE_OK)
			rc = exec(db, bump, e, sizeof(e));
		if (rc == SQLITE_OK)
			rc = exec(db, "COMMIT", e, sizeof(e));
		if (rc != SQLITE_OK) {
			exec(db, "ROLLBACK", NULL, 0);
			snprintf(err, errlen, "migration %s failed: %s", m->name, e);
			return rc;
		}
		log_debug("store: applied migration %s", m->name);
	}
	return SQLITE_OK;
}

int store_check_db(sqlite3 *db, int full, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;
	rc = sqlite3_prepare_v2(db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return rc;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		if (r && strcmp(r, "ok") == 0) {
			rc = SQLITE_OK;
		} else {
			snprintf(err, errlen, "%s", r ? r : "check failed");
			rc = SQLITE_CORRUPT;
		}
	} else {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		if (rc == SQLITE_DONE)
			rc = SQLITE_CORRUPT;
	}
	sqlite3_finalize(st);
	return rc;
}

/* A new session's meta rows, all in one transaction: a crash between them
 * must not leave a database that cannot be opened. */
static int init_meta(struct store *s)
{
	char epoch[33];
	int64_t v = 0;
	int rc = store_meta_get_int(s, "seq", &v);
	if (rc != SQLITE_NOTFOUND)
		return rc;
	util_random_hex(epoch, 16);
	rc = exec(s->db, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != SQLITE_OK)
		return rc;
	rc = store_meta_set_text(s, "epoch", epoch);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(s, "seq", 0);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(s, "initialized", 0);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(s, "history_floor", 0);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(s, "created_at", (int64_t)util_now());
	if (rc == SQLITE_OK)
		rc = exec(s->db, "COMMIT", NULL, 0);
	if (rc != SQLITE_OK)
		exec(s->db, "ROLLBACK", NULL, 0);
	return rc;
}

int store_open(const char *path, int sync_full, struct store **out, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	char pragmas[256];
	int rc, version = 0;

	*out = NULL;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 0);
	store_i_functions(s->db); /* merge_patch(): a failure shows at prepare */
	/* A database newer than this binary is refused before anything (even
	 * the journal mode) is written to it. */
	rc = sqlite3_exec(s->db, "PRAGMA busy_timeout = 5000", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = check_version(s->db, &version, err, errlen);
	if (rc != SQLITE_OK)
		goto fail;
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; "
		 "PRAGMA synchronous = %s; PRAGMA foreign_keys = ON; "
		 "PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 0; "
		 "PRAGMA temp_store = MEMORY; PRAGMA secure_delete = FAST;",
		 sync_full ? "FULL" : "NORMAL");
	rc = exec(s->db, pragmas, err, errlen);
	if (rc != SQLITE_OK)
		goto fail;
	rc = store_migrate(s->db, err, errlen);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_wal_hook(s->db, wal_hook, s);
	rc = init_meta(s);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot initialise meta: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	*out = s;
	return SQLITE_OK;
fail:
	store_close(s);
	return rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	store_i_blobs_close(s);
	if (s->in_txn)
		exec(s->db, "ROLLBACK", NULL, 0);
	sqlite3_close(s->db);
	store_i_heads_free(s);
	free(s);
}

sqlite3 *store_db(struct store *s) { return s->db; }

int store_begin(struct store *s)
{
	int rc = run(stmt(s, ST_BEGIN));
	if (rc == SQLITE_OK)
		s->in_txn = 1;
	return rc;
}

int store_commit(struct store *s)
{
	int rc = run(stmt(s, ST_COMMIT));
	if (rc == SQLITE_OK || sqlite3_get_autocommit(s->db))
		s->in_txn = 0;
	if (rc != SQLITE_OK)
		store_i_heads_clear(s);
	return rc;
}

void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		run(stmt(s, ST_ROLLBACK));
	s->in_txn = 0;
	store_i_heads_clear(s);
}

int store_in_transaction(struct store *s) { return s->in_txn; }

int store_txn_alive(struct store *s) { return !sqlite3_get_autocommit(s->db); }
int store_savepoint(struct store *s) { return run(stmt(s, ST_SAVEPOINT)); }
int store_release(struct store *s) { return run(stmt(s, ST_RELEASE)); }

void store_rollback_to(struct store *s)
{
	run(stmt(s, ST_ROLLBACK_TO));
	run(stmt(s, ST_RELEASE));
	store_i_heads_clear(s);
}

static int meta_get(struct store *s, const char *key, sqlite3_stmt **out)
{
	sqlite3_stmt *st = stmt(s, ST_META_GET);
	int rc;
	*out = NULL;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = st;
		return SQLITE_OK;
	}
	finish(st);
	return rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc;
}

int store_meta_get_int(struct store *s, const char *key, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = meta_get(s, key, &st);
	if (rc == SQLITE_OK) {
		*out = sqlite3_column_int64(st, 0);
		finish(st);
	}
	return rc;
}

int store_meta_get_text(struct store *s, const char *key, char **out)
{
	sqlite3_stmt *st = NULL;
	int rc = meta_get(s, key, &st);
	if (rc == SQLITE_OK) {
		*out = col_text(st, 0);
		finish(st);
		if (!*out)
			*out = xstrdup("");
	}
	return rc;
}

int store_meta_set_int(struct store *s, const char *key, int64_t v)
{
	sqlite3_stmt *st = stmt(s, ST_META_SET);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return run(st);
}

int store_meta_set_text(struct store *s, const char *key, const char *v)
{
	sqlite3_stmt *st = stmt(s, ST_META_SET);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
	return run(st);
}

int store_node_get(struct store *s, const char *uuid, struct node_row *n)
{
	sqlite3_stmt *st = stmt(s, ST_NODE_GET);
	int rc;
	memset(n, 0, sizeof(*n));
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n->uuid = col_text(st, 0);
		n->kind = col_text(st, 1);
		n->data = col_text(st, 2);
		n->owner = col_text(st, 3);
		n->version = sqlite3_column_int64(st, 4);
		n->seq = sqlite3_column_int64(st, 5);
		n->updated_by = col_text(st, 6);
		n->updated_at = sqlite3_column_double(st, 7);
		n->deleted = sqlite3_column_int(st, 8);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	finish(st);
	return rc;
}

int store_i_strings(struct store *s, enum stmt_id id, const char *key, json_t **out)
{
	sqlite3_stmt *st = stmt(s, id);
	int rc;
	*out = json_array();
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, json_string((const char *)sqlite3_column_text(st, 0)));
	finish(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_node_get_deps(struct store *s, const char *uuid, json_t **out)
{
	return store_i_strings(s, ST_NODE_DEPS, uuid, out);
}

static void bind_node(sqlite3_stmt *st, const struct node_row *n)
{
	sqlite3_bind_text(st, 1, n->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, n->kind, -1, SQLITE_STATIC);
	bind_text(st, 3, n->data);
	bind_text(st, 4, n->owner);
	sqlite3_bind_int64(st, 5, n->version);
	sqlite3_bind_int64(st, 6, n->seq);
	bind_text(st, 7, n->updated_by);
	sqlite3_bind_double(st, 8, n->updated_at);
}

static int run_one_change(struct store *s, sqlite3_stmt *st, int missing_rc)
{
	int rc = run(st);
	if (rc == SQLITE_OK && sqlite3_changes(s->db) == 0)
		return missing_rc;
	return rc;
}

/* A write of node uuid's row: its head in memory is forgotten, and all of
 * them if the write failed (SQLite may have undone more). */
static int node_write(struct store *s, sqlite3_stmt *st, const char *uuid, int missing_rc)
{
	int rc = run_one_change(s, st, missing_rc);
	if (rc == SQLITE_OK || rc == missing_rc)
		store_i_heads_drop(s, uuid);
	else
		store_i_heads_clear(s);
	return rc;
}

int store_node_insert(struct store *s, const struct node_row *n)
{
	sqlite3_stmt *st = stmt(s, ST_NODE_INSERT);
	if (!st)
		return SQLITE_ERROR;
	bind_node(st, n);
	return node_write(s, st, n->uuid, SQLITE_CONSTRAINT);
}

int store_node_update(struct store *s, const struct node_row *n, const char *patch)
{
	sqlite3_stmt *st = stmt(s, ST_NODE_UPDATE);
	if (!st)
		return SQLITE_ERROR;
	bind_node(st, n);
	bind_text(st, 9, patch);
	return node_write(s, st, n->uuid, SQLITE_NOTFOUND);
}

int store_i_set_list(struct store *s, enum stmt_id del_id, enum stmt_id add_id,
		     const char *uuid, json_t *items)
{
	sqlite3_stmt *del = stmt(s, del_id), *add = stmt(s, add_id);
	size_t i;
	json_t *v;
	int rc;
	if (!del || !add)
		return SQLITE_ERROR;
	sqlite3_bind_text(del, 1, uuid, -1, SQLITE_STATIC);
	rc = run(del);
	json_array_foreach(items, i, v) {
		if (rc != SQLITE_OK)
			break;
		sqlite3_bind_text(add, 1, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(add, 2, (int64_t)i);
		sqlite3_bind_text(add, 3, json_string_value(v), -1, SQLITE_STATIC);
		rc = run(add);
	}
	return rc;
}

int store_node_set_deps(struct store *s, const char *uuid, json_t *deps)
{
	return store_i_set_list(s, ST_NODE_DEPS_DEL, ST_NODE_DEPS_ADD, uuid, deps);
}

int store_node_tombstone(struct store *s, const char *uuid, int64_t seq, const char *user,
			 double ts)
{
	sqlite3_stmt *st = stmt(s, ST_NODE_TOMB);
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	bind_text(st, 3, user);
	sqlite3_bind_double(st, 4, ts);
	rc = node_write(s, st, uuid, SQLITE_NOTFOUND);
	if (rc == SQLITE_OK)
		rc = store_node_set_deps(s, uuid, NULL);
	if (rc == SQLITE_OK)
		rc = store_node_set_blobs(s, uuid, NULL);
	return rc;
}

int store_nodes_owned_by(struct store *s, const char *user, json_t **out)
{
	return store_i_strings(s, ST_NODES_OWNED, user, out);
}

void node_row_free(struct node_row *n)
{
	free(n->uuid);
	free(n->kind);
	free(n->data);
	free(n->owner);
	free(n->updated_by);
	json_decref(n->deps);
	json_decref(n->blobs);
	memset(n, 0, sizeof(*n));
}

int store_task_insert(struct store *s, struct task_row *t)
{
	sqlite3_stmt *st = stmt(s, ST_TASK_INSERT);
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, t->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->description ? t->description : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->status, -1, SQLITE_STATIC);
	bind_text(st, 4, t->assignee);
	bind_text(st, 5, t->node);
	sqlite3_bind_text(st, 6, t->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 7, t->created_at);
	sqlite3_bind_double(st, 8, t->updated_at);
	sqlite3_bind_int64(st, 9, t->seq);
	rc = run(st);
	if (rc == SQLITE_OK)
		t->id = sqlite3_last_insert_rowid(s->db);
	return rc;
}

int store_task_get(struct store *s, int64_t id, struct task_row *t)
{
	sqlite3_stmt *st = stmt(s, ST_TASK_GET);
	int rc;
	memset(t, 0, sizeof(*t));
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->id = sqlite3_column_int64(st, 0);
		t->title = col_text(st, 1);
		t->description = col_text(st, 2);
		t->status = col_text(st, 3);
		t->assignee = col_text(st, 4);
		t->node = col_text(st, 5);
		t->created_by = col_text(st, 6);
		t->created_at = sqlite3_column_double(st, 7);
		t->updated_at = sqlite3_column_double(st, 8);
		t->seq = sqlite3_column_int64(st, 9);
		t->deleted = sqlite3_column_int(st, 10);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	finish(st);
	return rc;
}

int store_task_update(struct store *s, const struct task_row *t)
{
	sqlite3_stmt *st = stmt(s, ST_TASK_UPDATE);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, t->id);
	sqlite3_bind_text(st, 2, t->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->description ? t->description : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->status, -1, SQLITE_STATIC);
	bind_text(st, 5, t->assignee);
	bind_text(st, 6, t->node);
	sqlite3_bind_double(st, 7, t->updated_at);
	sqlite3_bind_int64(st, 8, t->seq);
	return run_one_change(s, st, SQLITE_NOTFOUND);
}

int store_task_tombstone(struct store *s, int64_t id, int64_t seq, double ts)
{
	sqlite3_stmt *st = stmt(s, ST_TASK_TOMB);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_double(st, 3, ts);
	return run_one_change(s, st, SQLITE_NOTFOUND);
}

void task_row_free(struct task_row *t)
{
	free(t->title);
	free(t->description);
	free(t->status);
	free(t->assignee);
	free(t->node);
	free(t->created_by);
	memset(t, 0, sizeof(*t));
}

int store_chat_insert(struct store *s, const char *user, const char *text, double ts,
		      int64_t seq, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, ST_CHAT_INSERT);
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, ts);
	sqlite3_bind_int64(st, 4, seq);
	rc = run(st);
	if (rc == SQLITE_OK)
		*id = sqlite3_last_insert_rowid(s->db);
	return rc;
}

int store_chat_history(struct store *s, int64_t before, int64_t limit, json_t **out)
{
	sqlite3_stmt *st = stmt(s, ST_CHAT_HISTORY);
	int rc;
	*out = json_array();
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, before > 0 ? before : INT64_MAX);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, json_pack("{sI ss ss sf sI}",
			"id", (json_int_t)sqlite3_column_int64(st, 0),
			"user", (const char *)sqlite3_column_text(st, 1),
			"text", (const char *)sqlite3_column_text(st, 2),
			"ts", sqlite3_column_double(st, 3),
			"seq", (json_int_t)sqlite3_column_int64(st, 4)));
	finish(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_chat_trim(struct store *s, int64_t keep)
{
	sqlite3_stmt *st = stmt(s, ST_CHAT_TRIM);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, keep);
	return run(st);
}

int store_user_touch(struct store *s, const char *name, const char *role, const char *color,
		     double now)
{
	sqlite3_stmt *st = stmt(s, ST_USER_TOUCH);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
	bind_text(st, 3, color);
	sqlite3_bind_double(st, 4, now);
	return run(st);
}

int store_user_set_metadata(struct store *s, const char *name, const char *metadata,
			    double last_seen)
{
	sqlite3_stmt *st = stmt(s, ST_USER_META);
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, metadata, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, last_seen);
	return run(st);
}

static json_t *user_row(sqlite3_stmt *st)
{
	const char *color = (const char *)sqlite3_column_text(st, 2);
	json_t *meta = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
	return json_pack("{ss ss so so sf sf}",
		"name", (const char *)sqlite3_column_text(st, 0),
		"role", (const char *)sqlite3_column_text(st, 1),
		"color", color ? json_string(color) : json_null(),
		"metadata", meta ? meta : json_object(),
		"first_seen", sqlite3_column_double(st, 4),
		"last_seen", sqlite3_column_double(st, 5));
}

int store_users(struct store *s, json_t **out)
{
	sqlite3_stmt *st = stmt(s, ST_USERS);
	int rc;
	*out = json_array();
	if (!st)
		return SQLITE_ERROR;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, user_row(st));
	finish(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_user_get(struct store *s, const char *name, json_t **out)
{
	sqlite3_stmt *st = stmt(s, ST_USER_GET);
	int rc;
	*out = NULL;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = user_row(st);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	finish(st);
	return rc;
}

static int count(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* The helpers above, for store_blobs.c (the same module). */
sqlite3_stmt *store_i_stmt(struct store *s, enum stmt_id id) { return stmt(s, id); }
int store_i_run(sqlite3_stmt *st) { return run(st); }
void store_i_finish(sqlite3_stmt *st) { finish(st); }
int store_i_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	return exec(db, sql, err, errlen);
}
int store_i_count(sqlite3 *db, const char *sql, int64_t *out) { return count(db, sql, out); }

int store_db_counts(sqlite3 *db, struct store_counts *c)
{
	int rc = count(db, "SELECT count(*) FROM nodes WHERE deleted = 0", &c->nodes);
	if (rc == SQLITE_OK)
		rc = count(db, "SELECT count(*) FROM blobs", &c->blobs);
	if (rc == SQLITE_OK)
		rc = count(db, "SELECT coalesce(sum(size), 0) FROM blobs", &c->blob_bytes);
	if (rc == SQLITE_OK)
		rc = count(db, "SELECT count(*) FROM chunks", &c->chunks);
	if (rc == SQLITE_OK)
		rc = count(db, "SELECT coalesce(sum(size), 0) FROM chunks", &c->chunk_bytes);
	if (rc == SQLITE_OK)
		rc = count(db, "SELECT count(*) FROM tasks WHERE deleted = 0", &c->tasks);
	if (rc == SQLITE_OK)
		rc = count(db, "SELECT count(*) FROM chat", &c->chat);
	if (rc == SQLITE_OK)
		rc = count(db, "SELECT count(*) FROM users", &c->users);
	return rc;
}

int store_counts(struct store *s, struct store_counts *c)
{
	return store_db_counts(s->db, c);
}

int store_lock_owners(struct store *s, json_t **out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT DISTINCT owner FROM nodes "
				    "WHERE owner IS NOT NULL AND deleted = 0", -1, &st, NULL);
	*out = json_array();
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_purge_tombstones(struct store *s, int64_t upto)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "DELETE FROM nodes WHERE deleted = 1 AND seq <= %lld; "
		 "DELETE FROM tasks WHERE deleted = 1 AND seq <= %lld;",
		 (long long)upto, (long long)upto);
	store_i_heads_clear(s); /* only live nodes are held: for certainty */
	return exec(s->db, sql, NULL, 0);
}

int store_clear_content(struct store *s)
{
	store_i_heads_clear(s);
	return exec(s->db, "DELETE FROM node_deps; DELETE FROM node_blobs; DELETE FROM nodes; "
		    "DELETE FROM tasks; DELETE FROM chat;", NULL, 0);
}
