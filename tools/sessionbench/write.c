/*
 * write.c: the `write` scenario (pipelined node.update: ops/s, ack latency,
 * CPU of both sides) and its baseline: the same updates straight into
 * SQLite, 256 per transaction, for the write_ratio.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

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

/* ------------------------------------------------------------ the scenario */

/*
 * write: one client creates `nodes` nodes, then sends `ops` node.update
 * patches with `window` in flight. ops/s counts ok replies from the first
 * update sent to the last reply.
 */
int run_write(struct bench *b, struct opts *o)
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

