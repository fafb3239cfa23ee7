/* metrics.c - counters and the Prometheus text exposition format 0.0.4.
 *
 * Counters are plain integers touched only by the network thread (the save
 * worker's results are counted when the network thread collects them), so
 * nothing here locks. Every family gets # HELP and # TYPE; label values are
 * escaped as the format requires. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static const char *const type_names[MT_COUNT] = {
	"hello", "welcome", "sync", "synced", "ok", "error", "ping", "pong",
	"node.create", "node.update", "node.delete", "node.lock", "node.unlock",
	"node.get", "task.create", "task.update", "task.delete", "chat.send",
	"chat.history", "presence", "session.init", "admin.kick", "admin.save",
	"admin.backups", "admin.stats", "admin.reset",
	"blob.put", "blob.end", "blob.get", "blob.has", "blob.chunks", "chunk.get", "chunk.has",
	"node", "task", "chat", "user", "session", "binary",
	"other",
};

const double metrics_latency_bounds[HIST_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
const double metrics_batch_bounds[HIST_BUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
const double metrics_save_bounds[HIST_BUCKETS] = {
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

static const char *const save_kinds[SK_COUNT] = {
	"auto-save", "user_disconnect", "admin", "shutdown", "reset", "restore", "delete"};

const char *metrics_type_name(enum msg_type t) { return type_names[t]; }

enum msg_type metrics_type_of(const char *name)
{
	if (!name)
		return MT_OTHER;
	if (strcmp(name, "node.update") == 0)
		return MT_NODE_UPDATE; /* most requests are; the others take the walk */
	for (int i = 0; i < MT_OTHER; i++)
		if (strcmp(type_names[i], name) == 0)
			return (enum msg_type)i;
	return MT_OTHER;
}

enum save_kind metrics_save_kind(const char *reason)
{
	if (strncmp(reason, "user_disconnect", 15) == 0)
		return SK_DISCONNECT;
	for (int i = 0; i < SK_COUNT; i++)
		if (strcmp(reason, save_kinds[i]) == 0)
			return (enum save_kind)i;
	return SK_ADMIN;
}

void histogram_observe(struct histogram *h, double v)
{
	int i;
	for (i = 0; i < HIST_BUCKETS - 1 && v > h->bounds[i]; i++)
		;
	if (v > h->bounds[HIST_BUCKETS - 1])
		i = HIST_BUCKETS; /* only in +Inf */
	if (i < HIST_BUCKETS)
		h->counts[i]++;
	h->count++;
	h->sum += v;
}

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->commit_latency.bounds = metrics_latency_bounds;
	m->commit_batch.bounds = metrics_batch_bounds;
	m->save_duration.bounds = metrics_save_bounds;
}

void metrics_escape_label(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (; *in && o + 3 < outlen; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = 0;
}

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(struct sbuf *b, const char *name, const char *help,
		      const struct histogram *h)
{
	uint64_t cum = 0;
	family(b, name, "histogram", help);
	for (int i = 0; i < HIST_BUCKETS; i++) {
		cum += h->counts[i];
		sbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
			    (unsigned long long)cum);
	}
	sbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
		    (unsigned long long)h->count, name, h->sum, name,
		    (unsigned long long)h->count);
}

static void counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "counter", help);
	sbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

enum gauge { G_CONNECTIONS, G_BACKUPS, G_DB_BYTES, G_WAL_BYTES, G_BLOB_BYTES, G_CHUNK_BYTES, G_SEQ,
	     G_LAST_SAVE };

/* One gauge family with a sample per session. */
static void per_session(struct sbuf *b, const char *name, const char *help,
			const struct metrics_session *ss, size_t n, enum gauge g)
{
	char label[300];
	family(b, name, "gauge", help);
	for (size_t i = 0; i < n; i++) {
		const struct metrics_session *m = &ss[i];
		metrics_escape_label(m->name, label, sizeof(label));
		sbuf_printf(b, "%s{session=\"%s\"} ", name, label);
		switch (g) {
		case G_CONNECTIONS: sbuf_printf(b, "%llu\n", (unsigned long long)m->connections); break;
		case G_BACKUPS: sbuf_printf(b, "%lld\n", (long long)m->backups); break;
		case G_DB_BYTES: sbuf_printf(b, "%lld\n", (long long)m->db_bytes); break;
		case G_WAL_BYTES: sbuf_printf(b, "%lld\n", (long long)m->wal_bytes); break;
		case G_BLOB_BYTES: sbuf_printf(b, "%lld\n", (long long)m->blob_bytes); break;
		case G_CHUNK_BYTES: sbuf_printf(b, "%lld\n", (long long)m->chunk_bytes); break;
		case G_SEQ: sbuf_printf(b, "%lld\n", (long long)m->seq); break;
		case G_LAST_SAVE: sbuf_printf(b, "%.3f\n", m->last_save_time); break;
		}
	}
}

char *metrics_render(const struct metrics *m, uint64_t connections,
		     const struct metrics_session *ss, size_t n)
{
	struct sbuf b;

	sbuf_init(&b, 8192);
	family(&b, "sessiond_connections", "gauge", "Open WebSocket connections.");
	sbuf_printf(&b, "sessiond_connections %llu\n", (unsigned long long)connections);
	per_session(&b, "sessiond_session_connections", "Users online per session.", ss, n,
		    G_CONNECTIONS);
	family(&b, "sessiond_sessions", "gauge", "Sessions open.");
	sbuf_printf(&b, "sessiond_sessions %zu\n", n);
	counter(&b, "sessiond_connections_total", "WebSocket connections accepted.",
		m->connections_total);
	family(&b, "sessiond_messages_received_total", "counter", "Messages received, by type.");
	for (int i = 0; i < MT_COUNT; i++)
		if (m->msgs_in[i])
			sbuf_printf(&b, "sessiond_messages_received_total{type=\"%s\"} %llu\n",
				    type_names[i], (unsigned long long)m->msgs_in[i]);
	family(&b, "sessiond_messages_sent_total", "counter", "Messages sent, by type.");
	for (int i = 0; i < MT_COUNT; i++)
		if (m->msgs_out[i])
			sbuf_printf(&b, "sessiond_messages_sent_total{type=\"%s\"} %llu\n",
				    type_names[i], (unsigned long long)m->msgs_out[i]);
	counter(&b, "sessiond_bytes_received_total", "WebSocket payload bytes received.",
		m->bytes_in);
	counter(&b, "sessiond_bytes_sent_total", "WebSocket payload bytes sent.", m->bytes_out);
	counter(&b, "sessiond_committed_changes_total", "State changes committed (seqs given).",
		m->committed_changes);
	counter(&b, "sessiond_commit_failures_total",
		"Batches whose COMMIT failed (answered unavailable).", m->commit_failures);
	histogram(&b, "sessiond_commit_batch_size", "Requests per committed batch.",
		  &m->commit_batch);
	histogram(&b, "sessiond_commit_seconds", "Time to COMMIT one batch.", &m->commit_latency);
	family(&b, "sessiond_saves_total", "counter", "Saves by reason and result.");
	for (int i = 0; i < SK_COUNT; i++)
		sbuf_printf(&b, "sessiond_saves_total{reason=\"%s\",result=\"ok\"} %llu\n"
				"sessiond_saves_total{reason=\"%s\",result=\"failed\"} %llu\n",
			    save_kinds[i], (unsigned long long)m->saves_ok[i], save_kinds[i],
			    (unsigned long long)m->saves_failed[i]);
	histogram(&b, "sessiond_save_seconds", "Duration of successful saves.", &m->save_duration);
	family(&b, "sessiond_last_save_timestamp_seconds", "gauge",
	       "Unix time of the last successful save (0: none since start).");
	sbuf_printf(&b, "sessiond_last_save_timestamp_seconds %.3f\n", m->last_save_time);
	counter(&b, "sessiond_backup_failures_total",
		"Saves whose backup could not be written or verified.", m->backup_failures);
	counter(&b, "sessiond_saves_skipped_total",
		"user_disconnect saves skipped because nothing changed since the last save.",
		m->saves_skipped);
	counter(&b, "sessiond_stale_temp_removed_total",
		"Temporary files of interrupted saves or recoveries removed at start or "
		"before a save.", m->stale_temp_removed);
	counter(&b, "sessiond_lagging_disconnects_total",
		"Connections closed for lagging (4429).", m->lagging);
	counter(&b, "sessiond_rate_limited_total", "Requests refused by the rate limit.",
		m->rate_limited);
	counter(&b, "sessiond_timeouts_total", "Connections closed for silence (4408).",
		m->timeouts);
	counter(&b, "sessiond_rejected_connections_total",
		"Upgrades refused at MAX_CONNECTIONS (HTTP 503).", m->rejected_connections);
	counter(&b, "sessiond_idle_connections_dropped_total",
		"Connections that were neither a WebSocket nor waiting for an answer, closed "
		"to stay within MAX_IDLE_CONNECTIONS and MAX_IDLE_PER_ADDRESS.", m->idle_dropped);
	counter(&b, "sessiond_auth_failures_total",
		"hello passwords and admin bearer tokens refused (wrong, or during a lock-out).",
		m->auth_failures);
	counter(&b, "sessiond_origin_refused_total",
		"Browser requests refused for their Origin (HTTP 403).", m->origin_refused);
	per_session(&b, "sessiond_backups", "Backup files on disk per session.", ss, n, G_BACKUPS);
	per_session(&b, "sessiond_database_bytes", "session.db size per session.", ss, n,
		    G_DB_BYTES);
	per_session(&b, "sessiond_wal_bytes", "session.db-wal size per session.", ss, n,
		    G_WAL_BYTES);
	per_session(&b, "sessiond_blob_bytes", "Bytes of the blobs stored per session.", ss, n,
		    G_BLOB_BYTES);
	per_session(&b, "sessiond_chunk_bytes", "Bytes of the distinct chunks stored per session "
		    "(what the blobs take on disk).", ss, n, G_CHUNK_BYTES);
	counter(&b, "sessiond_blobs_collected_total",
		"Blobs deleted at saves because no live node named them.", m->blobs_collected);
	per_session(&b, "sessiond_session_seq", "Current seq per session.", ss, n, G_SEQ);
	per_session(&b, "sessiond_session_last_save_timestamp_seconds",
		    "Unix time of the last successful save per session (0: none since start).",
		    ss, n, G_LAST_SAVE);
	return b.p;
}
