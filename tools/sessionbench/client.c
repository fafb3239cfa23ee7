/*
 * sessionbench: the load generator behind tools/bench.
 *
 * One subcommand per scenario (write, fanout, join, save, blob, populate,
 * ready, idle, plus freeport). Each connects to an already running sessiond, runs,
 * and prints its results on stdout as `key=value` lines (a number, or `null`
 * when the figure could not be taken); progress and the reason for every
 * `null` go to stderr as `sessionbench: ...`. tools/bench starts and stops the
 * server, runs the subcommands and turns their lines into the table and the
 * JSON object, so this program never decides what a target is.
 *
 * Design:
 * - One loop thread, one libwebsockets client context, many connections. Each
 *   scenario is plain sequential code: "start this, service the loop until
 *   that holds". The client shares a 2-core machine with the server; more
 *   client threads would only take CPU away from the thing being measured.
 *   A ticker thread does nothing but lws_cancel_service() every 1 ms while a
 *   paced job runs (20 ms otherwise), so lws_service() returns to re-check
 *   pacing and deadlines. (An lws_sul timer would do it on the loop thread,
 *   but lws 4.1 rounds a sub-millisecond wait down to poll(0) and spins.)
 * - Requests are generated lazily in the WRITEABLE callback by a `job`
 *   (create N nodes, or update nodes), bounded by a window of requests in
 *   flight and optionally paced to a rate. A frame is built at the moment it
 *   is written, so the time stamped into it (and kept per request id in a
 *   ring) is the real send time.
 * - Writes are batched: each WRITEABLE packs as many whole frames as fit in
 *   64 KiB, masks them itself and hands them to lws_write(LWS_WRITE_RAW),
 *   which sends them in one send() and buffers what the socket refuses.
 *   lws_write(LWS_WRITE_TEXT) costs a /dev/urandom read (the mask), a poll
 *   and a send per frame: the client then tops out near 45k frames/s on
 *   this machine and would measure itself instead of the server.
 * - Replies come in request order, but each is matched by its `re` anyway.
 *   Latency = reply receive time - send time of that id, on one clock
 *   (CLOCK_MONOTONIC), which is meaningful because client and server share
 *   the machine; fan-out latency is measured at the receivers from the
 *   send time the writer put into the patch (`"t"`).
 * - Incoming frames are classified with a tiny key scanner instead of a full
 *   JSON parse: at 200k deliveries/s a jansson parse per frame would make the
 *   client the bottleneck. The scanner finds the first `"key":` anywhere in
 *   the frame, which is exact for the frames this tool provokes (its own
 *   node data never contains the keys it looks for). Rare frames whose
 *   fields matter (admin.save's ok) are parsed with jansson.
 * - Messages larger than one rx chunk (sync frames reach ~1 MiB) are
 *   reassembled until lws_is_final_fragment() with nothing remaining.
 * - A connection the server closes unexpectedly, or that fails to connect,
 *   fails the scenario (exit 1, the reason on stderr), except in `ready`,
 *   which retries until the restarted server answers. A `bad_request` reply
 *   to a request type the server does not implement (admin.save) makes the
 *   scenario print `null` and exit 3, which tools/bench reports as a missing
 *   feature rather than a failure. Exit 2 is bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/tcp.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <sqlite3.h>

enum {
	BENCH_OK = 0,
	BENCH_ERR = -1,         /* a failure: the scenario is broken */
	BENCH_UNSUPPORTED = -2, /* the server refused a request type */
	BENCH_TIMEOUT = -3,
};

#define BENCH_RX_CHUNK (64 * 1024)
#define BENCH_RING_BITS 16 /* request send times kept per writer */
#define BENCH_MAX_DATA (4 * 1024 * 1024)
#define BENCH_BATCH (64 * 1024) /* bytes of frames per send */
#define BENCH_WS_HEADER 14      /* largest client frame header */

/* ---------------------------------------------------------------- time */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double ns_to_s(uint64_t ns)
{
	return (double)ns / 1e9;
}

static double cpu_self_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds used by process `pid` so far, or -1 when unreadable. */
static double cpu_pid_s(long pid)
{
	char path[64], buf[1024];
	unsigned long utime = 0, stime = 0;
	const char *p;
	FILE *f;
	size_t n;
	int field;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: count fields after its ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (field = 2; *p && field < 14; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%lu %lu", &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of process `pid` in KiB, or -1. */
static long rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ----------------------------------------------------------- reporting */

static const char *bench_scenario = "sessionbench";

static void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sessionbench: %s: ", bench_scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Prints `key=value`, or `key=null` for a negative or non-finite value. */
static void result(const char *key, double value, int decimals)
{
	if (!isfinite(value) || value < 0)
		printf("%s=null\n", key);
	else
		printf("%s=%.*f\n", key, decimals, value);
	fflush(stdout);
}

static void result_null(const char *key)
{
	printf("%s=null\n", key);
	fflush(stdout);
}

/* ------------------------------------------------------------ latencies */

/* Latency samples in microseconds; sorted lazily for percentiles. */
struct lat_vec {
	uint32_t *v;
	size_t n, cap;
	int sorted;
};

static void lat_add(struct lat_vec *l, uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return; /* a lost sample beats a lost run */
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	l->sorted = 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile in ms, or -1 with no samples. */
static double lat_pct_ms(struct lat_vec *l, double pct)
{
	size_t rank;

	if (!l->n)
		return -1;
	if (!l->sorted) {
		qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
		l->sorted = 1;
	}
	rank = (size_t)ceil(pct / 100.0 * (double)l->n);
	if (rank < 1)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return (double)l->v[rank - 1] / 1000.0;
}

static void lat_free(struct lat_vec *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------- frame scanning */

/*
 * Returns the first character of the value of the first `"key":` in the
 * frame, or NULL. See the header comment for why this is enough here.
 */
static const char *scan_key(const char *s, size_t len, const char *key)
{
	size_t kl = strlen(key);
	const char *end = s + len, *p = s, *q, *v;

	while (p < end) {
		q = memchr(p, '"', (size_t)(end - p));
		if (!q)
			return NULL;
		if ((size_t)(end - q) > kl + 2 && !memcmp(q + 1, key, kl) && q[kl + 1] == '"') {
			v = q + kl + 2;
			while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
				v++;
			if (v < end && *v == ':') {
				v++;
				while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
					v++;
				return v < end ? v : NULL;
			}
		}
		p = q + 1;
	}
	return NULL;
}

/* The string value of `key` (no unescaping), or NULL; its length in *out_len. */
static const char *scan_str(const char *s, size_t len, const char *key, size_t *out_len)
{
	const char *v = scan_key(s, len, key), *end = s + len, *q;

	if (!v || *v != '"')
		return NULL;
	for (q = v + 1; q < end && *q != '"'; q++)
		if (*q == '\\')
			q++;
	if (q >= end)
		return NULL;
	*out_len = (size_t)(q - v - 1);
	return v + 1;
}

/* The integer value of `key`; 0 when found, -1 when absent or not a number. */
static int scan_int(const char *s, size_t len, const char *key, int64_t *out)
{
	const char *v = scan_key(s, len, key), *end = s + len;
	int64_t x = 0;
	int neg = 0, digits = 0;

	if (!v)
		return -1;
	if (*v == '-') {
		neg = 1;
		v++;
	}
	for (; v < end && *v >= '0' && *v <= '9'; v++, digits++)
		x = x * 10 + (*v - '0');
	if (!digits)
		return -1;
	*out = neg ? -x : x;
	return 0;
}

static int str_is(const char *s, size_t len, const char *lit)
{
	return s && strlen(lit) == len && !memcmp(s, lit, len);
}

static size_t count_occurrences(const char *s, size_t len, const char *needle)
{
	size_t nl = strlen(needle), count = 0;
	const char *p = s, *end = s + len, *q;

	while (p < end && (q = memmem(p, (size_t)(end - p), needle, nl))) {
		count++;
		p = q + nl;
	}
	return count;
}

/* ------------------------------------------------------------ the client */

enum conn_state {
	CONN_NEW,
	CONN_CONNECTING,
	CONN_OPEN,     /* upgraded, hello queued or sent */
	CONN_WELCOMED, /* receiving sync frames */
	CONN_SYNCED,
	CONN_CLOSED,
	CONN_FAILED,
};

enum job_kind { JOB_NONE, JOB_CREATE, JOB_UPDATE };

/* What a connection sends on its own: created by the scenario, run lazily. */
struct job {
	enum job_kind kind;
	int64_t limit;      /* requests to send; -1 = until stopped */
	int64_t sent;
	int64_t window;     /* requests in flight at most */
	double rate;        /* requests/s when paced; 0 = as the window allows */
	uint64_t pace_start;
	int64_t nodes;      /* works on nodes PREFIX0000000 .. PREFIX(nodes-1) */
	int64_t first_node; /* node index of the first request */
	char prefix[24];
	size_t data_bytes;  /* JSON size of a created node's data */
	int stamp;          /* put "t": send time (ns) into the patch */
	int stopped;
};

struct out_msg {
	struct out_msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes, then the frame */
};

struct bench;
struct conn;

typedef void (*reply_hook)(struct conn *c, int64_t re, int ok, uint64_t sent, uint64_t now,
			   const char *m, size_t n);
typedef void (*event_hook)(struct conn *c, const char *m, size_t n, uint64_t now);

struct conn {
	struct bench *b;
	struct lws *wsi;
	enum conn_state state;
	char user[64];
	char session[72];
	int admin;
	int want_close;
	int expect_close; /* a server close is not a failure */
	int close_code;
	char why[256]; /* why it failed or was closed */

	struct out_msg *out_head, *out_tail;
	struct job job;

	char *rx;
	size_t rx_len, rx_cap;

	int64_t next_id;
	int64_t requests, replies, oks, errors;
	char first_error[256];
	uint64_t *sent_ns; /* ring of send times by request id */

	uint64_t t_open, t_hello, t_welcome, t_synced, t_last_rx;
	int64_t synced_seq;
	uint64_t sync_frames, sync_bytes, sync_uuids;
	uint64_t events, node_events;

	struct lat_vec *lat; /* reply latencies go here when set */
	reply_hook on_reply;
	event_hook on_event;
	void *scenario; /* the scenario's own state */
};

struct bench {
	struct lws_context *ctx;
	pthread_t ticker;
	int ticker_started;
	atomic_int ticker_stop;
	atomic_int fast_tick; /* a paced job runs */
	const char *host;
	int port;
	const char *admin_password;
	int verbose;
	int failed;           /* a connection failed unexpectedly */
	int tolerate_failures;
	char fail_why[400];
	struct conn **paced;  /* connections with paced jobs: woken by the tick */
	size_t npaced;
	char *genbuf;         /* the frame being generated */
	size_t gencap;
	unsigned char *txbuf; /* LWS_PRE + a batch of masked frames */
	size_t txcap;
	uint32_t mask_state;  /* xorshift state for frame masks */
	char *blob;           /* random filler for node data */
	size_t blob_len;
	uint64_t deliveries;  /* node events received, all connections */
	uint64_t rx_frames;
	uint64_t t_last_rx;
};

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
static int conn_request(struct conn *c, json_t *req, int64_t *out_id)
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

static int job_start(struct conn *c, enum job_kind kind, const char *prefix, int64_t nodes,
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

static void job_stop(struct conn *c)
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
static int bench_service(struct bench *b)
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

static int bench_init(struct bench *b, const char *host, int port, size_t max_data, int verbose)
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

static void bench_destroy(struct bench *b)
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

static struct conn *conn_new(struct bench *b, const char *session, const char *user, int admin)
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

static void conn_free(struct conn *c)
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
static int conn_open(struct conn *c)
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

static void conn_close(struct conn *c)
{
	if (c->wsi && c->state != CONN_CLOSED && c->state != CONN_FAILED) {
		c->want_close = 1;
		lws_callback_on_writable(c->wsi);
	}
}

typedef int (*bench_pred)(struct bench *b, void *arg);

/*
 * Services the loop until pred() holds (BENCH_OK), a connection fails
 * (BENCH_ERR) or `timeout_s` passes (BENCH_TIMEOUT). A NULL pred just waits.
 */
static int bench_wait(struct bench *b, bench_pred pred, void *arg, double timeout_s,
		      const char *what)
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

static void bench_sleep(struct bench *b, double seconds)
{
	bench_wait(b, NULL, NULL, seconds, "sleep");
}

struct conn_set {
	struct conn **v;
	size_t n;
};

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

static int all_replied(struct bench *b, void *arg)
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

static int all_gone(struct bench *b, void *arg)
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
static int set_connect(struct bench *b, struct conn_set *s, double timeout_s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (conn_open(s->v[i]))
			break;
	return bench_wait(b, all_synced, s, timeout_s, "connect, hello and sync");
}

/* Closes every connection of the set and frees it. */
static void set_close(struct bench *b, struct conn_set *s)
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

static int set_alloc(struct conn_set *s, size_t n)
{
	s->v = calloc(n ? n : 1, sizeof(*s->v));
	s->n = n;
	return s->v ? BENCH_OK : BENCH_ERR;
}

/* Did the server answer the scenario's requests with errors? */
static int conn_check_errors(struct conn *c, const char *what)
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
static int populate(struct bench *b, struct conn *c, const char *prefix, int64_t nodes,
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

/* ------------------------------------------------------------- options */

struct opts {
	const char *host;
	int port;
	const char *session;
	const char *admin_password;
	const char *sqlite_dir;
	long pid;
	int64_t nodes, ops, window, conns, runs;
	int64_t writers, watchers;
	size_t data_bytes;
	double seconds, warmup, rate, pre, post, timeout, max_seconds;
	double latency_rate; /* fanout: writes/s of the latency phase (0: half the max) */
	double mb;
	uint64_t t0_realtime;
	int verbose;
};

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0))
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 2; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t n = 0;
		double d = 0;

		if (!strcmp(k, "--verbose")) {
			o->verbose = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "sessionbench: %s needs a value\n", k);
			return -1;
		}
		i++;
		if (!strcmp(k, "--host"))
			o->host = v;
		else if (!strcmp(k, "--session"))
			o->session = v;
		else if (!strcmp(k, "--admin-password"))
			o->admin_password = v;
		else if (!strcmp(k, "--sqlite-dir"))
			o->sqlite_dir = v;
		else if (!strcmp(k, "--port") || !strcmp(k, "--pid") || !strcmp(k, "--nodes") ||
			 !strcmp(k, "--ops") || !strcmp(k, "--window") || !strcmp(k, "--conns") ||
			 !strcmp(k, "--runs") || !strcmp(k, "--writers") ||
			 !strcmp(k, "--watchers") || !strcmp(k, "--data-bytes") ||
			 !strcmp(k, "--t0-ns")) {
			if (parse_i64(v, &n)) {
				fprintf(stderr, "sessionbench: %s: not a count: %s\n", k, v);
				return -1;
			}
			if (!strcmp(k, "--port"))
				o->port = (int)n;
			else if (!strcmp(k, "--pid"))
				o->pid = (long)n;
			else if (!strcmp(k, "--nodes"))
				o->nodes = n;
			else if (!strcmp(k, "--ops"))
				o->ops = n;
			else if (!strcmp(k, "--window"))
				o->window = n;
			else if (!strcmp(k, "--conns"))
				o->conns = n;
			else if (!strcmp(k, "--runs"))
				o->runs = n;
			else if (!strcmp(k, "--writers"))
				o->writers = n;
			else if (!strcmp(k, "--watchers"))
				o->watchers = n;
			else if (!strcmp(k, "--data-bytes"))
				o->data_bytes = (size_t)n;
			else
				o->t0_realtime = (uint64_t)n;
		} else if (!strcmp(k, "--seconds") || !strcmp(k, "--warmup") ||
			   !strcmp(k, "--rate") || !strcmp(k, "--pre") || !strcmp(k, "--post") ||
			   !strcmp(k, "--timeout") || !strcmp(k, "--max-seconds") ||
			   !strcmp(k, "--mb") || !strcmp(k, "--latency-rate")) {
			if (parse_double(v, &d)) {
				fprintf(stderr, "sessionbench: %s: not a number: %s\n", k, v);
				return -1;
			}
			if (!strcmp(k, "--seconds"))
				o->seconds = d;
			else if (!strcmp(k, "--warmup"))
				o->warmup = d;
			else if (!strcmp(k, "--rate"))
				o->rate = d;
			else if (!strcmp(k, "--pre"))
				o->pre = d;
			else if (!strcmp(k, "--post"))
				o->post = d;
			else if (!strcmp(k, "--timeout"))
				o->timeout = d;
			else if (!strcmp(k, "--max-seconds"))
				o->max_seconds = d;
			else if (!strcmp(k, "--latency-rate"))
				o->latency_rate = d;
			else
				o->mb = d;
		} else {
			fprintf(stderr, "sessionbench: unknown option %s\n", k);
			return -1;
		}
	}
	if (o->data_bytes > BENCH_MAX_DATA) {
		fprintf(stderr, "sessionbench: --data-bytes: at most %d\n", BENCH_MAX_DATA);
		return -1;
	}
	return 0;
}

/* -------------------------------------------------------- sqlite baseline */

/* {"n":N,"blob":"ccc..."} into buf (blob + 64 bytes); returns its length. */
static int make_data(char *buf, int64_t n, char fill, size_t blob)
{
	int len = snprintf(buf, 40, "{\"n\":%" PRId64 ",\"blob\":\"", n);

	memset(buf + len, fill ? fill : 'x', blob);
	len += (int)blob;
	memcpy(buf + len, "\"}", 3);
	return len + 2;
}

static int sql_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		note("sqlite: %s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		return BENCH_ERR;
	}
	return BENCH_OK;
}

/*
 * The same number of ~500-byte UPDATEs as the write scenario, 256 per
 * transaction, on a WAL database with synchronous=NORMAL and the server's
 * nodes table: what the server could at best do per op if it batched its
 * commits. Returns ops/s, or -1.
 */
static double sqlite_baseline(const char *dir, int64_t nodes, int64_t ops, size_t data_bytes)
{
	char path[4096], uuid[32], *data = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL, *upd = NULL;
	double result_ops = -1;
	uint64_t t0;
	size_t blob = data_bytes > 20 ? data_bytes - 20 : 1;
	int64_t i;
	const int batch = 256;

	snprintf(path, sizeof(path), "%s/sqlite_baseline.db", dir);
	unlink(path);
	data = malloc(data_bytes + 64);
	if (!data)
		goto out;
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		note("sqlite: cannot open %s", path);
		goto out;
	}
	if (sql_exec(db, "PRAGMA journal_mode=WAL") || sql_exec(db, "PRAGMA synchronous=NORMAL") ||
	    sql_exec(db, "CREATE TABLE nodes (uuid TEXT PRIMARY KEY, kind TEXT NOT NULL, "
			 "data TEXT, owner TEXT, version INTEGER NOT NULL, seq INTEGER NOT NULL, "
			 "updated_by TEXT, updated_at REAL NOT NULL, "
			 "deleted INTEGER NOT NULL DEFAULT 0) STRICT") ||
	    sql_exec(db, "CREATE INDEX nodes_seq ON nodes (seq)"))
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO nodes (uuid, kind, data, version, seq, updated_by, "
			       "updated_at) VALUES (?1, 'Mesh', ?2, 1, ?3, 'bench', ?4)",
			       -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "UPDATE nodes SET data = ?2, version = version + 1, seq = ?3, "
			       "updated_by = 'bench', updated_at = ?4 WHERE uuid = ?1",
			       -1, &upd, NULL) != SQLITE_OK) {
		note("sqlite: prepare: %s", sqlite3_errmsg(db));
		goto out;
	}
	memset(data, 'x', blob);
	if (sql_exec(db, "BEGIN"))
		goto out;
	for (i = 0; i < nodes; i++) {
		int n = make_data(data, i, 0, blob);

		snprintf(uuid, sizeof(uuid), "w%07" PRId64, i);
		sqlite3_bind_text(ins, 1, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, data, n, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, i + 1);
		sqlite3_bind_double(ins, 4, (double)realtime_ns() / 1e9);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			note("sqlite: insert: %s", sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(ins);
	}
	if (sql_exec(db, "COMMIT") || sql_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"))
		goto out;

	t0 = now_ns();
	for (i = 0; i < ops; i++) {
		int n;

		if (i % batch == 0 && sql_exec(db, "BEGIN"))
			goto out;
		/* Serialize like a server would: a fresh ~500-byte JSON text per op. */
		n = make_data(data, i + 1, (char)('a' + i % 26), blob);
		snprintf(uuid, sizeof(uuid), "w%07" PRId64, i % nodes);
		sqlite3_bind_text(upd, 1, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(upd, 2, data, n, SQLITE_STATIC);
		sqlite3_bind_int64(upd, 3, nodes + i + 1);
		sqlite3_bind_double(upd, 4, (double)realtime_ns() / 1e9);
		if (sqlite3_step(upd) != SQLITE_DONE) {
			note("sqlite: update: %s", sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(upd);
		if ((i % batch == batch - 1 || i == ops - 1) && sql_exec(db, "COMMIT"))
			goto out;
	}
	result_ops = (double)ops / ns_to_s(now_ns() - t0);
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	sqlite3_close(db);
	free(data);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sqlite_baseline.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sqlite_baseline.db-shm", dir);
	unlink(path);
	return result_ops;
}

/* -------------------------------------------------------------- scenarios */

/*
 * write: one client creates `nodes` nodes, then sends `ops` node.update
 * patches with `window` in flight. ops/s counts ok replies from the first
 * update sent to the last reply.
 */
static int run_write(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct lat_vec lat = { NULL, 0, 0, 0 };
	struct conn *c;
	double sqlite_ops = -1, ops_s = -1, cpu0, cpu_srv0, cpu_s, cpu_srv;
	uint64_t t0, t1;
	int64_t oks0;
	int rc;

	if (o->sqlite_dir) {
		sqlite_ops = sqlite_baseline(o->sqlite_dir, o->nodes, o->ops, o->data_bytes);
		result("sqlite_batched_ops_per_s", sqlite_ops, 0);
	}
	if (set_alloc(&set, 1) || !(set.v[0] = conn_new(b, o->session, "writer", 0)))
		return BENCH_ERR;
	c = set.v[0];
	rc = set_connect(b, &set, o->timeout);
	if (!rc)
		rc = populate(b, c, "w", o->nodes, o->data_bytes, o->window, o->timeout);
	if (rc)
		goto out;

	c->lat = &lat;
	oks0 = c->oks;
	cpu0 = cpu_self_s();
	cpu_srv0 = cpu_pid_s(o->pid);
	t0 = now_ns();
	if ((rc = job_start(c, JOB_UPDATE, "w", o->nodes, o->ops, o->window, 0, 0)))
		goto out;
	rc = bench_wait(b, all_replied, &set, o->max_seconds, "updates");
	if (rc == BENCH_TIMEOUT) {
		/* Slow (e.g. SYNC=full): stop sending, report what got through. */
		job_stop(c);
		note("stopped after %.0f s with %" PRId64 " of %" PRId64 " updates sent",
		     o->max_seconds, c->job.sent, o->ops);
		rc = bench_wait(b, all_replied, &set, o->timeout, "last replies");
	}
	if (rc)
		goto out;
	t1 = now_ns();
	cpu_s = cpu_self_s() - cpu0;
	cpu_srv = cpu_pid_s(o->pid) - cpu_srv0;
	if ((rc = conn_check_errors(c, "node.update")))
		goto out;
	ops_s = (double)(c->oks - oks0) / ns_to_s(t1 - t0);
	result("write_ops_per_s", ops_s, 0);
	result("write_p50_ms", lat_pct_ms(&lat, 50), 2);
	result("write_p99_ms", lat_pct_ms(&lat, 99), 2);
	result("write_max_ms", lat_pct_ms(&lat, 100), 2);
	result("write_ops", (double)(c->oks - oks0), 0);
	result("write_client_cpu_pct", 100 * cpu_s / ns_to_s(t1 - t0), 0);
	if (o->pid)
		result("write_server_cpu_pct", cpu_srv < 0 ? -1 : 100 * cpu_srv / ns_to_s(t1 - t0),
		       0);
	if (sqlite_ops > 0)
		result("write_ratio", ops_s / sqlite_ops, 3);
out:
	if (rc) {
		result_null("write_ops_per_s");
		result_null("write_p99_ms");
		result_null("write_ratio");
	}
	set_close(b, &set);
	lat_free(&lat);
	return rc;
}

/* fanout: writers pipeline (max rate) or pace (half rate); all count. */
struct fanout_state {
	int recording;
	uint64_t rec_from, rec_to; /* send times whose latency is kept */
	struct lat_vec lat;
};

static void fanout_on_event(struct conn *c, const char *m, size_t n, uint64_t now)
{
	struct fanout_state *fs = c->scenario;
	int64_t t;

	if (!fs->recording || scan_int(m, n, "t", &t) || t <= 0)
		return;
	if ((uint64_t)t >= fs->rec_from && (uint64_t)t < fs->rec_to && now >= (uint64_t)t)
		lat_add(&fs->lat, now - (uint64_t)t);
}

static int64_t fanout_oks(struct conn_set *s, int64_t writers)
{
	int64_t i, sum = 0;

	for (i = 0; i < writers; i++)
		sum += s->v[i]->oks;
	return sum;
}

struct fanout_drain {
	struct conn_set *set;
	int64_t writers;
	uint64_t expect;
};

static int fanout_drained(struct bench *b, void *arg)
{
	struct fanout_drain *d = arg;
	struct conn_set w = { d->set->v, (size_t)d->writers };

	return all_replied(b, &w) && b->deliveries >= d->expect;
}

static int run_fanout(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct fanout_state fs;
	struct fanout_drain drain;
	int64_t total = o->writers + o->watchers, i, oks0, oks1, errors = 0;
	uint64_t d0, d1, t0, t1, deliv0;
	double deliveries_s = -1, ops_s, half_rate, cpu0, cpu_srv0, cpu_s, cpu_srv;
	double p50 = -1, p99 = -1;
	char user[40];
	int rc;

	memset(&fs, 0, sizeof(fs));
	if (o->writers < 1 || total < 2) {
		note("needs a writer and one other connection");
		return BENCH_ERR;
	}
	if (set_alloc(&set, (size_t)total))
		return BENCH_ERR;
	for (i = 0; i < total; i++) {
		if (i < o->writers)
			snprintf(user, sizeof(user), "writer%" PRId64, i);
		else
			snprintf(user, sizeof(user), "watcher%" PRId64, i - o->writers);
		set.v[i] = conn_new(b, o->session, user, 0);
		if (!set.v[i]) {
			rc = BENCH_ERR;
			goto out;
		}
		set.v[i]->scenario = &fs;
		set.v[i]->on_event = fanout_on_event;
	}
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	for (i = 0; i < o->writers; i++) {
		char prefix[24];

		snprintf(prefix, sizeof(prefix), "f%" PRId64 "-", i);
		if ((rc = populate(b, set.v[i], prefix, o->nodes, o->data_bytes, o->window,
				   o->timeout)))
			goto out;
	}
	bench_sleep(b, 0.2); /* let the create events land */
	drain.set = &set;
	drain.writers = o->writers;

	/* Phase 1: as fast as the windows allow. */
	deliv0 = b->deliveries;
	oks0 = fanout_oks(&set, o->writers);
	for (i = 0; i < o->writers; i++) {
		char prefix[24];

		snprintf(prefix, sizeof(prefix), "f%" PRId64 "-", i);
		set.v[i]->job.kind = JOB_NONE;
		if ((rc = job_start(set.v[i], JOB_UPDATE, prefix, o->nodes, -1, o->window, 0, 0)))
			goto out;
		set.v[i]->job.stamp = 1;
	}
	bench_sleep(b, o->warmup);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	d0 = b->deliveries;
	t0 = now_ns();
	oks1 = fanout_oks(&set, o->writers);
	cpu0 = cpu_self_s();
	cpu_srv0 = cpu_pid_s(o->pid);
	bench_sleep(b, o->seconds);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	d1 = b->deliveries;
	t1 = now_ns();
	cpu_s = cpu_self_s() - cpu0;
	cpu_srv = cpu_pid_s(o->pid) - cpu_srv0;
	ops_s = (double)(fanout_oks(&set, o->writers) - oks1) / ns_to_s(t1 - t0);
	deliveries_s = (double)(d1 - d0) / ns_to_s(t1 - t0);
	for (i = 0; i < o->writers; i++)
		job_stop(set.v[i]);
	drain.expect = deliv0 + (uint64_t)((fanout_oks(&set, o->writers) - oks0) * (total - 1));
	rc = bench_wait(b, fanout_drained, &drain, o->timeout, "fan-out drain (max rate)");
	if (rc == BENCH_TIMEOUT)
		note("only %" PRIu64 " of %" PRIu64 " deliveries arrived",
		     b->deliveries - deliv0, drain.expect - deliv0);
	if (rc)
		goto out;
	for (i = 0; i < o->writers; i++)
		errors += set.v[i]->errors;
	if (errors) {
		rc = conn_check_errors(set.v[0], "node.update (fan-out)");
		goto out;
	}
	result("fanout_deliveries_per_s", deliveries_s, 0);
	result("fanout_ops_per_s", ops_s, 0);
	result("fanout_client_cpu_pct", 100 * cpu_s / ns_to_s(t1 - t0), 0);
	if (o->pid)
		result("fanout_server_cpu_pct", cpu_srv < 0 ? -1 : 100 * cpu_srv / ns_to_s(t1 - t0),
		       0);

	/* Phase 2: paced at half the measured op rate, latency at receivers. */
	half_rate = o->latency_rate > 0 ? o->latency_rate : ops_s / 2;
	if (half_rate < 1)
		half_rate = 1;
	deliv0 = b->deliveries;
	oks0 = fanout_oks(&set, o->writers);
	for (i = 0; i < o->writers; i++) {
		char prefix[24];

		snprintf(prefix, sizeof(prefix), "f%" PRId64 "-", i);
		if ((rc = job_start(set.v[i], JOB_UPDATE, prefix, o->nodes, -1, 1 << 14,
				    half_rate / (double)o->writers, 0)))
			goto out;
		set.v[i]->job.stamp = 1;
	}
	fs.rec_from = now_ns() + (uint64_t)(o->warmup * 1e9);
	fs.rec_to = fs.rec_from + (uint64_t)(o->seconds * 1e9);
	fs.recording = 1;
	bench_sleep(b, o->warmup);
	cpu0 = cpu_self_s();
	cpu_srv0 = cpu_pid_s(o->pid);
	t0 = now_ns();
	bench_sleep(b, o->seconds);
	t1 = now_ns();
	cpu_s = cpu_self_s() - cpu0;
	cpu_srv = cpu_pid_s(o->pid) - cpu_srv0;
	for (i = 0; i < o->writers; i++)
		job_stop(set.v[i]);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	drain.expect = deliv0 + (uint64_t)((fanout_oks(&set, o->writers) - oks0) * (total - 1));
	rc = bench_wait(b, fanout_drained, &drain, o->timeout, "fan-out drain (half rate)");
	if (rc)
		goto out;
	p50 = lat_pct_ms(&fs.lat, 50);
	p99 = lat_pct_ms(&fs.lat, 99);
	result("fanout_half_rate_ops_per_s", half_rate, 0);
	result("fanout_p50_ms", p50, 2);
	result("fanout_p99_ms", p99, 2);
	result("fanout_max_ms", lat_pct_ms(&fs.lat, 100), 2);
	result("fanout_latency_samples", (double)fs.lat.n, 0);
	result("fanout_half_client_cpu_pct", 100 * cpu_s / ns_to_s(t1 - t0), 0);
	if (o->pid)
		result("fanout_half_server_cpu_pct",
		       cpu_srv < 0 ? -1 : 100 * cpu_srv / ns_to_s(t1 - t0), 0);
out:
	if (rc) {
		if (deliveries_s < 0)
			result_null("fanout_deliveries_per_s");
		result_null("fanout_p50_ms");
		result_null("fanout_p99_ms");
	}
	set_close(b, &set);
	lat_free(&fs.lat);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * join: a loader creates the session's nodes, then `runs` new clients in
 * turn time hello-sent -> synced. Everyone stays connected until the end so
 * that no leave-triggered save runs under a measurement.
 */
static int run_join(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	double *ms = NULL, median;
	int64_t r;
	int rc;

	if (o->runs < 1)
		o->runs = 1;
	ms = calloc((size_t)o->runs, sizeof(*ms));
	if (!ms || set_alloc(&set, (size_t)o->runs + 1) ||
	    !(set.v[0] = conn_new(b, o->session, "loader", 0))) {
		rc = BENCH_ERR;
		goto out;
	}
	set.n = 1;
	if ((rc = set_connect(b, &set, o->timeout)) ||
	    (rc = populate(b, set.v[0], "j", o->nodes, o->data_bytes, o->window, o->timeout)))
		goto out;
	bench_sleep(b, 0.3);
	for (r = 0; r < o->runs; r++) {
		char user[40];
		struct conn *c;
		struct conn_set one;

		snprintf(user, sizeof(user), "joiner%" PRId64, r);
		c = set.v[set.n] = conn_new(b, o->session, user, 0);
		if (!c) {
			rc = BENCH_ERR;
			goto out;
		}
		set.n++;
		one.v = &c;
		one.n = 1;
		if ((rc = set_connect(b, &one, o->timeout)))
			goto out;
		ms[r] = ns_to_ms(c->t_synced - c->t_hello);
		note("join %" PRId64 ": %.1f ms (welcome after %.1f ms), %" PRIu64
		     " sync frames, %.1f MB, %" PRIu64 " uuids",
		     r + 1, ms[r], ns_to_ms(c->t_welcome - c->t_hello), c->sync_frames,
		     (double)c->sync_bytes / 1e6, c->sync_uuids);
		if (c->sync_uuids < (uint64_t)o->nodes)
			note("the sync held %" PRIu64 " uuids for %" PRId64 " nodes", c->sync_uuids,
			     o->nodes);
		bench_sleep(b, 0.2);
	}
	qsort(ms, (size_t)o->runs, sizeof(*ms), cmp_double);
	median = ms[o->runs / 2];
	result("join_ms", median, 1);
	result("join_min_ms", ms[0], 1);
	result("join_max_ms", ms[o->runs - 1], 1);
	result("join_sync_mb", (double)set.v[1]->sync_bytes / 1e6, 1);
out:
	if (rc)
		result_null("join_ms");
	set_close(b, &set);
	free(ms);
	return rc;
}

/* save: a paced writer, an admin.save in the middle, stalls in the window. */
struct save_sample {
	uint64_t sent;
	uint32_t lat_us;
};

struct save_state {
	struct save_sample *v;
	size_t n, cap;
	int64_t save_id;
	int save_done, save_ok;
	uint64_t save_sent, save_reply;
	double ms, bytes; /* from the ok; -1 when absent */
	char backup[128];
};

static void save_on_writer_reply(struct conn *c, int64_t re, int ok, uint64_t sent, uint64_t now,
				 const char *m, size_t n)
{
	struct save_state *ss = c->scenario;

	(void)re;
	(void)m;
	(void)n;
	if (!ok || !sent)
		return;
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 8192;
		struct save_sample *v = realloc(ss->v, cap * sizeof(*v));

		if (!v)
			return;
		ss->v = v;
		ss->cap = cap;
	}
	ss->v[ss->n].sent = sent;
	ss->v[ss->n].lat_us = (uint32_t)((now - sent) / 1000);
	ss->n++;
}

/* admin.save's reply: the one frame whose fields are parsed for real. */
static void save_on_admin_reply(struct conn *c, int64_t re, int ok, uint64_t sent, uint64_t now,
				const char *m, size_t n)
{
	struct save_state *ss = c->scenario;
	json_t *reply, *v;

	(void)sent;
	if (re != ss->save_id)
		return;
	ss->save_done = 1;
	ss->save_ok = ok;
	ss->save_reply = now;
	if (!ok)
		return;
	reply = json_loadb(m, n, 0, NULL);
	if (!reply)
		return;
	if ((v = json_object_get(reply, "ms")) && json_is_number(v)) /* borrowed */
		ss->ms = json_number_value(v);
	if ((v = json_object_get(reply, "bytes")) && json_is_number(v))
		ss->bytes = json_number_value(v);
	if ((v = json_object_get(reply, "backup")) && json_is_string(v))
		snprintf(ss->backup, sizeof(ss->backup), "%s", json_string_value(v));
	json_decref(reply);
}

static int save_replied(struct bench *b, void *arg)
{
	(void)b;
	return ((struct save_state *)arg)->save_done;
}

static int run_save(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct conn_set writer_only;
	struct save_state ss;
	struct lat_vec during = { NULL, 0, 0, 0 }, outside = { NULL, 0, 0, 0 };
	struct conn *w, *a;
	int64_t nodes;
	double rtt_ms;
	size_t i;
	int rc;

	memset(&ss, 0, sizeof(ss));
	ss.ms = ss.bytes = -1;
	nodes = (int64_t)(o->mb * 1024 * 1024 / (double)(o->data_bytes + 100));
	if (nodes < 1)
		nodes = 1;
	if (set_alloc(&set, 2) || !(set.v[0] = conn_new(b, o->session, "writer", 0)) ||
	    !(set.v[1] = conn_new(b, o->session, "admin", 1))) {
		rc = BENCH_ERR;
		goto out;
	}
	w = set.v[0];
	a = set.v[1];
	w->scenario = a->scenario = &ss;
	a->on_reply = save_on_admin_reply;
	writer_only.v = &w;
	writer_only.n = 1;
	set.n = 1;
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	note("creating %" PRId64 " nodes of %zu bytes (%.0f MB)", nodes, o->data_bytes, o->mb);
	if ((rc = populate(b, w, "s", nodes, o->data_bytes, o->window, o->timeout)))
		goto out;
	set.n = 2;
	{
		struct conn_set one = { &a, 1 };

		if ((rc = set_connect(b, &one, o->timeout)))
			goto out;
	}

	w->on_reply = save_on_writer_reply;
	if ((rc = job_start(w, JOB_UPDATE, "s", nodes, -1, 1 << 15, o->rate, 0)))
		goto out;
	bench_sleep(b, o->pre);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	if ((rc = conn_request(a, json_pack("{s:s}", "type", "admin.save"), &ss.save_id)))
		goto out;
	a->requests++;
	ss.save_sent = now_ns();
	rc = bench_wait(b, save_replied, &ss, o->timeout, "admin.save reply");
	if (rc)
		goto out;
	bench_sleep(b, o->post);
	job_stop(w);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	if ((rc = bench_wait(b, all_replied, &writer_only, o->timeout, "last updates")))
		goto out;
	if ((rc = conn_check_errors(w, "node.update (save)")))
		goto out;
	if (!ss.save_ok) {
		note("admin.save failed: %s", a->first_error);
		rc = strstr(a->first_error, "bad_request") || strstr(a->first_error, "unknown") ?
			     BENCH_UNSUPPORTED :
			     BENCH_ERR;
		goto out;
	}
	rtt_ms = ns_to_ms(ss.save_reply - ss.save_sent);
	for (i = 0; i < ss.n; i++) {
		struct lat_vec *l = ss.v[i].sent >= ss.save_sent && ss.v[i].sent <= ss.save_reply ?
					    &during :
					    &outside;

		lat_add(l, (uint64_t)ss.v[i].lat_us * 1000);
	}
	if (ss.ms < 0)
		note("admin.save's ok has no \"ms\": reporting the round trip");
	else
		note("admin.save: %s, %.0f bytes, %.0f ms (round trip %.0f ms)", ss.backup,
		     ss.bytes, ss.ms, rtt_ms);
	result("save_ms", ss.ms >= 0 ? ss.ms : rtt_ms, 1);
	result("save_rtt_ms", rtt_ms, 1);
	result("save_bytes", ss.bytes, 0);
	result("save_stall_max_ms", lat_pct_ms(&during, 100), 2);
	result("save_stall_p99_ms", lat_pct_ms(&during, 99), 2);
	result("save_updates_during", (double)during.n, 0);
	result("save_outside_p99_ms", lat_pct_ms(&outside, 99), 2);
	result("save_rate", o->rate, 0);
out:
	if (rc) {
		result_null("save_ms");
		result_null("save_stall_max_ms");
		result_null("save_stall_p99_ms");
	}
	set_close(b, &set);
	free(ss.v);
	lat_free(&during);
	lat_free(&outside);
	return rc;
}

/* blob: one blob of --mb MiB uploaded (blob.put, binary frames, blob.end)
 * while another client writes at --rate, then the WAL it left is
 * checkpointed for --post seconds while that client goes on writing, then
 * the blob is downloaded.
 *
 * The uploader is not an lws connection: it is a plain blocking socket on a
 * thread of its own. The lws 4.1 client masks what it sends and parses what
 * it receives one byte at a time, which tops out near 200 MB/s on this
 * machine and would measure the client (a Python client on a plain socket
 * read the same download at 400-450 MB/s). The writer stays on the lws loop
 * thread, so its latencies are measured as in the other scenarios. */
struct raw_ws {
	int fd;
	unsigned char *rx;
	size_t rx_len, rx_cap;
	unsigned char *tx;
	size_t tx_cap;
	uint32_t mask;
};

static int raw_send_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return BENCH_ERR;
		p += k;
		n -= (size_t)k;
	}
	return BENCH_OK;
}

static int raw_fill(struct raw_ws *r, size_t need)
{
	while (r->rx_len < need) {
		ssize_t k;

		if (r->rx_cap - r->rx_len < 65536) {
			size_t cap = r->rx_cap * 2 > need + 65536 ? r->rx_cap * 2 : need + 65536;
			unsigned char *p = realloc(r->rx, cap);

			if (!p)
				return BENCH_ERR;
			r->rx = p;
			r->rx_cap = cap;
		}
		k = recv(r->fd, r->rx + r->rx_len, r->rx_cap - r->rx_len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return BENCH_ERR;
		r->rx_len += (size_t)k;
	}
	return BENCH_OK;
}

static void raw_consume(struct raw_ws *r, size_t n)
{
	memmove(r->rx, r->rx + n, r->rx_len - n);
	r->rx_len -= n;
}

/* One client frame (masked), sent in pieces of at most tx_cap bytes. */
static int raw_send(struct raw_ws *r, int opcode, const unsigned char *p, size_t n)
{
	unsigned char h[14], mask[4];
	size_t hl = 2, off = 0;
	uint64_t m8;

	r->mask ^= r->mask << 13;
	r->mask ^= r->mask >> 17;
	r->mask ^= r->mask << 5;
	memcpy(mask, &r->mask, 4);
	memcpy(&m8, mask, 4);
	memcpy((unsigned char *)&m8 + 4, mask, 4);
	h[0] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		h[1] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	memcpy(h + hl, mask, 4);
	hl += 4;
	if (raw_send_all(r->fd, h, hl))
		return BENCH_ERR;
	while (off < n) { /* pieces are multiples of 8: the mask stays aligned */
		size_t k = n - off < r->tx_cap ? n - off : r->tx_cap, i = 0;

		for (; i + 8 <= k; i += 8) {
			uint64_t v;

			memcpy(&v, p + off + i, 8);
			v ^= m8;
			memcpy(r->tx + i, &v, 8);
		}
		for (; i < k; i++)
			r->tx[i] = p[off + i] ^ mask[i & 3];
		if (raw_send_all(r->fd, r->tx, k))
			return BENCH_ERR;
		off += k;
	}
	return BENCH_OK;
}

static int raw_send_json(struct raw_ws *r, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	int rc = text ? raw_send(r, 1, (const unsigned char *)text, strlen(text)) : BENCH_ERR;

	free(text);
	json_decref(obj);
	return rc;
}

/* The next frame: *op, and for text frames a copy in *text (caller frees);
 * binary payload bytes are only counted into *bin. */
static int raw_frame(struct raw_ws *r, int *op, char **text, uint64_t *bin)
{
	size_t off = 2;
	uint64_t len;

	*text = NULL;
	if (raw_fill(r, 2))
		return BENCH_ERR;
	*op = r->rx[0] & 15;
	len = r->rx[1] & 127;
	if (len == 126) {
		if (raw_fill(r, 4))
			return BENCH_ERR;
		len = (uint64_t)r->rx[2] << 8 | r->rx[3];
		off = 4;
	} else if (len == 127) {
		if (raw_fill(r, 10))
			return BENCH_ERR;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | r->rx[2 + i];
		off = 10;
	}
	if (*op == 2) {
		/* Count the payload as it comes, without holding a frame. */
		raw_consume(r, off);
		while (len) {
			size_t k;

			if (!r->rx_len && raw_fill(r, 1))
				return BENCH_ERR;
			k = r->rx_len < len ? r->rx_len : (size_t)len;
			raw_consume(r, k);
			len -= k;
			*bin += k;
		}
		return BENCH_OK;
	}
	if (raw_fill(r, off + (size_t)len))
		return BENCH_ERR;
	if (*op == 1) {
		*text = malloc((size_t)len + 1);
		if (!*text)
			return BENCH_ERR;
		memcpy(*text, r->rx + off, (size_t)len);
		(*text)[len] = '\0';
	}
	raw_consume(r, off + (size_t)len);
	return *op == 8 ? BENCH_ERR : BENCH_OK; /* close */
}

/* Reads frames until the reply with re == id (a copy in *out, caller
 * frees); counts binary bytes into *bin. */
static int raw_reply(struct raw_ws *r, int64_t id, char **out, uint64_t *bin)
{
	for (;;) {
		int op = 0;
		char *t = NULL;
		int64_t re = -1;

		if (raw_frame(r, &op, &t, bin))
			return BENCH_ERR;
		if (t && scan_int(t, strlen(t), "re", &re) == 0 && re == id) {
			*out = t;
			return BENCH_OK;
		}
		free(t);
	}
}

static int raw_open(struct raw_ws *r, const char *host, int port, const char *session,
		    const char *user)
{
	struct sockaddr_in sa;
	char req[512];
	uint64_t bin = 0;
	unsigned char *end;
	int n, one = 1, big = 8 << 20;

	memset(r, 0, sizeof(*r));
	r->mask = (uint32_t)now_ns() | 1;
	r->tx_cap = 1 << 20;
	r->tx = malloc(r->tx_cap);
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!r->tx || r->fd < 0)
		return BENCH_ERR;
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	{ /* a server that stops answering fails the scenario instead of hanging it */
		struct timeval tv = { 120, 0 };

		setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return BENCH_ERR;
	n = snprintf(req, sizeof(req),
		     "GET /s/%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: c2Vzc2lvbmJlbmNoLXJhdw==\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n", session, host, port);
	if (raw_send_all(r->fd, (unsigned char *)req, (size_t)n))
		return BENCH_ERR;
	for (;;) {
		if (raw_fill(r, r->rx_len + 1))
			return BENCH_ERR;
		end = memmem(r->rx, r->rx_len, "\r\n\r\n", 4);
		if (end)
			break;
	}
	if (r->rx_len < 12 || memcmp(r->rx + 9, "101", 3))
		return BENCH_ERR;
	raw_consume(r, (size_t)(end + 4 - r->rx));
	if (raw_send_json(r, json_pack("{s:s s:i s:s s:s}", "type", "hello", "id", 1, "user", user,
				       "client", "sessionbench-raw")))
		return BENCH_ERR;
	for (;;) { /* welcome, sync frames, synced */
		int op = 0;
		char *t = NULL;
		size_t tl = 0;
		const char *type;

		if (raw_frame(r, &op, &t, &bin))
			return BENCH_ERR;
		type = t ? scan_str(t, strlen(t), "type", &tl) : NULL;
		n = type && str_is(type, tl, "synced");
		if (type && str_is(type, tl, "error")) {
			note("raw hello refused: %s", t);
			free(t);
			return BENCH_ERR;
		}
		free(t);
		if (n)
			break;
	}
	return BENCH_OK;
}

static void raw_close(struct raw_ws *r)
{
	if (r->fd > 0)
		close(r->fd);
	free(r->rx);
	free(r->tx);
	memset(r, 0, sizeof(*r));
}

struct blob_job {
	/* in */
	const char *host, *session;
	int port;
	unsigned char *data;
	size_t size;
	char hash[2 * EVP_MAX_MD_SIZE + 1];
	double post;
	/* out (written by the thread, read after `done`) */
	uint64_t t0, t_sent, t1, t2, t3;
	uint64_t got;
	int failed;
	char why[300];
	atomic_int phase; /* 1 uploaded, 2 downloading, 3 done */
};

static void *blob_thread(void *arg)
{
	struct blob_job *j = arg;
	struct raw_ws r;
	char *reply = NULL;
	uint64_t bin = 0;

	if (raw_open(&r, j->host, j->port, j->session, "uploader")) {
		snprintf(j->why, sizeof(j->why), "raw connection: %s", strerror(errno));
		goto fail;
	}
	j->t0 = now_ns();
	if (raw_send_json(&r, json_pack("{s:s s:i s:s s:I}", "type", "blob.put", "id", 2,
					"hash", j->hash, "size", (json_int_t)j->size)) ||
	    raw_reply(&r, 2, &reply, &bin))
		goto io;
	if (!strstr(reply, "\"have\":false")) {
		snprintf(j->why, sizeof(j->why), "blob.put: %.200s", reply);
		goto fail;
	}
	free(reply);
	reply = NULL;
	for (size_t off = 0; off < j->size; off += 256 * 1024) {
		size_t n = j->size - off < 256 * 1024 ? j->size - off : 256 * 1024;

		if (raw_send(&r, 2, j->data + off, n))
			goto io;
	}
	j->t_sent = now_ns();
	if (raw_send_json(&r, json_pack("{s:s s:i s:s}", "type", "blob.end", "id", 3, "hash",
					j->hash)) ||
	    raw_reply(&r, 3, &reply, &bin))
		goto io;
	j->t1 = now_ns();
	if (!strstr(reply, "\"type\":\"ok\"")) {
		snprintf(j->why, sizeof(j->why), "blob.end: %.200s", reply);
		goto fail;
	}
	free(reply);
	reply = NULL;
	atomic_store(&j->phase, 1);
	while (atomic_load(&j->phase) == 1) /* the main thread measures --post */
		usleep(1000);
	bin = 0;
	j->t2 = now_ns();
	if (raw_send_json(&r, json_pack("{s:s s:i s:s}", "type", "blob.get", "id", 4, "hash",
					j->hash)) ||
	    raw_reply(&r, 4, &reply, &bin))
		goto io;
	if (!strstr(reply, "\"type\":\"ok\"")) {
		snprintf(j->why, sizeof(j->why), "blob.get: %.200s", reply);
		goto fail;
	}
	while (bin < j->size) {
		int op = 0;
		char *t = NULL;

		if (raw_frame(&r, &op, &t, &bin))
			goto io;
		free(t);
	}
	j->t3 = now_ns();
	j->got = bin;
	free(reply);
	raw_close(&r);
	atomic_store(&j->phase, 3);
	return NULL;
io:
	snprintf(j->why, sizeof(j->why), "connection lost");
fail:
	free(reply);
	raw_close(&r);
	j->failed = 1;
	atomic_store(&j->phase, 3);
	return NULL;
}

struct blob_wait {
	struct blob_job *job;
	int want; /* phase */
	long pid, rss_peak_kib;
	uint64_t rss_next;
};

static int blob_phase(struct bench *b, void *arg)
{
	struct blob_wait *w = arg;
	uint64_t now = now_ns();

	(void)b;
	if (w->pid && now >= w->rss_next && atomic_load(&w->job->phase) < 1) {
		long rss = rss_kib(w->pid);

		w->rss_next = now + 5000000;
		if (rss > w->rss_peak_kib)
			w->rss_peak_kib = rss;
	}
	return atomic_load(&w->job->phase) >= w->want;
}

static int run_blob(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct save_state ws;
	struct blob_job job;
	struct blob_wait bw;
	struct lat_vec during = { NULL, 0, 0, 0 }, after = { NULL, 0, 0, 0 };
	struct lat_vec stream = { NULL, 0, 0, 0 };
	struct conn *w;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t i;
	long rss0 = 0;
	uint32_t x = 2463534242u;
	pthread_t th;
	int started = 0, rc;

	memset(&ws, 0, sizeof(ws));
	memset(&job, 0, sizeof(job));
	memset(&bw, 0, sizeof(bw));
	job.host = o->host;
	job.port = o->port;
	job.session = o->session;
	job.size = (size_t)(o->mb * 1024 * 1024);
	job.data = malloc(job.size + 8);
	if (!job.data) {
		note("cannot allocate %zu bytes", job.size);
		return BENCH_ERR;
	}
	for (i = 0; i < job.size; i += 4) { /* incompressible bytes */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		memcpy(job.data + i, &x, 4);
	}
	if (!EVP_Digest(job.data, job.size, md, &mdlen, EVP_sha256(), NULL)) {
		note("SHA-256 failed");
		free(job.data);
		return BENCH_ERR;
	}
	for (i = 0; i < mdlen; i++)
		snprintf(job.hash + 2 * i, 3, "%02x", md[i]);

	if (set_alloc(&set, 1) || !(set.v[0] = conn_new(b, o->session, "writer", 0))) {
		rc = BENCH_ERR;
		goto out;
	}
	w = set.v[0];
	w->scenario = &ws;
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	if ((rc = populate(b, w, "b", o->nodes, 200, o->window, o->timeout)))
		goto out;
	w->on_reply = save_on_writer_reply;
	if ((rc = job_start(w, JOB_UPDATE, "b", o->nodes, -1, 1 << 15, o->rate, 0)))
		goto out;
	bench_sleep(b, o->pre);
	rss0 = o->pid ? rss_kib(o->pid) : 0;
	bw.job = &job;
	bw.pid = o->pid;
	bw.rss_peak_kib = rss0;
	if (pthread_create(&th, NULL, blob_thread, &job)) {
		rc = BENCH_ERR;
		goto out;
	}
	started = 1;
	bw.want = 1;
	if ((rc = bench_wait(b, blob_phase, &bw, o->timeout, "the upload")))
		goto out;
	if (job.failed) {
		note("blob upload failed: %s", job.why);
		rc = strstr(job.why, "bad_request") ? BENCH_UNSUPPORTED : BENCH_ERR;
		goto out;
	}
	/* The WAL the upload left is checkpointed now: the writer goes on. */
	bench_sleep(b, o->post);
	job_stop(w);
	{
		struct conn_set one = { &w, 1 };

		if ((rc = bench_wait(b, all_replied, &one, o->timeout, "last updates")))
			goto out;
	}
	if ((rc = conn_check_errors(w, "node.update (blob)")))
		goto out;
	atomic_store(&job.phase, 2);
	bw.want = 3;
	if ((rc = bench_wait(b, blob_phase, &bw, o->timeout, "the download")))
		goto out;
	if (job.failed || job.got != job.size) {
		note("blob download failed: %s (%" PRIu64 " of %zu bytes)", job.why, job.got,
		     job.size);
		rc = BENCH_ERR;
		goto out;
	}
	for (i = 0; i < ws.n; i++) {
		if (ws.v[i].sent >= job.t0 && ws.v[i].sent <= job.t1)
			lat_add(&during, (uint64_t)ws.v[i].lat_us * 1000);
		if (ws.v[i].sent >= job.t0 && ws.v[i].sent + (uint64_t)ws.v[i].lat_us * 1000 <=
						      job.t_sent)
			lat_add(&stream, (uint64_t)ws.v[i].lat_us * 1000);
		else if (ws.v[i].sent > job.t1 &&
			 ws.v[i].sent <= job.t1 + (uint64_t)(o->post * 1e9))
			lat_add(&after, (uint64_t)ws.v[i].lat_us * 1000);
	}
	note("blob: %zu bytes up in %.0f ms (sent in %.0f ms, then %.0f ms to the ok of "
	     "blob.end), down in %.0f ms; writer: %zu acks during the upload, %zu after it",
	     job.size, ns_to_ms(job.t1 - job.t0), ns_to_ms(job.t_sent - job.t0),
	     ns_to_ms(job.t1 - job.t_sent), ns_to_ms(job.t3 - job.t2), during.n, after.n);
	result("blob_mb", (double)job.size / 1e6, 1);
	result("blob_put_mb_per_s", (double)job.size / 1e6 / ns_to_s(job.t1 - job.t0), 1);
	result("blob_get_mb_per_s", (double)job.size / 1e6 / ns_to_s(job.t3 - job.t2), 1);
	if (o->pid)
		result("blob_put_rss_mib", (double)(bw.rss_peak_kib - rss0) / 1024.0, 1);
	else
		result_null("blob_put_rss_mib");
	result("blob_put_other_p99_ms", lat_pct_ms(&during, 99), 2);
	result("blob_put_other_max_ms", lat_pct_ms(&during, 100), 2);
	/* Acked while the bytes streamed in, before blob.end: what the upload
	 * itself costs the others, without the copy into the row. */
	result("blob_put_stream_other_p99_ms", lat_pct_ms(&stream, 99), 2);
	result("checkpoint_stall_p99_ms", lat_pct_ms(&after, 99), 2);
	result("checkpoint_stall_max_ms", lat_pct_ms(&after, 100), 2);
	rc = BENCH_OK;
out:
	if (started) {
		if (atomic_load(&job.phase) < 3) {
			atomic_store(&job.phase, 2); /* let it finish or fail */
		}
		pthread_join(th, NULL);
	}
	if (rc) {
		result_null("blob_put_mb_per_s");
		result_null("blob_get_mb_per_s");
		result_null("blob_put_rss_mib");
		result_null("blob_put_other_p99_ms");
		result_null("checkpoint_stall_p99_ms");
		result_null("checkpoint_stall_max_ms");
	}
	set_close(b, &set);
	free(ws.v);
	free(job.data);
	lat_free(&during);
	lat_free(&after);
	lat_free(&stream);
	return rc;
}

static int run_populate(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	int64_t nodes = (int64_t)(o->mb * 1024 * 1024 / (double)(o->data_bytes + 100));
	uint64_t t0;
	int rc;

	if (nodes < 1)
		nodes = 1;
	if (set_alloc(&set, 1) || !(set.v[0] = conn_new(b, o->session, "loader", 0)))
		return BENCH_ERR;
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	t0 = now_ns();
	if ((rc = populate(b, set.v[0], "r", nodes, o->data_bytes, o->window, o->timeout)))
		goto out;
	result("populate_nodes", (double)nodes, 0);
	result("populate_s", ns_to_s(now_ns() - t0), 2);
	if (o->pid > 0) {
		/* Kill while connected: no leave-triggered save gets to run. */
		set.v[0]->expect_close = 1;
		b->tolerate_failures = 1;
		if (kill((pid_t)o->pid, SIGKILL)) {
			note("kill %ld: %s", o->pid, strerror(errno));
			rc = BENCH_ERR;
		}
	}
out:
	set_close(b, &set);
	return rc;
}

/* ready: connect+hello until the restarted server welcomes us. */
static int run_ready(struct bench *b, struct opts *o)
{
	struct conn *c = conn_new(b, o->session, "ready", 0);
	uint64_t t0 = o->t0_realtime ? o->t0_realtime : realtime_ns();
	uint64_t deadline = now_ns() + (uint64_t)(o->timeout * 1e9), next = 0;
	int attempts = 0, rc = BENCH_TIMEOUT;
	double ms = -1;

	if (!c)
		return BENCH_ERR;
	b->tolerate_failures = 1;
	while (now_ns() < deadline) {
		uint64_t now = now_ns();

		if (c->state == CONN_WELCOMED || c->state == CONN_SYNCED) {
			ms = (double)(realtime_ns() - t0) / 1e6;
			rc = BENCH_OK;
			break;
		}
		if ((c->state == CONN_NEW || c->state == CONN_FAILED || c->state == CONN_CLOSED) &&
		    now >= next) {
			if (c->state == CONN_FAILED && b->verbose)
				note("attempt %d: %s", attempts, c->why);
			attempts++;
			next = now + 5 * 1000 * 1000; /* retry every 5 ms */
			conn_open(c);
			continue;
		}
		bench_service(b);
	}
	if (rc == BENCH_OK) {
		result("ready_ms", ms, 1);
		result("ready_attempts", attempts, 0);
	} else {
		note("no welcome within %.0f s (last: %s)", o->timeout, c->why);
		result_null("ready_ms");
	}
	if (c->wsi) {
		/* Leave before the (large) sync arrives. */
		struct conn_set one = { &c, 1 };

		c->expect_close = 1;
		conn_close(c);
		bench_wait(b, all_gone, &one, 10, "closing");
	}
	conn_free(c);
	return rc;
}

static int idle_quiet(struct bench *b, void *arg)
{
	(void)arg;
	return now_ns() - b->t_last_rx > 300 * 1000 * 1000ull;
}

/*
 * idle: server RSS growth per idle connection. The session is created by a
 * first connection before the "before" reading, so only connections count.
 */
static int run_idle(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct conn_set base;
	int64_t i;
	long before, after;
	size_t opened = 1, synced;
	int rc;

	if (o->pid <= 0) {
		note("needs --pid of the server");
		return BENCH_ERR;
	}
	if (set_alloc(&set, (size_t)o->conns + 1))
		return BENCH_ERR;
	for (i = 0; i <= o->conns; i++) {
		char user[40];

		snprintf(user, sizeof(user), "idle%05" PRId64, i);
		if (!(set.v[i] = conn_new(b, o->session, user, 0))) {
			rc = BENCH_ERR;
			goto out;
		}
	}
	base.v = set.v;
	base.n = 1;
	if ((rc = set_connect(b, &base, o->timeout)))
		goto out;
	bench_wait(b, idle_quiet, NULL, 5, "quiet");
	before = rss_kib(o->pid);

	/* At most 32 handshakes at once: no SYN backlog, no 1000-way storm. */
	{
		uint64_t deadline = now_ns() + (uint64_t)(o->timeout * 1e9);

		for (;;) {
			size_t pending = 0;

			synced = 0;
			for (i = 1; i < (int64_t)opened; i++) {
				if (set.v[i]->state == CONN_SYNCED)
					synced++;
				else
					pending++;
			}
			if (synced == (size_t)o->conns)
				break;
			if (b->failed) {
				note("connecting: %s", b->fail_why);
				rc = BENCH_ERR;
				goto out;
			}
			if (now_ns() > deadline) {
				note("timed out with %zu of %" PRId64 " connections synced", synced,
				     o->conns);
				rc = BENCH_TIMEOUT;
				goto out;
			}
			while (pending < 32 && opened <= (size_t)o->conns) {
				conn_open(set.v[opened++]);
				pending++;
			}
			bench_service(b);
		}
	}
	bench_wait(b, idle_quiet, NULL, 30, "quiet");
	bench_sleep(b, 0.2);
	after = rss_kib(o->pid);
	if (before < 0 || after < 0) {
		note("cannot read /proc/%ld/status", o->pid);
		rc = BENCH_ERR;
		goto out;
	}
	result("idle_rss_before_kib", (double)before, 0);
	result("idle_rss_after_kib", (double)after, 0);
	result("idle_conns", (double)o->conns, 0);
	result("rss_idle_conn_kib", (double)(after - before) / (double)o->conns, 1);
out:
	if (rc)
		result_null("rss_idle_conn_kib");
	set_close(b, &set);
	return rc;
}

static int run_freeport(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc = BENCH_ERR;

	if (fd < 0)
		return BENCH_ERR;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		goto out;
	printf("%d\n", ntohs(sa.sin_port));
	rc = BENCH_OK;
out:
	close(fd);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sessionbench SCENARIO --port P [options]\n"
		"Load generator for sessiond; tools/bench runs it. Prints key=value lines.\n"
		"scenarios:\n"
		"  write     --nodes --data-bytes --ops --window --max-seconds [--sqlite-dir D]\n"
		"  fanout    --writers --watchers --nodes --window --seconds --warmup\n"
		"            [--latency-rate R: writes/s of the latency phase, default half the max]\n"
		"  join      --nodes --data-bytes --runs\n"
		"  save      --mb --data-bytes --rate --pre --post (uses --admin-password)\n"
		"  blob      --mb --rate --pre --post --nodes [--pid P]: upload and download\n"
		"            one blob while another client writes at --rate\n"
		"  populate  --mb --data-bytes [--pid P: SIGKILL P once every create is acked]\n"
		"  ready     [--t0-ns REALTIME_NS]: retry connect+hello until a welcome\n"
		"  idle      --conns --pid P: server RSS growth per idle connection\n"
		"  freeport  print a free TCP port on 127.0.0.1\n"
		"common: --host H --port P --session NAME --admin-password X --pid P\n"
		"        --timeout S (per phase) --verbose\n"
		"exit: 0 done, 1 failed, 2 bad usage, 3 the server lacks a request type\n");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct bench b;
	const char *scenario;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	scenario = argv[1];
	bench_scenario = scenario;
	if (!strcmp(scenario, "freeport"))
		return run_freeport() ? 1 : 0;

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.session = "bench";
	o.nodes = 1000;
	o.data_bytes = 500;
	o.ops = 20000;
	o.window = 256;
	o.conns = 1000;
	o.runs = 3;
	o.writers = 4;
	o.watchers = 60;
	o.seconds = 5;
	o.warmup = 1;
	o.rate = 2000;
	o.pre = 1;
	o.post = 1;
	o.timeout = 120;
	o.max_seconds = 60;
	o.mb = 100;
	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	if (o.port <= 0) {
		fprintf(stderr, "sessionbench: --port is required\n");
		return 2;
	}
	o.admin_password = o.admin_password ? o.admin_password : getenv("SESSIOND_ADMIN_PASSWORD");
	signal(SIGPIPE, SIG_IGN);
	if (bench_init(&b, o.host, o.port, o.data_bytes, o.verbose)) {
		fprintf(stderr, "sessionbench: cannot create the lws context\n");
		bench_destroy(&b);
		return 1;
	}
	b.admin_password = o.admin_password;

	if (!strcmp(scenario, "write"))
		rc = run_write(&b, &o);
	else if (!strcmp(scenario, "fanout"))
		rc = run_fanout(&b, &o);
	else if (!strcmp(scenario, "join"))
		rc = run_join(&b, &o);
	else if (!strcmp(scenario, "save"))
		rc = run_save(&b, &o);
	else if (!strcmp(scenario, "blob"))
		rc = run_blob(&b, &o);
	else if (!strcmp(scenario, "populate"))
		rc = run_populate(&b, &o);
	else if (!strcmp(scenario, "ready"))
		rc = run_ready(&b, &o);
	else if (!strcmp(scenario, "idle"))
		rc = run_idle(&b, &o);
	else {
		fprintf(stderr, "sessionbench: unknown scenario %s\n", scenario);
		usage(stderr);
		rc = 2;
	}
	bench_destroy(&b);
	if (rc == 2)
		return 2;
	if (rc == BENCH_UNSUPPORTED)
		return 3;
	return rc ? 1 : 0;
}
