/* test_restore.c - restore.c: the backup mark gives a new epoch once, the
 * metadata after a restore, pinning a backup by name, verifying one, and
 * installing one with the old database kept aside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <sqlite3.h>

#include "restore.h"
#include "store.h"
#include "testutil.h"

static struct store *open_store(const char *path)
{
	struct store *s;
	char err[256];
	assert_int_equal(store_open(path, 0, &s, err, sizeof(err)), SQLITE_OK);
	return s;
}

static char *epoch_of(struct store *s)
{
	char *e = NULL;
	assert_int_equal(store_meta_get_text(s, "epoch", &e), SQLITE_OK);
	return e;
}

static void test_claim_mark_once(void **state)
{
	char *d = tu_mkdtemp(), db[4200], from[64], err[256], *e0, *e1, *e2;
	struct store *s;
	json_t *meta;
	(void)state;
	snprintf(db, sizeof(db), "%s/session.db", d);
	s = open_store(db);
	e0 = epoch_of(s);
	assert_int_equal(restore_claim_mark(s, from, sizeof(from), err, sizeof(err)), 0);
	assert_int_equal(store_meta_set_text(s, "backup_reason", "admin"), SQLITE_OK);
	assert_int_equal(store_meta_set_int(s, "backup_created_at", 1736695945), SQLITE_OK);
	assert_int_equal(store_meta_set_text(s, "restored_from", "snapshot_x.db"), SQLITE_OK);
	assert_int_equal(restore_claim_mark(s, from, sizeof(from), err, sizeof(err)), 1);
	assert_string_equal(from, "snapshot_x.db");
	e1 = epoch_of(s);
	assert_string_not_equal(e0, e1);
	assert_int_equal(restore_claim_mark(s, from, sizeof(from), err, sizeof(err)), 0);
	e2 = epoch_of(s);
	assert_string_equal(e1, e2);
	assert_string_equal(from, ""); /* unmarked: nothing to name */
	assert_int_equal(restore_write_metadata(d, s, "snapshot_x.db"), 0);
	snprintf(db, sizeof(db), "%s/session_metadata.json", d);
	meta = json_load_file(db, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(meta, "reason")), "restore");
	assert_string_equal(json_string_value(json_object_get(meta, "epoch")), e1);
	assert_string_equal(json_string_value(json_object_get(meta, "backup")), "snapshot_x.db");
	json_decref(meta);
	free(e0);
	free(e1);
	free(e2);
	store_close(s);
	tu_rmtree(d);
	free(d);
}

static void test_pin_verify_install(void **state)
{
	char *d = tu_mkdtemp(), p[4300], pin[4400], aside[4400], err[512], fx[4200];
	struct store *s;
	DIR *dd;
	struct dirent *e;
	int kept = 0;
	(void)state;
	snprintf(p, sizeof(p), "%s/backups", d);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/backups/snapshot_20260101_000000.db", d);
	s = open_store(p);
	assert_int_equal(store_meta_set_int(s, "seq", 42), SQLITE_OK);
	store_close(s);
	snprintf(p, sizeof(p), "%s/session.db", d);
	store_close(open_store(p));

	assert_int_equal(restore_pin(d, "../session.db", pin, sizeof(pin), err, sizeof(err)), -1);
	assert_int_equal(restore_pin(d, ".hidden", pin, sizeof(pin), err, sizeof(err)), -1);
	assert_int_equal(restore_pin(d, "snapshot_19990101_000000.db", pin, sizeof(pin), err,
				     sizeof(err)), -1);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(restore_pin(d, "snapshot_20260101_000000.db", pin, sizeof(pin), err,
				     sizeof(err)), 0);
	assert_int_equal(restore_verify(pin, err, sizeof(err)), 0);
	tu_src_path(fx, sizeof(fx), "tests/fixtures/corrupt_zeroed.db");
	assert_int_equal(restore_verify(fx, err, sizeof(err)), -1);

	assert_int_equal(restore_install(d, pin, "snapshot_20260101_000000.db", aside,
					 sizeof(aside), err, sizeof(err)), 0);
	s = open_store(p);
	{
		int64_t seq = 0;
		char *from = NULL;
		assert_int_equal(store_meta_get_int(s, "seq", &seq), SQLITE_OK);
		assert_int_equal(seq, 42);
		assert_int_equal(store_meta_get_text(s, "restored_from", &from), SQLITE_OK);
		assert_string_equal(from, "snapshot_20260101_000000.db");
		free(from);
	}
	store_close(s);
	dd = opendir(d);
	while ((e = readdir(dd)))
		kept += strncmp(e->d_name, "session.db.before-restore-", 26) == 0;
	closedir(dd);
	assert_int_equal(kept, 1);
	assert_non_null(strstr(aside, "session.db.before-restore-"));
	tu_rmtree(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_mark_once),
		cmocka_unit_test(test_pin_verify_install),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
