/* test_heads.c - the node heads the store keeps in memory (store_heads.c)
 * agree with the rows after every kind of write, rollback and mass delete,
 * on ":memory:". */
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

static void insert(struct store *s, const char *uuid, const char *owner, int64_t seq)
{
	struct node_row n = {0};
	n.uuid = (char *)uuid;
	n.kind = (char *)"Object";
	n.data = (char *)"{\"a\":1}";
	n.owner = (char *)owner;
	n.version = 1;
	n.seq = seq;
	n.updated_by = (char *)"alice";
	n.updated_at = 1.5;
	assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
}

/* The head from memory says what the row says (or both say "no live node"). */
static void assert_head_matches_row(struct store *s, const char *uuid)
{
	struct node_head *h;
	struct node_row n;
	int hrc = store_node_head(s, uuid, &h);
	int rrc = store_node_get(s, uuid, &n);
	if (rrc == SQLITE_OK && n.deleted)
		rrc = SQLITE_NOTFOUND;
	assert_int_equal(hrc, rrc);
	if (hrc == SQLITE_OK) {
		assert_string_equal(h->uuid, uuid);
		assert_int_equal(h->version, n.version);
		assert_int_equal(h->seq, n.seq);
		if (n.owner)
			assert_string_equal(h->owner, n.owner);
		else
			assert_null(h->owner);
	}
	node_row_free(&n);
}

static struct node_head *head(struct store *s, const char *uuid)
{
	struct node_head *h = NULL;
	assert_int_equal(store_node_head(s, uuid, &h), SQLITE_OK);
	return h;
}

static void change(struct store *s, const char *uuid, int64_t seq, const char *patch)
{
	struct node_head *h = head(s, uuid);
	struct node_change c = {0};
	c.patch = patch;
	c.patch_len = strlen(patch);
	c.version = h->version + 1;
	c.seq = seq;
	c.updated_by = "bob";
	c.updated_at = 2.5;
	assert_int_equal(store_node_change(s, h, &c), SQLITE_OK);
	assert_int_equal(h->version, c.version);
	assert_int_equal(h->seq, seq);
}

static void test_every_write_keeps_heads_exact(void **state)
{
	struct store *s = *state;
	struct node_row n;
	insert(s, "n1", NULL, 1);
	assert_head_matches_row(s, "n1");
	change(s, "n1", 2, "{\"b\":2}");
	assert_head_matches_row(s, "n1");
	assert_int_equal(store_node_get(s, "n1", &n), SQLITE_OK);
	assert_string_equal(n.data, "{\"a\":1,\"b\":2}");
	assert_string_equal(n.kind, "Object"); /* kind NULL keeps it */
	assert_string_equal(n.updated_by, "bob");
	node_row_free(&n);

	assert_int_equal(store_node_set_owner(s, head(s, "n1"), "carol", 3), SQLITE_OK);
	assert_head_matches_row(s, "n1");
	assert_string_equal(head(s, "n1")->owner, "carol");
	assert_int_equal(store_node_set_owner(s, head(s, "n1"), NULL, 4), SQLITE_OK);
	assert_head_matches_row(s, "n1");

	/* The generic update (every column, by uuid) forgets the head. */
	assert_int_equal(store_node_get(s, "n1", &n), SQLITE_OK);
	free(n.owner);
	n.owner = strdup("dave");
	n.version = 9;
	n.seq = 5;
	assert_int_equal(store_node_update(s, &n, NULL), SQLITE_OK);
	node_row_free(&n);
	assert_head_matches_row(s, "n1");

	assert_int_equal(store_node_tombstone(s, "n1", 6, "bob", 3), SQLITE_OK);
	assert_head_matches_row(s, "n1"); /* not found */
	insert(s, "n1", "erin", 7);       /* revived */
	assert_head_matches_row(s, "n1");
	assert_head_matches_row(s, "never");
}

static void test_rollbacks_forget_heads(void **state)
{
	struct store *s = *state;
	insert(s, "n1", NULL, 1);
	insert(s, "n2", NULL, 2);
	assert_int_equal(store_begin(s), SQLITE_OK);
	change(s, "n1", 3, "{\"x\":1}");
	assert_int_equal(store_savepoint(s), SQLITE_OK);
	change(s, "n2", 4, "{\"y\":1}");
	assert_int_equal(store_node_set_owner(s, head(s, "n1"), "bob", 5), SQLITE_OK);
	store_rollback_to(s); /* undoes n2's change and n1's owner */
	assert_head_matches_row(s, "n1");
	assert_head_matches_row(s, "n2");
	assert_int_equal(head(s, "n1")->version, 2);
	assert_null(head(s, "n1")->owner);
	assert_int_equal(head(s, "n2")->version, 1);
	store_rollback(s); /* undoes n1's change */
	assert_head_matches_row(s, "n1");
	assert_int_equal(head(s, "n1")->version, 1);
	assert_int_equal(head(s, "n1")->seq, 1);

	/* A committed change stays. */
	assert_int_equal(store_begin(s), SQLITE_OK);
	change(s, "n2", 6, "{\"z\":1}");
	assert_int_equal(store_commit(s), SQLITE_OK);
	assert_head_matches_row(s, "n2");
	assert_int_equal(head(s, "n2")->seq, 6);
}

static void test_mass_deletes_forget_heads(void **state)
{
	struct store *s = *state;
	insert(s, "n1", "alice", 1);
	assert_non_null(head(s, "n1"));
	assert_int_equal(store_heads_count(s), 1);
	assert_int_equal(store_clear_content(s), SQLITE_OK);
	assert_int_equal(store_heads_count(s), 0);
	assert_head_matches_row(s, "n1");
	insert(s, "n1", NULL, 2);
	assert_head_matches_row(s, "n1");
	assert_int_equal(store_purge_tombstones(s, 100), SQLITE_OK);
	assert_head_matches_row(s, "n1");
}

/* A head whose row changed behind the store's back (which no code path of
 * the server does) makes the change fail without writing another row, and
 * every head is forgotten. */
static void test_change_that_finds_no_row_fails(void **state)
{
	struct store *s = *state;
	struct node_change c = {0};
	struct node_head *h;
	insert(s, "n1", NULL, 1);
	insert(s, "n2", NULL, 2);
	h = head(s, "n1");
	(void)head(s, "n2");
	assert_int_equal(sqlite3_exec(store_db(s), "UPDATE nodes SET deleted = 1 WHERE uuid = 'n1'",
				      NULL, NULL, NULL), SQLITE_OK);
	c.patch = "{\"q\":1}";
	c.patch_len = strlen(c.patch);
	c.version = 2;
	c.seq = 3;
	c.updated_by = "bob";
	assert_int_equal(store_node_change(s, h, &c), SQLITE_INTERNAL);
	assert_int_equal(store_heads_count(s), 0);
	assert_head_matches_row(s, "n1");
	assert_head_matches_row(s, "n2");
}

/* More live nodes than the table holds: every answer is still right. */
static void test_bounded(void **state)
{
	struct store *s = *state;
	char uuid[32];
	assert_int_equal(store_begin(s), SQLITE_OK);
	for (int i = 0; i < 70000; i++) {
		snprintf(uuid, sizeof(uuid), "n%d", i);
		insert(s, uuid, NULL, i + 1);
		(void)head(s, uuid);
	}
	assert_true(store_heads_count(s) <= 65536);
	for (int i = 0; i < 70000; i += 997) {
		snprintf(uuid, sizeof(uuid), "n%d", i);
		change(s, uuid, 100000 + i, "{\"v\":1}");
		assert_head_matches_row(s, uuid);
	}
	assert_int_equal(store_commit(s), SQLITE_OK);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_every_write_keeps_heads_exact), T(test_rollbacks_forget_heads),
		T(test_mass_deletes_forget_heads), T(test_change_that_finds_no_row_fails),
		T(test_bounded),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
