/* session.h - the session domain: sessions, their members, and every
 * request that changes or reads a session's state.
 *
 * Nothing here knows about sockets or libwebsockets. Replies and events are
 * collected per session during one pass of the event loop and handed to the
 * members' connections by server_flush() after the batch has committed. */
#ifndef SESSIOND_SESSION_H
#define SESSIOND_SESSION_H

#include <jansson.h>
#include <stdint.h>

#include "metrics.h"

struct config;
struct conn;
struct frame;
struct store;
struct saver;
struct hello_req;

#define SEQ_UNSYNCED INT64_MAX
/* Tombstones older than this many seqs are purged at saves; a client whose
 * `since` is older than what was purged gets a full sync. */
#define SESSION_HISTORY_KEEP 100000
/* WAL frames (pages) past which the saver thread is asked for a checkpoint. */
#define SESSION_WAL_CHECKPOINT_FRAMES 2000

struct server {
	struct config *cfg;
	struct session *sessions;
	size_t nsessions;
	struct conn *conns;          /* every open connection */
	size_t nconns;
	struct conn *closed;         /* closed connections, freed at the next flush */
	struct saver *saver;
	struct metrics metrics;
	int shutting_down;
	int trim_wanted;             /* memory was freed in bulk (syncs finished) */
	double started_at;
	struct authguard *auth_guard; /* failed passwords per address (NULL: none kept) */
	/* The network layer's hook: ask for a writable callback on c. */
	void (*wake)(struct conn *c);
};

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
};

enum pending_kind { P_REPLY, P_EVENT, P_JOIN, P_CLOSE, P_SAVE };

struct pending {
	enum pending_kind kind;
	struct conn *conn;           /* REPLY/JOIN/CLOSE: target; EVENT: sender (skipped) */
	struct frame *frame;
	json_t *re;                  /* REPLY: the request's id */
	int needs_commit;            /* REPLY/EVENT: only valid if the batch commits */
	int64_t seq;                 /* EVENT: 0 for events without seq */
	int code;                    /* CLOSE */
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
	int save_running;
	int resetting;               /* admin.reset waits for its backup: no writes */
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

void server_init(struct server *srv, struct config *cfg);
void server_free(struct server *srv);
/* Opens every session found under DATA_DIR (recovering corrupt ones).
 * Returns -1 when the server must not start (a newer schema). */
int server_open_sessions(struct server *srv);
/* Finds a session, opening or creating it when create is set. */
struct session *server_session(struct server *srv, const char *name, int create,
			       char *err, size_t errlen);
/* Commits every open batch and delivers what it produced. */
void server_flush(struct server *srv);
/* Once a second: auto-saves, history trimming. */
void server_cron(struct server *srv);
/* Closes every client (1001, leave reason shutdown). */
void server_begin_shutdown(struct server *srv);
/* Final save of every session, then checkpoint; runs on the calling thread. */
void server_final_save(struct server *srv);

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
/* Requests a save; waiter (may be NULL) is answered when it is done, and
 * with reset set, the session is reset if the save worked (admin.reset). */
void session_save(struct session *s, const char *reason, struct conn *waiter, json_t *id,
		  int reset);
struct http_pending;
/* A save for the admin HTTP API: hp is answered when it is done. */
void session_save_http(struct session *s, struct http_pending *hp);
/* Counts, sizes and the last save, as admin.stats and the HTTP API show. */
json_t *session_stats_json(struct session *s);
const char *session_client_name(const struct client *cl);
/* 1 if the domain handles this request type. */
int session_known_type(const char *type);
/* Forgets c wherever the session still refers to it (save waiters). */
void session_conn_gone(struct session *s, struct conn *c);
/* A save finished (job is freed). */
struct backup_job;
void server_save_done(struct server *srv, struct backup_job *job);

/* Builds {"type":"error","re":id,"code":code,"message":msg}; id borrowed,
 * may be NULL. */
struct frame *reply_error_frame(json_t *id, const char *code, const char *msg, json_t *extra);

#endif
