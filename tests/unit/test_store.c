/* test_store.c - the rows of one session database, on ":memory:". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

static int setup(void **state)
{
	struct store *s;
	char err[256];
	if (store_open(":memory:", 0, &s, err, sizeof(err)) != SQLITE_OK)
		return -1;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	store_close(*state);
	return 0;
}

static struct node_row node(const char *uuid, const char *data, const char *owner, int64_t seq)
{
	struct node_row n = {0};
	n.uuid = (char *)uuid;
	n.kind = (char *)"Object";
	n.data = (char *)data;
	n.owner = (char *)owner;
	n.version = 1;
	n.seq = seq;
	n.updated_by = (char *)"alice";
	n.updated_at = 1736695945.125;
	return n;
}

static void test_node_insert_get(void **state)
{
	struct store *s = *state;
	struct node_row in = node("n1", "{\"a\":1}", NULL, 1), out;
	assert_int_equal(store_node_insert(s, &in), SQLITE_OK);
	assert_int_equal(store_node_get(s, "n1", &out), SQLITE_OK);
	assert_string_equal(out.uuid, "n1");
	assert_string_equal(out.kind, "Object");
	assert_string_equal(out.data, "{\"a\":1}");
	assert_null(out.owner);
	assert_int_equal(out.version, 1);
	assert_int_equal(out.seq, 1);
	assert_string_equal(out.updated_by, "alice");
	assert_true(out.updated_at == 1736695945.125);
	assert_int_equal(out.deleted, 0);
	node_row_free(&out);
	/* A live uuid cannot be inserted twice; the row is unchanged. */
	in.data = (char *)"{\"b\":2}";
	assert_int_equal(store_node_insert(s, &in), SQLITE_CONSTRAINT);
	assert_int_equal(store_node_get(s, "n1", &out), SQLITE_OK);
	assert_string_equal(out.data, "{\"a\":1}");
	node_row_free(&out);
	assert_int_equal(store_node_get(s, "missing", &out), SQLITE_NOTFOUND);
	node_row_free(&out);
}

static void test_node_update(void **state)
{
	struct store *s = *state;
	struct node_row n = node("n1", "{}", NULL, 1), out;
	assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
	n.kind = (char *)"Mesh";
	n.data = (char *)"{\"v\":2}";
	n.owner = (char *)"bob";
	n.version = 2;
	n.seq = 5;
	n.updated_by = (char *)"bob";
	assert_int_equal(store_node_update(s, &n, NULL), SQLITE_OK);
	assert_int_equal(store_node_get(s, "n1", &out), SQLITE_OK);
	assert_string_equal(out.kind, "Mesh");
	assert_string_equal(out.data, "{\"v\":2}");
	assert_string_equal(out.owner, "bob");
	assert_int_equal(out.version, 2);
	assert_int_equal(out.seq, 5);
	assert_string_equal(out.updated_by, "bob");
	node_row_free(&out);
	n.uuid = (char *)"nope";
	assert_int_equal(store_node_update(s, &n, NULL), SQLITE_NOTFOUND);
}

static void test_node_tombstone_and_revive(void **state)
{
	struct store *s = *state;
	struct node_row n = node("n1", "{\"a\":1}", "alice", 1), out;
	json_t *deps = json_pack("[ss]", "x", "y"), *got;
	assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
	assert_int_equal(store_node_set_deps(s, "n1", deps), SQLITE_OK);
	assert_int_equal(store_node_tombstone(s, "n1", 7, "bob", 2.5), SQLITE_OK);
	assert_int_equal(store_node_get(s, "n1", &out), SQLITE_OK);
	assert_int_equal(out.deleted, 1);
	assert_null(out.data);
	assert_null(out.owner);
	assert_int_equal(out.seq, 7);
	assert_string_equal(out.updated_by, "bob");
	node_row_free(&out);
	assert_int_equal(store_node_get_deps(s, "n1", &got), SQLITE_OK);
	assert_int_equal(json_array_size(got), 0);
	json_decref(got);
	/* A tombstone is not live: it cannot be deleted or updated again. */
	assert_int_equal(store_node_tombstone(s, "n1", 8, "bob", 3), SQLITE_NOTFOUND);
	assert_int_equal(store_node_update(s, &n, NULL), SQLITE_NOTFOUND);
	assert_int_equal(store_node_tombstone(s, "never", 8, "bob", 3), SQLITE_NOTFOUND);
	/* Inserting the uuid again revives it. */
	n = node("n1", "{\"new\":true}", NULL, 9);
	assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
	assert_int_equal(store_node_get(s, "n1", &out), SQLITE_OK);
	assert_int_equal(out.deleted, 0);
	assert_string_equal(out.data, "{\"new\":true}");
	assert_int_equal(out.seq, 9);
	assert_int_equal(out.version, 1);
	node_row_free(&out);
	json_decref(deps);
}

static void test_node_deps_order(void **state)
{
	struct store *s = *state;
	struct node_row n = node("n1", "{}", NULL, 1);
	json_t *deps = json_pack("[ssss]", "zeta", "alpha", "mid", "alpha2"), *got;
	assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
	assert_int_equal(store_node_set_deps(s, "n1", deps), SQLITE_OK);
	assert_int_equal(store_node_get_deps(s, "n1", &got), SQLITE_OK);
	assert_true(json_equal(got, deps));
	json_decref(got);
	json_decref(deps);
	/* Setting deps replaces them. */
	deps = json_pack("[s]", "only");
	assert_int_equal(store_node_set_deps(s, "n1", deps), SQLITE_OK);
	assert_int_equal(store_node_get_deps(s, "n1", &got), SQLITE_OK);
	assert_true(json_equal(got, deps));
	json_decref(got);
	json_decref(deps);
	assert_int_equal(store_node_get_deps(s, "unknown", &got), SQLITE_OK);
	assert_int_equal(json_array_size(got), 0);
	json_decref(got);
}

static void test_nodes_owned_by(void **state)
{
	struct store *s = *state;
	struct node_row a = node("b-node", "{}", "alice", 1), b = node("a-node", "{}", "alice", 2);
	struct node_row c = node("c-node", "{}", "bob", 3), d = node("d-node", "{}", "alice", 4);
	json_t *got;
	assert_int_equal(store_node_insert(s, &a), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &b), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &c), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &d), SQLITE_OK);
	assert_int_equal(store_node_tombstone(s, "d-node", 5, "alice", 1), SQLITE_OK);
	assert_int_equal(store_nodes_owned_by(s, "alice", &got), SQLITE_OK);
	assert_int_equal(json_array_size(got), 2);
	assert_string_equal(json_string_value(json_array_get(got, 0)), "a-node");
	assert_string_equal(json_string_value(json_array_get(got, 1)), "b-node");
	json_decref(got);
	assert_int_equal(store_nodes_owned_by(s, "carol", &got), SQLITE_OK);
	assert_int_equal(json_array_size(got), 0);
	json_decref(got);
}

static void test_tasks(void **state)
{
	struct store *s = *state;
	struct task_row t = {0}, u = {0}, out;
	t.title = (char *)"Model the chair";
	t.status = (char *)"todo";
	t.created_by = (char *)"alice";
	t.created_at = 10;
	t.updated_at = 10;
	t.seq = 1;
	assert_int_equal(store_task_insert(s, &t), SQLITE_OK);
	assert_int_equal(t.id, 1);
	u = t;
	u.title = (char *)"Second";
	u.assignee = (char *)"bob";
	u.node = (char *)"n1";
	u.description = (char *)"with a description";
	assert_int_equal(store_task_insert(s, &u), SQLITE_OK);
	assert_int_equal(u.id, 2);

	assert_int_equal(store_task_get(s, 1, &out), SQLITE_OK);
	assert_string_equal(out.title, "Model the chair");
	assert_string_equal(out.description, "");
	assert_string_equal(out.status, "todo");
	assert_null(out.assignee);
	assert_null(out.node);
	assert_string_equal(out.created_by, "alice");
	assert_int_equal(out.seq, 1);
	assert_int_equal(out.deleted, 0);
	task_row_free(&out);

	t.status = (char *)"doing";
	t.assignee = (char *)"carol";
	t.seq = 3;
	t.updated_at = 20;
	assert_int_equal(store_task_update(s, &t), SQLITE_OK);
	assert_int_equal(store_task_get(s, 1, &out), SQLITE_OK);
	assert_string_equal(out.status, "doing");
	assert_string_equal(out.assignee, "carol");
	assert_int_equal(out.seq, 3);
	assert_true(out.created_at == 10 && out.updated_at == 20);
	task_row_free(&out);

	/* The CHECK on status holds. */
	t.status = (char *)"later";
	assert_int_equal(store_task_update(s, &t), SQLITE_CONSTRAINT);

	assert_int_equal(store_task_tombstone(s, 1, 4, 30), SQLITE_OK);
	assert_int_equal(store_task_get(s, 1, &out), SQLITE_OK);
	assert_int_equal(out.deleted, 1);
	assert_int_equal(out.seq, 4);
	task_row_free(&out);
	t.status = (char *)"done";
	assert_int_equal(store_task_update(s, &t), SQLITE_NOTFOUND);
	assert_int_equal(store_task_tombstone(s, 1, 5, 31), SQLITE_NOTFOUND);
	assert_int_equal(store_task_get(s, 99, &out), SQLITE_NOTFOUND);
	task_row_free(&out);
}

static void check_ids(json_t *msgs, int first, int count)
{
	assert_int_equal(json_array_size(msgs), (size_t)count);
	for (int i = 0; i < count; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(msgs, (size_t)i),
								    "id")), first + i);
}

static void test_chat(void **state)
{
	struct store *s = *state;
	json_t *h, *m;
	int64_t id;
	for (int i = 1; i <= 10; i++) {
		char text[32];
		snprintf(text, sizeof(text), "message %d", i);
		assert_int_equal(store_chat_insert(s, i % 2 ? "alice" : "bob", text, 100.0 + i,
						   20 + i, &id), SQLITE_OK);
		assert_int_equal(id, i);
	}
	assert_int_equal(store_chat_history(s, 0, 3, &h), SQLITE_OK); /* newest 3, oldest first */
	check_ids(h, 8, 3);
	m = json_array_get(h, 0);
	assert_string_equal(json_string_value(json_object_get(m, "user")), "bob");
	assert_string_equal(json_string_value(json_object_get(m, "text")), "message 8");
	assert_int_equal(json_integer_value(json_object_get(m, "seq")), 28);
	assert_true(json_real_value(json_object_get(m, "ts")) == 108.0);
	json_decref(h);
	assert_int_equal(store_chat_history(s, 5, 2, &h), SQLITE_OK);
	check_ids(h, 3, 2);
	json_decref(h);
	assert_int_equal(store_chat_history(s, 3, 100, &h), SQLITE_OK);
	check_ids(h, 1, 2);
	json_decref(h);
	assert_int_equal(store_chat_history(s, 1, 100, &h), SQLITE_OK);
	check_ids(h, 1, 0);
	json_decref(h);
	assert_int_equal(store_chat_history(s, 0, 500, &h), SQLITE_OK);
	check_ids(h, 1, 10);
	json_decref(h);

	assert_int_equal(store_chat_trim(s, 4), SQLITE_OK);
	assert_int_equal(store_chat_history(s, 0, 100, &h), SQLITE_OK);
	check_ids(h, 7, 4);
	json_decref(h);
	/* Trimming to more than there is removes nothing. */
	assert_int_equal(store_chat_trim(s, 50), SQLITE_OK);
	assert_int_equal(store_chat_history(s, 0, 100, &h), SQLITE_OK);
	check_ids(h, 7, 4);
	json_decref(h);
}

static void test_users(void **state)
{
	struct store *s = *state;
	json_t *users, *u;
	assert_int_equal(store_user_touch(s, "bob", "user", "#00ff00", 100), SQLITE_OK);
	assert_int_equal(store_user_touch(s, "alice", "admin", NULL, 101), SQLITE_OK);
	/* A later touch without a color keeps the color; first_seen stays. */
	assert_int_equal(store_user_touch(s, "bob", "admin", NULL, 200), SQLITE_OK);
	assert_int_equal(store_user_set_metadata(s, "alice", "{\"cursor\":[1,2]}", 300), SQLITE_OK);
	assert_int_equal(store_users(s, &users), SQLITE_OK);
	assert_int_equal(json_array_size(users), 2);
	u = json_array_get(users, 0);
	assert_string_equal(json_string_value(json_object_get(u, "name")), "alice");
	assert_string_equal(json_string_value(json_object_get(u, "role")), "admin");
	assert_true(json_is_null(json_object_get(u, "color")));
	assert_int_equal(json_integer_value(json_array_get(
		json_object_get(json_object_get(u, "metadata"), "cursor"), 1)), 2);
	assert_true(json_real_value(json_object_get(u, "last_seen")) == 300);
	u = json_array_get(users, 1);
	assert_string_equal(json_string_value(json_object_get(u, "name")), "bob");
	assert_string_equal(json_string_value(json_object_get(u, "role")), "admin");
	assert_string_equal(json_string_value(json_object_get(u, "color")), "#00ff00");
	assert_true(json_is_object(json_object_get(u, "metadata")));
	assert_int_equal(json_object_size(json_object_get(u, "metadata")), 0);
	assert_true(json_real_value(json_object_get(u, "first_seen")) == 100);
	assert_true(json_real_value(json_object_get(u, "last_seen")) == 200);
	assert_null(json_object_get(u, "online"));
	json_decref(users);
}

static void test_meta(void **state)
{
	struct store *s = *state;
	int64_t v;
	char *t;
	assert_int_equal(store_meta_get_int(s, "nothing", &v), SQLITE_NOTFOUND);
	assert_int_equal(store_meta_get_text(s, "nothing", &t), SQLITE_NOTFOUND);
	assert_int_equal(store_meta_set_int(s, "k", 1LL << 40), SQLITE_OK);
	assert_int_equal(store_meta_get_int(s, "k", &v), SQLITE_OK);
	assert_int_equal(v, 1LL << 40);
	assert_int_equal(store_meta_set_int(s, "k", 5), SQLITE_OK);
	assert_int_equal(store_meta_get_int(s, "k", &v), SQLITE_OK);
	assert_int_equal(v, 5);
	assert_int_equal(store_meta_set_text(s, "name", "hello"), SQLITE_OK);
	assert_int_equal(store_meta_get_text(s, "name", &t), SQLITE_OK);
	assert_string_equal(t, "hello");
	free(t);
}

static void test_counts_and_purge(void **state)
{
	struct store *s = *state;
	struct store_counts c;
	struct node_row n;
	struct task_row t = {.title = (char *)"t", .status = (char *)"todo",
			     .created_by = (char *)"a", .seq = 1};
	int64_t id;
	for (int i = 0; i < 5; i++) {
		char uuid[8];
		snprintf(uuid, sizeof(uuid), "n%d", i);
		n = node(uuid, "{}", NULL, i + 1);
		assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
	}
	assert_int_equal(store_node_tombstone(s, "n0", 10, "a", 1), SQLITE_OK);
	assert_int_equal(store_node_tombstone(s, "n1", 20, "a", 1), SQLITE_OK);
	assert_int_equal(store_task_insert(s, &t), SQLITE_OK);
	assert_int_equal(store_task_insert(s, &t), SQLITE_OK);
	assert_int_equal(store_task_tombstone(s, 1, 11, 1), SQLITE_OK);
	assert_int_equal(store_chat_insert(s, "a", "x", 1, 12, &id), SQLITE_OK);
	assert_int_equal(store_user_touch(s, "a", "user", NULL, 1), SQLITE_OK);
	assert_int_equal(store_counts(s, &c), SQLITE_OK);
	assert_int_equal(c.nodes, 3);
	assert_int_equal(c.tasks, 1);
	assert_int_equal(c.chat, 1);
	assert_int_equal(c.users, 1);

	/* Tombstones up to seq 15 go; the later one and live rows stay. */
	assert_int_equal(store_purge_tombstones(s, 15), SQLITE_OK);
	assert_int_equal(store_node_get(s, "n0", &n), SQLITE_NOTFOUND);
	node_row_free(&n);
	assert_int_equal(store_node_get(s, "n1", &n), SQLITE_OK);
	assert_int_equal(n.deleted, 1);
	node_row_free(&n);
	assert_int_equal(store_task_get(s, 1, &t), SQLITE_NOTFOUND);
	task_row_free(&t);
	assert_int_equal(store_counts(s, &c), SQLITE_OK);
	assert_int_equal(c.nodes, 3);
	assert_int_equal(c.tasks, 1);

	assert_int_equal(store_clear_content(s), SQLITE_OK);
	assert_int_equal(store_counts(s, &c), SQLITE_OK);
	assert_int_equal(c.nodes + c.tasks + c.chat, 0);
	assert_int_equal(c.users, 1);
}

static void test_savepoint_undoes_one_request(void **state)
{
	struct store *s = *state;
	struct node_row a = node("a", "{}", NULL, 1), b = node("b", "{}", NULL, 2), out;
	assert_int_equal(store_in_transaction(s), 0);
	assert_int_equal(store_begin(s), SQLITE_OK);
	assert_int_equal(store_in_transaction(s), 1);
	assert_int_equal(store_savepoint(s), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &a), SQLITE_OK);
	assert_int_equal(store_release(s), SQLITE_OK);
	assert_int_equal(store_savepoint(s), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &b), SQLITE_OK);
	assert_int_equal(store_meta_set_int(s, "seq", 2), SQLITE_OK);
	store_rollback_to(s);
	/* Still in the batch; a later request works. */
	assert_int_equal(store_in_transaction(s), 1);
	assert_int_equal(store_savepoint(s), SQLITE_OK);
	assert_int_equal(store_meta_set_int(s, "seq", 1), SQLITE_OK);
	assert_int_equal(store_release(s), SQLITE_OK);
	assert_int_equal(store_commit(s), SQLITE_OK);
	assert_int_equal(store_in_transaction(s), 0);
	assert_int_equal(store_node_get(s, "a", &out), SQLITE_OK);
	node_row_free(&out);
	assert_int_equal(store_node_get(s, "b", &out), SQLITE_NOTFOUND);
	node_row_free(&out);
}

static void test_rollback(void **state)
{
	struct store *s = *state;
	struct node_row a = node("a", "{}", NULL, 1), out;
	int64_t seq;
	assert_int_equal(store_begin(s), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &a), SQLITE_OK);
	assert_int_equal(store_meta_set_int(s, "seq", 1), SQLITE_OK);
	store_rollback(s);
	assert_int_equal(store_in_transaction(s), 0);
	assert_int_equal(store_node_get(s, "a", &out), SQLITE_NOTFOUND);
	node_row_free(&out);
	assert_int_equal(store_meta_get_int(s, "seq", &seq), SQLITE_OK);
	assert_int_equal(seq, 0);
	/* A rollback with nothing open is harmless. */
	store_rollback(s);
	assert_int_equal(store_begin(s), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &a), SQLITE_OK);
	assert_int_equal(store_commit(s), SQLITE_OK);
	assert_int_equal(store_node_get(s, "a", &out), SQLITE_OK);
	node_row_free(&out);
}

/* ---- blobs ---- */

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* Reads the whole blob back in chunks of `chunk` bytes and compares. */
static void expect_blob(struct store *s, const char *hash, const unsigned char *want, size_t n,
			int chunk)
{
	struct store_blob_reader *r;
	unsigned char *buf = malloc((size_t)chunk);
	int64_t size = -1;
	assert_int_equal(store_blob_reader_open(NULL, s, hash, &r, &size), SQLITE_OK);
	assert_int_equal(size, (int64_t)n);
	for (size_t off = 0; off < n; off += (size_t)chunk) {
		int k = n - off < (size_t)chunk ? (int)(n - off) : chunk;
		assert_int_equal(store_blob_reader_read(r, buf, k, (int64_t)off), SQLITE_OK);
		assert_memory_equal(buf, want + off, (size_t)k);
	}
	/* Past the end is refused. */
	assert_int_equal(store_blob_reader_read(r, buf, 1, (int64_t)n), SQLITE_RANGE);
	store_blob_reader_close(r);
	free(buf);
}

static int64_t count_rows(struct store *s, const char *table)
{
	char sql[96];
	sqlite3_stmt *st;
	int64_t n = -1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

#define HA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HC "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static void test_blob_parts_commit_and_read(void **state)
{
	struct store *s = *state;
	size_t n = 3 * STORE_BLOB_CHUNK + 12345;
	unsigned char *data = malloc(n);
	int64_t size = 0, cnt, bytes;
	fill(data, n, 1);
	/* Parts of uneven sizes, as uploads deliver them. */
	assert_int_equal(store_blob_part_add(s, 7, data, STORE_BLOB_CHUNK), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 7, data + STORE_BLOB_CHUNK, 100), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 9, data, 5), SQLITE_OK); /* another upload */
	assert_int_equal(store_blob_part_add(s, 7, data + STORE_BLOB_CHUNK + 100,
					     n - STORE_BLOB_CHUNK - 100), SQLITE_OK);
	/* Not a blob before the commit. */
	assert_int_equal(store_blob_has(s, HA, NULL), SQLITE_NOTFOUND);
	assert_int_equal(store_blob_commit(s, 7, HA, (int64_t)n, "alice", 1000.5), SQLITE_OK);
	assert_int_equal(store_blob_has(s, HA, &size), SQLITE_OK);
	assert_int_equal(size, (int64_t)n);
	expect_blob(s, HA, data, n, STORE_BLOB_CHUNK);
	expect_blob(s, HA, data, n, 4000); /* chunks across page boundaries */
	/* The upload's parts are gone, the other upload's are not. */
	assert_int_equal(count_rows(s, "blob_parts"), 1);
	assert_int_equal(store_blob_totals(s, &cnt, &bytes), SQLITE_OK);
	assert_int_equal(cnt, 1);
	assert_int_equal(bytes, (int64_t)n);
	/* The same hash again: CONSTRAINT, parts dropped, blob unchanged. */
	assert_int_equal(store_blob_part_add(s, 11, "zz", 2), SQLITE_OK);
	assert_int_equal(store_blob_commit(s, 11, HA, 2, "bob", 1001), SQLITE_CONSTRAINT);
	expect_blob(s, HA, data, n, STORE_BLOB_CHUNK);
	assert_int_equal(count_rows(s, "blob_parts"), 1);
	/* A blob of 0 bytes has no parts. */
	assert_int_equal(store_blob_commit(s, 12, HB, 0, "alice", 1002), SQLITE_OK);
	assert_int_equal(store_blob_has(s, HB, &size), SQLITE_OK);
	assert_int_equal(size, 0);
	expect_blob(s, HB, data, 0, 16);
	/* Unknown hash. */
	{
		struct store_blob_reader *r;
		assert_int_equal(store_blob_reader_open(NULL, s, HC, &r, &size), SQLITE_NOTFOUND);
	}
	free(data);
}

static void test_blob_parts_that_do_not_add_up(void **state)
{
	struct store *s = *state;
	unsigned char data[1000];
	fill(data, sizeof(data), 2);
	assert_int_equal(store_blob_part_add(s, 1, data, 600), SQLITE_OK);
	/* A part lost (a failed commit): fewer bytes than the size. */
	assert_int_equal(store_blob_commit(s, 1, HA, 1000, "alice", 1), SQLITE_MISMATCH);
	assert_int_equal(store_blob_has(s, HA, NULL), SQLITE_NOTFOUND);
	assert_int_equal(count_rows(s, "blobs"), 0);
	assert_int_equal(count_rows(s, "blob_parts"), 0);
	/* More bytes than the size. */
	assert_int_equal(store_blob_part_add(s, 2, data, 600), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 2, data + 600, 400), SQLITE_OK);
	assert_int_equal(store_blob_commit(s, 2, HA, 999, "alice", 1), SQLITE_MISMATCH);
	assert_int_equal(count_rows(s, "blobs"), 0);
	assert_int_equal(count_rows(s, "blob_parts"), 0);
}

static void test_blob_parts_clear_and_drop(void **state)
{
	struct store *s = *state;
	int64_t n = -1;
	assert_int_equal(store_blob_part_add(s, 1, "a", 1), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 1, "b", 1), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 2, "c", 1), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 3, "d", 1), SQLITE_OK);
	assert_int_equal(store_blob_parts_drop(s, 3), SQLITE_OK);
	assert_int_equal(count_rows(s, "blob_parts"), 3);
	assert_int_equal(store_blob_parts_clear(s, &n), SQLITE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(count_rows(s, "blob_parts"), 0);
	assert_int_equal(store_blob_parts_clear(s, &n), SQLITE_OK);
	assert_int_equal(n, 0);
}

static void test_node_blobs_and_gc(void **state)
{
	struct store *s = *state;
	struct node_row a = node("a", "{}", NULL, 1), b = node("b", "{}", NULL, 2);
	json_t *hashes = json_pack("[ss]", HB, HA), *out = NULL, *list = NULL;
	int64_t n = -1, bytes = -1;

	assert_int_equal(store_blob_commit(s, 1, HA, 0, "alice", 100), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 2, "xy", 2), SQLITE_OK);
	assert_int_equal(store_blob_commit(s, 2, HB, 2, "alice", 100), SQLITE_OK);
	assert_int_equal(store_blob_part_add(s, 3, "xyz", 3), SQLITE_OK);
	assert_int_equal(store_blob_commit(s, 3, HC, 3, "bob", 300), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &a), SQLITE_OK);
	assert_int_equal(store_node_insert(s, &b), SQLITE_OK);
	/* Order kept, as given. */
	assert_int_equal(store_node_set_blobs(s, "a", hashes), SQLITE_OK);
	assert_int_equal(store_node_get_blobs(s, "a", &out), SQLITE_OK);
	assert_true(json_equal(out, hashes));
	json_decref(out);
	assert_int_equal(store_node_get_blobs(s, "b", &out), SQLITE_OK);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	assert_int_equal(store_blob_list(s, &list), SQLITE_OK);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "hash")), HC);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "created_by")),
			    "bob");
	json_decref(list);

	/* Named blobs stay; unnamed ones go once uploaded at or before `before`. */
	assert_int_equal(store_blob_gc(s, 200, &n, &bytes), SQLITE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_node_set_blobs(s, "a", NULL), SQLITE_OK);
	json_array_remove(hashes, 0);
	assert_int_equal(store_node_set_blobs(s, "b", hashes), SQLITE_OK); /* HA */
	assert_int_equal(store_blob_gc(s, 200, &n, &bytes), SQLITE_OK);
	assert_int_equal(n, 1); /* HB; HC is younger */
	assert_int_equal(bytes, 2);
	assert_int_equal(store_blob_has(s, HB, NULL), SQLITE_NOTFOUND);
	assert_int_equal(store_blob_has(s, HC, NULL), SQLITE_OK);
	/* A tombstone names nothing. */
	assert_int_equal(store_node_tombstone(s, "b", 3, "alice", 2), SQLITE_OK);
	assert_int_equal(store_blob_gc(s, 1000, &n, &bytes), SQLITE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, 3);
	assert_int_equal(count_rows(s, "blobs"), 0);
	json_decref(hashes);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_node_insert_get), T(test_node_update), T(test_node_tombstone_and_revive),
		T(test_node_deps_order), T(test_nodes_owned_by), T(test_tasks), T(test_chat),
		T(test_users), T(test_meta), T(test_counts_and_purge),
		T(test_savepoint_undoes_one_request), T(test_rollback),
		T(test_blob_parts_commit_and_read), T(test_blob_parts_that_do_not_add_up),
		T(test_blob_parts_clear_and_drop), T(test_node_blobs_and_gc),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
