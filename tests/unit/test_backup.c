/* test_backup.c - backup names, listing and rotation, a real save, and
 * start-up recovery from the corrupt fixtures in tests/fixtures/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>

#include "backup.h"
#include "log.h"
#include "store.h"
#include "testutil.h"

#define T0 ((time_t)1736695945) /* 2025-01-12 15:32:25 UTC */

static void touch(const char *dir, const char *name)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(tu_write_file(p, "x", 1), 0);
}

static void test_make_name_collisions(void **state)
{
	char *dir = tu_mkdtemp(), name[96];
	(void)state;
	backup_make_name(dir, T0, name, sizeof(name));
	assert_string_equal(name, "snapshot_20250112_153225.db");
	touch(dir, name);
	backup_make_name(dir, T0, name, sizeof(name));
	assert_string_equal(name, "snapshot_20250112_153225_1.db");
	touch(dir, name);
	backup_make_name(dir, T0, name, sizeof(name));
	assert_string_equal(name, "snapshot_20250112_153225_2.db");
	/* Another second starts without a suffix. */
	backup_make_name(dir, T0 + 1, name, sizeof(name));
	assert_string_equal(name, "snapshot_20250112_153226.db");
	tu_rmtree(dir);
	free(dir);
}

static void test_name_order(void **state)
{
	(void)state;
	assert_true(backup_name_cmp("snapshot_20250112_153225.db", "snapshot_20250112_153226.db") < 0);
	assert_true(backup_name_cmp("snapshot_20250112_153226.db", "snapshot_20250112_153225.db") > 0);
	assert_true(backup_name_cmp("snapshot_20241231_235959_9.db", "snapshot_20250101_000000.db") < 0);
	assert_true(backup_name_cmp("snapshot_20250112_153225.db", "snapshot_20250112_153225_1.db") < 0);
	assert_true(backup_name_cmp("snapshot_20250112_153225_1.db", "snapshot_20250112_153225_2.db") < 0);
	assert_true(backup_name_cmp("snapshot_20250112_153225_2.db", "snapshot_20250112_153225_10.db") < 0);
	assert_true(backup_name_cmp("snapshot_20250112_153225_10.db", "snapshot_20250112_153225_2.db") > 0);
	assert_int_equal(backup_name_cmp("snapshot_20250112_153225_3.db",
					 "snapshot_20250112_153225_3.db"), 0);
}

static void test_list_newest_first(void **state)
{
	static const char *const want[] = {
		"snapshot_20250112_153225_10.db", "snapshot_20250112_153225_2.db",
		"snapshot_20250112_153225_1.db", "snapshot_20250112_153225.db",
		"snapshot_20250101_000000.db", "snapshot_20241231_235959.db",
	};
	char *dir = tu_mkdtemp(), **names;
	int n;
	(void)state;
	/* Created out of order, with files that are not backups. */
	touch(dir, want[4]); touch(dir, want[1]); touch(dir, want[5]);
	touch(dir, want[0]); touch(dir, want[3]); touch(dir, want[2]);
	touch(dir, ".tmp-snapshot_20250113_000000.db");
	touch(dir, "snapshot_20250113_000000.db-journal");
	touch(dir, "snapshot_latest.db");
	touch(dir, "snapshot_20250113_000000_0.db");
	touch(dir, "notes.txt");
	n = backup_list(dir, &names);
	assert_int_equal(n, 6);
	for (int i = 0; i < n; i++)
		assert_string_equal(names[i], want[i]);
	backup_list_free(names, n);
	/* A missing directory is an empty list. */
	assert_int_equal(backup_list("/nonexistent/backups", &names), 0);
	backup_list_free(names, 0);
	tu_rmtree(dir);
	free(dir);
}

static void test_rotate_keeps_newest(void **state)
{
	char *dir = tu_mkdtemp(), **names;
	int n;
	(void)state;
	touch(dir, "snapshot_20250101_000000.db");
	touch(dir, "snapshot_20250102_000000.db");
	touch(dir, "snapshot_20250102_000000_1.db");
	touch(dir, "snapshot_20250103_000000.db");
	touch(dir, "snapshot_20250102_000000_10.db");
	touch(dir, "other.db");
	assert_int_equal(backup_rotate(dir, 10), 0);
	assert_int_equal(backup_rotate(dir, 3), 2);
	n = backup_list(dir, &names);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "snapshot_20250103_000000.db");
	assert_string_equal(names[1], "snapshot_20250102_000000_10.db");
	assert_string_equal(names[2], "snapshot_20250102_000000_1.db");
	backup_list_free(names, n);
	{
		char p[4400];
		snprintf(p, sizeof(p), "%s/other.db", dir);
		assert_true(tu_exists(p)); /* rotation only touches backups */
	}
	assert_int_equal(backup_rotate(dir, 1), 2);
	n = backup_list(dir, &names);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "snapshot_20250103_000000.db");
	backup_list_free(names, n);
	tu_rmtree(dir);
	free(dir);
}

static void test_metadata_json(void **state)
{
	struct backup_job *j = backup_job_new("s1", "/d/s1", "user_disconnect:bob", 5);
	json_t *o;
	char *text;
	(void)state;
	snprintf(j->backup, sizeof(j->backup), "snapshot_20250112_153225.db");
	snprintf(j->epoch, sizeof(j->epoch), "0123456789abcdef0123456789abcdef");
	j->initialized = 1;
	j->user_count = 2; j->node_count = 3; j->task_count = 4; j->chat_count = 5; j->seq = 77;
	text = backup_metadata_json(j, (double)T0 + 0.5);
	o = json_loads(text, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 11);
	assert_true(json_number_value(json_object_get(o, "timestamp")) == (double)T0 + 0.5);
	assert_string_equal(json_string_value(json_object_get(o, "datetime")), "2025-01-12T15:32:25Z");
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "user_disconnect:bob");
	assert_true(json_is_true(json_object_get(o, "initialized")));
	assert_int_equal(json_integer_value(json_object_get(o, "user_count")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "node_count")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "task_count")), 4);
	assert_int_equal(json_integer_value(json_object_get(o, "chat_count")), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 77);
	assert_string_equal(json_string_value(json_object_get(o, "epoch")), j->epoch);
	assert_string_equal(json_string_value(json_object_get(o, "backup")), j->backup);
	json_decref(o);
	free(text);
	/* The timestamp in milliseconds, without float noise. */
	text = backup_metadata_json(j, 1796007416.321);
	if (!strstr(text, "\"timestamp\": 1796007416.321,"))
		fail_msg("timestamp not in milliseconds: %s", text);
	free(text);
	backup_job_free(j);
}

/* A session database with known content: 3 nodes (1 deleted), 2 tasks
 * (1 deleted), 4 chat messages, 2 users, seq 11, initialized. Left open
 * (its changes partly in the WAL) when out is given. */
static void make_session(const char *path, struct store **out)
{
	struct store *s;
	char err[256];
	int64_t id;
	struct task_row t = {.title = (char *)"t", .status = (char *)"todo",
			     .created_by = (char *)"alice", .seq = 4};
	if (store_open(path, 0, &s, err, sizeof(err)) != SQLITE_OK)
		fail_msg("store_open %s: %s", path, err);
	assert_int_equal(store_begin(s), SQLITE_OK);
	for (int i = 0; i < 3; i++) {
		char uuid[16];
		struct node_row n = {.kind = (char *)"Object", .data = (char *)"{\"v\":1}",
				     .version = 1, .seq = i + 1, .updated_by = (char *)"alice"};
		snprintf(uuid, sizeof(uuid), i ? "node-%d" : "keep-me", i);
		n.uuid = uuid;
		assert_int_equal(store_node_insert(s, &n), SQLITE_OK);
	}
	assert_int_equal(store_node_tombstone(s, "node-2", 5, "alice", 1), SQLITE_OK);
	assert_int_equal(store_task_insert(s, &t), SQLITE_OK);
	assert_int_equal(store_task_insert(s, &t), SQLITE_OK);
	assert_int_equal(store_task_tombstone(s, t.id, 6, 1), SQLITE_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(store_chat_insert(s, "bob", "hi", 1, 7 + i, &id), SQLITE_OK);
	assert_int_equal(store_user_touch(s, "alice", "user", NULL, 1), SQLITE_OK);
	assert_int_equal(store_user_touch(s, "bob", "user", NULL, 1), SQLITE_OK);
	assert_int_equal(store_meta_set_int(s, "seq", 11), SQLITE_OK);
	assert_int_equal(store_meta_set_int(s, "initialized", 1), SQLITE_OK);
	assert_int_equal(store_commit(s), SQLITE_OK);
	if (out)
		*out = s;
	else
		store_close(s);
}

static int check_db(const char *path, int full, char *err, size_t errlen)
{
	sqlite3 *db;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = store_check_db(db, full, err, errlen);
	sqlite3_close(db);
	return rc;
}

static void test_run_real_session(void **state)
{
	char *dir = tu_mkdtemp(), db[4200], path[4400], err[256], *epoch;
	struct store *s;
	struct backup_job *j;
	struct stat st;
	json_t *meta;
	(void)state;
	snprintf(db, sizeof(db), "%s/session.db", dir);
	make_session(db, &s); /* still open: the save must see what is in the WAL */
	assert_int_equal(store_meta_get_text(s, "epoch", &epoch), SQLITE_OK);
	j = backup_job_new("s1", dir, "admin", 10);
	backup_run(j);
	if (!j->ok)
		fail_msg("backup_run: %s", j->error);
	assert_int_equal(strncmp(j->backup, "snapshot_", 9), 0);
	snprintf(path, sizeof(path), "%s/backups/%s", dir, j->backup);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(j->bytes, st.st_size);
	assert_int_equal(check_db(path, 0, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(check_db(path, 1, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(j->node_count, 2);
	assert_int_equal(j->task_count, 1);
	assert_int_equal(j->chat_count, 4);
	assert_int_equal(j->user_count, 2);
	assert_int_equal(j->seq, 11);
	assert_int_equal(j->initialized, 1);
	assert_string_equal(j->epoch, epoch);

	snprintf(path, sizeof(path), "%s/session_metadata.json", dir);
	meta = json_load_file(path, 0, NULL);
	assert_non_null(meta);
	assert_string_equal(json_string_value(json_object_get(meta, "backup")), j->backup);
	assert_string_equal(json_string_value(json_object_get(meta, "reason")), "admin");
	assert_string_equal(json_string_value(json_object_get(meta, "epoch")), epoch);
	assert_int_equal(json_integer_value(json_object_get(meta, "node_count")), 2);
	assert_int_equal(json_integer_value(json_object_get(meta, "task_count")), 1);
	assert_int_equal(json_integer_value(json_object_get(meta, "chat_count")), 4);
	assert_int_equal(json_integer_value(json_object_get(meta, "user_count")), 2);
	assert_int_equal(json_integer_value(json_object_get(meta, "seq")), 11);
	assert_true(json_is_true(json_object_get(meta, "initialized")));
	assert_non_null(json_object_get(meta, "timestamp"));
	assert_non_null(json_object_get(meta, "datetime"));
	json_decref(meta);
	backup_job_free(j);
	free(epoch);
	store_close(s);
	tu_rmtree(dir);
	free(dir);
}

static void test_run_rotates(void **state)
{
	char *dir = tu_mkdtemp(), db[4200], bdir[4300], **names;
	int n;
	(void)state;
	snprintf(db, sizeof(db), "%s/session.db", dir);
	make_session(db, NULL);
	for (int i = 0; i < 4; i++) {
		struct backup_job *j = backup_job_new("s1", dir, "auto-save", 2);
		backup_run(j);
		assert_true(j->ok);
		assert_int_equal(j->removed, i < 2 ? 0 : 1);
		backup_job_free(j);
	}
	snprintf(bdir, sizeof(bdir), "%s/backups", dir);
	n = backup_list(bdir, &names);
	assert_int_equal(n, 2);
	backup_list_free(names, n);
	tu_rmtree(dir);
	free(dir);
}

/* The one "session.db.corrupt-*" file in dir, or "" */
static void find_aside(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	*out = 0;
	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, "session.db.corrupt-", 19) == 0 && !strchr(e->d_name + 19, '-')) {
			snprintf(out, outlen, "%s/%s", dir, e->d_name);
			found++;
		}
	if (d)
		closedir(d);
	assert_int_equal(found, 1);
}

static void recover_case(const char *fixture_name, int with_good_backup)
{
	char *dir = tu_mkdtemp(), fixture[4200], db[4300], bdir[4300], p[4400], used[256], err[256];
	char aside[4400], *a, *b;
	size_t na, nb;
	struct store *s;
	struct node_row n;
	int rc;

	tu_src_path(fixture, sizeof(fixture), fixture_name);
	snprintf(db, sizeof(db), "%s/session.db", dir);
	snprintf(bdir, sizeof(bdir), "%s/backups", dir);
	assert_int_equal(mkdir(bdir, 0700), 0);
	if (with_good_backup) {
		/* An older good one (empty) and a newer good one (with rows). */
		snprintf(p, sizeof(p), "%s/snapshot_20231231_000000.db", bdir);
		assert_int_equal(store_open(p, 0, &s, err, sizeof(err)), SQLITE_OK);
		store_close(s);
		snprintf(p, sizeof(p), "%s/snapshot_20240101_000000.db", bdir);
		make_session(p, NULL);
	}
	/* The newest backup is corrupt too. */
	snprintf(p, sizeof(p), "%s/snapshot_20240102_000000.db", bdir);
	assert_int_equal(tu_copy_file(fixture, p), 0);
	assert_int_equal(tu_copy_file(fixture, db), 0);

	rc = backup_recover(dir, used, sizeof(used), err, sizeof(err));
	assert_int_equal(rc, with_good_backup ? 1 : 2);
	/* The bad file is kept, byte for byte. */
	find_aside(dir, aside, sizeof(aside));
	a = tu_read_file(aside, &na);
	b = tu_read_file(fixture, &nb);
	assert_true(a && b && na == nb && memcmp(a, b, na) == 0);
	free(a);
	free(b);
	if (with_good_backup) {
		assert_string_equal(used, "snapshot_20240101_000000.db");
		assert_int_equal(check_db(db, 1, err, sizeof(err)), SQLITE_OK);
		assert_int_equal(store_open(db, 0, &s, err, sizeof(err)), SQLITE_OK);
		assert_int_equal(store_node_get(s, "keep-me", &n), SQLITE_OK);
		node_row_free(&n);
		store_close(s);
	} else {
		assert_string_equal(used, strrchr(aside, '/') + 1);
		assert_false(tu_exists(db));
	}
	/* The corrupt backup is left where it was. */
	assert_true(tu_exists(p));
	tu_rmtree(dir);
	free(dir);
}

/* A clock stepped back: the new backup's name sorts as oldest, but it is
 * the newest by the order backups were made, so rotation keeps it and
 * removes the one made before it. */
static void test_rotation_survives_clock_step_back(void **state)
{
	char *dir = tu_mkdtemp(), db[4200], bdir[4300], path[4400], **names;
	char first[96], second[96];
	int n;
	(void)state;
	snprintf(db, sizeof(db), "%s/session.db", dir);
	make_session(db, NULL);
	snprintf(bdir, sizeof(bdir), "%s/backups", dir);
	for (int i = 0; i < 2; i++) {
		struct backup_job *j = backup_job_new("s1", dir, "auto-save", 1);
		j->now = i == 0 ? 1796000000 : 1796000000 - 86400; /* a day back */
		backup_run(j);
		assert_true(j->ok);
		snprintf(i == 0 ? first : second, sizeof(first), "%s", j->backup);
		assert_int_equal(j->order, i + 1);
		assert_int_equal(j->removed, i);
		backup_job_free(j);
	}
	assert_true(backup_name_cmp(second, first) < 0); /* its name sorts older */
	n = backup_list_by_age(bdir, &names);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], second);
	backup_list_free(names, n);
	snprintf(path, sizeof(path), "%s/%s", bdir, first);
	assert_int_not_equal(access(path, F_OK), 0);
	tu_rmtree(dir);
	free(dir);
}

/* Which names the clean-up of interrupted saves removes, and which it keeps. */
static void test_own_temp_names(void **state)
{
	(void)state;
	assert_true(backup_is_own_temp(".tmp-snapshot_20261130_120000.db", 1));
	assert_true(backup_is_own_temp(".tmp-snapshot_20261130_120000_3.db", 1));
	assert_true(backup_is_own_temp(".tmp-snapshot_20261130_120000_3.db-journal", 1));
	assert_true(backup_is_own_temp(".tmp-snapshot_20261130_120000.db-wal", 1));
	assert_false(backup_is_own_temp("snapshot_20261130_120000.db", 1));      /* a backup */
	assert_false(backup_is_own_temp(".tmp-snapshot_2026113_120000.db", 1));  /* bad stamp */
	assert_false(backup_is_own_temp(".tmp-snapshot_20261130_120000.db.bak", 1));
	assert_false(backup_is_own_temp(".tmp-notes.txt", 1));
	assert_false(backup_is_own_temp("tmp-snapshot_20261130_120000.db", 1));
	assert_false(backup_is_own_temp("session_metadata.json.tmp", 1));        /* wrong dir */
	assert_true(backup_is_own_temp("session_metadata.json.tmp", 0));
	assert_true(backup_is_own_temp("session.db.restore", 0));
	assert_false(backup_is_own_temp(".tmp-snapshot_20261130_120000.db", 0)); /* wrong dir */
	assert_false(backup_is_own_temp("session.db", 0));
	assert_false(backup_is_own_temp("session.db-wal", 0));
	assert_false(backup_is_own_temp("session.db.corrupt-20261130_120000", 0));
}

static void test_clean_temps_removes_only_own(void **state)
{
	char *dir = tu_mkdtemp(), path[4400];
	static const char *const keep[] = {"backups/snapshot_20261130_120000.db",
					   "backups/.tmp-notes.txt", "backups/README",
					   "session.db.corrupt-20261130_120000", "notes.tmp"};
	static const char *const drop[] = {"backups/.tmp-snapshot_20261130_120001.db",
					   "backups/.tmp-snapshot_20261130_120001.db-journal",
					   "session_metadata.json.tmp", "session.db.restore"};
	(void)state;
	snprintf(path, sizeof(path), "%s/backups", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, keep[i]);
		assert_int_equal(tu_write_file(path, "k", 1), 0);
	}
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, drop[i]);
		assert_int_equal(tu_write_file(path, "dd", 2), 0);
	}
	assert_int_equal(backup_clean_temps(dir), 4);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, keep[i]);
		assert_int_equal(access(path, F_OK), 0);
	}
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, drop[i]);
		assert_int_not_equal(access(path, F_OK), 0);
	}
	assert_int_equal(backup_clean_temps(dir), 0);
	tu_rmtree(dir);
	free(dir);
}

static void test_recover_good_db(void **state)
{
	char *dir = tu_mkdtemp(), db[4300], used[256] = "x", err[256], *before, *after;
	size_t nb, na;
	(void)state;
	snprintf(db, sizeof(db), "%s/session.db", dir);
	make_session(db, NULL);
	before = tu_read_file(db, &nb);
	assert_int_equal(backup_recover(dir, used, sizeof(used), err, sizeof(err)), 0);
	assert_string_equal(used, "");
	after = tu_read_file(db, &na);
	assert_true(na == nb && memcmp(before, after, na) == 0);
	free(before);
	free(after);
	tu_rmtree(dir);
	free(dir);
	/* An empty session directory (no database, no backups) is fine too. */
	dir = tu_mkdtemp();
	assert_int_equal(backup_recover(dir, used, sizeof(used), err, sizeof(err)), 0);
	tu_rmtree(dir);
	free(dir);
}

static void test_recover_corrupt_header(void **state)
{
	(void)state;
	recover_case("tests/fixtures/corrupt_header.db", 1);
}

static void test_recover_truncated(void **state)
{
	(void)state;
	recover_case("tests/fixtures/corrupt_truncated.db", 1);
}

static void test_recover_zeroed_pages(void **state)
{
	(void)state;
	recover_case("tests/fixtures/corrupt_zeroed.db", 1);
}

static void test_recover_no_good_backup(void **state)
{
	(void)state;
	recover_case("tests/fixtures/corrupt_zeroed.db", 0);
	recover_case("tests/fixtures/corrupt_header.db", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_name_collisions),
		cmocka_unit_test(test_name_order),
		cmocka_unit_test(test_list_newest_first),
		cmocka_unit_test(test_rotate_keeps_newest),
		cmocka_unit_test(test_metadata_json),
		cmocka_unit_test(test_run_real_session),
		cmocka_unit_test(test_run_rotates),
		cmocka_unit_test(test_rotation_survives_clock_step_back),
		cmocka_unit_test(test_own_temp_names),
		cmocka_unit_test(test_clean_temps_removes_only_own),
		cmocka_unit_test(test_recover_good_db),
		cmocka_unit_test(test_recover_corrupt_header),
		cmocka_unit_test(test_recover_truncated),
		cmocka_unit_test(test_recover_zeroed_pages),
		cmocka_unit_test(test_recover_no_good_backup),
	};
	log_set_level((enum log_level)(LOG_ERROR + 1)); /* recovery logs errors on purpose */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
