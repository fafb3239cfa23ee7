/* test_hostile.c - the session-domain rules of protocol 1.1 and the defects
 * a security review found, driven without sockets: admin.kick is carried
 * out only when its batch commits; sessions past MAX_SESSIONS, sessions
 * only an admin may create, sessions closed while idle and opened again;
 * a leave with nothing new makes no backup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include "fakesrv.h"
#include "store.h"

/* A node.create whose data needs far more pages than the database may have. */
static char *big_create(int id, const char *uuid)
{
	char *pad = malloc(200001), *text;
	json_t *r;
	memset(pad, 'x', 200000);
	pad[200000] = 0;
	r = json_pack("{ss si ss ss s{ss}}", "type", "node.create", "id", id, "uuid", uuid,
		      "kind", "K", "data", "b", pad);
	text = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	free(pad);
	return text;
}

/* The admin's answer to admin.kick says what happened to the user: an ok
 * means closed with 4403 and gone; an error means still there. */
static void test_kick_matches_commit(void **state)
{
	static const char *const env[] = {"ADMIN_PASSWORD=pw", NULL};
	struct fake *f = fake_new(env);
	struct conn *adm = join_ex(f, "default", "root", ",\"admin_password\":\"pw\"", NULL);
	struct conn *bob = join(f, "bob");
	struct session *s = fake_session(f, "default");
	sqlite3 *db = store_db(s->store);
	char *req = big_create(2, "big");
	json_t *o;
	int kicked;
	(void)state;
	drain(adm);
	drain(bob);
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL), SQLITE_OK);
	send_raw(adm, "{\"type\":\"admin.kick\",\"id\":1,\"user\":\"bob\"}");
	send_raw(adm, req);
	free(req);
	server_flush(&f->srv);
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
			 SQLITE_OK);
	o = recv_one(adm);
	assert_non_null(o);
	assert_int_equal(jint(o, "re"), 1);
	kicked = strcmp(jstr(o, "type"), "ok") == 0;
	if (!kicked)
		assert_string_equal(jstr(o, "code"), "unavailable");
	json_decref(o);
	if (kicked) {
		assert_int_equal(bob->close_code, 4403);
		assert_null(bob->client);
	} else {
		/* Not kicked: bob is still a member and is served. */
		assert_int_equal(bob->close_code, 0);
		assert_non_null(bob->client);
		send_raw(bob, "{\"type\":\"ping\",\"id\":7}");
		server_flush(&f->srv);
		o = expect_type(bob, "pong");
		json_decref(o);
	}
	fake_free(f);
}

/* A kick whose batch commits: ok to the admin, then 4403 and a leave. */
static void test_kick_commits(void **state)
{
	static const char *const env[] = {"ADMIN_PASSWORD=pw", NULL};
	struct fake *f = fake_new(env);
	struct conn *adm = join_ex(f, "default", "root", ",\"admin_password\":\"pw\"", NULL);
	struct conn *bob = join(f, "bob");
	json_t *o;
	(void)state;
	drain(adm);
	send_raw(adm, "{\"type\":\"admin.kick\",\"id\":1,\"user\":\"bob\"}");
	server_flush(&f->srv);
	json_decref(expect_ok(adm, 1));
	o = expect_type(adm, "user");
	assert_string_equal(jstr(o, "op"), "leave");
	assert_string_equal(jstr(o, "reason"), "kicked");
	json_decref(o);
	assert_int_equal(bob->close_code, 4403);
	fake_free(f);
}

static int dir_exists(struct fake *f, const char *name)
{
	char path[4400];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return stat(path, &st) == 0;
}

/* A hello is refused (error code, close code) and leaves nothing on disk. */
static void expect_refused(struct fake *f, const char *session, const char *extra,
			   const char *code, int close_code)
{
	struct conn *c = conn_new(&f->srv, session, NULL);
	sendf(c, "{\"type\":\"hello\",\"id\":1,\"user\":\"u\"%s}", extra);
	server_flush(&f->srv);
	expect_error(c, code, 1);
	assert_int_equal(c->close_code, close_code);
	assert_false(dir_exists(f, session));
	protocol_closed(c);
	server_flush(&f->srv);
}

static void test_max_sessions(void **state)
{
	static const char *const env[] = {"MAX_SESSIONS=2", NULL};
	struct fake *f = fake_new(env);
	(void)state;
	join_ex(f, "one", "a", "", NULL);
	join_ex(f, "two", "a", "", NULL);
	expect_refused(f, "three", "", "unavailable", 4400);
	/* Existing sessions are still joined. */
	join_ex(f, "one", "b", "", NULL);
	fake_free(f);
}

static void test_create_sessions_admin(void **state)
{
	static const char *const env[] = {"CREATE_SESSIONS=admin", "ADMIN_PASSWORD=pw", NULL};
	struct fake *f = fake_new(env);
	(void)state;
	expect_refused(f, "new", "", "not_found", 4400);
	join_ex(f, "new", "root", ",\"admin_password\":\"pw\"", NULL);
	assert_true(dir_exists(f, "new"));
	join_ex(f, "new", "bob", "", NULL); /* it exists now: anyone joins */
	fake_free(f);
}

static void test_idle_close_and_reopen(void **state)
{
	static const char *const env[] = {"SESSION_IDLE_CLOSE=5", "SAVE_INTERVAL=0", NULL};
	struct fake *f = fake_new(env);
	struct conn *a = join(f, "alice");
	struct session *s;
	double now;
	json_t *o;
	(void)state;
	send_raw(a, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"n1\",\"kind\":\"K\",\"data\":{\"v\":1}}");
	server_flush(&f->srv);
	json_decref(expect_ok(a, 1));
	disconnect(f, a);
	s = fake_session(f, "default");
	assert_non_null(s);
	now = s->idle_since;
	server_cron(&f->srv, now + 1);
	assert_non_null(fake_session(f, "default"));   /* not idle long enough */
	server_cron(&f->srv, now + 6);
	assert_null(fake_session(f, "default"));       /* saved (at the leave) and closed */
	assert_int_equal(f->srv.nsessions, 0);
	assert_int_equal(f->srv.sessions_on_disk, 1);
	a = join(f, "alice");
	send_raw(a, "{\"type\":\"node.get\",\"id\":2,\"uuid\":\"n1\"}");
	server_flush(&f->srv);
	o = expect_ok(a, 2);
	assert_int_equal(jint(json_object_get(json_object_get(o, "node"), "data"), "v"), 1);
	json_decref(o);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kick_matches_commit),
		cmocka_unit_test(test_kick_commits),
		cmocka_unit_test(test_max_sessions),
		cmocka_unit_test(test_create_sessions_admin),
		cmocka_unit_test(test_idle_close_and_reopen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
