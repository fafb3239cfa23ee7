/* session_saves.c - when a session is saved, and who hears about it.
 *
 * A save (backup.c) runs on the saver thread; this file decides when to
 * start one and what to do when it ends. One save runs per session at a
 * time: requests that arrive meanwhile coalesce into one follow-up save,
 * named by its most important reason (metrics_save_kind orders them), and
 * their waiters are answered by that follow-up. Before a save starts,
 * presence is written and old tombstones are purged in a transaction of
 * their own (saves start right after a commit, never inside a batch).
 *
 * Checkpoints are jobs of the same saver, asked for when the WAL has grown
 * past SESSION_WAL_CHECKPOINT_FRAMES; they empty the WAL (wal_reset) only
 * when no join holds a snapshot. Sizes on disk and admin.stats are here
 * too: they describe the session's files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "config.h"
#include "conn.h"
#include "envelope.h"
#include "frame.h"
#include "log.h"
#include "saver.h"
#include "server_state.h"
#include "session_int.h"
#include "store.h"
#include "util.h"

struct save_waiter {
	struct save_waiter *next;
	struct conn *conn;          /* a WebSocket admin.save / admin.reset */
	json_t *id;
	enum save_wait wait;
	session_save_cb done;       /* or a callback (the admin HTTP API) */
	void *done_arg;
	char *backup;               /* SAVE_RESTORE: the backup to swap in */
	session_restore_cb rdone;   /* SAVE_RESTORE from the HTTP API */
};

static struct frame *save_reply(const struct backup_job *job, json_t *id)
{
	char msg[600];
	json_t *fields;
	struct frame *f;
	if (!job->ok) {
		snprintf(msg, sizeof(msg), "admin.save: save failed: %s", job->error);
		return envelope_error(id, "unavailable", msg, NULL);
	}
	fields = json_pack("{ss sI sI}", "backup", job->backup, "bytes", (json_int_t)job->bytes,
			   "ms", (json_int_t)job->ms);
	f = envelope_ok(id, fields);
	json_decref(fields);
	return f;
}

void session_prepare_save(struct session *s)
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
	if (s->deleted)
		return; /* its files are in .deleted/ now */
	session_prepare_save(s);
	if (!s->resetting)
		blob_gc(s);
	job = backup_job_new(s->name, s->dir, reason, s->srv->cfg->max_backups);
	job->keep_hourly = s->srv->cfg->backup_keep_hourly;
	job->keep_daily = s->srv->cfg->backup_keep_daily;
	s->save_running = 1;
	s->running_seq = s->seq;
	if (s->srv->saver) {
		saver_submit(s->srv->saver, job);
	} else {
		backup_run(job);
		session_save_done(s, job);
	}
}

static void add_waiter(struct session *s, struct save_waiter *w)
{
	struct save_waiter **list = s->save_running ? &s->next_waiters : &s->waiters;
	while (*list)
		list = &(*list)->next;
	*list = w;
}

void session_save(struct session *s, const char *reason)
{
	int64_t covered = s->save_running ? s->running_seq : s->saved_seq;
	if (metrics_save_kind(reason) == SK_DISCONNECT && s->seq == covered) {
		/* People coming and going must not push good backups out of
		 * rotation: only a change that took a seq counts. */
		log_debug("Save skipped (session=%s reason=%s): nothing changed since the last "
			  "save", s->name, reason);
		s->srv->metrics.saves_skipped++;
		return;
	}
	if (s->save_running) {
		/* Coalesce: one follow-up save, named by its most important
		 * request. */
		if (!s->save_again || metrics_save_kind(reason) >=
				      metrics_save_kind(s->save_again_reason))
			snprintf(s->save_again_reason, sizeof(s->save_again_reason), "%s", reason);
		s->save_again = 1;
		return;
	}
	start_save(s, reason);
}

void save_request(struct session *s, const char *reason, struct conn *waiter, json_t *id,
		  enum save_wait wait)
{
	if (waiter && wait != SAVE_NOBODY) {
		struct save_waiter *w = xcalloc(1, sizeof(*w));
		w->conn = waiter;
		w->id = id ? json_incref(id) : NULL;
		w->wait = wait;
		if (wait == SAVE_RESET)
			s->resetting = 1;
		add_waiter(s, w);
		conn_hold(waiter);
	}
	session_save(s, reason);
}

void restore_request(struct session *s, struct conn *waiter, json_t *id, const char *backup,
		     session_restore_cb done, void *arg)
{
	struct save_waiter *w = xcalloc(1, sizeof(*w));
	w->conn = waiter;
	w->id = id ? json_incref(id) : NULL;
	w->wait = SAVE_RESTORE;
	w->backup = xstrdup(backup);
	w->rdone = done;
	w->done_arg = arg;
	s->resetting = 1;
	add_waiter(s, w);
	if (waiter)
		conn_hold(waiter);
	session_save(s, "restore");
}

void delete_request(struct session *s, session_restore_cb done, void *arg)
{
	struct save_waiter *w = xcalloc(1, sizeof(*w));
	w->wait = SAVE_DELETE;
	w->rdone = done;
	w->done_arg = arg;
	s->resetting = 1;
	add_waiter(s, w);
	session_save(s, "delete");
}

void session_save_notify(struct session *s, session_save_cb done, void *arg)
{
	struct save_waiter *w = xcalloc(1, sizeof(*w));
	w->done = done;
	w->done_arg = arg;
	add_waiter(s, w);
	session_save(s, "admin");
}

void session_conn_gone(struct session *s, struct conn *c)
{
	struct save_waiter *lists[2] = {s->waiters, s->next_waiters};
	for (int i = 0; i < 2; i++)
		for (struct save_waiter *w = lists[i]; w; w = w->next)
			if (w->conn == c)
				w->conn = NULL;
}

void session_cancel_waiters(struct session *s, const char *why)
{
	struct backup_job failed = {0};
	char msg[256];
	failed.session = s->name;
	failed.reason = (char *)"admin";
	snprintf(failed.error, sizeof(failed.error), "%s", why);
	for (int i = 0; i < 2; i++) {
		struct save_waiter *w = i ? s->next_waiters : s->waiters;
		for (; w; w = w->next) {
			snprintf(msg, sizeof(msg), "%s: %s; nothing was done",
				 w->wait == SAVE_RESET ? "admin.reset" :
				 w->wait == SAVE_RESTORE ? "admin.restore" :
				 w->wait == SAVE_DELETE ? "delete" : "admin.save", why);
			if (w->conn) {
				conn_release_hold(w->conn, envelope_error(w->id, "unavailable", msg,
									  NULL));
				w->conn = NULL;
			}
			if (w->rdone)
				w->rdone(w->done_arg, 503, json_pack("{ss ss}", "error", msg, "code",
								     "unavailable"));
			w->rdone = NULL;
			if (w->wait == SAVE_RESTORE) {
				char pin[4400];
				snprintf(pin, sizeof(pin), "%s/.restore-pin", s->dir);
				unlink(pin);
			}
			if (w->done)
				w->done(w->done_arg, &failed);
			w->done = NULL;
		}
	}
	save_waiters_free(s);
	s->resetting = 0;
	s->save_again = 0;
}

void save_waiters_free(struct session *s)
{
	for (int i = 0; i < 2; i++) {
		struct save_waiter *w = i ? s->next_waiters : s->waiters;
		while (w) {
			struct save_waiter *n = w->next;
			json_decref(w->id);
			free(w->backup);
			free(w);
			w = n;
		}
	}
	s->waiters = s->next_waiters = NULL;
}

static void checkpoint_done(struct session *s, const struct backup_job *job)
{
	if (!job->ok)
		log_warning("Checkpoint failed (session=%s): %s", job->session, job->error);
	else
		log_debug("Checkpoint done (session=%s ms=%lld)", job->session, (long long)job->ms);
	s->checkpoint_running = 0;
	if (job->ok)
		store_wal_checkpointed(s->store);
}

int session_save_done(struct session *s, struct backup_job *job)
{
	struct save_waiter *w;
	int gone = 0;

	if (job->checkpoint_only) {
		checkpoint_done(s, job);
		backup_job_free(job);
		return 0;
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
		if (w->wait == SAVE_RESET)
			admin_finish_reset(s, w->conn, w->id, job);
		else if (w->wait == SAVE_RESTORE)
			admin_finish_restore(s, w->conn, w->id, job, w->backup, w->rdone,
					     w->done_arg);
		else if (w->wait == SAVE_DELETE)
			gone |= admin_finish_delete(s, job, w->rdone, w->done_arg);
		else if (w->conn)
			conn_release_hold(w->conn, save_reply(job, w->id));
		if (w->done)
			w->done(w->done_arg, job);
		json_decref(w->id);
		free(w->backup);
		free(w);
	}
	s->waiters = s->next_waiters;
	s->next_waiters = NULL;
	backup_job_free(job);
	if (s->save_again && !s->srv->shutting_down) {
		s->save_again = 0;
		start_save(s, s->save_again_reason);
	}
	return gone;
}

void session_checkpoint_if_needed(struct session *s)
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

int session_dirty(const struct session *s)
{
	int dirty = s->seq != s->saved_seq;
	for (struct client *cl = s->clients; cl; cl = cl->next)
		dirty |= cl->presence_dirty;
	return dirty;
}

void session_sizes(const struct session *s, struct session_sizes *out)
{
	char path[4400], **names = NULL;
	out->db_bytes = util_file_size(s->db_path);
	snprintf(path, sizeof(path), "%s-wal", s->db_path);
	out->wal_bytes = util_file_size(path);
	snprintf(path, sizeof(path), "%s/backups", s->dir);
	out->backups = backup_list(path, &names);
	backup_list_free(names, out->backups);
	store_blob_totals(s->store, &out->blobs, &out->blob_bytes);
}

json_t *session_stats_json(struct session *s)
{
	struct store_counts c = {0};
	struct session_sizes z;
	json_t *o, *last = json_null();

	store_counts(s->store, &c);
	session_sizes(s, &z);
	o = json_pack("{ss sI sI sI sI sI sI ss sb sI sI sI}", "session", s->name,
		      "users_online", (json_int_t)s->nclients, "users", (json_int_t)c.users,
		      "nodes", (json_int_t)c.nodes, "tasks", (json_int_t)c.tasks,
		      "chat", (json_int_t)c.chat, "seq", (json_int_t)s->seq, "epoch", s->epoch,
		      "initialized", s->initialized, "db_bytes", (json_int_t)z.db_bytes,
		      "wal_bytes", (json_int_t)z.wal_bytes, "backups", (json_int_t)z.backups);
	if (s->last_save_time > 0)
		last = json_pack("{sf ss sI ss sI}", "time", s->last_save_time,
				 "reason", s->last_save_reason, "ms", (json_int_t)s->last_save_ms,
				 "backup", s->last_backup, "bytes", (json_int_t)s->last_backup_bytes);
	json_object_set_new(o, "blob_count", json_integer(z.blobs));
	json_object_set_new(o, "blob_bytes", json_integer(z.blob_bytes));
	json_object_set_new(o, "last_save", last);
	json_object_set_new(o, "save_running", json_boolean(s->save_running));
	json_object_set_new(o, "loaded", json_true());
	return o;
}
