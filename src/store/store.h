/* store.h - one session's SQLite database: schema migrations, the batch
 * transaction, and the rows of the scene graph, tasks, chat and users.
 *
 * Functions return SQLite result codes: SQLITE_OK, SQLITE_NOTFOUND when the
 * row does not exist, SQLITE_CONSTRAINT when it already does, anything else is
 * a storage failure (SQLITE_FULL, SQLITE_IOERR...). Strings in rows are
 * malloc'd copies; free them with the matching *_row_free. */
#ifndef SESSIOND_STORE_H
#define SESSIOND_STORE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

struct migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct migration store_migrations[];
extern const int store_migration_count;
/* The part of migration `version` written in C, run right after its SQL in
 * the same transaction (0005 cuts 1.1 blobs into chunks); SQLITE_OK for a
 * migration that has none. */
int store_migration_finish(sqlite3 *db, int version, char *err, size_t errlen);

struct store;

struct node_row {
	char *uuid;
	char *kind;
	char *data;          /* JSON object text; NULL for a tombstone */
	char *owner;         /* NULL: common */
	int64_t version;
	int64_t seq;
	char *updated_by;
	double updated_at;
	int deleted;
	json_t *deps;        /* array of strings, owned; NULL if not loaded */
	json_t *blobs;       /* array of blob hashes, owned; NULL if not loaded */
};

struct task_row {
	int64_t id;
	char *title;
	char *description;
	char *status;
	char *assignee;      /* NULL: nobody */
	char *node;          /* NULL: no node */
	char *created_by;
	double created_at;
	double updated_at;
	int64_t seq;
	int deleted;
};

struct store_counts {
	int64_t nodes, tasks, chat, users;
	int64_t blobs, blob_bytes;
	int64_t chunks, chunk_bytes;
};

/* Opens (creating if needed) and migrates. sync_full selects
 * synchronous=FULL instead of NORMAL. path ":memory:" works for tests. */
int store_open(const char *path, int sync_full, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);
/* Applies every migration newer than the database's user_version, each in
 * its own transaction. A database newer than this binary is refused. */
int store_migrate(sqlite3 *db, char *err, size_t errlen);
/* PRAGMA quick_check (full=0) or integrity_check (full=1) on any handle. */
int store_check_db(sqlite3 *db, int full, char *err, size_t errlen);

int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
int store_in_transaction(struct store *s);
/* 0 when SQLite rolled the whole transaction back by itself (it may, on a
 * full disk or an I/O error): the batch is lost. */
int store_txn_alive(struct store *s);
/* Frames in the WAL after the last commit (0 after a checkpoint is noted). */
int store_wal_frames(struct store *s);
void store_wal_checkpointed(struct store *s);
int store_savepoint(struct store *s);
int store_release(struct store *s);
void store_rollback_to(struct store *s);

int store_meta_get_int(struct store *s, const char *key, int64_t *out);
int store_meta_get_text(struct store *s, const char *key, char **out);
int store_meta_set_int(struct store *s, const char *key, int64_t v);
int store_meta_set_text(struct store *s, const char *key, const char *v);

int store_node_get(struct store *s, const char *uuid, struct node_row *out);

/* What a change of a live node checks, answered from memory (store_heads.c
 * keeps it exact under every write of this store). Owned by the store:
 * valid until the next call that writes a node. */
struct node_head {
	const char *uuid;
	int64_t rowid;
	char *owner;         /* NULL: common */
	int64_t version;
	int64_t seq;
};
/* The head of live node uuid; SQLITE_NOTFOUND for none or a tombstone. */
int store_node_head(struct store *s, const char *uuid, struct node_head **out);
/* One change of the node of head h (from store_node_head). data (a JSON
 * object's text, data_len bytes) replaces the stored data, NULL keeps it;
 * patch is then merged into it as an RFC 7386 merge patch. kind NULL keeps
 * the kind; the owner is left alone. Updates h. */
struct node_change {
	const char *kind;
	const char *data;
	size_t data_len;
	const char *patch;
	size_t patch_len;
	int64_t version;
	int64_t seq;
	const char *updated_by;
	double updated_at;
};
int store_node_change(struct store *s, struct node_head *h, const struct node_change *c);
/* Sets the owner (NULL: common) and seq of the node of head h; updates h. */
int store_node_set_owner(struct store *s, struct node_head *h, const char *owner,
			 int64_t seq);
/* RFC 7386: the object text target (NULL: {}) merged with the object text
 * patch, appended to out as minified JSON text; -1 if either is malformed
 * (store_patch.c; node changes apply it as the SQL function merge_patch). */
struct sbuf;
int store_merge_patch(const char *target, size_t tn, const char *patch, size_t pn,
		      struct sbuf *out);
/* Heads held in memory (for tests and stats). */
size_t store_heads_count(struct store *s);
int store_node_get_deps(struct store *s, const char *uuid, json_t **out);
/* Inserts a new node, or revives a tombstone of the same uuid. */
int store_node_insert(struct store *s, const struct node_row *n);
/* Writes kind, data, owner, version, seq, updated_by, updated_at. n->data
 * NULL keeps the stored data; patch (JSON text or NULL) is then merged into
 * it as an RFC 7386 merge patch. */
int store_node_update(struct store *s, const struct node_row *n, const char *patch);
int store_node_set_deps(struct store *s, const char *uuid, json_t *deps);
int store_node_tombstone(struct store *s, const char *uuid, int64_t seq,
			 const char *user, double ts);
/* The uuids of every live node owned by user, as a new array. */
int store_nodes_owned_by(struct store *s, const char *user, json_t **out);
void node_row_free(struct node_row *n);

int store_task_insert(struct store *s, struct task_row *t); /* sets t->id */
int store_task_get(struct store *s, int64_t id, struct task_row *out);
int store_task_update(struct store *s, const struct task_row *t);
int store_task_tombstone(struct store *s, int64_t id, int64_t seq, double ts);
void task_row_free(struct task_row *t);

int store_chat_insert(struct store *s, const char *user, const char *text, double ts,
		      int64_t seq, int64_t *id);
/* Messages with id < before (0: newest), at most limit, oldest first. */
int store_chat_history(struct store *s, int64_t before, int64_t limit, json_t **out);
/* Keeps the newest `keep` messages. */
int store_chat_trim(struct store *s, int64_t keep);

int store_user_touch(struct store *s, const char *name, const char *role,
		     const char *color, double now);
int store_user_set_metadata(struct store *s, const char *name, const char *metadata,
			    double last_seen);
/* Every known user as an array of objects (without "online"). */
int store_users(struct store *s, json_t **out);
/* One user as in store_users (a new reference in *out). */
int store_user_get(struct store *s, const char *name, json_t **out);
int store_counts(struct store *s, struct store_counts *out);
/* The same on any handle (a backup being verified). */
int store_db_counts(sqlite3 *db, struct store_counts *out);
/* The distinct owners of live nodes, as a new array of strings. */
int store_lock_owners(struct store *s, json_t **out);
/* Removes tombstones with seq <= upto. */
int store_purge_tombstones(struct store *s, int64_t upto);
/* Empties nodes, tasks and chat (admin reset). */
int store_clear_content(struct store *s);

/* Blobs (protocol 1.2, section 11) as content-addressed chunks: `chunks`
 * (one row per distinct piece of 1..STORE_CHUNK_MAX bytes), `blobs` (one
 * row per complete blob, no bytes) and `blob_chunks` (a blob's chunks in
 * order). No function here holds more than one chunk in memory. */
#define STORE_CHUNK_MAX (1024 * 1024)
#define STORE_HASH_HEX 65   /* 64 lowercase hex digits and the terminator */
/* Lowercase hex SHA-256 of data. */
void store_sha256_hex(const void *data, size_t len, char out[STORE_HASH_HEX]);
/* Called with bytes that are valid during the call only. */
typedef void (*store_bytes_fn)(void *arg, const void *data, size_t len);
/* The hashes a live node names, in order, as a new array. */
int store_node_get_blobs(struct store *s, const char *uuid, json_t **out);
/* Replaces them; the blobs the node named before get touched_at = now. */
int store_node_set_blobs(struct store *s, const char *uuid, json_t *hashes);
/* SQLITE_OK (size set when not NULL) or SQLITE_NOTFOUND. */
int store_blob_has(struct store *s, const char *hash, int64_t *size);
int store_chunk_has(struct store *s, const char *hash, int64_t *size);
/* Writes a chunk unless it is held already (its hash is trusted: the caller
 * checked it). len 1..STORE_CHUNK_MAX. */
int store_chunk_put(struct store *s, const char *hash, const void *data, size_t len, double now);
/* fn(arg, bytes) with chunk hash's bytes; SQLITE_NOTFOUND when absent. */
int store_chunk_read(struct store *s, const char *hash, store_bytes_fn fn, void *arg);
/* Moves blob hash's collection clock (touched_at) to now if later. */
int store_blob_touch(struct store *s, const char *hash, double now);
/* Makes blob hash of `size` bytes from its n chunks (held already, in
 * order). SQLITE_CONSTRAINT: the blob exists already (nothing changed);
 * SQLITE_MISMATCH: a chunk is not held (roll back to a savepoint). */
int store_blob_insert(struct store *s, const char *hash, int64_t size, const char *user,
		      double now, const char *const *chunks, int n);
/* A blob's size and its chunks as a new array [[hash, size], ...];
 * SQLITE_NOTFOUND when there is no such blob. */
int store_blob_chunks(struct store *s, const char *hash, int64_t *size, json_t **out);
/* How many blobs (chunks), and their bytes (the distinct chunks' sizes). */
int store_blob_totals(struct store *s, int64_t *count, int64_t *bytes);
int store_chunk_totals(struct store *s, int64_t *count, int64_t *bytes);
/* Every blob as [{"hash","size","created_at","created_by"}], oldest first. */
int store_blob_list(struct store *s, json_t **out);

/* Collection in bounded steps: a zeroed struct store_gc starts a round;
 * each store_gc_step examines at most `rows` rows (blobs first, then
 * chunks) and deletes the blobs no node names whose touched_at <= before,
 * then the chunks no blob contains created at or before `before` for which
 * keep(arg, hash) (may be NULL) is 0. done is set at the end of the round. */
struct store_gc {
	int64_t blob_cursor, chunk_cursor;
	int blobs_done, done;
	int64_t blobs, blob_bytes, chunks, chunk_bytes;   /* deleted so far */
};
typedef int (*store_gc_keep_fn)(void *arg, const char *chunk);
int store_gc_step(struct store *s, struct store_gc *g, double before, int rows,
		  store_gc_keep_fn keep, void *arg);

/* A download's reader: a read-only connection of its own to db_path,
 * autocommit, so each call is its own short read transaction. */
struct store_reader;
int store_reader_open(const char *db_path, struct store_reader **out);
/* Blob hash's size and chunk list (new array [[hash, size], ...]);
 * SQLITE_NOTFOUND when there is no such blob. */
int store_reader_blob(struct store_reader *r, const char *hash, int64_t *size, json_t **out);
int store_reader_chunk_size(struct store_reader *r, const char *hash, int64_t *size);
/* fn(arg, bytes) with one chunk's bytes; SQLITE_NOTFOUND when absent. */
int store_reader_chunk(struct store_reader *r, const char *hash, store_bytes_fn fn, void *arg);
void store_reader_close(struct store_reader *r);

#endif
