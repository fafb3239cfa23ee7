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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_node_insert_get), T(test_node_update), T(test_node_tombstone_and_revive),
		T(test_node_deps_order), T(test_nodes_owned_by), T(test_tasks), T(test_chat),
		T(test_users), T(test_meta), T(test_counts_and_purge),
		T(test_savepoint_undoes_one_request), T(test_rollback),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
