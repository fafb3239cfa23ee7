/* backup.h - saves (checkpoint + verified VACUUM INTO snapshot + rotation +
 * session_metadata.json) and start-up recovery of corrupt sessions. These
 * functions block; the network thread calls them only through the saver,
 * except at start-up and for the final save at shutdown. */
#ifndef SESSIOND_BACKUP_H
#define SESSIOND_BACKUP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct backup_job {
	struct backup_job *next;
	/* input */
	char *session;
	char *dir;            /* DATA_DIR/NAME */
	char *reason;
	long max_backups;
	long keep_hourly, keep_daily; /* retention.c: newest per hour/day kept too */
	int checkpoint_truncate;  /* shutdown: wait as long as needed to empty the WAL */
	int wal_reset;            /* try briefly to restart the WAL (no sync is reading) */
	int checkpoint_only;      /* just fold the WAL into the database */
	time_t now;               /* the time in the backup's name (0: now; for tests) */
	const void *owner;        /* who asked (its session), matched when it ends */
	int64_t order;            /* set by backup_run: 1 + the newest backup's order */
	/* output */
	int ok;
	char backup[96];      /* file name in dir/backups */
	int64_t bytes;
	int64_t ms;
	char error[512];
	double finished_at;
	int64_t node_count, task_count, chat_count, user_count, seq;
	int initialized;
	char epoch[65];
	int removed;          /* old backups rotated out */
	int stale_removed;    /* temporaries of interrupted saves removed first */
};

struct backup_job *backup_job_new(const char *session, const char *dir, const char *reason,
				  long max_backups);
void backup_job_free(struct backup_job *job);
/* Runs the whole save; sets job->ok and the outputs. */
void backup_run(struct backup_job *job);

/* "snapshot_YYYYMMDD_HHMMSS[_N].db" that does not exist yet in bdir. */
void backup_make_name(const char *bdir, time_t t, char *out, size_t outlen);
/* Backup file names in bdir, newest first; returns count, *names malloc'd. */
int backup_list(const char *bdir, char ***names);
void backup_list_free(char **names, int n);
/* Compares two backup names by time then suffix: < 0 when a is older. */
int backup_name_cmp(const char *a, const char *b);
/* Every backup in bdir, newest first, as a JSON array of
 * {"file","bytes","created_at","reason"} (a new reference). */
json_t *backup_list_json(const char *bdir);
/* The order a backup was made in (its meta `backup_order`; 0 for backups
 * that predate it, -1 for one that cannot be read). */
int64_t backup_order(const char *bdir, const char *name);
/* backup_list ordered newest first by the order the backups were made
 * (then by name), not by the clock in their names. */
int backup_list_by_age(const char *bdir, char ***names);
/* Deletes all but the newest keep backups (by backup_list_by_age); returns
 * how many were removed. */
int backup_rotate(const char *bdir, long keep);
/* The same, also keeping the newest backup of each of the last `hourly`
 * hours and `daily` days that have one (retention.c). */
int backup_rotate_keep(const char *bdir, long keep, long hourly, long daily);
/* session_metadata.json content for a finished job (malloc'd). */
char *backup_metadata_json(const struct backup_job *job, double timestamp);

/* 1 when name is a temporary file that the server's own writes make: in
 * backups/ (in_backups set) a save's `.tmp-snapshot_YYYYMMDD_HHMMSS[_N].db`
 * (and SQLite's -journal/-wal/-shm beside it); in the session directory
 * `session_metadata.json.tmp` and start-up recovery's `session.db.restore`.
 * Nothing else, so files an operator put there are never touched. */
int backup_is_own_temp(const char *name, int in_backups);
/* Removes the temporaries (backup_is_own_temp) that a crash left in
 * DATA_DIR/NAME and its backups/, naming each in the log at warning level
 * with its size. Call it only when no save of that session runs: at start
 * and at the beginning of each save. Returns how many were removed. */
int backup_clean_temps(const char *dir);

/* Start-up check of DATA_DIR/NAME/session.db. When it fails quick_check (or
 * cannot be opened), moves it aside as session.db.corrupt-STAMP (with -wal
 * and -shm) and copies in the newest backup that passes integrity_check.
 * Returns 0 when the session is usable as it is, 1 when it was restored (the
 * caller starts a new epoch), 2 when no backup was good and it starts empty,
 * -1 on an error that stops the start (message in err). */
int backup_recover(const char *dir, char *used, size_t usedlen, char *err, size_t errlen);

#endif
