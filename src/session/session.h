/* session.h - the session domain: one session's members, its batch, and
 * every request that changes or reads a session's state.
 *
 * Nothing here knows about sockets or libwebsockets. Replies and events are
 * collected per session during one pass of the event loop and handed to the
 * members' connections by session_flush() after the batch has committed.
 *
 * The domain is split by concern; each file's header says what it holds:
 *   session.c         replies, the batch, dispatch, join and leave, flush
 *   session_nodes.c   node.* requests and the locks
 *   session_collab.c  tasks, chat, presence, session.init, the users list
 *   session_admin.c   admin.* requests and admin.reset
 *   session_saves.c   save orchestration, checkpoints, sizes and stats
 *   session_blobs.c   blob uploads and downloads, their collection
 * What they share privately is in session_int.h. */
#ifndef SESSIOND_SESSION_H
#define SESSIOND_SESSION_H

#include <jansson.h>
#include <stdint.h>

struct backup_job;
struct blob_upload;
struct conn;
struct frame;
struct hello_req;
struct server;
struct store;

#define SEQ_UNSYNCED INT64_MAX
/* Tombstones older than this many seqs are purged before saves; a client
 * whose `since` is older than what was purged gets a full sync. */
#define SESSION_HISTORY_KEEP 100000
/* WAL frames (pages) past which the saver thread is asked for a checkpoint. */
#define SESSION_WAL_CHECKPOINT_FRAMES 2000

struct client {
	struct client *next;
	struct session *session;
	struct conn *conn;
	char *name;
	char *color;
	int admin;
	json_t *presence;            /* last presence data, NULL if none */
	int presence_dirty;
	int64_t sync_seq;            /* events up to this seq are in its sync */
	int resume_delta;
	int64_t resume_since;
	json_t *hello_id;            /* the hello's id, echoed in welcome */
	struct blob_upload *upload;  /* the open blob upload, or NULL */
};

/* What the batch queued, delivered in this order by session_flush. */
enum pending_kind {
	P_REPLY,        /* a frame to conn, in order with its other replies */
	P_EVENT,        /* a frame to every synced member but conn (the sender) */
	P_JOIN,         /* conn's hello committed: welcome and sync, or undo */
	P_CLOSE,        /* close conn with code and text */
	P_KICK,         /* admin.kick of conn's client, once the batch committed */
	P_SAVE,         /* start a save named text (after the commit) */
	P_BLOB,         /* conn's blob.get of hash text: queue the download */
};

/* Who waits for a P_SAVE. */
enum save_wait {
	SAVE_NOBODY,    /* a save nobody answers (a user left) */
	SAVE_REPLY,     /* admin.save: conn gets the result */
	SAVE_RESET,     /* admin.reset: conn gets it, and the session is reset */
	SAVE_RESTORE,   /* admin.restore: conn gets it, and a backup is swapped in
			 * (the P_SAVE's text is then the backup's file name) */
	SAVE_DELETE,    /* DELETE /api/sessions/NAME: the final backup, then the
			 * session moves to DATA_DIR/.deleted/ */
};

struct pending {
	enum pending_kind kind;
	struct conn *conn;           /* REPLY/JOIN/CLOSE/SAVE: target; EVENT: sender (skipped) */
	struct frame *frame;         /* REPLY, EVENT */
	json_t *re;                  /* REPLY, SAVE: the request's id */
	int needs_commit;            /* REPLY/EVENT: only valid if the batch commits */
	int64_t seq;                 /* EVENT: 0 for events without seq */
	int code;                    /* CLOSE: the close code */
	enum save_wait wait;         /* SAVE */
	int self;                    /* KICK: the admin kicks itself (closed after its ok) */
	char *text;                  /* CLOSE reason, SAVE reason */
};

struct save_waiter;

struct session {
	struct session *next;
	struct server *srv;
	char *name;
	char *dir;
	char *db_path;
	struct store *store;
	char epoch[65];
	int64_t seq;
	int64_t history_floor;
	int initialized;
	struct client *clients;
	size_t nclients;
	double idle_since;           /* wall time the last member left (or it opened) */

	/* The batch: one transaction per loop pass. */
	struct pending *pending;
	size_t npending, pcap;
	int64_t batch_seq;
	int batch_initialized;
	char batch_epoch[65];
	int64_t batch_requests;
	int batch_failed;            /* SQLite rolled the batch back: refuse the rest */
	int orphan_locks;            /* a commit failed: check for locks of users gone */
	int64_t batch_start_us;

	/* Saves */
	int64_t saved_seq;           /* seq covered by the last save */
	int64_t running_seq;         /* seq when the running save started */
	int save_running;
	int resetting;               /* admin.reset waits for its backup: no writes */
	int deleted;                 /* moved to .deleted/: no more saves */
	int checkpoint_running;
	int syncs_open;              /* joins streaming from a snapshot */
	int save_again;
	char save_again_reason[96];
	struct save_waiter *waiters;       /* answered when the running save ends */
	struct save_waiter *next_waiters;  /* answered by the follow-up save */
	double last_save_time;
	char last_save_reason[96];
	int64_t last_save_ms;
	char last_backup[96];
	int64_t last_backup_bytes;
};

/* Sizes on disk, as admin.stats, the HTTP API and /metrics report them. */
struct session_sizes {
	int64_t db_bytes, wal_bytes;
	int backups;
	int64_t blobs, blob_bytes;
};

/* Opens (creating it if needed) the session NAME under DATA_DIR, with a new
 * epoch when new_epoch is set. NULL with err set on failure. */
struct session *session_open(struct server *srv, const char *name, int new_epoch,
			     char *err, size_t errlen);
void session_free(struct session *s);

/* A hello that passed the protocol checks (passwords). Returns 0, or -1 after
 * queuing the error and the close itself. */
int session_join(struct session *s, struct conn *c, const struct hello_req *h, int admin,
		 json_t *id);
void session_request(struct session *s, struct client *cl, const char *type,
		     json_t *req, json_t *id);
void session_leave(struct session *s, struct client *cl, const char *reason);
/* Queues a reply to c in order with the session's other replies. f is
 * borrowed. */
void session_reply(struct session *s, struct conn *c, struct frame *f);
/* 1 if the domain handles this request type. */
int session_known_type(const char *type);
/* Commits the open batch and delivers what it produced. */
void session_flush(struct session *s);
/* Releases every lock whose owner is not online. */
int session_release_orphan_locks(struct session *s);

/* Bytes of a binary frame of cl's open upload. */
void session_blob_data(struct session *s, struct client *cl, const void *data, size_t len);
/* 1 when cl (may be NULL) has a blob upload open. */
int session_blob_upload_open(const struct client *cl);

/* Requests a save named reason (coalesced with a running one). */
void session_save(struct session *s, const char *reason);
/* A save whose result done(arg, job) receives when it ends (the admin HTTP
 * API's POST .../save). */
typedef void (*session_save_cb)(void *arg, const struct backup_job *job);
void session_save_notify(struct session *s, session_save_cb done, void *arg);
/* The online restore of backups/NAME for the admin HTTP API: a save
 * (reason restore), then the backup is verified and swapped in with a new
 * epoch and every connection is closed (4205). done(arg, status, body)
 * gets an HTTP status and a JSON body (stolen). Returns 0, or an HTTP
 * status (404 no such backup, 409 a reset or restore runs) with err set
 * when it cannot start; nothing is changed then. */
typedef void (*session_restore_cb)(void *arg, unsigned status, json_t *body);
unsigned session_restore_notify(struct session *s, const char *backup, session_restore_cb done,
				void *arg, char *err, size_t errlen);
/* DELETE /api/sessions/NAME: a final save (reason delete), then every
 * connection is closed (4205) and the session directory moves to
 * DATA_DIR/.deleted/NAME-STAMP/; done gets status and body as above.
 * Returns 0, or 409 with err when a reset or restore runs. */
unsigned session_delete_notify(struct session *s, session_restore_cb done, void *arg,
			       char *err, size_t errlen);
/* The saver finished a save or a checkpoint of this session. Returns
 * SESSION_GONE when that save was a DELETE's final save and the session's
 * directory is in .deleted/ now: the caller (the server, which owns the
 * session table) takes it out of the table; otherwise 0. */
#define SESSION_GONE 1
int session_save_done(struct session *s, struct backup_job *job);
/* Asks the saver for a checkpoint when the WAL has grown. */
void session_checkpoint_if_needed(struct session *s);
/* 1 when something changed since the last save. */
int session_dirty(const struct session *s);
/* Writes presence and trims history; runs before every save. */
void session_prepare_save(struct session *s);
/* Answers every admin.save/admin.reset (and HTTP save) still waiting with
 * `unavailable` (why), without carrying any of them out. */
void session_cancel_waiters(struct session *s, const char *why);
/* Forgets c wherever the session still refers to it (save waiters). */
void session_conn_gone(struct session *s, struct conn *c);
void session_sizes(const struct session *s, struct session_sizes *out);
/* The session's backups, newest first, each with the retention rules that
 * keep it ("kept_by"), as admin.backups and the HTTP API show. */
json_t *session_backups_json(struct session *s);
/* Counts, sizes and the last save, as admin.stats and the HTTP API show. */
json_t *session_stats_json(struct session *s);

#endif
