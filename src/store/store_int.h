/* store_int.h - what store.c and store_blobs.c, the two files of the store
 * module, share and nothing else may use: the prepared statements (their
 * SQL is the table in store.c), the connection, and store.c's helpers. */
#ifndef SESSIOND_STORE_INT_H
#define SESSIOND_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "store.h"

enum stmt_id {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
	ST_META_GET, ST_META_SET,
	ST_NODE_GET, ST_NODE_PEEK, ST_NODE_CHANGE, ST_NODE_OWNER, ST_NODE_DEPS, ST_NODE_INSERT, ST_NODE_UPDATE, ST_NODE_DEPS_DEL,
	ST_NODE_DEPS_ADD, ST_NODE_TOMB, ST_NODES_OWNED,
	ST_TASK_INSERT, ST_TASK_GET, ST_TASK_UPDATE, ST_TASK_TOMB,
	ST_CHAT_INSERT, ST_CHAT_HISTORY, ST_CHAT_TRIM,
	ST_USER_TOUCH, ST_USER_META, ST_USERS, ST_USER_GET,
	ST_NODE_BLOBS, ST_NODE_BLOBS_DEL, ST_NODE_BLOBS_ADD,
	ST_COUNT
};

/* store_heads.c: the heads of live nodes, a chained hash table. */
struct head_entry;
struct store_heads {
	struct head_entry **buckets;
	size_t nbuckets; /* a power of two, or 0 */
	size_t n;
};

struct store {
	sqlite3 *db;
	struct store_heads heads;
	sqlite3_stmt *stmts[ST_COUNT];
	int in_txn;
	int wal_frames;     /* frames in the WAL after the last commit */
	sqlite3_stmt *bstmts[16]; /* store_blobs.c's own statements */
};

/* store.c: prepared once, lazily (NULL if it cannot be prepared). */
sqlite3_stmt *store_i_stmt(struct store *s, enum stmt_id id);
/* Runs a statement that returns no rows; resets it whatever happens. */
int store_i_run(sqlite3_stmt *st);
/* The first column of every row of statement id (one text parameter,
 * key), as a new array of strings. */
int store_i_strings(struct store *s, enum stmt_id id, const char *key, json_t **out);
/* Replaces a node's ordered list (deps, blobs): del_id deletes by uuid,
 * add_id inserts (uuid, position, value) for each string of items. */
int store_i_set_list(struct store *s, enum stmt_id del_id, enum stmt_id add_id,
		     const char *uuid, json_t *items);
void store_i_finish(sqlite3_stmt *st);
int store_i_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* The one integer a query returns. */
int store_i_count(sqlite3 *db, const char *sql, int64_t *out);

/* store_blobs.c: finalizes its statements (at close). */
void store_i_blobs_close(struct store *s);
/* store_blobs.c: migration 0005's C part: cuts each row of blobs_v11 into
 * chunks, then drops that table (inside the migration's transaction). */
int store_i_migrate_chunks(sqlite3 *db, char *err, size_t errlen);

/* store_heads.c: forgets one node's head, or all of them (after anything
 * SQLite may have undone). */
void store_i_heads_drop(struct store *s, const char *uuid);
void store_i_heads_clear(struct store *s);
void store_i_heads_free(struct store *s);

/* store_patch.c: registers merge_patch(target, patch) on db. */
int store_i_functions(sqlite3 *db);

#endif
