/* session_collab.c - what artists share besides the scene graph: tasks
 * (task.create/update/delete), chat (chat.send, chat.history), presence,
 * session.init, and the list of users with who is online.
 *
 * Tasks and chat are rows that take a seq like nodes do. Presence is not
 * committed per message: it is relayed at once and kept in memory as the
 * user's metadata, written by flush_presence when the user leaves and
 * before every save (protocol section 7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pool.h"
#include "log.h"
#include "server_state.h"
#include "session_int.h"
#include "store.h"
#include "util.h"
#include "validate.h"

static json_t *task_json(const struct task_row *t)
{
	return json_pack("{sI ss ss ss so so ss sf sf sI}",
			 "id", (json_int_t)t->id, "title", t->title,
			 "description", t->description ? t->description : "",
			 "status", t->status, "assignee", json_str_or_null(t->assignee),
			 "node", json_str_or_null(t->node), "created_by", t->created_by,
			 "created_at", t->created_at, "updated_at", t->updated_at,
			 "seq", (json_int_t)t->seq);
}

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

int do_task(struct req *r)
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

int do_chat_send(struct req *r)
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

int do_chat_history(struct req *r)
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

int do_presence(struct req *r)
{
	json_t *data;
	struct pending *p;
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
	p = reply_ok(r, NULL);
	if (p) /* relayed whatever the batch's commit does */
		p->needs_commit = 0;
	return SQLITE_OK;
}

int do_session_init(struct req *r)
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

json_t *users_json(struct session *s)
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

int flush_presence(struct session *s, struct client *cl)
{
	char *text;
	int rc;
	if (!cl->presence_dirty)
		return SQLITE_OK;
	text = pool_json_dumps(cl->presence, JSON_COMPACT);
	rc = store_user_set_metadata(s->store, cl->name, text, util_now());
	free(text);
	if (rc == SQLITE_OK)
		cl->presence_dirty = 0;
	return rc;
}
