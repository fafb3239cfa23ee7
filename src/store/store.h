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

/* Blobs (protocol section 11). An upload's bytes are kept as parts (rows of
 * up.blob_parts in the attached uploads database, one per call of
 * store_blob_part_add) until store_blob_commit turns them into one row of
 * `blobs`; nothing in `blobs` shows an upload
 * before that. Blobs are read back with a reader, a bounded amount at a
 * time: no function here holds a whole blob in memory. */
#define STORE_BLOB_CHUNK (1024 * 1024)
/* The hashes a live node names, in order, as a new array. */
int store_node_get_blobs(struct store *s, const char *uuid, json_t **out);
int store_node_set_blobs(struct store *s, const char *uuid, json_t *hashes);
/* SQLITE_OK (size set when not NULL) or SQLITE_NOTFOUND. */
int store_blob_has(struct store *s, const char *hash, int64_t *size);
int store_blob_part_add(struct store *s, int64_t upload, const void *data, size_t len);
/* Forgets an upload's parts (a failed or abandoned upload). */
int store_blob_parts_drop(struct store *s, int64_t upload);
/* Forgets every upload's parts; *dropped (may be NULL) counts the uploads,
 * with those an earlier run left in the uploads file (dropped at open). */
int store_blob_parts_clear(struct store *s, int64_t *dropped);
/* Makes the parts of upload the blob `hash` of `size` bytes (copied with
 * incremental blob I/O), then drops the parts. SQLITE_CONSTRAINT: the blob
 * exists already (parts dropped, nothing changed); SQLITE_MISMATCH: the
 * parts do not hold exactly size bytes (parts dropped, no blob). */
int store_blob_commit(struct store *s, int64_t upload, const char *hash, int64_t size,
		      const char *user, double now);
/* How many blobs, and their bytes. */
int store_blob_totals(struct store *s, int64_t *count, int64_t *bytes);
/* Every blob as [{"hash","size","created_at","created_by"}], oldest first. */
int store_blob_list(struct store *s, json_t **out);
/* Deletes the blobs no node names that were uploaded at or before `before`;
 * *n and *bytes say how many and how large. */
int store_blob_gc(struct store *s, double before, int64_t *n, int64_t *bytes);

struct store_blob_reader;
/* Opens the blob `hash` for reading: on its own read-only connection to
 * db_path (a read transaction held until close, so the blob stays as it was
 * even if it is collected meanwhile) when s is NULL, else on s's
 * connection. SQLITE_NOTFOUND when there is no such blob. */
int store_blob_reader_open(const char *db_path, struct store *s, const char *hash,
			   struct store_blob_reader **out, int64_t *size);
/* Reads n bytes at offset (within the blob). */
int store_blob_reader_read(struct store_blob_reader *r, void *buf, int n, int64_t offset);
void store_blob_reader_close(struct store_blob_reader *r);

#endif
