/* test_protocol.c - the wire protocol without sockets: handshake, envelope
 * errors, reply order, rate limit, lagging and liveness (PROTOCOL.md
 * sections 1-3 and 7). Joining and resuming are in test_join.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakesrv.h"
#include "store.h"

static void test_first_frame_must_be_hello(void **state)
{
	static const char *const firsts[] = {
		"{\"type\":\"ping\",\"id\":1}", "not json", "[1,2]", "{\"id\":1}",
		"{\"type\":\"node.get\",\"id\":1,\"uuid\":\"x\"}",
	};
	struct fake *f = fake_new(NULL);
	(void)state;
	for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
		struct conn *c = conn_new(&f->srv, "default", NULL);
		send_raw(c, firsts[i]);
		server_flush(&f->srv);
		expect_error(c, "unauthenticated", i == 0 || i >= 3 ? 1 : -1);
		expect_nothing(c);
		assert_int_equal(c->close_code, 4401);
		/* Nothing else is read from it. */
		send_raw(c, "{\"type\":\"hello\",\"user\":\"x\"}");
		server_flush(&f->srv);
		expect_nothing(c);
	}
	{
		struct conn *c = conn_new(&f->srv, "default", NULL);
		protocol_receive(c, "\x01\x02", 2, 1);
		server_flush(&f->srv);
		expect_error(c, "unauthenticated", -1);
		assert_int_equal(c->close_code, 4401);
	}
	fake_free(f);
}

static void test_bad_hello(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *c;
	json_t *o;
	(void)state;
	c = conn_new(&f->srv, "default", NULL);
	send_raw(c, "{\"type\":\"hello\",\"id\":7}");
	server_flush(&f->srv);
	o = expect_type(c, "error");
	assert_string_equal(jstr(o, "code"), "bad_request");
	assert_int_equal(jint(o, "re"), 7);
	assert_non_null(strstr(jstr(o, "message"), "user"));
	json_decref(o);
	assert_int_equal(c->close_code, 4400);

	c = conn_new(&f->srv, "default", NULL);
	send_raw(c, "{\"type\":\"hello\",\"id\":1.5,\"user\":\"a\"}");
	server_flush(&f->srv);
	expect_error(c, "bad_request", -1);
	assert_int_equal(c->close_code, 4400);

	/* An admin_password when none is configured is wrong. */
	c = conn_new(&f->srv, "default", NULL);
	send_raw(c, "{\"type\":\"hello\",\"id\":2,\"user\":\"a\",\"admin_password\":\"x\"}");
	server_flush(&f->srv);
	expect_error(c, "auth_failed", 2);
	assert_int_equal(c->close_code, 4401);
	assert_int_equal(f->srv.nsessions, 0);
	fake_free(f);
}

static void test_passwords(void **state)
{
	const char *const env[] = {"SERVER_PASSWORD=pw", "ADMIN_PASSWORD=adm", NULL};
	struct fake *f = fake_new(env);
	static const char *const bad[] = {
		"{\"type\":\"hello\",\"id\":1,\"user\":\"a\"}",
		"{\"type\":\"hello\",\"id\":1,\"user\":\"a\",\"password\":\"PW\"}",
		"{\"type\":\"hello\",\"id\":1,\"user\":\"a\",\"password\":\"pw2\"}",
		"{\"type\":\"hello\",\"id\":1,\"user\":\"a\",\"password\":\"pw\",\"admin_password\":\"ad\"}",
	};
	json_t *w;
	struct conn *c;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = conn_new(&f->srv, "default", NULL);
		send_raw(c, bad[i]);
		server_flush(&f->srv);
		expect_error(c, "auth_failed", 1);
		assert_int_equal(c->close_code, 4401);
	}
	c = join_ex(f, "default", "user1", ",\"password\":\"pw\"", &w);
	assert_string_equal(jstr(w, "role"), "user");
	json_decref(w);
	c = join_ex(f, "default", "boss", ",\"password\":\"pw\",\"admin_password\":\"adm\"", &w);
	assert_string_equal(jstr(w, "role"), "admin");
	json_decref(w);
	assert_int_equal(c->close_code, 0);
	fake_free(f);
}

static void test_name_taken(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice"), *b, *a2;
	(void)state;
	b = conn_new(&f->srv, "default", NULL);
	send_raw(b, "{\"type\":\"hello\",\"id\":9,\"user\":\"alice\"}");
	server_flush(&f->srv);
	expect_error(b, "name_taken", 9);
	assert_int_equal(b->close_code, 4409);
	expect_nothing(a);
	assert_int_equal(a->close_code, 0);
	/* The same name in another session is someone else. */
	a2 = join_ex(f, "other", "alice", "", NULL);
	assert_int_equal(a2->close_code, 0);
	/* Once alice left, the name is free again. */
	disconnect(f, a);
	a = join(f, "alice");
	assert_int_equal(a->close_code, 0);
	fake_free(f);
}

static void test_bad_requests_keep_the_connection(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *c = join(f, "alice");
	json_t *o;
	(void)state;
	protocol_receive(c, "{}", 2, 1);                      /* binary */
	send_raw(c, "{\"type\":\"ping\"");                    /* invalid JSON */
	send_raw(c, "[\"ping\"]");                            /* not an object */
	send_raw(c, "{\"id\":1}");                            /* no type */
	send_raw(c, "{\"type\":5,\"id\":2}");                 /* type not a string */
	send_raw(c, "{\"type\":\"node.frobnicate\",\"id\":3}"); /* unknown type */
	send_raw(c, "{\"type\":\"ping\",\"id\":1.5}");        /* bad ids: no re */
	send_raw(c, "{\"type\":\"ping\",\"id\":{\"a\":1}}");
	send_raw(c, "{\"type\":\"ping\",\"id\":null}");
	send_raw(c, "{\"type\":\"hello\",\"id\":4,\"user\":\"alice\"}");
	send_raw(c, "{\"type\":\"ping\",\"id\":1,\"id\":2}"); /* duplicate key */
	send_raw(c, "{\"type\":\"ping\",\"id\":5}");
	send_raw(c, "{\"type\":\"ping\"}");
	send_raw(c, "{\"type\":\"ping\",\"id\":\"s\"}");
	server_flush(&f->srv);
	expect_error(c, "bad_request", -1);
	expect_error(c, "bad_request", -1);
	expect_error(c, "bad_request", -1);
	expect_error(c, "bad_request", 1);
	expect_error(c, "bad_request", 2);
	o = expect_type(c, "error");
	assert_int_equal(jint(o, "re"), 3);
	assert_non_null(strstr(jstr(o, "message"), "node.frobnicate"));
	json_decref(o);
	expect_error(c, "bad_request", -1);
	expect_error(c, "bad_request", -1);
	expect_error(c, "bad_request", -1);
	expect_error(c, "bad_request", 4);
	expect_error(c, "bad_request", -1);
	o = expect_type(c, "pong");
	assert_int_equal(jint(o, "re"), 5);
	json_decref(o);
	o = expect_type(c, "pong");
	assert_null(json_object_get(o, "re"));
	json_decref(o);
	o = expect_type(c, "pong");
	assert_string_equal(jstr(o, "re"), "s");
	json_decref(o);
	expect_nothing(c);
	assert_int_equal(c->close_code, 0);
	fake_free(f);
}

/* Replies leave in request order, whether they waited for the commit or not. */
static void test_reply_order(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *c = join(f, "alice");
	json_t *o;
	(void)state;
	send_raw(c, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"a\",\"kind\":\"K\",\"data\":{}}");
	send_raw(c, "{\"type\":\"node.update\",\"id\":2,\"uuid\":\"nope\",\"data\":{}}");
	send_raw(c, "{\"type\":\"ping\",\"id\":3}");
	send_raw(c, "{\"type\":\"chat.send\",\"id\":4}");
	send_raw(c, "{\"type\":\"node.get\",\"id\":5,\"uuid\":\"a\"}");
	send_raw(c, "{\"type\":\"chat.send\",\"id\":6,\"text\":\"hi\"}");
	send_raw(c, "not json");
	send_raw(c, "{\"type\":\"node.create\",\"id\":8,\"uuid\":\"a\",\"kind\":\"K\",\"data\":{}}");
	server_flush(&f->srv);
	o = expect_ok(c, 1);
	assert_int_equal(jint(o, "seq"), 1);
	json_decref(o);
	expect_error(c, "not_found", 2);
	o = expect_type(c, "pong");
	assert_int_equal(jint(o, "re"), 3);
	json_decref(o);
	expect_error(c, "bad_request", 4);
	o = expect_ok(c, 5);
	assert_string_equal(jstr(json_object_get(o, "node"), "uuid"), "a");
	json_decref(o);
	o = expect_ok(c, 6);
	assert_int_equal(jint(o, "seq"), 2);
	json_decref(o);
	expect_error(c, "bad_request", -1);
	expect_error(c, "exists", 8);
	expect_nothing(c);
	fake_free(f);
}

/* Without an id: no ok, but errors still come (without re). */
static void test_requests_without_id(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a = join(f, "alice"), *b = join(f, "bob");
	json_t *o;
	(void)state;
	drain(a);
	send_raw(a, "{\"type\":\"node.create\",\"uuid\":\"x\",\"kind\":\"K\",\"data\":{}}");
	send_raw(a, "{\"type\":\"node.delete\",\"uuid\":\"missing\"}");
	server_flush(&f->srv);
	expect_error(a, "not_found", -1);
	expect_nothing(a);
	o = expect_type(b, "node");
	assert_int_equal(jint(o, "seq"), 1);
	json_decref(o);
	fake_free(f);
}

static void test_rate_limit(void **state)
{
	const char *const env[] = {"RATE_LIMIT=2", NULL};
	struct fake *f = fake_new(env);
	struct conn *c = join(f, "alice");
	struct store_counts n;
	json_t *o;
	(void)state;
	send_raw(c, "{\"type\":\"ping\",\"id\":1}");
	send_raw(c, "{\"type\":\"ping\",\"id\":2}");
	send_raw(c, "{\"type\":\"node.create\",\"id\":3,\"uuid\":\"x\",\"kind\":\"K\",\"data\":{}}");
	server_flush(&f->srv);
	json_decref(expect_type(c, "pong"));
	json_decref(expect_type(c, "pong"));
	expect_error(c, "rate_limited", 3);
	o = recv_one(c);
	assert_null(o);
	assert_int_equal(c->close_code, 0);
	/* Not applied. */
	assert_int_equal(store_counts(fake_session(f, "default")->store, &n), SQLITE_OK);
	assert_int_equal(n.nodes, 0);
	assert_int_equal(fake_session(f, "default")->seq, 0);
	fake_free(f);
}

static void test_lagging_client_dropped(void **state)
{
	const char *const env[] = {"MAX_CLIENT_QUEUE_BYTES=65536", NULL};
	struct fake *f = fake_new(env);
	struct conn *a = join(f, "alice"), *b = join(f, "bob");
	char text[4001];
	json_t *o;
	(void)state;
	memset(text, 'x', 4000);
	text[4000] = 0;
	drain(a);
	for (int i = 0; i < 20 && !b->close_code; i++) {
		sendf(a, "{\"type\":\"chat.send\",\"text\":\"%s\"}", text);
		server_flush(&f->srv);
		drain(a);
	}
	assert_int_equal(b->close_code, 4429);
	assert_string_equal(b->close_reason, "lagging");
	assert_null(conn_peek(b)); /* what was queued is dropped */
	disconnect(f, b);
	o = expect_type(a, "user");
	assert_string_equal(jstr(o, "op"), "leave");
	assert_string_equal(jstr(o, "user"), "bob");
	assert_string_equal(jstr(o, "reason"), "lagging");
	json_decref(o);
	fake_free(f);
}

static void test_liveness(void **state)
{
	struct fake *f = fake_new(NULL); /* TIMEOUT 30 s: pings after 7.5 s of silence */
	struct conn *quiet = conn_new(&f->srv, "default", NULL);
	struct conn *a = join(f, "alice"), *b = join(f, "bob");
	int64_t t = b->last_rx_us;
	json_t *o;
	(void)state;
	drain(a);
	/* No hello within 10 s: 4408. */
	protocol_tick(quiet, quiet->opened_us + 9000000);
	assert_int_equal(quiet->close_code, 0);
	protocol_tick(quiet, quiet->opened_us + 10500000);
	assert_int_equal(quiet->close_code, 4408);
	/* A ping after TIMEOUT/4 of silence, not again right away. */
	assert_int_equal(protocol_tick(b, t + 5000000), 0);
	assert_int_equal(protocol_tick(b, t + 7600000), 1);
	assert_int_equal(protocol_tick(b, t + 8000000), 0);
	assert_int_equal(b->close_code, 0);
	/* Any sign of life restarts the clock; TIMEOUT of silence closes. */
	protocol_alive(b);
	assert_true(b->last_rx_us >= t);
	protocol_tick(b, b->last_rx_us + 29000000);
	assert_int_equal(b->close_code, 0);
	protocol_tick(b, b->last_rx_us + 30100000);
	assert_int_equal(b->close_code, 4408);
	server_flush(&f->srv);
	o = expect_type(a, "user");
	assert_string_equal(jstr(o, "op"), "leave");
	assert_string_equal(jstr(o, "user"), "bob");
	assert_string_equal(jstr(o, "reason"), "timeout");
	json_decref(o);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_frame_must_be_hello),
		cmocka_unit_test(test_bad_hello),
		cmocka_unit_test(test_passwords),
		cmocka_unit_test(test_name_taken),
		cmocka_unit_test(test_bad_requests_keep_the_connection),
		cmocka_unit_test(test_reply_order),
		cmocka_unit_test(test_requests_without_id),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_lagging_client_dropped),
		cmocka_unit_test(test_liveness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
