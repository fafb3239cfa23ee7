/* session_nodes.c - the scene graph's requests: node.create, node.update,
 * node.delete, node.lock, node.unlock and node.get, and the release of a
 * leaving user's locks.
 *
 * A change checks the node's owner (may_change) and its version, writes the
 * row inside the batch's SAVEPOINT, takes the next seq, and queues its ok
 * and its event; session.c commits and delivers them. A lock or unlock
 * takes a seq but leaves version alone. node_json is the node object of
 * events and node.get; sync.c writes the same object from its snapshot
 * (tests/unit/test_session.c checks the two agree). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "frame.h"
#include "pool.h"
#include "log.h"
#include "metrics.h"
#include "session_int.h"
#include "store.h"
#include "util.h"
#include "validate.h"

json_t *node_json(const struct node_row *n, json_t *data)
{
	json_t *o = json_pack("{ss ss}", "uuid", n->uuid, "kind", n->kind);
	json_object_set_new(o, "deps", n->deps ? json_incref(n->deps) : json_array());
	json_object_set_new(o, "blobs", n->blobs ? json_incref(n->blobs) : json_array());
	json_object_set_new(o, "owner", json_str_or_null(n->owner));
	json_object_set_new(o, "version", json_integer(n->version));
	json_object_set_new(o, "seq", json_integer(n->seq));
	json_object_set(o, "data", data);
	json_object_set_new(o, "updated_by", json_str_or_null(n->updated_by));
	json_object_set_new(o, "updated_at", json_real(n->updated_at));
	return o;
}

/* Answers not_found or a storage error unless rc is SQLITE_OK. */
static int node_missing(struct req *r, const char *uuid, int rc)
{
	if (rc == SQLITE_NOTFOUND)
		reply_err(r, "not_found", NULL, "%s: no node with uuid \"%s\"", r->type, uuid);
	else if (rc != SQLITE_OK)
		reply_err(r, storage_code(rc), NULL, "%s: storage error: %s", r->type,
			  sqlite3_errstr(rc));
	return rc;
}

/* The head of the live node uuid (store_node_head: from memory). */
static int head_load(struct req *r, const char *uuid, struct node_head **h)
{
	return node_missing(r, uuid, store_node_head(r->s->store, uuid, h));
}

static int may_change(struct req *r, const struct node_head *h)
{
	if (h->owner && strcmp(h->owner, r->cl->name) != 0) {
		reply_err(r, "forbidden", json_pack("{ss}", "owner", h->owner),
			  "%s: node \"%s\" is locked by %s", r->type, h->uuid, h->owner);
		return 0;
	}
	return 1;
}

int do_node_create(struct req *r)
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
	n.data = pool_json_dumps(q.data, JSON_COMPACT);
	n.owner = q.lock ? r->cl->name : NULL;
	n.version = 1;
	n.seq = r->s->seq + 1;
	n.updated_by = r->cl->name;
	n.updated_at = util_now();
	rc = store_node_insert(r->s->store, &n);
	if (rc == SQLITE_OK && q.deps && json_array_size(q.deps))
		rc = store_node_set_deps(r->s->store, n.uuid, q.deps);
	if (rc == SQLITE_OK && q.blobs && json_array_size(q.blobs))
		rc = store_node_set_blobs(r->s->store, n.uuid, q.blobs);
	if (rc == SQLITE_OK) {
		r->s->seq = n.seq;
		n.deps = q.deps;
		n.blobs = q.blobs;
		json_t *node = node_json(&n, q.data);
		n.deps = NULL;
		n.blobs = NULL;
		reply_ok(r, json_pack("{ss sI sI}", "uuid", n.uuid, "version", (json_int_t)1,
				      "seq", (json_int_t)n.seq));
		emit_event(r->s, r->conn, json_pack("{ss ss so sI}", "type", "node", "op", "create",
						    "node", node, "seq", (json_int_t)n.seq), n.seq);
	}
	free(n.data);
	return rc;
}

/* The ok of node.update, written as text. */
static void update_reply(struct req *r, const char *uuid, int64_t version, int64_t seq)
{
	struct sbuf b;
	envelope_ok_text(&b, r->id, 128);
	sbuf_addstr(&b, ",\"uuid\":");
	sbuf_add_json_str(&b, uuid, strlen(uuid));
	sbuf_addstr(&b, ",\"version\":");
	sbuf_add_int(&b, version);
	sbuf_addstr(&b, ",\"seq\":");
	sbuf_add_int(&b, seq);
	reply_ok_sbuf(r, &b);
}

/* The node.update event, written as text (frame_add_json) before the
 * change is stored: c's data and patch then point into it, so the text
 * SQLite stores and the text watchers receive are one copy. */
static void update_event(struct sbuf *b, const char *uuid, struct node_change *c,
			 const struct node_update_req *q)
{
	size_t data_at = 0, patch_at = 0;
	frame_sbuf_init(b, 512);
	sbuf_addstr(b, "{\"type\":\"node\",\"op\":\"update\",\"uuid\":");
	sbuf_add_json_str(b, uuid, strlen(uuid));
	sbuf_addstr(b, ",\"version\":");
	sbuf_add_int(b, c->version);
	sbuf_addstr(b, ",\"seq\":");
	sbuf_add_int(b, c->seq);
	sbuf_addstr(b, ",\"updated_by\":");
	sbuf_add_json_str(b, c->updated_by, strlen(c->updated_by));
	if (q->data) {
		sbuf_addstr(b, ",\"data\":");
		data_at = b->len;
		frame_add_json(b, q->data);
		c->data_len = b->len - data_at;
	}
	if (q->patch) {
		sbuf_addstr(b, ",\"patch\":");
		patch_at = b->len;
		frame_add_json(b, q->patch);
		c->patch_len = b->len - patch_at;
	}
	if (q->deps) {
		sbuf_addstr(b, ",\"deps\":");
		frame_add_json(b, q->deps);
	}
	if (q->kind) {
		sbuf_addstr(b, ",\"kind\":");
		sbuf_add_json_str(b, q->kind, strlen(q->kind));
	}
	if (q->blobs) {
		sbuf_addstr(b, ",\"blobs\":");
		frame_add_json(b, q->blobs);
	}
	sbuf_addc(b, '}');
	/* The buffer has stopped moving. */
	c->data = q->data ? b->p + data_at : NULL;
	c->patch = q->patch ? b->p + patch_at : NULL;
}

/* node.update is the hot path of a session (every edit of every artist):
 * its checks read the node's head from memory (store_node_head), its reply
 * and event are written as text directly, and the stored data is never
 * parsed here: SQLite applies the merge patch. */
int do_node_update(struct req *r)
{
	struct node_update_req q;
	struct node_change c = {0};
	struct node_head *h;
	struct sbuf ev;
	struct frame *f;
	char msg[VALIDATE_MSG];
	int rc = SQLITE_OK;

	if (validate_node_update(r->msg, &q, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	if (head_load(r, q.uuid, &h) != SQLITE_OK)
		return SQLITE_OK; /* answered */
	if (!may_change(r, h))
		return SQLITE_OK;
	if (q.has_version && q.version != h->version) {
		reply_err(r, "conflict", json_pack("{sI}", "version", (json_int_t)h->version),
			  "node.update: version is %lld, not %lld", (long long)h->version,
			  (long long)q.version);
		return SQLITE_OK;
	}
	c.kind = q.kind;
	c.version = h->version + 1;
	c.seq = r->s->seq + 1;
	c.updated_by = r->cl->name;
	c.updated_at = util_now();
	update_event(&ev, q.uuid, &c, &q);
	/* More than one statement: they need the request's SAVEPOINT. */
	if (q.deps || q.blobs)
		rc = req_savepoint(r);
	if (rc == SQLITE_OK)
		rc = store_node_change(r->s->store, h, &c);
	if (rc == SQLITE_OK && q.deps)
		rc = store_node_set_deps(r->s->store, q.uuid, q.deps);
	if (rc == SQLITE_OK && q.blobs)
		rc = store_node_set_blobs(r->s->store, q.uuid, q.blobs);
	if (rc != SQLITE_OK) {
		sbuf_free(&ev);
		return rc;
	}
	r->s->seq = c.seq;
	update_reply(r, q.uuid, c.version, c.seq);
	f = frame_from_sbuf(&ev);
	f->type = MT_NODE;
	emit_event_frame(r->s, r->conn, f, c.seq);
	return SQLITE_OK;
}

/* The prologue of node.delete, node.lock and node.unlock: the request's
 * uuid (and, for lock and unlock, force) and the head of the live node it
 * names. Returns 0 with *h set, or -1 after answering the request. */
static int node_ref_load(struct req *r, struct node_ref_req *q, struct node_head **h,
			 int takes_force)
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
	return head_load(r, q->uuid, h) == SQLITE_OK ? 0 : -1;
}

int do_node_delete(struct req *r)
{
	struct node_ref_req q;
	struct node_head *h;
	int64_t seq;
	int rc = SQLITE_OK;

	if (node_ref_load(r, &q, &h, 0))
		return SQLITE_OK;
	if (may_change(r, h)) {
		seq = r->s->seq + 1;
		rc = store_node_tombstone(r->s->store, q.uuid, seq, r->cl->name, util_now());
		/* h is gone with the node's head */
		if (rc == SQLITE_OK) {
			r->s->seq = seq;
			reply_ok(r, json_pack("{ss sI}", "uuid", q.uuid, "seq", (json_int_t)seq));
			emit_event(r->s, r->conn, json_pack("{ss ss ss sI}", "type", "node", "op",
							    "delete", "uuid", q.uuid, "seq",
							    (json_int_t)seq), seq);
		}
	}
	return rc;
}

/* Sets the owner of the node of head h and emits the owner event. */
static int set_owner(struct session *s, struct conn *from, struct node_head *h,
		     const char *owner)
{
	int64_t seq = s->seq + 1;
	int rc = store_node_set_owner(s->store, h, owner, seq);
	if (rc != SQLITE_OK)
		return rc;
	s->seq = seq;
	emit_event(s, from, json_pack("{ss ss ss so sI}", "type", "node", "op", "owner",
				      "uuid", h->uuid, "owner", json_str_or_null(owner),
				      "seq", (json_int_t)seq), seq);
	return SQLITE_OK;
}

static int node_lock(struct req *r, int lock)
{
	struct node_ref_req q;
	struct node_head *h;
	const char *me = r->cl->name;
	const char *want = lock ? me : NULL;
	int rc = SQLITE_OK;

	if (node_ref_load(r, &q, &h, 1))
		return SQLITE_OK;
	if ((lock && h->owner && strcmp(h->owner, me) == 0) || (!lock && !h->owner)) {
		/* Nothing changes: ok with the current seq, no event. */
		reply_ok(r, json_pack("{ss so sI}", "uuid", q.uuid, "owner",
				      json_str_or_null(h->owner), "seq", (json_int_t)h->seq));
	} else if (h->owner && strcmp(h->owner, me) != 0 && !q.force) {
		reply_err(r, "forbidden", json_pack("{ss}", "owner", h->owner),
			  "%s: node \"%s\" is locked by %s", r->type, q.uuid, h->owner);
	} else {
		if (q.force && h->owner && strcmp(h->owner, me) != 0)
			log_info("Admin %s forced %s of node %s held by %s (session=%s)", me,
				 lock ? "lock" : "unlock", q.uuid, h->owner, r->s->name);
		rc = set_owner(r->s, r->conn, h, want);
		if (rc == SQLITE_OK)
			reply_ok(r, json_pack("{ss so sI}", "uuid", q.uuid, "owner",
					      json_str_or_null(want), "seq", (json_int_t)r->s->seq));
	}
	return rc;
}

int do_node_lock(struct req *r) { return node_lock(r, 1); }
int do_node_unlock(struct req *r) { return node_lock(r, 0); }

int do_node_get(struct req *r)
{
	struct node_ref_req q;
	struct node_row n;
	char msg[VALIDATE_MSG];
	json_t *data;
	int rc;

	if (validate_node_ref(r->type, r->msg, &q, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	rc = store_node_get(r->s->store, q.uuid, &n);
	if (rc == SQLITE_OK && n.deleted) {
		node_row_free(&n);
		rc = SQLITE_NOTFOUND;
	}
	if (node_missing(r, q.uuid, rc) != SQLITE_OK)
		return SQLITE_OK; /* answered */
	rc = store_node_get_deps(r->s->store, n.uuid, &n.deps);
	if (rc == SQLITE_OK)
		rc = store_node_get_blobs(r->s->store, n.uuid, &n.blobs);
	if (rc == SQLITE_OK) {
		data = json_loads(n.data, 0, NULL);
		reply_ok(r, json_pack("{so}", "node", node_json(&n, data)));
		json_decref(data);
	}
	node_row_free(&n);
	return rc;
}

int release_locks(struct session *s, const char *user)
{
	json_t *owned = NULL, *u;
	size_t i;
	int rc = store_nodes_owned_by(s->store, user, &owned);
	json_array_foreach(owned, i, u) {
		struct node_head *h;
		if (rc != SQLITE_OK)
			break;
		rc = store_node_head(s->store, json_string_value(u), &h);
		if (rc == SQLITE_OK)
			rc = set_owner(s, NULL, h, NULL);
	}
	json_decref(owned);
	return rc;
}
