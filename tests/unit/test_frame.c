/* test_frame.c - shared outgoing frames: the payload after FRAME_PRE bytes
 * of headroom, reference counts, and the compact JSON text frame_from_json
 * writes (reals in their shortest form, strings escaped, key order kept),
 * which must read back as the object it was made from. Run under
 * AddressSanitizer, a miscounted reference shows up as a leak or a use
 * after free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "frame.h"
#include "metrics.h"
#include "util.h"

static void test_frame_new(void **state)
{
	struct frame *f;
	(void)state;
	f = frame_new("{\"a\":1}", 7);
	assert_int_equal(f->refs, 1);
	assert_int_equal(f->len, 7);
	assert_int_equal(f->type, MT_OTHER);
	assert_ptr_equal(frame_data(f), f->mem + FRAME_PRE);
	assert_string_equal(frame_data(f), "{\"a\":1}"); /* NUL-terminated */
	frame_unref(f);
	f = frame_new("", 0);
	assert_int_equal(f->len, 0);
	assert_string_equal(frame_data(f), "");
	frame_unref(f);
	frame_unref(NULL);
}

static void test_refcount(void **state)
{
	struct frame *f;
	(void)state;
	f = frame_new("x", 1);
	assert_ptr_equal(frame_ref(f), f);
	assert_ptr_equal(frame_ref(f), f);
	assert_int_equal(f->refs, 3);
	frame_unref(f);
	frame_unref(f);
	assert_int_equal(f->refs, 1);
	assert_string_equal(frame_data(f), "x"); /* still alive */
	frame_unref(f);                           /* freed: ASan sees a leak otherwise */
}

static void test_sbuf_frames(void **state)
{
	struct sbuf b;
	struct frame *f;
	(void)state;
	frame_sbuf_init(&b, 4);
	assert_int_equal(b.len, FRAME_SBUF_HEAD);
	sbuf_addstr(&b, "{\"type\":\"pong\"}");
	f = frame_from_sbuf(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(f->refs, 1);
	assert_int_equal(f->len, 15);
	assert_string_equal(frame_data(f), "{\"type\":\"pong\"}");
	frame_unref(f);
}

static struct frame *from_text(const char *text)
{
	json_error_t e;
	json_t *o = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	struct frame *f;
	if (!o)
		fail_msg("bad test JSON %s: %s", text, e.text);
	f = frame_from_json(o);
	json_decref(o);
	return f;
}

/* frame_from_json writes exactly `want` for the object parsed from `in`. */
static void check_text(const char *in, const char *want)
{
	struct frame *f = from_text(in);
	assert_string_equal(frame_data(f), want);
	assert_int_equal(f->len, strlen(want));
	frame_unref(f);
}

static void test_from_json_text(void **state)
{
	(void)state;
	/* Timestamps are whole milliseconds: no float noise. */
	check_text("{\"ts\":1796007416.321}", "{\"ts\":1796007416.321}");
	check_text("{\"a\":0.1,\"b\":-2.5,\"c\":3.0,\"d\":1e300}",
		   "{\"a\":0.1,\"b\":-2.5,\"c\":3.0,\"d\":1e+300}");
	/* Key order is kept, everything compact. */
	check_text("{ \"z\" : 1 , \"a\" : [ true, false, null, [], {} ], \"m\": -7 }",
		   "{\"z\":1,\"a\":[true,false,null,[],{}],\"m\":-7}");
	check_text("{\"big\":9223372036854775807,\"neg\":-9223372036854775808}",
		   "{\"big\":9223372036854775807,\"neg\":-9223372036854775808}");
	/* Strings (keys too) are escaped; UTF-8 passes through. */
	check_text("{\"k\\\"ey\":\"q\\\" b\\\\ n\\n t\\t c\\u0001 caf\\u00e9\"}",
		   "{\"k\\\"ey\":\"q\\\" b\\\\ n\\n t\\t c\\u0001 caf\xc3\xa9\"}");
	check_text("{\"nul\":\"a\\u0000b\"}", "{\"nul\":\"a\\u0000b\"}");
}

static void test_from_json_reads_back(void **state)
{
	static const char *const docs[] = {
		"{\"type\":\"node\",\"op\":\"update\",\"uuid\":\"cube\",\"version\":2,\"seq\":7,"
		"\"patch\":{\"loc\":[1.5,0.1,-3],\"name\":\"Cube \\\"1\\\"\",\"gone\":null},"
		"\"updated_by\":\"alice\",\"updated_at\":1796007416.321}",
		"{\"deep\":[[[[{\"x\":[0.30000000000000004,1e-7,123456789.125]}]]]]}",
		"{}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *o = json_loads(docs[i], 0, NULL), *back;
		struct frame *f = frame_from_json(o);
		json_error_t e;
		back = json_loadb(frame_data(f), f->len, JSON_REJECT_DUPLICATES, &e);
		if (!back)
			fail_msg("frame %s does not parse: %s", frame_data(f), e.text);
		assert_true(json_equal(o, back));
		json_decref(back);
		json_decref(o);
		frame_unref(f);
	}
}

static void test_from_json_type(void **state)
{
	struct frame *f;
	(void)state;
	f = from_text("{\"type\":\"node\",\"op\":\"create\"}");
	assert_int_equal(f->type, MT_NODE);
	frame_unref(f);
	f = from_text("{\"type\":\"ok\",\"re\":1}");
	assert_int_equal(f->type, MT_OK);
	frame_unref(f);
	f = from_text("{\"re\":1}");
	assert_int_equal(f->type, MT_OTHER);
	frame_unref(f);
}

static void test_add_json_appends(void **state)
{
	struct sbuf b;
	json_t *v = json_pack("{s:[i,f,s]}", "list", 1, 0.25, "two");
	(void)state;
	sbuf_init(&b, 4);
	sbuf_addstr(&b, "{\"type\":\"x\",\"v\":");
	frame_add_json(&b, v);
	sbuf_addc(&b, '}');
	assert_string_equal(b.p, "{\"type\":\"x\",\"v\":{\"list\":[1,0.25,\"two\"]}}");
	b.len = 0;
	frame_add_json(&b, json_array_get(json_object_get(v, "list"), 2));
	assert_string_equal(b.p, "\"two\"");
	sbuf_free(&b);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_new),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_sbuf_frames),
		cmocka_unit_test(test_from_json_text),
		cmocka_unit_test(test_from_json_reads_back),
		cmocka_unit_test(test_from_json_type),
		cmocka_unit_test(test_add_json_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
