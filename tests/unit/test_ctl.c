/* test_ctl.c - sessionctl's logic (ctl_*.c) without a process: opening
 * errors, info, verify and the problems it names, backup + restore (new
 * epoch, old file kept), export -> import -> export byte-identical, diff,
 * the DATA_DIR lock, base64 and SHA-256. Sessions are made with store.c as
 * the server makes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <sys/file.h>

#include "ctl.h"
#include "store.h"
#include "testutil.h"

/* DATA_DIR/NAME/session.db with n nodes (a chain of deps), one task, one
 * chat message, seq = n + 2. */
static void make_session(const char *data_dir, const char *name, int n)
{
	char dir[4200], db[4300], err[256];
	struct store *s;
	snprintf(dir, sizeof(dir), "%s/%s", data_dir, name);
	mkdir(dir, 0700);
	snprintf(db, sizeof(db), "%s/session.db", dir);
	assert_int_equal(store_open(db, 0, &s, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(store_begin(s), SQLITE_OK);
	for (int i = 0; i < n; i++) {
		char uuid[16], prev[16], data[64];
		struct node_row r = {0};
		snprintf(uuid, sizeof(uuid), "n%d", i);
		snprintf(prev, sizeof(prev), "n%d", i - 1);
		snprintf(data, sizeof(data), "{\"name\":\"%s\",\"x\":%d}", uuid, i);
		r.uuid = uuid;
		r.kind = "Object";
		r.data = data;
		r.version = 1;
		r.seq = i + 1;
		r.updated_by = "alice";
		r.updated_at = 1736695945.5;
		assert_int_equal(store_node_insert(s, &r), SQLITE_OK);
		if (i) {
			json_t *deps = json_pack("[s]", prev);
			assert_int_equal(store_node_set_deps(s, uuid, deps), SQLITE_OK);
			json_decref(deps);
		}
	}
	{
		struct task_row t = {.title = "paint", .status = "todo", .created_by = "alice",
				     .created_at = 1.25, .updated_at = 1.25, .seq = n + 1};
		int64_t id;
		assert_int_equal(store_task_insert(s, &t), SQLITE_OK);
		assert_int_equal(store_chat_insert(s, "alice", "hi", 2.5, n + 2, &id), SQLITE_OK);
	}
	assert_int_equal(store_user_touch(s, "alice", "user", "#ff0000", 1.0), SQLITE_OK);
	assert_int_equal(store_meta_set_int(s, "seq", n + 2), SQLITE_OK);
	assert_int_equal(store_commit(s), SQLITE_OK);
	store_close(s);
}

static void exec_on(const char *db, const char *sql)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void test_open_errors(void **state)
{
	char *d = tu_mkdtemp(), p[4200], db[4300], err[CTL_ERRLEN];
	sqlite3 *h;
	int v;
	json_t *o;
	(void)state;
	snprintf(p, sizeof(p), "%s/missing.db", d);
	assert_int_equal(ctl_info(p, &o, err, sizeof(err)), CTL_ERROR);
	assert_non_null(strstr(err, "No such file"));
	snprintf(p, sizeof(p), "%s/text.db", d);
	tu_write_file(p, "hello, this is text and nothing else", 36);
	assert_int_equal(ctl_open_ro(p, 0, &h, &v, err, sizeof(err)), CTL_ERROR);
	assert_non_null(strstr(err, "not an SQLite database"));
	make_session(d, "s", 2);
	snprintf(db, sizeof(db), "%s/s/session.db", d);
	exec_on(db, "PRAGMA user_version = 999");
	assert_int_equal(ctl_open_ro(db, 0, &h, &v, err, sizeof(err)), CTL_ERROR);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(ctl_open_ro(db, 1, &h, &v, err, sizeof(err)), CTL_OK);
	assert_int_equal(v, 999);
	sqlite3_close(h);
	tu_rmtree(d);
	free(d);
}

static void test_info_and_verify(void **state)
{
	char *d = tu_mkdtemp(), dir[4200], db[4300], err[CTL_ERRLEN];
	json_t *o, *problems;
	(void)state;
	make_session(d, "s", 4);
	snprintf(dir, sizeof(dir), "%s/s", d);
	snprintf(db, sizeof(db), "%s/session.db", dir);
	assert_int_equal(ctl_info(dir, &o, err, sizeof(err)), CTL_OK);
	assert_int_equal(json_integer_value(json_object_get(o, "nodes")), 4);
	assert_int_equal(json_integer_value(json_object_get(o, "tasks")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "chat")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 6);
	assert_int_equal(json_integer_value(json_object_get(o, "schema_version")),
			 store_migration_count);
	assert_true(json_is_null(json_object_get(o, "backup")));
	json_decref(o);
	assert_int_equal(ctl_verify(dir, &problems, err, sizeof(err)), CTL_OK);
	assert_int_equal(json_array_size(problems), 0);
	json_decref(problems);

	/* seq below the rows, deps of a missing node, a data that is no object */
	exec_on(db, "PRAGMA foreign_keys = OFF; UPDATE meta SET value = 1 WHERE key = 'seq'; "
		"INSERT INTO node_deps VALUES ('ghost', 0, 'n1'); "
		"UPDATE nodes SET data = '[1]' WHERE uuid = 'n0';");
	assert_int_equal(ctl_verify(dir, &problems, err, sizeof(err)), CTL_FAILED);
	assert_int_equal(json_array_size(problems), 3);
	assert_non_null(strstr(json_string_value(json_array_get(problems, 0)), "seq 1 is below"));
	assert_non_null(strstr(json_string_value(json_array_get(problems, 1)), "ghost"));
	assert_non_null(strstr(json_string_value(json_array_get(problems, 2)), "n0"));
	json_decref(problems);
	tu_rmtree(d);
	free(d);
}

static void test_verify_blobs(void **state)
{
	char *d = tu_mkdtemp(), db[4300], err[CTL_ERRLEN], sql[512], h[65];
	json_t *problems;
	(void)state;
	make_session(d, "s", 1);
	snprintf(db, sizeof(db), "%s/s/session.db", d);
	exec_on(db, "CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, size INTEGER NOT "
		"NULL, data BLOB NOT NULL, created_at REAL NOT NULL, created_by TEXT)");
	ctl_sha256_hex("abc", 3, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	snprintf(sql, sizeof(sql), "DELETE FROM blobs; INSERT INTO blobs (hash, size, data, "
		 "created_at, created_by) VALUES ('%s', 3, CAST('abc' AS BLOB), 0, 'a'), "
		 "('%064d', 3, CAST('abd' AS BLOB), 0, 'a')", h, 0);
	exec_on(db, sql);
	assert_int_equal(ctl_verify(db, &problems, err, sizeof(err)), CTL_FAILED);
	assert_int_equal(json_array_size(problems), 1);
	assert_non_null(strstr(json_string_value(json_array_get(problems, 0)), "hash to"));
	json_decref(problems);
	tu_rmtree(d);
	free(d);
}

static void test_backup_restore(void **state)
{
	char *d = tu_mkdtemp(), dir[4200], dest[4200], path[CTL_PATH], err[CTL_ERRLEN];
	json_t *o, *before;
	DIR *dd;
	struct dirent *e;
	int aside = 0;
	(void)state;
	make_session(d, "s", 3);
	snprintf(dir, sizeof(dir), "%s/s", d);
	snprintf(dest, sizeof(dest), "%s/copies", d);
	mkdir(dest, 0700);
	assert_int_equal(ctl_backup(dir, dest, 0, path, sizeof(path), err, sizeof(err)), CTL_OK);
	assert_non_null(strstr(path, "/copies/s-"));
	assert_int_equal(ctl_info(path, &o, err, sizeof(err)), CTL_OK);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "backup"),
							      "reason")), "sessionctl");
	json_decref(o);
	assert_int_equal(ctl_info(dir, &before, err, sizeof(err)), CTL_OK);
	snprintf(dest, sizeof(dest), "%s/session.db", dir);
	exec_on(dest, "INSERT INTO nodes VALUES ('late', 'Mesh', '{}', NULL, 1, 7, 'b', 3.0, 0)");
	assert_int_equal(ctl_restore(dir, path, &o, err, sizeof(err)), CTL_OK);
	assert_int_equal(json_integer_value(json_object_get(o, "nodes")), 3);
	assert_string_not_equal(json_string_value(json_object_get(o, "epoch")),
				json_string_value(json_object_get(before, "epoch")));
	assert_true(json_is_null(json_object_get(o, "backup")) ||
		    json_is_string(json_object_get(o, "backup")));
	json_decref(o);
	json_decref(before);
	dd = opendir(dir);
	while ((e = readdir(dd)))
		aside += strncmp(e->d_name, "session.db.before-restore-", 26) == 0;
	closedir(dd);
	assert_int_equal(aside, 1);
	tu_rmtree(d);
	free(d);
}

static void test_lock(void **state)
{
	char *d = tu_mkdtemp(), p[4200], err[CTL_ERRLEN];
	int fd, mine;
	(void)state;
	assert_int_equal(ctl_server_running(d), 0);
	snprintf(p, sizeof(p), "%s/.sessiond.lock", d);
	fd = open(p, O_RDWR | O_CREAT, 0600);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(ctl_server_running(d), 1);
	assert_int_equal(ctl_lock_data_dir(d, "do X", &mine, err, sizeof(err)), CTL_ERROR);
	assert_non_null(strstr(err, "do X"));
	close(fd);
	assert_int_equal(ctl_server_running(d), 0);
	assert_int_equal(ctl_lock_data_dir(d, "do X", &mine, err, sizeof(err)), CTL_OK);
	close(mine);
	tu_rmtree(d);
	free(d);
}

static char *export_to_string(const char *path)
{
	char err[CTL_ERRLEN], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(ctl_export(path, 1, f, err, sizeof(err)), CTL_OK);
	fclose(f);
	return buf;
}

static void test_export_import_round_trip(void **state)
{
	char *d = tu_mkdtemp(), dir[4200], file[4200], to[4200], err[CTL_ERRLEN];
	char *e1, *e2;
	json_t *o;
	(void)state;
	make_session(d, "s", 3);
	snprintf(dir, sizeof(dir), "%s/s", d);
	e1 = export_to_string(dir);
	snprintf(file, sizeof(file), "%s/e.json", d);
	tu_write_file(file, e1, strlen(e1));
	snprintf(to, sizeof(to), "%s/t", d);
	assert_int_equal(ctl_import(to, file, &o, err, sizeof(err)), CTL_OK);
	json_decref(o);
	e2 = export_to_string(to);
	assert_string_equal(e1, e2);
	assert_int_equal(ctl_import(to, file, &o, err, sizeof(err)), CTL_ERROR);
	assert_non_null(strstr(err, "exists"));
	free(e1);
	free(e2);
	tu_rmtree(d);
	free(d);
}

static void test_diff(void **state)
{
	char *d = tu_mkdtemp(), a[4200], b[4300], err[CTL_ERRLEN];
	json_t *o, *n;
	(void)state;
	make_session(d, "a", 3);
	make_session(d, "b", 3);
	snprintf(a, sizeof(a), "%s/a", d);
	snprintf(b, sizeof(b), "%s/b/session.db", d);
	exec_on(b, "UPDATE nodes SET data = '{\"name\":\"n1\",\"x\":9,\"y\":1}' WHERE uuid = 'n1'; "
		"UPDATE nodes SET deleted = 1, data = NULL WHERE uuid = 'n2'; "
		"DELETE FROM node_deps WHERE uuid = 'n2';"
		"INSERT INTO nodes VALUES ('z', 'Mesh', '{}', NULL, 1, 9, 'b', 3.0, 0);"
		"INSERT INTO chat (user, text, ts, seq) VALUES ('b', 'yo', 3.5, 10);");
	assert_int_equal(ctl_diff(a, b, &o, err, sizeof(err)), CTL_OK);
	n = json_object_get(o, "nodes");
	assert_int_equal(json_array_size(json_object_get(n, "added")), 1);
	assert_int_equal(json_array_size(json_object_get(n, "removed")), 1);
	assert_int_equal(json_array_size(json_object_get(n, "changed")), 1);
	{
		json_t *c = json_array_get(json_object_get(n, "changed"), 0);
		json_t *keys = json_object_get(c, "keys");
		assert_string_equal(json_string_value(json_object_get(c, "uuid")), "n1");
		assert_int_equal(json_array_size(keys), 2);
		assert_string_equal(json_string_value(json_array_get(keys, 0)), "x");
		assert_string_equal(json_string_value(json_array_get(keys, 1)), "y");
	}
	assert_int_equal(json_array_size(json_object_get(json_object_get(o, "chat"), "added")), 1);
	assert_false(json_is_true(json_object_get(o, "same_history")));
	json_decref(o);
	tu_rmtree(d);
	free(d);
}

static void test_base64(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					  "Zm9vYmFy"};
	char out[32];
	unsigned char back[32];
	(void)state;
	for (int i = 0; i < 7; i++) {
		size_t n = ctl_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), out);
		assert_string_equal(out, enc[i]);
		assert_int_equal(ctl_base64_decode(out, n, back), (long)strlen(plain[i]));
		assert_memory_equal(back, plain[i], strlen(plain[i]));
	}
	assert_int_equal(ctl_base64_decode("Zm9", 3, back), -1);
	assert_int_equal(ctl_base64_decode("Zm!v", 4, back), -1);
	assert_int_equal(ctl_base64_decode("Z=9v", 4, back), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_info_and_verify),
		cmocka_unit_test(test_verify_blobs),
		cmocka_unit_test(test_backup_restore),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_export_import_round_trip),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
