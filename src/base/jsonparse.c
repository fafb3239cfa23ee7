/* jsonparse.c - the parser of incoming text frames: JSON text to jansson
 * values, accepting exactly what json_loadb(buf, len, JSON_REJECT_DUPLICATES,
 * &err) accepts and building the same values, at a fraction of the cost.
 *
 * Why: jansson's lexer reads one byte at a time through a stream with a
 * UTF-8 check and a save into a string buffer per byte; a 500-byte
 * node.update cost ~20,000 instructions to parse, the largest single cost
 * of an update after SQLite (docs/PERFORMANCE.md). This parser scans a
 * string without escapes in place (its value is copied once, by
 * json_stringn_nocheck) and decodes escapes into a scratch buffer only
 * when there are some.
 *
 * The rules kept from jansson 2.14 (tests/unit/test_jsonparse.c compares
 * the two on every fuzz corpus file and on thousands of mutated inputs):
 * - the text is one object or array, surrounded by optional whitespace
 *   (space, tab, CR, LF) only; nesting deeper than 2048 is refused;
 * - strings: no byte below 0x20, valid UTF-8 (no overlong forms, no
 *   surrogates, nothing above U+10FFFF), the escapes \" \\ \/ \b \f \n \r
 *   \t and \u with four hex digits, a \u surrogate only as a valid
 *   pair, no \u0000;
 * - numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; without a
 *   fraction or exponent an integer (json_int_t, out of range refused),
 *   otherwise a real (an overflow to infinity refused);
 * - true, false, null; no duplicate key in an object.
 * The error messages are this parser's own ("invalid JSON: ... (at byte
 * N)" in the reply), and so are the byte positions. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"
#include "util.h"

#define JSONPARSE_MAX_DEPTH 2048

struct jp {
	const unsigned char *p, *end, *start;
	int depth;
	struct sbuf scratch; /* decoded strings with escapes, number tokens */
	char *err;
	size_t errlen;
	size_t errpos;
};

static json_t *fail(struct jp *j, const char *msg)
{
	if (!*j->err) {
		snprintf(j->err, j->errlen, "%s", msg);
		j->errpos = (size_t)(j->p - j->start);
	}
	return NULL;
}

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

/* The length of the valid UTF-8 sequence of 2..4 bytes at p, or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], cp, n;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void add_utf8(struct sbuf *b, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sbuf_add(b, u, n);
}

/* One escape after the backslash at j->p, decoded into the scratch buffer. */
static int escape(struct jp *j)
{
	unsigned cp, lo;
	char c;
	if (j->end - j->p < 2)
		return -1;
	switch (j->p[1]) {
	case '"': c = '"'; break;
	case '\\': c = '\\'; break;
	case '/': c = '/'; break;
	case 'b': c = '\b'; break;
	case 'f': c = '\f'; break;
	case 'n': c = '\n'; break;
	case 'r': c = '\r'; break;
	case 't': c = '\t'; break;
	case 'u':
		if (j->end - j->p < 6 || hex4(j->p + 2, &cp))
			return -1;
		j->p += 6;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return -1; /* a low surrogate alone */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
			    hex4(j->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
				return -1;
			j->p += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp == 0)
			return -1; /* \u0000: jansson's JSON_ALLOW_NUL is off */
		add_utf8(&j->scratch, cp);
		return 0;
	default:
		return -1;
	}
	sbuf_addc(&j->scratch, c);
	j->p += 2;
	return 0;
}

/* The string whose opening quote is at j->p: *s and *len point into the
 * input (no escape) or into the scratch buffer, valid until the next
 * string or number. */
/* Bytes a string holds as they are: printable ASCII but '"' and '\\'. */
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x22 '"' */
	P16, P16, /* 0x30..0x4f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5c '\\' */
	P16, P16, /* 0x60..0x7f */
};
#undef P16

static int string(struct jp *j, const char **s, size_t *len)
{
	const unsigned char *from = ++j->p;
	int copied = 0;
	/* a long plain run (the usual string) eight bytes at a time */
	j->p += util_json_plain_ascii((const char *)j->p, (size_t)(j->end - j->p));
	while (j->p < j->end) {
		unsigned c = *j->p;
		if (plain[c]) {
			j->p++;
			continue;
		}
		if (c == '"') {
			if (copied) {
				sbuf_add(&j->scratch, from, (size_t)(j->p - from));
				*s = j->scratch.p;
				*len = j->scratch.len;
			} else {
				*s = (const char *)from;
				*len = (size_t)(j->p - from);
			}
			j->p++;
			return 0;
		}
		if (c == '\\') {
			if (!copied) {
				j->scratch.len = 0;
				copied = 1;
			}
			sbuf_add(&j->scratch, from, (size_t)(j->p - from));
			if (escape(j)) {
				fail(j, "invalid escape in a string");
				return -1;
			}
			from = j->p;
		} else if (c < 0x20) {
			fail(j, "control character in a string");
			return -1;
		} else {
			size_t n = utf8_len(j->p, j->end);
			if (!n) {
				fail(j, "invalid UTF-8 in a string");
				return -1;
			}
			j->p += n;
		}
	}
	fail(j, "unterminated string");
	return -1;
}

static int is_digit(const unsigned char *p, const unsigned char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

static json_t *number(struct jp *j)
{
	const unsigned char *from = j->p;
	int real = 0;
	char *text, *endp;
	if (*j->p == '-')
		j->p++;
	if (!is_digit(j->p, j->end))
		return fail(j, "invalid number");
	if (*j->p == '0') {
		j->p++;
		if (is_digit(j->p, j->end))
			return fail(j, "invalid number: leading zero");
	} else {
		while (is_digit(j->p, j->end))
			j->p++;
	}
	if (j->p < j->end && *j->p == '.') {
		real = 1;
		j->p++;
		if (!is_digit(j->p, j->end))
			return fail(j, "invalid number: digits expected after '.'");
		while (is_digit(j->p, j->end))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		real = 1;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!is_digit(j->p, j->end))
			return fail(j, "invalid number: digits expected in the exponent");
		while (is_digit(j->p, j->end))
			j->p++;
	}
	/* An integer of up to 18 digits cannot overflow: summed here, without
	 * the copy and strtoll a longer one or a real takes. */
	if (!real && j->p - from <= 18) {
		const unsigned char *q = from + (*from == '-');
		long long v = 0;
		while (q < j->p)
			v = v * 10 + (*q++ - '0');
		return json_integer((json_int_t)(*from == '-' ? -v : v));
	}
	j->scratch.len = 0;
	sbuf_add(&j->scratch, from, (size_t)(j->p - from));
	sbuf_addc(&j->scratch, '\0');
	text = j->scratch.p;
	errno = 0;
	if (!real) {
		long long v = strtoll(text, &endp, 10);
		if (errno == ERANGE)
			return fail(j, "integer out of range");
		return json_integer((json_int_t)v);
	}
	double d = strtod(text, &endp);
	if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
		return fail(j, "real number overflow");
	return json_real(d);
}

static json_t *value(struct jp *j);

static json_t *object(struct jp *j)
{
	json_t *o = json_object(), *v;
	const char *k;
	size_t klen;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return o;
	}
	for (;;) {
		const unsigned char *after_key;
		size_t size;
		char *key;
		if (j->p >= j->end || *j->p != '"') {
			fail(j, "a string key expected");
			goto bad;
		}
		if (string(j, &k, &klen))
			goto bad;
		after_key = j->p;
		/* The key may live in the scratch buffer, which the value reuses. */
		key = NULL;
		if (k == j->scratch.p) {
			key = xmalloc(klen + 1);
			memcpy(key, k, klen);
			key[klen] = '\0';
		}
		skip_ws(j);
		if (j->p >= j->end || *j->p != ':') {
			free(key);
			fail(j, "':' expected");
			goto bad;
		}
		j->p++;
		skip_ws(j);
		if (!(v = value(j))) {
			free(key);
			goto bad;
		}
		/* A duplicate key replaces the member and leaves the size as it
		 * was: found by the insertion itself, with no lookup before it. */
		size = json_object_size(o);
		json_object_setn_new_nocheck(o, key ? key : k, klen, v);
		free(key);
		if (json_object_size(o) == size) {
			j->p = after_key; /* where a lookup first would have stopped */
			fail(j, "duplicate object key");
			goto bad;
		}
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			skip_ws(j);
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return o;
		}
		fail(j, "',' or '}' expected");
		goto bad;
	}
bad:
	json_decref(o);
	return NULL;
}

static json_t *array(struct jp *j)
{
	json_t *a = json_array(), *v;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return a;
	}
	for (;;) {
		if (!(v = value(j)))
			goto bad;
		json_array_append_new(a, v);
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			skip_ws(j);
			continue;
		}
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return a;
		}
		fail(j, "',' or ']' expected");
		goto bad;
	}
bad:
	json_decref(a);
	return NULL;
}

static int literal(struct jp *j, const char *word, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return 0;
	j->p += n;
	return 1;
}

static json_t *value(struct jp *j)
{
	const char *s;
	size_t len;
	json_t *v;
	if (j->p >= j->end)
		return fail(j, "a value expected");
	switch (*j->p) {
	case '{':
	case '[':
		if (++j->depth > JSONPARSE_MAX_DEPTH)
			return fail(j, "nested too deeply");
		v = *j->p == '{' ? object(j) : array(j);
		j->depth--;
		return v;
	case '"':
		if (string(j, &s, &len))
			return NULL;
		return json_stringn_nocheck(s, len);
	case 't':
		if (literal(j, "true", 4))
			return json_true();
		break;
	case 'f':
		if (literal(j, "false", 5))
			return json_false();
		break;
	case 'n':
		if (literal(j, "null", 4))
			return json_null();
		break;
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
			return number(j);
	}
	return fail(j, "invalid token");
}

json_t *jsonparse(const char *buf, size_t len, char *err, size_t errlen, size_t *errpos)
{
	struct jp j;
	json_t *v = NULL;
	j.start = j.p = (const unsigned char *)buf;
	j.end = j.p + len;
	j.depth = 0;
	j.err = err;
	j.errlen = errlen;
	j.errpos = 0;
	*err = '\0';
	j.scratch.p = NULL; /* allocated by the first escape or number */
	j.scratch.len = j.scratch.cap = 0;
	skip_ws(&j);
	if (j.p >= j.end || (*j.p != '{' && *j.p != '['))
		fail(&j, "an object or array expected");
	else if ((v = value(&j))) {
		skip_ws(&j);
		if (j.p < j.end) {
			json_decref(v);
			v = fail(&j, "the end of the text expected");
		}
	}
	sbuf_free(&j.scratch);
	if (errpos)
		*errpos = j.errpos;
	return v;
}
