/* conn.c - outgoing queue of one connection.
 *
 * Frames are shared by reference (see frame.c); the queue counts their bytes
 * against MAX_CLIENT_QUEUE_BYTES so a client that stops reading is dropped
 * (close 4429 "lagging") instead of growing the server without bound. The
 * sync stream is generated lazily, one frame per write, from a snapshot read
 * transaction (sync.c), so a 100,000-node join neither blocks the loop nor
 * holds the whole scene in memory. Downloads (blob.get, chunk.get) work the
 * same way: a marker in the queue, and at the marker one frame per chunk,
 * each read from the database in a read transaction of its own and only
 * once the socket has taken the one before, so a download holds at most one
 * chunk in memory; that chunk counts in the queue's bytes like any other
 * frame. Frames queued behind a download wait for its last byte: the next
 * download is answered after it, as the protocol requires. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "envelope.h"
#include "frame.h"
#include "log.h"
#include "server_state.h"
#include "store.h"
#include "sync.h"
#include "util.h"

static uint64_t next_id = 1;

struct hold {
	struct hold *next;
	struct frame *frame;
};

struct blob_download {
	struct blob_download *next;
	json_t *id;
	char *what;                 /* a blob hash, or "c:" and chunk hashes (chunk.get) */
	char *db_path;
	struct store_reader *rd;
	json_t *chunks;             /* [[hash, size], ...] still to send from idx */
	size_t idx;
	int started, done;
};

/* The queue entry of a download: not a frame that is ever written. */
static struct frame blob_marker;
#define BLOB_MARK (&blob_marker)

static void download_free(struct blob_download *d)
{
	store_reader_close(d->rd);
	json_decref(d->chunks);
	free(d->what);
	json_decref(d->id);
	free(d->db_path);
	free(d);
}

/* The snapshot is released: its session may empty the WAL again. */
static void end_sync(struct conn *c)
{
	sync_close(c->sync);
	c->sync = NULL;
	if (c->sync_ended)
		c->sync_ended(c->sync_ended_arg);
	c->sync_ended = NULL;
	c->srv->trim_wanted = 1;
}

struct conn *conn_new(struct server *srv, const char *session_name, void *net)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->net = net;
	c->id = next_id++;
	snprintf(c->session_name, sizeof(c->session_name), "%s", session_name);
	c->opened_us = c->last_rx_us = c->last_ping_us = util_mono_us();
	c->tokens = (double)srv->cfg->rate_limit;
	c->tokens_us = c->opened_us;
	c->leave_reason = "disconnect";
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	return c;
}

void conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->srv->nconns--;
	while (c->holds) {
		struct hold *h = c->holds;
		c->holds = h->next;
		frame_unref(h->frame);
		free(h);
	}
	while (c->downloads) {
		struct blob_download *d = c->downloads;
		c->downloads = d->next;
		download_free(d);
	}
	frame_unref(c->blob_frame);
	while (c->qlen) {
		if (c->q[c->qhead] != BLOB_MARK)
			frame_unref(c->q[c->qhead]);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
	}
	frame_unref(c->sync_frame);
	if (c->sync)
		end_sync(c);
	free(c->q);
	free(c);
}

static void push(struct conn *c, struct frame *f)
{
	if (c->qlen == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 16;
		struct frame **q = xmalloc(cap * sizeof(*q));
		for (size_t i = 0; i < c->qlen; i++)
			q[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = q;
		c->qhead = 0;
		c->qcap = cap;
	}
	c->q[(c->qhead + c->qlen) % c->qcap] = f;
	c->qlen++;
	if (c->qlen == 1 || f == NULL)
		c->srv->wake(c);
}

void conn_send(struct conn *c, struct frame *f)
{
	if (c->closed || c->close_code)
		return;
	if (c->qbytes + f->len > (size_t)c->srv->cfg->max_client_queue_bytes) {
		log_warning("Connection %llu (user=%s session=%s) is lagging: %zu bytes unsent; "
			    "closing it (4429)", (unsigned long long)c->id,
			    c->user[0] ? c->user : "-", c->session_name,
			    c->qbytes);
		c->srv->metrics.lagging++;
		conn_close_now(c, 4429, "lagging", "lagging");
		return;
	}
	c->qbytes += f->len;
	push(c, frame_ref(f));
}

void conn_start_sync(struct conn *c, struct sync_cursor *cur, void (*ended)(void *arg),
		     void *arg)
{
	c->sync = cur;
	c->sync_ended = ended;
	c->sync_ended_arg = arg;
	c->sync_done = 0;
	c->sync_progress_us = util_mono_us();
	push(c, NULL);
}

void conn_start_blob(struct conn *c, json_t *id, const char *what, const char *db_path)
{
	struct blob_download *d;
	if (c->closed || c->close_code)
		return;
	d = xcalloc(1, sizeof(*d));
	d->id = id ? json_incref(id) : NULL;
	d->what = xstrdup(what);
	d->db_path = xstrdup(db_path);
	if (!c->downloads)
		c->blob_progress_us = util_mono_us();
	if (c->downloads_tail)
		c->downloads_tail->next = d;
	else
		c->downloads = d;
	c->downloads_tail = d;
	push(c, BLOB_MARK);
}

/* The ok of a download: chunk sizes looked up (chunk.get), or the blob's
 * list read; an error frame (and d->done) when something is missing. */
static struct frame *download_ok(struct conn *c, struct blob_download *d)
{
	const char *what = "blob.get", *code = "unavailable";
	char msg[200];
	json_t *o = NULL;
	int64_t size = 0;
	int rc = store_reader_open(d->db_path, &d->rd);

	if (strncmp(d->what, "c:", 2) != 0) {
		if (rc == SQLITE_OK)
			rc = store_reader_blob(d->rd, d->what, &size, &d->chunks);
		if (rc == SQLITE_OK)
			o = json_pack("{ss sI}", "hash", d->what, "size", (json_int_t)size);
		snprintf(msg, sizeof(msg), "blob.get: %s %s", rc == SQLITE_NOTFOUND ?
			 "no blob with hash" : "cannot read blob", d->what);
	} else {
		json_t *hashes = json_array(), *sizes = json_array();
		what = "chunk.get";
		d->chunks = json_array();
		for (const char *h = d->what + 2; rc == SQLITE_OK && *h; h += 64) {
			char one[65];
			memcpy(one, h, 64);
			one[64] = 0;
			rc = store_reader_chunk_size(d->rd, one, &size);
			if (rc == SQLITE_OK) {
				json_array_append_new(d->chunks, json_pack("[sI]", one, (json_int_t)size));
				json_array_append_new(hashes, json_string(one));
				json_array_append_new(sizes, json_integer(size));
			}
			snprintf(msg, sizeof(msg), "chunk.get: %s %s", rc == SQLITE_NOTFOUND ?
				 "no chunk with hash" : "cannot read chunk", one);
		}
		o = json_pack("{so so}", "hashes", hashes, "sizes", sizes);
	}
	if (rc != SQLITE_OK) {
		if (rc == SQLITE_NOTFOUND)
			code = "not_found";
		else
			log_error("Cannot start %s for connection %llu: %s", what,
				  (unsigned long long)c->id, sqlite3_errstr(rc));
		json_decref(o);
		d->done = 1;
		return envelope_error(d->id, code, msg, NULL);
	}
	struct frame *f = envelope_ok(d->id, o);
	json_decref(o);
	f->type = MT_OK;
	d->done = json_array_size(d->chunks) == 0;
	return f;
}

struct fill {
	struct frame *f;
	size_t want;
};

static void fill_frame(void *arg, const void *data, size_t len)
{
	struct fill *x = arg;
	if (len != x->want)
		return; /* not the size its list says: the caller sees f == NULL */
	x->f = frame_new_binary(len);
	memcpy(frame_data(x->f), data, len);
}

/* The next frame of the download at the head: its ok (or error), then one
 * frame per chunk, each read in a read transaction of its own. Sets d->done
 * with the last one. NULL: the chunk cannot be read (the connection closes). */
static struct frame *blob_next(struct conn *c)
{
	struct blob_download *d = c->downloads;
	json_t *e;
	struct fill x = {NULL, 0};
	int rc;

	if (!d->started) {
		d->started = 1;
		return download_ok(c, d);
	}
	e = json_array_get(d->chunks, d->idx);
	x.want = (size_t)json_integer_value(json_array_get(e, 1));
	rc = store_reader_chunk(d->rd, json_string_value(json_array_get(e, 0)), fill_frame, &x);
	if (rc != SQLITE_OK || !x.f) {
		log_error("Cannot read chunk %s for connection %llu: %s",
			  json_string_value(json_array_get(e, 0)), (unsigned long long)c->id,
			  rc == SQLITE_OK ? "wrong size" : rc == SQLITE_NOTFOUND ?
			  "collected meanwhile" : sqlite3_errstr(rc));
		frame_unref(x.f);
		return NULL;
	}
	d->idx++;
	d->done = d->idx == json_array_size(d->chunks);
	return x.f;
}

void conn_hold(struct conn *c)
{
	push(c, NULL);
}

void conn_release_hold(struct conn *c, struct frame *f)
{
	struct hold *h = xcalloc(1, sizeof(*h));
	h->frame = f;
	if (c->holds_tail)
		c->holds_tail->next = h;
	else
		c->holds = h;
	c->holds_tail = h;
	c->srv->wake(c);
}

void conn_close(struct conn *c, int code, const char *reason)
{
	if (c->closed || c->close_code)
		return;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	c->srv->wake(c);
}

void conn_close_now(struct conn *c, int code, const char *reason, const char *leave_reason)
{
	if (c->closed)
		return;
	if (leave_reason)
		c->leave_reason = leave_reason;
	c->close_code = code;
	c->close_now = 1;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	c->srv->wake(c);
}

struct frame *conn_peek(struct conn *c)
{
	struct frame *f;
	if (c->close_now || !c->qlen)
		return NULL;
	f = c->q[c->qhead];
	if (f == BLOB_MARK) {
		if (c->blob_frame)
			return c->blob_frame;
		if (!(c->blob_frame = blob_next(c))) {
			conn_close_now(c, 1011, "blob read failed", NULL);
			return NULL;
		}
		/* Download bytes count in the queue like any other frame. */
		if (c->qbytes && c->qbytes + c->blob_frame->len >
				 (size_t)c->srv->cfg->max_client_queue_bytes) {
			log_warning("Connection %llu (user=%s session=%s) is lagging: %zu bytes "
				    "unsent and a download's next %zu; closing it (4429)",
				    (unsigned long long)c->id, c->user[0] ? c->user : "-",
				    c->session_name, c->qbytes, c->blob_frame->len);
			c->srv->metrics.lagging++;
			conn_close_now(c, 4429, "lagging", "lagging");
			return NULL;
		}
		c->qbytes += c->blob_frame->len;
		return c->blob_frame;
	}
	if (f)
		return f;
	if (!c->sync)
		return c->holds ? c->holds->frame : NULL;
	/* At the sync marker: produce the next sync frame. */
	if (!c->sync_frame && !c->sync_done) {
		c->sync_frame = sync_next(c->sync, &c->sync_done);
		if (!c->sync_frame) {
			conn_close_now(c, 1011, "sync failed", NULL);
			return NULL;
		}
	}
	return c->sync_frame;
}

void conn_pop(struct conn *c)
{
	struct frame *f = c->q[c->qhead];
	if (f == BLOB_MARK) {
		struct blob_download *d = c->downloads;
		c->qbytes -= c->blob_frame->len;
		frame_unref(c->blob_frame);
		c->blob_frame = NULL;
		c->blob_progress_us = util_mono_us();
		if (!d->done)
			return;
		c->downloads = d->next;
		if (!c->downloads)
			c->downloads_tail = NULL;
		download_free(d);
	} else if (!f && !c->sync) {
		struct hold *h = c->holds;
		c->holds = h->next;
		if (!c->holds)
			c->holds_tail = NULL;
		frame_unref(h->frame);
		free(h);
	} else if (!f) {
		frame_unref(c->sync_frame);
		c->sync_frame = NULL;
		c->sync_progress_us = util_mono_us();
		if (!c->sync_done)
			return;
		end_sync(c);
	} else {
		c->qbytes -= f->len;
		frame_unref(f);
	}
	c->qhead = (c->qhead + 1) % c->qcap;
	c->qlen--;
}

int conn_has_output(struct conn *c) { return c->qlen > 0 && !c->close_now; }

int conn_should_close(struct conn *c)
{
	return c->close_code && (c->close_now || c->qlen == 0);
}
