/* test_jsonparse.c - jsonparse() against jansson's json_loadb(...,
 * JSON_REJECT_DUPLICATES, ...): on every message of the fuzz corpus, on
 * hand-picked edge cases and on many deterministic mutations of both, the
 * two must agree on accepting and build the same values (the same compact
 * text, key order and integer/real types included).
 *
 * One difference is expected: jansson drops a NUL byte that ends a number
 * or a word (true, false, null: its lexer reads one byte too far, puts it
 * back, and a put-back NUL reads as "refill"), so it accepts [1\0] as [1];
 * jsonparse refuses every NUL byte outside a string as it refuses any
 * other stray byte. Such an input is checked by removing its NUL bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"
#include "testutil.h"

static unsigned long checked, accepted;

static void hexdump(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = 0;
}

static void same(const char *s, size_t n)
{
	json_error_t e;
	char err[128], shown[600];
	size_t pos;
	json_t *a = json_loadb(s, n, JSON_REJECT_DUPLICATES, &e);
	json_t *b = jsonparse(s, n, err, sizeof(err), &pos);
	checked++;
	if (a && !b && memchr(s, 0, n)) {
		char *t = malloc(n);
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (s[i])
				t[m++] = s[i];
		b = jsonparse(t, m, err, sizeof(err), &pos);
		free(t);
	}
	if (!a != !b) {
		hexdump(s, n < 200 ? n : 200, shown, sizeof(shown));
		fail_msg("jansson %s, jsonparse %s: \"%s\"", a ? "accepts" : e.text,
			 b ? "accepts" : err, shown);
	}
	if (a) {
		char *ta = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
		char *tb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!json_equal(a, b) || strcmp(ta, tb) != 0) {
			hexdump(s, n < 200 ? n : 200, shown, sizeof(shown));
			fail_msg("different values for \"%s\": %s / %s", shown, ta, tb);
		}
		free(ta);
		free(tb);
		accepted++;
	} else {
		assert_true(pos <= n);
		assert_true(*err != 0);
	}
	json_decref(a);
	json_decref(b);
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* The input and 60 mutations of it. */
static void same_mutated(const char *s, size_t n)
{
	static const unsigned char bytes[] = {
		'"', '\\', '{', '}', '[', ']', ',', ':', '0', '1', '-', '+', 'e', 'E', '.', 'u',
		' ', '\t', '\n', 'a', 'n', 't', 'f', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2,
		0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
	char *buf = malloc(2 * n + 16);
	same(s, n);
	for (int m = 0; m < 60 && n; m++) {
		size_t len = n, at = rnd() % n;
		memcpy(buf, s, n);
		switch (m % 4) {
		case 0: /* replace a byte */
			buf[at] = (char)bytes[rnd() % sizeof(bytes)];
			break;
		case 1: /* truncate */
			len = at;
			break;
		case 2: /* insert a byte */
			memmove(buf + at + 1, buf + at, n - at);
			buf[at] = (char)bytes[rnd() % sizeof(bytes)];
			len = n + 1;
			break;
		default: { /* duplicate a piece */
			size_t k = 1 + rnd() % 12;
			if (at + k > n)
				k = n - at;
			memmove(buf + at + k, buf + at, n - at);
			len = n + k;
		}
		}
		same(buf, len);
	}
	free(buf);
}

static void test_edge_cases(void **state)
{
	static const char *const cases[] = {
		"{}", "[]", " {} ", "\t[\n]\r ", "", " ", "{", "}", "[", "{]", "[}", "{} x", "{}{}",
		"1", "\"s\"", "true", "null", "[true,false,null]", "[tru]", "[truex]", "[nul]",
		"[true1]", "[1,]", "[,1]", "{\"a\":1,}", "{,}", "{\"a\" 1}", "{\"a\":}", "{1:2}",
		"{\"a\":1,\"a\":2}", "{\"a\":1,\"b\":{\"a\":2}}", "{\"\":0}", "{\"\":0,\"\":1}",
		"[0]", "[-0]", "[-0.0]", "[01]", "[-]", "[-01]", "[1.]", "[.5]", "[1.5]", "[1e5]",
		"[1E+5]", "[1e-5]", "[1e]", "[1e+]", "[2.5e-3]", "[1.0]", "[100]",
		"[9223372036854775807]", "[9223372036854775808]", "[-9223372036854775808]",
		"[-9223372036854775809]", "[1e308]", "[1e309]", "[-1e309]", "[1e-400]",
		"[123456789012345678901234567890.5]", "[0.1]", "[1.7976931348623157e308]",
		"[\"a\\\"b\"]", "[\"\\\\\"]", "[\"\\/\"]", "[\"\\b\\f\\n\\r\\t\"]", "[\"\\x\"]",
		"[\"\\u0041\"]", "[\"\\u00e9\"]", "[\"\\u20AC\"]", "[\"\\uD83D\\uDE00\"]",
		"[\"\\uD83D\"]", "[\"\\uD83Dx\"]", "[\"\\uDE00\"]", "[\"\\uD83D\\u0041\"]",
		"[\"\\u0000\"]", "[\"\\u00\"]", "[\"\\uZZZZ\"]", "[\"a\\u0000b\"]",
		"[\"\xc3\xa9\"]", "[\"\xe2\x82\xac\"]", "[\"\xf0\x9f\x98\x80\"]", "[\"\xc0\xaf\"]",
		"[\"\xe0\x80\xaf\"]", "[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]", "[\"\xf5\"]",
		"[\"\x80\"]", "[\"\xc3\"]", "[\"\xc3(\"]", "[\"\x1f\"]", "[\"\x7f\"]", "[\"abc]",
		"[\"\\", "{\"k\\u00e9y\":\"v\\n\",\"k\":[{\"x\":[1,2.5,\"\\u2603\"]}]}",
		"{\"type\":\"node.update\",\"id\":7,\"uuid\":\"n1\",\"patch\":{\"a\":null,\"b\":[1]}}",
		"{\"a\":1,\"\\u0061\":2}", "{\"\\u0061\":1,\"a\":2}", "{\"a\":{\"a\":1},\"b\":{\"a\":2}}",
		"{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
		"\"k10\":1,\"k11\":1,\"k12\":1,\"k13\":1,\"k14\":1,\"k15\":1,\"k16\":1,\"k17\":1,"
		"\"k18\":1,\"k1\":2}",
		"{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
		"\"k10\":1,\"k11\":1,\"k12\":1,\"k13\":1,\"k14\":1,\"k15\":1,\"k16\":1,\"k17\":1,"
		"\"k18\":1,\"k19\":2}",
		"\xef\xbb\xbf{}", "[\"a\"\"b\"]", "[1 2]", "{\"a\":1 \"b\":2}", "[[[[]]]]",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		same_mutated(cases[i], strlen(cases[i]));
	/* jansson's nesting limit: 2048 levels, not 2049. */
	for (int depth = 2047; depth <= 2049; depth++) {
		char *t = malloc((size_t)depth * 2 + 1);
		memset(t, '[', (size_t)depth);
		memset(t + depth, ']', (size_t)depth);
		same(t, (size_t)depth * 2);
		free(t);
	}
	/* Every byte alone in a string, and after a backslash. */
	for (int c = 0; c < 256; c++) {
		char t[8] = {'[', '"', (char)c, '"', ']'};
		char e[8] = {'[', '"', '\\', (char)c, '"', ']'};
		same(t, 5);
		same(e, 6);
	}
	/* A NUL byte inside and after the text. */
	same("{\"a\":\"x\0y\"}", 11);
	same("{}\0", 3);
}

static void test_fuzz_corpus(void **state)
{
	char dir[512], path[1024];
	struct dirent *d;
	DIR *dp;
	int files = 0;
	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus", tu_srcdir());
	assert_non_null(dp = opendir(dir));
	while ((d = readdir(dp))) {
		FILE *f;
		char *buf;
		long n;
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		assert_non_null(f = fopen(path, "rb"));
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		buf = malloc((size_t)n + 1);
		assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		/* Each message (one per line), then the whole file. */
		for (long i = 0, start = 0; i <= n; i++) {
			if (i == n || buf[i] == '\n') {
				same_mutated(buf + start, (size_t)(i - start));
				start = i + 1;
			}
		}
		same(buf, (size_t)n);
		free(buf);
		files++;
	}
	closedir(dp);
	assert_true(files > 50);
	print_message("%lu inputs compared, %lu accepted\n", checked, accepted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_fuzz_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
