/* session_admin.c - the admin.* requests (protocol section 8): admin.save,
 * admin.backups, admin.stats, admin.kick and admin.reset.
 *
 * admin.save and admin.reset do not run inside the batch: they queue a
 * P_SAVE that starts after the batch commits, so the backup covers every
 * change acknowledged before the request; the admin's reply is a hold in
 * its connection's queue (conn_hold) that keeps its later replies in
 * order until the save ends. A reset empties the session only once its
 * backup has been written (admin_finish_reset); while it waits, writes are
 * refused (s->resetting) because they would be in no backup. Every admin
 * action is logged with the admin's name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "conn.h"
#include "envelope.h"
#include "frame.h"
#include "log.h"
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

int do_admin_backups(struct req *r)
{
	char bdir[4200];
	log_info("Admin %s listed the backups (session=%s)", r->cl->name, r->s->name);
	snprintf(bdir, sizeof(bdir), "%s/backups", r->s->dir);
	reply_ok(r, json_pack("{so}", "backups", backup_list_json(bdir)));
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
	while (s->clients) {
		struct client *cl = s->clients;
		struct conn *c = cl->conn;
		conn_send(c, f);
		session_leave(s, cl, "reset");
		conn_close(c, 4205, "reset");
	}
	frame_unref(f);
}
