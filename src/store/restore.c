/* restore.c - databases installed from a backup, and the online restore's
 * file work.
 *
 * Design notes
 * - A restore must never fork history: a client that reconnects with its
 *   old epoch and a `since` must get a full sync, not an empty delta over a
 *   different history. Every backup is marked when it is written
 *   (meta backup_created_at, see backup.c's label step and sessionctl), and
 *   a session database found carrying the mark gets a new epoch when the
 *   server opens it, whatever route installed it (copied by hand, start-up
 *   recovery, sessionctl, the online restore). The mark is then removed, so
 *   it happens once; session_metadata.json is rewritten (reason "restore")
 *   so neither it nor the start-up log reports the replaced file's save.
 * - The online restore changes files only with the session's connection
 *   closed, and never deletes: the current database moves aside as
 *   session.db.before-restore-STAMP (with its WAL), the backup is copied
 *   (never moved: it stays a backup) to session.db.restore, fsynced, and
 *   renamed into place. The chosen backup is pinned by a hard link first, so
 *   the save taken before the restore cannot rotate it away. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "backup.h"
#include "log.h"
#include "restore.h"
#include "store.h"
#include "util.h"

int restore_claim_mark(struct store *st, char *from, size_t fromlen, char *err,
		       size_t errlen)
{
	char epoch[33], *f = NULL;
	int64_t made;
	int rc = store_meta_get_int(st, "backup_created_at", &made);
	*from = 0;
	if (rc == SQLITE_NOTFOUND)
		return 0;
	if (rc == SQLITE_OK && store_meta_get_text(st, "restored_from", &f) == SQLITE_OK)
		snprintf(from, fromlen, "%s", f);
	free(f);
	util_random_hex(epoch, 16);
	if (rc == SQLITE_OK)
		rc = store_begin(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(store_db(st), "DELETE FROM meta WHERE key IN ('backup_reason', "
				  "'backup_created_at', 'backup_order')", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = store_meta_set_text(st, "epoch", epoch);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(st, "history_floor", 0);
	if (rc == SQLITE_OK)
		rc = store_meta_set_int(st, "restored_at", (int64_t)util_now());
	if (rc == SQLITE_OK)
		rc = store_commit(st);
	if (rc != SQLITE_OK) {
		store_rollback(st);
		snprintf(err, errlen, "cannot give the restored database a new epoch: %s",
			 sqlite3_errstr(rc));
		return -1;
	}
	return 1;
}

int restore_write_metadata(const char *dir, struct store *st, const char *from)
{
	struct backup_job j;
	struct store_counts c = {0};
	char path[4400], *epoch = NULL, *json;
	int64_t init = 0;
	int rc;

	memset(&j, 0, sizeof(j));
	j.reason = "restore";
	snprintf(j.backup, sizeof(j.backup), "%s", from);
	store_counts(st, &c);
	j.node_count = c.nodes;
	j.task_count = c.tasks;
	j.chat_count = c.chat;
	j.user_count = c.users;
	store_meta_get_int(st, "seq", &j.seq);
	store_meta_get_int(st, "initialized", &init);
	j.initialized = (int)init;
	if (store_meta_get_text(st, "epoch", &epoch) == SQLITE_OK)
		snprintf(j.epoch, sizeof(j.epoch), "%s", epoch);
	free(epoch);
	json = backup_metadata_json(&j, util_now());
	snprintf(path, sizeof(path), "%s/session_metadata.json", dir);
	rc = util_write_file_atomic(path, json, strlen(json), 0600);
	if (rc != 0)
		log_warning("Cannot write %s: %s", path, strerror(errno));
	free(json);
	return rc;
}

int restore_pin(const char *dir, const char *name, char *pin, size_t pinlen, char *err,
		size_t errlen)
{
	char path[4400];
	struct stat st;
	if (!*name || strchr(name, '/') || name[0] == '.' || strlen(name) > 200) {
		snprintf(err, errlen, "backup: \"%s\" is not a backup file name", name);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/backups/%s", dir, name);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "backup: %s does not exist", name);
		return -1;
	}
	snprintf(pin, pinlen, "%s/.restore-pin", dir);
	unlink(pin);
	if (link(path, pin) != 0) {
		snprintf(err, errlen, "backup: cannot pin %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

int restore_verify(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char e[512] = "";
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), version = -1;
	if (rc == SQLITE_OK)
		rc = store_check_db(db, 1, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "%s", sqlite3_errstr(rc));
	if (rc == SQLITE_OK && sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
						  NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "failed integrity_check: %s", e);
		return -1;
	}
	if (version < 1 || version > store_migration_count) {
		snprintf(err, errlen, "schema version %d is not one this server knows (1..%d)",
			 version, store_migration_count);
		return -1;
	}
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t n = 0;
	if (in < 0)
		return -1;
	unlink(to);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out >= 0) {
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n) {
				n = -1;
				break;
			}
		if (n == 0 && fsync(out) == 0)
			rc = 0;
		if (close(out) != 0)
			rc = -1;
	}
	close(in);
	return rc;
}

static int record_source(const char *path, const char *name)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES ('restored_from', "
					"?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
					-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc == SQLITE_OK && util_fsync_path(path) == 0 ? 0 : -1;
}

int restore_install(const char *dir, const char *pin, const char *name, char *aside,
		    size_t asidelen, char *err, size_t errlen)
{
	char db[4200], tmp[4300], from[4400], to[4500], stamp[16];
	struct stat st;

	snprintf(db, sizeof(db), "%s/session.db", dir);
	snprintf(tmp, sizeof(tmp), "%s/session.db.restore", dir);
	if (copy_file(pin, tmp) != 0 || record_source(tmp, name) != 0) {
		snprintf(err, errlen, "cannot copy the backup: %s", strerror(errno));
		unlink(tmp);
		return -1;
	}
	util_stamp(time(NULL), stamp);
	snprintf(aside, asidelen, "%s.before-restore-%s", db, stamp);
	for (int i = 1; stat(aside, &st) == 0; i++)
		snprintf(aside, asidelen, "%s.before-restore-%s_%d", db, stamp, i);
	if (rename(db, aside) != 0) {
		snprintf(err, errlen, "cannot move %s aside: %s", db, strerror(errno));
		unlink(tmp);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		const char *sfx = i ? "-shm" : "-wal";
		snprintf(from, sizeof(from), "%s%s", db, sfx);
		snprintf(to, sizeof(to), "%s%s", aside, sfx);
		if (stat(from, &st) == 0 && rename(from, to) != 0)
			log_warning("Cannot move %s aside: %s", from, strerror(errno));
	}
	if (rename(tmp, db) != 0 || util_fsync_dir(dir) != 0) {
		snprintf(err, errlen, "cannot install the backup: %s", strerror(errno));
		/* put the old database back where it was, WAL included */
		if (rename(aside, db) == 0) {
			for (int i = 0; i < 2; i++) {
				const char *sfx = i ? "-shm" : "-wal";
				snprintf(from, sizeof(from), "%s%s", aside, sfx);
				snprintf(to, sizeof(to), "%s%s", db, sfx);
				if (stat(from, &st) == 0)
					rename(from, to);
			}
			*aside = 0;
		}
		unlink(tmp);
		return -1;
	}
	return 0;
}

int restore_undo(const char *dir, const char *aside, char *err, size_t errlen)
{
	char db[4200], from[4400], to[4500];
	struct stat st;

	snprintf(db, sizeof(db), "%s/session.db", dir);
	/* What is there now is a copy of a backup that stays in backups/. */
	for (int i = 0; i < 3; i++) {
		snprintf(to, sizeof(to), "%s%s", db, i == 0 ? "" : i == 1 ? "-wal" : "-shm");
		if (unlink(to) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove %s: %s", to, strerror(errno));
			return -1;
		}
	}
	if (rename(aside, db) != 0) {
		snprintf(err, errlen, "cannot move %s back: %s", aside, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		const char *sfx = i ? "-shm" : "-wal";
		snprintf(from, sizeof(from), "%s%s", aside, sfx);
		snprintf(to, sizeof(to), "%s%s", db, sfx);
		if (stat(from, &st) == 0 && rename(from, to) != 0) {
			snprintf(err, errlen, "cannot move %s back: %s", from, strerror(errno));
			return -1;
		}
	}
	util_fsync_dir(dir);
	return 0;
}
