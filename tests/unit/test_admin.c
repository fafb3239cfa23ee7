/* test_admin.c - session state and administration through the protocol
 * (PROTOCOL.md section 8): session.init, admin-only requests, admin.save and
 * its place among the replies, admin.backups, admin.kick, admin.reset.
 * Saves run synchronously here (no saver thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakesrv.h"
#include "saver.h"

struct three {
	struct fake *f;
	struct conn *adm, *a, *b;  /* root (admin), alice, bob */
};

static int setup(void **state)
{
	const char *const env[] = {"ADMIN_PASSWORD=adm", NULL};
	struct three *t = calloc(1, sizeof(*t));
	t->f = fake_new(env);
	t->adm = join_ex(t->f, "default", "root", ",\"admin_password\":\"adm\"", NULL);
	t->a = join(t->f, "alice");
	t->b = join(t->f, "bob");
	drain(t->adm);
	drain(t->a);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct three *t = *state;
	fake_free(t->f);
	free(t);
	return 0;
}

static void flush(struct three *t) { server_flush(&t->f->srv); }

static void test_admin_only(void **state)
{
	static const char *const types[] = {"admin.save", "admin.backups", "admin.stats",
					    "admin.kick", "admin.reset"};
	struct three *t = *state;
	for (int i = 0; i < 5; i++)
		sendf(t->a, "{\"type\":\"%s\",\"id\":%d,\"user\":\"bob\"}", types[i], i);
	flush(t);
	for (int i = 0; i < 5; i++)
		expect_error(t->a, "forbidden", i);
	expect_nothing(t->a);
	expect_nothing(t->b);
	assert_int_equal(t->b->close_code, 0);
}

static void test_admin_save(void **state)
{
	struct three *t = *state;
	json_t *ok, *ev, *list, *b, *meta;
	char name[96], path[4400];
	send_raw(t->a, "{\"type\":\"chat.send\",\"text\":\"before the save\"}");
	send_raw(t->adm, "{\"type\":\"admin.save\",\"id\":1}");
	send_raw(t->adm, "{\"type\":\"ping\",\"id\":2}");
	flush(t);
	ev = expect_type(t->adm, "chat");
	json_decref(ev);
	/* The save's ok keeps its place before the pong. */
	ok = expect_ok(t->adm, 1);
	snprintf(name, sizeof(name), "%s", jstr(ok, "backup"));
	assert_int_equal(strncmp(name, "snapshot_", 9), 0);
	assert_true(jint(ok, "bytes") > 0);
	assert_true(json_is_integer(json_object_get(ok, "ms")));
	json_decref(ok);
	ev = expect_type(t->adm, "pong");
	assert_int_equal(jint(ev, "re"), 2);
	json_decref(ev);
	expect_nothing(t->adm);

	send_raw(t->adm, "{\"type\":\"admin.backups\",\"id\":3}");
	flush(t);
	ok = expect_ok(t->adm, 3);
	list = json_object_get(ok, "backups");
	assert_int_equal(json_array_size(list), 1);
	b = json_array_get(list, 0);
	assert_string_equal(jstr(b, "file"), name);
	assert_true(jint(b, "bytes") > 0);
	assert_true(json_is_number(json_object_get(b, "created_at")));
	assert_string_equal(jstr(b, "reason"), "admin");
	json_decref(ok);

	snprintf(path, sizeof(path), "%s/default/backups/%s", t->f->dir, name);
	assert_true(tu_exists(path));
	snprintf(path, sizeof(path), "%s/default/session_metadata.json", t->f->dir);
	meta = json_load_file(path, 0, NULL);
	assert_non_null(meta);
	assert_string_equal(jstr(meta, "backup"), name);
	assert_string_equal(jstr(meta, "reason"), "admin");
	assert_int_equal(jint(meta, "chat_count"), 1); /* the change acknowledged before */
	assert_int_equal(jint(meta, "user_count"), 3);
	assert_int_equal(jint(meta, "seq"), 1);
	json_decref(meta);
}

static void test_leave_saves(void **state)
{
	struct three *t = *state;
	json_t *ok, *list;
	struct conn *c;
	/* A leave after a change saves; a leave with nothing new does not
	 * (protocol 1.1: people coming and going keep the backups). */
	send_raw(t->b, "{\"type\":\"node.create\",\"id\":9,\"uuid\":\"n\",\"kind\":\"K\","
		 "\"data\":{}}");
	flush(t);
	disconnect(t->f, t->b);
	t->b = NULL;
	c = join(t->f, "carol");
	flush(t);
	disconnect(t->f, c);
	drain(t->adm);
	send_raw(t->adm, "{\"type\":\"admin.backups\",\"id\":1}");
	flush(t);
	ok = expect_ok(t->adm, 1);
	list = json_object_get(ok, "backups");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(jstr(json_array_get(list, 0), "reason"), "user_disconnect:bob");
	json_decref(ok);
}

static void test_admin_kick(void **state)
{
	struct three *t = *state;
	json_t *ok, *ev;
	send_raw(t->adm, "{\"type\":\"admin.kick\",\"id\":1,\"user\":\"nobody\"}");
	send_raw(t->adm, "{\"type\":\"admin.kick\",\"id\":2}");
	send_raw(t->adm, "{\"type\":\"admin.kick\",\"id\":3,\"user\":\"bob\"}");
	flush(t);
	expect_error(t->adm, "not_found", 1);
	expect_error(t->adm, "bad_request", 2);
	ok = expect_ok(t->adm, 3);
	json_decref(ok);
	assert_int_equal(t->b->close_code, 4403);
	ev = expect_type(t->a, "user");
	assert_string_equal(jstr(ev, "op"), "leave");
	assert_string_equal(jstr(ev, "user"), "bob");
	assert_string_equal(jstr(ev, "reason"), "kicked");
	json_decref(ev);
	expect_nothing(t->a);
	/* bob is gone from the session: the name can join again. */
	disconnect(t->f, t->b);
	t->b = join(t->f, "bob");
	assert_int_equal(t->b->close_code, 0);
}

static void test_admin_reset(void **state)
{
	struct three *t = *state;
	json_t *ok, *ev, *w, *s;
	struct conn *c;
	char old_epoch[65], new_epoch[65];
	int64_t seq;
	(void)s;
	send_raw(t->a, "{\"type\":\"node.create\",\"uuid\":\"n\",\"kind\":\"K\",\"data\":{}}");
	send_raw(t->a, "{\"type\":\"session.init\"}");
	flush(t);
	snprintf(old_epoch, sizeof(old_epoch), "%s", fake_session(t->f, "default")->epoch);
	drain(t->adm);
	drain(t->b);
	send_raw(t->adm, "{\"type\":\"admin.reset\",\"id\":7}");
	flush(t);
	ok = expect_ok(t->adm, 7);
	snprintf(new_epoch, sizeof(new_epoch), "%s", jstr(ok, "epoch"));
	assert_string_not_equal(new_epoch, old_epoch);
	seq = jint(ok, "seq");
	assert_true(seq > 2);
	json_decref(ok);
	for (int i = 0; i < 3; i++) {
		c = i == 0 ? t->adm : i == 1 ? t->a : t->b;
		ev = expect_type(c, "session");
		assert_true(json_is_true(json_object_get(ev, "reset")));
		assert_string_equal(jstr(ev, "epoch"), new_epoch);
		assert_int_equal(jint(ev, "seq"), seq);
		json_decref(ev);
		expect_nothing(c);
		assert_int_equal(c->close_code, 4205);
	}
	/* Everyone comes back to an empty, uninitialised session. */
	disconnect(t->f, t->a);
	t->a = join_ex(t->f, "default", "alice", ",\"since\":2", &w);
	assert_string_equal(jstr(w, "epoch"), new_epoch);
	assert_string_equal(jstr(w, "resume"), "full");
	assert_true(json_is_false(json_object_get(w, "initialized")));
	assert_int_equal(jint(w, "seq"), seq);
	json_decref(w);
	send_raw(t->a, "{\"type\":\"node.get\",\"id\":1,\"uuid\":\"n\"}");
	flush(t);
	expect_error(t->a, "not_found", 1);
}

static void no_wake(void *arg) { (void)arg; }

/* While admin.reset waits for its backup (on the saver thread), every write
 * is refused with `unavailable` - it would be in no backup - while reads
 * still work; nothing refused ends up anywhere. */
static void test_writes_refused_while_reset_waits(void **state)
{
	struct three *t = *state;
	struct server *srv = &t->f->srv;
	struct session *s = fake_session(t->f, "default");
	struct backup_job *job;
	json_t *ok, *ev;
	send_raw(t->a, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"n\",\"kind\":\"K\",\"data\":{}}");
	flush(t);
	json_decref(expect_ok(t->a, 1));
	drain(t->adm);
	drain(t->b);

	/* The backup runs on a real saver; its result is only collected when
	 * this test hands it over, so the reset waits as long as needed. */
	srv->saver = saver_start(no_wake, NULL);
	send_raw(t->adm, "{\"type\":\"admin.reset\",\"id\":7}");
	flush(t);
	assert_true(s->resetting);
	expect_nothing(t->adm);

	send_raw(t->a, "{\"type\":\"node.create\",\"id\":2,\"uuid\":\"late\",\"kind\":\"K\",\"data\":{}}");
	send_raw(t->a, "{\"type\":\"node.update\",\"id\":3,\"uuid\":\"n\",\"version\":1,\"patch\":{\"x\":1}}");
	send_raw(t->a, "{\"type\":\"node.lock\",\"id\":4,\"uuid\":\"n\"}");
	send_raw(t->a, "{\"type\":\"task.create\",\"id\":5,\"title\":\"t\"}");
	send_raw(t->a, "{\"type\":\"chat.send\",\"id\":6,\"text\":\"hi\"}");
	send_raw(t->a, "{\"type\":\"session.init\",\"id\":7}");
	send_raw(t->a, "{\"type\":\"node.get\",\"id\":8,\"uuid\":\"n\"}");
	flush(t);
	for (int id = 2; id <= 7; id++)
		expect_error(t->a, "unavailable", id);
	ok = expect_ok(t->a, 8);                     /* reads go on */
	assert_int_equal(jint(json_object_get(ok, "node"), "version"), 1);
	json_decref(ok);
	expect_nothing(t->a);
	expect_nothing(t->b);                        /* no event for a refused write */
	assert_int_equal(s->seq, 1);

	/* The backup ends: the reset goes through and the refusals stop. */
	saver_stop(srv->saver);
	while ((job = saver_take_done(srv->saver)))
		server_save_done(srv, job);
	flush(t);
	assert_false(s->resetting);
	ok = expect_ok(t->adm, 7);
	assert_int_equal(jint(ok, "seq"), 2);
	json_decref(ok);
	ev = expect_type(t->a, "session");
	assert_true(json_is_true(json_object_get(ev, "reset")));
	json_decref(ev);
	saver_free(srv->saver);
	srv->saver = NULL;
	disconnect(t->f, t->a);
	t->a = join(t->f, "alice");
	send_raw(t->a, "{\"type\":\"node.get\",\"id\":1,\"uuid\":\"late\"}");
	send_raw(t->a, "{\"type\":\"node.create\",\"id\":2,\"uuid\":\"after\",\"kind\":\"K\",\"data\":{}}");
	flush(t);
	expect_error(t->a, "not_found", 1);
	json_decref(expect_ok(t->a, 2));
}

static void test_session_init(void **state)
{
	struct three *t = *state;
	json_t *ok, *ev, *w;
	struct conn *c;
	send_raw(t->a, "{\"type\":\"session.init\",\"id\":1}");
	send_raw(t->b, "{\"type\":\"session.init\",\"id\":2}");
	flush(t);
	ok = expect_ok(t->a, 1);
	assert_int_equal(jint(ok, "seq"), 1);
	json_decref(ok);
	ev = expect_type(t->b, "session");
	assert_true(json_is_true(json_object_get(ev, "initialized")));
	assert_int_equal(jint(ev, "seq"), 1);
	json_decref(ev);
	expect_error(t->b, "conflict", 2);
	expect_nothing(t->a);
	c = join_ex(t->f, "default", "carol", "", &w);
	assert_true(json_is_true(json_object_get(w, "initialized")));
	assert_int_equal(jint(w, "seq"), 1);
	json_decref(w);
	(void)c;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_admin_only), T(test_admin_save), T(test_leave_saves), T(test_admin_kick),
		T(test_admin_reset), T(test_writes_refused_while_reset_waits),
		T(test_session_init),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
