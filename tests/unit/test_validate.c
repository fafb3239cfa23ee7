/* test_validate.c - the shape rules of every request. Each rejected request
 * must also name the field in its message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "validate.h"

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (!v)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return v;
}

/* Expects rc from fn(req) and, when it fails, `field` in the message. */
#define CHECK(want_rc, field, call_expr, text) do { \
	json_t *req = J(text); \
	char msg[VALIDATE_MSG] = ""; \
	int rc_ = (call_expr); \
	json_decref(req); \
	if (rc_ != (want_rc)) \
		fail_msg("%s: got %d, want %d (%s)", text, rc_, (want_rc), msg); \
	if ((want_rc) != 0 && !strstr(msg, field)) \
		fail_msg("%s: message \"%s\" does not name %s", text, msg, field); \
} while (0)

static void test_session_names(void **state)
{
	char n64[65], n65[66];
	(void)state;
	memset(n64, 'a', 64); n64[64] = 0;
	memset(n65, 'a', 65); n65[65] = 0;
	assert_true(validate_session_name("default"));
	assert_true(validate_session_name("Scene_01.v2-final"));
	assert_true(validate_session_name("9"));
	assert_true(validate_session_name("a.b"));
	assert_true(validate_session_name(n64));
	assert_false(validate_session_name(n65));
	assert_false(validate_session_name(""));
	assert_false(validate_session_name("."));
	assert_false(validate_session_name(".."));
	assert_false(validate_session_name("scene."));
	assert_false(validate_session_name(".hidden"));
	assert_false(validate_session_name("-x"));
	assert_false(validate_session_name("_x"));
	assert_false(validate_session_name("a/b"));
	assert_false(validate_session_name("a b"));
	assert_false(validate_session_name("caf\xc3\xa9"));
}

static void test_uuids_and_users(void **state)
{
	char u64[65], u65[66];
	(void)state;
	memset(u64, 'f', 64); u64[64] = 0;
	memset(u65, 'f', 65); u65[65] = 0;
	assert_true(validate_uuid("0b7e3a52-9a1b-4c5d-8e6f-123456789abc"));
	assert_true(validate_uuid("OB:Cube.001_x-y"));
	assert_true(validate_uuid(u64));
	assert_false(validate_uuid(u65));
	assert_false(validate_uuid(""));
	assert_false(validate_uuid("a b"));
	assert_false(validate_uuid("a/b"));
	assert_false(validate_uuid("x\"y"));
	assert_false(validate_uuid("caf\xc3\xa9"));

	assert_true(validate_user_name("alice"));
	assert_true(validate_user_name("Zo\xc3\xab Smith (laptop)"));
	assert_true(validate_user_name(u64));
	assert_false(validate_user_name(u65));
	assert_false(validate_user_name(""));
	assert_false(validate_user_name("a\nb"));
	assert_false(validate_user_name("a\tb"));
	assert_false(validate_user_name("\x1b[31mred"));
	assert_false(validate_user_name("del\x7f"));
}

static void test_ids(void **state)
{
	char s64[70], s65[70];
	json_t *v;
	(void)state;
	memset(s64, 'i', 64); s64[64] = 0;
	memset(s65, 'i', 65); s65[65] = 0;
	assert_true(validate_id(NULL)); /* absent */
	v = json_integer(7); assert_true(validate_id(v)); json_decref(v);
	v = json_integer(-3); assert_true(validate_id(v)); json_decref(v);
	v = json_string(""); assert_true(validate_id(v)); json_decref(v);
	v = json_string(s64); assert_true(validate_id(v)); json_decref(v);
	v = json_string(s65); assert_false(validate_id(v)); json_decref(v);
	v = json_real(1.5); assert_false(validate_id(v)); json_decref(v);
	v = json_real(2.0); assert_false(validate_id(v)); json_decref(v);
	v = json_object(); assert_false(validate_id(v)); json_decref(v);
	v = json_array(); assert_false(validate_id(v)); json_decref(v);
	v = json_true(); assert_false(validate_id(v)); json_decref(v);
	v = json_null(); assert_false(validate_id(v)); json_decref(v); /* null is not absent */
}

static void test_hello(void **state)
{
	struct hello_req h;
	json_t *req;
	char msg[VALIDATE_MSG];
	(void)state;
	req = J("{\"type\":\"hello\",\"user\":\"alice\",\"password\":\"p\",\"admin_password\":\"a\","
		"\"epoch\":\"abc\",\"since\":12,\"client\":\"addon/1\",\"color\":\"#ff8800\"}");
	assert_int_equal(validate_hello(req, &h, msg), 0);
	assert_string_equal(h.user, "alice");
	assert_string_equal(h.password, "p");
	assert_string_equal(h.admin_password, "a");
	assert_string_equal(h.epoch, "abc");
	assert_string_equal(h.client, "addon/1");
	assert_string_equal(h.color, "#ff8800");
	assert_int_equal(h.since, 12);
	assert_true(h.has_since);
	json_decref(req);
	req = J("{\"user\":\"bob\",\"since\":null}");
	assert_int_equal(validate_hello(req, &h, msg), 0);
	assert_false(h.has_since);
	assert_null(h.password);
	json_decref(req);

	CHECK(-1, "user", validate_hello(req, &h, msg), "{}");
	CHECK(-1, "user", validate_hello(req, &h, msg), "{\"user\":\"\"}");
	CHECK(-1, "user", validate_hello(req, &h, msg), "{\"user\":42}");
	CHECK(-1, "user", validate_hello(req, &h, msg), "{\"user\":\"a\\u0007b\"}");
	CHECK(-1, "user", validate_hello(req, &h, msg), "{\"user\":\"a\\u0000b\"}");
	CHECK(-1, "user", validate_hello(req, &h, msg),
	      "{\"user\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}");
	CHECK(-1, "password", validate_hello(req, &h, msg), "{\"user\":\"a\",\"password\":1}");
	CHECK(-1, "admin_password", validate_hello(req, &h, msg),
	      "{\"user\":\"a\",\"admin_password\":true}");
	CHECK(-1, "since", validate_hello(req, &h, msg), "{\"user\":\"a\",\"since\":-1}");
	CHECK(-1, "since", validate_hello(req, &h, msg), "{\"user\":\"a\",\"since\":\"5\"}");
	CHECK(-1, "epoch", validate_hello(req, &h, msg), "{\"user\":\"a\",\"epoch\":7}");
	CHECK(-1, "color", validate_hello(req, &h, msg),
	      "{\"user\":\"a\",\"color\":\"#0123456789abcdef0123456789abcdef0\"}");
	CHECK(-1, "client", validate_hello(req, &h, msg), "{\"user\":\"a\",\"client\":[]}");
}

static void test_node_create(void **state)
{
	struct node_create_req n;
	json_t *req;
	char msg[VALIDATE_MSG];
	(void)state;
	req = J("{\"kind\":\"Object\",\"data\":{\"x\":1},\"deps\":[\"b\",\"a\"],\"lock\":true}");
	assert_int_equal(validate_node_create(req, &n, msg), 0);
	assert_null(n.uuid);
	assert_string_equal(n.kind, "Object");
	assert_int_equal(json_array_size(n.deps), 2);
	assert_true(n.lock);
	json_decref(req);
	req = J("{\"uuid\":\"u1\",\"kind\":\"K\",\"data\":{},\"deps\":null,\"lock\":null}");
	assert_int_equal(validate_node_create(req, &n, msg), 0);
	assert_string_equal(n.uuid, "u1");
	assert_null(n.deps);
	assert_false(n.lock);
	json_decref(req);

	CHECK(-1, "kind", validate_node_create(req, &n, msg), "{\"data\":{}}");
	CHECK(-1, "kind", validate_node_create(req, &n, msg), "{\"kind\":\"\",\"data\":{}}");
	CHECK(-1, "kind", validate_node_create(req, &n, msg), "{\"kind\":5,\"data\":{}}");
	CHECK(-1, "data", validate_node_create(req, &n, msg), "{\"kind\":\"K\"}");
	CHECK(-1, "data", validate_node_create(req, &n, msg), "{\"kind\":\"K\",\"data\":[1]}");
	CHECK(-1, "uuid", validate_node_create(req, &n, msg),
	      "{\"uuid\":\"has space\",\"kind\":\"K\",\"data\":{}}");
	CHECK(-1, "uuid", validate_node_create(req, &n, msg), "{\"uuid\":3,\"kind\":\"K\",\"data\":{}}");
	CHECK(-1, "deps", validate_node_create(req, &n, msg), "{\"kind\":\"K\",\"data\":{},\"deps\":\"a\"}");
	CHECK(-1, "deps[1]", validate_node_create(req, &n, msg),
	      "{\"kind\":\"K\",\"data\":{},\"deps\":[\"ok\",\"not ok\"]}");
	CHECK(-1, "deps[0]", validate_node_create(req, &n, msg), "{\"kind\":\"K\",\"data\":{},\"deps\":[1]}");
	CHECK(-1, "lock", validate_node_create(req, &n, msg), "{\"kind\":\"K\",\"data\":{},\"lock\":1}");
}

static void test_node_deps_limit(void **state)
{
	struct node_create_req n;
	char msg[VALIDATE_MSG];
	json_t *req = J("{\"kind\":\"K\",\"data\":{}}"), *deps = json_array();
	(void)state;
	for (int i = 0; i < NODE_MAX_DEPS; i++)
		json_array_append_new(deps, json_string("d"));
	json_object_set(req, "deps", deps);
	assert_int_equal(validate_node_create(req, &n, msg), 0);
	json_array_append_new(deps, json_string("d"));
	assert_int_equal(validate_node_create(req, &n, msg), -1);
	assert_non_null(strstr(msg, "deps"));
	json_decref(deps);
	json_decref(req);
}

static void test_node_update(void **state)
{
	struct node_update_req u;
	json_t *req;
	char msg[VALIDATE_MSG];
	(void)state;
	req = J("{\"uuid\":\"u\",\"patch\":{\"a\":null},\"version\":3}");
	assert_int_equal(validate_node_update(req, &u, msg), 0);
	assert_true(u.has_version);
	assert_int_equal(u.version, 3);
	assert_non_null(u.patch);
	assert_null(u.data);
	json_decref(req);
	req = J("{\"uuid\":\"u\",\"kind\":\"Mesh\",\"version\":null}");
	assert_int_equal(validate_node_update(req, &u, msg), 0);
	assert_false(u.has_version);
	assert_string_equal(u.kind, "Mesh");
	json_decref(req);
	CHECK(0, "", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"deps\":[]}");
	CHECK(0, "", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"data\":{}}");

	CHECK(-1, "uuid", validate_node_update(req, &u, msg), "{\"data\":{}}");
	CHECK(-1, "data, patch, deps, kind", validate_node_update(req, &u, msg), "{\"uuid\":\"u\"}");
	CHECK(-1, "data", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"data\":1}");
	CHECK(-1, "patch", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"patch\":null}");
	CHECK(-1, "patch", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"patch\":[]}");
	CHECK(-1, "version", validate_node_update(req, &u, msg),
	      "{\"uuid\":\"u\",\"data\":{},\"version\":\"2\"}");
	CHECK(-1, "version", validate_node_update(req, &u, msg),
	      "{\"uuid\":\"u\",\"data\":{},\"version\":1.5}");
	CHECK(-1, "kind", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"kind\":\"\"}");
	CHECK(-1, "deps", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"deps\":{}}");
	/* The members are found in one pass: the checks keep their order
	 * whatever the order of the members, and a key that only starts like
	 * a field's is not that field. */
	CHECK(-1, "uuid", validate_node_update(req, &u, msg),
	      "{\"data\":1,\"kind\":\"\",\"uuid\":7}");
	CHECK(-1, "kind", validate_node_update(req, &u, msg),
	      "{\"data\":1,\"kind\":\"\",\"uuid\":\"u\"}");
	CHECK(-1, "data, patch", validate_node_update(req, &u, msg),
	      "{\"uuid\":\"u\",\"datax\":{},\"dat\":{},\"versions\":1}");
	req = J("{\"version\":4,\"data\":{\"a\":1},\"id\":9,\"uuid\":\"n:1\",\"type\":\"x\"}");
	assert_int_equal(validate_node_update(req, &u, msg), 0);
	assert_string_equal(u.uuid, "n:1");
	assert_ptr_equal(u.data, json_object_get(req, "data"));
	assert_true(u.has_version);
	assert_int_equal(u.version, 4);
	json_decref(req);
}

static void test_node_ref(void **state)
{
	static const char *const types[] = {"node.delete", "node.lock", "node.unlock", "node.get"};
	struct node_ref_req r;
	json_t *req;
	char msg[VALIDATE_MSG];
	(void)state;
	for (int i = 0; i < 4; i++) {
		const char *t = types[i];
		req = J("{\"uuid\":\"abc\",\"force\":true}");
		assert_int_equal(validate_node_ref(t, req, &r, msg), 0);
		assert_string_equal(r.uuid, "abc");
		assert_true(r.force);
		json_decref(req);
		CHECK(-1, t, validate_node_ref(t, req, &r, msg), "{}");
		CHECK(-1, "uuid", validate_node_ref(t, req, &r, msg), "{\"uuid\":\"\"}");
		CHECK(-1, "uuid", validate_node_ref(t, req, &r, msg), "{\"uuid\":null}");
		CHECK(-1, "force", validate_node_ref(t, req, &r, msg), "{\"uuid\":\"a\",\"force\":\"yes\"}");
	}
}

static void test_tasks(void **state)
{
	struct task_req t;
	json_t *req;
	char msg[VALIDATE_MSG];
	(void)state;
	req = J("{\"title\":\"T\",\"status\":\"doing\",\"assignee\":null,\"node\":\"n1\"}");
	assert_int_equal(validate_task_create(req, &t, msg), 0);
	assert_int_equal(t.fields, TF_TITLE | TF_STATUS | TF_ASSIGNEE | TF_NODE);
	assert_null(t.assignee);
	assert_string_equal(t.node, "n1");
	json_decref(req);
	CHECK(-1, "title", validate_task_create(req, &t, msg), "{}");
	CHECK(-1, "title", validate_task_create(req, &t, msg), "{\"title\":\"\"}");
	CHECK(-1, "status", validate_task_create(req, &t, msg), "{\"title\":\"t\",\"status\":\"open\"}");
	CHECK(-1, "status", validate_task_create(req, &t, msg), "{\"title\":\"t\",\"status\":null}");
	CHECK(-1, "assignee", validate_task_create(req, &t, msg), "{\"title\":\"t\",\"assignee\":\"\"}");
	CHECK(-1, "node", validate_task_create(req, &t, msg), "{\"title\":\"t\",\"node\":\"a b\"}");
	CHECK(-1, "description", validate_task_create(req, &t, msg),
	      "{\"title\":\"t\",\"description\":5}");
	/* Length limits: title 200, description 10000. */
	{
		char big[10100];
		json_t *r = J("{}");
		memset(big, 'x', 10001); big[10001] = 0;
		json_object_set_new(r, "title", json_stringn(big, 200));
		json_object_set_new(r, "description", json_stringn(big, 10000));
		assert_int_equal(validate_task_create(r, &t, msg), 0);
		json_object_set_new(r, "description", json_string(big));
		assert_int_equal(validate_task_create(r, &t, msg), -1);
		assert_non_null(strstr(msg, "description"));
		json_object_set_new(r, "description", json_string("d"));
		json_object_set_new(r, "title", json_stringn(big, 201));
		assert_int_equal(validate_task_create(r, &t, msg), -1);
		assert_non_null(strstr(msg, "title"));
		json_decref(r);
	}

	req = J("{\"task\":3,\"description\":null}");
	assert_int_equal(validate_task_update(req, &t, msg), 0);
	assert_int_equal(t.id, 3);
	assert_int_equal(t.fields, TF_DESCRIPTION);
	assert_string_equal(t.description, "");
	json_decref(req);
	CHECK(-1, "task", validate_task_update(req, &t, msg), "{\"title\":\"t\"}");
	CHECK(-1, "task", validate_task_update(req, &t, msg), "{\"task\":0,\"title\":\"t\"}");
	CHECK(-1, "task", validate_task_update(req, &t, msg), "{\"task\":\"3\",\"title\":\"t\"}");
	CHECK(-1, "at least one", validate_task_update(req, &t, msg), "{\"task\":3}");
	CHECK(0, "", validate_task_delete(req, &t, msg), "{\"task\":3}");
	CHECK(-1, "task", validate_task_delete(req, &t, msg), "{\"task\":-1}");
	CHECK(-1, "task", validate_task_delete(req, &t, msg), "{}");
}

static void test_chat(void **state)
{
	const char *text;
	int64_t before, limit;
	json_t *r;
	char msg[VALIDATE_MSG], big[4002];
	(void)state;
	CHECK(0, "", validate_chat_send(req, &text, msg), "{\"text\":\"hi\"}");
	CHECK(-1, "text", validate_chat_send(req, &text, msg), "{}");
	CHECK(-1, "text", validate_chat_send(req, &text, msg), "{\"text\":\"\"}");
	CHECK(-1, "text", validate_chat_send(req, &text, msg), "{\"text\":1}");
	memset(big, 'x', 4001); big[4001] = 0;
	r = json_pack("{ss#}", "text", big, (size_t)4000);
	assert_int_equal(validate_chat_send(r, &text, msg), 0);
	json_object_set_new(r, "text", json_string(big));
	assert_int_equal(validate_chat_send(r, &text, msg), -1);
	json_decref(r);

	r = J("{}");
	assert_int_equal(validate_chat_history(r, &before, &limit, msg), 0);
	assert_int_equal(before, 0);
	assert_int_equal(limit, 100);
	json_decref(r);
	r = J("{\"before\":9,\"limit\":500}");
	assert_int_equal(validate_chat_history(r, &before, &limit, msg), 0);
	assert_int_equal(before, 9);
	assert_int_equal(limit, 500);
	json_decref(r);
	CHECK(-1, "limit", validate_chat_history(req, &before, &limit, msg), "{\"limit\":501}");
	CHECK(-1, "limit", validate_chat_history(req, &before, &limit, msg), "{\"limit\":0}");
	CHECK(-1, "before", validate_chat_history(req, &before, &limit, msg), "{\"before\":0}");
	CHECK(-1, "before", validate_chat_history(req, &before, &limit, msg), "{\"before\":\"x\"}");
}

static void test_presence(void **state)
{
	json_t *data, *r;
	char msg[VALIDATE_MSG];
	char *big = malloc(PRESENCE_MAX_BYTES + 1);
	(void)state;
	CHECK(0, "", validate_presence(req, &data, msg), "{\"data\":{\"cursor\":[1,2,3]}}");
	CHECK(-1, "data", validate_presence(req, &data, msg), "{}");
	CHECK(-1, "data", validate_presence(req, &data, msg), "{\"data\":\"x\"}");
	/* {"s":"..."} is 8 bytes plus the string: exactly the limit passes. */
	memset(big, 'x', PRESENCE_MAX_BYTES);
	r = json_object();
	json_object_set_new(r, "data", json_pack("{ss#}", "s", big, (size_t)(PRESENCE_MAX_BYTES - 8)));
	assert_int_equal(validate_presence(r, &data, msg), 0);
	json_object_set_new(r, "data", json_pack("{ss#}", "s", big, (size_t)(PRESENCE_MAX_BYTES - 7)));
	assert_int_equal(validate_presence(r, &data, msg), -2);
	assert_non_null(strstr(msg, "presence"));
	json_decref(r);
	free(big);
}

static void test_admin_user(void **state)
{
	const char *user;
	(void)state;
	CHECK(0, "", validate_admin_user("admin.kick", req, &user, msg), "{\"user\":\"bob\"}");
	CHECK(-1, "admin.kick: user", validate_admin_user("admin.kick", req, &user, msg), "{}");
	CHECK(-1, "user", validate_admin_user("admin.kick", req, &user, msg), "{\"user\":\"\"}");
	CHECK(-1, "user", validate_admin_user("admin.kick", req, &user, msg), "{\"user\":[\"bob\"]}");
	CHECK(-1, "user", validate_admin_user("admin.kick", req, &user, msg), "{\"user\":\"b\\no\"}");
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_blobs(void **state)
{
	struct blob_put_req p;
	struct node_create_req n;
	struct node_update_req u;
	const char *hash;
	json_t *hashes;
	(void)state;
	assert_true(validate_blob_hash(H64));
	assert_false(validate_blob_hash("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_false(validate_blob_hash(H64 "0"));
	assert_false(validate_blob_hash("abc"));
	assert_false(validate_blob_hash(""));
	assert_false(validate_blob_hash(NULL));

	CHECK(0, "", validate_blob_put(req, &p, msg), "{\"hash\":\"" H64 "\",\"size\":0}");
	CHECK(-1, "hash", validate_blob_put(req, &p, msg), "{\"size\":1}");
	CHECK(-1, "hash", validate_blob_put(req, &p, msg), "{\"hash\":7,\"size\":1}");
	CHECK(-1, "size", validate_blob_put(req, &p, msg), "{\"hash\":\"" H64 "\"}");
	CHECK(-1, "size", validate_blob_put(req, &p, msg), "{\"hash\":\"" H64 "\",\"size\":-1}");
	CHECK(-1, "size", validate_blob_put(req, &p, msg), "{\"hash\":\"" H64 "\",\"size\":1.5}");
	CHECK(-1, "size", validate_blob_put(req, &p, msg), "{\"hash\":\"" H64 "\",\"size\":\"1\"}");
	{
		json_t *r = J("{\"hash\":\"" H64 "\",\"size\":536870912}");
		char msg[VALIDATE_MSG];
		assert_int_equal(validate_blob_put(r, &p, msg), 0);
		assert_string_equal(p.hash, H64);
		assert_int_equal(p.size, 536870912);
		json_decref(r);
	}
	CHECK(0, "", validate_blob_hash_field("blob.get", req, &hash, msg), "{\"hash\":\"" H64 "\"}");
	CHECK(-1, "blob.end: hash", validate_blob_hash_field("blob.end", req, &hash, msg), "{}");
	CHECK(0, "", validate_blob_has(req, &hashes, msg), "{\"hashes\":[]}");
	CHECK(0, "", validate_blob_has(req, &hashes, msg), "{\"hashes\":[\"" H64 "\"]}");
	CHECK(-1, "hashes", validate_blob_has(req, &hashes, msg), "{}");
	CHECK(-1, "hashes[1]", validate_blob_has(req, &hashes, msg),
	      "{\"hashes\":[\"" H64 "\",\"x\"]}");

	/* The nodes' blobs field: optional, at most NODE_MAX_BLOBS hashes. */
	CHECK(0, "", validate_node_create(req, &n, msg),
	      "{\"kind\":\"Image\",\"data\":{},\"blobs\":[\"" H64 "\"]}");
	CHECK(0, "", validate_node_create(req, &n, msg), "{\"kind\":\"Image\",\"data\":{},\"blobs\":null}");
	CHECK(-1, "blobs[0]", validate_node_create(req, &n, msg),
	      "{\"kind\":\"Image\",\"data\":{},\"blobs\":[\"nope\"]}");
	CHECK(-1, "blobs", validate_node_create(req, &n, msg),
	      "{\"kind\":\"Image\",\"data\":{},\"blobs\":\"" H64 "\"}");
	CHECK(0, "", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"blobs\":[]}");
	CHECK(-1, "blobs", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"blobs\":null}");
	CHECK(-1, "blobs[0]", validate_node_update(req, &u, msg), "{\"uuid\":\"u\",\"blobs\":[1]}");
	{
		json_t *r = J("{\"kind\":\"K\",\"data\":{}}"), *a = json_array();
		char msg[VALIDATE_MSG];
		for (int i = 0; i < NODE_MAX_BLOBS; i++)
			json_array_append_new(a, json_string(H64));
		json_object_set(r, "blobs", a);
		assert_int_equal(validate_node_create(r, &n, msg), 0);
		json_array_append_new(a, json_string(H64));
		assert_int_equal(validate_node_create(r, &n, msg), -1);
		assert_non_null(strstr(msg, "blobs"));
		json_decref(a);
		json_decref(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_names), cmocka_unit_test(test_uuids_and_users),
		cmocka_unit_test(test_ids), cmocka_unit_test(test_hello),
		cmocka_unit_test(test_node_create), cmocka_unit_test(test_node_deps_limit),
		cmocka_unit_test(test_node_update), cmocka_unit_test(test_node_ref),
		cmocka_unit_test(test_tasks), cmocka_unit_test(test_chat),
		cmocka_unit_test(test_presence), cmocka_unit_test(test_admin_user),
		cmocka_unit_test(test_blobs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
