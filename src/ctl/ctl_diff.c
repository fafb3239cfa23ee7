/* ctl_diff.c - what changed between two session databases ("since the 10
 * o'clock backup?").
 *
 * Design notes
 * - A is opened read-only and B is ATTACHed read-only to the same
 *   connection, so the comparison is a handful of SQL joins inside one read
 *   transaction of each: nothing is loaded whole, and a live session can be
 *   one side while the server writes to it.
 * - Nodes: added, removed (live in one, absent or a tombstone in the
 *   other), changed (kind, data, deps or version differ) with the top-level
 *   keys of data whose values differ. Lock changes are not content and are
 *   not reported. Tasks: added, removed, changed (with the fields). Chat:
 *   messages added. Blobs: added and removed by hash, when both have them.
 * - Rows are matched by id and creation time, not by id alone: after a reset
 *   ids start again, and a new task #1 is not the old task #1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

/* "file:" URI for a path (ATTACH with mode=ro). */
static void uri_of(const char *path, char *out, size_t len)
{
	struct sbuf b;
	sbuf_init(&b, 64);
	sbuf_addstr(&b, "file:");
	for (const char *p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			sbuf_printf(&b, "%%%02X", (unsigned char)*p);
		else
			sbuf_addc(&b, *p);
	}
	sbuf_addstr(&b, "?mode=ro");
	snprintf(out, len, "%s", b.p);
	sbuf_free(&b);
}

/* Rows of a query as an array of objects, columns named by the query. */
static int rows(sqlite3 *db, const char *sql, json_t **out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;
	*out = json_array();
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot compare: %s", sqlite3_errmsg(db));
		return CTL_ERROR;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			json_t *v;
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				v = json_real(sqlite3_column_double(st, i));
				break;
			case SQLITE_TEXT:
				v = json_string((const char *)sqlite3_column_text(st, i));
				break;
			default:
				v = json_null();
			}
			json_object_set_new(o, sqlite3_column_name(st, i), v ? v : json_null());
		}
		json_array_append_new(*out, o);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot compare: %s", sqlite3_errmsg(db));
		return CTL_ERROR;
	}
	return CTL_OK;
}

/* The top-level keys whose values differ between two JSON object texts. */
static json_t *changed_keys(const char *a, const char *b)
{
	json_t *ja = a ? json_loads(a, 0, NULL) : NULL, *jb = b ? json_loads(b, 0, NULL) : NULL;
	json_t *keys = json_array(), *v;
	const char *k;
	if (!json_is_object(ja) || !json_is_object(jb)) {
		if (!json_equal(ja, jb))
			json_array_append_new(keys, json_string("(whole data)"));
		goto out;
	}
	json_object_foreach(ja, k, v) {
		if (!json_equal(v, json_object_get(jb, k)))
			json_array_append_new(keys, json_string(k));
	}
	json_object_foreach(jb, k, v) {
		if (!json_object_get(ja, k))
			json_array_append_new(keys, json_string(k));
	}
out:
	json_decref(ja);
	json_decref(jb);
	return keys;
}

static json_t *side(sqlite3 *db, const char *schema, const char *path)
{
	char sql[160];
	json_t *o = json_pack("{ss}", "path", path);
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT key, value FROM \"%s\".meta WHERE key IN "
		 "('epoch', 'seq') ORDER BY key", schema);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(st, 0);
			json_object_set_new(o, k, strcmp(k, "seq") == 0 ?
				json_integer(sqlite3_column_int64(st, 1)) :
				json_string((const char *)sqlite3_column_text(st, 1)));
		}
		sqlite3_finalize(st);
	}
	return o;
}

#define DEPS(s, u) "(SELECT group_concat(dep, char(10)) FROM (SELECT dep FROM " s \
	".node_deps WHERE uuid = " u " ORDER BY position))"

static const char *const q_added =
	"SELECT n.uuid AS uuid, n.kind AS kind FROM b.nodes n WHERE n.deleted = 0 AND NOT EXISTS "
	"(SELECT 1 FROM main.nodes o WHERE o.uuid = n.uuid AND o.deleted = 0) ORDER BY n.uuid";
static const char *const q_removed =
	"SELECT o.uuid AS uuid, o.kind AS kind FROM main.nodes o WHERE o.deleted = 0 AND NOT "
	"EXISTS (SELECT 1 FROM b.nodes n WHERE n.uuid = o.uuid AND n.deleted = 0) ORDER BY o.uuid";
static const char *const q_changed =
	"SELECT uuid, ok, nk, od, nd, ov, nv, odeps, ndeps FROM (SELECT o.uuid AS uuid, "
	"o.kind AS ok, n.kind AS nk, o.data AS od, n.data AS nd, o.version AS ov, "
	"n.version AS nv, " DEPS("main", "o.uuid") " AS odeps, " DEPS("b", "n.uuid") " AS ndeps "
	"FROM main.nodes o JOIN b.nodes n ON n.uuid = o.uuid WHERE o.deleted = 0 AND "
	"n.deleted = 0) WHERE ok IS NOT nk OR od IS NOT nd OR ov IS NOT nv OR "
	"odeps IS NOT ndeps ORDER BY uuid";
static const char *const q_tasks_added =
	"SELECT n.id AS id, n.title AS title, n.status AS status FROM b.tasks n WHERE "
	"n.deleted = 0 AND NOT EXISTS (SELECT 1 FROM main.tasks o WHERE o.id = n.id AND "
	"o.created_at = n.created_at AND o.deleted = 0) ORDER BY n.id";
static const char *const q_tasks_removed =
	"SELECT o.id AS id, o.title AS title, o.status AS status FROM main.tasks o WHERE "
	"o.deleted = 0 AND NOT EXISTS (SELECT 1 FROM b.tasks n WHERE n.id = o.id AND "
	"n.created_at = o.created_at AND n.deleted = 0) ORDER BY o.id";
static const char *const q_tasks_changed =
	"SELECT n.id AS id, n.title AS title, rtrim("
	"iif(o.title IS NOT n.title, 'title ', '') || "
	"iif(o.description IS NOT n.description, 'description ', '') || "
	"iif(o.status IS NOT n.status, 'status ', '') || "
	"iif(o.assignee IS NOT n.assignee, 'assignee ', '') || "
	"iif(o.node IS NOT n.node, 'node ', '')) AS fields FROM main.tasks o JOIN b.tasks n "
	"ON n.id = o.id AND n.created_at = o.created_at WHERE o.deleted = 0 AND n.deleted = 0 "
	"AND fields != '' ORDER BY n.id";
static const char *const q_chat_added =
	"SELECT n.id AS id, n.user AS user, n.text AS text, n.ts AS ts FROM b.chat n WHERE "
	"NOT EXISTS (SELECT 1 FROM main.chat o WHERE o.id = n.id AND o.ts = n.ts) ORDER BY n.id";
static const char *const q_blobs_added =
	"SELECT hash, size FROM b.blobs WHERE hash NOT IN (SELECT hash FROM main.blobs) "
	"ORDER BY hash";
static const char *const q_blobs_removed =
	"SELECT hash, size FROM main.blobs WHERE hash NOT IN (SELECT hash FROM b.blobs) "
	"ORDER BY hash";

/* Chunks (schema 5 on): how many, and their bytes, only in one side. */
static const char *const q_chunks_added =
	"SELECT count(*) AS count, coalesce(sum(size), 0) AS bytes FROM b.chunks "
	"WHERE hash NOT IN (SELECT hash FROM main.chunks)";
static const char *const q_chunks_removed =
	"SELECT count(*) AS count, coalesce(sum(size), 0) AS bytes FROM main.chunks "
	"WHERE hash NOT IN (SELECT hash FROM b.chunks)";

static int nodes_changed(sqlite3 *db, json_t **out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;
	*out = json_array();
	if (sqlite3_prepare_v2(db, q_changed, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot compare nodes: %s", sqlite3_errmsg(db));
		return CTL_ERROR;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ok = (const char *)sqlite3_column_text(st, 1);
		const char *nk = (const char *)sqlite3_column_text(st, 2);
		const char *od = (const char *)sqlite3_column_text(st, 3);
		const char *nd = (const char *)sqlite3_column_text(st, 4);
		const char *odeps = (const char *)sqlite3_column_text(st, 7);
		const char *ndeps = (const char *)sqlite3_column_text(st, 8);
		json_array_append_new(*out, json_pack("{ss ss so sb sb s[II]}",
			"uuid", (const char *)sqlite3_column_text(st, 0), "kind", nk,
			"keys", changed_keys(od, nd),
			"kind_changed", strcmp(ok, nk) != 0,
			"deps_changed", (odeps == NULL) != (ndeps == NULL) ||
					(odeps && strcmp(odeps, ndeps) != 0),
			"version", (json_int_t)sqlite3_column_int64(st, 5),
			(json_int_t)sqlite3_column_int64(st, 6)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot compare nodes: %s", sqlite3_errmsg(db));
		return CTL_ERROR;
	}
	return CTL_OK;
}

int ctl_diff(const char *a, const char *b, json_t **out, char *err, size_t errlen)
{
	char dba[CTL_PATH], dbb[CTL_PATH], uri[CTL_PATH * 2];
	sqlite3 *h = NULL, *hb = NULL;
	sqlite3_stmt *st = NULL;
	json_t *o = NULL, *x[12] = {0};
	int va, vb, r, blobs, chunks;

	*out = NULL;
	r = ctl_resolve_db(a, dba, sizeof(dba), err, errlen);
	if (r == CTL_OK)
		r = ctl_resolve_db(b, dbb, sizeof(dbb), err, errlen);
	/* open B alone first for its own clear errors */
	if (r == CTL_OK)
		r = ctl_open_ro(dbb, 0, &hb, &vb, err, errlen);
	sqlite3_close(hb);
	if (r == CTL_OK)
		r = ctl_open_ro(dba, 0, &h, &va, err, errlen);
	if (r != CTL_OK)
		return r == CTL_FAILED ? CTL_ERROR : r;
	uri_of(dbb, uri, sizeof(uri));
	if (sqlite3_prepare_v2(h, "ATTACH DATABASE ?1 AS b", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "%s: cannot open: %s", dbb, sqlite3_errmsg(h));
		r = CTL_ERROR;
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read: %s", sqlite3_errmsg(h));
		r = CTL_ERROR;
		goto out;
	}
	blobs = ctl_table_exists(h, "main", "blobs") && ctl_table_exists(h, "b", "blobs");
	chunks = ctl_table_exists(h, "main", "chunks") && ctl_table_exists(h, "b", "chunks");
	r = rows(h, q_added, &x[0], err, errlen);
	if (r == CTL_OK)
		r = rows(h, q_removed, &x[1], err, errlen);
	if (r == CTL_OK)
		r = nodes_changed(h, &x[2], err, errlen);
	if (r == CTL_OK)
		r = rows(h, q_tasks_added, &x[3], err, errlen);
	if (r == CTL_OK)
		r = rows(h, q_tasks_removed, &x[4], err, errlen);
	if (r == CTL_OK)
		r = rows(h, q_tasks_changed, &x[5], err, errlen);
	if (r == CTL_OK)
		r = rows(h, q_chat_added, &x[6], err, errlen);
	if (r == CTL_OK && blobs)
		r = rows(h, q_blobs_added, &x[7], err, errlen);
	if (r == CTL_OK && blobs)
		r = rows(h, q_blobs_removed, &x[8], err, errlen);
	if (r == CTL_OK && chunks)
		r = rows(h, q_chunks_added, &x[9], err, errlen);
	if (r == CTL_OK && chunks)
		r = rows(h, q_chunks_removed, &x[10], err, errlen);
	if (r != CTL_OK)
		goto out;
	o = json_pack("{so so}", "a", side(h, "main", dba), "b", side(h, "b", dbb));
	json_object_set_new(o, "same_history", json_boolean(json_equal(
		json_object_get(json_object_get(o, "a"), "epoch"),
		json_object_get(json_object_get(o, "b"), "epoch"))));
	json_object_set_new(o, "nodes", json_pack("{sO sO sO}", "added", x[0], "removed", x[1],
						  "changed", x[2]));
	json_object_set_new(o, "tasks", json_pack("{sO sO sO}", "added", x[3], "removed", x[4],
						  "changed", x[5]));
	json_object_set_new(o, "chat", json_pack("{sO}", "added", x[6]));
	json_object_set_new(o, "blobs", blobs ? json_pack("{sO sO}", "added", x[7],
							   "removed", x[8]) : json_null());
	json_object_set_new(o, "chunks", chunks ? json_pack("{sO sO}", "added",
		json_array_get(x[9], 0), "removed", json_array_get(x[10], 0)) : json_null());
	*out = o;
out:
	for (int i = 0; i < 12; i++)
		json_decref(x[i]);
	sqlite3_finalize(st);
	sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(h);
	return r;
}
