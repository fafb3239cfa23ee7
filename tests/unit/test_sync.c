/* test_sync.c - the sync stream of a join, read from a real session file:
 * frames under 1 MiB, every row exactly once, tombstones in deltas, and a
 * final `synced` carrying the seq. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "frame.h"
#include "log.h"
#include "store.h"
#include "sync.h"
#include "testutil.h"

#define NODES 3000
#define TASKS 50
#define CHATS 30
#define LAST_SEQ (NODES + NODES / 10 + TASKS + 1 + CHATS)
#define ODD_TEXT "quote \" backslash \\ newline \n tab \t ctrl \x01 caf\xc3\xa9"

struct fx {
	char *dir;
	char path[4200];
	struct store *s;
};

static char pad[601];

/* NODES nodes (seq 1..NODES), every 10th then deleted; TASKS tasks, the
 * first deleted; CHATS messages. The store stays open, rows in the WAL. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256], uuid[16], data[700];
	int64_t seq = 0, id;
	f->dir = tu_mkdtemp();
	snprintf(f->path, sizeof(f->path), "%s/session.db", f->dir);
	memset(pad, 'p', 600);
	if (store_open(f->path, 0, &f->s, err, sizeof(err)) != SQLITE_OK)
		return -1;
	store_begin(f->s);
	for (int i = 0; i < NODES; i++) {
		struct node_row n = {.uuid = uuid, .kind = (char *)"Object", .data = data,
				     .version = 1, .seq = ++seq, .updated_by = (char *)"alice"};
		snprintf(uuid, sizeof(uuid), "n-%04d", i);
		snprintf(data, sizeof(data), "{\"i\":%d,\"pad\":\"%s\"}", i, pad);
		if (store_node_insert(f->s, &n) != SQLITE_OK)
			return -1;
		if (i % 7 == 0) {
			json_t *deps = json_pack("[sss]", "z-dep", "a-dep", uuid);
			store_node_set_deps(f->s, uuid, deps);
			json_decref(deps);
		}
	}
	for (int i = 0; i < NODES; i += 10) {
		snprintf(uuid, sizeof(uuid), "n-%04d", i);
		store_node_tombstone(f->s, uuid, ++seq, "bob", 1);
	}
	for (int i = 0; i < TASKS; i++) {
		struct task_row t = {.title = (char *)"task", .status = (char *)"todo",
				     .created_by = (char *)"alice", .seq = ++seq};
		store_task_insert(f->s, &t);
	}
	store_task_tombstone(f->s, 1, ++seq, 1);
	for (int i = 0; i < CHATS; i++)
		store_chat_insert(f->s, "bob", i == CHATS - 1 ? ODD_TEXT : "hello", 1, ++seq, &id);
	store_meta_set_int(f->s, "seq", seq);
	if (store_commit(f->s) != SQLITE_OK || seq != LAST_SEQ)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->s);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

struct got {
	json_t *nodes, *tasks, *chat, *users;
	int frames;
	size_t largest;
	int64_t synced_seq;
	int users_frames;
};

/* Reads the whole stream into g, checking every frame's envelope. */
static void read_all(struct sync_cursor *c, struct got *g, size_t limit)
{
	int done = 0;
	memset(g, 0, sizeof(*g));
	g->nodes = json_array();
	g->tasks = json_array();
	g->chat = json_array();
	g->users = json_array();
	while (!done) {
		struct frame *fr = sync_next(c, &done);
		json_error_t e;
		json_t *o;
		assert_non_null(fr);
		o = json_loadb(frame_data(fr), fr->len, JSON_REJECT_DUPLICATES, &e);
		if (!o)
			fail_msg("frame %d is not JSON: %s", g->frames, e.text);
		if (done) {
			assert_string_equal(json_string_value(json_object_get(o, "type")), "synced");
			g->synced_seq = json_integer_value(json_object_get(o, "seq"));
		} else {
			assert_string_equal(json_string_value(json_object_get(o, "type")), "sync");
			if (fr->len > limit)
				fail_msg("sync frame %d is %zu bytes", g->frames, fr->len);
			if (fr->len > g->largest)
				g->largest = fr->len;
			assert_true(json_is_array(json_object_get(o, "nodes")));
			assert_true(json_is_array(json_object_get(o, "tasks")));
			assert_true(json_is_array(json_object_get(o, "chat")));
			json_array_extend(g->nodes, json_object_get(o, "nodes"));
			json_array_extend(g->tasks, json_object_get(o, "tasks"));
			json_array_extend(g->chat, json_object_get(o, "chat"));
			if (json_array_size(json_object_get(o, "users"))) {
				g->users_frames++;
				json_array_extend(g->users, json_object_get(o, "users"));
			}
			g->frames++;
		}
		json_decref(o);
		frame_unref(fr);
	}
}

static void got_free(struct got *g)
{
	json_decref(g->nodes);
	json_decref(g->tasks);
	json_decref(g->chat);
	json_decref(g->users);
}

static json_t *users_arg(void)
{
	return json_pack("[{ss sb}{ss sb}]", "name", "alice", "online", 1, "name", "bob", "online", 0);
}

static void test_full_sync(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct got g;
	json_t *n, *want;
	size_t i;
	char *seen = calloc(NODES, 1);
	struct sync_cursor *c = sync_open(f->path, 0, 0, 10, users_arg(), LAST_SEQ, err, sizeof(err));
	if (!c)
		fail_msg("sync_open: %s", err);
	read_all(c, &g, SYNC_FRAME_MAX - 1);
	sync_close(c);

	assert_true(g.frames >= 2); /* ~1.9 MB of nodes */
	assert_int_equal(g.synced_seq, LAST_SEQ);
	/* Every live node exactly once, no tombstones. */
	assert_int_equal(json_array_size(g.nodes), NODES - NODES / 10);
	json_array_foreach(g.nodes, i, n) {
		int k = atoi(json_string_value(json_object_get(n, "uuid")) + 2);
		assert_true(k >= 0 && k < NODES && k % 10 != 0);
		assert_int_equal(seen[k], 0);
		seen[k] = 1;
		assert_null(json_object_get(n, "deleted"));
		assert_int_equal(json_integer_value(json_object_get(json_object_get(n, "data"), "i")), k);
		assert_int_equal(json_integer_value(json_object_get(n, "seq")), k + 1);
		assert_int_equal(json_integer_value(json_object_get(n, "version")), 1);
		assert_true(json_is_null(json_object_get(n, "owner")));
		assert_string_equal(json_string_value(json_object_get(n, "kind")), "Object");
		assert_string_equal(json_string_value(json_object_get(n, "updated_by")), "alice");
		if (k % 7 == 0) {
			want = json_pack("[sss]", "z-dep", "a-dep", json_string_value(json_object_get(n, "uuid")));
			assert_true(json_equal(json_object_get(n, "deps"), want));
			json_decref(want);
		} else {
			assert_int_equal(json_array_size(json_object_get(n, "deps")), 0);
		}
	}
	free(seen);
	assert_int_equal(json_array_size(g.tasks), TASKS - 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(g.tasks, 0), "status")),
			    "todo");
	assert_true(json_is_null(json_object_get(json_array_get(g.tasks, 0), "assignee")));
	/* The last 10 messages, oldest first, text intact. */
	assert_int_equal(json_array_size(g.chat), 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(g.chat, i), "id")),
				 CHATS - 9 + (int)i);
	assert_string_equal(json_string_value(json_object_get(json_array_get(g.chat, 9), "text")),
			    ODD_TEXT);
	/* Users once. */
	assert_int_equal(g.users_frames, 1);
	assert_int_equal(json_array_size(g.users), 2);
	got_free(&g);
}

static void test_delta_has_tombstones(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct got g;
	json_t *n;
	size_t i;
	struct sync_cursor *c = sync_open(f->path, 1, NODES, 10, users_arg(), LAST_SEQ, err,
					  sizeof(err));
	assert_non_null(c);
	read_all(c, &g, SYNC_FRAME_MAX - 1);
	sync_close(c);
	assert_int_equal(g.synced_seq, LAST_SEQ);
	/* Only what changed after seq NODES: the deletes. */
	assert_int_equal(json_array_size(g.nodes), NODES / 10);
	json_array_foreach(g.nodes, i, n) {
		assert_true(json_is_true(json_object_get(n, "deleted")));
		assert_true(json_integer_value(json_object_get(n, "seq")) > NODES);
		assert_null(json_object_get(n, "data"));
		assert_int_equal(json_object_size(n), 3);
	}
	assert_int_equal(json_array_size(g.tasks), TASKS);
	for (i = 0, n = NULL; i < json_array_size(g.tasks) && !n; i++) /* any order */
		if (json_integer_value(json_object_get(json_array_get(g.tasks, i), "id")) == 1)
			n = json_array_get(g.tasks, i);
	assert_non_null(n);
	assert_true(json_is_true(json_object_get(n, "deleted")));
	assert_int_equal(json_integer_value(json_object_get(n, "seq")), LAST_SEQ - CHATS);
	/* Chat in a delta: every message after since, not just the last 10. */
	assert_int_equal(json_array_size(g.chat), CHATS);
	got_free(&g);

	/* A delta at the current seq is empty. */
	c = sync_open(f->path, 1, LAST_SEQ, 10, json_array(), LAST_SEQ, err, sizeof(err));
	assert_non_null(c);
	read_all(c, &g, SYNC_FRAME_MAX - 1);
	sync_close(c);
	assert_int_equal(json_array_size(g.nodes) + json_array_size(g.tasks) +
			 json_array_size(g.chat), 0);
	assert_int_equal(g.frames, 1);
	got_free(&g);
}

static void test_wrong_seq_refused(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	struct sync_cursor *c = sync_open(f->path, 0, 0, 10, users_arg(), LAST_SEQ - 1, err,
					  sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "seq"));
}

/* A snapshot: rows committed after sync_open do not leak into the stream. */
static void test_snapshot_isolation(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct got g;
	struct node_row n = {.uuid = (char *)"late", .kind = (char *)"K", .data = (char *)"{}",
			     .version = 1, .seq = LAST_SEQ + 1};
	struct sync_cursor *c = sync_open(f->path, 1, LAST_SEQ - 1, 10, json_array(), LAST_SEQ,
					  err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(store_begin(f->s), SQLITE_OK);
	assert_int_equal(store_node_insert(f->s, &n), SQLITE_OK);
	assert_int_equal(store_meta_set_int(f->s, "seq", LAST_SEQ + 1), SQLITE_OK);
	assert_int_equal(store_commit(f->s), SQLITE_OK);
	read_all(c, &g, SYNC_FRAME_MAX - 1);
	sync_close(c);
	assert_int_equal(json_array_size(g.nodes), 0);
	assert_int_equal(json_array_size(g.chat), 1);
	assert_int_equal(g.synced_seq, LAST_SEQ);
	got_free(&g);
}

/* A node larger than a frame goes alone in its frame. */
static void test_big_node_alone(void **state)
{
	struct fx *f = *state;
	char err[256];
	size_t big = SYNC_FRAME_MAX + SYNC_FRAME_MAX / 2;
	char *data = malloc(big + 32);
	struct node_row n = {.uuid = (char *)"big", .kind = (char *)"Image", .data = data,
			     .version = 1, .seq = LAST_SEQ + 1};
	struct sync_cursor *c;
	int done = 0, frames_with_big = 0;
	snprintf(data, 12, "{\"blob\":\"");
	memset(data + 9, 'b', big);
	memcpy(data + 9 + big, "\"}", 3);
	assert_int_equal(store_begin(f->s), SQLITE_OK);
	assert_int_equal(store_node_insert(f->s, &n), SQLITE_OK);
	assert_int_equal(store_meta_set_int(f->s, "seq", LAST_SEQ + 1), SQLITE_OK);
	assert_int_equal(store_commit(f->s), SQLITE_OK);
	free(data);
	c = sync_open(f->path, 0, 0, 0, json_array(), LAST_SEQ + 1, err, sizeof(err));
	assert_non_null(c);
	while (!done) {
		struct frame *fr = sync_next(c, &done);
		json_t *o = json_loadb(frame_data(fr), fr->len, 0, NULL);
		json_t *nodes = json_object_get(o, "nodes");
		size_t i;
		json_t *x;
		int has_big = 0;
		assert_non_null(o);
		json_array_foreach(nodes, i, x) {
			if (strcmp(json_string_value(json_object_get(x, "uuid")), "big") == 0) {
				has_big = 1;
				assert_int_equal(json_array_size(nodes), 1);
				assert_int_equal(strlen(json_string_value(json_object_get(
					json_object_get(x, "data"), "blob"))), big);
			}
		}
		frames_with_big += has_big;
		if (!has_big)
			assert_true(fr->len < SYNC_FRAME_MAX);
		json_decref(o);
		frame_unref(fr);
	}
	sync_close(c);
	assert_int_equal(frames_with_big, 1);
}

/* Timestamps in the sync print with millisecond precision, the users'
 * (built as JSON by the session) as well as the rows' (written from the
 * database): 1796007416.321, never 1796007416.3210001. */
static void test_timestamps_print_milliseconds(void **state)
{
	struct fx *f = *state;
	char err[256];
	json_t *users = json_pack("[{ss sf sf sb}]", "name", "alice", "first_seen", 1796007416.321,
				  "last_seen", 1796007416.5, "online", 1);
	struct sync_cursor *c;
	struct frame *fr;
	int done = 0;
	struct node_row n = {.uuid = (char *)"ts-node", .kind = (char *)"K", .data = (char *)"{}",
			     .version = 1, .seq = LAST_SEQ + 1, .updated_by = (char *)"alice",
			     .updated_at = 1796007416.321};
	int64_t id;
	assert_int_equal(store_begin(f->s), SQLITE_OK);
	assert_int_equal(store_node_insert(f->s, &n), SQLITE_OK);
	assert_int_equal(store_chat_insert(f->s, "alice", "t", 1796007416.321, LAST_SEQ + 2, &id),
			 SQLITE_OK);
	assert_int_equal(store_meta_set_int(f->s, "seq", LAST_SEQ + 2), SQLITE_OK);
	assert_int_equal(store_commit(f->s), SQLITE_OK);
	c = sync_open(f->path, 1, LAST_SEQ, 10, users, LAST_SEQ + 2, err, sizeof(err));
	if (!c)
		fail_msg("sync_open: %s", err);
	fr = sync_next(c, &done);
	assert_non_null(fr);
	assert_false(done);
	if (strstr(frame_data(fr), "1796007416.3210") || !strstr(frame_data(fr),
			"\"first_seen\":1796007416.321,") ||
	    !strstr(frame_data(fr), "\"updated_at\":1796007416.321}") ||
	    !strstr(frame_data(fr), "\"ts\":1796007416.321,"))
		fail_msg("timestamps not in milliseconds: %.2000s", frame_data(fr));
	frame_unref(fr);
	sync_close(c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_full_sync), T(test_delta_has_tombstones), T(test_wrong_seq_refused),
		T(test_snapshot_isolation), T(test_big_node_alone),
		T(test_timestamps_print_milliseconds),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
