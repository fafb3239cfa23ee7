/* test_connguard.c - the cap on idle connections: per address (IPv6 by
 * /64) and in total, the oldest idle one dropped first, busy ones never,
 * a new one refused only when every other one is busy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "connguard.h"

static char keys[64];
#define K(i) ((void *)&keys[i])

static void test_per_address_drops_its_oldest(void **state)
{
	struct connguard *g = connguard_new(3, 100);
	const char *why = NULL;
	(void)state;
	for (int i = 0; i < 3; i++)
		assert_null(connguard_add(g, K(i), "10.0.0.1", 10 + i, &why));
	assert_null(connguard_add(g, K(10), "10.0.0.2", 5, &why)); /* another address */
	assert_ptr_equal(connguard_add(g, K(3), "10.0.0.1", 20, &why), K(0));
	assert_string_equal(why, "per_address");
	/* an answer makes a connection young again */
	connguard_busy(g, K(1), 1, 21);
	connguard_busy(g, K(1), 0, 30);
	assert_ptr_equal(connguard_add(g, K(4), "10.0.0.1", 31, &why), K(2));
	assert_int_equal(connguard_count(g), 4);
	connguard_free(g);
}

static void test_busy_is_never_dropped(void **state)
{
	struct connguard *g = connguard_new(2, 100);
	(void)state;
	assert_null(connguard_add(g, K(0), "10.0.0.1", 1, NULL));
	assert_null(connguard_add(g, K(1), "10.0.0.1", 2, NULL));
	connguard_busy(g, K(0), 1, 3);
	assert_ptr_equal(connguard_add(g, K(2), "10.0.0.1", 4, NULL), K(1));
	connguard_busy(g, K(2), 1, 5);
	/* every other one is busy: the new one goes */
	assert_ptr_equal(connguard_add(g, K(3), "10.0.0.1", 6, NULL), K(3));
	assert_int_equal(connguard_count(g), 2);
	/* gone ones free their place */
	connguard_remove(g, K(0));
	connguard_remove(g, K(0));
	assert_null(connguard_add(g, K(4), "10.0.0.1", 7, NULL));
	connguard_free(g);
}

static void test_total_drops_the_oldest_anywhere(void **state)
{
	struct connguard *g = connguard_new(10, 4);
	const char *why = NULL;
	(void)state;
	assert_null(connguard_add(g, K(0), "10.0.0.1", 5, &why));
	assert_null(connguard_add(g, K(1), "10.0.0.2", 1, &why));
	assert_null(connguard_add(g, K(2), "10.0.0.3", 7, &why));
	assert_null(connguard_add(g, K(3), "10.0.0.4", 3, &why));
	assert_ptr_equal(connguard_add(g, K(4), "10.0.0.5", 9, &why), K(1));
	assert_string_equal(why, "total");
	assert_ptr_equal(connguard_add(g, K(5), "10.0.0.5", 9, &why), K(3));
	assert_int_equal(connguard_count(g), 4);
	/* a WebSocket leaves the table */
	connguard_remove(g, K(4));
	assert_null(connguard_add(g, K(6), "10.0.0.9", 10, &why));
	connguard_free(g);
}

static void test_ipv6_by_prefix(void **state)
{
	struct connguard *g = connguard_new(2, 100);
	(void)state;
	assert_null(connguard_add(g, K(0), "2001:db8:1:2::1", 1, NULL));
	assert_null(connguard_add(g, K(1), "2001:db8:1:2:ffff::9", 2, NULL));
	/* same /64: the address cap applies */
	assert_ptr_equal(connguard_add(g, K(2), "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 3, NULL),
			 K(0));
	/* another /64, and IPv4-mapped addresses stay whole */
	assert_null(connguard_add(g, K(3), "2001:db8:1:3::1", 4, NULL));
	assert_null(connguard_add(g, K(4), "::ffff:10.0.0.1", 5, NULL));
	assert_null(connguard_add(g, K(5), "::ffff:10.0.0.2", 6, NULL));
	assert_null(connguard_add(g, K(6), "::ffff:10.0.0.3", 7, NULL));
	connguard_busy(NULL, K(0), 1, 0);  /* no guard yet: ignored */
	connguard_remove(NULL, K(0));
	connguard_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_address_drops_its_oldest),
		cmocka_unit_test(test_busy_is_never_dropped),
		cmocka_unit_test(test_total_drops_the_oldest_anywhere),
		cmocka_unit_test(test_ipv6_by_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
