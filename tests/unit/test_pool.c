/* test_pool.c - the allocator of jansson: jansson values
 * built, freed and built again come back from the free lists (outside
 * AddressSanitizer, where the lists are off) and hold what was put in them;
 * a json_dumps string from pool_json_dumps is one of malloc; a thread's
 * release empties its lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "jsonparse.h"

#if defined(__SANITIZE_ADDRESS__)
#define POOLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOLED 0
#endif
#endif
#ifndef POOLED
#define POOLED 1
#endif

static const char REQ[] = "{\"type\":\"node.update\",\"id\":7,\"uuid\":\"cube\","
			  "\"patch\":{\"location\":[0,0,2],\"name\":\"Cube\"}}";

static json_t *parse(void)
{
	char err[128];
	json_t *v = jsonparse(REQ, sizeof(REQ) - 1, err, sizeof(err), NULL);
	assert_non_null(v);
	return v;
}

static void test_reuse(void **state)
{
	json_t *a, *b;
	char *s;
	size_t cached;
	(void)state;
	pool_thread_release();
	a = parse();
	assert_int_equal(pool_cached(), 0);
	json_decref(a);
	cached = pool_cached();
	if (POOLED)
		assert_true(cached > 5); /* the object, its table, pairs, strings, numbers */
	else
		assert_int_equal(cached, 0);
	b = parse();
	assert_true(pool_cached() < cached || !POOLED);
	s = pool_json_dumps(b, JSON_COMPACT);
	assert_string_equal(s, REQ);
	free(s); /* malloc's: free() takes it */
	assert_string_equal(json_string_value(json_object_get(b, "uuid")), "cube");
	json_decref(b);
	pool_thread_release();
	assert_int_equal(pool_cached(), 0);
}

static void test_large(void **state)
{
	char big[4000];
	json_t *v;
	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	v = json_pack("{ss si}", "blob", big, "n", 1);
	assert_int_equal(strlen(json_string_value(json_object_get(v, "blob"))), sizeof(big) - 1);
	json_decref(v);
	pool_thread_release();
}

static void *other_thread(void *arg)
{
	json_t *v = arg;
	json_decref(v); /* freed into this thread's lists */
	if (POOLED && pool_cached() == 0)
		return (void *)1;
	pool_thread_release();
	return pool_cached() == 0 ? NULL : (void *)1;
}

static void test_other_thread(void **state)
{
	pthread_t t;
	void *bad = NULL;
	(void)state;
	assert_int_equal(pthread_create(&t, NULL, other_thread, parse()), 0);
	assert_int_equal(pthread_join(t, &bad), 0);
	assert_null(bad);
	pool_thread_release();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_other_thread),
	};
	pool_for_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
