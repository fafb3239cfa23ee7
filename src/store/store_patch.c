/* store_patch.c - merge_patch(target, patch), the SQL function that applies
 * a node.update's RFC 7386 merge patch to the stored data, working on the
 * JSON text itself. Part of the store module (store_int.h).
 *
 * Why not SQLite's json_patch(): it parses both texts into a node tree and
 * renders the result, about 9 instructions per byte of the stored data,
 * which made it a seventh of a node.update (docs/PERFORMANCE.md). Here the
 * target object is only split into its members (a member's value is
 * skipped by a scanner that knows strings and nesting, and copied as it
 * is), and only the members the patch names are looked at further.
 *
 * The result is what json_patch() returns (tests/unit/test_mergepatch.c
 * compares the two on many generated documents): the target's members in
 * their order, each replaced in place, merged (object into object) or
 * removed (null) as the patch says, then the patch's new members in its
 * order, with the null members of new objects removed at every depth;
 * minified, strings and numbers in their original spelling. Keys are
 * compared as decoded strings (json_patch compares their spelling; the
 * server writes keys one way, so the two agree on what it stores). Text
 * that is not a JSON object (as target: treated as {}, like json_patch
 * does for a non-object target) or malformed is an SQL error. */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

struct member {
	const char *key;   /* the key's text between its quotes */
	size_t klen;
	int kesc;          /* the key has a backslash escape */
	const char *val;   /* the value's text */
	size_t vlen;
	int ws;            /* it has whitespace to drop */
};

struct mlist {
	struct member *v;
	size_t n, cap;
	struct member local[16];
};

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* The end of the string whose opening quote is at p, or NULL. memchr
 * finds the quotes (the long strings of node data cost little); a quote
 * ends the string unless an odd run of backslashes precedes it. */
static const char *string_end(const char *p, const char *end)
{
	const char *from = p + 1, *q = from;
	while ((q = memchr(q, '"', (size_t)(end - q)))) {
		const char *b = q;
		while (b > from && b[-1] == '\\')
			b--;
		if ((q - b) % 2 == 0)
			return q + 1;
		q++;
	}
	return NULL;
}

/* The end of the value at p (no leading whitespace), or NULL; *ws is set
 * when an object or array has whitespace outside its strings. */
static const char *value_end(const char *p, const char *end, int *ws)
{
	int depth = 0;
	if (p >= end)
		return NULL;
	if (*p == '"')
		return string_end(p, end);
	if (*p != '{' && *p != '[') {
		const char *q = p;
		while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' &&
		       *q != '\n' && *q != '\r' && *q != '\t')
			q++;
		return q > p ? q : NULL;
	}
	for (; p < end; p++) {
		if (*p == '"') {
			if (!(p = string_end(p, end)))
				return NULL;
			p--;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			if (--depth == 0)
				return p + 1;
		} else if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
			*ws = 1;
		}
	}
	return NULL;
}

static void mlist_add(struct mlist *l, const struct member *m)
{
	if (l->n == l->cap) {
		size_t cap = l->cap * 2;
		struct member *v = xmalloc(cap * sizeof(*v));
		memcpy(v, l->v, l->n * sizeof(*v));
		if (l->v != l->local)
			free(l->v);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *m;
}

static void mlist_free(struct mlist *l)
{
	if (l->v != l->local)
		free(l->v);
}

/* The members of the object text [p, end); -1 if it is not an object. */
static int members(const char *p, const char *end, struct mlist *l)
{
	l->v = l->local;
	l->n = 0;
	l->cap = sizeof(l->local) / sizeof(l->local[0]);
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return skip_ws(p + 1, end) == end ? 0 : -1;
	for (;;) {
		struct member m;
		const char *k;
		if (p >= end || *p != '"' || !(k = string_end(p, end)))
			return -1;
		m.key = p + 1;
		m.klen = (size_t)(k - p - 2);
		m.kesc = memchr(m.key, '\\', m.klen) != NULL;
		p = skip_ws(k, end);
		if (p >= end || *p != ':')
			return -1;
		p = skip_ws(p + 1, end);
		m.val = p;
		m.ws = 0;
		if (!(p = value_end(p, end, &m.ws)))
			return -1;
		m.vlen = (size_t)(p - m.val);
		mlist_add(l, &m);
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			return skip_ws(p + 1, end) == end ? 0 : -1;
		return -1;
	}
}

/* A key decoded into buf (as far as comparing needs: escapes resolved to
 * their bytes; \u as UTF-8). Returns its length. */
static size_t key_decode(const struct member *m, char *buf)
{
	size_t n = 0;
	for (size_t i = 0; i < m->klen; i++) {
		char c = m->key[i];
		if (c != '\\' || i + 1 >= m->klen) {
			buf[n++] = c;
			continue;
		}
		c = m->key[++i];
		switch (c) {
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case 'u': {
			unsigned cp = 0;
			if (i + 4 >= m->klen) {
				buf[n++] = c;
				break;
			}
			for (int h = 1; h <= 4; h++) {
				char x = m->key[i + (size_t)h];
				cp = cp * 16 + (unsigned)(x <= '9' ? x - '0' : (x | 0x20) - 'a' + 10);
			}
			i += 4;
			/* Surrogate halves stay distinct code units: equal keys
			 * still decode equal. */
			if (cp < 0x80) {
				buf[n++] = (char)cp;
			} else if (cp < 0x800) {
				buf[n++] = (char)(0xc0 | (cp >> 6));
				buf[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				buf[n++] = (char)(0xe0 | (cp >> 12));
				buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				buf[n++] = (char)(0x80 | (cp & 0x3f));
			}
			break;
		}
		default: buf[n++] = c;
		}
	}
	return n;
}

static int key_equal(const struct member *a, const struct member *b)
{
	if (!a->kesc && !b->kesc)
		return a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
	{
		char *x = xmalloc(a->klen * 3 + 1), *y = xmalloc(b->klen * 3 + 1);
		size_t nx = key_decode(a, x), ny = key_decode(b, y);
		int eq = nx == ny && memcmp(x, y, nx) == 0;
		free(x);
		free(y);
		return eq;
	}
}

/* The value of m without whitespace outside strings. */
static void add_value(struct sbuf *out, const struct member *m)
{
	const char *p = m->val, *end = p + m->vlen, *from = p;
	if (!m->ws) {
		sbuf_add(out, p, m->vlen);
		return;
	}
	while (p < end) {
		if (*p == '"') {
			p = string_end(p, end);
			if (!p)
				break;
		} else if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
			sbuf_add(out, from, (size_t)(p - from));
			from = ++p;
		} else {
			p++;
		}
	}
	sbuf_add(out, from, (size_t)(end - from));
}

static int is_null(const struct member *m)
{
	return m->vlen == 4 && memcmp(m->val, "null", 4) == 0;
}

static int is_object(const struct member *m)
{
	return m->vlen && m->val[0] == '{';
}

static void add_key(struct sbuf *out, const struct member *m, int *first)
{
	if (!*first)
		sbuf_addc(out, ',');
	*first = 0;
	sbuf_addc(out, '"');
	sbuf_add(out, m->key, m->klen);
	sbuf_add(out, "\":", 2);
}

/* target (NULL: {}) merged with the object patch, appended to out. */
static int merge(struct sbuf *out, const char *t, size_t tn, const char *p, size_t pn)
{
	struct mlist tm, pm;
	char used_local[64], *used;
	int first = 1, rc = -1;
	if (members(p, p + pn, &pm) != 0) {
		mlist_free(&pm);
		return -1;
	}
	if (!t || members(t, t + tn, &tm) != 0) {
		/* Not an object (or none): the patch applies to {}. A
		 * malformed target is a malformed document, though. */
		if (t) {
			int ws = 0;
			const char *b = skip_ws(t, t + tn), *e = value_end(b, t + tn, &ws);
			mlist_free(&tm);
			if (!e || *b == '{' || skip_ws(e, t + tn) != t + tn) {
				mlist_free(&pm);
				return -1;
			}
		}
		tm.v = tm.local;
		tm.n = 0;
	}
	used = pm.n <= sizeof(used_local) ? used_local : xmalloc(pm.n);
	memset(used, 0, pm.n);
	sbuf_addc(out, '{');
	for (size_t i = 0; i < tm.n; i++) {
		const struct member *tv = &tm.v[i], *pv = NULL;
		for (size_t j = 0; j < pm.n; j++) {
			if (!used[j] && key_equal(tv, &pm.v[j])) {
				pv = &pm.v[j];
				used[j] = 1;
				break;
			}
		}
		if (!pv) {
			add_key(out, tv, &first);
			add_value(out, tv);
		} else if (is_null(pv)) {
			continue;
		} else if (is_object(pv)) {
			add_key(out, tv, &first);
			if (merge(out, is_object(tv) ? tv->val : NULL, tv->vlen, pv->val, pv->vlen))
				goto out;
		} else {
			add_key(out, tv, &first);
			add_value(out, pv);
		}
	}
	for (size_t j = 0; j < pm.n; j++) {
		const struct member *pv = &pm.v[j];
		if (used[j] || is_null(pv))
			continue;
		add_key(out, pv, &first);
		if (is_object(pv)) {
			if (merge(out, NULL, 0, pv->val, pv->vlen))
				goto out;
		} else {
			add_value(out, pv);
		}
	}
	sbuf_addc(out, '}');
	rc = 0;
out:
	if (used != used_local)
		free(used);
	mlist_free(&tm);
	mlist_free(&pm);
	return rc;
}

int store_merge_patch(const char *target, size_t tn, const char *patch, size_t pn,
		      struct sbuf *out)
{
	return merge(out, target, tn, patch, pn);
}

static void merge_patch_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *t = (const char *)sqlite3_value_text(argv[0]);
	const char *p = (const char *)sqlite3_value_text(argv[1]);
	struct sbuf out = {0};
	(void)argc;
	if (!t || !p) {
		sqlite3_result_null(ctx);
		return;
	}
	sbuf_reserve(&out, (size_t)sqlite3_value_bytes(argv[0]) +
			   (size_t)sqlite3_value_bytes(argv[1]) + 2);
	if (merge(&out, t, (size_t)sqlite3_value_bytes(argv[0]), p,
		  (size_t)sqlite3_value_bytes(argv[1]))) {
		sbuf_free(&out);
		sqlite3_result_error(ctx, "merge_patch: malformed JSON", -1);
		return;
	}
	sqlite3_result_text(ctx, out.p, (int)out.len, free);
}

int store_i_functions(sqlite3 *db)
{
	return sqlite3_create_function_v2(db, "merge_patch", 2,
					  SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
					  NULL, merge_patch_sql, NULL, NULL, NULL);
}
