/* session.c - the session domain.
 *
 * Design notes
 * - Batches. Every request that a pass of the event loop reads is applied
 *   inside one transaction, each in its own SAVEPOINT (a failing request
 *   rolls back alone). Replies and events are not sent as they are made:
 *   they are appended to the session's pending list, and server_flush()
 *   commits, then hands them to the connections in order. If COMMIT fails,
 *   every ok of the batch becomes `unavailable`, no event that carries a seq
 *   goes out, and seq/initialized/epoch are put back: memory never says what
 *   the database does not. This is both the durability rule (no ok before
 *   the commit) and the group commit (one fsync for many requests).
 * - The database is the scene graph. Memory holds only what is not durable by
 *   design: who is online, their last presence, and the batch.
 * - seq is taken from s->seq as changes are made and written to meta once
 *   per batch, before COMMIT.
 * - Joins. A joining client gets sync_seq = SEQ_UNSYNCED until its batch has
 *   committed; then its welcome is built and its sync snapshot opened at the
 *   committed seq, and from then on it receives exactly the events with a
 *   higher seq. */
#include <dirent.h>
#include <malloc.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "config.h"
#include "conn.h"
#include "frame.h"
#include "http.h"
#include "log.h"
#include "saver.h"
#include "session.h"
#include "store.h"
#include "sync.h"
#include "util.h"
#include "validate.h"
#include "version.h"

struct save_waiter {
	struct save_waiter *next;
	struct conn *conn;          /* a WebSocket admin.save / admin.reset */
	json_t *id;
	int reset;                  /* admin.reset: reset the session if the save worked */
	struct http_pending *http;  /* POST /api/sessions/NAME/save */
};

/* One request being handled. */
struct req {
	struct session *s;
	struct client *cl;
	struct conn *conn;
	const char *type;
	json_t *msg;
	json_t *id;
	int answered;
};


/* ------------------------------------------------------------------ */
/* Pending outputs                                                     */

static struct pending *pending_add(struct session *s, enum pending_kind kind, struct conn *c)
{
	struct pending *p;
	if (s->npending == s->pcap) {
		s->pcap = s->pcap ? s->pcap * 2 : 64;
		s->pending = xrealloc(s->pending, s->pcap * sizeof(*s->pending));
	}
	p = &s->pending[s->npending++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->conn = c;
	return p;
}

static void queue_frame(struct session *s, struct conn *c, struct frame *f, json_t *re,
			int needs_commit)
{
	struct pending *p = pending_add(s, P_REPLY, c);
	p->frame = f;
	p->re = re ? json_incref(re) : NULL;
	p->needs_commit = needs_commit;
}

void session_reply(struct session *s, struct conn *c, struct frame *f)
{
	queue_frame(s, c, frame_ref(f), NULL, 0);
}

/* Queues an event (obj stolen) for every member but `from`. */
static void emit_event(struct session *s, struct conn *from, json_t *obj, int64_t seq)
{
	struct pending *p = pending_add(s, P_EVENT, from);
	p->frame = frame_from_json(obj);
	p->seq = seq;
	p->needs_commit = seq > 0;
	json_decref(obj);
}

struct frame *reply_error_frame(json_t *id, const char *code, const char *msg, json_t *extra)
{
	json_t *o = json_pack("{ss}", "type", "error");
	struct frame *f;
	if (id)
		json_object_set(o, "re", id);
	json_object_set_new(o, "code", json_string(code));
	json_object_set_new(o, "message", json_string(msg));
	if (extra)
		json_object_update(o, extra);
	f = frame_from_json(o);
	json_decref(o);
	return f;
}

static void reply_err(struct req *r, const char *code, json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply_err(struct req *r, const char *code, json_t *extra, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	queue_frame(r->s, r->conn, reply_error_frame(r->id, code, msg, extra), NULL, 0);
	json_decref(extra);
	r->answered = 1;
}

/* Queues {"type":"ok","re":id, ...fields} (fields stolen). Requests without
 * an id get no ok. */
static void reply_ok(struct req *r, json_t *fields)
{
	r->answered = 1;
	if (!r->id) {
		json_decref(fields);
		return;
	}
	json_t *o = json_pack("{ss}", "type", "ok");
	json_object_set(o, "re", r->id);
	if (fields)
		json_object_update(o, fields);
	json_decref(fields);
	queue_frame(r->s, r->conn, frame_from_json(o), r->id, 1);
	json_decref(o);
}

/* ------------------------------------------------------------------ */
/* Batch                                                               */

static int batch_begin(struct session *s)
{
	int rc;
	if (s->batch_failed)
		return SQLITE_ABORT;
	if (store_in_transaction(s->store)) {
		if (store_txn_alive(s->store))
			return SQLITE_OK;
		/* SQLite rolled the batch back on its own (full disk, I/O error)
		 * during an earlier request: nothing more may join it. */
		s->batch_failed = 1;
		return SQLITE_ABORT;
	}
	rc = store_begin(s->store);
	if (rc != SQLITE_OK)
		return rc;
	s->batch_seq = s->seq;
	s->batch_initialized = s->initialized;
	memcpy(s->batch_epoch, s->epoch, sizeof(s->epoch));
	s->batch_requests = 0;
	s->batch_start_us = util_mono_us();
	return SQLITE_OK;
}

static const char *storage_code(int rc)
{
	switch (rc) {
	case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_BUSY: case SQLITE_LOCKED:
	case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_PROTOCOL: case SQLITE_ABORT:
		return "unavailable";
	default:
		return "internal";
	}
}

/* ------------------------------------------------------------------ */
/* JSON views of rows                                                  */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *node_json(const struct node_row *n, json_t *data /* borrowed */)
{
	json_t *o = json_pack("{ss ss}", "uuid", n->uuid, "kind", n->kind);
	json_object_set_new(o, "deps", n->deps ? json_incref(n->deps) : json_array());
	json_object_set_new(o, "owner", str_or_null(n->owner));
	json_object_set_new(o, "version", json_integer(n->version));
	json_object_set_new(o, "seq", json_integer(n->seq));
	json_object_set(o, "data", data);
	json_object_set_new(o, "updated_by", str_or_null(n->updated_by));
	json_object_set_new(o, "updated_at", json_real(n->updated_at));
	return o;
}

static json_t *task_json(const struct task_row *t)
{
	return json_pack("{sI ss ss ss so so ss sf sf sI}",
			 "id", (json_int_t)t->id, "title", t->title,
			 "description", t->description ? t->description : "",
			 "status", t->status, "assignee", str_or_null(t->assignee),
			 "node", str_or_null(t->node), "created_by", t->created_by,
			 "created_at", t->created_at, "updated_at", t->updated_at,
			 "seq", (json_int_t)t->seq);
}

/* Every known user, with online status and live presence. */
static json_t *users_json(struct session *s)
{
	json_t *users = NULL, *u;
	size_t i;
	if (store_users(s->store, &users) != SQLITE_OK) {
		json_decref(users);
		return json_array();
	}
	json_array_foreach(users, i, u) {
		const char *name = json_string_value(json_object_get(u, "name"));
		struct client *cl;
		int online = 0;
		for (cl = s->clients; cl; cl = cl->next) {
			if (strcmp(cl->name, name) == 0) {
				online = 1;
				if (cl->presence)
					json_object_set(u, "metadata", cl->presence);
			}
		}
		json_object_set_new(u, "online", json_boolean(online));
	}
	return users;
}

/* ------------------------------------------------------------------ */
/* Nodes                                                               */

static int node_load(struct req *r, const char *uuid, struct node_row *n, int with_data)
{
	int rc = with_data ? store_node_get(r->s->store, uuid, n)
			   : store_node_head(r->s->store, uuid, n);
	if (rc == SQLITE_OK && n->deleted) {
		node_row_free(n);
		rc = SQLITE_NOTFOUND;
	}
	if (rc == SQLITE_NOTFOUND)
		reply_err(r, "not_found", NULL, "%s: no node with uuid \"%s\"", r->type, uuid);
	else if (rc != SQLITE_OK)
		reply_err(r, storage_code(rc), NULL, "%s: storage error: %s", r->type,
			  sqlite3_errstr(rc));
	return rc;
}

static int may_change(struct req *r, const struct node_row *n)
{
	if (n->owner && strcmp(n->owner, r->cl->name) != 0) {
		reply_err(r, "forbidden", json_pack("{ss}", "owner", n->owner),
			  "%s: node \"%s\" is locked by %s", r->type, n->uuid, n->owner);
		return 0;
	}
	return 1;
}

static int do_node_create(struct req *r)
{
	struct node_create_req q;
	struct node_row n = {0}, old;
	char msg[VALIDATE_MSG], uuid[37];
	int rc;

	if (validate_node_create(r->msg, &q, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	if (!q.uuid) {
		util_uuid4(uuid);
		q.uuid = uuid;
	}
	rc = store_node_get(r->s->store, q.uuid, &old);
	if (rc == SQLITE_OK && !old.deleted) {
		node_row_free(&old);
		reply_err(r, "exists", NULL, "node.create: a node with uuid \"%s\" exists", q.uuid);
		return SQLITE_OK;
	}
	node_row_free(&old);
	if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND)
		return rc;
	n.uuid = (char *)q.uuid;
	n.kind = (char *)q.kind;
	n.data = json_dumps(q.data, JSON_COMPACT);
	n.owner = q.lock ? r->cl->name : NULL;
	n.version = 1;
	n.seq = r->s->seq + 1;
	n.updated_by = r->cl->name;
	n.updated_at = util_now();
	rc = store_node_insert(r->s->store, &n);
	if (rc == SQLITE_OK && q.deps && json_array_size(q.deps))
		rc = store_node_set_deps(r->s->store, n.uuid, q.deps);
	if (rc == SQLITE_OK) {
		r->s->seq = n.seq;
		n.deps = q.deps;
		json_t *node = node_json(&n, q.data);
		n.deps = NULL;
		reply_ok(r, json_pack("{ss sI sI}", "uuid", n.uuid, "version", (json_int_t)1,
				      "seq", (json_int_t)n.seq));
		emit_event(r->s, r->conn, json_pack("{ss ss so sI}", "type", "node", "op", "create",
						    "node", node, "seq", (json_int_t)n.seq), n.seq);
	}
	free(n.data);
	return rc;
}

/* The id as JSON text, for replies built without jansson. */
static void add_re(struct sbuf *b, json_t *id)
{
	if (json_is_integer(id)) {
		sbuf_addstr(b, ",\"re\":");
		sbuf_add_int(b, json_integer_value(id));
	} else if (json_is_string(id)) {
		sbuf_addstr(b, ",\"re\":");
		sbuf_add_json_str(b, json_string_value(id), json_string_length(id));
	}
}

/* node.update is the hot path of a session (every edit of every artist),
 * so its reply and event are written as text directly and the stored data
 * is never parsed here: SQLite applies the merge patch. */
static int do_node_update(struct req *r)
{
	struct node_update_req q;
	struct node_row n;
	char msg[VALIDATE_MSG];
	char *data = NULL, *patch = NULL, *deps = NULL;
	struct sbuf b;
	int rc = SQLITE_OK;

	if (validate_node_update(r->msg, &q, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	if (node_load(r, q.uuid, &n, 0) != SQLITE_OK)
		return SQLITE_OK; /* answered */
	if (!may_change(r, &n))
		goto out;
	if (q.has_version && q.version != n.version) {
		reply_err(r, "conflict", json_pack("{sI}", "version", (json_int_t)n.version),
			  "node.update: version is %lld, not %lld", (long long)n.version,
			  (long long)q.version);
		goto out;
	}
	data = q.data ? json_dumps(q.data, JSON_COMPACT) : NULL;
	patch = q.patch ? json_dumps(q.patch, JSON_COMPACT) : NULL;
	free(n.data);
	n.data = data;
	if (q.kind) {
		free(n.kind);
		n.kind = xstrdup(q.kind);
	}
	n.version++;
	n.seq = r->s->seq + 1;
	free(n.updated_by);
	n.updated_by = xstrdup(r->cl->name);
	n.updated_at = util_now();
	rc = store_node_update(r->s->store, &n, patch);
	if (rc == SQLITE_OK && q.deps)
		rc = store_node_set_deps(r->s->store, n.uuid, q.deps);
	if (rc != SQLITE_OK)
		goto out;
	r->s->seq = n.seq;
	r->answered = 1;
	if (r->id) {
		frame_sbuf_init(&b, 128);
		sbuf_addstr(&b, "{\"type\":\"ok\"");
		add_re(&b, r->id);
		sbuf_addstr(&b, ",\"uuid\":");
		sbuf_add_json_str(&b, n.uuid, strlen(n.uuid));
		sbuf_addstr(&b, ",\"version\":");
		sbuf_add_int(&b, n.version);
		sbuf_addstr(&b, ",\"seq\":");
		sbuf_add_int(&b, n.seq);
		sbuf_addc(&b, '}');
		queue_frame(r->s, r->conn, frame_from_sbuf(&b), r->id, 1);
		r->s->pending[r->s->npending - 1].frame->type = MT_OK;
	}
	frame_sbuf_init(&b, 256 + (data ? strlen(data) : 0) + (patch ? strlen(patch) : 0));
	sbuf_addstr(&b, "{\"type\":\"node\",\"op\":\"update\",\"uuid\":");
	sbuf_add_json_str(&b, n.uuid, strlen(n.uuid));
	sbuf_addstr(&b, ",\"version\":");
	sbuf_add_int(&b, n.version);
	sbuf_addstr(&b, ",\"seq\":");
	sbuf_add_int(&b, n.seq);
	sbuf_addstr(&b, ",\"updated_by\":");
	sbuf_add_json_str(&b, r->cl->name, strlen(r->cl->name));
	if (data)
		{
		sbuf_addstr(&b, ",\"data\":");
		sbuf_addstr(&b, data);
	}
	if (patch)
		{
		sbuf_addstr(&b, ",\"patch\":");
		sbuf_addstr(&b, patch);
	}
	if (q.deps) {
		deps = json_dumps(q.deps, JSON_COMPACT);
		{
		sbuf_addstr(&b, ",\"deps\":");
		sbuf_addstr(&b, deps);
	}
	}
	if (q.kind) {
		sbuf_addstr(&b, ",\"kind\":");
		sbuf_add_json_str(&b, q.kind, strlen(q.kind));
	}
	sbuf_addc(&b, '}');
	{
		struct pending *p = pending_add(r->s, P_EVENT, r->conn);
		p->frame = frame_from_sbuf(&b);
		p->frame->type = MT_NODE;
		p->seq = n.seq;
		p->needs_commit = 1;
	}
out:
	free(patch);
	free(deps);
	node_row_free(&n); /* frees data */
	return rc;
}

/* The prologue of node.delete, node.lock, node.unlock and node.get: the
 * request's uuid (and, for lock and unlock, force) and the live node it
 * names. Returns 0 with *n loaded, or -1 after answering the request. */
static int node_ref_load(struct req *r, struct node_ref_req *q, struct node_row *n,
			 int with_data, int takes_force)
{
	char msg[VALIDATE_MSG];
	if (validate_node_ref(r->type, r->msg, q, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return -1;
	}
	if (takes_force && q->force && !r->cl->admin) {
		reply_err(r, "forbidden", NULL, "%s: force is for admins", r->type);
		return -1;
	}
	return node_load(r, q->uuid, n, with_data) == SQLITE_OK ? 0 : -1;
}

static int do_node_delete(struct req *r)
{
	struct node_ref_req q;
	struct node_row n;
	int64_t seq;
	int rc = SQLITE_OK;

	if (node_ref_load(r, &q, &n, 0, 0))
		return SQLITE_OK;
	if (may_change(r, &n)) {
		seq = r->s->seq + 1;
		rc = store_node_tombstone(r->s->store, n.uuid, seq, r->cl->name, util_now());
		if (rc == SQLITE_OK) {
			r->s->seq = seq;
			reply_ok(r, json_pack("{ss sI}", "uuid", n.uuid, "seq", (json_int_t)seq));
			emit_event(r->s, r->conn, json_pack("{ss ss ss sI}", "type", "node", "op",
							    "delete", "uuid", n.uuid, "seq",
							    (json_int_t)seq), seq);
		}
	}
	node_row_free(&n);
	return rc;
}

/* Sets the owner of n (loaded) and emits the owner event. */
static int set_owner(struct session *s, struct conn *from, struct node_row *n,
		     const char *owner)
{
	int rc;
	char *old = n->owner;
	n->owner = (char *)owner;
	n->seq = s->seq + 1;
	free(n->data);
	n->data = NULL; /* keep the stored data */
	rc = store_node_update(s->store, n, NULL);
	n->owner = old;
	if (rc != SQLITE_OK)
		return rc;
	s->seq = n->seq;
	emit_event(s, from, json_pack("{ss ss ss so sI}", "type", "node", "op", "owner",
				      "uuid", n->uuid, "owner", str_or_null(owner),
				      "seq", (json_int_t)n->seq), n->seq);
	return SQLITE_OK;
}

static int do_node_lock(struct req *r, int lock)
{
	struct node_ref_req q;
	struct node_row n;
	const char *me = r->cl->name;
	const char *want = lock ? me : NULL;
	int rc = SQLITE_OK;

	if (node_ref_load(r, &q, &n, 0, 1))
		return SQLITE_OK;
	if ((lock && n.owner && strcmp(n.owner, me) == 0) || (!lock && !n.owner)) {
		/* Nothing changes: ok with the current seq, no event. */
		reply_ok(r, json_pack("{ss so sI}", "uuid", n.uuid, "owner", str_or_null(n.owner),
				      "seq", (json_int_t)n.seq));
	} else if (n.owner && strcmp(n.owner, me) != 0 && !q.force) {
		reply_err(r, "forbidden", json_pack("{ss}", "owner", n.owner),
			  "%s: node \"%s\" is locked by %s", r->type, n.uuid, n.owner);
	} else {
		if (q.force && n.owner && strcmp(n.owner, me) != 0)
			log_info("Admin %s forced %s of node %s held by %s (session=%s)", me,
				 lock ? "lock" : "unlock", n.uuid, n.owner, r->s->name);
		rc = set_owner(r->s, r->conn, &n, want);
		if (rc == SQLITE_OK)
			reply_ok(r, json_pack("{ss so sI}", "uuid", n.uuid, "owner",
					      str_or_null(want), "seq", (json_int_t)r->s->seq));
	}
	node_row_free(&n);
	return rc;
}

static int do_node_get(struct req *r)
{
	struct node_ref_req q;
	struct node_row n;
	json_t *data;
	int rc;

	if (node_ref_load(r, &q, &n, 1, 0))
		return SQLITE_OK;
	rc = store_node_get_deps(r->s->store, n.uuid, &n.deps);
	if (rc == SQLITE_OK) {
		data = json_loads(n.data, 0, NULL);
		reply_ok(r, json_pack("{so}", "node", node_json(&n, data)));
		json_decref(data);
	}
	node_row_free(&n);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Tasks and chat                                                      */

static void task_apply(struct task_row *t, const struct task_req *q)
{
	if (q->fields & TF_TITLE) { free(t->title); t->title = xstrdup(q->title); }
	if (q->fields & TF_DESCRIPTION) { free(t->description); t->description = xstrdup(q->description); }
	if (q->fields & TF_STATUS) { free(t->status); t->status = xstrdup(q->status); }
	if (q->fields & TF_ASSIGNEE) { free(t->assignee); t->assignee = q->assignee ? xstrdup(q->assignee) : NULL; }
	if (q->fields & TF_NODE) { free(t->node); t->node = q->node ? xstrdup(q->node) : NULL; }
}

static int task_emit(struct req *r, struct task_row *t, const char *op)
{
	reply_ok(r, json_pack("{so sI}", "task", task_json(t), "seq", (json_int_t)t->seq));
	emit_event(r->s, r->conn, json_pack("{ss ss so sI}", "type", "task", "op", op,
					    "task", task_json(t), "seq", (json_int_t)t->seq),
		   t->seq);
	return SQLITE_OK;
}

static int do_task(struct req *r)
{
	struct task_req q;
	struct task_row t = {0};
	char msg[VALIDATE_MSG];
	int rc = SQLITE_OK;
	int create = strcmp(r->type, "task.create") == 0;
	int del = strcmp(r->type, "task.delete") == 0;

	if ((create ? validate_task_create(r->msg, &q, msg)
		    : del ? validate_task_delete(r->msg, &q, msg)
			  : validate_task_update(r->msg, &q, msg))) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	if (create) {
		t.status = xstrdup("todo");
		t.description = xstrdup("");
		t.created_by = xstrdup(r->cl->name);
		t.created_at = util_now();
	} else {
		rc = store_task_get(r->s->store, q.id, &t);
		if (rc == SQLITE_OK && t.deleted)
			rc = SQLITE_NOTFOUND;
		if (rc == SQLITE_NOTFOUND) {
			reply_err(r, "not_found", NULL, "%s: no task with id %lld", r->type,
				  (long long)q.id);
			rc = SQLITE_OK;
			goto out;
		}
		if (rc != SQLITE_OK)
			goto out;
	}
	task_apply(&t, &q);
	t.updated_at = util_now();
	t.seq = r->s->seq + 1;
	if (create)
		rc = store_task_insert(r->s->store, &t);
	else if (del)
		rc = store_task_tombstone(r->s->store, t.id, t.seq, t.updated_at);
	else
		rc = store_task_update(r->s->store, &t);
	if (rc != SQLITE_OK)
		goto out;
	r->s->seq = t.seq;
	if (del) {
		reply_ok(r, json_pack("{sI}", "seq", (json_int_t)t.seq));
		emit_event(r->s, r->conn, json_pack("{ss ss sI sI}", "type", "task", "op", "delete",
						    "id", (json_int_t)t.id, "seq", (json_int_t)t.seq),
			   t.seq);
	} else {
		task_emit(r, &t, create ? "create" : "update");
	}
out:
	task_row_free(&t);
	return rc;
}

static int do_chat_send(struct req *r)
{
	const char *text;
	char msg[VALIDATE_MSG];
	int64_t id, seq = r->s->seq + 1;
	double ts = util_now();
	json_t *m;
	int rc;

	if (validate_chat_send(r->msg, &text, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	rc = store_chat_insert(r->s->store, r->cl->name, text, ts, seq, &id);
	if (rc == SQLITE_OK && r->s->srv->cfg->chat_keep > 0)
		rc = store_chat_trim(r->s->store, r->s->srv->cfg->chat_keep);
	if (rc != SQLITE_OK)
		return rc;
	r->s->seq = seq;
	m = json_pack("{sI ss ss sf sI}", "id", (json_int_t)id, "user", r->cl->name, "text", text,
		      "ts", ts, "seq", (json_int_t)seq);
	reply_ok(r, json_pack("{sO sI}", "message", m, "seq", (json_int_t)seq));
	emit_event(r->s, r->conn, json_pack("{ss so sI}", "type", "chat", "message", m,
					    "seq", (json_int_t)seq), seq);
	return SQLITE_OK;
}

static int do_chat_history(struct req *r)
{
	int64_t before, limit;
	char msg[VALIDATE_MSG];
	json_t *msgs;
	int rc;
	if (validate_chat_history(r->msg, &before, &limit, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	rc = store_chat_history(r->s->store, before, limit, &msgs);
	if (rc == SQLITE_OK)
		reply_ok(r, json_pack("{so}", "messages", msgs));
	else
		json_decref(msgs);
	return rc;
}

static int do_presence(struct req *r)
{
	json_t *data;
	char msg[VALIDATE_MSG];
	int v = validate_presence(r->msg, &data, msg);
	if (v) {
		reply_err(r, v == -2 ? "too_large" : "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	json_decref(r->cl->presence);
	r->cl->presence = json_incref(data);
	r->cl->presence_dirty = 1;
	emit_event(r->s, r->conn, json_pack("{ss ss sO}", "type", "presence", "user", r->cl->name,
					    "data", data), 0);
	reply_ok(r, NULL);
	if (r->id) /* relayed whatever the batch's commit does */
		r->s->pending[r->s->npending - 1].needs_commit = 0;
	return SQLITE_OK;
}

static int do_session_init(struct req *r)
{
	int rc;
	if (r->s->initialized) {
		reply_err(r, "conflict", NULL, "session.init: the session is already initialized");
		return SQLITE_OK;
	}
	rc = store_meta_set_int(r->s->store, "initialized", 1);
	if (rc != SQLITE_OK)
		return rc;
	r->s->initialized = 1;
	r->s->seq++;
	log_info("Session initialized (session=%s user=%s)", r->s->name, r->cl->name);
	reply_ok(r, json_pack("{sI}", "seq", (json_int_t)r->s->seq));
	emit_event(r->s, r->conn, json_pack("{ss sb sI}", "type", "session", "initialized", 1,
					    "seq", (json_int_t)r->s->seq), r->s->seq);
	return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Administration                                                      */

static int do_admin_save(struct req *r)
{
	/* The save starts after this batch commits, so it covers every change
	 * acknowledged before it; the reply holds the connection's later replies
	 * back until the save is done, keeping replies in request order. */
	struct pending *p = pending_add(r->s, P_SAVE, r->conn);
	p->text = xstrdup("admin");
	p->re = r->id ? json_incref(r->id) : NULL;
	p->code = 1; /* has a waiter */
	log_info("Admin %s requested a save (session=%s)", r->cl->name, r->s->name);
	r->answered = 1;
	return SQLITE_OK;
}

static int do_admin_backups(struct req *r)
{
	char bdir[4200];
	log_info("Admin %s listed the backups (session=%s)", r->cl->name, r->s->name);
	snprintf(bdir, sizeof(bdir), "%s/backups", r->s->dir);
	reply_ok(r, json_pack("{so}", "backups", backup_list_json(bdir)));
	return SQLITE_OK;
}

json_t *session_stats_json(struct session *s)
{
	struct store_counts c = {0};
	char path[4400], **names = NULL;
	json_t *o, *last = json_null();
	int nb;

	store_counts(s->store, &c);
	snprintf(path, sizeof(path), "%s-wal", s->db_path);
	o = json_pack("{ss sI sI sI sI sI sI ss sb sI sI}", "session", s->name,
		      "users_online", (json_int_t)s->nclients, "users", (json_int_t)c.users,
		      "nodes", (json_int_t)c.nodes, "tasks", (json_int_t)c.tasks,
		      "chat", (json_int_t)c.chat, "seq", (json_int_t)s->seq, "epoch", s->epoch,
		      "initialized", s->initialized, "db_bytes", (json_int_t)util_file_size(s->db_path),
		      "wal_bytes", (json_int_t)util_file_size(path));
	snprintf(path, sizeof(path), "%s/backups", s->dir);
	nb = backup_list(path, &names);
	backup_list_free(names, nb);
	json_object_set_new(o, "backups", json_integer(nb));
	if (s->last_save_time > 0)
		last = json_pack("{sf ss sI ss sI}", "time", s->last_save_time,
				 "reason", s->last_save_reason, "ms", (json_int_t)s->last_save_ms,
				 "backup", s->last_backup, "bytes", (json_int_t)s->last_backup_bytes);
	json_object_set_new(o, "last_save", last);
	json_object_set_new(o, "save_running", json_boolean(s->save_running));
	return o;
}

static int do_admin_stats(struct req *r)
{
	log_info("Admin %s read the stats (session=%s)", r->cl->name, r->s->name);
	reply_ok(r, session_stats_json(r->s));
	return SQLITE_OK;
}

static int do_admin_kick(struct req *r)
{
	const char *user;
	char msg[VALIDATE_MSG];
	struct client *cl;
	struct pending *p;

	if (validate_admin_user("admin.kick", r->msg, &user, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	for (cl = r->s->clients; cl && strcmp(cl->name, user) != 0; cl = cl->next)
		;
	if (!cl) {
		reply_err(r, "not_found", NULL, "admin.kick: %s is not online in this session", user);
		return SQLITE_OK;
	}
	log_info("Admin %s kicked %s (session=%s)", r->cl->name, user, r->s->name);
	reply_ok(r, json_pack("{ss}", "user", user));
	p = pending_add(r->s, P_CLOSE, cl->conn);
	p->code = 4403;
	p->text = xstrdup("kicked");
	if (cl == r->cl) {
		/* Kicking oneself: the ok goes out, then the close. */
		cl->conn->leave_reason = "kicked";
		return SQLITE_OK;
	}
	session_leave(r->s, cl, "kicked");
	return SQLITE_OK;
}

static int do_admin_reset(struct req *r)
{
	/* The backup comes first; the reset itself runs when it is done
	 * (finish_reset), and only if it succeeded. */
	struct pending *p = pending_add(r->s, P_SAVE, r->conn);
	p->text = xstrdup("reset");
	p->re = r->id ? json_incref(r->id) : NULL;
	p->code = 2; /* a waiter that resets */
	log_info("Admin %s requested a reset (session=%s); saving a backup first", r->cl->name,
		 r->s->name);
	r->answered = 1;
	return SQLITE_OK;
}

struct handler {
	const char *type;
	int (*fn)(struct req *r);
	int writes;     /* runs inside a SAVEPOINT of the batch */
	int admin;      /* admin only */
};

static int do_node_lock_(struct req *r) { return do_node_lock(r, 1); }
static int do_node_unlock_(struct req *r) { return do_node_lock(r, 0); }

static const struct handler handlers[] = {
	{"node.create", do_node_create, 1, 0},
	{"node.update", do_node_update, 1, 0},
	{"node.delete", do_node_delete, 1, 0},
	{"node.lock", do_node_lock_, 1, 0},
	{"node.unlock", do_node_unlock_, 1, 0},
	{"node.get", do_node_get, 0, 0},
	{"task.create", do_task, 1, 0},
	{"task.update", do_task, 1, 0},
	{"task.delete", do_task, 1, 0},
	{"chat.send", do_chat_send, 1, 0},
	{"chat.history", do_chat_history, 0, 0},
	{"presence", do_presence, 0, 0},
	{"session.init", do_session_init, 1, 0},
	{"admin.save", do_admin_save, 0, 1},
	{"admin.backups", do_admin_backups, 0, 1},
	{"admin.stats", do_admin_stats, 0, 1},
	{"admin.kick", do_admin_kick, 1, 1},
	{"admin.reset", do_admin_reset, 0, 1},
};

int session_known_type(const char *type)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, type) == 0)
			return 1;
	return 0;
}

void session_request(struct session *s, struct client *cl, const char *type, json_t *msg,
		     json_t *id)
{
	struct req r = {s, cl, cl->conn, type, msg, id, 0};
	const struct handler *h = NULL;
	int64_t seq0 = s->seq;
	int rc;

	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, type) == 0)
			h = &handlers[i];
	if (!h) {
		reply_err(&r, "bad_request", NULL, "type: unknown request type \"%s\"", type);
		return;
	}
	if (h->admin && !cl->admin) {
		reply_err(&r, "forbidden", NULL, "%s: admin only", type);
		return;
	}
	if (h->writes && s->resetting) {
		/* It would be in no backup: the reset's backup is being written
		 * and the content is emptied right after. */
		reply_err(&r, "unavailable", NULL, "%s: the session is being reset; try again "
			  "after reconnecting", type);
		return;
	}
	if (!h->writes) {
		rc = h->fn(&r);
		if (rc != SQLITE_OK && !r.answered)
			reply_err(&r, storage_code(rc), NULL, "%s: storage error: %s", type,
				  sqlite3_errstr(rc));
		return;
	}
	rc = batch_begin(s);
	if (rc == SQLITE_OK)
		rc = store_savepoint(s->store);
	if (rc != SQLITE_OK) {
		reply_err(&r, storage_code(rc), NULL, "%s: storage unavailable: %s", type,
			  sqlite3_errstr(rc));
		return;
	}
	s->batch_requests++;
	size_t mark = s->npending;
	rc = h->fn(&r);
	if (rc == SQLITE_OK)
		rc = store_release(s->store);
	if (rc != SQLITE_OK) {
		store_rollback_to(s->store);
		s->seq = seq0;
		if (!store_txn_alive(s->store))
			s->batch_failed = 1; /* the earlier requests are gone too */
		/* Drop what the failed request queued, then answer it. */
		while (s->npending > mark) {
			struct pending *p = &s->pending[--s->npending];
			frame_unref(p->frame);
			json_decref(p->re);
		}
		log_error("Request %s failed in storage (session=%s user=%s): %s", type, s->name,
			  cl->name, sqlite3_errstr(rc));
		reply_err(&r, storage_code(rc), NULL, "%s: storage error: %s", type,
			  sqlite3_errstr(rc));
	}
}

/* ------------------------------------------------------------------ */
/* Join and leave                                                      */

const char *session_client_name(const struct client *cl) { return cl->name; }

static struct client *find_client(struct session *s, const char *name)
{
	for (struct client *cl = s->clients; cl; cl = cl->next)
		if (strcmp(cl->name, name) == 0)
			return cl;
	return NULL;
}

int session_join(struct session *s, struct conn *c, const struct hello_req *h, int admin,
		 json_t *id)
{
	struct client *cl;
	json_t *u;
	int rc;

	if (find_client(s, h->user)) {
		struct frame *f = reply_error_frame(id, "name_taken", "hello: user is already "
						    "connected to this session", NULL);
		conn_send(c, f);
		frame_unref(f);
		conn_close(c, 4409, "name taken");
		return -1;
	}
	rc = batch_begin(s);
	if (rc == SQLITE_OK)
		rc = store_user_touch(s->store, h->user, admin ? "admin" : "user", h->color,
				      util_now());
	if (rc != SQLITE_OK) {
		struct frame *f = reply_error_frame(id, storage_code(rc), "hello: storage unavailable",
						    NULL);
		conn_send(c, f);
		frame_unref(f);
		conn_close(c, 1011, "storage unavailable");
		return -1;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->session = s;
	cl->conn = c;
	cl->name = xstrdup(h->user);
	cl->color = h->color ? xstrdup(h->color) : NULL;
	cl->admin = admin;
	cl->sync_seq = SEQ_UNSYNCED;
	cl->hello_id = id ? json_incref(id) : NULL;
	cl->resume_delta = h->epoch && h->has_since && strcmp(h->epoch, s->epoch) == 0 &&
			   h->since >= s->history_floor && h->since <= s->seq;
	cl->resume_since = h->since;
	cl->next = s->clients;
	s->clients = cl;
	s->nclients++;
	c->session = s;
	c->client = cl;
	pending_add(s, P_JOIN, c);
	if (store_user_get(s->store, cl->name, &u) == SQLITE_OK) {
		json_object_set_new(u, "online", json_true());
		emit_event(s, c, json_pack("{ss ss so}", "type", "user", "op", "join", "user", u), 0);
		/* Undone if the batch fails (undo_join): nobody may see a join
		 * that never happened. */
		s->pending[s->npending - 1].needs_commit = 1;
	}
	{
		/* client is the peer's own text: control characters are not
		 * written to the log as they are. */
		char client[129] = "-";
		if (h->client && *h->client) {
			snprintf(client, sizeof(client), "%s", h->client);
			for (char *p = client; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
		}
		log_info("User joined (session=%s user=%s role=%s resume=%s client=\"%s\" addr=%s)",
			 s->name, cl->name, admin ? "admin" : "user",
			 cl->resume_delta ? "delta" : "full", client, *c->peer ? c->peer : "-");
	}
	return 0;
}

static void client_free(struct client *cl)
{
	free(cl->name);
	free(cl->color);
	json_decref(cl->presence);
	json_decref(cl->hello_id);
	free(cl);
}

/* Writes a client's presence into users.metadata (inside the batch). */
static int flush_presence(struct session *s, struct client *cl)
{
	char *text;
	int rc;
	if (!cl->presence_dirty)
		return SQLITE_OK;
	text = json_dumps(cl->presence, JSON_COMPACT);
	rc = store_user_set_metadata(s->store, cl->name, text, util_now());
	free(text);
	if (rc == SQLITE_OK)
		cl->presence_dirty = 0;
	return rc;
}

/* Releases every lock held by user: one owner event each, each its own seq. */
static int release_locks(struct session *s, const char *user)
{
	json_t *owned = NULL, *u;
	size_t i;
	int rc = store_nodes_owned_by(s->store, user, &owned);
	json_array_foreach(owned, i, u) {
		struct node_row n;
		if (rc != SQLITE_OK)
			break;
		rc = store_node_get(s->store, json_string_value(u), &n);
		if (rc == SQLITE_OK)
			rc = set_owner(s, NULL, &n, NULL);
		node_row_free(&n);
	}
	json_decref(owned);
	return rc;
}

void session_leave(struct session *s, struct client *cl, const char *reason)
{
	struct client **pp;
	struct pending *p;
	int rc = batch_begin(s);
	char why[96];

	/* Unlink first: events below must not go to the leaving client. */
	for (pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			s->nclients--;
			break;
		}
	}
	if (rc == SQLITE_OK && (rc = store_savepoint(s->store)) == SQLITE_OK) {
		int64_t seq0 = s->seq;
		rc = release_locks(s, cl->name);
		if (rc == SQLITE_OK) {
			if (cl->presence)
				cl->presence_dirty = 1;
			rc = flush_presence(s, cl);
		}
		if (rc == SQLITE_OK && !cl->presence)
			rc = store_user_touch(s->store, cl->name, cl->admin ? "admin" : "user",
					      NULL, util_now());
		if (rc == SQLITE_OK)
			rc = store_release(s->store);
		if (rc != SQLITE_OK) {
			store_rollback_to(s->store);
			s->seq = seq0;
			if (!store_txn_alive(s->store))
				s->batch_failed = 1;
		}
	}
	if (rc != SQLITE_OK)
		log_error("Cannot record that %s left (session=%s): %s", cl->name, s->name,
			  sqlite3_errstr(rc));
	emit_event(s, cl->conn, json_pack("{ss ss ss ss}", "type", "user", "op", "leave",
					  "user", cl->name, "reason", reason), 0);
	log_info("User left (session=%s user=%s reason=%s)", s->name, cl->name, reason);
	if (strcmp(reason, "shutdown") != 0 && strcmp(reason, "reset") != 0) {
		p = pending_add(s, P_SAVE, NULL);
		snprintf(why, sizeof(why), "user_disconnect:%s", cl->name);
		p->text = xstrdup(why);
	}
	/* The pending list may still name the connection (its replies); it is
	 * freed only after the flush. */
	if (cl->conn)
		cl->conn->client = NULL;
	client_free(cl);
}

/* ------------------------------------------------------------------ */
/* Flush: commit the batch, then deliver                               */

static struct frame *welcome_frame(struct session *s, struct client *cl)
{
	json_t *o = json_pack("{ss ss ss ss ss sI sb ss s{ss ss sI}}", "type", "welcome",
			      "session", s->name, "user", cl->name,
			      "role", cl->admin ? "admin" : "user", "epoch", s->epoch,
			      "seq", (json_int_t)s->seq, "initialized", s->initialized,
			      "resume", cl->resume_delta ? "delta" : "full",
			      "server", "name", "sessiond", "version", SESSIOND_VERSION,
			      "max_message_bytes", (json_int_t)s->srv->cfg->max_message_bytes);
	struct frame *f;
	if (cl->hello_id)
		json_object_set(o, "re", cl->hello_id);
	f = frame_from_json(o);
	json_decref(o);
	return f;
}

static void deliver_join(struct session *s, struct conn *c)
{
	struct client *cl = c->client;
	struct sync_cursor *cur;
	struct frame *f;
	char err[256];

	if (!cl || c->closed)
		return;
	if (cl->resume_delta && cl->resume_since < s->history_floor)
		cl->resume_delta = 0; /* tombstones it needs were trimmed meanwhile */
	cur = sync_open(s->db_path, cl->resume_delta, cl->resume_since,
			s->srv->cfg->chat_history, users_json(s), s->seq, err, sizeof(err));
	if (!cur) {
		log_error("Cannot open a sync snapshot (session=%s user=%s): %s", s->name,
			  cl->name, err);
		f = reply_error_frame(cl->hello_id, "internal", "hello: cannot read the session",
				      NULL);
		conn_send(c, f);
		frame_unref(f);
		conn_close(c, 1011, "sync failed");
		return;
	}
	f = welcome_frame(s, cl);
	conn_send(c, f);
	frame_unref(f);
	conn_start_sync(c, cur);
	s->syncs_open++;
	cl->sync_seq = s->seq;
}

/* A join whose batch did not commit: the client was never really there. */
static void undo_join(struct session *s, struct conn *c)
{
	struct client *cl = c->client, **pp;
	struct frame *f;
	if (!cl)
		return;
	for (pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			s->nclients--;
			break;
		}
	}
	f = reply_error_frame(cl->hello_id, "unavailable", "hello: storage cannot commit", NULL);
	conn_send(c, f);
	frame_unref(f);
	conn_close(c, 1011, "storage unavailable");
	c->client = NULL;
	c->session = NULL;
	client_free(cl);
}

static void deliver_event(struct session *s, struct pending *p)
{
	for (struct client *cl = s->clients; cl; cl = cl->next) {
		if (cl->conn == p->conn || cl->sync_seq == SEQ_UNSYNCED)
			continue;
		if (p->seq > 0 && p->seq <= cl->sync_seq)
			continue;
		conn_send(cl->conn, p->frame);
	}
}

static void session_flush(struct session *s)
{
	struct metrics *m = &s->srv->metrics;
	int failed = 0;
	size_t i;

	if (store_in_transaction(s->store) || s->batch_failed) {
		int64_t t0 = util_mono_us();
		int rc;
		if (!s->batch_failed && !store_txn_alive(s->store))
			s->batch_failed = 1; /* rolled back by SQLite during a read */
		rc = s->batch_failed ? SQLITE_ABORT : SQLITE_OK;
		if (rc == SQLITE_OK && s->seq != s->batch_seq)
			rc = store_meta_set_int(s->store, "seq", s->seq);
		if (rc == SQLITE_OK)
			rc = store_commit(s->store);
		if (rc != SQLITE_OK) {
			log_error("Commit failed (session=%s requests=%lld): %s; answering "
				  "unavailable", s->name, (long long)s->batch_requests,
				  sqlite3_errstr(rc));
			store_rollback(s->store);
			s->seq = s->batch_seq;
			s->initialized = s->batch_initialized;
			memcpy(s->epoch, s->batch_epoch, sizeof(s->epoch));
			m->commit_failures++;
			failed = 1;
			s->batch_failed = 0;
			s->orphan_locks = 1; /* a leaver's lock release may be lost */
		} else {
			m->committed_changes += (uint64_t)(s->seq - s->batch_seq);
			histogram_observe(&m->commit_latency, (double)(util_mono_us() - t0) / 1e6);
			histogram_observe(&m->commit_batch, (double)s->batch_requests);
		}
	}
	/* Deliveries can add to the list (a save finishing synchronously), so
	 * walk by index and re-read the array each time. */
	for (i = 0; i < s->npending; i++) {
		struct pending p = s->pending[i];
		switch (p.kind) {
		case P_REPLY:
			if (failed && p.needs_commit) {
				frame_unref(p.frame);
				p.frame = reply_error_frame(p.re, "unavailable",
							    "storage cannot commit the change; "
							    "it was not applied", NULL);
			}
			conn_send(p.conn, p.frame);
			break;
		case P_EVENT:
			if (!(failed && p.needs_commit))
				deliver_event(s, &p);
			break;
		case P_JOIN:
			if (failed)
				undo_join(s, p.conn);
			else
				deliver_join(s, p.conn);
			break;
		case P_CLOSE:
			conn_close(p.conn, p.code, p.text);
			break;
		case P_SAVE:
			if (failed && p.code) {
				struct frame *f = reply_error_frame(p.re, "unavailable",
								    "admin.save: storage cannot commit",
								    NULL);
				conn_send(p.conn, f);
				frame_unref(f);
			} else if (!failed || !p.code) {
				/* A requester that has gone needs no answer. */
				struct conn *w = p.code && !p.conn->closed ? p.conn : NULL;
				session_save(s, p.text, w, p.re, p.code == 2 && w);
			}
			break;
		}
		frame_unref(p.frame);
		json_decref(p.re);
		free(p.text);
	}
	s->npending = 0;
}

void server_flush(struct server *srv)
{
	int syncs = 0;
	for (struct session *s = srv->sessions; s; s = s->next) {
		if (s->npending || store_in_transaction(s->store) || s->batch_failed)
			session_flush(s);
		syncs += s->syncs_open;
	}
	while (srv->closed) {
		struct conn *c = srv->closed;
		srv->closed = c->next_closed;
		conn_free(c);
	}
	if (srv->trim_wanted && !syncs) {
		/* A join's snapshot connection and frames are freed when its sync
		 * ends; once no sync is left, give those pages back instead of
		 * keeping the high-water mark of a join storm for good. */
		srv->trim_wanted = 0;
		malloc_trim(0);
	}
}

/* ------------------------------------------------------------------ */
/* Saves                                                               */

static struct frame *save_reply(const struct backup_job *job, json_t *id)
{
	json_t *o;
	struct frame *f;
	if (!job->ok) {
		char msg[600];
		snprintf(msg, sizeof(msg), "admin.save: save failed: %s", job->error);
		return reply_error_frame(id, "unavailable", msg, NULL);
	}
	o = json_pack("{ss ss sI sI}", "type", "ok", "backup", job->backup,
		      "bytes", (json_int_t)job->bytes, "ms", (json_int_t)job->ms);
	if (id)
		json_object_set(o, "re", id);
	f = frame_from_json(o);
	json_decref(o);
	return f;
}

static struct frame *save_http_body(const struct backup_job *job)
{
	json_t *o = job->ok ? json_pack("{ss ss sI sI}", "session", job->session,
					"backup", job->backup, "bytes", (json_int_t)job->bytes,
					"ms", (json_int_t)job->ms)
			    : json_pack("{ss ss}", "error", job->error, "code", "unavailable");
	struct frame *f = frame_from_json(o);
	json_decref(o);
	return f;
}

/* admin.reset, once its backup is written: empty the content, new epoch,
 * tell everyone and close them (4205) so they come back to a full sync. */
static void finish_reset(struct session *s, struct conn *admin, json_t *id,
			 const struct backup_job *job)
{
	char epoch[33];
	struct frame *f;
	int rc;
	json_t *o;

	s->resetting = 0;
	if (!job->ok) {
		char msg[600];
		snprintf(msg, sizeof(msg), "admin.reset: the backup failed, nothing was reset: %s",
			 job->error);
		if (admin)
			conn_release_hold(admin, reply_error_frame(id, "unavailable", msg, NULL));
		return;
	}
	util_random_hex(epoch, 16);
	rc = store_begin(s->store);
	if (rc == SQLITE_OK)
		rc = store_clear_content(s->store);
	if (rc == SQLITE_OK)
		rc = store_meta_set_text(s->store, "epoch", epoch);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(s->store, "initialized", 0);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(s->store, "history_floor", 0);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(s->store, "seq", s->seq + 1);
	if (rc == SQLITE_OK)
		rc = store_commit(s->store);
	if (rc != SQLITE_OK) {
		store_rollback(s->store);
		log_error("Reset failed (session=%s): %s", s->name, sqlite3_errstr(rc));
		if (admin)
			conn_release_hold(admin, reply_error_frame(id, "unavailable",
				"admin.reset: storage cannot commit; nothing was reset", NULL));
		return;
	}
	s->seq++;
	s->initialized = 0;
	s->history_floor = 0;
	memcpy(s->epoch, epoch, sizeof(epoch));
	s->srv->metrics.committed_changes++;
	log_warning("Session reset (session=%s backup=%s new epoch=%s)", s->name, job->backup,
		    s->epoch);
	if (admin) {
		o = json_pack("{ss ss sI ss}", "type", "ok", "epoch", s->epoch,
			      "seq", (json_int_t)s->seq, "backup", job->backup);
		if (id)
			json_object_set(o, "re", id);
		conn_release_hold(admin, frame_from_json(o));
		json_decref(o);
	}
	o = json_pack("{ss sb ss sI}", "type", "session", "reset", 1, "epoch", s->epoch,
		      "seq", (json_int_t)s->seq);
	f = frame_from_json(o);
	json_decref(o);
	while (s->clients) {
		struct client *cl = s->clients;
		struct conn *c = cl->conn;
		conn_send(c, f);
		session_leave(s, cl, "reset");
		conn_close(c, 4205, "reset");
	}
	frame_unref(f);
}

/* Writes presence and trims history before a save (its own transaction:
 * saves start right after a commit, never inside a batch). */
static void prepare_save(struct session *s)
{
	int64_t upto = s->seq - SESSION_HISTORY_KEEP;
	int dirty = upto > s->history_floor;
	for (struct client *cl = s->clients; cl; cl = cl->next)
		dirty |= cl->presence_dirty;
	if (!dirty || store_begin(s->store) != SQLITE_OK)
		return;
	int rc = SQLITE_OK;
	for (struct client *cl = s->clients; cl && rc == SQLITE_OK; cl = cl->next)
		rc = flush_presence(s, cl);
	if (rc == SQLITE_OK && upto > s->history_floor) {
		rc = store_purge_tombstones(s->store, upto);
		if (rc == SQLITE_OK)
			rc = store_meta_set_int(s->store, "history_floor", upto);
	}
	if (rc == SQLITE_OK)
		rc = store_commit(s->store);
	if (rc != SQLITE_OK) {
		log_error("Cannot write presence before saving (session=%s): %s", s->name,
			  sqlite3_errstr(rc));
		store_rollback(s->store);
		for (struct client *cl = s->clients; cl; cl = cl->next)
			if (cl->presence)
				cl->presence_dirty = 1;
		return;
	}
	if (upto > s->history_floor)
		s->history_floor = upto;
}

static void start_save(struct session *s, const char *reason)
{
	struct backup_job *job;
	prepare_save(s);
	job = backup_job_new(s->name, s->dir, reason, s->srv->cfg->max_backups);
	s->save_running = 1;
	if (s->srv->saver) {
		saver_submit(s->srv->saver, job);
	} else {
		backup_run(job);
		server_save_done(s->srv, job);
	}
}

static int reason_rank(const char *reason)
{
	static const char *const order[] = {"auto-save", "user_disconnect", "admin", "shutdown",
					    "reset"};
	for (int i = 4; i >= 0; i--)
		if (strncmp(reason, order[i], strlen(order[i])) == 0)
			return i;
	return 0;
}

static void add_waiter(struct session *s, struct save_waiter *w)
{
	struct save_waiter **list = s->save_running ? &s->next_waiters : &s->waiters;
	while (*list)
		list = &(*list)->next;
	*list = w;
}

void session_save_http(struct session *s, struct http_pending *hp)
{
	struct save_waiter *w = xcalloc(1, sizeof(*w));
	w->http = hp;
	add_waiter(s, w);
	session_save(s, "admin", NULL, NULL, 0);
}

void session_save(struct session *s, const char *reason, struct conn *waiter, json_t *id,
		  int reset)
{
	if (waiter) {
		struct save_waiter *w = xcalloc(1, sizeof(*w));
		w->conn = waiter;
		w->id = id ? json_incref(id) : NULL;
		w->reset = reset;
		if (reset)
			s->resetting = 1;
		add_waiter(s, w);
		conn_hold(waiter);
	}
	if (s->save_running) {
		/* Coalesce: one follow-up save, named by its most important
		 * request (a reset's backup must say "reset"). */
		if (!s->save_again || reason_rank(reason) >= reason_rank(s->save_again_reason))
			snprintf(s->save_again_reason, sizeof(s->save_again_reason), "%s", reason);
		s->save_again = 1;
		return;
	}
	start_save(s, reason);
}

void session_conn_gone(struct session *s, struct conn *c)
{
	struct save_waiter *lists[2] = {s->waiters, s->next_waiters};
	for (int i = 0; i < 2; i++)
		for (struct save_waiter *w = lists[i]; w; w = w->next)
			if (w->conn == c)
				w->conn = NULL;
}

static struct session *find_session(struct server *srv, const char *name)
{
	for (struct session *s = srv->sessions; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

void server_save_done(struct server *srv, struct backup_job *job)
{
	struct session *s = find_session(srv, job->session);
	struct metrics *m = &srv->metrics;
	enum save_kind kind = metrics_save_kind(job->reason);
	struct save_waiter *w;

	if (job->checkpoint_only) {
		if (!job->ok)
			log_warning("Checkpoint failed (session=%s): %s", job->session, job->error);
		else
			log_debug("Checkpoint done (session=%s ms=%lld)", job->session,
				  (long long)job->ms);
		if (s) {
			s->checkpoint_running = 0;
			if (job->ok)
				store_wal_checkpointed(s->store);
		}
		backup_job_free(job);
		return;
	}

	if (job->ok) {
		log_info("Session saved (session=%s reason=%s backup=%s bytes=%lld ms=%lld)",
			 job->session, job->reason, job->backup, (long long)job->bytes,
			 (long long)job->ms);
		m->saves_ok[kind]++;
		histogram_observe(&m->save_duration, (double)job->ms / 1000.0);
		m->last_save_time = job->finished_at;
	} else {
		log_error("Save failed (session=%s reason=%s): %s; the live session is intact "
			  "and the next save will try again", job->session, job->reason, job->error);
		m->saves_failed[kind]++;
		m->backup_failures++;
	}
	if (!s) {
		backup_job_free(job);
		return;
	}
	s->save_running = 0;
	if (job->ok) {
		s->saved_seq = job->seq;
		s->last_save_time = job->finished_at;
		snprintf(s->last_save_reason, sizeof(s->last_save_reason), "%s", job->reason);
		snprintf(s->last_backup, sizeof(s->last_backup), "%s", job->backup);
		s->last_save_ms = job->ms;
		s->last_backup_bytes = job->bytes;
	}
	while ((w = s->waiters)) {
		s->waiters = w->next;
		if (w->reset)
			finish_reset(s, w->conn, w->id, job);
		else if (w->conn)
			conn_release_hold(w->conn, save_reply(job, w->id));
		if (w->http)
			http_pending_done(w->http, save_http_body(job), job->ok ? 200 : 503);
		json_decref(w->id);
		free(w);
	}
	s->waiters = s->next_waiters;
	s->next_waiters = NULL;
	backup_job_free(job);
	if (s->save_again && !srv->shutting_down) {
		s->save_again = 0;
		start_save(s, s->save_again_reason);
	}
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */

static int load_meta(struct session *s, char *err, size_t errlen)
{
	char *epoch = NULL;
	int64_t init = 0;
	int rc = store_meta_get_text(s->store, "epoch", &epoch);
	if (rc == SQLITE_OK)
		rc = store_meta_get_int(s->store, "seq", &s->seq);
	if (rc == SQLITE_OK)
		rc = store_meta_get_int(s->store, "initialized", &init);
	if (rc == SQLITE_OK)
		rc = store_meta_get_int(s->store, "history_floor", &s->history_floor);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "cannot read meta: %s", sqlite3_errstr(rc));
	else
		snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
	free(epoch);
	s->initialized = (int)init;
	s->saved_seq = s->seq;
	return rc;
}

/* Releases every lock whose owner is not online: at start (nobody is, so
 * locks left by a crash go) and after a failed commit lost the release of
 * a user who left. */
static int release_orphan_locks(struct session *s)
{
	sqlite3_stmt *st;
	json_t *owners = json_array(), *o;
	size_t i;
	int n = 0;
	int rc = sqlite3_prepare_v2(store_db(s->store),
				    "SELECT DISTINCT owner FROM nodes WHERE owner IS NOT NULL",
				    -1, &st, NULL);
	if (rc != SQLITE_OK) {
		json_decref(owners);
		return rc;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *owner = (const char *)sqlite3_column_text(st, 0);
		if (!find_client(s, owner))
			json_array_append_new(owners, json_string(owner));
	}
	sqlite3_finalize(st);
	json_array_foreach(owners, i, o) {
		if (rc == SQLITE_OK)
			rc = batch_begin(s);
		if (rc == SQLITE_OK)
			rc = release_locks(s, json_string_value(o));
		n++;
	}
	json_decref(owners);
	if (n)
		log_info("Released the locks of %d user(s) no longer online (session=%s)", n,
			 s->name);
	return rc;
}

static struct session *session_open(struct server *srv, const char *name, int new_epoch,
				    char *err, size_t errlen)
{
	struct session *s = xcalloc(1, sizeof(*s));
	size_t n = strlen(srv->cfg->data_dir) + strlen(name) + 32;
	s->srv = srv;
	s->name = xstrdup(name);
	s->dir = xmalloc(n);
	snprintf(s->dir, n, "%s/%s", srv->cfg->data_dir, name);
	s->db_path = xmalloc(n);
	snprintf(s->db_path, n, "%s/session.db", s->dir);
	if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	if (store_open(s->db_path, strcmp(srv->cfg->sync, "full") == 0, &s->store, err,
		       errlen) != SQLITE_OK)
		goto fail;
	chmod(s->db_path, 0600);
	if (new_epoch) {
		char epoch[33];
		util_random_hex(epoch, 16);
		if (store_meta_set_text(s->store, "epoch", epoch) != SQLITE_OK ||
		    store_meta_set_int(s->store, "history_floor", 0) != SQLITE_OK) {
			snprintf(err, errlen, "cannot set a new epoch");
			goto fail;
		}
	}
	if (load_meta(s, err, errlen) != SQLITE_OK)
		goto fail;
	if (release_orphan_locks(s) != SQLITE_OK) {
		snprintf(err, errlen, "cannot release stale locks");
		goto fail;
	}
	s->next = srv->sessions;
	srv->sessions = s;
	srv->nsessions++;
	return s;
fail:
	store_close(s->store);
	free(s->name);
	free(s->dir);
	free(s->db_path);
	free(s);
	return NULL;
}

struct session *server_session(struct server *srv, const char *name, int create, char *err,
			       size_t errlen)
{
	struct session *s = find_session(srv, name);
	if (s || !create)
		return s;
	s = session_open(srv, name, 0, err, errlen);
	if (s)
		log_info("Session created (session=%s)", name);
	return s;
}

/* The start-up line per session, as the old server printed it. */
static void log_loaded(struct session *s)
{
	char path[4400];
	struct store_counts c = {0};
	json_t *meta;
	const char *when = "never", *reason = "-";

	snprintf(path, sizeof(path), "%s/session_metadata.json", s->dir);
	meta = json_load_file(path, 0, NULL);
	if (meta) {
		when = json_string_value(json_object_get(meta, "datetime"));
		reason = json_string_value(json_object_get(meta, "reason"));
		when = when ? when : "unknown";
		reason = reason ? reason : "unknown";
	}
	store_counts(s->store, &c);
	log_info("Session loaded (session=%s last_save=%s users=%lld nodes=%lld tasks=%lld "
		 "chat=%lld initialized=%s last_save_reason=%s seq=%lld)%s", s->name, when,
		 (long long)c.users, (long long)c.nodes, (long long)c.tasks, (long long)c.chat,
		 s->initialized ? "true" : "false", reason, (long long)s->seq,
		 s->initialized ? " - ready, no Init needed" : "");
	json_decref(meta);
}

int server_open_sessions(struct server *srv)
{
	DIR *d = opendir(srv->cfg->data_dir);
	struct dirent *e;
	int status = 0;

	if (!d) {
		log_error("Cannot read DATA_DIR %s: %s", srv->cfg->data_dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char dir[4400], used[256], err[512];
		struct stat st;
		struct session *s;
		int r;

		if (!validate_session_name(e->d_name))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s/session.db", srv->cfg->data_dir, e->d_name);
		if (stat(dir, &st) != 0) {
			snprintf(dir, sizeof(dir), "%s/%s/backups", srv->cfg->data_dir, e->d_name);
			if (stat(dir, &st) != 0)
				continue; /* not a session directory */
		}
		snprintf(dir, sizeof(dir), "%s/%s", srv->cfg->data_dir, e->d_name);
		r = backup_recover(dir, used, sizeof(used), err, sizeof(err));
		if (r < 0) {
			log_error("Session %s cannot be opened: %s", e->d_name, err);
			status = -1;
			continue;
		}
		if (r == 1)
			log_warning("Session %s was corrupt: restored from backup %s (moved the bad "
				    "file aside; new epoch, clients resync)", e->d_name, used);
		if (r == 2)
			log_error("SESSION %s WAS CORRUPT AND NO BACKUP PASSED integrity_check: it "
				  "starts EMPTY. The bad file is kept as %s", e->d_name, used);
		s = session_open(srv, e->d_name, r > 0, err, sizeof(err));
		if (!s) {
			log_error("Session %s cannot be opened: %s", e->d_name, err);
			status = -1;
			continue;
		}
		server_flush(srv); /* commits the release of stale locks */
		log_loaded(s);
	}
	closedir(d);
	return status;
}

void server_init(struct server *srv, struct config *cfg)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->started_at = util_now();
	metrics_init(&srv->metrics);
}

void server_free(struct server *srv)
{
	struct session *s;
	while ((s = srv->sessions)) {
		srv->sessions = s->next;
		while (s->clients) {
			struct client *cl = s->clients;
			s->clients = cl->next;
			client_free(cl);
		}
		for (int i = 0; i < 2; i++) {
			struct save_waiter *w = i ? s->next_waiters : s->waiters;
			while (w) {
				struct save_waiter *n = w->next;
				json_decref(w->id);
				free(w);
				w = n;
			}
		}
		store_close(s->store);
		free(s->pending);
		free(s->name);
		free(s->dir);
		free(s->db_path);
		free(s);
	}
}

/* Asks the saver for a checkpoint when a session's WAL has grown. */
static void checkpoint_if_needed(struct session *s)
{
	struct backup_job *job;
	if (s->checkpoint_running || !s->srv->saver ||
	    store_wal_frames(s->store) < SESSION_WAL_CHECKPOINT_FRAMES)
		return;
	job = backup_job_new(s->name, s->dir, "checkpoint", s->srv->cfg->max_backups);
	job->checkpoint_only = 1;
	job->wal_reset = s->syncs_open == 0;
	s->checkpoint_running = 1;
	saver_submit(s->srv->saver, job);
}

void server_cron(struct server *srv)
{
	static double last_auto;
	double now = util_now();
	long every = srv->cfg->save_interval;

	for (struct session *s = srv->sessions; s; s = s->next) {
		checkpoint_if_needed(s);
		if (s->orphan_locks && !s->resetting) {
			s->orphan_locks = 0;
			if (release_orphan_locks(s) != SQLITE_OK)
				s->orphan_locks = 1; /* storage still failing: next second */
		}
	}

	if (!last_auto)
		last_auto = now;
	if (every <= 0 || now - last_auto < (double)every || srv->shutting_down)
		return;
	last_auto = now;
	for (struct session *s = srv->sessions; s; s = s->next) {
		int dirty = s->seq != s->saved_seq;
		for (struct client *cl = s->clients; cl; cl = cl->next)
			dirty |= cl->presence_dirty;
		if (dirty)
			session_save(s, "auto-save", NULL, NULL, 0);
		else
			log_debug("Auto-save skipped (session=%s): nothing changed since the last "
				  "save", s->name);
	}
}

void server_begin_shutdown(struct server *srv)
{
	srv->shutting_down = 1;
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (c->client)
			session_leave(c->session, c->client, "shutdown");
		conn_close(c, 1001, "server shutdown");
	}
	server_flush(srv);
}

void server_final_save(struct server *srv)
{
	for (struct session *s = srv->sessions; s; s = s->next) {
		struct backup_job *job;
		if (store_in_transaction(s->store))
			session_flush(s);
		prepare_save(s);
		job = backup_job_new(s->name, s->dir, "shutdown", srv->cfg->max_backups);
		job->checkpoint_truncate = 1;
		backup_run(job);
		server_save_done(srv, job);
	}
}
