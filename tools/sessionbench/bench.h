/*
 * bench.h: the declarations the files of sessionbench share.
 *
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
 *
 * Files: util.c (clocks, results, latency vectors, frame scanning),
 * client.c (the libwebsockets client, waits, connection sets), opts.c,
 * raw_ws.c (the plain-socket client of the blob uploader), one file per
 * scenario (write.c, fanout.c, join.c, save.c, blob.c; misc.c for
 * populate, ready, idle and freeport) and main.c.
 */
#ifndef SESSIONBENCH_BENCH_H
#define SESSIONBENCH_BENCH_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>

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

/* Latency samples in microseconds; sorted lazily for percentiles. */
struct lat_vec {
	uint32_t *v;
	size_t n, cap;
	int sorted;
};

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

typedef int (*bench_pred)(struct bench *b, void *arg);

struct conn_set {
	struct conn **v;
	size_t n;
};

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

/* A paced writer's ok replies: send time and latency (save.c, blob.c). */
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

/* A blocking WebSocket client on a plain socket (raw_ws.c). */
struct raw_ws {
	int fd;
	unsigned char *rx;
	size_t rx_len, rx_cap;
	unsigned char *tx;
	size_t tx_cap;
	uint32_t mask;
};

/* util.c */
uint64_t now_ns(void);
uint64_t realtime_ns(void);
double ns_to_ms(uint64_t ns);
double ns_to_s(uint64_t ns);
double cpu_self_s(void);
double cpu_pid_s(long pid);
long rss_kib(long pid);
extern const char *bench_scenario;
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void result(const char *key, double value, int decimals);
void result_null(const char *key);
void lat_add(struct lat_vec *l, uint64_t ns);
double lat_pct_ms(struct lat_vec *l, double pct);
void lat_free(struct lat_vec *l);
const char *scan_str(const char *s, size_t len, const char *key, size_t *out_len);
int scan_int(const char *s, size_t len, const char *key, int64_t *out);
int str_is(const char *s, size_t len, const char *lit);
size_t count_occurrences(const char *s, size_t len, const char *needle);

/* client.c */
int conn_request(struct conn *c, json_t *req, int64_t *out_id);
int job_start(struct conn *c, enum job_kind kind, const char *prefix, int64_t nodes,
	      int64_t limit, int64_t window, double rate, size_t data_bytes);
void job_stop(struct conn *c);
int bench_service(struct bench *b);
int bench_init(struct bench *b, const char *host, int port, size_t max_data, int verbose);
void bench_destroy(struct bench *b);
struct conn *conn_new(struct bench *b, const char *session, const char *user, int admin);
void conn_free(struct conn *c);
int conn_open(struct conn *c);
void conn_close(struct conn *c);
int bench_wait(struct bench *b, bench_pred pred, void *arg, double timeout_s, const char *what);
void bench_sleep(struct bench *b, double seconds);
int all_replied(struct bench *b, void *arg);
int all_gone(struct bench *b, void *arg);
int set_connect(struct bench *b, struct conn_set *s, double timeout_s);
void set_close(struct bench *b, struct conn_set *s);
int set_alloc(struct conn_set *s, size_t n);
int conn_check_errors(struct conn *c, const char *what);
int populate(struct bench *b, struct conn *c, const char *prefix, int64_t nodes,
	     size_t data_bytes, int64_t window, double timeout_s);

/* opts.c */
int parse_opts(int argc, char **argv, struct opts *o);

/* raw_ws.c */
int raw_send(struct raw_ws *r, int opcode, const unsigned char *p, size_t n);
int raw_send_json(struct raw_ws *r, json_t *obj);
int raw_frame(struct raw_ws *r, int *op, char **text, uint64_t *bin);
int raw_reply(struct raw_ws *r, int64_t id, char **out, uint64_t *bin);
int raw_open(struct raw_ws *r, const char *host, int port, const char *session, const char *user);
void raw_close(struct raw_ws *r);

/* save.c */
void save_on_writer_reply(struct conn *c, int64_t re, int ok, uint64_t sent, uint64_t now,
			  const char *m, size_t n);
int run_save(struct bench *b, struct opts *o);

/* write.c */
int run_write(struct bench *b, struct opts *o);

/* fanout.c */
int run_fanout(struct bench *b, struct opts *o);

/* join.c */
int run_join(struct bench *b, struct opts *o);

/* blob.c */
int run_blob(struct bench *b, struct opts *o);

/* misc.c */
int run_populate(struct bench *b, struct opts *o);
int run_ready(struct bench *b, struct opts *o);
int run_idle(struct bench *b, struct opts *o);
int run_freeport(void);

#endif
