/* test_migrate.c - the schema history: fresh databases, equality with
 * schema/schema.sql, upgrade of a v1 file, refusal of a newer one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "testutil.h"

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Collapses every run of whitespace to one space and trims the ends. */
static void normalise(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	int space = 0;
	for (; in && *in && o + 2 < outlen; in++) {
		if (isspace((unsigned char)*in)) {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = 0;
		out[o++] = *in;
	}
	out[o] = 0;
}

/* The schema as one string: "type|name|tbl_name|sql\n" per object. */
static char *schema_of(sqlite3 *db)
{
	sqlite3_stmt *st;
	size_t cap = 65536, len = 0;
	char *s = calloc(1, cap), sql[8192];
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_master "
					    "ORDER BY name", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		normalise((const char *)sqlite3_column_text(st, 3), sql, sizeof(sql));
		len += (size_t)snprintf(s + len, cap - len, "%s|%s|%s|%s\n",
					sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
					sqlite3_column_text(st, 2), sql);
		assert_true(len < cap);
	}
	sqlite3_finalize(st);
	return s;
}

static void test_fresh_database_gets_every_migration(void **state)
{
	sqlite3 *db;
	char err[512] = "";
	(void)state;
	assert_true(store_migration_count >= 2);
	for (int i = 0; i < store_migration_count; i++)
		assert_int_equal(store_migrations[i].version, i + 1);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(user_version(db), 0);
	assert_int_equal(store_migrate(db, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(user_version(db), store_migration_count);
	/* Running it again changes nothing. */
	assert_int_equal(store_migrate(db, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(user_version(db), store_migration_count);
	sqlite3_close(db);
}

static void test_store_open_memory(void **state)
{
	struct store *s;
	char err[512] = "";
	int64_t seq = -1, init = -1;
	char *epoch = NULL;
	(void)state;
	assert_int_equal(store_open(":memory:", 0, &s, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(user_version(store_db(s)), store_migration_count);
	assert_int_equal(store_meta_get_int(s, "seq", &seq), SQLITE_OK);
	assert_int_equal(seq, 0);
	assert_int_equal(store_meta_get_int(s, "initialized", &init), SQLITE_OK);
	assert_int_equal(init, 0);
	assert_int_equal(store_meta_get_text(s, "epoch", &epoch), SQLITE_OK);
	assert_int_equal(strlen(epoch), 32);
	free(epoch);
	store_close(s);
}

static void test_migrations_equal_schema_sql(void **state)
{
	sqlite3 *a, *b;
	char path[4200], err[512] = "", *sql, *sa, *sb, *msg = NULL;
	(void)state;
	tu_src_path(path, sizeof(path), "schema/schema.sql");
	sql = tu_read_file(path, NULL);
	assert_non_null(sql);
	assert_int_equal(sqlite3_open(":memory:", &a), SQLITE_OK);
	assert_int_equal(sqlite3_open(":memory:", &b), SQLITE_OK);
	assert_int_equal(store_migrate(a, err, sizeof(err)), SQLITE_OK);
	if (sqlite3_exec(b, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("schema.sql does not run: %s", msg);
	sa = schema_of(a);
	sb = schema_of(b);
	assert_true(strlen(sa) > 100);
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
	free(sql);
	sqlite3_close(a);
	sqlite3_close(b);
}

static void test_upgrade_from_v1(void **state)
{
	char *dir = tu_mkdtemp(), fixture[4200], path[4200], err[512] = "", *epoch = NULL;
	struct store *s;
	struct node_row n;
	json_t *deps, *users;
	int64_t seq = 0;
	sqlite3 *db;
	(void)state;
	tu_src_path(fixture, sizeof(fixture), "tests/fixtures/session_v1.db");
	snprintf(path, sizeof(path), "%s/session.db", dir);
	assert_int_equal(tu_copy_file(fixture, path), 0);
	/* The fixture really is a v1 file without the v2 tables. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(user_version(db), 1);
	assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
				"('tasks', 'chat')"), 0);
	sqlite3_close(db);

	if (store_open(path, 0, &s, err, sizeof(err)) != SQLITE_OK)
		fail_msg("store_open: %s", err);
	db = store_db(s);
	assert_int_equal(user_version(db), store_migration_count);
	assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
				"AND name IN ('tasks', 'chat')"), 2);
	/* Old rows are intact, and the old meta is kept (not re-initialised). */
	assert_int_equal(store_meta_get_int(s, "seq", &seq), SQLITE_OK);
	assert_int_equal(seq, 3);
	assert_int_equal(store_meta_get_text(s, "epoch", &epoch), SQLITE_OK);
	assert_string_equal(epoch, "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1");
	free(epoch);
	assert_int_equal(store_node_get(s, "cube-1", &n), SQLITE_OK);
	assert_string_equal(n.kind, "Object");
	assert_string_equal(n.data, "{\"name\":\"Cube\",\"loc\":[1,2,3]}");
	assert_int_equal(n.version, 2);
	assert_string_equal(n.updated_by, "alice");
	node_row_free(&n);
	assert_int_equal(store_node_get_deps(s, "cube-1", &deps), SQLITE_OK);
	assert_int_equal(json_array_size(deps), 2);
	assert_string_equal(json_string_value(json_array_get(deps, 0)), "mesh-1");
	assert_string_equal(json_string_value(json_array_get(deps, 1)), "mat-9");
	json_decref(deps);
	assert_int_equal(store_users(s, &users), SQLITE_OK);
	assert_int_equal(json_array_size(users), 2);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_array_get(users, 0), "metadata"), "mode")), "edit");
	json_decref(users);
	/* The new tables work. */
	{
		struct task_row t = {.title = "t", .status = "todo", .created_by = "alice", .seq = 4};
		assert_int_equal(store_task_insert(s, &t), SQLITE_OK);
		assert_int_equal(t.id, 1);
	}
	store_close(s);
	tu_rmtree(dir);
	free(dir);
}

/* Makes a database claiming a schema version from the future. */
static void make_future_db(const char *path, int wal)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, wal ? "PRAGMA journal_mode = WAL; " : "", NULL, NULL,
				      NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE future (x TEXT); "
				      "INSERT INTO future VALUES ('keep me'); "
				      "PRAGMA user_version = 99;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void check_newer_refused(int wal)
{
	char *dir = tu_mkdtemp(), path[4200], err[512] = "", *before, *after;
	size_t nb = 0, na = 0, at = 0;
	struct store *s = (struct store *)1;
	int rc, same;
	snprintf(path, sizeof(path), "%s/session.db", dir);
	make_future_db(path, wal);
	before = tu_read_file(path, &nb);
	assert_non_null(before);
	rc = store_open(path, 0, &s, err, sizeof(err));
	after = tu_read_file(path, &na);
	assert_non_null(after);
	same = na == nb && memcmp(before, after, nb) == 0;
	while (!same && at < na && at < nb && before[at] == after[at])
		at++;
	free(before);
	free(after);
	tu_rmtree(dir);
	free(dir);
	assert_int_not_equal(rc, SQLITE_OK);
	assert_null(s);
	if (!strstr(err, "99"))
		fail_msg("the error does not name the version: %s", err);
	if (!same)
		fail_msg("the refused file was modified (%zu -> %zu bytes, first difference at "
			 "byte %zu)", nb, na, at);
}

/* A newer sessiond's file is in WAL mode already. */
static void test_newer_wal_database_refused_untouched(void **state)
{
	(void)state;
	check_newer_refused(1);
}

/* Any file with a newer version, e.g. one copied with the sqlite3 CLI. */
static void test_newer_database_refused_untouched(void **state)
{
	(void)state;
	check_newer_refused(0);
}

static void test_store_migrate_refuses_newer(void **state)
{
	sqlite3 *db;
	char err[512] = "";
	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(store_migrate(db, err, sizeof(err)), SQLITE_OK);
	assert_non_null(strstr(err, "99"));
	assert_int_equal(user_version(db), 99);
	assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_master"), 0);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_database_gets_every_migration),
		cmocka_unit_test(test_store_open_memory),
		cmocka_unit_test(test_migrations_equal_schema_sql),
		cmocka_unit_test(test_upgrade_from_v1),
		cmocka_unit_test(test_store_migrate_refuses_newer),
		cmocka_unit_test(test_newer_wal_database_refused_untouched),
		cmocka_unit_test(test_newer_database_refused_untouched),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
