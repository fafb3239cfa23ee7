/* server.c - the server's lifecycle: the table of sessions, start-up
 * (open and recover every session under DATA_DIR), the once-a-second cron,
 * the flush at the end of every loop pass, save results coming back from
 * the saver thread, and shutdown.
 *
 * Like Redis' serverCron, periodic work is one function with per-task
 * periods; it takes the time as an argument so tests can drive it. The
 * network layer (net.c) calls server_flush() before the loop sleeps and
 * server_cron() once a second; everything else happens in the session
 * domain (session*.c), which this file only calls down into. */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "store.h"
#include "util.h"
#include "validate.h"

static struct session *find_session(struct server *srv, const char *name)
{
	for (struct session *s = srv->sessions; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static void add_session(struct server *srv, struct session *s)
{
	s->next = srv->sessions;
	srv->sessions = s;
	srv->nsessions++;
}

static int is_session_dir(const char *data_dir, const char *name);

int server_session_exists(const struct server *srv, const char *name)
{
	return is_session_dir(srv->cfg->data_dir, name);
}

static int failed_at_start(const struct server *srv, const char *name)
{
	for (size_t i = 0; i < srv->nfailed; i++)
		if (strcmp(srv->failed[i], name) == 0)
			return 1;
	return 0;
}

struct session *server_session_open(struct server *srv, const char *name, int create,
				    const char **code, char *err, size_t errlen)
{
	struct session *s = find_session(srv, name);
	const char *dummy;
	int exists;

	code = code ? code : &dummy;
	*code = "unavailable";
	if (s)
		return s;
	if (failed_at_start(srv, name)) {
		snprintf(err, errlen, "session %s could not be opened at start (see the log)",
			 name);
		return NULL;
	}
	exists = server_session_exists(srv, name);
	if (!exists && !create) {
		*code = "not_found";
		snprintf(err, errlen, "no session named %s", name);
		return NULL;
	}
	if (!exists && srv->sessions_on_disk >= (size_t)srv->cfg->max_sessions) {
		*code = "limit";
		snprintf(err, errlen, "the server holds MAX_SESSIONS=%ld sessions already",
			 srv->cfg->max_sessions);
		return NULL;
	}
	s = session_open(srv, name, 0, err, errlen);
	if (!s)
		return NULL;
	add_session(srv, s);
	session_flush(s); /* commits the release of stale locks */
	if (exists) {
		log_info("Session opened again (session=%s)", name);
	} else {
		srv->sessions_on_disk++;
		log_info("Session created (session=%s)", name);
	}
	return s;
}

json_t *server_sessions_json(struct server *srv)
{
	json_t *list = json_array();
	DIR *d = opendir(srv->cfg->data_dir);
	struct dirent *e;
	for (struct session *s = srv->sessions; s; s = s->next)
		json_array_append_new(list, session_stats_json(s));
	while (d && (e = readdir(d))) {
		char path[4400];
		if (find_session(srv, e->d_name) || !is_session_dir(srv->cfg->data_dir, e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s/session.db", srv->cfg->data_dir, e->d_name);
		json_array_append_new(list, json_pack("{ss sb sb sI}", "session", e->d_name,
						      "loaded", 0, "failed",
						      failed_at_start(srv, e->d_name),
						      "db_bytes", (json_int_t)util_file_size(path)));
	}
	if (d)
		closedir(d);
	return list;
}

struct session *server_session(struct server *srv, const char *name, int create, char *err,
			       size_t errlen)
{
	return server_session_open(srv, name, create, NULL, err, errlen);
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

/* 1 when DATA_DIR/name looks like a session directory. */
static int is_session_dir(const char *data_dir, const char *name)
{
	char path[4400];
	struct stat st;
	if (!validate_session_name(name))
		return 0;
	snprintf(path, sizeof(path), "%s/%s/session.db", data_dir, name);
	if (stat(path, &st) == 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%s/backups", data_dir, name);
	return stat(path, &st) == 0;
}

/* One bad session never stops the others from being served: it is logged
 * loudly, left untouched on disk, refused to clients (unavailable) and
 * reported by /healthz as degraded. */
static void mark_failed(struct server *srv, const char *name, const char *err)
{
	log_error("SESSION %s CANNOT BE OPENED: %s. It is left untouched and not served; the "
		  "other sessions are. Fix it (sessionctl verify) and restart.", name, err);
	srv->failed = xrealloc(srv->failed, (srv->nfailed + 1) * sizeof(*srv->failed));
	srv->failed[srv->nfailed++] = xstrdup(name);
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
		struct session *s;
		int r;

		if (!is_session_dir(srv->cfg->data_dir, e->d_name))
			continue;
		srv->sessions_on_disk++;
		snprintf(dir, sizeof(dir), "%s/%s", srv->cfg->data_dir, e->d_name);
		srv->metrics.stale_temp_removed += (uint64_t)backup_clean_temps(dir);
		r = backup_recover(dir, used, sizeof(used), err, sizeof(err));
		if (r < 0) {
			mark_failed(srv, e->d_name, err);
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
			mark_failed(srv, e->d_name, err);
			continue;
		}
		add_session(srv, s);
		session_flush(s); /* commits the release of stale locks */
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

/* Takes a deleted session out of the table (see struct server). */
static void forget_session(struct server *srv, struct session *s)
{
	if (srv->sessions_on_disk)
		srv->sessions_on_disk--; /* its directory is in .deleted/ now */
	for (struct session **pp = &srv->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			srv->nsessions--;
			break;
		}
	}
	s->next = srv->deleted;
	srv->deleted = s;
}

void server_free(struct server *srv)
{
	struct session *s;
	while ((s = srv->sessions)) {
		srv->sessions = s->next;
		session_free(s);
	}
	while ((s = srv->deleted)) {
		srv->deleted = s->next;
		session_free(s);
	}
	srv->nsessions = 0;
	for (size_t i = 0; i < srv->nfailed; i++)
		free(srv->failed[i]);
	free(srv->failed);
	srv->failed = NULL;
	srv->nfailed = srv->sessions_on_disk = 0;
}

void server_flush(struct server *srv)
{
	int syncs = 0;
	for (struct session *s = srv->sessions; s; s = s->next) {
		/* A flush can queue more (a kick's leave): flush that too, so
		 * nothing waits for the next event of the loop. */
		for (int k = 0; k < 4 && (s->npending || store_in_transaction(s->store) ||
					  s->batch_failed); k++)
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

void server_save_done(struct server *srv, struct backup_job *job)
{
	struct session *s = find_session(srv, job->session);
	struct metrics *m = &srv->metrics;
	enum save_kind kind = metrics_save_kind(job->reason);

	m->stale_temp_removed += (uint64_t)job->stale_removed;

	if (!job->checkpoint_only && job->ok) {
		log_info("Session saved (session=%s reason=%s backup=%s bytes=%lld ms=%lld)",
			 job->session, job->reason, job->backup, (long long)job->bytes,
			 (long long)job->ms);
		m->saves_ok[kind]++;
		histogram_observe(&m->save_duration, (double)job->ms / 1000.0);
		m->last_save_time = job->finished_at;
	} else if (!job->checkpoint_only) {
		log_error("Save failed (session=%s reason=%s): %s; the live session is intact "
			  "and the next save will try again", job->session, job->reason, job->error);
		m->saves_failed[kind]++;
		m->backup_failures++;
	}
	if (!s)
		backup_job_free(job);
	else if (session_save_done(s, job) == SESSION_GONE)
		forget_session(srv, s);
}

/* 1 when nothing refers to s any more: no member, no connection that
 * was one, nothing pending, no save, checkpoint or sync running. */
static int session_unused(struct server *srv, struct session *s)
{
	if (s->nclients || s->npending || s->save_running || s->checkpoint_running ||
	    s->syncs_open || s->waiters || s->next_waiters || store_in_transaction(s->store))
		return 0;
	for (struct conn *c = srv->conns; c; c = c->next)
		if (c->session == s)
			return 0;
	return 1;
}

/* SESSION_IDLE_CLOSE: a session nobody used for that long gets a save if
 * it changed, then its database is closed; its files stay and the next
 * hello opens it again. */
static void close_idle_sessions(struct server *srv, double now)
{
	long after = srv->cfg->session_idle_close;
	struct session **pp = &srv->sessions;
	if (after <= 0 || srv->shutting_down)
		return;
	while (*pp) {
		struct session *s = *pp;
		if (!session_unused(srv, s) || now - s->idle_since < (double)after) {
			pp = &s->next;
			continue;
		}
		if (session_dirty(s)) {
			session_save(s, "auto-save"); /* closed at a later tick */
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		srv->nsessions--;
		log_info("Session closed after %ld s without a connection (session=%s); the next "
			 "hello opens it again", after, s->name);
		session_free(s);
	}
}

void server_cron(struct server *srv, double now)
{
	long every = srv->cfg->save_interval;

	close_idle_sessions(srv, now);

	for (struct session *s = srv->sessions; s; s = s->next) {
		session_checkpoint_if_needed(s);
		if (s->orphan_locks && !s->resetting) {
			s->orphan_locks = 0;
			if (session_release_orphan_locks(s) != SQLITE_OK)
				s->orphan_locks = 1; /* storage still failing: next second */
		}
	}

	if (!srv->last_auto_save)
		srv->last_auto_save = now;
	if (every <= 0 || now - srv->last_auto_save < (double)every || srv->shutting_down)
		return;
	srv->last_auto_save = now;
	for (struct session *s = srv->sessions; s; s = s->next) {
		if (session_dirty(s))
			session_save(s, "auto-save");
		else
			log_debug("Auto-save skipped (session=%s): nothing changed since the last "
				  "save", s->name);
	}
}

void server_begin_shutdown(struct server *srv)
{
	srv->shutting_down = 1;
	/* Requests read before the signal are answered first; an admin.save
	 * or admin.reset still waiting is then refused, not carried out by
	 * the shutdown save with nobody to answer. */
	server_flush(srv);
	for (struct session *s = srv->sessions; s; s = s->next)
		session_cancel_waiters(s, "the server is shutting down");
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
		/* An unchanged session needs no new backup (a thousand idle
		 * sessions would otherwise each get one per restart, pushing
		 * real history out); its WAL is still emptied. */
		job = backup_job_new(s->name, s->dir, "shutdown", srv->cfg->max_backups);
		job->keep_hourly = srv->cfg->backup_keep_hourly;
		job->keep_daily = srv->cfg->backup_keep_daily;
		job->checkpoint_truncate = 1;
		if (session_dirty(s))
			session_prepare_save(s);
		else
			job->checkpoint_only = 1;
		backup_run(job);
		server_save_done(srv, job);
	}
}
