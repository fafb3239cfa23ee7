/* metrics.h - server counters and their Prometheus text rendering. */
#ifndef SESSIOND_METRICS_H
#define SESSIOND_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Message types counted in and out; MT_OTHER for anything unknown. */
enum msg_type {
	MT_HELLO, MT_WELCOME, MT_SYNC, MT_SYNCED, MT_OK, MT_ERROR, MT_PING, MT_PONG,
	MT_NODE_CREATE, MT_NODE_UPDATE, MT_NODE_DELETE, MT_NODE_LOCK, MT_NODE_UNLOCK,
	MT_NODE_GET, MT_TASK_CREATE, MT_TASK_UPDATE, MT_TASK_DELETE, MT_CHAT_SEND,
	MT_CHAT_HISTORY, MT_PRESENCE, MT_SESSION_INIT, MT_ADMIN_KICK, MT_ADMIN_SAVE,
	MT_ADMIN_BACKUPS, MT_ADMIN_STATS, MT_ADMIN_RESET,
	MT_BLOB_PUT, MT_BLOB_END, MT_BLOB_GET, MT_BLOB_HAS,
	MT_NODE, MT_TASK, MT_CHAT, MT_USER, MT_SESSION, MT_BINARY,
	MT_OTHER, MT_COUNT
};
const char *metrics_type_name(enum msg_type t);
enum msg_type metrics_type_of(const char *name);

#define HIST_BUCKETS 12
struct histogram {
	const double *bounds;          /* HIST_BUCKETS upper bounds */
	uint64_t counts[HIST_BUCKETS]; /* not cumulative */
	uint64_t count;
	double sum;
};
extern const double metrics_latency_bounds[HIST_BUCKETS];  /* seconds */
extern const double metrics_batch_bounds[HIST_BUCKETS];    /* requests */
extern const double metrics_save_bounds[HIST_BUCKETS];     /* seconds */
void histogram_observe(struct histogram *h, double v);

/* Save reasons, in the order of importance a coalesced follow-up save is
 * named by (a reset's backup must say "reset"). */
enum save_kind { SK_AUTO, SK_DISCONNECT, SK_ADMIN, SK_SHUTDOWN, SK_RESET, SK_RESTORE, SK_DELETE,
		 SK_COUNT };
enum save_kind metrics_save_kind(const char *reason);

struct metrics {
	uint64_t msgs_in[MT_COUNT];
	uint64_t msgs_out[MT_COUNT];
	uint64_t bytes_in, bytes_out;
	uint64_t connections_total;
	uint64_t committed_changes;
	uint64_t commit_failures;
	struct histogram commit_latency;
	struct histogram commit_batch;
	uint64_t saves_ok[SK_COUNT], saves_failed[SK_COUNT];
	struct histogram save_duration;
	double last_save_time;
	uint64_t backup_failures;
	uint64_t saves_skipped;      /* user_disconnect saves with nothing new */
	uint64_t stale_temp_removed;  /* temporaries of interrupted saves removed */
	uint64_t lagging;
	uint64_t rate_limited;
	uint64_t timeouts;
	uint64_t rejected_connections;
	uint64_t idle_dropped;       /* MAX_IDLE_CONNECTIONS / MAX_IDLE_PER_ADDRESS */
	uint64_t blobs_collected;
	uint64_t auth_failures;
	uint64_t origin_refused;
};

void metrics_init(struct metrics *m);

/* Per-session gauges rendered with a session label. */
struct metrics_session {
	const char *name;
	uint64_t connections;
	int64_t db_bytes, wal_bytes;
	int64_t blob_bytes;
	int64_t backups;
	int64_t seq;
	double last_save_time;
};

/* Renders the Prometheus text format 0.0.4; returns a malloc'd string. */
char *metrics_render(const struct metrics *m, uint64_t connections,
		     const struct metrics_session *sessions, size_t nsessions);
/* Escapes a label value as the text format requires (\\, \", \n). */
void metrics_escape_label(const char *in, char *out, size_t outlen);

#endif
