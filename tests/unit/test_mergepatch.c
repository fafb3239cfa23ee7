/* test_mergepatch.c - RFC 7386 JSON Merge Patch as node.update applies it:
 * through store_node_update(), where merge_patch() (store_patch.c) merges
 * the patch into the stored data. merge_patch() is also compared with
 * SQLite's json_patch(), which it replaces, on thousands of generated
 * documents: the same text must come out. Every row of the RFC's Appendix A whose target and
 * patch are objects (the only case a node can reach: data is always an
 * object and validate_node_update() refuses a patch that is not) is checked
 * here; the rows with a non-object patch are checked to be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"
#include "validate.h"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	if (!v)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return v;
}

/* Stores target as a node's data, applies patch with store_node_update and
 * compares what the database then holds with expected. */
static void check(const char *target, const char *patch, const char *expected)
{
	struct store *s;
	struct node_row n = {0}, got;
	char err[256];
	json_t *want = parse(expected), *have;

	assert_int_equal(store_open(":memory:", 0, &s, err, sizeof(err)), SQLITE_OK);
	n.uuid = "n";
	n.kind = "Object";
	n.data = (char *)target;
	n.version = 1;
	n.seq = 1;
	n.updated_by = "alice";
	assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
	n.data = NULL; /* keep the stored data, merge the patch into it */
	n.version = 2;
	n.seq = 2;
	assert_int_equal(store_node_update(s, &n, patch), SQLITE_OK);
	assert_int_equal(store_node_get(s, "n", &got), SQLITE_OK);
	have = parse(got.data);
	if (!json_equal(have, want))
		fail_msg("%s + %s: got %s, want %s", target, patch, got.data, expected);
	json_decref(have);
	json_decref(want);
	node_row_free(&got);
	store_close(s);
}

/* A non-object patch never reaches the store. */
static void refused(const char *patch)
{
	char msg[VALIDATE_MSG], req[256];
	struct node_update_req q;
	json_t *r;
	snprintf(req, sizeof(req), "{\"type\":\"node.update\",\"uuid\":\"n\",\"patch\":%s}", patch);
	r = parse(req);
	assert_int_equal(validate_node_update(r, &q, msg), -1);
	assert_non_null(strstr(msg, "patch"));
	json_decref(r);
}

static void test_rfc7386_appendix_a(void **state)
{
	(void)state;
	check("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	check("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
	check("{\"a\":\"b\"}", "{\"a\":null}", "{}");
	check("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
	check("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	check("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
	check("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
	check("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
	check("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
	check("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
	/* Rows whose patch is not an object: refused (data stays an object). */
	refused("[\"c\",\"d\"]");
	refused("[\"c\"]");
	refused("null");
	refused("\"bar\"");
}

/* The RFC's introduction example. */
static void test_rfc7386_document_example(void **state)
{
	(void)state;
	check("{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
	      "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}",
	      "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
	      "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}",
	      "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
	      "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}");
}

static void test_nested_and_edge_cases(void **state)
{
	(void)state;
	check("{\"a\":{\"b\":{\"c\":1,\"d\":2},\"e\":[1,2]},\"f\":{\"g\":1}}",
	      "{\"a\":{\"b\":{\"c\":null,\"x\":{\"y\":null,\"z\":3}}},\"f\":null}",
	      "{\"a\":{\"b\":{\"d\":2,\"x\":{\"z\":3}},\"e\":[1,2]}}");
	/* Deleting what is not there; nulls inside arrays are data. */
	check("{\"a\":1}", "{\"zz\":null,\"arr\":[null,{\"k\":null}]}",
	      "{\"a\":1,\"arr\":[null,{\"k\":null}]}");
	check("{\"a\":1}", "{}", "{\"a\":1}");
	/* Untouched members keep their values, reals included. */
	check("{\"f\":0.1,\"i\":-7,\"s\":\"\\u00e9\"}", "{\"g\":2.5}",
	      "{\"f\":0.1,\"i\":-7,\"s\":\"\\u00e9\",\"g\":2.5}");
}

static uint32_t seed = 7;
static uint32_t rnd(uint32_t n)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) % n;
}

/* A random value; objects draw their keys from a small set so that target
 * and patch meet, escapes and non-ASCII included. */
static json_t *gen(int depth, int object)
{
	static const char *const keys[] = {"a", "b", "c", "d", "x\"y", "\xc3\xa9", "n\tl", ""};
	static const char *const strs[] = {"", "s", "q\"uote", "back\\slash", "\xe2\x82\xac",
					   "line\nbreak", "{not:json}", "[1,2]"};
	int kind = object ? 7 : (int)rnd(depth > 2 ? 6 : 8);
	json_t *v;
	switch (kind) {
	case 0: return json_null();
	case 1: return json_true();
	case 2: return json_false();
	case 3: return json_integer((json_int_t)rnd(2000) - 1000);
	case 4: return json_real((double)rnd(100000) / 64.0 - 700.0);
	case 5: return json_string(strs[rnd(sizeof(strs) / sizeof(strs[0]))]);
	case 6:
		v = json_array();
		for (uint32_t i = rnd(4); i > 0; i--)
			json_array_append_new(v, gen(depth + 1, 0));
		return v;
	default:
		v = json_object();
		for (uint32_t i = rnd(6); i > 0; i--)
			json_object_set_new(v, keys[rnd(sizeof(keys) / sizeof(keys[0]))],
					    gen(depth + 1, 0));
		return v;
	}
}

static void test_same_as_json_patch(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT json_patch(?1, ?2)", -1, &st, NULL),
			 SQLITE_OK);
	for (int i = 0; i < 20000; i++) {
		json_t *t = gen(0, 1), *p = gen(0, 1);
		/* Some targets with whitespace: the result is minified anyway. */
		char *tt = json_dumps(t, i % 5 ? JSON_COMPACT : JSON_INDENT(1));
		char *pt = json_dumps(p, JSON_COMPACT);
		struct sbuf out = {0};
		const char *want;
		sqlite3_bind_text(st, 1, tt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, pt, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		want = (const char *)sqlite3_column_text(st, 0);
		assert_int_equal(store_merge_patch(tt, strlen(tt), pt, strlen(pt), &out), 0);
		sbuf_addc(&out, '\0');
		if (strcmp(out.p, want) != 0)
			fail_msg("%s + %s: merge_patch %s, json_patch %s", tt, pt, out.p, want);
		sqlite3_reset(st);
		sbuf_free(&out);
		free(tt);
		free(pt);
		json_decref(t);
		json_decref(p);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Malformed text is an error, not a guess. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {"{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x",
					  "{\"a\":\"open}", "{\"a\":[1,2}", "[1", ""};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sbuf out = {0};
		assert_int_equal(store_merge_patch("{\"x\":1}", 7, bad[i], strlen(bad[i]), &out), -1);
		sbuf_free(&out);
		out = (struct sbuf){0};
		assert_int_equal(store_merge_patch(bad[i], strlen(bad[i]), "{\"x\":1}", 7, &out), -1);
		sbuf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7386_appendix_a),
		cmocka_unit_test(test_rfc7386_document_example),
		cmocka_unit_test(test_nested_and_edge_cases),
		cmocka_unit_test(test_same_as_json_patch),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
