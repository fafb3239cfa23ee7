/* connguard.c - the cap on connections that hold a socket without using it
 * (see connguard.h).
 *
 * Design notes
 * - Why: file descriptors are finite (the loop's fd table is sized from
 *   MAX_CONNECTIONS). Before this cap, a peer opening ~1,100 sockets and
 *   sending nothing filled it: /healthz and real clients could not connect
 *   until libwebsockets' 20 s timeout closed them, and the peer simply
 *   opened them again. MAX_CONNECTIONS counts WebSockets only.
 * - What is counted: every accepted connection until it becomes a WebSocket
 *   or closes. One that is waiting for its answer (a deferred admin API
 *   request) is busy and never dropped; every other one is idle and ages
 *   from its accept, or from its last answer (keep-alive).
 * - At a cap the oldest idle connection goes first, so a new request (a
 *   health check, a real client) always gets in: the attacker's sockets are
 *   what ages. The address cap picks among that address's connections, the
 *   total cap among all.
 * - IPv6 addresses are grouped by /64: one host is given a /64 and can
 *   rotate through it at will.
 * - The table is an array scanned linearly: it never holds more than the
 *   total cap (a few hundred), and a scan is cheaper than the accept. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connguard.h"
#include "util.h"

struct guarded {
	void *key;
	char addr[48];      /* the peer's address, IPv6 cut to its /64 */
	int64_t since;      /* accepted, or last answered */
	int busy;
};

struct connguard {
	size_t per_addr, total;
	struct guarded *v;
	size_t n;
};

struct connguard *connguard_new(size_t per_addr, size_t total)
{
	struct connguard *g = xcalloc(1, sizeof(*g));
	g->per_addr = per_addr ? per_addr : 1;
	g->total = total ? total : 1;
	g->v = xcalloc(g->total + 1, sizeof(*g->v));
	return g;
}

void connguard_free(struct connguard *g)
{
	if (!g)
		return;
	free(g->v);
	free(g);
}

void connguard_addr_group(const char *peer, char *out, size_t outlen)
{
	unsigned char a6[16];
	if (strchr(peer, ':') && inet_pton(AF_INET6, peer, a6) == 1) {
		static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, v4mapped, sizeof(v4mapped)) != 0) {
			memset(a6 + 8, 0, 8);
			if (inet_ntop(AF_INET6, a6, out, (socklen_t)outlen))
				return;
		}
	}
	snprintf(out, outlen, "%s", peer);
}

static struct guarded *find(struct connguard *g, void *key)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].key == key)
			return &g->v[i];
	return NULL;
}

static void drop_at(struct connguard *g, size_t i)
{
	g->v[i] = g->v[--g->n];
}

/* Index of the oldest idle entry (of addr when not NULL), or -1. */
static long oldest_idle(const struct connguard *g, const char *addr, void *except)
{
	long best = -1;
	for (size_t i = 0; i < g->n; i++) {
		const struct guarded *e = &g->v[i];
		if (e->busy || e->key == except || (addr && strcmp(e->addr, addr) != 0))
			continue;
		if (best < 0 || e->since < g->v[best].since)
			best = (long)i;
	}
	return best;
}

void *connguard_add(struct connguard *g, void *key, const char *peer, int64_t now,
		    const char **why)
{
	char addr[48];
	size_t same = 0;
	long victim = -1;
	void *out;

	connguard_addr_group(peer ? peer : "", addr, sizeof(addr));
	for (size_t i = 0; i < g->n; i++)
		same += strcmp(g->v[i].addr, addr) == 0;
	if (same >= g->per_addr) {
		if (why)
			*why = "per_address";
		victim = oldest_idle(g, addr, NULL);
	} else if (g->n >= g->total) {
		if (why)
			*why = "total";
		victim = oldest_idle(g, NULL, NULL);
	} else {
		victim = -2; /* room */
	}
	if (victim == -1)
		return key; /* every other one is busy: the new one goes */
	out = NULL;
	if (victim >= 0) {
		out = g->v[victim].key;
		drop_at(g, (size_t)victim);
	}
	g->v[g->n].key = key;
	snprintf(g->v[g->n].addr, sizeof(g->v[g->n].addr), "%s", addr);
	g->v[g->n].since = now;
	g->v[g->n].busy = 0;
	g->n++;
	return out;
}

void connguard_busy(struct connguard *g, void *key, int busy, int64_t now)
{
	struct guarded *e = g ? find(g, key) : NULL;
	if (!e)
		return;
	e->busy = busy;
	if (!busy)
		e->since = now;
}

void connguard_remove(struct connguard *g, void *key)
{
	struct guarded *e = g ? find(g, key) : NULL;
	if (e)
		drop_at(g, (size_t)(e - g->v));
}

size_t connguard_count(const struct connguard *g)
{
	return g->n;
}
