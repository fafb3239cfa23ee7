/* sync.c - streaming the session state to a joining client.
 *
 * Each join opens its own read-only connection and holds one read
 * transaction: WAL mode gives it a snapshot at the seq the session had just
 * committed, so writes that arrive while the frames stream out neither block
 * nor leak into the sync; their events are queued behind the sync (conn.c)
 * and carry higher seqs. This is what makes "apply the sync, then the events
 * in order" exact for clients.
 *
 * Frames are built as text directly: node data is stored as JSON text and is
 * spliced in as it is, never parsed and re-serialised. A frame is closed
 * when the next row would take it past SYNC_FRAME_MAX; a single row larger
 * than that goes alone in its frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "sync.h"
#include "util.h"

enum section { SEC_NODES, SEC_TASKS, SEC_CHAT, SEC_END };

struct sync_cursor {
	sqlite3 *db;
	sqlite3_stmt *st[3];
	enum section sec;
	int row_pending;      /* st[sec] has a row not yet written */
	json_t *users;
	int64_t seq;
	struct sbuf row;
};

static const char *const node_cols =
	"SELECT uuid, kind, data, owner, version, seq, updated_by, updated_at, deleted, "
	"(SELECT json_group_array(dep) FROM (SELECT dep FROM node_deps d "
	"WHERE d.uuid = n.uuid ORDER BY position)), "
	"(SELECT json_group_array(hash) FROM (SELECT hash FROM node_blobs b "
	"WHERE b.uuid = n.uuid ORDER BY position)) FROM nodes n ";
static const char *const task_cols =
	"SELECT id, title, description, status, assignee, node, created_by, created_at, "
	"updated_at, seq, deleted FROM tasks ";

static int prepare(struct sync_cursor *c, int i, const char *sql, int64_t bind)
{
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &c->st[i], NULL);
	if (rc == SQLITE_OK && sqlite3_bind_parameter_count(c->st[i]) > 0)
		sqlite3_bind_int64(c->st[i], 1, bind);
	return rc;
}

struct sync_cursor *sync_open(const char *db_path, int delta, int64_t since,
			      int64_t chat_history, json_t *users, int64_t expect_seq,
			      char *err, size_t errlen)
{
	struct sync_cursor *c = xcalloc(1, sizeof(*c));
	char sql[512];
	sqlite3_stmt *st = NULL;
	int rc;

	c->users = users;
	sbuf_init(&c->row, 1024);
	rc = sqlite3_open_v2(db_path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		/* A small cache: the sync reads each page once, and many joins may
		 * stream at the same time. */
		rc = sqlite3_exec(c->db, "PRAGMA busy_timeout = 5000; PRAGMA cache_size = -512; "
				  "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'seq'", -1, &st,
					NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		c->seq = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_OK)
		rc = SQLITE_ERROR;
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && c->seq != expect_seq) {
		snprintf(err, errlen, "snapshot at seq %lld, expected %lld", (long long)c->seq,
			 (long long)expect_seq);
		goto fail;
	}
	if (rc == SQLITE_OK) {
		snprintf(sql, sizeof(sql), "%s%s", node_cols,
			 delta ? "WHERE seq > ?1" : "WHERE deleted = 0");
		rc = prepare(c, SEC_NODES, sql, since);
	}
	if (rc == SQLITE_OK) {
		snprintf(sql, sizeof(sql), "%s%s", task_cols,
			 delta ? "WHERE seq > ?1" : "WHERE deleted = 0");
		rc = prepare(c, SEC_TASKS, sql, since);
	}
	if (rc == SQLITE_OK)
		rc = delta ? prepare(c, SEC_CHAT, "SELECT id, user, text, ts, seq FROM chat "
				     "WHERE seq > ?1 ORDER BY id", since)
			   : prepare(c, SEC_CHAT, "SELECT id, user, text, ts, seq FROM (SELECT * "
				     "FROM chat ORDER BY id DESC LIMIT ?1) ORDER BY id", chat_history);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	return c;
fail:
	sync_close(c);
	return NULL;
}

void sync_close(struct sync_cursor *c)
{
	if (!c)
		return;
	for (int i = 0; i < 3; i++)
		sqlite3_finalize(c->st[i]);
	if (c->db) {
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(c->db);
	}
	json_decref(c->users);
	sbuf_free(&c->row);
	free(c);
}

static void add_text_or_null(struct sbuf *b, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	if (t)
		sbuf_add_json_str(b, t, (size_t)sqlite3_column_bytes(st, i));
	else
		sbuf_addstr(b, "null");
}

static void add_key_text(struct sbuf *b, const char *key, sqlite3_stmt *st, int i)
{
	sbuf_printf(b, ",\"%s\":", key);
	add_text_or_null(b, st, i);
}

/* Renders the current row of section sec into c->row. */
static void render_row(struct sync_cursor *c, enum section sec)
{
	sqlite3_stmt *st = c->st[sec];
	struct sbuf *b = &c->row;
	b->len = 0;
	if (sec == SEC_NODES) {
		sbuf_addstr(b, "{\"uuid\":");
		add_text_or_null(b, st, 0);
		if (sqlite3_column_int(st, 8)) {
			sbuf_printf(b, ",\"deleted\":true,\"seq\":%lld}",
				    (long long)sqlite3_column_int64(st, 5));
			return;
		}
		add_key_text(b, "kind", st, 1);
		sbuf_addstr(b, ",\"deps\":");
		sbuf_add(b, sqlite3_column_text(st, 9), (size_t)sqlite3_column_bytes(st, 9));
		sbuf_addstr(b, ",\"blobs\":");
		sbuf_add(b, sqlite3_column_text(st, 10), (size_t)sqlite3_column_bytes(st, 10));
		add_key_text(b, "owner", st, 3);
		sbuf_printf(b, ",\"version\":%lld,\"seq\":%lld,\"data\":",
			    (long long)sqlite3_column_int64(st, 4),
			    (long long)sqlite3_column_int64(st, 5));
		sbuf_add(b, sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
		add_key_text(b, "updated_by", st, 6);
		sbuf_printf(b, ",\"updated_at\":%.3f}", sqlite3_column_double(st, 7));
	} else if (sec == SEC_TASKS) {
		sbuf_printf(b, "{\"id\":%lld", (long long)sqlite3_column_int64(st, 0));
		if (sqlite3_column_int(st, 10)) {
			sbuf_printf(b, ",\"deleted\":true,\"seq\":%lld}",
				    (long long)sqlite3_column_int64(st, 9));
			return;
		}
		add_key_text(b, "title", st, 1);
		add_key_text(b, "description", st, 2);
		add_key_text(b, "status", st, 3);
		add_key_text(b, "assignee", st, 4);
		add_key_text(b, "node", st, 5);
		add_key_text(b, "created_by", st, 6);
		sbuf_printf(b, ",\"created_at\":%.3f,\"updated_at\":%.3f,\"seq\":%lld}",
			    sqlite3_column_double(st, 7), sqlite3_column_double(st, 8),
			    (long long)sqlite3_column_int64(st, 9));
	} else {
		sbuf_printf(b, "{\"id\":%lld", (long long)sqlite3_column_int64(st, 0));
		add_key_text(b, "user", st, 1);
		add_key_text(b, "text", st, 2);
		sbuf_printf(b, ",\"ts\":%.3f,\"seq\":%lld}", sqlite3_column_double(st, 3),
			    (long long)sqlite3_column_int64(st, 4));
	}
}

static const char *const sec_names[] = {"nodes", "tasks", "chat"};

struct frame *sync_next(struct sync_cursor *c, int *done)
{
	struct sbuf f;
	size_t count[3] = {0, 0, 0};
	enum section open = SEC_END;   /* the array currently open in f */
	char *users = NULL;

	*done = 0;
	if (c->sec == SEC_END) {
		char synced[64];
		int n = snprintf(synced, sizeof(synced), "{\"type\":\"synced\",\"seq\":%lld}",
				 (long long)c->seq);
		struct frame *fr = frame_new(synced, (size_t)n);
		fr->type = MT_SYNCED;
		*done = 1;
		return fr;
	}
	frame_sbuf_init(&f, 64 * 1024);
	sbuf_addstr(&f, "{\"type\":\"sync\"");
	if (c->users) {
		/* frame_add_json, not json_dumps: timestamps in milliseconds. */
		struct sbuf ub;
		sbuf_init(&ub, 1024);
		frame_add_json(&ub, c->users);
		users = ub.p;
		json_decref(c->users);
		c->users = NULL;
	}
	while (c->sec != SEC_END) {
		sqlite3_stmt *st = c->st[c->sec];
		if (!c->row_pending) {
			int rc = sqlite3_step(st);
			if (rc == SQLITE_DONE) {
				c->sec++;
				continue;
			}
			if (rc != SQLITE_ROW) {
				log_error("sync: read failed: %s", sqlite3_errmsg(c->db));
				sbuf_free(&f);
				free(users);
				return NULL;
			}
			render_row(c, c->sec);
			c->row_pending = 1;
		}
		/* Room for the row, the closing of this array and the rest. */
		if (count[0] + count[1] + count[2] > 0 &&
		    f.len - FRAME_SBUF_HEAD + c->row.len + 64 + (users ? strlen(users) : 0) > SYNC_FRAME_MAX)
			break;
		if (open != c->sec) {
			if (open != SEC_END)
				sbuf_addc(&f, ']');
			sbuf_printf(&f, ",\"%s\":[", sec_names[c->sec]);
			open = c->sec;
		}
		if (count[c->sec]++)
			sbuf_addc(&f, ',');
		sbuf_add(&f, c->row.p, c->row.len);
		c->row_pending = 0;
	}
	if (open != SEC_END)
		sbuf_addc(&f, ']');
	for (int s = 0; s < 3; s++)
		if (!count[s] && (int)open != s)
			sbuf_printf(&f, ",\"%s\":[]", sec_names[s]);
	sbuf_printf(&f, ",\"users\":%s}", users ? users : "[]");
	free(users);
	struct frame *fr = frame_from_sbuf(&f);
	fr->type = MT_SYNC;
	return fr;
}
