/* test_retention.c - which backups rotation keeps (retention.c), and that
 * backup_rotate_keep removes exactly the others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "backup.h"
#include "retention.h"
#include "testutil.h"

/* newest first: three in one hour, two earlier hours of the same day, two
 * older days */
static char *names[] = {
	"snapshot_20261130_101500_2.db",
	"snapshot_20261130_101500_1.db",
	"snapshot_20261130_100100.db",
	"snapshot_20261130_095900.db",
	"snapshot_20261130_090000.db",
	"snapshot_20261129_235900.db",
	"snapshot_20261129_120000.db",
	"snapshot_20261127_080000.db",
};
#define N ((int)(sizeof(names) / sizeof(names[0])))

static void test_keep_last_only(void **state)
{
	unsigned f[N];
	(void)state;
	retention_plan(names, N, 2, 0, 0, f);
	assert_int_equal(f[0], RETAIN_LAST);
	assert_int_equal(f[1], RETAIN_LAST);
	for (int i = 2; i < N; i++)
		assert_int_equal(f[i], 0);
	/* the newest is kept whatever MAX_BACKUPS says */
	retention_plan(names, N, 0, 0, 0, f);
	assert_int_equal(f[0], RETAIN_LAST);
}

static void test_hourly_and_daily(void **state)
{
	unsigned f[N];
	(void)state;
	retention_plan(names, N, 1, 3, 2, f);
	/* hours with a backup, newest first: 10h (names[0]), 09h (names[3]),
	 * 29th 23h (names[5]); days: the 30th (names[0]), the 29th (names[5]) */
	assert_int_equal(f[0], RETAIN_LAST | RETAIN_HOURLY | RETAIN_DAILY);
	assert_int_equal(f[1], 0);
	assert_int_equal(f[2], 0);
	assert_int_equal(f[3], RETAIN_HOURLY);
	assert_int_equal(f[4], 0);
	assert_int_equal(f[5], RETAIN_HOURLY | RETAIN_DAILY);
	assert_int_equal(f[6], 0);
	assert_int_equal(f[7], 0);
	/* a week of days keeps the oldest day too */
	retention_plan(names, N, 1, 0, 7, f);
	assert_int_equal(f[7], RETAIN_DAILY);
	assert_int_equal(f[6], 0);
}

static void test_rotate_and_annotate(void **state)
{
	char *dir = tu_mkdtemp(), p[4400], **left;
	json_t *list;
	int n;
	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		assert_int_equal(tu_write_file(p, "x", 1), 0);
	}
	assert_int_equal(backup_rotate_keep(dir, 1, 3, 2), 5);
	n = backup_list(dir, &left);
	assert_int_equal(n, 3);
	assert_string_equal(left[0], names[0]);
	assert_string_equal(left[1], names[3]);
	assert_string_equal(left[2], names[5]);
	backup_list_free(left, n);
	list = json_pack("[{ss}{ss}]", "file", names[0], "file", names[3]);
	retention_annotate(list, 1, 3, 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(list, 0), "kept_by")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
		json_array_get(list, 1), "kept_by"), 0)), "hourly");
	json_decref(list);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_last_only),
		cmocka_unit_test(test_hourly_and_daily),
		cmocka_unit_test(test_rotate_and_annotate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
