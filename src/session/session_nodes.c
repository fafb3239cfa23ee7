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
	n.data = json_dumps(q.data, JSON_COMPACT);
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
static void update_reply(struct req *r, const struct node_row *n)
{
	struct sbuf b;
	envelope_ok_text(&b, r->id, 128);
	sbuf_addstr(&b, ",\"uuid\":");
	sbuf_add_json_str(&b, n->uuid, strlen(n->uuid));
	sbuf_addstr(&b, ",\"version\":");
	sbuf_add_int(&b, n->version);
	sbuf_addstr(&b, ",\"seq\":");
	sbuf_add_int(&b, n->seq);
	reply_ok_sbuf(r, &b);
}

/* The node.update event, written as text: the request's own data, patch,
 * deps and kind, spliced in as JSON text. */
static struct frame *update_event(const struct node_row *n, const char *user, const char *data,
				  const char *patch, const char *deps, const char *kind,
				  const char *blobs)
{
	struct sbuf b;
	struct frame *f;
	frame_sbuf_init(&b, 256 + (data ? strlen(data) : 0) + (patch ? strlen(patch) : 0) +
			    (deps ? strlen(deps) : 0) + (blobs ? strlen(blobs) : 0));
	sbuf_addstr(&b, "{\"type\":\"node\",\"op\":\"update\",\"uuid\":");
	sbuf_add_json_str(&b, n->uuid, strlen(n->uuid));
	sbuf_addstr(&b, ",\"version\":");
	sbuf_add_int(&b, n->version);
	sbuf_addstr(&b, ",\"seq\":");
	sbuf_add_int(&b, n->seq);
	sbuf_addstr(&b, ",\"updated_by\":");
	sbuf_add_json_str(&b, user, strlen(user));
	if (data) {
		sbuf_addstr(&b, ",\"data\":");
		sbuf_addstr(&b, data);
	}
	if (patch) {
		sbuf_addstr(&b, ",\"patch\":");
		sbuf_addstr(&b, patch);
	}
	if (deps) {
		sbuf_addstr(&b, ",\"deps\":");
		sbuf_addstr(&b, deps);
	}
	if (kind) {
		sbuf_addstr(&b, ",\"kind\":");
		sbuf_add_json_str(&b, kind, strlen(kind));
	}
	if (blobs) {
		sbuf_addstr(&b, ",\"blobs\":");
		sbuf_addstr(&b, blobs);
	}
	sbuf_addc(&b, '}');
	f = frame_from_sbuf(&b);
	f->type = MT_NODE;
	return f;
}

/* node.update is the hot path of a session (every edit of every artist),
 * so its reply and event are written as text directly and the stored data
 * is never parsed here: SQLite applies the merge patch. */
int do_node_update(struct req *r)
{
	struct node_update_req q;
	struct node_row n;
	char msg[VALIDATE_MSG];
	char *data = NULL, *patch = NULL, *deps = NULL, *blobs = NULL;
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
	deps = q.deps ? json_dumps(q.deps, JSON_COMPACT) : NULL;
	blobs = q.blobs ? json_dumps(q.blobs, JSON_COMPACT) : NULL;
	free(n.data);
	n.data = data; /* NULL: keep the stored data (and apply patch) */
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
	if (rc == SQLITE_OK && q.blobs)
		rc = store_node_set_blobs(r->s->store, n.uuid, q.blobs);
	if (rc != SQLITE_OK)
		goto out;
	r->s->seq = n.seq;
	update_reply(r, &n);
	emit_event_frame(r->s, r->conn, update_event(&n, r->cl->name, data, patch, deps, q.kind,
						      blobs),
			 n.seq);
out:
	free(patch);
	free(deps);
	free(blobs);
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

int do_node_delete(struct req *r)
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
				      "uuid", n->uuid, "owner", json_str_or_null(owner),
				      "seq", (json_int_t)n->seq), n->seq);
	return SQLITE_OK;
}

static int node_lock(struct req *r, int lock)
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
		reply_ok(r, json_pack("{ss so sI}", "uuid", n.uuid, "owner", json_str_or_null(n.owner),
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
					      json_str_or_null(want), "seq", (json_int_t)r->s->seq));
	}
	node_row_free(&n);
	return rc;
}

int do_node_lock(struct req *r) { return node_lock(r, 1); }
int do_node_unlock(struct req *r) { return node_lock(r, 0); }

int do_node_get(struct req *r)
{
	struct node_ref_req q;
	struct node_row n;
	json_t *data;
	int rc;

	if (node_ref_load(r, &q, &n, 1, 0))
		return SQLITE_OK;
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
