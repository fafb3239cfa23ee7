/* ctl.h - the logic behind sessionctl, the operator's tool, without its
 * command line: opening session databases read-only with clear errors,
 * inspecting and verifying them, consistent copies, offline restore and
 * delete, export/import as JSON, and the difference of two databases.
 *
 * Every function returns CTL_OK, CTL_FAILED (a check failed: the data is
 * not sound) or CTL_ERROR (usage or I/O: missing file, not SQLite, locked,
 * newer schema, full disk) with one sentence in err. Results are built as
 * JSON objects (new references) so the command line prints them either as
 * text or with --json from the same data. */
#ifndef SESSIOND_CTL_H
#define SESSIOND_CTL_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_ERROR = 2 };

#define CTL_ERRLEN 1024
#define CTL_PATH 4096

/* ctl_lock.c ---------------------------------------------------------- */

/* Whether a server holds DATA_DIR/.sessiond.lock: 1 held, 0 free, -1 error. */
int ctl_server_running(const char *data_dir);
/* Takes DATA_DIR/.sessiond.lock for this process (so no server starts while
 * sessionctl changes files); *fd to close afterwards. CTL_ERROR when a
 * server holds it, naming what to use instead. */
int ctl_lock_data_dir(const char *data_dir, const char *instead, int *fd, char *err,
		      size_t errlen);

/* ctl_db.c ------------------------------------------------------------ */

/* PATH is a session directory (then PATH/session.db) or a database file.
 * Fails when it does not exist or is not a regular file. */
int ctl_resolve_db(const char *path, char *db, size_t dblen, char *err, size_t errlen);
/* Opens a database file read-only (a live one too: WAL readers never block
 * the server). Refuses a file that is not SQLite, a locked one (after a
 * short wait) and, unless allow_newer, a schema newer than this binary.
 * *version gets PRAGMA user_version. */
int ctl_open_ro(const char *db, int allow_newer, sqlite3 **out, int *version, char *err,
		size_t errlen);
int ctl_table_exists(sqlite3 *db, const char *schema, const char *table);
/* One integer from a query (0 when it returns no row or fails). */
int64_t ctl_scalar(sqlite3 *db, const char *sql);
/* A meta value as JSON (a new reference, JSON null when absent). */
json_t *ctl_meta(sqlite3 *db, const char *key);
/* info: the summary of one database (schema, epoch, seq, counts, sizes,
 * what a backup records). */
int ctl_info(const char *path, json_t **out, char *err, size_t errlen);
/* verify: every check; *problems gets one string per problem found. */
int ctl_verify(const char *path, json_t **problems, char *err, size_t errlen);
/* verify on an open handle (used before installing a copy). */
int ctl_verify_db(sqlite3 *db, int version, json_t *problems, char *err, size_t errlen);
/* list: every session under data_dir. */
int ctl_list(const char *data_dir, json_t **out, char *err, size_t errlen);
/* Applies migrations 1..version to an empty database (version 0: all). */
int ctl_create_schema(sqlite3 *db, int version, char *err, size_t errlen);

/* Lowercase hex SHA-256 of a blob row's bytes, read in pieces (a blob may
 * be larger than memory should hold). */
int ctl_blob_sha256(sqlite3 *db, const char *schema, int64_t rowid, char out[65]);
void ctl_sha256_hex(const void *data, size_t len, char out[65]);

size_t ctl_base64_encode(const unsigned char *in, size_t len, char *out);
/* Returns the decoded length, or -1 when the text is not base64. */
long ctl_base64_decode(const char *in, size_t len, unsigned char *out);

/* ctl_copy.c ---------------------------------------------------------- */

/* backup: a verified copy of path into dest (a file, or a directory to hold
 * NAME-YYYYMMDD-HHMMSS.db). *written gets the final path. */
int ctl_backup(const char *path, const char *dest, char *written, size_t wlen, char *err,
	       size_t errlen);
/* restore, server stopped: verify, move the current database aside,
 * install the copy with a new epoch. *out describes what was done. */
int ctl_restore(const char *session_dir, const char *backup, json_t **out, char *err,
		size_t errlen);
/* delete, server stopped: the whole session directory moves to
 * DATA_DIR/.deleted/NAME-STAMP/. */
int ctl_delete(const char *session_dir, char *moved_to, size_t mlen, char *err,
	       size_t errlen);
/* Removes a temporary file if the process is interrupted while it exists. */
void ctl_tmp_guard(const char *path);

/* ctl_export.c -------------------------------------------------------- */

int ctl_export(const char *path, int with_blobs, FILE *out, char *err, size_t errlen);
int ctl_import(const char *session_dir, const char *file, json_t **out, char *err,
	       size_t errlen);

/* ctl_diff.c ---------------------------------------------------------- */

int ctl_diff(const char *a, const char *b, json_t **out, char *err, size_t errlen);

#endif
