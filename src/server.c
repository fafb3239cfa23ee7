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

struct session *server_session(struct server *srv, const char *name, int create, char *err,
			       size_t errlen)
{
	struct session *s = find_session(srv, name);
	if (s || !create)
		return s;
	s = session_open(srv, name, 0, err, errlen);
	if (!s)
		return NULL;
	add_session(srv, s);
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
		snprintf(dir, sizeof(dir), "%s/%s", srv->cfg->data_dir, e->d_name);
		srv->metrics.stale_temp_removed += (uint64_t)backup_clean_temps(dir);
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

void server_forget_session(struct server *srv, struct session *s)
{
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
	if (s)
		session_save_done(s, job);
	else
		backup_job_free(job);
}

void server_cron(struct server *srv, double now)
{
	long every = srv->cfg->save_interval;

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
		session_prepare_save(s);
		job = backup_job_new(s->name, s->dir, "shutdown", srv->cfg->max_backups);
		job->checkpoint_truncate = 1;
		backup_run(job);
		server_save_done(srv, job);
	}
}
