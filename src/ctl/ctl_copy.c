/* ctl_copy.c - sessionctl's write side: backup, offline restore, delete.
 * It stands on ctl_db.c (open, verify) and ctl_lock.c (the data
 * directory's lock).
 *
 * Design notes
 * - Nothing half-written is ever left where a reader would take it for
 *   real: every new file is written under a temporary name beside its final
 *   place (".NAME.tmp-PID"), checked, fsynced, renamed, and the directory
 *   fsynced. A failure, or SIGINT/SIGTERM meanwhile, removes the temporary
 *   file (ctl_tmp_guard).
 * - A backup is VACUUM INTO from a read-only connection: one read
 *   transaction, so the copy is exactly one committed state of the live
 *   session (a prefix of what the server acknowledged) while the server
 *   keeps writing. The copy is then verified like `sessionctl verify`.
 * - Every backup is marked (meta backup_reason / backup_created_at, as the
 *   server's own backups are). The mark is what tells a server that a
 *   database was installed from a backup, whatever route it took.
 * - Restore and delete change a session's files, so they run only with the
 *   server stopped: they take the server's own flock on
 *   DATA_DIR/.sessiond.lock (ctl_lock.c) for their whole run, which also keeps a server
 *   from starting meanwhile. Nothing is ever deleted: the replaced database
 *   is moved aside, a deleted session moves to DATA_DIR/.deleted/. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"
#include "validate.h"

static char guarded[CTL_PATH + 64];

static void on_signal(int sig)
{
	if (guarded[0])
		unlink(guarded);
	signal(sig, SIG_DFL);
	raise(sig);
}

void ctl_tmp_guard(const char *path)
{
	static int installed;
	if (!installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		installed = 1;
	}
	snprintf(guarded, sizeof(guarded), "%s", path ? path : "");
}

/* The directory part and the last part of a path, without touching it. */
static void split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen)
{
	char a[CTL_PATH], b[CTL_PATH];
	size_t n;
	snprintf(a, sizeof(a), "%s", path);
	n = strlen(a);
	while (n > 1 && a[n - 1] == '/')
		a[--n] = 0;
	snprintf(b, sizeof(b), "%s", a);
	snprintf(dir, dlen, "%s", dirname(a));
	snprintf(base, blen, "%s", basename(b));
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* VACUUM INTO tmp from an open handle; SQLite's message on failure. */
static int vacuum_into(sqlite3 *src, const char *tmp, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;
	unlink(tmp);
	rc = sqlite3_prepare_v2(src, "VACUUM INTO ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc != SQLITE_OK) {
		int e = sqlite3_system_errno(src);
		if (e == ENOSPC || e == EFBIG || e == EDQUOT || (rc & 0xff) == SQLITE_FULL)
			snprintf(err, errlen, "cannot write %s: disk full (%s)", tmp,
				 e ? strerror(e) : sqlite3_errmsg(src));
		else
			snprintf(err, errlen, "cannot write %s: %s", tmp, sqlite3_errmsg(src));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? CTL_OK : CTL_ERROR;
}

/* Writes the backup mark (and, for a restore, a new epoch) into a copy. */
static int mark_copy(const char *tmp, const char *reason, const char *restored_from,
		     char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char epoch[33];
	int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = exec_sql(db, "PRAGMA busy_timeout = 2000; BEGIN IMMEDIATE");
	if (rc == SQLITE_OK && !restored_from) {
		rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES "
					"('backup_reason', ?1), ('backup_created_at', ?2) "
					"ON CONFLICT (key) DO UPDATE SET value = excluded.value",
					-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
			sqlite3_bind_double(st, 2, util_now());
		}
	} else if (rc == SQLITE_OK) {
		/* installed: a new history, the mark is spent */
		util_random_hex(epoch, 16);
		rc = exec_sql(db, "DELETE FROM meta WHERE key IN ('backup_reason', "
			      "'backup_created_at', 'backup_order')");
		if (rc == SQLITE_OK)
			rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES "
						"('epoch', ?1), ('history_floor', 0), "
						"('restored_from', ?2), ('restored_at', ?3) "
						"ON CONFLICT (key) DO UPDATE SET value = excluded.value",
						-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, epoch, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, restored_from, -1, SQLITE_STATIC);
			sqlite3_bind_double(st, 3, util_now());
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = exec_sql(db, "COMMIT");
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "cannot write %s: %s", tmp,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_close(db);
	return rc == SQLITE_OK ? CTL_OK : CTL_ERROR;
}

/* Verifies a finished copy; the first problem goes into err. */
static int verify_copy(const char *tmp, char *err, size_t errlen)
{
	json_t *problems;
	int r = ctl_verify(tmp, &problems, err, errlen);
	if (r == CTL_FAILED)
		snprintf(err, errlen, "the copy failed verify (%zu problem(s)), first: %s",
			 json_array_size(problems), json_string_value(json_array_get(problems, 0)));
	json_decref(problems);
	return r;
}

/* chmod 0600, fsync, rename over final, fsync the directory. */
static int install(const char *tmp, const char *final, const char *dir, char *err,
		   size_t errlen)
{
	if (chmod(tmp, 0600) != 0 || util_fsync_path(tmp) != 0 || rename(tmp, final) != 0 ||
	    util_fsync_dir(dir) != 0) {
		snprintf(err, errlen, "cannot store %s: %s", final, strerror(errno));
		return CTL_ERROR;
	}
	return CTL_OK;
}

/* The session name a backup is filed under. */
static void session_name_of(const char *path, const char *db, char *name, size_t len)
{
	char d[CTL_PATH], b[CTL_PATH], *dot;
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		split_path(path, d, sizeof(d), name, len);
		return;
	}
	split_path(db, d, sizeof(d), b, sizeof(b));
	if (strcmp(b, "session.db") == 0) {
		split_path(d, b, sizeof(b), name, len);
		return;
	}
	dot = strrchr(b, '.');
	if (dot && dot != b)
		*dot = 0;
	snprintf(name, len, "%s", b);
}

int ctl_backup(const char *path, const char *dest, char *written, size_t wlen, char *err,
	       size_t errlen)
{
	char db[CTL_PATH], name[256], final[CTL_PATH], dir[CTL_PATH], base[CTL_PATH];
	char tmp[CTL_PATH + 64], stamp[16];
	sqlite3 *src = NULL;
	struct stat st;
	int version, r;

	*written = 0;
	r = ctl_resolve_db(path, db, sizeof(db), err, errlen);
	if (r == CTL_OK)
		r = ctl_open_ro(db, 0, &src, &version, err, errlen);
	if (r != CTL_OK)
		return r == CTL_FAILED ? CTL_ERROR : r;
	session_name_of(path, db, name, sizeof(name));
	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(final, sizeof(final), "%s/%s-%s.db", dest, name, stamp);
		for (int i = 1; stat(final, &st) == 0; i++)
			snprintf(final, sizeof(final), "%s/%s-%s-%d.db", dest, name, stamp, i);
	} else {
		snprintf(final, sizeof(final), "%s", dest);
	}
	split_path(final, dir, sizeof(dir), base, sizeof(base));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: no such directory", dir);
		sqlite3_close(src);
		return CTL_ERROR;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld", dir, base, (long)getpid());
	ctl_tmp_guard(tmp);
	r = vacuum_into(src, tmp, err, errlen);
	sqlite3_close(src);
	if (r == CTL_OK)
		r = mark_copy(tmp, "sessionctl", NULL, err, errlen);
	if (r == CTL_OK)
		r = verify_copy(tmp, err, errlen);
	if (r == CTL_OK)
		r = install(tmp, final, dir, err, errlen);
	if (r != CTL_OK)
		unlink(tmp);
	ctl_tmp_guard(NULL);
	if (r == CTL_OK)
		snprintf(written, wlen, "%s", final);
	return r;
}

/* session_metadata.json after a restore: it describes the installed file,
 * so nothing reports the save of the database that was replaced. */
static int write_metadata(const char *dir, const char *db, const char *backup_name, char *err,
			  size_t errlen)
{
	char path[CTL_PATH + 32], when[32];
	json_t *info = NULL, *o;
	char *text;
	double now = util_now();
	time_t t = (time_t)now;
	struct tm tm;
	int r = ctl_info(db, &info, err, errlen);
	if (r != CTL_OK)
		return r;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = json_pack("{sf ss ss sO sI sO sO sO sO sO ss}", "timestamp", now, "datetime", when,
		      "reason", "restore", "initialized", json_object_get(info, "initialized"),
		      "user_count", json_integer_value(json_object_get(info, "users")),
		      "node_count", json_object_get(info, "nodes"),
		      "task_count", json_object_get(info, "tasks"),
		      "chat_count", json_object_get(info, "chat"),
		      "seq", json_object_get(info, "seq"), "epoch", json_object_get(info, "epoch"),
		      "backup", backup_name);
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	snprintf(path, sizeof(path), "%s/session_metadata.json", dir);
	if (util_write_file_atomic(path, text, strlen(text), 0600) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		r = CTL_ERROR;
	}
	free(text);
	json_decref(o);
	json_decref(info);
	return r;
}

int ctl_restore(const char *session_dir, const char *backup, json_t **out, char *err,
		size_t errlen)
{
	char data_dir[CTL_PATH], name[256], src_db[CTL_PATH], db[CTL_PATH + 16];
	char tmp[CTL_PATH + 32], aside[CTL_PATH + 64], from[CTL_PATH + 80], to[CTL_PATH + 80];
	char bdir[CTL_PATH], bname[CTL_PATH], stamp[16], instead[512];
	sqlite3 *src = NULL;
	json_t *problems = json_array();
	struct stat st;
	int lock = -1, version, r;

	*out = NULL;
	split_path(session_dir, data_dir, sizeof(data_dir), name, sizeof(name));
	if (!validate_session_name(name)) {
		snprintf(err, errlen, "%s: \"%s\" is not a session name", session_dir, name);
		return CTL_ERROR;
	}
	snprintf(instead, sizeof(instead), "use the online restore (POST /api/sessions/%s/restore "
		 "or admin.restore)", name);
	r = ctl_lock_data_dir(data_dir, instead, &lock, err, errlen);
	if (r == CTL_OK)
		r = ctl_resolve_db(backup, src_db, sizeof(src_db), err, errlen);
	if (r == CTL_OK)
		r = ctl_open_ro(src_db, 0, &src, &version, err, errlen);
	if (r == CTL_OK)
		r = ctl_verify_db(src, version, problems, err, errlen);
	if (r == CTL_OK && json_array_size(problems)) {
		snprintf(err, errlen, "%s failed verify (%zu problem(s)), first: %s; nothing changed",
			 src_db, json_array_size(problems),
			 json_string_value(json_array_get(problems, 0)));
		r = CTL_FAILED;
	}
	if (r != CTL_OK)
		goto out;
	if (mkdir(session_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", session_dir, strerror(errno));
		r = CTL_ERROR;
		goto out;
	}
	snprintf(db, sizeof(db), "%s/session.db", session_dir);
	snprintf(tmp, sizeof(tmp), "%s/.session.db.restore-tmp", session_dir);
	split_path(src_db, bdir, sizeof(bdir), bname, sizeof(bname));
	ctl_tmp_guard(tmp);
	r = vacuum_into(src, tmp, err, errlen);
	sqlite3_close(src);
	src = NULL;
	if (r == CTL_OK)
		r = mark_copy(tmp, NULL, bname, err, errlen);
	if (r == CTL_OK && (chmod(tmp, 0600) != 0 || util_fsync_path(tmp) != 0)) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		r = CTL_ERROR;
	}
	if (r != CTL_OK) {
		unlink(tmp);
		ctl_tmp_guard(NULL);
		goto out;
	}
	*aside = 0;
	if (stat(db, &st) == 0) {
		util_stamp(time(NULL), stamp);
		snprintf(aside, sizeof(aside), "%s.before-restore-%s", db, stamp);
		for (int i = 1; stat(aside, &st) == 0; i++)
			snprintf(aside, sizeof(aside), "%s.before-restore-%s_%d", db, stamp, i);
		if (rename(db, aside) != 0) {
			snprintf(err, errlen, "cannot move %s aside: %s", db, strerror(errno));
			unlink(tmp);
			ctl_tmp_guard(NULL);
			r = CTL_ERROR;
			goto out;
		}
	}
	/* The WAL belongs to the database moved aside (or to none). */
	for (int i = 0; i < 2; i++) {
		const char *sfx = i ? "-shm" : "-wal";
		snprintf(from, sizeof(from), "%s%s", db, sfx);
		if (*aside)
			snprintf(to, sizeof(to), "%s%s", aside, sfx);
		else
			snprintf(to, sizeof(to), "%s.orphan-%ld%s", db, (long)time(NULL), sfx);
		if (stat(from, &st) == 0 && rename(from, to) != 0) {
			snprintf(err, errlen, "cannot move %s aside: %s", from, strerror(errno));
			r = CTL_ERROR;
		}
	}
	if (r == CTL_OK && (rename(tmp, db) != 0 || util_fsync_dir(session_dir) != 0)) {
		snprintf(err, errlen, "cannot install %s: %s", db, strerror(errno));
		r = CTL_ERROR;
	}
	ctl_tmp_guard(NULL);
	if (r != CTL_OK) {
		unlink(tmp);
		goto out;
	}
	r = write_metadata(session_dir, db, bname, err, errlen);
	if (r == CTL_OK && ctl_info(db, out, err, errlen) == CTL_OK) {
		json_object_set_new(*out, "session", json_string(name));
		json_object_set_new(*out, "backup", json_string(src_db));
		json_object_set_new(*out, "moved_aside", *aside ? json_string(aside) : json_null());
	}
out:
	sqlite3_close(src);
	json_decref(problems);
	if (lock >= 0)
		close(lock);
	return r;
}

int ctl_delete(const char *session_dir, char *moved_to, size_t mlen, char *err, size_t errlen)
{
	char data_dir[CTL_PATH], name[256], trash[CTL_PATH + 16], dest[CTL_PATH + 400];
	char stamp[16], instead[512];
	struct stat st;
	int lock = -1, r;

	*moved_to = 0;
	split_path(session_dir, data_dir, sizeof(data_dir), name, sizeof(name));
	if (name[0] == '.' || strcmp(name, "/") == 0) {
		snprintf(err, errlen, "%s: not a session directory", session_dir);
		return CTL_ERROR;
	}
	if (lstat(session_dir, &st) != 0) {
		snprintf(err, errlen, "%s: %s", session_dir, strerror(errno));
		return CTL_ERROR;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", session_dir);
		return CTL_ERROR;
	}
	snprintf(instead, sizeof(instead), "use DELETE /api/sessions/%s", name);
	r = ctl_lock_data_dir(data_dir, instead, &lock, err, errlen);
	if (r != CTL_OK)
		return r;
	snprintf(trash, sizeof(trash), "%s/.deleted", data_dir);
	if (mkdir(trash, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", trash, strerror(errno));
		r = CTL_ERROR;
		goto out;
	}
	util_stamp(time(NULL), stamp);
	snprintf(dest, sizeof(dest), "%s/%s-%s", trash, name, stamp);
	for (int i = 1; stat(dest, &st) == 0; i++)
		snprintf(dest, sizeof(dest), "%s/%s-%s_%d", trash, name, stamp, i);
	if (rename(session_dir, dest) != 0 || util_fsync_dir(data_dir) != 0 ||
	    util_fsync_dir(trash) != 0) {
		snprintf(err, errlen, "cannot move %s to %s: %s", session_dir, dest, strerror(errno));
		r = CTL_ERROR;
		goto out;
	}
	snprintf(moved_to, mlen, "%s", dest);
out:
	close(lock);
	return r;
}
