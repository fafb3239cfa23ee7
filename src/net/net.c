/* net.c - the network layer (libwebsockets 4.1).
 *
 * This is the only file that includes libwebsockets.h. It owns the event
 * loop and turns socket events into calls to protocol.c, and queued frames
 * (conn.c) into lws_write()s.
 *
 * The loop (Redis' "before sleep" pattern):
 *     lws_service()      read whatever is ready: frames -> protocol -> domain
 *     server_flush()     commit each session's batch, queue replies/events
 *     saver results      finish saves, answer admin.save
 * so all requests read in one pass share one COMMIT, and nothing is sent
 * before its change is durable.
 *
 * Writing: only from LWS_CALLBACK_SERVER_WRITEABLE, as many queued frames as
 * the socket takes (lws_send_pipe_choked), then ask again if more remain.
 * Timers: one lws_sul "cron" a second drives liveness (pings, 4408) and
 * auto-saves. The saver thread wakes the loop with lws_cancel_service().
 *
 * Hostile peers (PROTOCOL.md 1): a request with a foreign Origin is refused
 * (403) before anything else looks at it; until its hello succeeds a
 * connection may send at most PRE_HELLO_MAX_BYTES in one message, and a
 * message's buffer grows to what it holds (doubling, capped at the limit),
 * never past the limit; every incoming fragment counts as activity, so a
 * slow upload is not taken for silence. The listener binds exactly the
 * address listener.c resolved, and is checked to have done so. A connection
 * that is not a WebSocket and not waiting for an answer (silent, half-sent,
 * idle keep-alive) is tracked by connguard.c from its accept: past
 * MAX_IDLE_PER_ADDRESS or MAX_IDLE_CONNECTIONS the oldest such one is
 * closed, so sockets held open without a request cannot use up the file
 * descriptors /healthz and real clients need. */
#include <libwebsockets.h>
#include <signal.h>
#include <string.h>

#include "authguard.h"
#include "config.h"
#include "conn.h"
#include "connguard.h"
#include "frame.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "origin.h"
#include "protocol.h"
#include "saver.h"
#include "server.h"
#include "util.h"
#include "validate.h"
#include "web.h"

_Static_assert(LWS_PRE <= FRAME_PRE, "FRAME_PRE must hold the WebSocket header");

/* Largest message before a successful hello (PROTOCOL.md 1). */
#define PRE_HELLO_MAX_BYTES (64 * 1024)

struct pss {
	struct conn *conn;          /* WebSocket: the connection */
	struct sbuf rx;             /* WebSocket: message being reassembled */
	int rx_binary;              /* binary: passed on piece by piece instead */
	size_t rx_total;            /* bytes of the message so far */
	int ping_pending;
	int close_sent;             /* our close frame is out: wait for the peer's */
	struct frame *body;         /* HTTP: response body to write */
	struct http_pending *pending; /* HTTP: reply that waits (admin API) */
	struct http_req *req;       /* HTTP: a request waiting for its body */
	int head;                   /* HTTP: a HEAD request: headers only */
	int close_after;            /* HTTP: close once the answer is out */
};

/* A POST with a body: what http_handle_body needs once it is read. */
struct http_req {
	char path[512];
	char *auth;                 /* the Authorization header, NULL if none */
	char peer[48];
	struct sbuf body;
	int too_large;
};

static void http_req_free(struct pss *pss)
{
	if (pss && pss->req) {
		sbuf_free(&pss->req->body);
		free(pss->req->auth);
		free(pss->req);
		pss->req = NULL;
	}
}

static int http_dispatch(struct lws *wsi, struct pss *pss, const char *method,
			 const char *path, const char *auth, const char *peer, const char *body,
			 size_t len);

static struct lws_context *context;
static struct server *server;
static int serving_tls;
static volatile sig_atomic_t stop_requested;
static lws_sorted_usec_list_t cron_sul;
static struct connguard *guard;

/* A new connection: within the idle caps, the oldest idle one goes. */
static void guard_accept(struct lws *wsi)
{
	char peer[48] = "";
	const char *why = "";
	struct lws *victim;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	victim = connguard_add(guard, wsi, peer, util_mono_us(), &why);
	if (!victim)
		return;
	server->metrics.idle_dropped++;
	log_debug("A connection from %s is past MAX_IDLE_%s: %s", peer,
		  strcmp(why, "total") == 0 ? "CONNECTIONS" : "PER_ADDRESS", victim == wsi ?
		  "closed it (every other one waits for an answer)" : "closed the oldest idle one");
	/* Another connection is closed at once (its descriptor is what the
	 * new one needs); the one being accepted only once this returns. */
	lws_set_timeout(victim, PENDING_TIMEOUT_USER_OK,
			victim == wsi ? LWS_TO_KILL_ASYNC : LWS_TO_KILL_SYNC);
}

static void wake(struct conn *c)
{
	if (!c->net)
		return;
	if (c->close_code && !c->close_armed) {
		/* A close waits for the socket to be writable (the close frame,
		 * and queued frames first unless close_now). A peer that reads
		 * nothing never makes it writable: drop it after a grace time. */
		c->close_armed = 1;
		lws_set_timeout(c->net, PENDING_TIMEOUT_CLOSE_SEND, c->close_now ? 2 : 10);
	}
	lws_callback_on_writable(c->net);
}

/* Session name from a request path "/s/NAME"; NULL if the path is not
 * that shape. Sets *bad when it is that shape but the name is invalid. */
static const char *session_from_path(const char *path, int *bad)
{
	*bad = 0;
	if (strncmp(path, "/s/", 3) != 0)
		return NULL;
	if (!validate_session_name(path + 3)) {
		*bad = 1;
		return NULL;
	}
	return path + 3;
}

/* Adds the "name: value\n" lines of an http_response's headers. */
static int add_header_lines(struct lws *wsi, const char *lines, unsigned char **p,
			    unsigned char *end)
{
	char name[64];
	const char *colon, *eol;

	for (; *lines; lines = eol + 1) {
		colon = strchr(lines, ':');
		eol = strchr(lines, '\n');
		if (!colon || !eol || colon + 1 >= eol || colon[1] != ' ' ||
		    (size_t)(colon - lines) + 2 > sizeof(name))
			return -1;
		memcpy(name, lines, (size_t)(colon - lines) + 1);
		name[colon - lines + 1] = 0;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
						(const unsigned char *)colon + 2,
						(int)(eol - colon - 2), p, end))
			return -1;
	}
	return 0;
}

static int http_send(struct lws *wsi, struct pss *pss, unsigned status, const char *ctype,
		     const char *extra_header, const char *lines, struct frame *body)
{
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start,
		      *end = buf + sizeof(buf) - 1;

	if (lws_add_http_common_headers(wsi, status, ctype, body->len, &p, end))
		goto fail;
	if (extra_header && lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
		(const unsigned char *)extra_header, (int)strlen(extra_header), &p, end))
		goto fail;
	if (add_header_lines(wsi, lines, &p, end))
		goto fail;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		goto fail;
	pss->body = body; /* for HEAD: only its length was sent */
	lws_callback_on_writable(wsi);
	return 0;
fail:
	frame_unref(body);
	return -1;
}

static int http_reply(struct lws *wsi, struct pss *pss, const struct http_response *r)
{
	return http_send(wsi, pss, r->status, r->content_type, r->www_authenticate, r->headers,
			 r->body);
}

static int http_dispatch(struct lws *wsi, struct pss *pss, const char *method,
			 const char *path, const char *auth, const char *peer, const char *body,
			 size_t len)
{
	struct http_response r;
	if (http_handle_body(server, method, path, auth, peer, body, len, &r, &pss->pending) == 0)
		return http_reply(wsi, pss, &r);
	/* Deferred: http_pending_done() calls us back when it is ready. */
	http_pending_attach(pss->pending, wsi);
	connguard_busy(guard, wsi, 1, util_mono_us()); /* not idle: never dropped */
	return 0;
}

/* Refuses a WebSocket upgrade with an HTTP status. The response is written
 * by hand: on the upgrade path lws 4.1 has not recorded the request's HTTP
 * version, and its own helpers would answer "HTTP/1.0", which WebSocket
 * clients reject as a malformed handshake reply. */
static int reject_upgrade(struct lws *wsi, unsigned status, const char *why)
{
	unsigned char buf[LWS_PRE + 512];
	const char *text = status == 400 ? "Bad Request" : status == 403 ? "Forbidden"
			 : status == 404 ? "Not Found" : "Service Unavailable";
	int n;

	log_debug("Refused a WebSocket upgrade: HTTP %u (%s)", status, why);
	n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
		     "HTTP/1.1 %u %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
		     "connection: close\r\n\r\n%s\n", status, text, strlen(why) + 1, why);
	if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
		return -1;
	return 1;
}

/* Frames up to this size are copied, with their WebSocket header, into
 * one buffer and sent with one write: a client with 256 requests in flight
 * gets its 256 replies in a few send()s instead of 256. Larger frames go
 * out alone, straight from their shared buffer. */
#define COALESCE_FRAME_MAX (16 * 1024)
#define COALESCE_BUF (256 * 1024)

static unsigned char coalesce_buf[LWS_PRE + COALESCE_BUF];

static size_t ws_header(unsigned char *h, size_t len, int binary)
{
	h[0] = binary ? 0x82 : 0x81; /* FIN, binary or text */
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

static int flush_coalesced(struct lws *wsi, size_t n)
{
	/* Already framed: LWS_WRITE_HTTP makes lws send the bytes as they are
	 * (and buffer what the socket does not take). */
	return n && lws_write(wsi, coalesce_buf + LWS_PRE, n, LWS_WRITE_HTTP) < (int)n ? -1 : 0;
}

/* Blob bytes written per writable callback at most: a download goes as
 * fast as the socket takes it, yet the loop comes back to the others. */
#define BLOB_BYTES_PER_WRITE (4 * 1024 * 1024)

static int flush_writes(struct lws *wsi, struct conn *c)
{
	size_t used = 0, blob_bytes = 0;
	struct frame *f;
	int n = 0;

	while ((f = conn_peek(c)) && n++ < 1024) {
		if (f->len <= COALESCE_FRAME_MAX) {
			if (used + f->len + 10 > COALESCE_BUF) {
				if (flush_coalesced(wsi, used))
					return -1;
				used = 0;
				if (lws_send_pipe_choked(wsi))
					return 0;
			}
			used += ws_header(coalesce_buf + LWS_PRE + used, f->len, f->binary);
			memcpy(coalesce_buf + LWS_PRE + used, frame_data(f), f->len);
			used += f->len;
		} else {
			if (flush_coalesced(wsi, used))
				return -1;
			used = 0;
			if (lws_send_pipe_choked(wsi))
				return 0;
			if (lws_write(wsi, (unsigned char *)frame_data(f), f->len,
				      f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)f->len)
				return -1;
		}
		server->metrics.bytes_out += f->len;
		server->metrics.msgs_out[f->type]++;
		if (f->binary)
			blob_bytes += f->len;
		conn_pop(c);
		if (blob_bytes >= BLOB_BYTES_PER_WRITE)
			break;
		if (!used && lws_send_pipe_choked(wsi))
			return 0;
	}
	return flush_coalesced(wsi, used);
}

/* Starts the closing handshake with the conn's code and reason. The close
 * frame is written by hand rather than through lws_close_reason(): lws 4.1
 * closes the socket right after its close frame, and when the client is
 * still sending (pipelined requests) the unread bytes turn that close into a
 * TCP reset, which can destroy the last frames (an event, the close frame)
 * before the client reads them. Here the socket stays open, incoming frames
 * are ignored, and it closes when the client answers with its close frame
 * (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE), or when the backstop timer set in
 * wake() runs out. */
static int send_close(struct lws *wsi, struct pss *pss, struct conn *c)
{
	unsigned char buf[LWS_PRE + 128], *p = buf + LWS_PRE;
	size_t rlen = strlen(c->close_reason);
	if (rlen > 120)
		rlen = 120;
	p[0] = 0x88; /* FIN, close */
	p[1] = (unsigned char)(2 + rlen);
	p[2] = (unsigned char)(c->close_code >> 8);
	p[3] = (unsigned char)c->close_code;
	memcpy(p + 4, c->close_reason, rlen);
	if (lws_write(wsi, p, 4 + rlen, LWS_WRITE_HTTP) < (int)(4 + rlen))
		return -1;
	pss->close_sent = 1;
	c->close_armed = 1;
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, 5); /* for the peer's answer */
	return 0;
}

/* A header's value, allocated (lws keeps no terminator); NULL when absent. */
static char *header(struct lws *wsi, enum lws_token_indexes h)
{
	int n = lws_hdr_total_length(wsi, h);
	char *v;
	if (n <= 0)
		return NULL;
	v = xmalloc((size_t)n + 1);
	if (lws_hdr_copy(wsi, v, n + 1, h) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

/* The browser rule: 1 when the request has no Origin, or one the server
 * serves (its own, or listed in ALLOWED_ORIGINS). */
static int origin_ok(struct lws *wsi)
{
	char *origin = header(wsi, WSI_TOKEN_ORIGIN), *host;
	int ok;
	if (!origin)
		return 1;
	host = header(wsi, WSI_TOKEN_HOST);
	ok = origin_allowed(origin, host, serving_tls, server->cfg->allowed_origins);
	if (!ok) {
		server->metrics.origin_refused++;
		log_warning("Refused a request from origin %.200s (Host %.200s): not this server's "
			    "own and not in ALLOWED_ORIGINS (HTTP 403)", origin, host ? host : "-");
	}
	free(origin);
	free(host);
	return ok;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct pss *pss = user;
	char path[256];
	const char *name;
	int bad;

	switch (reason) {
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		guard_accept(wsi);
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		connguard_remove(guard, wsi);
		break;

	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
			return reject_upgrade(wsi, 400, "bad request path");
		name = session_from_path(path, &bad);
		if (bad)
			return reject_upgrade(wsi, 400, "invalid session name");
		if (!name)
			return reject_upgrade(wsi, 404, "no such endpoint; use /s/NAME");
		if (!origin_ok(wsi))
			return reject_upgrade(wsi, 403, "origin not allowed (ALLOWED_ORIGINS)");
		if (server->shutting_down)
			return reject_upgrade(wsi, 503, "server shutting down");
		if (server->nconns >= (size_t)server->cfg->max_connections) {
			server->metrics.rejected_connections++;
			log_warning("Refused a connection: MAX_CONNECTIONS (%ld) reached",
				    server->cfg->max_connections);
			return reject_upgrade(wsi, 503, "too many connections");
		}
		return 0;

	case LWS_CALLBACK_ESTABLISHED:
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0 ||
		    !(name = session_from_path(path, &bad)))
			return -1;
		connguard_remove(guard, wsi); /* a WebSocket: MAX_CONNECTIONS counts it */
		memset(pss, 0, sizeof(*pss));
		pss->conn = conn_new(server, name, wsi);
		lws_get_peer_simple(wsi, pss->conn->peer, sizeof(pss->conn->peer));
		server->metrics.connections_total++;
		sbuf_init(&pss->rx, 256);
		break;

	case LWS_CALLBACK_RECEIVE: {
		size_t limit = (size_t)server->cfg->max_message_bytes;
		int pre_hello = 0;
		int first = lws_is_first_fragment(wsi);
		if (!pss->conn)
			return -1;
		if (!pss->conn->client && limit > PRE_HELLO_MAX_BYTES) {
			limit = PRE_HELLO_MAX_BYTES;
			pre_hello = 1;
		}
		/* Every fragment is activity: a slow upload is not silence. */
		protocol_alive(pss->conn);
		if (first) {
			pss->rx.len = 0;
			pss->rx_total = 0;
			pss->rx_binary = lws_frame_is_binary(wsi);
		}
		pss->rx_total += len;
		if (pss->rx_total > limit) {
			if (pre_hello)
				log_warning("Connection %llu (addr=%s) sent a message over %d bytes "
					    "before hello; closing it (1009)",
					    (unsigned long long)pss->conn->id, pss->conn->peer,
					    PRE_HELLO_MAX_BYTES);
			else
				log_warning("Connection %llu sent a message over MAX_MESSAGE_BYTES "
					    "(%ld); closing it (1009)", (unsigned long long)pss->conn->id,
					    server->cfg->max_message_bytes);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 (unsigned char *)"message too large", 17);
			/* Gone for the protocol now: the user leaves at once, and
			 * nothing more is written after the close frame. */
			pss->conn->net = NULL;
			protocol_closed(pss->conn);
			pss->conn = NULL;
			sbuf_free(&pss->rx);
			return -1;
		}
		if (pss->rx_binary) {
			/* Blob bytes go on as they arrive: no message is held whole. */
			protocol_receive_binary(pss->conn, in, len, first,
						lws_is_final_fragment(wsi));
			break;
		}
		sbuf_add_capped(&pss->rx, in, len, limit);
		if (!lws_is_final_fragment(wsi))
			break;
		protocol_receive(pss->conn, pss->rx.p, pss->rx.len, pss->rx_binary);
		if (pss->rx.cap > 65536) { /* give back the memory of a huge message */
			sbuf_free(&pss->rx);
			sbuf_init(&pss->rx, 256);
		}
		pss->rx.len = 0;
		break;
	}

	case LWS_CALLBACK_RECEIVE_PONG:
		if (pss->conn)
			protocol_alive(pss->conn);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		struct conn *c = pss->conn;
		if (!c)
			return -1;
		if (pss->close_sent)
			break;
		if (conn_should_close(c))
			return send_close(wsi, pss, c);
		if (pss->ping_pending) {
			/* A payload, because lws 4.1 does not report empty pongs
			 * (LWS_CALLBACK_RECEIVE_PONG), and the pong is what keeps an
			 * idle client alive. */
			unsigned char ping[LWS_PRE + 8];
			memcpy(ping + LWS_PRE, "sessiond", 8);
			pss->ping_pending = 0;
			if (lws_write(wsi, ping + LWS_PRE, 8, LWS_WRITE_PING) < 0)
				return -1;
			if (lws_send_pipe_choked(wsi)) {
				lws_callback_on_writable(wsi);
				break;
			}
		}
		if (flush_writes(wsi, c)) {
			conn_close_now(c, 1011, "write failed", NULL);
			return -1;
		}
		if (conn_has_output(c) || conn_should_close(c))
			lws_callback_on_writable(wsi);
		break;
	}

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* The answer to our close: the handshake is complete, close the
		 * socket without echoing (the peer sends nothing more, so no
		 * unread data turns the close into a reset). */
		return pss->close_sent ? 1 : 0;

	case LWS_CALLBACK_CLOSED:
		if (pss->conn) {
			pss->conn->net = NULL;
			protocol_closed(pss->conn);
			pss->conn = NULL;
		}
		sbuf_free(&pss->rx);
		break;

	case LWS_CALLBACK_HTTP: {
		char *auth, peer[48] = "", clen[32] = "";
		struct http_response r;
		int rc;
		const char *method = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) ? "GET"
				   : lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) ? "POST"
				   : lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) ? "DELETE"
				   : lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) ? "HEAD"
				   : lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) ? "PUT"
				   : lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) ? "PATCH"
				   : lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) ? "OPTIONS"
				   : "OTHER"; /* 405 on known routes */
		static const char forbidden[] = "{\"error\":\"origin not allowed (ALLOWED_ORIGINS)\","
						"\"code\":\"forbidden\"}";
		char *host;
		memset(pss, 0, sizeof(*pss));
		pss->head = strcmp(method, "HEAD") == 0;
		if (!origin_ok(wsi))
			return http_send(wsi, pss, 403, "application/json", NULL, "",
					 frame_new(forbidden, sizeof(forbidden) - 1));
		host = header(wsi, WSI_TOKEN_HOST);
		rc = web_handle(method, (const char *)in, host ? host : "", &r); /* the browser page */
		free(host);
		if (rc)
			return http_reply(wsi, pss, &r);
		lws_get_peer_simple(wsi, peer, sizeof(peer));
		/* As long as the client sent it: a long ADMIN_PASSWORD must match. */
		auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
		lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH);
		if (strcmp(method, "POST") == 0 && !*clen &&
		    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING)) {
			/* A body of unknown length (chunked): RFC 9110 lets a
			 * server ask for a Content-Length instead (credentials
			 * first, as for 413). */
			if (!http_check_auth(server, method, (const char *)in, auth ? auth : "",
					     peer, &r)) {
				json_t *o = json_pack("{ss ss}", "error", "send the body with a "
						      "Content-Length (chunked bodies are not read)",
						      "code", "length_required");
				memset(&r, 0, sizeof(r));
				r.status = 411;
				r.content_type = "application/json";
				r.body = frame_from_json(o);
				json_decref(o);
			}
			free(auth);
			/* The body's bytes must not be read as a request. */
			pss->close_after = 1;
			return http_reply(wsi, pss, &r);
		}
		if (strcmp(method, "POST") == 0 && atol(clen) > 0) {
			/* Answered once the body is in (HTTP_BODY_COMPLETION). */
			pss->req = xcalloc(1, sizeof(*pss->req));
			snprintf(pss->req->path, sizeof(pss->req->path), "%s", (const char *)in);
			snprintf(pss->req->peer, sizeof(pss->req->peer), "%s", peer);
			pss->req->auth = auth;
			sbuf_init(&pss->req->body, 256);
			return 0;
		}
		rc = http_dispatch(wsi, pss, method, (const char *)in, auth ? auth : "", peer, NULL,
				   0);
		free(auth);
		return rc;
	}

	case LWS_CALLBACK_HTTP_BODY:
		if (pss->req && !pss->req->too_large) {
			if (pss->req->body.len + len > HTTP_MAX_BODY)
				pss->req->too_large = 1;
			else
				sbuf_add(&pss->req->body, in, len);
		}
		break;

	case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
		struct http_req *q = pss->req;
		int rc;
		if (!q)
			break;
		pss->req = NULL;
		if (q->too_large) {
			/* Credentials first: who may not use the route learns
			 * nothing about its limits. */
			struct http_response r;
			memset(&r, 0, sizeof(r));
			if (!http_check_auth(server, "POST", q->path, q->auth ? q->auth : "",
					     q->peer, &r)) {
				json_t *o = json_pack("{ss ss}", "error", "request body too large",
						      "code", "too_large");
				r.status = 413;
				r.content_type = "application/json";
				r.body = frame_from_json(o);
				json_decref(o);
			}
			rc = http_reply(wsi, pss, &r);
		} else {
			rc = http_dispatch(wsi, pss, "POST", q->path, q->auth ? q->auth : "", q->peer,
					   q->body.p, q->body.len);
		}
		sbuf_free(&q->body);
		free(q->auth);
		free(q);
		return rc;
	}

	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss->pending && !pss->body) {
			struct http_response r;
			if (!http_pending_take(pss->pending, &r))
				break;
			pss->pending = NULL;
			return http_reply(wsi, pss, &r);
		}
		if (!pss->body)
			break;
		if (!pss->head && lws_write(wsi, (unsigned char *)frame_data(pss->body),
					    pss->body->len, LWS_WRITE_HTTP_FINAL) <
				  (int)pss->body->len) {
			frame_unref(pss->body);
			pss->body = NULL;
			return -1;
		}
		frame_unref(pss->body);
		pss->body = NULL;
		/* Answered: idle again (keep-alive), aging from now. */
		connguard_busy(guard, wsi, 0, util_mono_us());
		if (pss->close_after || lws_http_transaction_completed(wsi))
			return -1;
		break;

	case LWS_CALLBACK_CLOSED_HTTP:
		http_req_free(pss);
		frame_unref(pss ? pss->body : NULL);
		if (pss && pss->pending)
			http_pending_detach(pss->pending);
		if (pss) {
			pss->body = NULL;
			pss->pending = NULL;
		}
		break;

	default:
		break;
	}
	return 0;
}

/* Sends a ping where protocol_tick asks for one. */
static void cron(lws_sorted_usec_list_t *sul)
{
	int64_t now = util_mono_us();
	for (struct conn *c = server->conns; c; c = c->next) {
		if (protocol_tick(c, now) && c->net) {
			struct pss *pss = lws_wsi_user(c->net);
			pss->ping_pending = 1;
			lws_callback_on_writable(c->net);
		}
		if (c->close_now && c->net)
			lws_callback_on_writable(c->net);
	}
	server_cron(server, util_now());
	lws_sul_schedule(context, 0, sul, cron, LWS_US_PER_SEC);
}

static void saver_notify(void *arg)
{
	(void)arg;
	lws_cancel_service(context);
}

static void http_wake(void *wsi)
{
	lws_callback_on_writable(wsi);
}

void net_stop(void)
{
	if (stop_requested)
		_exit(0); /* second signal: every acknowledged change is in the WAL */
	stop_requested = 1;
	if (context)
		lws_cancel_service(context);
}

static void drain_saves(void)
{
	struct backup_job *job;
	while (server->saver && (job = saver_take_done(server->saver)))
		server_save_done(server, job);
}

/* libwebsockets' own complaints, in the server's log format. */
static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warning("libwebsockets: %.*s", (int)n, line);
	else
		log_debug("libwebsockets: %.*s", (int)n, line);
}

int net_run(struct server *srv, const struct listen_addr *addr)
{
	static const struct lws_protocols protocols[] = {
		/* lws gives every connection its own rx buffer of this size, so it
		 * is kept small (larger messages arrive in fragments, reassembled
		 * above); sends are allowed up to the coalescing buffer. */
		{"sessiond", callback, sizeof(struct pss), 4096, 0, NULL, COALESCE_BUF},
		{NULL, NULL, 0, 0, 0, NULL, 0},
	};
	struct lws_context_creation_info info;
	char err[300];
	int64_t deadline;

	server = srv;
	srv->wake = wake;
	http_set_waker(http_wake);
	lws_set_log_level(LLL_ERR, lws_log);
	memset(&info, 0, sizeof(info));
	info.port = (int)addr->port;
	/* Numeric (listener.c resolved HOST): lws binds it rather than looking
	 * for an interface of that name. An IPv6 listener is IPv6-only. */
	info.iface = addr->numeric;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (addr->family == AF_INET6)
		info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY |
				LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
	else
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	serving_tls = addr->tls;
	if (addr->tls) {
		/* Only TLS on this port: plain ws:// and http:// fail the
		 * handshake. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = srv->cfg->tls_cert;
		info.ssl_private_key_filepath = srv->cfg->tls_key;
	}
	/* WebSockets, idle connections, those being answered, the listener. */
	info.fd_limit_per_thread = (unsigned)(srv->cfg->max_connections +
					      srv->cfg->max_idle_connections) + 64;
	/* A connection holds a header buffer until its request is in: one for
	 * every idle connection the cap allows, and room for real requests. */
	info.max_http_header_pool = (unsigned short)(srv->cfg->max_idle_connections > 4000 ? 4096
						     : srv->cfg->max_idle_connections + 96);
	/* What one read takes from a socket per loop pass: a blob upload
	 * arrives 256 KiB per pass instead of 64 (one buffer for the thread). */
	info.pt_serv_buf_size = 256 * 1024;
	/* Room for long headers: an Authorization bearing a long
	 * ADMIN_PASSWORD must arrive whole. */
	info.max_http_header_data = 8192;
	info.timeout_secs = 20;
	context = lws_create_context(&info);
	if (!context) {
		if (addr->tls)
			log_error("TLS_CERT/TLS_KEY: %s and %s cannot be used as a certificate and "
				  "its key (see above)", srv->cfg->tls_cert, srv->cfg->tls_key);
		else
			log_error("HOST: cannot listen on %s port %ld", addr->display, addr->port);
		return -2;
	}
	if (listener_verify(addr, err, sizeof(err)) != 0) {
		log_error("%s", err);
		lws_context_destroy(context);
		context = NULL;
		return -2;
	}
	srv->auth_guard = authguard_new(srv->cfg->auth_lockout * 1000000LL);
	guard = connguard_new((size_t)srv->cfg->max_idle_per_address,
			      (size_t)srv->cfg->max_idle_connections);
	srv->saver = saver_start(saver_notify, NULL);
	lws_sul_schedule(context, 0, &cron_sul, cron, LWS_US_PER_SEC);
	log_info("Auto-save %s (interval: %lds, max backups: %ld)",
		 srv->cfg->save_interval > 0 ? "enabled" : "disabled",
		 srv->cfg->save_interval, srv->cfg->max_backups);
	log_info("sessiond ready: listening on %s:%ld (%s)", addr->display, addr->port,
		 addr->tls ? "wss://, https://" : "ws://, http://");

	while (!stop_requested) {
		lws_service(context, 0);
		server_flush(srv);
		drain_saves();
		server_flush(srv);
	}

	log_info("Shutting down: closing %zu connection(s)", srv->nconns);
	server_begin_shutdown(srv);
	deadline = util_mono_us() + 3 * 1000000;
	while (srv->nconns && util_mono_us() < deadline) {
		lws_service(context, 0);
		server_flush(srv);
		drain_saves();
	}
	saver_stop(srv->saver);
	drain_saves();
	saver_free(srv->saver);
	srv->saver = NULL;
	server_flush(srv);
	lws_sul_cancel(&cron_sul);
	lws_context_destroy(context);
	context = NULL;
	server_flush(srv);
	authguard_free(srv->auth_guard);
	srv->auth_guard = NULL;
	connguard_free(guard);
	guard = NULL;
	return 0;
}
