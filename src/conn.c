/* conn.c - outgoing queue of one connection.
 *
 * Frames are shared by reference (see frame.c); the queue counts their bytes
 * against MAX_CLIENT_QUEUE_BYTES so a client that stops reading is dropped
 * (close 4429 "lagging") instead of growing the server without bound. The
 * sync stream is generated lazily, one frame per write, from a snapshot read
 * transaction (sync.c), so a 100,000-node join neither blocks the loop nor
 * holds the whole scene in memory. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "server_state.h"
#include "sync.h"
#include "util.h"

static uint64_t next_id = 1;

struct hold {
	struct hold *next;
	struct frame *frame;
};

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
	while (c->qlen) {
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
	if (!f && !c->sync) {
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
