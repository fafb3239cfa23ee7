/* test_util.c - the small helpers every layer uses: the growable buffer,
 * integers and reals as JSON text (reals in the shortest form that reads
 * back as the same double, timestamps with at most 3 decimals), JSON string
 * escaping, UUIDv4s, the constant-time secret comparison, backup stamps and
 * the atomic file write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <time.h>

#include "util.h"
#include "testutil.h"

static void test_sbuf_grows_and_stays_terminated(void **state)
{
	struct sbuf b;
	char big[1000];
	(void)state;
	sbuf_init(&b, 0);
	assert_true(b.cap >= 16);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	sbuf_addstr(&b, "ab");
	sbuf_addc(&b, 'c');
	sbuf_add(&b, "d\0e", 3);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.p, "abcd\0e", 7);
	/* printf: once into the room left, once more after growing. */
	b.len = 0;
	b.p[0] = 0;
	sbuf_printf(&b, "%d-%s", 42, "x");
	assert_string_equal(b.p, "42-x");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	sbuf_printf(&b, "[%s]", big);
	assert_int_equal(b.len, 4 + 2 + 999);
	assert_int_equal(b.p[4], '[');
	assert_int_equal(b.p[b.len - 1], ']');
	assert_int_equal(b.p[b.len], 0);
	assert_true(b.cap > b.len);
	sbuf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

static void test_sbuf_add_int(void **state)
{
	static const int64_t v[] = {0,   1,    -1,   9,     10,    11,     99,
				    100, -100, 101,  999,   1000,  -9999,  10000,
				    12345, 99999, 100000, 1234567890123LL, INT64_MAX,
				    INT64_MIN, INT64_MIN + 1};
	struct sbuf b;
	char want[32];
	(void)state;
	sbuf_init(&b, 4);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		b.len = 0;
		sbuf_add_int(&b, v[i]);
		snprintf(want, sizeof(want), "%lld", (long long)v[i]);
		assert_string_equal(b.p, want);
	}
	/* Every value of up to five digits, appended after other text. */
	for (int64_t i = -100000; i <= 100000; i++) {
		b.len = 0;
		sbuf_addc(&b, 'x');
		sbuf_add_int(&b, i);
		snprintf(want, sizeof(want), "x%lld", (long long)i);
		if (strcmp(b.p, want) != 0)
			fail_msg("%lld written as %s", (long long)i, b.p);
	}
	sbuf_free(&b);
}

static const char *real_text(struct sbuf *b, double v)
{
	b->len = 0;
	sbuf_add_real(b, v);
	return b->p;
}

static void test_sbuf_add_real_shortest(void **state)
{
	struct sbuf b;
	(void)state;
	sbuf_init(&b, 8);
	assert_string_equal(real_text(&b, 1796007416.321), "1796007416.321");
	assert_string_equal(real_text(&b, 0.1), "0.1");
	assert_string_equal(real_text(&b, 0.5), "0.5");
	assert_string_equal(real_text(&b, -2.25), "-2.25");
	/* Whole numbers stay reals. */
	assert_string_equal(real_text(&b, 3.0), "3.0");
	assert_string_equal(real_text(&b, 0.0), "0.0");
	assert_string_equal(real_text(&b, 1796007416.0), "1796007416.0");
	/* Where 15 digits are not enough. */
	assert_string_equal(real_text(&b, 0.1 + 0.2), "0.30000000000000004");
	assert_true(strtod(real_text(&b, 1e300), NULL) == 1e300);
	assert_non_null(strpbrk(b.p, "eE"));
	sbuf_free(&b);
}

static void test_sbuf_add_real_round_trips(void **state)
{
	static const double fixed[] = {DBL_MAX, DBL_MIN, -DBL_MAX, 5e-324, M_PI, -M_E,
				       123456789.123456789, 1.0 / 3.0, 2.0 / 3.0, 1e21, 1e-7};
	struct sbuf b;
	json_error_t err;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	(void)state;
	sbuf_init(&b, 8);
	for (int i = 0; i < 20000; i++) {
		double v;
		json_t *j;
		if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
			v = fixed[i];
		} else {
			/* Random bit patterns (xorshift), skipping NaN and inf. */
			uint64_t bits;
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			bits = x;
			memcpy(&v, &bits, sizeof(v));
			if (!isfinite(v))
				continue;
		}
		real_text(&b, v);
		assert_true(strtod(b.p, NULL) == v);
		assert_true(b.len <= 24);
		/* And a JSON reader reads it as a real. */
		j = json_loadb(b.p, b.len, JSON_DECODE_ANY, &err);
		assert_non_null(j);
		assert_true(json_is_real(j));
		assert_true(json_real_value(j) == v);
		json_decref(j);
	}
	sbuf_free(&b);
}

static void test_util_now_prints_milliseconds(void **state)
{
	struct sbuf b;
	(void)state;
	sbuf_init(&b, 32);
	for (int i = 0; i < 2000; i++) {
		double now = util_now();
		const char *dot;
		real_text(&b, now);
		assert_null(strpbrk(b.p, "eE"));
		dot = strchr(b.p, '.');
		assert_non_null(dot);
		assert_true(strlen(dot + 1) >= 1 && strlen(dot + 1) <= 3);
		assert_true(fabs(now - (double)time(NULL)) < 2.0);
	}
	sbuf_free(&b);
}

static void check_escape(const char *in, size_t len, const char *want)
{
	struct sbuf b;
	json_error_t err;
	json_t *j;
	sbuf_init(&b, 0);
	sbuf_addstr(&b, "prefix:");
	sbuf_add_json_str(&b, in, len);
	assert_string_equal(b.p + 7, want);
	/* It parses back to exactly the bytes given. */
	j = json_loadb(b.p + 7, b.len - 7, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!j)
		fail_msg("%s does not parse: %s", b.p + 7, err.text);
	assert_int_equal(json_string_length(j), len);
	assert_memory_equal(json_string_value(j), in, len);
	json_decref(j);
	sbuf_free(&b);
}

static void test_json_string_escaping(void **state)
{
	(void)state;
	check_escape("", 0, "\"\"");
	check_escape("plain", 5, "\"plain\"");
	check_escape("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check_escape("\n\r\t", 3, "\"\\n\\r\\t\"");
	check_escape("\x01\x1f\b\f", 4, "\"\\u0001\\u001f\\u0008\\u000c\"");
	check_escape("a\0b", 3, "\"a\\u0000b\"");
	/* UTF-8 and DEL pass through unchanged; '/' needs no escape. */
	check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xa8 /\x7f", 17,
		     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xa8 /\x7f\"");
}

static void test_uuid4(void **state)
{
	char a[37], b[37];
	(void)state;
	for (int n = 0; n < 200; n++) {
		util_uuid4(a);
		assert_int_equal(strlen(a), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(a[i], '-');
			else
				assert_true(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
		}
		assert_int_equal(a[14], '4');                     /* version 4 */
		assert_non_null(strchr("89ab", a[19]));          /* RFC 4122 variant */
	}
	util_uuid4(b);
	assert_string_not_equal(a, b);
	util_random_hex(a, 8);
	assert_int_equal(strlen(a), 16);
}

static void test_secret_equal(void **state)
{
	(void)state;
	assert_true(util_secret_equal("s3cret", "s3cret"));
	assert_true(util_secret_equal("", ""));
	assert_false(util_secret_equal("s3cres", "s3cret"));
	assert_false(util_secret_equal("s3cre", "s3cret"));
	assert_false(util_secret_equal("s3cret!", "s3cret"));
	assert_false(util_secret_equal("", "s3cret"));
	assert_false(util_secret_equal("x", ""));
	/* A given string that repeats the secret is still longer. */
	assert_false(util_secret_equal("abab", "ab"));
}

static void test_stamp(void **state)
{
	char out[16];
	(void)state;
	util_stamp(0, out);
	assert_string_equal(out, "19700101_000000");
	util_stamp(1796007416, out);
	assert_string_equal(out, "20261130_025656");
}

static void test_write_file_atomic(void **state)
{
	char *dir = tu_mkdtemp(), path[4200], tmp[4300], bad[4300];
	struct stat st;
	size_t n;
	char *got;
	(void)state;
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(util_file_size(path), 0);
	assert_int_equal(util_write_file_atomic(path, "first", 5, 0600), 0);
	got = tu_read_file(path, &n);
	assert_string_equal(got, "first");
	free(got);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(util_file_size(path), 5);
	/* A stale temp file from a crash is replaced, never trusted or left. */
	assert_int_equal(tu_write_file(tmp, "stale junk", 10), 0);
	assert_int_equal(util_write_file_atomic(path, "second!", 7, 0600), 0);
	got = tu_read_file(path, &n);
	assert_int_equal(n, 7);
	assert_string_equal(got, "second!");
	free(got);
	assert_false(tu_exists(tmp));
	/* A directory that does not exist: an error, nothing written. */
	snprintf(bad, sizeof(bad), "%s/missing/meta.json", dir);
	assert_int_equal(util_write_file_atomic(bad, "x", 1, 0600), -1);
	assert_false(tu_exists(bad));
	tu_rmtree(dir);
	free(dir);
}

/* The sixteen- and eight-at-a-time scan never passes a byte a JSON string
 * must escape or a non-ASCII one, and stops at most seven bytes before the
 * first: against a byte-by-byte count on random texts of every length and
 * alignment. */
static void test_json_plain_ascii(void **state)
{
	unsigned char buf[80];
	unsigned seed = 1;
	(void)state;
	for (long it = 0; it < 300000; it++) {
		size_t n, off, got, exact = 0;
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % 64;
		off = (seed >> 20) % 8;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[off + i] = (seed >> 16) % 10 < 8 ? (unsigned char)(0x20 + (seed >> 4) % 96)
							      : (unsigned char)(seed >> 8);
		}
		while (exact < n && buf[off + exact] >= 0x20 && buf[off + exact] < 0x80 &&
		       buf[off + exact] != '"' && buf[off + exact] != '\\')
			exact++;
		got = util_json_plain_ascii((const char *)buf + off, n);
		assert_true(got <= exact);
		assert_true(exact - got < 8 || n - got < 8);
	}
	assert_int_equal(util_json_plain_ascii("0123456789abcdef\"x", 19), 16);
	assert_int_equal(util_json_plain_ascii("01234567" "\x7f" "89abcdef", 17), 16);
	assert_int_equal(util_json_plain_ascii("0123456789abcdefghijklmnopqrstu\"", 32), 31);
	assert_int_equal(util_json_plain_ascii("0123456789abcdefghij\\lmnopqrstuv", 32), 20);
	assert_int_equal(util_json_plain_ascii("0123456789abcdefghij" "\xff" "lmnopqrstuv", 32), 20);
	assert_int_equal(util_json_plain_ascii("0123456789abcdefghij" "\x1f" "lmnopqrstuv", 32), 20);
	assert_int_equal(util_json_plain_ascii("0123456789abcdef" "\x7f" "123456789abcde " "\x20", 33), 32);
	assert_int_equal(util_json_plain_ascii("0123" "\x1f" "567", 8), 0);
	assert_int_equal(util_json_plain_ascii("0123" "\xc3\xa9" "67", 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sbuf_grows_and_stays_terminated),
		cmocka_unit_test(test_sbuf_add_int),
		cmocka_unit_test(test_json_plain_ascii),
		cmocka_unit_test(test_sbuf_add_real_shortest),
		cmocka_unit_test(test_sbuf_add_real_round_trips),
		cmocka_unit_test(test_util_now_prints_milliseconds),
		cmocka_unit_test(test_json_string_escaping),
		cmocka_unit_test(test_uuid4),
		cmocka_unit_test(test_secret_equal),
		cmocka_unit_test(test_stamp),
		cmocka_unit_test(test_write_file_atomic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
