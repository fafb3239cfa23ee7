/* session_int.h - what the files of the session domain share and nothing
 * else may use: the request being handled, the pending list, replies, the
 * batch, and the handlers that session.c's dispatch table names. */
#ifndef SESSIOND_SESSION_INT_H
#define SESSIOND_SESSION_INT_H

#include <jansson.h>
#include <stdint.h>

#include "session.h"

struct node_row;
struct sbuf;

static inline json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* One request being handled. */
struct req {
	struct session *s;
	struct client *cl;
	struct conn *conn;
	const char *type;
	json_t *msg;
	json_t *id;
	int answered;
};

/* session.c: the pending list. Each returns the entry it added, which stays
 * valid until the next entry is added. */
struct pending *pending_add(struct session *s, enum pending_kind kind, struct conn *c);
/* A reply frame (stolen) to c; re borrowed. */
struct pending *queue_frame(struct session *s, struct conn *c, struct frame *f, json_t *re,
			    int needs_commit);
/* An event (obj stolen) for every member but `from`; seq 0: no seq. */
struct pending *emit_event(struct session *s, struct conn *from, json_t *obj, int64_t seq);
/* The same with a frame already written (stolen). */
struct pending *emit_event_frame(struct session *s, struct conn *from, struct frame *f,
				 int64_t seq);

/* session.c: replies to the request being handled. */
void reply_err(struct req *r, const char *code, json_t *extra /* stolen */, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
/* Queues {"type":"ok","re":id, ...fields} (fields stolen); requests without
 * an id get no ok. Returns the entry, or NULL when none was queued. */
struct pending *reply_ok(struct req *r, json_t *fields);
/* The same for an ok written as text by envelope_ok_text (b is taken). */
struct pending *reply_ok_sbuf(struct req *r, struct sbuf *b);
/* "unavailable" for storage failures that may pass, else "internal". */
const char *storage_code(int rc);

/* session.c: the batch. */
int batch_begin(struct session *s);
struct client *find_client(struct session *s, const char *name);

/* session.c: the session's database. session_open_db opens (migrates)
 * s->db_path, with a new epoch when new_epoch is set or the file was
 * installed from a backup, and reads seq/epoch/initialized; -1 with err. */
int session_open_db(struct session *s, int new_epoch, char *err, size_t errlen);
void session_close_db(struct session *s);

/* session_nodes.c */
int do_node_create(struct req *r);
int do_node_update(struct req *r);
int do_node_delete(struct req *r);
int do_node_lock(struct req *r);
int do_node_unlock(struct req *r);
int do_node_get(struct req *r);
/* Releases every lock held by user: one owner event each, each its own seq. */
int release_locks(struct session *s, const char *user);
/* A node object (data borrowed). */
json_t *node_json(const struct node_row *n, json_t *data);

/* session_collab.c */
int do_task(struct req *r);
int do_chat_send(struct req *r);
int do_chat_history(struct req *r);
int do_presence(struct req *r);
int do_session_init(struct req *r);
/* Every known user, with online status and live presence. */
json_t *users_json(struct session *s);
/* Writes a client's presence into users.metadata (inside a transaction). */
int flush_presence(struct session *s, struct client *cl);

/* session_admin.c */
int do_admin_save(struct req *r);
int do_admin_backups(struct req *r);
int do_admin_stats(struct req *r);
int do_admin_kick(struct req *r);
int do_admin_reset(struct req *r);
int do_admin_restore(struct req *r);
/* admin.restore once its save is written (job): verify the pinned backup,
 * swap it in, close everyone. The answer goes to admin (id) or done. */
void admin_finish_restore(struct session *s, struct conn *admin, json_t *id,
			  const struct backup_job *job, const char *backup,
			  session_restore_cb done, void *arg);
/* The session's final save (job) is written: close everyone, move the
 * directory to .deleted/. Returns SESSION_GONE when it moved (the server
 * then forgets the session), 0 when the session stays. */
int admin_finish_delete(struct session *s, const struct backup_job *job,
			 session_restore_cb done, void *arg);
/* admin.reset once its backup is written (job): empties the session. */
void admin_finish_reset(struct session *s, struct conn *admin, json_t *id,
			const struct backup_job *job);

/* session_blobs.c */
int do_blob_put(struct req *r);
int do_blob_end(struct req *r);
int do_blob_get(struct req *r);
int do_blob_has(struct req *r);
/* Drops cl's open upload and its parts (in the batch). */
void blob_upload_abort(struct session *s, struct client *cl);
void blob_upload_free(struct client *cl);
/* At open: drops the parts of uploads an earlier run left. */
int session_blobs_open(struct session *s);
/* Deletes unnamed blobs past the grace time; before every save. */
int blob_gc(struct session *s);

/* session_saves.c: a save requested from the batch (P_SAVE); waiter may be
 * NULL (nobody to answer). */
void save_request(struct session *s, const char *reason, struct conn *waiter, json_t *id,
		  enum save_wait wait);
void save_waiters_free(struct session *s);
/* The save before an online restore of backup (pinned already); refuses
 * writes until the restore ends. */
void restore_request(struct session *s, struct conn *waiter, json_t *id, const char *backup,
		     session_restore_cb done, void *arg);
/* The final save before a delete; refuses writes meanwhile. */
void delete_request(struct session *s, session_restore_cb done, void *arg);

#endif
