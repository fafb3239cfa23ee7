/* test_authguard.c - password guessing (PROTOCOL.md 1) with an injected
 * clock: 10 failures within the window lock an address out for one window,
 * unchecked; other addresses are not affected; the table stays bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "authguard.h"
#include "fakesrv.h"

#define S 1000000LL

static void test_ten_failures_lock_out(void **state)
{
	struct authguard *g = authguard_new(60 * S);
	(void)state;
	for (int i = 1; i < AUTHGUARD_MAX_FAILURES; i++) {
		assert_int_equal(authguard_fail(g, "10.0.0.1", i * S), 0);
		assert_false(authguard_locked(g, "10.0.0.1", i * S));
	}
	assert_int_equal(authguard_fail(g, "10.0.0.1", 10 * S), 1);  /* locks: logged once */
	assert_true(authguard_locked(g, "10.0.0.1", 10 * S));
	assert_false(authguard_locked(g, "10.0.0.2", 10 * S));
	/* failures during the lock-out neither lock again nor extend it */
	assert_int_equal(authguard_fail(g, "10.0.0.1", 30 * S), 0);
	assert_true(authguard_locked(g, "10.0.0.1", 70 * S - 1));
	assert_false(authguard_locked(g, "10.0.0.1", 70 * S));
	/* afterwards the count starts again */
	for (int i = 1; i < AUTHGUARD_MAX_FAILURES; i++)
		assert_int_equal(authguard_fail(g, "10.0.0.1", 70 * S + i), 0);
	assert_false(authguard_locked(g, "10.0.0.1", 71 * S));
	assert_int_equal(authguard_fail(g, "10.0.0.1", 71 * S), 1);
	authguard_free(g);
}

static void test_window_slides(void **state)
{
	struct authguard *g = authguard_new(60 * S);
	(void)state;
	/* 9 failures, then a pause longer than the window: the count restarts */
	for (int i = 0; i < AUTHGUARD_MAX_FAILURES - 1; i++)
		assert_int_equal(authguard_fail(g, "a", i * S), 0);
	for (int i = 0; i < AUTHGUARD_MAX_FAILURES - 1; i++)
		assert_int_equal(authguard_fail(g, "a", 61 * S + i * S), 0);
	assert_false(authguard_locked(g, "a", 80 * S));
	assert_int_equal(authguard_fail(g, "a", 80 * S), 1);
	/* NULL guard: nothing kept, nothing locked */
	assert_int_equal(authguard_fail(NULL, "a", 0), 0);
	assert_false(authguard_locked(NULL, "a", 0));
	authguard_free(g);
}

static void test_table_is_bounded(void **state)
{
	struct authguard *g = authguard_new(60 * S);
	char addr[48];
	(void)state;
	for (int i = 0; i < AUTHGUARD_MAX_FAILURES; i++)
		authguard_fail(g, "locked", i);
	/* a flood of other addresses cannot push the locked one out */
	for (int i = 0; i < 3 * AUTHGUARD_SLOTS; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		authguard_fail(g, addr, 1 * S + i);
	}
	assert_true(authguard_locked(g, "locked", 2 * S));
	authguard_free(g);
}

/* A table full of locked addresses: a new one takes the slot of the lock
 * that ends first, not the first slot's (whose address would otherwise be
 * unlocked again and again). */
static void test_full_of_locks_keeps_the_latest(void **state)
{
	struct authguard *g = authguard_new(60 * S);
	char addr[48];
	(void)state;
	/* "late" takes the first slot, and is locked last */
	for (int i = 0; i < AUTHGUARD_MAX_FAILURES - 1; i++)
		authguard_fail(g, "late", i);
	for (int i = 1; i < AUTHGUARD_SLOTS; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i >> 8, i & 255);
		for (int k = 0; k < AUTHGUARD_MAX_FAILURES; k++)
			authguard_fail(g, addr, 1 * S + i);
	}
	assert_int_equal(authguard_fail(g, "late", 2 * S), 1);
	authguard_fail(g, "newcomer", 3 * S);
	assert_true(authguard_locked(g, "late", 4 * S));
	/* the lock that ended first made room */
	assert_false(authguard_locked(g, "10.0.0.1", 4 * S));
	assert_true(authguard_locked(g, "10.0.0.2", 4 * S));
	authguard_free(g);
}

/* IPv6 addresses count per /64: rotating within it gains nothing. */
static void test_ipv6_counts_per_64(void **state)
{
	struct authguard *g = authguard_new(60 * S);
	char addr[64];
	(void)state;
	for (int i = 0; i < AUTHGUARD_MAX_FAILURES; i++) {
		snprintf(addr, sizeof(addr), "2001:db8:7:8:%x::%x", i + 1, i * 7 + 1);
		assert_int_equal(authguard_fail(g, addr, i), i == AUTHGUARD_MAX_FAILURES - 1);
	}
	assert_true(authguard_locked(g, "2001:db8:7:8:ffff:1:2:3", S));
	assert_false(authguard_locked(g, "2001:db8:7:9::1", S));
	/* IPv4 addresses are not grouped */
	for (int i = 0; i < AUTHGUARD_MAX_FAILURES; i++)
		authguard_fail(g, "192.0.2.1", i);
	assert_false(authguard_locked(g, "192.0.2.2", S));
	authguard_free(g);
}

/* The hello path: the 10th wrong password locks the address, after which
 * even the right password is refused with auth_failed, until the lock-out
 * ends; and the metric counts every refusal. */
static void test_hello_lockout(void **state)
{
	const char *const env[] = {"SERVER_PASSWORD=right", NULL};
	struct fake *f = fake_new(env);
	struct conn *c;
	(void)state;
	f->srv.auth_guard = authguard_new(3600 * S);
	for (int i = 0; i < AUTHGUARD_MAX_FAILURES; i++) {
		c = conn_new(&f->srv, "default", NULL);
		snprintf(c->peer, sizeof(c->peer), "192.0.2.7");
		send_raw(c, "{\"type\":\"hello\",\"id\":1,\"user\":\"u\",\"password\":\"wrong\"}");
		server_flush(&f->srv);
		expect_error(c, "auth_failed", 1);
		assert_int_equal(c->close_code, 4401);
	}
	c = conn_new(&f->srv, "default", NULL);
	snprintf(c->peer, sizeof(c->peer), "192.0.2.7");
	send_raw(c, "{\"type\":\"hello\",\"id\":2,\"user\":\"u\",\"password\":\"right\"}");
	server_flush(&f->srv);
	expect_error(c, "auth_failed", 2);
	assert_null(c->client);
	assert_int_equal(f->srv.metrics.auth_failures, AUTHGUARD_MAX_FAILURES + 1);
	/* another address is served */
	c = conn_new(&f->srv, "default", NULL);
	snprintf(c->peer, sizeof(c->peer), "192.0.2.8");
	send_raw(c, "{\"type\":\"hello\",\"id\":3,\"user\":\"v\",\"password\":\"right\"}");
	server_flush(&f->srv);
	json_decref(expect_type(c, "welcome"));
	authguard_free(f->srv.auth_guard);
	f->srv.auth_guard = NULL;
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ten_failures_lock_out),
		cmocka_unit_test(test_window_slides),
		cmocka_unit_test(test_table_is_bounded),
		cmocka_unit_test(test_full_of_locks_keeps_the_latest),
		cmocka_unit_test(test_ipv6_counts_per_64),
		cmocka_unit_test(test_hello_lockout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
