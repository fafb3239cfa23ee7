/* session.c - the core of the session domain: the pending list and
 * replies, the batch, request dispatch, join and leave, the flush that
 * commits a batch and delivers what it produced, and opening a session.
 *
 * Design notes
 * - Batches. Every request that a pass of the event loop reads is applied
 *   inside one transaction, each in its own SAVEPOINT (a failing request
 *   rolls back alone). Replies and events are not sent as they are made:
 *   they are appended to the session's pending list, and session_flush()
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
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "envelope.h"
#include "frame.h"
#include "log.h"
#include "restore.h"
#include "server_state.h"
#include "session_int.h"
#include "store.h"
#include "sync.h"
#include "util.h"
#include "validate.h"
#include "version.h"

/* ------------------------------------------------------------------ */
/* Pending outputs                                                     */

struct pending *pending_add(struct session *s, enum pending_kind kind, struct conn *c)
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

struct pending *queue_frame(struct session *s, struct conn *c, struct frame *f, json_t *re,
			    int needs_commit)
{
	struct pending *p = pending_add(s, P_REPLY, c);
	p->frame = f;
	p->re = re ? json_incref(re) : NULL;
	p->needs_commit = needs_commit;
	return p;
}

void session_reply(struct session *s, struct conn *c, struct frame *f)
{
	queue_frame(s, c, frame_ref(f), NULL, 0);
}

struct pending *emit_event_frame(struct session *s, struct conn *from, struct frame *f,
				 int64_t seq)
{
	struct pending *p = pending_add(s, P_EVENT, from);
	p->frame = f;
	p->seq = seq;
	p->needs_commit = seq > 0;
	return p;
}

struct pending *emit_event(struct session *s, struct conn *from, json_t *obj, int64_t seq)
{
	struct pending *p = emit_event_frame(s, from, frame_from_json(obj), seq);
	json_decref(obj);
	return p;
}

void reply_err(struct req *r, const char *code, json_t *extra, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	queue_frame(r->s, r->conn, envelope_error(r->id, code, msg, extra), NULL, 0);
	json_decref(extra);
	r->answered = 1;
}

struct pending *reply_ok(struct req *r, json_t *fields)
{
	struct pending *p = NULL;
	r->answered = 1;
	if (r->id)
		p = queue_frame(r->s, r->conn, envelope_ok(r->id, fields), r->id, 1);
	json_decref(fields);
	return p;
}

struct pending *reply_ok_sbuf(struct req *r, struct sbuf *b)
{
	struct frame *f;
	r->answered = 1;
	if (!r->id) {
		sbuf_free(b);
		return NULL;
	}
	sbuf_addc(b, '}');
	f = frame_from_sbuf(b);
	f->type = MT_OK;
	return queue_frame(r->s, r->conn, f, r->id, 1);
}

/* ------------------------------------------------------------------ */
/* Batch                                                               */

int batch_begin(struct session *s)
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

int req_savepoint(struct req *r)
{
	int rc = store_savepoint(r->s->store);
	if (rc == SQLITE_OK)
		r->savepoint = 1;
	return rc;
}

const char *storage_code(int rc)
{
	switch (rc) {
	case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_BUSY: case SQLITE_LOCKED:
	case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_PROTOCOL: case SQLITE_ABORT:
		return "unavailable";
	default:
		return "internal";
	}
}

/* How a request writes: not at all, inside a SAVEPOINT of the batch (a
 * failing request rolls back alone), or in the batch with no SAVEPOINT
 * unless the handler opens one (req_savepoint) because it runs more than
 * one write statement. A SAVEPOINT costs two statements and a copy of
 * every page the request writes (the sub-journal): about a sixth of a
 * node.update, whose usual form is a single UPDATE, which SQLite makes
 * atomic on its own (it undoes the statement, or the whole transaction). */
enum { W_NONE, W_SAVEPOINT, W_ONE };

struct handler {
	const char *type;
	int (*fn)(struct req *r);
	int writes;     /* W_NONE (0), W_SAVEPOINT (1), W_ONE */
	int admin;      /* admin only */
};


static const struct handler handlers[] = {
	{"node.create", do_node_create, 1, 0},
	{"node.update", do_node_update, W_ONE, 0},
	{"node.delete", do_node_delete, 1, 0},
	{"node.lock", do_node_lock, 1, 0},
	{"node.unlock", do_node_unlock, 1, 0},
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
	{"admin.restore", do_admin_restore, 0, 1},
	{"blob.put", do_blob_put, 1, 0},
	{"blob.end", do_blob_end, 1, 0},
	{"blob.get", do_blob_get, 0, 0},
	{"blob.has", do_blob_has, 0, 0},
	{"blob.chunks", do_blob_chunks, 0, 0},
	{"chunk.get", do_chunk_get, 0, 0},
	{"chunk.has", do_chunk_has, 0, 0},
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
	struct req r = {s, cl, cl->conn, type, msg, id, 0, 0};
	const struct handler *h = NULL;
	int64_t seq0 = s->seq;
	int rc;

	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, type) == 0) {
			h = &handlers[i];
			break;
		}
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
		reply_err(&r, "unavailable", NULL, "%s: the session is being reset, restored or "
			  "deleted; try again after reconnecting", type);
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
	if (rc == SQLITE_OK && h->writes == W_SAVEPOINT)
		rc = req_savepoint(&r);
	if (rc != SQLITE_OK) {
		reply_err(&r, storage_code(rc), NULL, "%s: storage unavailable: %s", type,
			  sqlite3_errstr(rc));
		return;
	}
	s->batch_requests++;
	size_t mark = s->npending;
	rc = h->fn(&r);
	if (rc == SQLITE_OK && r.savepoint)
		rc = store_release(s->store);
	if (rc != SQLITE_OK) {
		/* Without a SAVEPOINT the one failed statement undid itself. */
		if (r.savepoint)
			store_rollback_to(s->store);
		s->seq = seq0;
		if (!store_txn_alive(s->store))
			s->batch_failed = 1; /* the earlier requests are gone too */
		/* Drop what the failed request queued, then answer it. */
		while (s->npending > mark) {
			struct pending *p = &s->pending[--s->npending];
			frame_unref(p->frame);
			json_decref(p->re);
			free(p->text);
		}
		log_error("Request %s failed in storage (session=%s user=%s): %s", type, s->name,
			  cl->name, sqlite3_errstr(rc));
		reply_err(&r, storage_code(rc), NULL, "%s: storage error: %s", type,
			  sqlite3_errstr(rc));
	}
}

/* ------------------------------------------------------------------ */
/* Join and leave                                                      */

struct client *find_client(struct session *s, const char *name)
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
		struct frame *f = envelope_error(id, "name_taken", "hello: user is already "
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
		struct frame *f = envelope_error(id, storage_code(rc), "hello: storage unavailable",
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
	snprintf(c->user, sizeof(c->user), "%s", cl->name);
	pending_add(s, P_JOIN, c);
	if (store_user_get(s->store, cl->name, &u) == SQLITE_OK) {
		json_object_set_new(u, "online", json_true());
		/* Undone if the batch fails (undo_join): nobody may see a join
		 * that never happened. */
		emit_event(s, c, json_pack("{ss ss so}", "type", "user", "op", "join", "user", u),
			   0)->needs_commit = 1;
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
	blob_upload_free(cl);
	free(cl->name);
	free(cl->color);
	json_decref(cl->presence);
	json_decref(cl->hello_id);
	free(cl);
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
	if (!s->nclients)
		s->idle_since = util_now();
	blob_upload_abort(s, cl);
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
		p->wait = SAVE_NOBODY;
	}
	/* The pending list may still name the connection (its replies); it is
	 * freed only after the flush. */
	if (cl->conn)
		cl->conn->client = NULL;
	client_free(cl);
}

void session_drop_everyone(struct session *s, int code, const char *why)
{
	for (struct conn *c = s->srv->conns; c; c = c->next) {
		struct client *cl = c->client;
		if (c->session != s)
			continue;
		if (cl) {
			struct client **pp;
			for (pp = &s->clients; *pp; pp = &(*pp)->next) {
				if (*pp == cl) {
					*pp = cl->next;
					s->nclients--;
					break;
				}
			}
			c->client = NULL;
			client_free(cl);
		}
		conn_close(c, code, why);
	}
}

/* ------------------------------------------------------------------ */
/* Flush: commit the batch, then deliver                               */

static struct frame *welcome_frame(struct session *s, struct client *cl)
{
	json_t *o = json_pack("{ss ss ss ss ss sI sb ss s{ss ss ss sI}}", "type", "welcome",
			      "session", s->name, "user", cl->name,
			      "role", cl->admin ? "admin" : "user", "epoch", s->epoch,
			      "seq", (json_int_t)s->seq, "initialized", s->initialized,
			      "resume", cl->resume_delta ? "delta" : "full",
			      "server", "name", "sessiond", "version", SESSIOND_VERSION,
			      "protocol", SESSIOND_PROTOCOL,
			      "max_message_bytes", (json_int_t)s->srv->cfg->max_message_bytes);
	struct frame *f;
	if (cl->hello_id)
		json_object_set(o, "re", cl->hello_id);
	f = frame_from_json(o);
	json_decref(o);
	return f;
}

/* The snapshot of a join is released: the WAL may be emptied again. */
static void sync_ended(void *arg)
{
	struct session *s = arg;
	s->syncs_open--;
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
		f = envelope_error(cl->hello_id, "internal", "hello: cannot read the session",
				   NULL);
		conn_send(c, f);
		frame_unref(f);
		conn_close(c, 1011, "sync failed");
		return;
	}
	f = welcome_frame(s, cl);
	conn_send(c, f);
	frame_unref(f);
	conn_start_sync(c, cur, sync_ended, s);
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
	f = envelope_error(cl->hello_id, "unavailable", "hello: storage cannot commit", NULL);
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

void session_flush(struct session *s)
{
	struct metrics *m = &s->srv->metrics;
	int failed = 0;
	size_t i, n;

	blob_pass(s);
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
	/* Deliveries can add to the list (a kick's leave, a save finishing
	 * synchronously): what they add belongs to the next batch, so walk
	 * what this batch produced only, re-reading the array each time. */
	n = s->npending;
	for (i = 0; i < n; i++) {
		struct pending p = s->pending[i];
		switch (p.kind) {
		case P_REPLY:
			if (failed && p.needs_commit) {
				frame_unref(p.frame);
				p.frame = envelope_error(p.re, "unavailable",
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
		case P_BLOB:
			conn_start_blob(p.conn, p.re, p.text, s->db_path);
			break;
		case P_KICK:
			/* Only once the batch (and the admin's ok) has committed. */
			if (failed && p.conn->client)
				p.conn->client->kicked = 0;
			if (!failed && p.conn->client && !p.conn->closed) {
				if (!p.self)
					session_leave(s, p.conn->client, "kicked");
				else
					p.conn->leave_reason = "kicked";
				conn_close(p.conn, 4403, "kicked");
			}
			break;
		case P_SAVE:
			if (failed && p.wait != SAVE_NOBODY) {
				char msg[128];
				snprintf(msg, sizeof(msg), "%s: storage cannot commit",
					 p.wait == SAVE_RESET ? "admin.reset" :
					 p.wait == SAVE_RESTORE ? "admin.restore" : "admin.save");
				struct frame *f = envelope_error(p.re, "unavailable", msg, NULL);
				conn_send(p.conn, f);
				frame_unref(f);
				if (p.wait == SAVE_RESET || p.wait == SAVE_RESTORE)
					admin_cancel_busy(s);
			} else {
				/* A requester that has gone needs no answer. */
				int gone = p.wait == SAVE_NOBODY || p.conn->closed;
				if (gone && p.wait == SAVE_RESET)
					admin_cancel_busy(s); /* a plain save now */
				if (p.wait == SAVE_RESTORE)
					restore_request(s, gone ? NULL : p.conn, p.re, p.text,
							NULL, NULL);
				else
					save_request(s, p.text, gone ? NULL : p.conn, p.re,
						     gone ? SAVE_NOBODY : p.wait);
			}
			break;
		}
		frame_unref(p.frame);
		json_decref(p.re);
		free(p.text);
	}
	if (s->npending > n)
		memmove(s->pending, s->pending + n, (s->npending - n) * sizeof(*s->pending));
	s->npending -= n;
	blob_pass_done(s);
}

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
int session_release_orphan_locks(struct session *s)
{
	json_t *owners = NULL, *o;
	size_t i;
	int n = 0;
	int rc = store_lock_owners(s->store, &owners);
	json_array_foreach(owners, i, o) {
		if (find_client(s, json_string_value(o)))
			continue;
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

int session_open_db(struct session *s, int new_epoch, char *err, size_t errlen)
{
	char from[256];
	int marked;
	if (store_open(s->db_path, strcmp(s->srv->cfg->sync, "full") == 0, &s->store, err,
		       errlen) != SQLITE_OK)
		return -1;
	chmod(s->db_path, 0600);
	/* A database installed from a backup gets a new epoch (restore.c). */
	marked = restore_claim_mark(s->store, from, sizeof(from), err, errlen);
	if (marked < 0)
		return -1;
	if (new_epoch && !marked) {
		char epoch[33];
		util_random_hex(epoch, 16);
		if (store_meta_set_text(s->store, "epoch", epoch) != SQLITE_OK ||
		    store_meta_set_int(s->store, "history_floor", 0) != SQLITE_OK) {
			snprintf(err, errlen, "cannot set a new epoch");
			return -1;
		}
	}
	if (load_meta(s, err, errlen) != SQLITE_OK)
		return -1;
	if (marked) {
		restore_write_metadata(s->dir, s->store, from);
		log_warning("Session %s was installed from a backup%s%s: new epoch %s, clients "
			    "resync fully", s->name, *from ? " " : "", from, s->epoch);
	}
	return 0;
}

void session_close_db(struct session *s)
{
	store_close(s->store);
	s->store = NULL;
}

struct session *session_open(struct server *srv, const char *name, int new_epoch, char *err,
			     size_t errlen)
{
	struct session *s = xcalloc(1, sizeof(*s));
	size_t n = strlen(srv->cfg->data_dir) + strlen(name) + 32;
	int created = 0;
	s->srv = srv;
	s->idle_since = util_now();
	s->name = xstrdup(name);
	s->dir = xmalloc(n);
	snprintf(s->dir, n, "%s/%s", srv->cfg->data_dir, name);
	s->db_path = xmalloc(n);
	snprintf(s->db_path, n, "%s/session.db", s->dir);
	if (mkdir(s->dir, 0700) == 0) {
		created = 1;
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	if (session_open_db(s, new_epoch, err, errlen) != 0)
		goto fail;
	if (session_blobs_open(s) != SQLITE_OK) {
		snprintf(err, errlen, "cannot drop unfinished blob uploads");
		goto fail;
	}
	if (session_release_orphan_locks(s) != SQLITE_OK) {
		snprintf(err, errlen, "cannot release stale locks");
		goto fail;
	}
	return s;
fail:
	if (created) {
		/* A session that could not be created leaves nothing behind. */
		static const char *const files[] = {"session.db", "session.db-wal",
						    "session.db-shm", "session.db-journal"};
		char path[4400];
		store_close(s->store);
		s->store = NULL;
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
			unlink(path);
		}
		rmdir(s->dir);
	}
	session_free(s);
	return NULL;
}

void session_free(struct session *s)
{
	for (size_t i = 0; i < s->npending; i++) {
		frame_unref(s->pending[i].frame);
		json_decref(s->pending[i].re);
		free(s->pending[i].text);
	}
	while (s->clients) {
		struct client *cl = s->clients;
		s->clients = cl->next;
		client_free(cl);
	}
	save_waiters_free(s);
	store_close(s->store);
	free(s->gc);
	free(s->pending);
	free(s->failed_why);
	free(s->name);
	free(s->dir);
	free(s->db_path);
	free(s);
}
