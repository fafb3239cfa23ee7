/* origin.c - the browser rule.
 *
 * A browser sends Origin with every WebSocket upgrade and every cross-site
 * request; other clients send none, and are not affected. The check is
 * plain string work on two headers, kept apart from the network layer so
 * every case is unit-tested. An origin is "scheme://host[:port]"; the
 * opaque origin "null" (sandboxed pages, file://) is never the server's
 * own and matches only "*". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "origin.h"

struct parsed {
	char scheme[8];   /* "http" or "https" */
	char host[256];   /* lower case; IPv6 keeps its brackets */
	long port;
};

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* host[:port] from s[0..n); port defaults to def. */
static int parse_hostport(const char *s, size_t n, long def, struct parsed *p)
{
	const char *colon = NULL;
	size_t hl;

	if (!n)
		return -1;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return -1;
		hl = (size_t)(close - s) + 1;
		if (hl < n) {
			if (s[hl] != ':')
				return -1;
			colon = s + hl;
		}
	} else {
		colon = memchr(s, ':', n);
		hl = colon ? (size_t)(colon - s) : n;
	}
	if (!hl || hl >= sizeof(p->host))
		return -1;
	memcpy(p->host, s, hl);
	p->host[hl] = 0;
	lower(p->host);
	p->port = def;
	if (colon) {
		long v = 0;
		const char *d = colon + 1, *end = s + n;
		if (d == end || end - d > 5)
			return -1;
		for (; d < end; d++) {
			if (!isdigit((unsigned char)*d))
				return -1;
			v = v * 10 + (*d - '0');
		}
		if (v < 1 || v > 65535)
			return -1;
		p->port = v;
	}
	return 0;
}

static int parse_origin(const char *s, size_t n, struct parsed *p)
{
	long def;
	size_t sl;
	while (n && (s[n - 1] == '/'))
		n--;
	if (n > 7 && strncasecmp(s, "http://", 7) == 0) {
		sl = 7;
		def = 80;
	} else if (n > 8 && strncasecmp(s, "https://", 8) == 0) {
		sl = 8;
		def = 443;
	} else {
		return -1;
	}
	memcpy(p->scheme, s, sl - 3);
	p->scheme[sl - 3] = 0;
	lower(p->scheme);
	return parse_hostport(s + sl, n - sl, def, p);
}

static int same(const struct parsed *a, const struct parsed *b)
{
	return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 &&
	       a->port == b->port;
}

/* The next entry of a comma-separated list, spaces trimmed: *q and *n
 * (possibly empty). Returns 0 once *p is used up. */
static int next_entry(const char **p, const char **q, size_t *n)
{
	const char *end;
	if (!**p)
		return 0;
	end = strchr(*p, ',');
	*q = *p;
	*n = end ? (size_t)(end - *p) : strlen(*p);
	*p = end ? end + 1 : *p + *n;
	while (*n && isspace((unsigned char)**q)) {
		(*q)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*q)[*n - 1]))
		(*n)--;
	return 1;
}

int origin_allowed(const char *origin, const char *host, int tls, const char *allowed)
{
	struct parsed o, own, a;
	const char *p = allowed ? allowed : "", *q;
	size_t n;
	int have_o;

	have_o = parse_origin(origin, strlen(origin), &o) == 0;
	if (have_o && host && parse_hostport(host, strlen(host), tls ? 443 : 80, &own) == 0) {
		snprintf(own.scheme, sizeof(own.scheme), "%s", tls ? "https" : "http");
		if (same(&o, &own))
			return 1;
	}
	while (next_entry(&p, &q, &n)) {
		if (n == 1 && *q == '*')
			return 1;
		if (have_o && parse_origin(q, n, &a) == 0 && same(&o, &a))
			return 1;
	}
	return 0;
}

int origin_list_check(const char *allowed, char *bad, size_t badlen)
{
	const char *p = allowed ? allowed : "", *q;
	struct parsed a;
	size_t n;
	while (next_entry(&p, &q, &n)) {
		if (n && !(n == 1 && *q == '*') && parse_origin(q, n, &a) != 0) {
			snprintf(bad, badlen, "%.*s", (int)(n > 200 ? 200 : n), q);
			return -1;
		}
	}
	return 0;
}
