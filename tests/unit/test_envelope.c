/* test_envelope.c - the ok and error frames every reply is wrapped in
 * (PROTOCOL.md section 2): they parse back with type, re, code, message and
 * the extra fields; and an ok written as text (envelope_ok_text, the
 * node.update hot path) is the same object as the one built with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "envelope.h"
#include "frame.h"
#include "metrics.h"
#include "util.h"

static json_t *parse(struct frame *f)
{
	json_error_t e;
	json_t *o = json_loadb(frame_data(f), f->len, JSON_REJECT_DUPLICATES, &e);
	if (!o)
		fail_msg("invalid JSON %s: %s", frame_data(f), e.text);
	assert_true(json_is_object(o));
	return o;
}

static void test_error_frame(void **state)
{
	json_t *id = json_integer(12), *extra = json_pack("{sI}", "version", (json_int_t)4);
	struct frame *f;
	json_t *o;
	(void)state;
	f = envelope_error(id, "conflict", "node.update: version is 3, not 2", extra);
	assert_int_equal(f->type, MT_ERROR);
	o = parse(f);
	assert_int_equal(json_object_size(o), 5);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "error");
	assert_int_equal(json_integer_value(json_object_get(o, "re")), 12);
	assert_string_equal(json_string_value(json_object_get(o, "code")), "conflict");
	assert_string_equal(json_string_value(json_object_get(o, "message")),
			    "node.update: version is 3, not 2");
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 4);
	json_decref(o);
	frame_unref(f);
	/* The arguments are borrowed. */
	assert_int_equal(id->refcount, 1);
	assert_int_equal(extra->refcount, 1);
	json_decref(id);
	json_decref(extra);

	/* No id (a frame that was not valid JSON): no re at all. A message
	 * with quotes stays one string. */
	f = envelope_error(NULL, "bad_request", "invalid JSON: \"x\" at 1", NULL);
	o = parse(f);
	assert_int_equal(json_object_size(o), 3);
	assert_null(json_object_get(o, "re"));
	assert_string_equal(json_string_value(json_object_get(o, "message")),
			    "invalid JSON: \"x\" at 1");
	json_decref(o);
	frame_unref(f);
}

static void test_ok_frame(void **state)
{
	json_t *id = json_string("req-1"), *fields = json_pack("{ss sI}", "uuid", "cube",
							     "seq", (json_int_t)9);
	struct frame *f;
	json_t *o;
	(void)state;
	f = envelope_ok(id, fields);
	assert_int_equal(f->type, MT_OK);
	o = parse(f);
	assert_int_equal(json_object_size(o), 4);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "ok");
	assert_string_equal(json_string_value(json_object_get(o, "re")), "req-1");
	assert_string_equal(json_string_value(json_object_get(o, "uuid")), "cube");
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 9);
	json_decref(o);
	frame_unref(f);
	json_decref(id);
	json_decref(fields);

	f = envelope_ok(NULL, NULL);
	assert_string_equal(frame_data(f), "{\"type\":\"ok\"}");
	frame_unref(f);
}

/* The ok for id as text, with the fields node.update adds. */
static struct frame *ok_as_text(json_t *id)
{
	struct sbuf b;
	struct frame *f;
	envelope_ok_text(&b, id, 16);
	sbuf_addstr(&b, ",\"uuid\":\"cube\",\"version\":3,\"seq\":41}");
	f = frame_from_sbuf(&b);
	f->type = MT_OK;
	return f;
}

static void test_text_ok_agrees_with_jansson_ok(void **state)
{
	json_t *ids[] = {json_integer(7), json_integer(-3), json_integer(0),
			 json_string("a \"quoted\" \\ id\n"), json_string("caf\xc3\xa9"),
			 json_string(""), NULL};
	json_t *fields = json_pack("{ss sI sI}", "uuid", "cube", "version", (json_int_t)3,
				   "seq", (json_int_t)41);
	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct frame *text = ok_as_text(ids[i]), *built = envelope_ok(ids[i], fields);
		json_t *a = parse(text), *b = parse(built);
		if (!json_equal(a, b))
			fail_msg("text ok %s != jansson ok %s", frame_data(text), frame_data(built));
		assert_int_equal(json_object_get(a, "re") != NULL, ids[i] != NULL);
		json_decref(a);
		json_decref(b);
		frame_unref(text);
		frame_unref(built);
		json_decref(ids[i]);
	}
	json_decref(fields);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_frame),
		cmocka_unit_test(test_ok_frame),
		cmocka_unit_test(test_text_ok_agrees_with_jansson_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
