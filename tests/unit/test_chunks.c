/* test_chunks.c - the chunk store (store_blobs.c): chunks, blobs made of
 * them, collection in bounded steps, download readers, and migration 0005
 * (1.1 blobs cut into chunks), on databases with every migration applied. */
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
#include "testutil.h"
#include "util.h"

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

static int64_t scalar(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;
	assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* Puts data as one chunk; its hash in h. */
static void put(struct store *s, const void *data, size_t n, double now, char h[STORE_HASH_HEX])
{
	store_sha256_hex(data, n, h);
	assert_int_equal(store_chunk_put(s, h, data, n, now), SQLITE_OK);
}

struct sink {
	unsigned char *buf;
	size_t len;
};

static void collect(void *arg, const void *data, size_t len)
{
	struct sink *k = arg;
	k->buf = realloc(k->buf, k->len + len + 1);
	memcpy(k->buf + k->len, data, len);
	k->len += len;
}

static void test_chunks_are_stored_once(void **state)
{
	struct store *s = *state;
	unsigned char *data = malloc(STORE_CHUNK_MAX);
	char h[STORE_HASH_HEX], h2[STORE_HASH_HEX];
	struct sink k = {0};
	int64_t size = 0, n = 0, bytes = 0;

	fill(data, STORE_CHUNK_MAX, 1);
	put(s, data, STORE_CHUNK_MAX, 100, h);
	put(s, data, STORE_CHUNK_MAX, 200, h2); /* the same bytes: nothing new */
	assert_string_equal(h, h2);
	assert_int_equal(scalar(s, "SELECT count(*) FROM chunks"), 1);
	assert_int_equal(scalar(s, "SELECT created_at FROM chunks"), 100);
	assert_int_equal(store_chunk_has(s, h, &size), SQLITE_OK);
	assert_int_equal(size, STORE_CHUNK_MAX);
	assert_int_equal(store_chunk_read(s, h, collect, &k), SQLITE_OK);
	assert_int_equal(k.len, STORE_CHUNK_MAX);
	assert_memory_equal(k.buf, data, STORE_CHUNK_MAX);
	/* Sizes outside 1..1 MiB are refused: no row ever holds more. */
	assert_int_equal(store_chunk_put(s, h, data, 0, 1), SQLITE_RANGE);
	assert_int_equal(store_chunk_put(s, h, data, STORE_CHUNK_MAX + 1, 1), SQLITE_RANGE);
	assert_int_equal(store_chunk_has(s, "00", NULL), SQLITE_NOTFOUND);
	assert_int_equal(store_chunk_read(s, "00", collect, &k), SQLITE_NOTFOUND);
	assert_int_equal(store_chunk_totals(s, &n, &bytes), SQLITE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(bytes, STORE_CHUNK_MAX);
	free(k.buf);
	free(data);
}

static void test_blobs_share_chunks(void **state)
{
	struct store *s = *state;
	char x[STORE_HASH_HEX], y[STORE_HASH_HEX], z[STORE_HASH_HEX];
	json_t *list = NULL;
	int64_t size = 0, n = 0, bytes = 0;

	put(s, "xxxx", 4, 10, x);
	put(s, "yyy", 3, 10, y);
	put(s, "zz", 2, 10, z);
	const char *a[] = {x, y, x}, *b[] = {x, z};
	assert_int_equal(store_blob_insert(s, "aa", 11, "alice", 50, a, 3), SQLITE_OK);
	assert_int_equal(store_blob_insert(s, "bb", 6, "bob", 60, b, 2), SQLITE_OK);
	assert_int_equal(store_blob_insert(s, "bb", 6, "bob", 70, b, 2), SQLITE_CONSTRAINT);
	assert_int_equal(store_blob_insert(s, "ee", 0, "bob", 70, NULL, 0), SQLITE_OK);

	assert_int_equal(store_blob_chunks(s, "aa", &size, &list), SQLITE_OK);
	assert_int_equal(size, 11);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_array_get(json_array_get(list, 2), 0)), x);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(list, 1), 1)), 3);
	json_decref(list);
	assert_int_equal(store_blob_chunks(s, "ee", &size, &list), SQLITE_OK);
	assert_int_equal(size, 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(store_blob_chunks(s, "ff", &size, &list), SQLITE_NOTFOUND);
	/* Blob bytes count every blob whole; chunk bytes each chunk once. */
	assert_int_equal(store_blob_totals(s, &n, &bytes), SQLITE_OK);
	assert_int_equal(bytes, 17);
	assert_int_equal(store_chunk_totals(s, &n, &bytes), SQLITE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(bytes, 9);
	assert_int_equal(scalar(s, "SELECT touched_at FROM blobs WHERE hash = 'aa'"), 50);
	assert_int_equal(store_blob_touch(s, "aa", 80), SQLITE_OK);
	assert_int_equal(store_blob_touch(s, "aa", 40), SQLITE_OK); /* never backwards */
	assert_int_equal(scalar(s, "SELECT touched_at FROM blobs WHERE hash = 'aa'"), 80);
	/* A blob lists chunks that are not held: refused (foreign key). */
	const char *bad[] = {"0123"};
	assert_int_equal(store_blob_insert(s, "cc", 1, "bob", 70, bad, 1), SQLITE_MISMATCH);
}

static int keep_y(void *arg, const char *chunk)
{
	return strcmp(chunk, arg) == 0;
}

/* Runs a whole round, one row per step: returns the steps taken. */
static int gc_round(struct store *s, struct store_gc *g, double before, store_gc_keep_fn keep,
		    void *arg)
{
	int steps = 0;
	memset(g, 0, sizeof(*g));
	while (!g->done) {
		assert_int_equal(store_gc_step(s, g, before, 1, keep, arg), SQLITE_OK);
		assert_true(++steps < 100);
	}
	return steps;
}

static void test_collection_clocks_in_bounded_steps(void **state)
{
	struct store *s = *state;
	char x[STORE_HASH_HEX], y[STORE_HASH_HEX], z[STORE_HASH_HEX];
	struct store_gc g;
	struct node_row nd = {0};
	json_t *names = json_pack("[s]", "aa");
	double now = util_now();

	put(s, "xxxx", 4, 10, x);
	put(s, "yyy", 3, 10, y);  /* in no blob, but an upload lists it */
	put(s, "zz", 2, 10, z);   /* in no blob: goes */
	const char *a[] = {x}, *b[] = {x};
	assert_int_equal(store_blob_insert(s, "aa", 4, "alice", 20, a, 1), SQLITE_OK);
	assert_int_equal(store_blob_insert(s, "bb", 4, "alice", 20, b, 1), SQLITE_OK);
	nd.uuid = (char *)"n1";
	nd.kind = (char *)"Image";
	nd.data = (char *)"{}";
	nd.version = nd.seq = 1;
	nd.updated_by = (char *)"alice";
	assert_int_equal(store_node_insert(s, &nd), SQLITE_OK);
	assert_int_equal(store_node_set_blobs(s, "n1", names), SQLITE_OK);
	/* bb was put again (have:true) at 500: younger than `before` 400. */
	assert_int_equal(store_blob_touch(s, "bb", 500), SQLITE_OK);

	/* Every step examines one row: 2 blobs, 3 chunks, plus the ends. */
	assert_true(gc_round(s, &g, 400, keep_y, y) >= 5);
	assert_int_equal(g.blobs, 0);
	assert_int_equal(g.chunks, 1);
	assert_int_equal(g.chunk_bytes, 2);
	assert_int_equal(store_chunk_has(s, z, NULL), SQLITE_NOTFOUND);
	assert_int_equal(store_chunk_has(s, y, NULL), SQLITE_OK);

	/* The node stops naming aa: its hour starts now, not at its upload. */
	assert_int_equal(store_node_set_blobs(s, "n1", NULL), SQLITE_OK);
	gc_round(s, &g, now - 3600, NULL, NULL);
	assert_int_equal(g.blobs, 1); /* bb only */
	assert_int_equal(store_blob_has(s, "aa", NULL), SQLITE_OK);
	assert_int_equal(store_chunk_has(s, x, NULL), SQLITE_OK); /* aa still holds it */
	assert_int_equal(g.chunks, 1); /* y: no upload lists it now */
	/* An hour later aa goes, and its chunk with it. */
	gc_round(s, &g, now + 3601, NULL, NULL);
	assert_int_equal(g.blobs, 1);
	assert_int_equal(g.chunks, 1);
	assert_int_equal(scalar(s, "SELECT count(*) FROM chunks"), 0);
	assert_int_equal(scalar(s, "SELECT count(*) FROM blob_chunks"), 0);
	json_decref(names);
}

static void test_reader_one_chunk_at_a_time(void **state)
{
	char *dir = tu_mkdtemp(), path[4200], err[256], h1[STORE_HASH_HEX], h2[STORE_HASH_HEX];
	struct store *s;
	struct store_reader *r;
	struct sink k = {0};
	json_t *list = NULL;
	int64_t size = 0;
	(void)state;

	snprintf(path, sizeof(path), "%s/session.db", dir);
	assert_int_equal(store_open(path, 0, &s, err, sizeof(err)), SQLITE_OK);
	put(s, "hello ", 6, 1, h1);
	put(s, "world", 5, 1, h2);
	const char *l[] = {h1, h2};
	assert_int_equal(store_blob_insert(s, "hw", 11, "alice", 1, l, 2), SQLITE_OK);
	assert_int_equal(store_reader_open(path, &r), SQLITE_OK);
	assert_int_equal(store_reader_blob(r, "hw", &size, &list), SQLITE_OK);
	assert_int_equal(size, 11);
	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *h = json_string_value(json_array_get(json_array_get(list, i), 0));
		assert_int_equal(store_reader_chunk(r, h, collect, &k), SQLITE_OK);
		/* No read transaction is left open between chunks. */
		assert_true(sqlite3_get_autocommit(store_db(s)));
	}
	assert_int_equal(k.len, 11);
	assert_memory_equal(k.buf, "hello world", 11);
	json_decref(list);
	assert_int_equal(store_reader_chunk_size(r, h2, &size), SQLITE_OK);
	assert_int_equal(size, 5);
	assert_int_equal(store_reader_blob(r, "nope", &size, &list), SQLITE_NOTFOUND);
	assert_null(list);
	store_reader_close(r);
	store_close(s);
	free(k.buf);
	tu_rmtree(dir);
	free(dir);
}

/* tests/fixtures/session_v4_blobs.db (make_fixtures.sh): three 1.1 blobs. */
static void test_migration_cuts_v11_blobs(void **state)
{
	char *dir = tu_mkdtemp(), fixture[4200], path[4200], err[256], *data;
	struct store *s;
	struct store_reader *r;
	json_t *list = NULL;
	int64_t size = 0, n = 0, bytes = 0;
	size_t len = 0;
	static const char *const a =
		"a626c89f6af36009e0f4d0f7733ef19f427d2d03e6b6d54491972ea5bbc196f5";
	static const char *const b =
		"e06bf0e22484212de40118760dcc36ac16c36cb9f7f826f1bc0f58d3191bd04e";
	(void)state;

	tu_src_path(fixture, sizeof(fixture), "tests/fixtures/session_v4_blobs.db");
	data = tu_read_file(fixture, &len);
	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/session.db", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	free(data);

	assert_int_equal(store_open(path, 0, &s, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(scalar(s, "PRAGMA user_version"), store_migration_count);
	assert_int_equal(scalar(s, "SELECT count(*) FROM sqlite_master WHERE name = 'blobs_v11'"),
			 0);
	/* A = X + Y and B = X + Z: X is stored once. */
	assert_int_equal(store_blob_totals(s, &n, &bytes), SQLITE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(bytes, 1355776 + 1048586);
	assert_int_equal(store_chunk_totals(s, &n, &bytes), SQLITE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(bytes, 1048576 + 307200 + 10);
	assert_int_equal(scalar(s, "SELECT max(length(data)) FROM chunks"), STORE_CHUNK_MAX);
	assert_int_equal(scalar(s, "SELECT count(*) FROM blobs WHERE touched_at = created_at AND "
			       "created_by IN ('alice', 'bob')"), 3);
	assert_int_equal(scalar(s, "SELECT count(*) FROM node_blobs"), 1);
	/* Every blob reads back to the bytes its hash names. */
	assert_int_equal(store_reader_open(path, &r), SQLITE_OK);
	for (int i = 0; i < 2; i++) {
		const char *h = i ? b : a;
		struct sink k = {0};
		char got[STORE_HASH_HEX];
		assert_int_equal(store_reader_blob(r, h, &size, &list), SQLITE_OK);
		assert_int_equal(json_array_size(list), 2);
		for (size_t j = 0; j < 2; j++)
			assert_int_equal(store_reader_chunk(r, json_string_value(json_array_get(
				json_array_get(list, j), 0)), collect, &k), SQLITE_OK);
		assert_int_equal((int64_t)k.len, size);
		store_sha256_hex(k.buf, k.len, got);
		assert_string_equal(got, h);
		free(k.buf);
		json_decref(list);
	}
	store_reader_close(r);
	store_close(s);
	tu_rmtree(dir);
	free(dir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_chunks_are_stored_once), T(test_blobs_share_chunks),
		T(test_collection_clocks_in_bounded_steps),
		cmocka_unit_test(test_reader_one_chunk_at_a_time),
		cmocka_unit_test(test_migration_cuts_v11_blobs),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
