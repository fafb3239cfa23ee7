/*
 * client.c: the libwebsockets client (see bench.h for its design):
 * connections and the jobs that generate their requests lazily, frames
 * batched and masked by hand, replies matched by `re`, the loop with its
 * ticker thread, waiting for a condition, sets of connections, and
 * populate() (create N nodes and wait for every ok).
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	if (c->state != CONN_FAILED && c->state != CONN_CLOSED && !c->b->tolerate_failures &&
	    !c->b->failed) {
		c->b->failed = 1;
		snprintf(c->b->fail_why, sizeof(c->b->fail_why), "%s: %s", c->user, c->why);
	}
	c->state = CONN_FAILED;
}

static int conn_queue(struct conn *c, const char *frame, size_t len)
{
	struct out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m)
		return BENCH_ERR;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, frame, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
	return BENCH_OK;
}

/* Queues a request made from a jansson object (steals `req`), adding an id. */
int conn_request(struct conn *c, json_t *req, int64_t *out_id)
{
	char *text;
	int64_t id = c->next_id++;
	int rc = BENCH_ERR;

	if (!req)
		return BENCH_ERR;
	if (json_object_set_new(req, "id", json_integer(id)))
		goto out;
	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		goto out;
	rc = conn_queue(c, text, strlen(text));
	free(text);
	if (out_id)
		*out_id = id;
out:
	json_decref(req);
	return rc;
}

static void conn_free_queue(struct conn *c)
{
	struct out_msg *m = c->out_head, *next;

	for (; m; m = next) {
		next = m->next;
		free(m);
	}
	c->out_head = c->out_tail = NULL;
}

static int conn_inflight(const struct conn *c)
{
	return (int)(c->requests - c->replies);
}

/* The data of created node `i`: {"n":0,"blob":"..."} of about data_bytes. */
static size_t make_create(struct bench *b, struct conn *c, int64_t id, int64_t node, char *buf,
			  size_t cap)
{
	size_t overhead = 20, blob, off;

	blob = c->job.data_bytes > overhead ? c->job.data_bytes - overhead : 1;
	if (blob > b->blob_len / 2)
		blob = b->blob_len / 2;
	off = (size_t)(node * 7919) % (b->blob_len - blob);
	return (size_t)snprintf(buf, cap,
				"{\"type\":\"node.create\",\"id\":%" PRId64 ",\"uuid\":\"%s%07" PRId64
				"\",\"kind\":\"Mesh\",\"data\":{\"n\":0,\"blob\":\"%.*s\"}}",
				id, c->job.prefix, node, (int)blob, b->blob + off);
}

static size_t make_update(struct conn *c, int64_t id, int64_t node, uint64_t now, char *buf,
			  size_t cap)
{
	if (c->job.stamp)
		return (size_t)snprintf(buf, cap,
					"{\"type\":\"node.update\",\"id\":%" PRId64
					",\"uuid\":\"%s%07" PRId64 "\",\"patch\":{\"n\":%" PRId64
					",\"t\":%" PRIu64 "}}",
					id, c->job.prefix, node, c->job.sent, now);
	return (size_t)snprintf(buf, cap,
				"{\"type\":\"node.update\",\"id\":%" PRId64 ",\"uuid\":\"%s%07" PRId64
				"\",\"patch\":{\"n\":%" PRId64 "}}",
				id, c->job.prefix, node, c->job.sent);
}

/* Whether the job would send now (window, limit, pace). */
static int job_ready(const struct conn *c, uint64_t now)
{
	const struct job *j = &c->job;

	if (j->kind == JOB_NONE || j->stopped || c->state != CONN_SYNCED)
		return 0;
	if (j->limit >= 0 && j->sent >= j->limit)
		return 0;
	if (conn_inflight(c) >= j->window || conn_inflight(c) >= (1 << BENCH_RING_BITS) - 1)
		return 0;
	if (j->rate > 0 && (double)j->sent >= ns_to_s(now - j->pace_start) * j->rate)
		return 0;
	return 1;
}

/* Builds the job's next frame into b->txbuf; returns its length, 0 if none. */
static size_t job_next(struct conn *c, uint64_t now)
{
	struct bench *b = c->b;
	char *buf = b->genbuf;
	int64_t id, node;
	size_t n;

	if (!job_ready(c, now))
		return 0;
	id = c->next_id++;
	node = (c->job.first_node + c->job.sent) % c->job.nodes;
	if (c->job.kind == JOB_CREATE)
		n = make_create(b, c, id, node, buf, b->gencap);
	else
		n = make_update(c, id, node, now, buf, b->gencap);
	if (n >= b->gencap)
		return 0;
	c->sent_ns[id & ((1 << BENCH_RING_BITS) - 1)] = now;
	c->job.sent++;
	c->requests++;
	return n;
}

int job_start(struct conn *c, enum job_kind kind, const char *prefix, int64_t nodes,
	      int64_t limit, int64_t window, double rate, size_t data_bytes)
{
	struct bench *b = c->b;

	if (!c->sent_ns) {
		c->sent_ns = calloc((size_t)1 << BENCH_RING_BITS, sizeof(*c->sent_ns));
		if (!c->sent_ns)
			return BENCH_ERR;
	}
	memset(&c->job, 0, sizeof(c->job));
	c->job.kind = kind;
	snprintf(c->job.prefix, sizeof(c->job.prefix), "%s", prefix);
	c->job.nodes = nodes > 0 ? nodes : 1;
	c->job.limit = limit;
	c->job.window = window > 0 ? window : 1;
	c->job.rate = rate;
	c->job.pace_start = now_ns();
	c->job.data_bytes = data_bytes;
	if (rate > 0) {
		struct conn **p = realloc(b->paced, (b->npaced + 1) * sizeof(*p));

		if (!p)
			return BENCH_ERR;
		b->paced = p;
		b->paced[b->npaced++] = c;
		atomic_store(&b->fast_tick, 1);
	}
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
	return BENCH_OK;
}

void job_stop(struct conn *c)
{
	struct bench *b = c->b;
	size_t i;

	c->job.stopped = 1;
	for (i = 0; i < b->npaced; i++)
		if (b->paced[i] == c) {
			b->paced[i] = b->paced[--b->npaced];
			break;
		}
	atomic_store(&b->fast_tick, b->npaced > 0);
}

/* Appends one masked client text frame to the batch at *pos. */
static void frame_put(struct bench *b, size_t *pos, const char *payload, size_t len)
{
	unsigned char *p = b->txbuf + *pos, mask[4];
	size_t i, h;
	uint32_t x = b->mask_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	b->mask_state = x;
	memcpy(mask, &x, 4);
	p[0] = 0x81; /* FIN, text */
	if (len < 126) {
		p[1] = (unsigned char)(0x80 | len);
		h = 2;
	} else if (len < 65536) {
		p[1] = 0x80 | 126;
		p[2] = (unsigned char)(len >> 8);
		p[3] = (unsigned char)len;
		h = 4;
	} else {
		p[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(p + h, mask, 4);
	h += 4;
	for (i = 0; i < len; i++)
		p[h + i] = (unsigned char)payload[i] ^ mask[i & 3];
	*pos += h + len;
}

static int conn_writeable(struct conn *c)
{
	struct bench *b = c->b;
	size_t pos = LWS_PRE, limit = LWS_PRE + BENCH_BATCH;
	uint64_t now = now_ns();
	int full = 0;

	if (c->want_close) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
		return -1;
	}
	for (;;) {
		/* The next frame must fit whole, whatever its size. */
		if (pos + BENCH_WS_HEADER + b->gencap > LWS_PRE + b->txcap || pos >= limit) {
			full = 1;
			break;
		}
		if (c->out_head) {
			struct out_msg *m = c->out_head;

			if (pos + BENCH_WS_HEADER + m->len > LWS_PRE + b->txcap) {
				if (pos > LWS_PRE) {
					full = 1;
					break;
				}
				/* Larger than a batch: goes alone, lws frames it. */
				if (lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
				    (int)m->len) {
					conn_fail(c, "lws_write failed");
					return -1;
				}
			} else {
				frame_put(b, &pos, (const char *)m->buf + LWS_PRE, m->len);
			}
			if (c->state == CONN_OPEN && !c->t_hello)
				c->t_hello = now;
			c->out_head = m->next;
			if (!c->out_head)
				c->out_tail = NULL;
			free(m);
		} else {
			size_t len = job_next(c, now);

			if (!len)
				break;
			frame_put(b, &pos, b->genbuf, len);
		}
	}
	if (pos > LWS_PRE &&
	    lws_write(c->wsi, b->txbuf + LWS_PRE, pos - LWS_PRE, LWS_WRITE_RAW) < (int)(pos - LWS_PRE)) {
		conn_fail(c, "lws_write failed");
		return -1;
	}
	if (full || c->out_head)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void conn_reply(struct conn *c, const char *m, size_t n, int ok, uint64_t now)
{
	int64_t re = -1;
	uint64_t sent = 0;

	if (scan_int(m, n, "re", &re) == 0) {
		c->replies++;
		if (c->sent_ns && re >= 0)
			sent = c->sent_ns[re & ((1 << BENCH_RING_BITS) - 1)];
	}
	if (ok) {
		c->oks++;
	} else {
		const char *code, *msg;
		size_t cl = 0, ml = 0;

		c->errors++;
		code = scan_str(m, n, "code", &cl);
		msg = scan_str(m, n, "message", &ml);
		if (!c->first_error[0])
			snprintf(c->first_error, sizeof(c->first_error), "%.*s: %.*s", (int)cl,
				 code ? code : "?", (int)ml, msg ? msg : "?");
		if (re == 1 && c->state < CONN_WELCOMED) {
			conn_fail(c, "hello refused: %s", c->first_error);
			return;
		}
	}
	if (c->lat && sent && ok)
		lat_add(c->lat, now - sent);
	if (c->on_reply)
		c->on_reply(c, re, ok, sent, now, m, n);
	if (c->job.kind != JOB_NONE && c->wsi && job_ready(c, now))
		lws_callback_on_writable(c->wsi);
}

static void conn_message(struct conn *c, const char *m, size_t n)
{
	struct bench *b = c->b;
	uint64_t now = now_ns();
	const char *type;
	size_t tl = 0;

	c->t_last_rx = b->t_last_rx = now;
	b->rx_frames++;
	type = scan_str(m, n, "type", &tl);
	if (!type) {
		note("%s: frame without a type: %.*s", c->user, (int)(n > 120 ? 120 : n), m);
		return;
	}
	if (str_is(type, tl, "ok") || str_is(type, tl, "pong")) {
		conn_reply(c, m, n, 1, now);
	} else if (str_is(type, tl, "error")) {
		conn_reply(c, m, n, 0, now);
	} else if (str_is(type, tl, "welcome")) {
		c->t_welcome = now;
		c->replies++;
		if (c->state < CONN_WELCOMED)
			c->state = CONN_WELCOMED;
	} else if (str_is(type, tl, "sync")) {
		c->sync_frames++;
		c->sync_bytes += n;
		c->sync_uuids += count_occurrences(m, n, "\"uuid\"");
	} else if (str_is(type, tl, "synced")) {
		c->t_synced = now;
		scan_int(m, n, "seq", &c->synced_seq);
		if (c->state == CONN_WELCOMED || c->state == CONN_OPEN)
			c->state = CONN_SYNCED;
		if (c->job.kind != JOB_NONE && c->wsi)
			lws_callback_on_writable(c->wsi);
	} else {
		c->events++;
		if (str_is(type, tl, "node")) {
			c->node_events++;
			b->deliveries++;
		}
		if (c->on_event)
			c->on_event(c, m, n, now);
	}
}

static void conn_rx(struct conn *c, const char *in, size_t len, int final)
{
	if (final && !c->rx_len) {
		conn_message(c, in, len); /* the common case: no copy */
		return;
	}
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : BENCH_RX_CHUNK;
		char *p;

		while (cap < c->rx_len + len)
			cap *= 2;
		p = realloc(c->rx, cap);
		if (!p) {
			conn_fail(c, "out of memory reassembling a frame");
			return;
		}
		c->rx = p;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (final) {
		conn_message(c, c->rx, c->rx_len);
		c->rx_len = 0;
	}
}

static int bench_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			  size_t len)
{
	struct conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		conn_fail(c, "connect: %s", in ? (const char *)in : "failed");
		c->wsi = NULL;
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		json_t *hello = json_pack("{s:s, s:s, s:s}", "type", "hello", "user", c->user,
					  "client", "sessionbench");

		c->wsi = wsi;
		c->state = CONN_OPEN;
		c->t_open = now_ns();
		if (hello && c->admin && c->b->admin_password)
			json_object_set_new(hello, "admin_password",
					    json_string(c->b->admin_password));
		c->requests++;
		if (conn_request(c, hello, NULL))
			return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE:
		conn_rx(c, in, len,
			lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi));
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return conn_writeable(c);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *p = in;

			c->close_code = p[0] << 8 | p[1];
			snprintf(c->why, sizeof(c->why), "closed by the server: %d %.*s",
				 c->close_code, (int)(len - 2 > 100 ? 100 : len - 2),
				 (const char *)in + 2);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		c->wsi = NULL;
		if (c->state == CONN_FAILED || c->want_close || c->expect_close) {
			if (c->state != CONN_FAILED)
				c->state = CONN_CLOSED;
		} else {
			conn_fail(c, "%s", c->why[0] ? c->why : "connection closed by the server");
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols bench_protocols[] = {
	{ "sessionbench", bench_callback, 0, BENCH_RX_CHUNK, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* The only work off the loop thread: waking the loop. */
static void *ticker_main(void *arg)
{
	struct bench *b = arg;

	while (!atomic_load(&b->ticker_stop)) {
		struct timespec ts = { 0, atomic_load(&b->fast_tick) ? 1000000 : 20000000 };

		nanosleep(&ts, NULL);
		lws_cancel_service(b->ctx);
	}
	return NULL;
}

/* One turn of the loop, then whatever paced job is due gets to write. */
int bench_service(struct bench *b)
{
	uint64_t now;
	size_t i;

	if (lws_service(b->ctx, 0) < 0)
		return BENCH_ERR;
	now = now_ns();
	for (i = 0; i < b->npaced; i++) {
		struct conn *c = b->paced[i];

		if (c->wsi && job_ready(c, now))
			lws_callback_on_writable(c->wsi);
	}
	return BENCH_OK;
}

int bench_init(struct bench *b, const char *host, int port, size_t max_data, int verbose)
{
	struct lws_context_creation_info info;
	size_t i;
	unsigned int seed = 12345;
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	memset(b, 0, sizeof(*b));
	b->host = host;
	b->port = port;
	b->verbose = verbose;
	b->gencap = max_data + 1024;
	b->genbuf = malloc(b->gencap);
	b->txcap = BENCH_BATCH + BENCH_WS_HEADER + b->gencap;
	b->txbuf = malloc(LWS_PRE + b->txcap);
	b->blob_len = 2 * max_data + 8192;
	b->blob = malloc(b->blob_len);
	b->mask_state = (uint32_t)now_ns() | 1;
	if (!b->genbuf || !b->txbuf || !b->blob)
		return BENCH_ERR;
	for (i = 0; i < b->blob_len; i++) {
		seed = seed * 1103515245u + 12345u;
		b->blob[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
	}

	lws_set_log_level(verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = bench_protocols;
	info.gid = -1;
	info.uid = -1;
	info.pt_serv_buf_size = BENCH_RX_CHUNK;
	info.timeout_secs = 60;
	info.connect_timeout_secs = 20;
	b->ctx = lws_create_context(&info);
	if (!b->ctx)
		return BENCH_ERR;
	if (pthread_create(&b->ticker, NULL, ticker_main, b))
		return BENCH_ERR;
	b->ticker_started = 1;
	return BENCH_OK;
}

void bench_destroy(struct bench *b)
{
	if (b->ticker_started) {
		atomic_store(&b->ticker_stop, 1);
		pthread_join(b->ticker, NULL);
	}
	if (b->ctx)
		lws_context_destroy(b->ctx);
	free(b->paced);
	free(b->genbuf);
	free(b->txbuf);
	free(b->blob);
	memset(b, 0, sizeof(*b));
}

struct conn *conn_new(struct bench *b, const char *session, const char *user, int admin)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->b = b;
	c->admin = admin;
	c->next_id = 1;
	snprintf(c->session, sizeof(c->session), "%s", session);
	snprintf(c->user, sizeof(c->user), "%s", user);
	return c;
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->wsi)
		lws_set_opaque_user_data(c->wsi, NULL); /* the context outlives us */
	conn_free_queue(c);
	free(c->rx);
	free(c->sent_ns);
	free(c);
}

/* Starts connecting; the hello goes out as soon as the upgrade completes. */
int conn_open(struct conn *c)
{
	struct lws_client_connect_info i;
	char path[96];
	struct lws *wsi;

	conn_free_queue(c);
	c->state = CONN_CONNECTING;
	c->why[0] = '\0';
	c->close_code = 0;
	c->next_id = 1;
	c->requests = c->replies = 0;
	c->t_open = c->t_hello = c->t_welcome = c->t_synced = 0;
	snprintf(path, sizeof(path), "/s/%s", c->session);
	memset(&i, 0, sizeof(i));
	i.context = c->b->ctx;
	i.address = c->b->host;
	i.port = c->b->port;
	i.path = path;
	i.host = c->b->host;
	i.ietf_version_or_minus_one = -1;
	i.local_protocol_name = bench_protocols[0].name;
	i.opaque_user_data = c;
	wsi = lws_client_connect_via_info(&i);
	if (c->state != CONN_CONNECTING)
		return c->state == CONN_FAILED ? BENCH_ERR : BENCH_OK;
	if (!wsi) {
		conn_fail(c, "connect failed");
		return BENCH_ERR;
	}
	c->wsi = wsi;
	return BENCH_OK;
}

void conn_close(struct conn *c)
{
	if (c->wsi && c->state != CONN_CLOSED && c->state != CONN_FAILED) {
		c->want_close = 1;
		lws_callback_on_writable(c->wsi);
	}
}

/*
 * Services the loop until pred() holds (BENCH_OK), a connection fails
 * (BENCH_ERR) or `timeout_s` passes (BENCH_TIMEOUT). A NULL pred just waits.
 */
int bench_wait(struct bench *b, bench_pred pred, void *arg, double timeout_s, const char *what)
{
	uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);

	for (;;) {
		if (b->failed) {
			note("%s: %s", what, b->fail_why);
			return BENCH_ERR;
		}
		if (pred && pred(b, arg))
			return BENCH_OK;
		if (now_ns() >= deadline) {
			if (!pred)
				return BENCH_OK;
			note("timed out after %.0f s: %s", timeout_s, what);
			return BENCH_TIMEOUT;
		}
		if (bench_service(b)) {
			note("lws_service failed");
			return BENCH_ERR;
		}
	}
}

void bench_sleep(struct bench *b, double seconds)
{
	bench_wait(b, NULL, NULL, seconds, "sleep");
}

static int all_synced(struct bench *b, void *arg)
{
	struct conn_set *s = arg;
	size_t i;

	(void)b;
	for (i = 0; i < s->n; i++)
		if (s->v[i]->state != CONN_SYNCED)
			return 0;
	return 1;
}

int all_replied(struct bench *b, void *arg)
{
	struct conn_set *s = arg;
	size_t i;

	(void)b;
	for (i = 0; i < s->n; i++) {
		struct conn *c = s->v[i];

		if (c->out_head || conn_inflight(c) > 0)
			return 0;
		if (c->job.kind != JOB_NONE && !c->job.stopped && c->job.limit >= 0 &&
		    c->job.sent < c->job.limit)
			return 0;
	}
	return 1;
}

int all_gone(struct bench *b, void *arg)
{
	struct conn_set *s = arg;
	size_t i;

	(void)b;
	for (i = 0; i < s->n; i++)
		if (s->v[i]->wsi)
			return 0;
	return 1;
}

/* Opens, hellos and waits for synced on every connection of the set. */
int set_connect(struct bench *b, struct conn_set *s, double timeout_s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (conn_open(s->v[i]))
			break;
	return bench_wait(b, all_synced, s, timeout_s, "connect, hello and sync");
}

/* Closes every connection of the set and frees it. */
void set_close(struct bench *b, struct conn_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i]) {
			s->v[i]->expect_close = 1;
			conn_close(s->v[i]);
		}
	if (!b->failed)
		bench_wait(b, all_gone, s, 10, "closing");
	for (i = 0; i < s->n; i++)
		conn_free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int set_alloc(struct conn_set *s, size_t n)
{
	s->v = calloc(n ? n : 1, sizeof(*s->v));
	s->n = n;
	return s->v ? BENCH_OK : BENCH_ERR;
}

/* Did the server answer the scenario's requests with errors? */
int conn_check_errors(struct conn *c, const char *what)
{
	if (!c->errors)
		return BENCH_OK;
	note("%s: %" PRId64 " of %" PRId64 " requests failed, first: %s", what, c->errors,
	     c->replies, c->first_error);
	if (strstr(c->first_error, "rate_limited"))
		note("the server rate-limits this client: start it with its rate limit off");
	return BENCH_ERR;
}

/* Creates `nodes` nodes (pipelined) on c and waits for every ok. */
int populate(struct bench *b, struct conn *c, const char *prefix, int64_t nodes,
	     size_t data_bytes, int64_t window, double timeout_s)
{
	struct conn_set one = { &c, 1 };
	int64_t errors0 = c->errors;
	int rc;

	if (job_start(c, JOB_CREATE, prefix, nodes, nodes, window, 0, data_bytes))
		return BENCH_ERR;
	rc = bench_wait(b, all_replied, &one, timeout_s, "creating nodes");
	if (rc)
		return rc;
	if (c->errors > errors0) {
		note("node.create failed %" PRId64 " times, first: %s", c->errors - errors0,
		     c->first_error);
		return BENCH_ERR;
	}
	c->job.kind = JOB_NONE;
	return BENCH_OK;
}
