/* test_join.c - what a joining client receives (PROTOCOL.md section 3):
 * welcome, the sync frames, synced; the state exactly at synced.seq even when
 * another client changes something in the same pass; delta resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakesrv.h"
#include "version.h"

static void test_welcome_sync_synced(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *c = conn_new(&f->srv, "default", NULL);
	json_t *w, *s, *srv, *u;
	(void)state;
	send_raw(c, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"client\":\"t/1\",\"color\":\"#ff8800\"}");
	server_flush(&f->srv);
	w = expect_type(c, "welcome");
	assert_int_equal(jint(w, "re"), 1);
	assert_string_equal(jstr(w, "session"), "default");
	assert_string_equal(jstr(w, "user"), "alice");
	assert_string_equal(jstr(w, "role"), "user");
	assert_int_equal(strlen(jstr(w, "epoch")), 32);
	assert_int_equal(jint(w, "seq"), 0);
	assert_true(json_is_false(json_object_get(w, "initialized")));
	assert_string_equal(jstr(w, "resume"), "full");
	srv = json_object_get(w, "server");
	assert_string_equal(jstr(srv, "version"), SESSIOND_VERSION);
	assert_non_null(jstr(srv, "name"));
	assert_int_equal(jint(srv, "max_message_bytes"), 16777216);
	s = expect_type(c, "sync");
	assert_int_equal(json_array_size(json_object_get(s, "nodes")), 0);
	assert_int_equal(json_array_size(json_object_get(s, "tasks")), 0);
	assert_int_equal(json_array_size(json_object_get(s, "chat")), 0);
	assert_int_equal(json_array_size(json_object_get(s, "users")), 1);
	u = json_array_get(json_object_get(s, "users"), 0);
	assert_string_equal(jstr(u, "name"), "alice");
	assert_string_equal(jstr(u, "color"), "#ff8800");
	assert_true(json_is_true(json_object_get(u, "online")));
	json_decref(s);
	s = expect_type(c, "synced");
	assert_int_equal(jint(s, "seq"), 0);
	json_decref(s);
	json_decref(w);
	expect_nothing(c);
	assert_int_equal(c->close_code, 0);
	/* The session exists on disk now. */
	{
		char p[4400];
		snprintf(p, sizeof(p), "%s/default/session.db", f->dir);
		assert_true(tu_exists(p));
	}
	fake_free(f);
}

/* A joiner gets the state at its synced seq and then only newer events,
 * whichever way its hello and another client's change are ordered. */
static void join_with_concurrent_change(int hello_first)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice"), *c = conn_new(&f->srv, "default", NULL);
	json_t *w, *all, *o;
	size_t i, nodes_seen = 0;
	if (hello_first)
		send_raw(c, "{\"type\":\"hello\",\"id\":1,\"user\":\"carol\"}");
	send_raw(a, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"n\",\"kind\":\"K\",\"data\":{\"v\":1}}");
	if (!hello_first)
		send_raw(c, "{\"type\":\"hello\",\"id\":1,\"user\":\"carol\"}");
	server_flush(&f->srv);
	w = expect_type(c, "welcome");
	assert_int_equal(jint(w, "seq"), 1);
	all = recv_all(c);
	json_array_foreach(all, i, o) {
		if (strcmp(jstr(o, "type"), "sync") == 0)
			nodes_seen += json_array_size(json_object_get(o, "nodes"));
		else if (strcmp(jstr(o, "type"), "synced") == 0)
			assert_int_equal(jint(o, "seq"), 1);
		else
			fail_msg("unexpected %s after welcome", jstr(o, "type"));
	}
	assert_int_equal(nodes_seen, 1);
	assert_string_equal(jstr(json_array_get(all, json_array_size(all) - 1), "type"), "synced");
	json_decref(all);
	json_decref(w);
	/* Later changes do reach carol. */
	send_raw(a, "{\"type\":\"node.delete\",\"uuid\":\"n\"}");
	server_flush(&f->srv);
	o = expect_type(c, "node");
	assert_int_equal(jint(o, "seq"), 2);
	json_decref(o);
	fake_free(f);
}

static void test_join_during_change_hello_first(void **state)
{
	(void)state;
	join_with_concurrent_change(1);
}

static void test_join_during_change_hello_last(void **state)
{
	(void)state;
	join_with_concurrent_change(0);
}

static void test_resume(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice"), *b;
	json_t *w, *all, *o, *nodes;
	char extra[256], epoch[65];
	size_t i;
	(void)state;
	for (int i2 = 1; i2 <= 3; i2++)
		sendf(a, "{\"type\":\"node.create\",\"uuid\":\"n%d\",\"kind\":\"K\",\"data\":{}}", i2);
	server_flush(&f->srv);
	disconnect(f, a);  /* alice saw seq 3 */
	b = join_ex(f, "default", "bob", "", &w);
	snprintf(epoch, sizeof(epoch), "%s", jstr(w, "epoch"));
	json_decref(w);
	send_raw(b, "{\"type\":\"node.create\",\"uuid\":\"n4\",\"kind\":\"K\",\"data\":{}}");
	send_raw(b, "{\"type\":\"node.delete\",\"uuid\":\"n1\"}");
	server_flush(&f->srv);

	snprintf(extra, sizeof(extra), ",\"epoch\":\"%s\",\"since\":3", epoch);
	a = conn_new(&f->srv, "default", NULL);
	sendf(a, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"%s}", extra);
	server_flush(&f->srv);
	w = expect_type(a, "welcome");
	assert_string_equal(jstr(w, "resume"), "delta");
	assert_int_equal(jint(w, "seq"), 5);
	json_decref(w);
	all = recv_all(a);
	nodes = json_object_get(json_array_get(all, 0), "nodes");
	assert_int_equal(json_array_size(nodes), 2); /* n4, and n1's tombstone */
	json_array_foreach(nodes, i, o) {
		if (strcmp(jstr(o, "uuid"), "n1") == 0) {
			assert_true(json_is_true(json_object_get(o, "deleted")));
			assert_int_equal(jint(o, "seq"), 5);
		} else {
			assert_string_equal(jstr(o, "uuid"), "n4");
			assert_int_equal(jint(o, "seq"), 4);
		}
	}
	json_decref(all);
	disconnect(f, a);

	/* Another epoch, or a since from the future: full. */
	a = join_ex(f, "default", "alice", ",\"epoch\":\"0000\",\"since\":3", &w);
	assert_string_equal(jstr(w, "resume"), "full");
	json_decref(w);
	disconnect(f, a);
	snprintf(extra, sizeof(extra), ",\"epoch\":\"%s\",\"since\":99", epoch);
	a = join_ex(f, "default", "alice", extra, &w);
	assert_string_equal(jstr(w, "resume"), "full");
	json_decref(w);
	fake_free(f);
}

/* The users list of a sync: every known user, who is online, and the last
 * presence as metadata (live while online, from the database after). */
static json_t *sync_users(struct conn *c)
{
	json_t *all = recv_all(c), *users = NULL, *o;
	size_t i;
	json_array_foreach(all, i, o)
		if (strcmp(jstr(o, "type"), "sync") == 0 && json_array_size(json_object_get(o, "users")))
			users = json_incref(json_object_get(o, "users"));
	json_decref(all);
	assert_non_null(users);
	return users;
}

static json_t *user_named(json_t *users, const char *name)
{
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u)
		if (strcmp(jstr(u, "name"), name) == 0)
			return u;
	fail_msg("no user %s", name);
	return NULL;
}

static void test_users_and_presence(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice"), *b = join(f, "bob"), *c;
	json_t *users, *u, *ev;
	(void)state;
	send_raw(a, "{\"type\":\"presence\",\"data\":{\"mode\":\"edit\"}}");
	server_flush(&f->srv);
	drain(b);
	c = conn_new(&f->srv, "default", NULL);
	send_raw(c, "{\"type\":\"hello\",\"user\":\"carol\",\"color\":\"#123456\"}");
	server_flush(&f->srv);
	json_decref(expect_type(c, "welcome"));
	users = sync_users(c);
	assert_int_equal(json_array_size(users), 3);
	u = user_named(users, "alice");
	assert_true(json_is_true(json_object_get(u, "online")));
	assert_string_equal(jstr(json_object_get(u, "metadata"), "mode"), "edit");
	assert_true(json_is_true(json_object_get(user_named(users, "bob"), "online")));
	json_decref(users);
	/* The others hear of carol. */
	ev = expect_type(b, "user");
	assert_string_equal(jstr(ev, "op"), "join");
	u = json_object_get(ev, "user");
	assert_string_equal(jstr(u, "name"), "carol");
	assert_string_equal(jstr(u, "role"), "user");
	assert_string_equal(jstr(u, "color"), "#123456");
	assert_true(json_is_true(json_object_get(u, "online")));
	json_decref(ev);
	expect_nothing(c);

	/* alice leaves: still known, offline, her last presence kept. */
	disconnect(f, a);
	c = conn_new(&f->srv, "default", NULL);
	send_raw(c, "{\"type\":\"hello\",\"user\":\"dave\"}");
	server_flush(&f->srv);
	json_decref(expect_type(c, "welcome"));
	users = sync_users(c);
	assert_int_equal(json_array_size(users), 4);
	u = user_named(users, "alice");
	assert_true(json_is_false(json_object_get(u, "online")));
	assert_string_equal(jstr(json_object_get(u, "metadata"), "mode"), "edit");
	json_decref(users);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_welcome_sync_synced),
		cmocka_unit_test(test_join_during_change_hello_first),
		cmocka_unit_test(test_join_during_change_hello_last),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_users_and_presence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
