/* test_origin.c - the browser rule (PROTOCOL.md 1): which Origin headers
 * are the server's own, and what ALLOWED_ORIGINS adds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "origin.h"

static void test_own_origin(void **state)
{
	(void)state;
	assert_true(origin_allowed("http://127.0.0.1:5560", "127.0.0.1:5560", 0, ""));
	assert_true(origin_allowed("HTTP://LocalHost:5560", "localhost:5560", 0, ""));
	assert_true(origin_allowed("http://[::1]:5560", "[::1]:5560", 0, ""));
	assert_true(origin_allowed("https://studio.example:443", "studio.example", 1, ""));
	assert_true(origin_allowed("https://studio.example", "studio.example:443", 1, ""));
	assert_true(origin_allowed("http://studio.example", "studio.example:80", 0, ""));
	assert_true(origin_allowed("http://127.0.0.1:5560/", "127.0.0.1:5560", 0, ""));
}

static void test_foreign_origin(void **state)
{
	(void)state;
	/* another host, port or scheme */
	assert_false(origin_allowed("http://evil.example", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("http://127.0.0.1:8080", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("https://127.0.0.1:5560", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("http://127.0.0.1:5560", "127.0.0.1:5560", 1, ""));
	assert_false(origin_allowed("http://127.0.0.1", "127.0.0.1:5560", 0, ""));
	/* prefix and suffix tricks */
	assert_false(origin_allowed("http://127.0.0.1:55601", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("http://127.0.0.1.evil:5560", "127.0.0.1:5560", 0, ""));
	/* opaque and malformed origins, missing Host */
	assert_false(origin_allowed("null", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("file://", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("http://", "127.0.0.1:5560", 0, ""));
	assert_false(origin_allowed("http://a:0", "a:0", 0, ""));
	assert_false(origin_allowed("http://a:99999", "a:99999", 0, ""));
	assert_false(origin_allowed("http://127.0.0.1:5560", NULL, 0, ""));
	assert_false(origin_allowed("http://[::1", "[::1", 0, ""));
}

static void test_allowed_list(void **state)
{
	const char *list = "https://studio.example, http://tools.example:8080 ,http://[::1]:9000";
	(void)state;
	assert_true(origin_allowed("https://studio.example", "127.0.0.1:5560", 0, list));
	assert_true(origin_allowed("https://STUDIO.example:443", "127.0.0.1:5560", 0, list));
	assert_true(origin_allowed("http://tools.example:8080", "127.0.0.1:5560", 0, list));
	assert_true(origin_allowed("http://[::1]:9000", "127.0.0.1:5560", 0, list));
	assert_false(origin_allowed("http://studio.example", "127.0.0.1:5560", 0, list));
	assert_false(origin_allowed("http://tools.example", "127.0.0.1:5560", 0, list));
	assert_false(origin_allowed("null", "127.0.0.1:5560", 0, list));
	/* "*" allows anything, even "null" */
	assert_true(origin_allowed("http://evil.example", "127.0.0.1:5560", 0, "*"));
	assert_true(origin_allowed("null", "127.0.0.1:5560", 0, "https://a.example,*"));
	/* empty entries are ignored */
	assert_false(origin_allowed("http://evil.example", "127.0.0.1:5560", 0, ",, ,"));
}

static void test_list_check(void **state)
{
	char bad[256];
	(void)state;
	assert_int_equal(origin_list_check("", bad, sizeof(bad)), 0);
	assert_int_equal(origin_list_check("*", bad, sizeof(bad)), 0);
	assert_int_equal(origin_list_check(" https://a.example , http://b:8080,", bad, sizeof(bad)),
			 0);
	assert_int_equal(origin_list_check("https://a.example, studio.example", bad, sizeof(bad)),
			 -1);
	assert_string_equal(bad, "studio.example");
	assert_int_equal(origin_list_check("ftp://x", bad, sizeof(bad)), -1);
	assert_string_equal(bad, "ftp://x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_origin),
		cmocka_unit_test(test_foreign_origin),
		cmocka_unit_test(test_allowed_list),
		cmocka_unit_test(test_list_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
