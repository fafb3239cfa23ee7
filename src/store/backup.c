/* backup.c - saves and recovery.
 *
 * A save never writes over good data (Mosquitto's persist_write rule):
 *   1. checkpoint (see below) - folds the WAL into the database;
 *   2. VACUUM INTO backups/.tmp-NAME - a compact, consistent copy of one
 *      snapshot, read on this thread's own connection while writes go on;
 *   3. PRAGMA quick_check on the copy; a copy that fails is deleted and the
 *      save fails - it never rotates a good backup out;
 *   4. fsync, rename to snapshot_YYYYMMDD_HHMMSS[_N].db, fsync the directory;
 *   5. rotation to the newest MAX_BACKUPS;
 *   6. session_metadata.json rewritten atomically, from the copy itself (so
 *      its counts and seq describe exactly the snapshot that was kept).
 * Checkpoints: a save's is PASSIVE, which copies the WAL into the database
 * without ever blocking the network thread's writes. Under constant writes
 * a PASSIVE checkpoint never lets the WAL restart, so it would grow without
 * bound (and so would the time to open the session after a crash); the
 * checkpoint jobs that server_cron asks for when the WAL grows therefore
 * follow it, when no sync holds a snapshot, with RESTART under a 5 ms busy
 * timeout: it takes the writer lock just long enough to copy the few frames
 * written meanwhile, so the next commit starts the WAL from the beginning.
 * PASSIVE runs again (up to CHECKPOINT_PASSIVE_ROUNDS rounds) until a round
 * has copied at most CHECKPOINT_RESTART_MAX_FRAMES and left no more than
 * that: the RESTART then has little to copy, and the disk has already
 * flushed the large copy in the syncs of those rounds (the RESTART's own
 * syncs run under the writer lock). A backlog that stays larger (writes
 * faster than the copy) skips the RESTART until the next job. Before this,
 * after a 100 MB import or a 256 MiB blob the RESTART copied everything the
 * writes had added during the first pass, and every commit of the session
 * waited for it (writer p99 23-35 ms in the save benchmark, stalls of
 * hundreds of ms after a large blob).
 * If it cannot get its locks in 5 ms it gives up and the next job tries
 * again: a checkpoint may delay a commit by a few milliseconds, never by the
 * length of a sync or a save.
 * Recovery at start moves a failing session.db aside (never deletes it) and
 * copies in the newest backup that passes the full integrity_check. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "backup.h"
#include "pool.h"
#include "log.h"
#include "retention.h"
#include "store.h"
#include "util.h"

struct backup_job *backup_job_new(const char *session, const char *dir, const char *reason,
				  long max_backups)
{
	struct backup_job *j = xcalloc(1, sizeof(*j));
	j->session = xstrdup(session);
	j->dir = xstrdup(dir);
	j->reason = xstrdup(reason);
	j->max_backups = max_backups;
	return j;
}

void backup_job_free(struct backup_job *j)
{
	if (!j)
		return;
	free(j->session);
	free(j->dir);
	free(j->reason);
	free(j);
}

/* Parses "snapshot_YYYYMMDD_HHMMSS[_N].db"; returns 0 and the parts. */
static int parse_name(const char *name, char stamp[16], long *n)
{
	const char *p;
	size_t len = strlen(name);
	if (strncmp(name, "snapshot_", 9) != 0 || len < 9 + 15 + 3 ||
	    strcmp(name + len - 3, ".db") != 0)
		return -1;
	p = name + 9;
	for (int i = 0; i < 15; i++) {
		if (i == 8 ? p[i] != '_' : (p[i] < '0' || p[i] > '9'))
			return -1;
	}
	memcpy(stamp, p, 15);
	stamp[15] = 0;
	p += 15;
	*n = 0;
	if (*p == '_') {
		char *end;
		*n = strtol(p + 1, &end, 10);
		if (end == p + 1 || strcmp(end, ".db") != 0 || *n < 1)
			return -1;
	} else if (strcmp(p, ".db") != 0) {
		return -1;
	}
	return 0;
}

int backup_name_cmp(const char *a, const char *b)
{
	char sa[16], sb[16];
	long na, nb;
	int c;
	if (parse_name(a, sa, &na) || parse_name(b, sb, &nb))
		return strcmp(a, b);
	c = strcmp(sa, sb);
	if (c)
		return c;
	return na < nb ? -1 : na > nb;
}

static int newest_first(const void *a, const void *b)
{
	return backup_name_cmp(*(char *const *)b, *(char *const *)a);
}

int backup_list(const char *bdir, char ***names)
{
	DIR *d = opendir(bdir);
	struct dirent *e;
	int n = 0, cap = 0;
	*names = NULL;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char stamp[16];
		long k;
		if (parse_name(e->d_name, stamp, &k))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			*names = xrealloc(*names, (size_t)cap * sizeof(char *));
		}
		(*names)[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(*names, (size_t)n, sizeof(char *), newest_first);
	return n;
}

void backup_list_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void backup_make_name(const char *bdir, time_t t, char *out, size_t outlen)
{
	/* Newer than every backup of the same second, even ones already rotated
	 * out of the middle: never reuse a free lower suffix, which would sort
	 * as older than the files beside it and be rotated out at once. */
	char stamp[16], **names, s[16];
	long k, next = 0;
	int n = backup_list(bdir, &names);
	util_stamp(t, stamp);
	for (int i = 0; i < n; i++)
		if (parse_name(names[i], s, &k) == 0 && strcmp(s, stamp) == 0 && k + 1 > next)
			next = k + 1;
	backup_list_free(names, n);
	if (next == 0)
		snprintf(out, outlen, "snapshot_%s.db", stamp);
	else
		snprintf(out, outlen, "snapshot_%s_%ld.db", stamp, next);
}

int64_t backup_order(const char *bdir, const char *name)
{
	char path[4400];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t order = -1;
	int rc;
	snprintf(path, sizeof(path), "%s/%s", bdir, name);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'backup_order'", -1,
					&st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		order = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc != SQLITE_OK) {
		/* Unreadable: it sorts as the oldest, so rotation removes it
		 * first and recovery tries it last. */
		log_warning("Backup %s cannot be read (%s); it counts as the oldest", path,
			    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		order = -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return order;
}

struct aged {
	char *name;
	int64_t order;
};

static int aged_newest_first(const void *a, const void *b)
{
	const struct aged *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? 1 : -1;
	return backup_name_cmp(y->name, x->name);
}

int backup_list_by_age(const char *bdir, char ***names)
{
	int n = backup_list(bdir, names);
	struct aged *v = xcalloc((size_t)n + 1, sizeof(*v));
	for (int i = 0; i < n; i++) {
		v[i].name = (*names)[i];
		v[i].order = backup_order(bdir, v[i].name);
	}
	qsort(v, (size_t)n, sizeof(*v), aged_newest_first);
	for (int i = 0; i < n; i++)
		(*names)[i] = v[i].name;
	free(v);
	return n;
}

int backup_rotate(const char *bdir, long keep)
{
	return backup_rotate_keep(bdir, keep, 0, 0);
}

int backup_rotate_keep(const char *bdir, long keep, long hourly, long daily)
{
	char **names, path[4400];
	int n = backup_list_by_age(bdir, &names), removed = 0;
	unsigned *flags = xcalloc((size_t)n + 1, sizeof(unsigned));
	retention_plan(names, n, keep, hourly, daily, flags);
	for (int i = 1; i < n; i++) {
		if (flags[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", bdir, names[i]);
		if (unlink(path) == 0)
			removed++;
		else
			log_warning("Cannot remove old backup %s: %s", path, strerror(errno));
	}
	free(flags);
	backup_list_free(names, n);
	return removed;
}

char *backup_metadata_json(const struct backup_job *j, double ts)
{
	char when[32];
	time_t t = (time_t)ts;
	struct tm tm;
	json_t *o;
	char *s;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = json_pack("{sf ss ss sb sI sI sI sI sI ss ss}", "timestamp", ts, "datetime", when,
		      "reason", j->reason, "initialized", j->initialized,
		      "user_count", (json_int_t)j->user_count, "node_count", (json_int_t)j->node_count,
		      "task_count", (json_int_t)j->task_count, "chat_count", (json_int_t)j->chat_count,
		      "seq", (json_int_t)j->seq, "epoch", j->epoch, "backup", j->backup);
	/* 15 digits print a millisecond timestamp exactly, without the float
	 * noise of jansson's default 17. */
	s = pool_json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
	json_decref(o);
	return s;
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

/* Frames a RESTART may still have to copy while it holds the writer lock:
 * 256 pages (1 MiB) take a millisecond or two. */
#define CHECKPOINT_RESTART_MAX_FRAMES 256
#define CHECKPOINT_PASSIVE_ROUNDS 8

/* PRAGMA wal_checkpoint(PASSIVE): its result row says how many frames the
 * WAL holds and how many are in the database now. (The PRAGMA, not
 * sqlite3_wal_checkpoint_v2(): on a connection that has not read the
 * database yet, the latter finds no WAL open and does nothing.) */
static int passive(sqlite3 *db, int *log, int *done)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(PASSIVE)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*log = sqlite3_column_int(st, 1);
		*done = sqlite3_column_int(st, 2);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int checkpoint(sqlite3 *db, const struct backup_job *j, char *err, size_t errlen)
{
	int rc = exec_sql(db, "PRAGMA busy_timeout = 5000", err, errlen);
	int log = 0, done = 0, backlog = 0, before = -1, rounds = 0, restart = 0;

	/* PASSIVE until what the writes added meanwhile is small: a RESTART
	 * copies the rest while holding the writer lock, and after a large
	 * commit (a bulk import, a large blob) "the rest" was what the writes
	 * of the whole first pass had added: every commit (and ack) of the
	 * session waited for that copy (tens of ms after a 100 MB import). */
	for (int i = 0; rc == SQLITE_OK && i < CHECKPOINT_PASSIVE_ROUNDS; i++) {
		rc = passive(db, &log, &done);
		backlog = log - done;
		rounds++;
		/* The last round copied little too: the disk has flushed the
		 * large copy before the RESTART's own syncs, which run under the
		 * writer lock (a flush after hundreds of MB took 100-200 ms). */
		if (rc != SQLITE_OK || j->checkpoint_truncate ||
		    (backlog <= CHECKPOINT_RESTART_MAX_FRAMES && before >= 0 &&
		     done - before <= CHECKPOINT_RESTART_MAX_FRAMES))
			break;
		before = done;
	}
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "wal_checkpoint(PASSIVE): %s", sqlite3_errmsg(db));
	if (rc == SQLITE_OK && j->checkpoint_truncate)
		rc = exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)", err, errlen);
	else if (rc == SQLITE_OK && j->wal_reset && backlog <= CHECKPOINT_RESTART_MAX_FRAMES) {
		rc = exec_sql(db, "PRAGMA busy_timeout = 5; PRAGMA wal_checkpoint(RESTART)", err,
			      errlen);
		restart = 1;
	}
	log_debug("Checkpoint of %s: %d PASSIVE round(s), %d WAL frames, %d left, RESTART %s",
		  j->session, rounds, log, backlog, restart ? "run"
		  : "skipped");
	return rc;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Records in the copy why and when it was made, so admin.backups can say
 * it without a side file that could get lost. */
static int label_copy(struct backup_job *j, const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES "
					"('backup_reason', ?1), ('backup_created_at', ?2), "
					"('backup_order', ?3) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
					-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, j->reason, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 2, util_now());
		sqlite3_bind_int64(st, 3, j->order);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	if (rc != SQLITE_OK)
		snprintf(j->error, sizeof(j->error), "cannot label the new backup: %s",
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

json_t *backup_list_json(const char *bdir)
{
	char **names, path[4400];
	int n = backup_list_by_age(bdir, &names);
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		struct stat st;
		sqlite3 *db = NULL;
		sqlite3_stmt *q = NULL;
		json_t *reason = json_null();
		double created = 0;
		snprintf(path, sizeof(path), "%s/%s", bdir, names[i]);
		if (stat(path, &st) != 0)
			continue;
		created = (double)st.st_mtime;
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
		    sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key IN "
				       "('backup_reason', 'backup_created_at')", -1, &q,
				       NULL) == SQLITE_OK) {
			while (sqlite3_step(q) == SQLITE_ROW) {
				if (strcmp((const char *)sqlite3_column_text(q, 0), "backup_reason") == 0) {
					json_decref(reason);
					reason = json_string((const char *)sqlite3_column_text(q, 1));
				} else {
					created = sqlite3_column_double(q, 1);
				}
			}
		}
		sqlite3_finalize(q);
		sqlite3_close(db);
		json_array_append_new(list, json_pack("{ss sI sf so}", "file", names[i],
			"bytes", (json_int_t)st.st_size, "created_at", created, "reason", reason));
	}
	backup_list_free(names, n);
	return list;
}

/* Checks the new copy and reads what session_metadata.json reports. */
static int verify_copy(struct backup_job *j, const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	struct store_counts c = {0};
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = store_check_db(db, 0, j->error, sizeof(j->error));
	if (rc != SQLITE_OK) {
		if (!*j->error)
			snprintf(j->error, sizeof(j->error), "%s", sqlite3_errstr(rc));
		sqlite3_close(db);
		return rc;
	}
	store_db_counts(db, &c);
	j->node_count = c.nodes;
	j->task_count = c.tasks;
	j->chat_count = c.chat;
	j->user_count = c.users;
	j->seq = scalar(db, "SELECT value FROM meta WHERE key = 'seq'");
	j->initialized = (int)scalar(db, "SELECT value FROM meta WHERE key = 'initialized'");
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'epoch'", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(j->epoch, sizeof(j->epoch), "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return SQLITE_OK;
}

/* "snapshot_YYYYMMDD_HHMMSS[_N].db" followed by nothing or one of SQLite's
 * side-file suffixes. */
static int is_snapshot_temp(const char *rest)
{
	static const char *const side[] = {"", "-journal", "-wal", "-shm"};
	char stamp[16], name[256];
	long k;
	size_t len;
	const char *db = strstr(rest, ".db");
	if (!db)
		return 0;
	len = (size_t)(db - rest) + 3;
	if (len >= sizeof(name))
		return 0;
	memcpy(name, rest, len);
	name[len] = 0;
	if (parse_name(name, stamp, &k) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++)
		if (strcmp(rest + len, side[i]) == 0)
			return 1;
	return 0;
}

int backup_is_own_temp(const char *name, int in_backups)
{
	if (in_backups)
		return strncmp(name, ".tmp-", 5) == 0 && is_snapshot_temp(name + 5);
	return strcmp(name, "session_metadata.json.tmp") == 0 ||
	       strcmp(name, "session.db.restore") == 0;
}

static int clean_dir(const char *dir, int in_backups)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[4400];
		if (!backup_is_own_temp(e->d_name, in_backups))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		int64_t size = util_file_size(path);
		if (unlink(path) == 0) {
			log_warning("Removed %s (%lld bytes): a temporary file left by an "
				    "interrupted save or recovery", path, (long long)size);
			n++;
		} else if (errno != ENOENT) {
			log_warning("Cannot remove the stale temporary file %s: %s", path,
				    strerror(errno));
		}
	}
	closedir(d);
	return n;
}

int backup_clean_temps(const char *dir)
{
	char bdir[4200];
	snprintf(bdir, sizeof(bdir), "%s/backups", dir);
	return clean_dir(dir, 0) + clean_dir(bdir, 1);
}

void backup_run(struct backup_job *j)
{
	char bdir[4200], db_path[4200], tmp[4400], final[4400], meta[4400];
	int64_t t0 = util_mono_us();
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *json = NULL;
	int rc;

	j->ok = 0;
	snprintf(bdir, sizeof(bdir), "%s/backups", j->dir);
	snprintf(db_path, sizeof(db_path), "%s/session.db", j->dir);
	if (j->checkpoint_only) {
		rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc == SQLITE_OK)
			rc = checkpoint(db, j, j->error, sizeof(j->error));
		sqlite3_close(db);
		j->ok = rc == SQLITE_OK;
		j->ms = (util_mono_us() - t0) / 1000;
		return;
	}
	if (mkdir(bdir, 0700) != 0 && errno != EEXIST) {
		snprintf(j->error, sizeof(j->error), "cannot create %s: %s", bdir, strerror(errno));
		return;
	}
	/* No other save of this session runs (one at a time, on this thread):
	 * any temporary here is a crash's leftover. */
	j->stale_removed = backup_clean_temps(j->dir);
	backup_make_name(bdir, j->now ? j->now : time(NULL), j->backup, sizeof(j->backup));
	/* Rotation goes by the order backups were made, recorded in each
	 * one: a clock stepped back must not make the new one look oldest. */
	{
		char **names;
		int n = backup_list_by_age(bdir, &names);
		j->order = 1 + (n ? backup_order(bdir, names[0]) : 0);
		backup_list_free(names, n);
	}
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", bdir, j->backup);
	snprintf(final, sizeof(final), "%s/%s", bdir, j->backup);
	unlink(tmp);

	rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = checkpoint(db, j, j->error, sizeof(j->error));
	if (rc == SQLITE_OK)
		rc = exec_sql(db, "PRAGMA busy_timeout = 5000", j->error, sizeof(j->error));
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		if (rc != SQLITE_OK)
			snprintf(j->error, sizeof(j->error), "VACUUM INTO failed: %s",
				 sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK && !*j->error)
		snprintf(j->error, sizeof(j->error), "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_close(db);
	if (rc != SQLITE_OK)
		goto fail;
	if (label_copy(j, tmp) != SQLITE_OK) {
		char e[512];
		snprintf(e, sizeof(e), "cannot record the reason in the new backup: %s", j->error);
		snprintf(j->error, sizeof(j->error), "%s", e);
		goto fail;
	}
	if (verify_copy(j, tmp) != SQLITE_OK) {
		char e[512];
		snprintf(e, sizeof(e), "the new backup failed quick_check: %s", j->error);
		snprintf(j->error, sizeof(j->error), "%s", e);
		goto fail;
	}
	if (chmod(tmp, 0600) != 0 || util_fsync_path(tmp) != 0 || rename(tmp, final) != 0 ||
	    util_fsync_dir(bdir) != 0) {
		snprintf(j->error, sizeof(j->error), "cannot store %s: %s", final, strerror(errno));
		goto fail;
	}
	j->bytes = 0;
	{
		struct stat sb;
		if (stat(final, &sb) == 0)
			j->bytes = (int64_t)sb.st_size;
	}
	j->removed = backup_rotate_keep(bdir, j->max_backups, j->keep_hourly, j->keep_daily);
	j->finished_at = util_now();
	json = backup_metadata_json(j, j->finished_at);
	snprintf(meta, sizeof(meta), "%s/session_metadata.json", j->dir);
	if (util_write_file_atomic(meta, json, strlen(json), 0600) != 0)
		log_warning("Cannot write %s: %s (the backup %s is good)", meta, strerror(errno),
			    j->backup);
	free(json);
	j->ms = (util_mono_us() - t0) / 1000;
	j->ok = 1;
	return;
fail:
	unlink(tmp);
	j->finished_at = util_now();
	j->ms = (util_mono_us() - t0) / 1000;
}

/* ------------------------------------------------------------------ */
/* Recovery                                                            */

static int check_file(const char *path, int full, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, full ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE,
				 NULL);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db, 5000);
	if (rc == SQLITE_OK)
		rc = store_check_db(db, full, err, errlen);
	else
		snprintf(err, errlen, "%s", sqlite3_errstr(rc));
	sqlite3_close(db);
	return rc;
}

/* Only a file SQLite calls corrupt (or not a database) is replaced. A lock,
 * a full disk or an I/O error says nothing about the file's content: the
 * start stops instead, and the data stays where it is. */
static int is_corrupt(int rc)
{
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t n;
	if (in < 0)
		return -1;
	unlink(to);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	if (n == 0 && fsync(out) == 0)
		rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0)
		rc = -1;
	return rc;
}

int backup_recover(const char *dir, char *used, size_t usedlen, char *err, size_t errlen)
{
	char db[4200], bdir[4200], aside[4400], from[4400], to[4400], tmp[4400], stamp[16];
	char cerr[512] = "";
	char **names;
	struct stat st;
	int n, missing;

	snprintf(db, sizeof(db), "%s/session.db", dir);
	snprintf(bdir, sizeof(bdir), "%s/backups", dir);
	*used = 0;
	missing = stat(db, &st) != 0;
	if (!missing) {
		int rc = check_file(db, 0, cerr, sizeof(cerr));
		if (rc == SQLITE_OK)
			return 0;
		if (!is_corrupt(rc)) {
			snprintf(err, errlen, "cannot check %s: %s (%s); not touching it", db, cerr,
				 sqlite3_errstr(rc));
			return -1;
		}
	}
	n = backup_list_by_age(bdir, &names);
	if (missing && n == 0) {
		backup_list_free(names, n);
		return 0; /* an empty session directory: created on open */
	}
	if (!missing) {
		util_stamp(time(NULL), stamp);
		log_error("Session database %s failed its check: %s", db, cerr);
		snprintf(aside, sizeof(aside), "%s.corrupt-%s", db, stamp);
		if (rename(db, aside) != 0) {
			snprintf(err, errlen, "cannot move %s aside: %s", db, strerror(errno));
			backup_list_free(names, n);
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			const char *sfx = i ? "-shm" : "-wal";
			snprintf(from, sizeof(from), "%s%s", db, sfx);
			snprintf(to, sizeof(to), "%s%s", aside, sfx);
			if (stat(from, &st) == 0 && rename(from, to) != 0)
				log_warning("Cannot move %s aside: %s", from, strerror(errno));
		}
		log_warning("Moved the corrupt database aside as %s", aside);
		snprintf(used, usedlen, "%s", strrchr(aside, '/') + 1);
	} else {
		/* No database but backups: a restore that did not finish. A WAL
		 * left beside would belong to some other file: keep it aside. */
		util_stamp(time(NULL), stamp);
		for (int i = 0; i < 2; i++) {
			const char *sfx = i ? "-shm" : "-wal";
			snprintf(from, sizeof(from), "%s%s", db, sfx);
			snprintf(to, sizeof(to), "%s.orphan-%s%s", db, stamp, sfx);
			if (stat(from, &st) == 0 && rename(from, to) != 0)
				log_warning("Cannot move %s aside: %s", from, strerror(errno));
		}
	}
	for (int i = 0; i < n; i++) {
		snprintf(from, sizeof(from), "%s/%s", bdir, names[i]);
		int rc = check_file(from, 1, cerr, sizeof(cerr));
		if (rc != SQLITE_OK) {
			log_error("Backup %s failed integrity_check (%s); trying an older one", from,
				  cerr);
			continue;
		}
		snprintf(tmp, sizeof(tmp), "%s.restore", db);
		if (copy_file(from, tmp) != 0 || rename(tmp, db) != 0 || util_fsync_dir(dir) != 0) {
			snprintf(err, errlen, "cannot restore %s: %s", from, strerror(errno));
			unlink(tmp);
			backup_list_free(names, n);
			return -1;
		}
		snprintf(used, usedlen, "%s", names[i]);
		backup_list_free(names, n);
		return 1;
	}
	backup_list_free(names, n);
	return missing ? 0 : 2;
}
