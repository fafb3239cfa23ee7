/* session_admin.c - the admin.* requests (protocol section 8): admin.save,
 * admin.backups, admin.stats, admin.kick, admin.reset and admin.restore.
 *
 * admin.save and admin.reset do not run inside the batch: they queue a
 * P_SAVE that starts after the batch commits, so the backup covers every
 * change acknowledged before the request; the admin's reply is a hold in
 * its connection's queue (conn_hold) that keeps its later replies in
 * order until the save ends. A reset empties the session only once its
 * backup has been written (admin_finish_reset); while it waits, writes are
 * refused (s->resetting) because they would be in no backup. admin.restore
 * (and POST /api/sessions/NAME/restore) works the same way: the chosen
 * backup is pinned, a save (reason restore) runs, then admin_finish_restore
 * verifies the backup, swaps it in (restore.c) and reopens the database,
 * which gives it a new epoch; everyone is closed as after a reset. Every
 * admin action is logged with the admin's name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "conn.h"
#include "envelope.h"
#include "frame.h"
#include "log.h"
#include "restore.h"
#include "retention.h"
#include "config.h"
#include "server_state.h"
#include "session_int.h"
#include "store.h"
#include "util.h"
#include "validate.h"

/* Queues the save that admin.save and admin.reset wait for. */
static int queue_save(struct req *r, const char *reason, enum save_wait wait)
{
	struct pending *p = pending_add(r->s, P_SAVE, r->conn);
	p->text = xstrdup(reason);
	p->re = r->id ? json_incref(r->id) : NULL;
	p->wait = wait;
	r->answered = 1;
	return SQLITE_OK;
}

int do_admin_save(struct req *r)
{
	log_info("Admin %s requested a save (session=%s)", r->cl->name, r->s->name);
	return queue_save(r, "admin", SAVE_REPLY);
}

int do_admin_reset(struct req *r)
{
	log_info("Admin %s requested a reset (session=%s); saving a backup first", r->cl->name,
		 r->s->name);
	return queue_save(r, "reset", SAVE_RESET);
}

json_t *session_backups_json(struct session *s)
{
	char bdir[4200];
	json_t *list;
	snprintf(bdir, sizeof(bdir), "%s/backups", s->dir);
	list = backup_list_json(bdir);
	retention_annotate(list, s->srv->cfg->max_backups, s->srv->cfg->backup_keep_hourly,
			   s->srv->cfg->backup_keep_daily);
	return list;
}

int do_admin_backups(struct req *r)
{
	char bdir[4200];
	log_info("Admin %s listed the backups (session=%s)", r->cl->name, r->s->name);
	snprintf(bdir, sizeof(bdir), "%s/backups", r->s->dir);
	reply_ok(r, json_pack("{so}", "backups", session_backups_json(r->s)));
	return SQLITE_OK;
}

int do_admin_stats(struct req *r)
{
	log_info("Admin %s read the stats (session=%s)", r->cl->name, r->s->name);
	reply_ok(r, session_stats_json(r->s));
	return SQLITE_OK;
}

int do_admin_kick(struct req *r)
{
	const char *user;
	char msg[VALIDATE_MSG];
	struct client *cl;
	struct pending *p;

	if (validate_admin_user("admin.kick", r->msg, &user, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	cl = find_client(r->s, user);
	if (!cl) {
		reply_err(r, "not_found", NULL, "admin.kick: %s is not online in this session", user);
		return SQLITE_OK;
	}
	log_info("Admin %s kicked %s (session=%s)", r->cl->name, user, r->s->name);
	reply_ok(r, json_pack("{ss}", "user", user));
	/* The kick happens at the flush, once the batch has committed: a
	 * failed commit answers the admin `unavailable` and kicks nobody. */
	p = pending_add(r->s, P_KICK, cl->conn);
	p->self = cl == r->cl;
	return SQLITE_OK;
}

/* Sends f to every member and closes them (4205): after a reset or a
 * restore they come back with their old epoch and get a full sync. */
static void close_everyone(struct session *s, struct frame *f, const char *why)
{
	while (s->clients) {
		struct client *cl = s->clients;
		struct conn *c = cl->conn;
		conn_send(c, f);
		session_leave(s, cl, "reset");
		conn_close(c, 4205, why);
	}
	frame_unref(f);
}

int do_admin_restore(struct req *r)
{
	json_t *b = json_object_get(r->msg, "backup");
	char pin[4400], err[512];
	struct pending *p;

	if (!json_is_string(b)) {
		reply_err(r, "bad_request", NULL, "admin.restore: backup must be the file name of "
			  "one of the session's backups (see admin.backups)");
		return SQLITE_OK;
	}
	if (r->s->resetting) {
		reply_err(r, "conflict", NULL, "admin.restore: a reset or restore is running");
		return SQLITE_OK;
	}
	if (restore_pin(r->s->dir, json_string_value(b), pin, sizeof(pin), err, sizeof(err))) {
		reply_err(r, "not_found", NULL, "admin.restore: %s", err);
		return SQLITE_OK;
	}
	log_info("Admin %s requested a restore of %s (session=%s); saving first", r->cl->name,
		 json_string_value(b), r->s->name);
	p = pending_add(r->s, P_SAVE, r->conn);
	p->text = xstrdup(json_string_value(b));
	p->re = r->id ? json_incref(r->id) : NULL;
	p->wait = SAVE_RESTORE;
	r->answered = 1;
	return SQLITE_OK;
}

unsigned session_restore_notify(struct session *s, const char *backup, session_restore_cb done,
				void *arg, char *err, size_t errlen)
{
	char pin[4400];
	if (s->resetting) {
		snprintf(err, errlen, "a reset or restore is running");
		return 409;
	}
	if (restore_pin(s->dir, backup, pin, sizeof(pin), err, errlen))
		return 404;
	log_info("Admin API requested a restore of %s (session=%s); saving first", backup,
		 s->name);
	session_flush(s); /* the save must cover every change acknowledged so far */
	restore_request(s, NULL, NULL, backup, done, arg);
	return 0;
}

void admin_finish_restore(struct session *s, struct conn *admin, json_t *id,
			  const struct backup_job *job, const char *backup,
			  session_restore_cb done, void *arg)
{
	char pin[4400], aside[4400] = "", err[1024], e[512];
	const char *code = "unavailable";
	unsigned status = 503;
	json_t *o;

	snprintf(pin, sizeof(pin), "%s/.restore-pin", s->dir);
	s->resetting = 0;
	if (!job->ok) {
		snprintf(err, sizeof(err), "the save before the restore failed: %s; nothing was "
			 "restored", job->error);
		goto fail;
	}
	if (restore_verify(pin, e, sizeof(e)) != 0) {
		snprintf(err, sizeof(err), "backup %s %s; nothing was restored", backup, e);
		code = "bad_request";
		status = 422;
		goto fail;
	}
	/* A batch opened in this loop pass (a join: writes are refused) is
	 * committed and delivered before the database is closed. */
	if (store_in_transaction(s->store))
		session_flush(s);
	session_close_db(s);
	if (restore_install(s->dir, pin, backup, aside, sizeof(aside), e, sizeof(e)) != 0) {
		snprintf(err, sizeof(err), "%s; nothing was restored", e);
		if (session_open_db(s, 0, e, sizeof(e)) != 0) {
			log_error("SESSION %s CANNOT BE REOPENED after a failed restore: %s", s->name, e);
			abort(); /* no database: restart and let start-up recovery act */
		}
		goto fail;
	}
	if (session_open_db(s, 1, e, sizeof(e)) != 0) {
		log_error("SESSION %s: the restored backup %s cannot be opened (%s); the previous "
			  "database is kept as %s", s->name, backup, e, aside);
		abort();
	}
	unlink(pin);
	s->saved_seq = s->seq;
	s->srv->metrics.committed_changes++;
	log_warning("Session restored online (session=%s backup=%s saved_before=%s new epoch=%s; "
		    "previous database kept as %s)", s->name, backup, job->backup, s->epoch, aside);
	o = json_pack("{ss ss ss sI}", "backup", backup, "saved", job->backup, "epoch", s->epoch,
		      "seq", (json_int_t)s->seq);
	if (admin)
		conn_release_hold(admin, envelope_ok(id, o));
	if (done) {
		json_object_set_new(o, "session", json_string(s->name));
		done(arg, 200, json_incref(o));
	}
	json_decref(o);
	o = json_pack("{ss sb ss ss sI}", "type", "session", "reset", 1, "restored", backup,
		      "epoch", s->epoch, "seq", (json_int_t)s->seq);
	close_everyone(s, frame_from_json(o), "restore");
	json_decref(o);
	return;
fail:
	unlink(pin);
	log_error("Restore failed (session=%s backup=%s): %s", s->name, backup, err);
	if (admin) {
		char msg[1100];
		snprintf(msg, sizeof(msg), "admin.restore: %s", err);
		conn_release_hold(admin, envelope_error(id, code, msg, NULL));
	}
	if (done)
		done(arg, status, json_pack("{ss ss}", "error", err, "code", code));
}

unsigned session_delete_notify(struct session *s, session_restore_cb done, void *arg,
			       char *err, size_t errlen)
{
	if (s->resetting) {
		snprintf(err, errlen, "a reset or restore is running");
		return 409;
	}
	log_warning("Admin API requested the deletion of session %s; saving a final backup",
		    s->name);
	session_flush(s); /* the final save covers every change acknowledged */
	delete_request(s, done, arg);
	return 0;
}

int admin_finish_delete(struct session *s, const struct backup_job *job,
			session_restore_cb done, void *arg)
{
	char trash[4200], dest[4500], stamp[16], e[512];
	struct stat st;
	struct frame *f;
	json_t *o;

	s->resetting = 0;
	if (!job->ok) {
		log_error("Delete of session %s refused: its final save failed: %s", s->name,
			  job->error);
		done(arg, 503, json_pack("{ss ss}", "error", "the final save failed; nothing was "
					 "deleted", "code", "unavailable"));
		return 0;
	}
	s->deleted = 1; /* no save may start on files about to move */
	session_flush(s);
	o = json_pack("{ss sb}", "type", "session", "deleted", 1);
	f = frame_from_json(o);
	json_decref(o);
	for (struct conn *c = s->srv->conns; c; c = c->next) {
		if (c->session != s)
			continue;
		if (c->client) {
			conn_send(c, f);
			session_leave(s, c->client, "reset");
		}
		conn_close(c, 4205, "deleted");
	}
	frame_unref(f);
	session_flush(s); /* the leaves: locks released, presence written */
	session_close_db(s);
	snprintf(trash, sizeof(trash), "%s/.deleted", s->srv->cfg->data_dir);
	util_stamp(time(NULL), stamp);
	snprintf(dest, sizeof(dest), "%s/%s-%s", trash, s->name, stamp);
	for (int i = 1; stat(dest, &st) == 0; i++)
		snprintf(dest, sizeof(dest), "%s/%s-%s_%d", trash, s->name, stamp, i);
	if ((mkdir(trash, 0700) != 0 && errno != EEXIST) || rename(s->dir, dest) != 0) {
		snprintf(e, sizeof(e), "cannot move %s to %s: %s; the session stays", s->dir, dest,
			 strerror(errno));
		log_error("Delete of session %s failed: %s", s->name, e);
		s->deleted = 0;
		if (session_open_db(s, 0, e, sizeof(e)) != 0) {
			log_error("SESSION %s CANNOT BE REOPENED: %s", s->name, e);
			abort();
		}
		done(arg, 500, json_pack("{ss ss}", "error", e, "code", "internal"));
		return 0;
	}
	util_fsync_dir(trash);
	util_fsync_dir(s->srv->cfg->data_dir);
	log_warning("Session deleted (session=%s final backup=%s; everything kept in %s)", s->name,
		    job->backup, dest);
	done(arg, 200, json_pack("{ss ss ss}", "session", s->name, "backup", job->backup,
				 "moved_to", dest + strlen(s->srv->cfg->data_dir) + 1));
	return SESSION_GONE;
}

/* admin.reset, once its backup is written: empty the content, new epoch,
 * tell everyone and close them (4205) so they come back to a full sync. */
void admin_finish_reset(struct session *s, struct conn *admin, json_t *id,
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
			conn_release_hold(admin, envelope_error(id, "unavailable", msg, NULL));
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
			conn_release_hold(admin, envelope_error(id, "unavailable",
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
	close_everyone(s, f, "reset");
}
