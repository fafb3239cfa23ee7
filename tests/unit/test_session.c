/* test_session.c - the session domain through the protocol, two or three
 * clients at once: nodes and their locks, tasks, chat and presence
 * (PROTOCOL.md sections 4-7). The ok of a change and the event the others
 * get carry the same seq. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakesrv.h"

struct two {
	struct fake *f;
	struct conn *a, *b;   /* alice, bob: plain users */
};

static int setup(void **state)
{
	const char *const env[] = {"ADMIN_PASSWORD=adm", NULL};
	struct two *t = calloc(1, sizeof(*t));
	t->f = fake_new(env);
	t->a = join(t->f, "alice");
	t->b = join(t->f, "bob");
	drain(t->a); /* bob's join */
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct two *t = *state;
	fake_free(t->f);
	free(t);
	return 0;
}

static void flush(struct two *t) { server_flush(&t->f->srv); }

static void create(struct two *t, const char *uuid)
{
	json_t *o;
	sendf(t->a, "{\"type\":\"node.create\",\"id\":100,\"uuid\":\"%s\",\"kind\":\"Object\","
		    "\"data\":{\"name\":\"%s\"}}", uuid, uuid);
	flush(t);
	o = expect_ok(t->a, 100);
	json_decref(o);
	drain(t->b);
}

static void test_node_create(void **state)
{
	struct two *t = *state;
	json_t *ok, *ev, *n;
	(void)state;
	send_raw(t->a, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"cube\",\"kind\":\"Object\","
		       "\"deps\":[\"mesh\",\"mat\"],\"data\":{\"loc\":[1,2,3]}}");
	flush(t);
	ok = expect_ok(t->a, 1);
	assert_string_equal(jstr(ok, "uuid"), "cube");
	assert_int_equal(jint(ok, "version"), 1);
	assert_int_equal(jint(ok, "seq"), 1);
	expect_nothing(t->a); /* no echo of its own event */
	ev = expect_type(t->b, "node");
	assert_string_equal(jstr(ev, "op"), "create");
	assert_int_equal(jint(ev, "seq"), jint(ok, "seq"));
	n = json_object_get(ev, "node");
	assert_string_equal(jstr(n, "uuid"), "cube");
	assert_string_equal(jstr(n, "kind"), "Object");
	assert_string_equal(json_string_value(json_array_get(json_object_get(n, "deps"), 0)), "mesh");
	assert_string_equal(json_string_value(json_array_get(json_object_get(n, "deps"), 1)), "mat");
	assert_true(json_is_null(json_object_get(n, "owner")));
	assert_int_equal(jint(n, "version"), 1);
	assert_int_equal(jint(n, "seq"), 1);
	assert_string_equal(jstr(n, "updated_by"), "alice");
	assert_true(json_is_number(json_object_get(n, "updated_at")));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(
		json_object_get(n, "data"), "loc"), 2)), 3);
	json_decref(ok);
	json_decref(ev);

	/* Same uuid again: exists. No uuid: the server makes a UUIDv4. */
	send_raw(t->b, "{\"type\":\"node.create\",\"id\":2,\"uuid\":\"cube\",\"kind\":\"K\",\"data\":{}}");
	send_raw(t->b, "{\"type\":\"node.create\",\"id\":3,\"kind\":\"K\",\"data\":{},\"lock\":true}");
	flush(t);
	expect_error(t->b, "exists", 2);
	ok = expect_ok(t->b, 3);
	assert_int_equal(strlen(jstr(ok, "uuid")), 36);
	assert_int_equal(jstr(ok, "uuid")[14], '4');
	assert_int_equal(jint(ok, "seq"), 2);
	ev = expect_type(t->a, "node");
	assert_string_equal(jstr(json_object_get(ev, "node"), "uuid"), jstr(ok, "uuid"));
	assert_string_equal(jstr(json_object_get(ev, "node"), "owner"), "bob");
	json_decref(ok);
	json_decref(ev);
}

static void test_node_update_and_conflict(void **state)
{
	struct two *t = *state;
	json_t *ok, *ev, *n;
	create(t, "cube"); /* seq 1, version 1 */
	send_raw(t->a, "{\"type\":\"node.update\",\"id\":1,\"uuid\":\"cube\",\"version\":1,"
		       "\"patch\":{\"name\":null,\"size\":2}}");
	flush(t);
	ok = expect_ok(t->a, 1);
	assert_int_equal(jint(ok, "version"), 2);
	assert_int_equal(jint(ok, "seq"), 2);
	ev = expect_type(t->b, "node");
	assert_string_equal(jstr(ev, "op"), "update");
	assert_string_equal(jstr(ev, "uuid"), "cube");
	assert_int_equal(jint(ev, "seq"), 2);
	assert_int_equal(jint(ev, "version"), 2);
	assert_string_equal(jstr(ev, "updated_by"), "alice");
	assert_true(json_is_null(json_object_get(json_object_get(ev, "patch"), "name")));
	json_decref(ok);
	json_decref(ev);

	/* bob still thinks it is version 1. */
	send_raw(t->b, "{\"type\":\"node.update\",\"id\":2,\"uuid\":\"cube\",\"version\":1,\"data\":{}}");
	flush(t);
	ev = expect_type(t->b, "error");
	assert_string_equal(jstr(ev, "code"), "conflict");
	assert_int_equal(jint(ev, "re"), 2);
	assert_int_equal(jint(ev, "version"), 2);
	json_decref(ev);
	expect_nothing(t->a);

	/* data replaces, deps and kind change; each change is one version. */
	send_raw(t->b, "{\"type\":\"node.update\",\"id\":3,\"uuid\":\"cube\",\"version\":2,"
		       "\"data\":{\"fresh\":true},\"deps\":[\"d1\"],\"kind\":\"Mesh\"}");
	send_raw(t->b, "{\"type\":\"node.get\",\"id\":4,\"uuid\":\"cube\"}");
	send_raw(t->b, "{\"type\":\"node.update\",\"id\":5,\"uuid\":\"ghost\",\"data\":{}}");
	flush(t);
	ok = expect_ok(t->b, 3);
	assert_int_equal(jint(ok, "version"), 3);
	json_decref(ok);
	ok = expect_ok(t->b, 4);
	n = json_object_get(ok, "node");
	assert_string_equal(jstr(n, "kind"), "Mesh");
	assert_int_equal(jint(n, "version"), 3);
	assert_int_equal(jint(n, "seq"), 3);
	assert_true(json_is_true(json_object_get(json_object_get(n, "data"), "fresh")));
	assert_null(json_object_get(json_object_get(n, "data"), "size"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(n, "deps"), 0)), "d1");
	assert_string_equal(jstr(n, "updated_by"), "bob");
	json_decref(ok);
	expect_error(t->b, "not_found", 5);
	ev = expect_type(t->a, "node");
	assert_string_equal(jstr(ev, "kind"), "Mesh");
	assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "fresh")));
	json_decref(ev);
}

static void test_locks(void **state)
{
	struct two *t = *state;
	json_t *ok, *ev;
	create(t, "cube"); /* seq 1 */
	send_raw(t->a, "{\"type\":\"node.lock\",\"id\":1,\"uuid\":\"cube\"}");
	flush(t);
	ok = expect_ok(t->a, 1);
	assert_string_equal(jstr(ok, "owner"), "alice");
	assert_int_equal(jint(ok, "seq"), 2);
	ev = expect_type(t->b, "node");
	assert_string_equal(jstr(ev, "op"), "owner");
	assert_string_equal(jstr(ev, "owner"), "alice");
	assert_int_equal(jint(ev, "seq"), 2);
	json_decref(ok);
	json_decref(ev);

	send_raw(t->b, "{\"type\":\"node.update\",\"id\":2,\"uuid\":\"cube\",\"data\":{}}");
	send_raw(t->b, "{\"type\":\"node.delete\",\"id\":3,\"uuid\":\"cube\"}");
	send_raw(t->b, "{\"type\":\"node.lock\",\"id\":4,\"uuid\":\"cube\"}");
	send_raw(t->b, "{\"type\":\"node.unlock\",\"id\":5,\"uuid\":\"cube\"}");
	send_raw(t->b, "{\"type\":\"node.unlock\",\"id\":6,\"uuid\":\"cube\",\"force\":true}");
	flush(t);
	ev = expect_type(t->b, "error");
	assert_string_equal(jstr(ev, "code"), "forbidden");
	assert_string_equal(jstr(ev, "owner"), "alice");
	json_decref(ev);
	for (int id = 3; id <= 6; id++)
		expect_error(t->b, "forbidden", id);
	expect_nothing(t->a);

	/* Locking again changes nothing: current seq, no event, version kept. */
	send_raw(t->a, "{\"type\":\"node.lock\",\"id\":7,\"uuid\":\"cube\"}");
	send_raw(t->a, "{\"type\":\"node.get\",\"id\":8,\"uuid\":\"cube\"}");
	flush(t);
	ok = expect_ok(t->a, 7);
	assert_int_equal(jint(ok, "seq"), 2);
	json_decref(ok);
	ok = expect_ok(t->a, 8);
	assert_int_equal(jint(json_object_get(ok, "node"), "version"), 1);
	assert_string_equal(jstr(json_object_get(ok, "node"), "owner"), "alice");
	json_decref(ok);
	expect_nothing(t->b);

	send_raw(t->a, "{\"type\":\"node.unlock\",\"id\":9,\"uuid\":\"cube\"}");
	send_raw(t->a, "{\"type\":\"node.unlock\",\"id\":10,\"uuid\":\"cube\"}");
	flush(t);
	ok = expect_ok(t->a, 9);
	assert_true(json_is_null(json_object_get(ok, "owner")));
	assert_int_equal(jint(ok, "seq"), 3);
	json_decref(ok);
	ok = expect_ok(t->a, 10);
	assert_int_equal(jint(ok, "seq"), 3);
	json_decref(ok);
	ev = expect_type(t->b, "node");
	assert_true(json_is_null(json_object_get(ev, "owner")));
	assert_int_equal(jint(ev, "seq"), 3);
	json_decref(ev);
	expect_nothing(t->b);
}

static void test_leave_releases_locks(void **state)
{
	struct two *t = *state;
	json_t *ev;
	int64_t seq1, seq2;
	create(t, "n1");
	create(t, "n2");
	send_raw(t->a, "{\"type\":\"node.lock\",\"uuid\":\"n1\"}");
	send_raw(t->a, "{\"type\":\"node.lock\",\"uuid\":\"n2\"}");
	flush(t);
	drain(t->b);
	disconnect(t->f, t->a);
	t->a = NULL;
	ev = expect_type(t->b, "node");
	assert_string_equal(jstr(ev, "op"), "owner");
	assert_true(json_is_null(json_object_get(ev, "owner")));
	seq1 = jint(ev, "seq");
	json_decref(ev);
	ev = expect_type(t->b, "node");
	seq2 = jint(ev, "seq");
	json_decref(ev);
	assert_int_equal(seq1, 5);
	assert_int_equal(seq2, 6);
	ev = expect_type(t->b, "user");
	assert_string_equal(jstr(ev, "op"), "leave");
	assert_string_equal(jstr(ev, "user"), "alice");
	assert_string_equal(jstr(ev, "reason"), "disconnect");
	json_decref(ev);
	/* The nodes are common again: bob may change them. */
	send_raw(t->b, "{\"type\":\"node.delete\",\"id\":1,\"uuid\":\"n1\"}");
	flush(t);
	ev = expect_ok(t->b, 1);
	assert_int_equal(jint(ev, "seq"), 7);
	json_decref(ev);
}

static void test_admin_force_and_delete(void **state)
{
	struct two *t = *state;
	struct conn *adm = join_ex(t->f, "default", "root", ",\"admin_password\":\"adm\"", NULL);
	json_t *ok, *ev;
	drain(t->a); /* root's join */
	drain(t->b);
	create(t, "cube"); /* seq 1 */
	send_raw(t->a, "{\"type\":\"node.lock\",\"uuid\":\"cube\"}");
	flush(t);
	drain(t->b);
	drain(adm);
	send_raw(adm, "{\"type\":\"node.lock\",\"id\":1,\"uuid\":\"cube\",\"force\":true}");
	flush(t);
	ok = expect_ok(adm, 1);
	assert_string_equal(jstr(ok, "owner"), "root");
	ev = expect_type(t->a, "node");
	assert_string_equal(jstr(ev, "owner"), "root");
	assert_int_equal(jint(ev, "seq"), jint(ok, "seq"));
	json_decref(ok);
	json_decref(ev);
	drain(t->b);
	send_raw(adm, "{\"type\":\"node.delete\",\"id\":2,\"uuid\":\"cube\"}");
	flush(t);
	ok = expect_ok(adm, 2);
	ev = expect_type(t->b, "node");
	assert_string_equal(jstr(ev, "op"), "delete");
	assert_string_equal(jstr(ev, "uuid"), "cube");
	assert_int_equal(jint(ev, "seq"), jint(ok, "seq"));
	json_decref(ok);
	json_decref(ev);
	drain(t->a);
	/* Gone for everyone; the uuid can be used again, from version 1. */
	send_raw(t->a, "{\"type\":\"node.get\",\"id\":3,\"uuid\":\"cube\"}");
	send_raw(t->a, "{\"type\":\"node.delete\",\"id\":4,\"uuid\":\"cube\"}");
	send_raw(t->a, "{\"type\":\"node.create\",\"id\":5,\"uuid\":\"cube\",\"kind\":\"K\",\"data\":{}}");
	flush(t);
	expect_error(t->a, "not_found", 3);
	expect_error(t->a, "not_found", 4);
	ok = expect_ok(t->a, 5);
	assert_int_equal(jint(ok, "version"), 1);
	json_decref(ok);
}

static void test_tasks(void **state)
{
	struct two *t = *state;
	json_t *ok, *ev, *task;
	send_raw(t->a, "{\"type\":\"task.create\",\"id\":1,\"title\":\"Rig the arm\",\"assignee\":\"bob\"}");
	flush(t);
	ok = expect_ok(t->a, 1);
	task = json_object_get(ok, "task");
	assert_int_equal(jint(task, "id"), 1);
	assert_string_equal(jstr(task, "title"), "Rig the arm");
	assert_string_equal(jstr(task, "description"), "");
	assert_string_equal(jstr(task, "status"), "todo");
	assert_string_equal(jstr(task, "assignee"), "bob");
	assert_true(json_is_null(json_object_get(task, "node")));
	assert_string_equal(jstr(task, "created_by"), "alice");
	assert_int_equal(jint(task, "seq"), 1);
	assert_int_equal(jint(ok, "seq"), 1);
	ev = expect_type(t->b, "task");
	assert_string_equal(jstr(ev, "op"), "create");
	assert_int_equal(jint(ev, "seq"), 1);
	assert_true(json_equal(json_object_get(ev, "task"), task));
	json_decref(ok);
	json_decref(ev);

	send_raw(t->b, "{\"type\":\"task.update\",\"id\":2,\"task\":1,\"status\":\"done\",\"assignee\":null}");
	flush(t);
	ok = expect_ok(t->b, 2);
	task = json_object_get(ok, "task");
	assert_string_equal(jstr(task, "status"), "done");
	assert_true(json_is_null(json_object_get(task, "assignee")));
	assert_string_equal(jstr(task, "title"), "Rig the arm");
	assert_int_equal(jint(ok, "seq"), 2);
	ev = expect_type(t->a, "task");
	assert_string_equal(jstr(ev, "op"), "update");
	assert_int_equal(jint(ev, "seq"), 2);
	json_decref(ok);
	json_decref(ev);

	send_raw(t->b, "{\"type\":\"task.delete\",\"id\":3,\"task\":1}");
	send_raw(t->b, "{\"type\":\"task.update\",\"id\":4,\"task\":1,\"title\":\"x\"}");
	send_raw(t->b, "{\"type\":\"task.create\",\"id\":5}");
	flush(t);
	ok = expect_ok(t->b, 3);
	assert_int_equal(jint(ok, "seq"), 3);
	json_decref(ok);
	expect_error(t->b, "not_found", 4);
	expect_error(t->b, "bad_request", 5);
	ev = expect_type(t->a, "task");
	assert_string_equal(jstr(ev, "op"), "delete");
	assert_int_equal(jint(ev, "id"), 1);
	assert_int_equal(jint(ev, "seq"), 3);
	json_decref(ev);
}

static void test_chat_and_presence(void **state)
{
	struct two *t = *state;
	json_t *ok, *ev, *m;
	char *big = malloc(70000);
	for (int i = 1; i <= 5; i++)
		sendf(t->a, "{\"type\":\"chat.send\",\"id\":%d,\"text\":\"msg %d\"}", i, i);
	flush(t);
	for (int i = 1; i <= 5; i++) {
		ok = expect_ok(t->a, i);
		m = json_object_get(ok, "message");
		assert_int_equal(jint(m, "id"), i);
		assert_string_equal(jstr(m, "user"), "alice");
		assert_int_equal(jint(m, "seq"), i);
		assert_int_equal(jint(ok, "seq"), i);
		ev = expect_type(t->b, "chat");
		assert_true(json_equal(json_object_get(ev, "message"), m));
		assert_int_equal(jint(ev, "seq"), i);
		json_decref(ok);
		json_decref(ev);
	}
	send_raw(t->b, "{\"type\":\"chat.history\",\"id\":6,\"before\":5,\"limit\":2}");
	flush(t);
	ok = expect_ok(t->b, 6);
	m = json_object_get(ok, "messages");
	assert_int_equal(json_array_size(m), 2);
	assert_string_equal(jstr(json_array_get(m, 0), "text"), "msg 3");
	assert_string_equal(jstr(json_array_get(m, 1), "text"), "msg 4");
	json_decref(ok);

	send_raw(t->a, "{\"type\":\"presence\",\"id\":7,\"data\":{\"cursor\":[1,2]}}");
	memset(big, 'x', 69999);
	big[69999] = 0;
	sendf(t->a, "{\"type\":\"presence\",\"id\":8,\"data\":{\"s\":\"%.*s\"}}", 16000, big);
	flush(t);
	ok = expect_ok(t->a, 7);
	assert_null(json_object_get(ok, "seq"));
	json_decref(ok);
	json_decref(expect_ok(t->a, 8));
	ev = expect_type(t->b, "presence");
	assert_string_equal(jstr(ev, "user"), "alice");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(
		json_object_get(ev, "data"), "cursor"), 1)), 2);
	assert_null(json_object_get(ev, "seq"));
	json_decref(ev);
	drain(t->b);
	/* Over 64 KiB: too_large, not relayed. */
	{
		size_t n = strlen(big) + 64;
		char *req = malloc(n);
		snprintf(req, n, "{\"type\":\"presence\",\"id\":9,\"data\":{\"s\":\"%s\"}}", big);
		send_raw(t->a, req);
		free(req);
	}
	flush(t);
	expect_error(t->a, "too_large", 9);
	expect_nothing(t->b);
	free(big);
}

/* The node object of the sync a new client gets for `uuid` (a new
 * reference), from a fresh join. */
static json_t *synced_node(struct two *t, const char *user, const char *uuid)
{
	struct conn *c = conn_new(&t->f->srv, "default", NULL);
	json_t *o, *found = NULL, *n;
	size_t i;
	sendf(c, "{\"type\":\"hello\",\"id\":\"h\",\"user\":\"%s\"}", user);
	flush(t);
	json_decref(expect_type(c, "welcome"));
	while ((o = recv_one(c))) {
		json_array_foreach(json_object_get(o, "nodes"), i, n)
			if (strcmp(jstr(n, "uuid"), uuid) == 0)
				found = json_incref(n);
		json_decref(o);
	}
	disconnect(t->f, c);
	drain(t->a);
	drain(t->b);
	if (!found)
		fail_msg("no node %s in the sync", uuid);
	return found;
}

static json_t *got_node(struct two *t, const char *uuid)
{
	json_t *ok, *n;
	sendf(t->a, "{\"type\":\"node.get\",\"id\":50,\"uuid\":\"%s\"}", uuid);
	flush(t);
	ok = expect_ok(t->a, 50);
	n = json_incref(json_object_get(ok, "node"));
	json_decref(ok);
	return n;
}

static void assert_same_node(json_t *want, json_t *got, const char *what)
{
	if (!json_equal(want, got)) {
		char *a = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
		char *b = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		char msg[1200];
		snprintf(msg, sizeof(msg), "%s:\n  %.500s\n  %.500s", what, a, b);
		free(a);
		free(b);
		fail_msg("%s", msg);
	}
}

/* Three places write a node object: the node.create event and the
 * node.get reply (session_nodes.c node_json) and the sync (sync.c, as text
 * from the row). A client must not be able to tell them apart. */
static void test_node_renderers_agree(void **state)
{
	struct two *t = *state;
	json_t *ev, *evs[2], *get, *sync, *ok;
	send_raw(t->b, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"cube\",\"kind\":\"Object\","
		       "\"deps\":[\"mesh-2\",\"mat\",\"a-first\"],\"lock\":true,\"data\":{"
		       "\"loc\":[1.5,0.1,-3e-05,0.30000000000000004],\"n\":12345678901234,"
		       "\"name\":\"Cube \\\"1\\\" caf\\u00e9\\n\\ttab \\\\ \\u0001\","
		       "\"empty\":{},\"list\":[],\"flag\":false,\"none\":null}}");
	send_raw(t->b, "{\"type\":\"node.create\",\"id\":2,\"uuid\":\"plain\",\"kind\":\"Mesh\","
		       "\"data\":{}}");
	flush(t);
	json_decref(expect_ok(t->b, 1));
	json_decref(expect_ok(t->b, 2));

	evs[0] = expect_type(t->a, "node");
	evs[1] = expect_type(t->a, "node");
	for (int i = 0; i < 2; i++) {
		const char *uuid = i ? "plain" : "cube";
		ev = evs[i];
		assert_string_equal(jstr(ev, "op"), "create");
		assert_string_equal(jstr(json_object_get(ev, "node"), "uuid"), uuid);
		get = got_node(t, uuid);
		sync = synced_node(t, "carol", uuid);
		assert_same_node(json_object_get(ev, "node"), get, "node.create event vs node.get");
		assert_same_node(get, sync, "node.get vs sync");
		json_decref(ev);
		json_decref(get);
		json_decref(sync);
	}

	/* After an update by someone else, and with the lock released. */
	send_raw(t->b, "{\"type\":\"node.unlock\",\"id\":3,\"uuid\":\"cube\"}");
	flush(t);
	json_decref(expect_ok(t->b, 3));
	drain(t->a);
	send_raw(t->a, "{\"type\":\"node.update\",\"id\":4,\"uuid\":\"cube\",\"version\":1,"
		       "\"patch\":{\"loc\":[2.25,0.2,0],\"none\":null,\"added\":\"x\"}}");
	flush(t);
	ok = expect_ok(t->a, 4);
	assert_int_equal(jint(ok, "version"), 2);
	json_decref(ok);
	drain(t->a);
	drain(t->b);
	get = got_node(t, "cube");
	assert_true(json_is_null(json_object_get(get, "owner")));
	assert_string_equal(jstr(get, "updated_by"), "alice");
	assert_null(json_object_get(json_object_get(get, "data"), "none"));
	sync = synced_node(t, "dave", "cube");
	assert_same_node(get, sync, "node.get vs sync after an update");
	json_decref(get);
	json_decref(sync);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_node_create), T(test_node_update_and_conflict), T(test_locks),
		T(test_leave_releases_locks), T(test_admin_force_and_delete), T(test_tasks),
		T(test_chat_and_presence), T(test_node_renderers_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
