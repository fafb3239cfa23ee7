/* test_durability.c - what survives and what is refused (PROTOCOL.md
 * sections 2 and 10): a full disk answers `unavailable` and applies
 * nothing; a restart keeps nodes, seq, epoch and `initialized` and releases
 * locks left by a crash; a corrupt session is restored from its newest good
 * backup with a new epoch; a session with a newer schema is skipped (and
 * reported) while the others are served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "fakesrv.h"
#include "store.h"

/* The process dies: no leave, no flush, no save; then a new server starts
 * on the same DATA_DIR. Returns server_open_sessions' result. */
static int crash_and_restart(struct fake *f)
{
	while (f->srv.conns)
		conn_free(f->srv.conns);
	server_free(&f->srv);
	server_init(&f->srv, &f->cfg);
	f->srv.wake = fake_wake;
	return server_open_sessions(&f->srv);
}

static void test_disk_full_is_unavailable(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice"), *b = join(f, "bob");
	sqlite3 *db;
	char *req;
	json_t *o;
	int rc;
	(void)state;
	drain(a);
	send_raw(a, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"n1\",\"kind\":\"K\",\"data\":{}}");
	server_flush(&f->srv);
	json_decref(expect_ok(a, 1));
	drain(b);

	/* The database may not grow any more. */
	db = store_db(fake_session(f, "default")->store);
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL), SQLITE_OK);
	req = big_create(2, "big");
	send_raw(a, req);
	free(req);
	server_flush(&f->srv);
	o = expect_type(a, "error");
	assert_string_equal(jstr(o, "code"), "unavailable");
	assert_int_equal(jint(o, "re"), 2);
	json_decref(o);
	expect_nothing(b);
	assert_int_equal(fake_session(f, "default")->seq, 1);

	/* Room again: the next change takes the next seq, nothing was lost. */
	rc = sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL);
	assert_int_equal(rc, SQLITE_OK);
	send_raw(a, "{\"type\":\"node.get\",\"id\":3,\"uuid\":\"big\"}");
	send_raw(a, "{\"type\":\"node.create\",\"id\":4,\"uuid\":\"n2\",\"kind\":\"K\",\"data\":{}}");
	server_flush(&f->srv);
	expect_error(a, "not_found", 3);
	o = expect_ok(a, 4);
	assert_int_equal(jint(o, "seq"), 2);
	json_decref(o);
	o = expect_type(b, "node");
	assert_int_equal(jint(o, "seq"), 2);
	json_decref(o);
	fake_free(f);
}

/* A failing request in the middle of a batch: every other request's answer
 * must match what the database holds afterwards (ok: applied, error: not
 * applied), and seq must keep growing past every stored change. SQLite may
 * roll back the whole transaction on SQLITE_FULL, so this is not only about
 * the savepoint of the failing request. */
static void test_disk_full_mid_batch(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice");
	sqlite3 *db = store_db(fake_session(f, "default")->store);
	char *req = big_create(2, "big"), problem[256] = "";
	int64_t max_seq = 0, next_seq;
	int acked[4];
	json_t *o;
	(void)state;
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL), SQLITE_OK);
	send_raw(a, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"s1\",\"kind\":\"K\",\"data\":{}}");
	send_raw(a, req);
	send_raw(a, "{\"type\":\"node.create\",\"id\":3,\"uuid\":\"s3\",\"kind\":\"K\",\"data\":{}}");
	free(req);
	server_flush(&f->srv);
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
			 SQLITE_OK);
	for (int id = 1; id <= 3; id++) {
		o = recv_one(a);
		assert_non_null(o);
		assert_int_equal(jint(o, "re"), id);
		acked[id] = strcmp(jstr(o, "type"), "ok") == 0;
		if (!acked[id])
			assert_string_equal(jstr(o, "code"), "unavailable");
		json_decref(o);
	}
	for (int id = 1; id <= 3; id++) {
		const char *uuid = id == 1 ? "s1" : id == 2 ? "big" : "s3";
		int stored;
		sendf(a, "{\"type\":\"node.get\",\"id\":%d,\"uuid\":\"%s\"}", 10 + id, uuid);
		server_flush(&f->srv);
		o = recv_one(a);
		assert_non_null(o);
		stored = strcmp(jstr(o, "type"), "ok") == 0;
		if (stored && jint(json_object_get(o, "node"), "seq") > max_seq)
			max_seq = jint(json_object_get(o, "node"), "seq");
		json_decref(o);
		if (acked[id] != stored && !*problem)
			snprintf(problem, sizeof(problem), "request %d was answered %s but node %s "
				 "is %s", id, acked[id] ? "ok" : "unavailable", uuid,
				 stored ? "stored" : "missing");
	}
	/* The next change gets a seq above everything stored. */
	send_raw(a, "{\"type\":\"node.create\",\"id\":20,\"uuid\":\"after\",\"kind\":\"K\",\"data\":{}}");
	server_flush(&f->srv);
	o = expect_ok(a, 20);
	next_seq = jint(o, "seq");
	json_decref(o);
	fake_free(f);
	if (*problem)
		fail_msg("%s (and the next change got seq %lld, a stored row has seq %lld)", problem,
			 (long long)next_seq, (long long)max_seq);
	assert_true(next_seq > max_seq);
}

/* node.update runs without a SAVEPOINT (one statement) and checks versions
 * against the heads the store keeps in memory: a full disk in the middle of
 * a batch of updates must leave every answer true to the database, and the
 * version checks that follow must see what the database holds. */
static void test_updates_disk_full_mid_batch(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice");
	sqlite3 *db = store_db(fake_session(f, "default")->store);
	char *pad = malloc(200001);
	json_t *o, *big;
	int acked[4];
	int64_t version = 0;
	(void)state;
	send_raw(a, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"u1\",\"kind\":\"K\",\"data\":{}}");
	send_raw(a, "{\"type\":\"node.create\",\"id\":2,\"uuid\":\"u2\",\"kind\":\"K\",\"data\":{}}");
	server_flush(&f->srv);
	json_decref(expect_ok(a, 1));
	json_decref(expect_ok(a, 2));
	memset(pad, 'x', 200000);
	pad[200000] = 0;
	big = json_pack("{ss si ss s{ss}}", "type", "node.update", "id", 2, "uuid", "u2", "data",
			"b", pad);
	free(pad);
	pad = json_dumps(big, JSON_COMPACT);
	json_decref(big);
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL), SQLITE_OK);
	send_raw(a, "{\"type\":\"node.update\",\"id\":1,\"uuid\":\"u1\",\"patch\":{\"v\":1}}");
	send_raw(a, pad);
	send_raw(a, "{\"type\":\"node.update\",\"id\":3,\"uuid\":\"u1\",\"patch\":{\"w\":1}}");
	free(pad);
	server_flush(&f->srv);
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
			 SQLITE_OK);
	for (int id = 1; id <= 3; id++) {
		o = recv_one(a);
		assert_non_null(o);
		assert_int_equal(jint(o, "re"), id);
		acked[id] = strcmp(jstr(o, "type"), "ok") == 0;
		if (!acked[id])
			assert_string_equal(jstr(o, "code"), "unavailable");
		json_decref(o);
	}
	assert_false(acked[2]);
	/* What u1 holds is exactly what was acknowledged. */
	send_raw(a, "{\"type\":\"node.get\",\"id\":10,\"uuid\":\"u1\"}");
	send_raw(a, "{\"type\":\"node.get\",\"id\":11,\"uuid\":\"u2\"}");
	server_flush(&f->srv);
	o = expect_ok(a, 10);
	{
		json_t *n = json_object_get(o, "node"), *data = json_object_get(n, "data");
		version = jint(n, "version");
		assert_int_equal(version, 1 + acked[1] + acked[3]);
		assert_int_equal(json_object_get(data, "v") != NULL, acked[1]);
		assert_int_equal(json_object_get(data, "w") != NULL, acked[3]);
	}
	json_decref(o);
	o = expect_ok(a, 11);
	assert_int_equal(jint(json_object_get(o, "node"), "version"), 1);
	json_decref(o);
	/* The version checks agree with the database. */
	sendf(a, "{\"type\":\"node.update\",\"id\":12,\"uuid\":\"u1\",\"version\":%lld,"
		 "\"patch\":{\"x\":1}}", (long long)version + 1);
	sendf(a, "{\"type\":\"node.update\",\"id\":13,\"uuid\":\"u1\",\"version\":%lld,"
		 "\"patch\":{\"x\":2}}", (long long)version);
	send_raw(a, "{\"type\":\"node.update\",\"id\":14,\"uuid\":\"u2\",\"version\":1,"
		    "\"patch\":{\"y\":1}}");
	server_flush(&f->srv);
	expect_error(a, "conflict", 12);
	o = expect_ok(a, 13);
	assert_int_equal(jint(o, "version"), version + 1);
	json_decref(o);
	o = expect_ok(a, 14);
	assert_int_equal(jint(o, "version"), 2);
	json_decref(o);
	fake_free(f);
}

static void test_restart_keeps_state(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice");
	json_t *w, *all, *nodes, *n;
	char epoch[65], extra[128];
	(void)state;
	send_raw(a, "{\"type\":\"node.create\",\"uuid\":\"n1\",\"kind\":\"K\",\"data\":{\"v\":1}}");
	send_raw(a, "{\"type\":\"node.create\",\"uuid\":\"n2\",\"kind\":\"K\",\"data\":{},\"lock\":true}");
	send_raw(a, "{\"type\":\"session.init\"}");
	send_raw(a, "{\"type\":\"node.lock\",\"uuid\":\"n1\"}");
	server_flush(&f->srv); /* seq 4: every change acknowledged is committed */
	snprintf(epoch, sizeof(epoch), "%s", fake_session(f, "default")->epoch);

	assert_int_equal(crash_and_restart(f), 0);
	assert_int_equal(f->srv.nsessions, 1);
	/* The two locks of the crashed client were released: seq 5 and 6. */
	snprintf(extra, sizeof(extra), ",\"epoch\":\"%s\",\"since\":4", epoch);
	a = conn_new(&f->srv, "default", NULL);
	sendf(a, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"%s}", extra);
	server_flush(&f->srv);
	w = expect_type(a, "welcome");
	assert_string_equal(jstr(w, "epoch"), epoch);
	assert_true(json_is_true(json_object_get(w, "initialized")));
	assert_int_equal(jint(w, "seq"), 6);
	assert_string_equal(jstr(w, "resume"), "delta");
	json_decref(w);
	all = recv_all(a);
	nodes = json_object_get(json_array_get(all, 0), "nodes");
	assert_int_equal(json_array_size(nodes), 2);
	for (size_t i = 0; i < 2; i++) {
		n = json_array_get(nodes, i);
		assert_true(json_is_null(json_object_get(n, "owner")));
		assert_true(jint(n, "seq") > 4);
		assert_int_equal(jint(n, "version"), 1);
	}
	json_decref(all);
	send_raw(a, "{\"type\":\"node.get\",\"id\":2,\"uuid\":\"n1\"}");
	server_flush(&f->srv);
	w = expect_ok(a, 2);
	assert_int_equal(jint(json_object_get(json_object_get(w, "node"), "data"), "v"), 1);
	json_decref(w);
	fake_free(f);
}

static void test_start_restores_corrupt_session(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice");
	char fixture[4200], db[4400], epoch[65];
	json_t *w;
	(void)state;
	send_raw(a, "{\"type\":\"node.create\",\"uuid\":\"saved\",\"kind\":\"K\",\"data\":{}}");
	server_flush(&f->srv);
	drain(a);
	disconnect(f, a);   /* the leave saves a backup holding "saved" */
	snprintf(epoch, sizeof(epoch), "%s", fake_session(f, "default")->epoch);

	/* While the server is down, session.db gets corrupted. */
	while (f->srv.conns)
		conn_free(f->srv.conns);
	server_free(&f->srv);
	tu_src_path(fixture, sizeof(fixture), "tests/fixtures/corrupt_zeroed.db");
	snprintf(db, sizeof(db), "%s/default/session.db", f->dir);
	unlink(db);
	assert_int_equal(tu_copy_file(fixture, db), 0);

	server_init(&f->srv, &f->cfg);
	f->srv.wake = fake_wake;
	log_set_level((enum log_level)(LOG_ERROR + 1)); /* the recovery logs errors */
	assert_int_equal(server_open_sessions(&f->srv), 0);
	log_set_level(LOG_ERROR);
	a = join_ex(f, "default", "alice", "", &w);
	assert_string_not_equal(jstr(w, "epoch"), epoch); /* a new history */
	json_decref(w);
	send_raw(a, "{\"type\":\"node.get\",\"id\":1,\"uuid\":\"saved\"}");
	server_flush(&f->srv);
	json_decref(expect_ok(a, 1));
	fake_free(f);
}

static void test_newer_schema_skips_that_session(void **state)
{
	struct fake *f = fake_new(NULL);
	char dir[4200], db[4400];
	sqlite3 *h;
	(void)state;
	snprintf(dir, sizeof(dir), "%s/future", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(db, sizeof(db), "%s/session.db", dir);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA journal_mode = WAL; CREATE TABLE x (a); "
				      "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	snprintf(dir, sizeof(dir), "%s/fine", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/fine/session.db", f->dir);
	assert_int_equal(sqlite3_open(dir, &h), SQLITE_OK);
	sqlite3_close(h);
	log_set_level((enum log_level)(LOG_ERROR + 1));
	/* The bad session is skipped and reported; the others are served. */
	assert_int_equal(server_open_sessions(&f->srv), 0);
	log_set_level(LOG_ERROR);
	assert_null(fake_session(f, "future"));
	assert_non_null(fake_session(f, "fine"));
	assert_int_equal(f->srv.nfailed, 1);
	assert_string_equal(f->srv.failed[0], "future");
	assert_null(server_session(&f->srv, "future", 1, dir, sizeof(dir)));
	assert_true(tu_exists(db));
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_full_is_unavailable),
		cmocka_unit_test(test_disk_full_mid_batch),
		cmocka_unit_test(test_updates_disk_full_mid_batch),
		cmocka_unit_test(test_restart_keeps_state),
		cmocka_unit_test(test_start_restores_corrupt_session),
		cmocka_unit_test(test_newer_schema_skips_that_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
