/* conn.h - one client connection as the layers above the network see it:
 * its protocol state and its queue of outgoing frames.
 *
 * The network layer (net.c) creates a conn per WebSocket, feeds it frames
 * through protocol.c and, when the socket is writable, drains it with
 * conn_peek()/conn_pop(). Everything else only queues: conn_send() and
 * conn_close() never touch a socket. */
#ifndef SESSIOND_CONN_H
#define SESSIOND_CONN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct frame;
struct server;
struct session;
struct client;
struct sync_cursor;

struct hold;
struct blob_download;

struct conn {
	struct conn *prev, *next;   /* the server's list of connections */
	struct server *srv;
	void *net;                  /* the network layer's handle */
	uint64_t id;
	char peer[48];              /* client IP address ("" when unknown) */

	/* Outgoing queue: a ring of frame references. A NULL entry marks where
	 * the sync stream goes: frames queued behind it wait until the sync
	 * cursor has produced its last frame ("synced"). */
	struct frame **q;
	size_t qhead, qlen, qcap;
	size_t qbytes;
	struct sync_cursor *sync;
	void (*sync_ended)(void *arg); /* told when the snapshot is released */
	void *sync_ended_arg;
	struct frame *sync_frame;   /* produced, not yet written */
	int sync_done;
	int64_t sync_progress_us;   /* last sync frame written (or sync start) */
	/* Other NULL entries are holds: a reply that comes later (admin.save)
	 * keeps its place in order. Answers arrive in order, in this FIFO. */
	struct hold *holds, *holds_tail;
	/* Blob downloads in the order of their blob.get; each has a marker in
	 * the queue where its ok and bytes go (frames behind it wait). */
	struct blob_download *downloads, *downloads_tail;
	struct frame *blob_frame;   /* produced, not yet written */
	int64_t blob_progress_us;   /* last blob frame written (or first blob.get) */

	/* Close requested: code and reason sent in the close frame. close_now
	 * drops what is still queued (lagging, timeout). */
	int close_code;
	char close_reason[64];
	int close_now;
	int close_armed;            /* the network layer's backstop timer is set */
	int closed;                 /* the socket is gone; freed at the next flush */

	/* Protocol state */
	char session_name[65];
	struct session *session;    /* set by a successful hello */
	struct client *client;
	char user[65];              /* the hello's user, for the log */
	int hello_seen;
	int rx_blob;                /* the binary frame being read feeds the upload */
	int rx_hold;                /* CONN_RX_* bits: the socket is not read while set */
	const char *leave_reason;   /* why the client leaves when the socket closes */
	int64_t opened_us, last_rx_us, last_ping_us;
	double tokens;              /* rate limit bucket */
	int64_t tokens_us;
	struct conn *next_closed;
};

/* Why a connection's socket is not read (conn.rx_hold; srv->rx_flow applies it). */
#define CONN_RX_BUDGET 1            /* its upload wrote this pass's share of chunks */
#define CONN_RX_VERIFY 2            /* its blob.end waits for the whole hash */

struct conn *conn_new(struct server *srv, const char *session_name, void *net);
void conn_free(struct conn *c);
/* Queues f for sending (takes a new reference; the caller keeps its own). */
void conn_send(struct conn *c, struct frame *f);
/* Queues the sync stream: frames sent after this wait for it. ended(arg)
 * is called once the cursor is closed (the snapshot released). */
void conn_start_sync(struct conn *c, struct sync_cursor *cur, void (*ended)(void *arg),
		     void *arg);
/* Reserves the place of a reply that comes later (conn_release_hold). */
void conn_hold(struct conn *c);
/* Fills the oldest hold with f (stolen). */
void conn_release_hold(struct conn *c, struct frame *f);
/* Queues a download (id borrowed): `what` is a blob hash (blob.get: its
 * ok, then its bytes as one binary frame per chunk) or "c:" followed by
 * chunk hashes (chunk.get: its ok, then one binary frame per chunk), read a
 * chunk at a time from db_path. */
void conn_start_blob(struct conn *c, json_t *id, const char *what, const char *db_path);
/* Closes after everything queued so far is written. */
void conn_close(struct conn *c, int code, const char *reason);
/* Closes without writing what is still queued. */
void conn_close_now(struct conn *c, int code, const char *reason, const char *leave_reason);
/* The next frame to write, or NULL when nothing is ready. */
struct frame *conn_peek(struct conn *c);
void conn_pop(struct conn *c);
int conn_has_output(struct conn *c);
/* 1 when every queued frame is written and a close was requested. */
int conn_should_close(struct conn *c);

#endif
