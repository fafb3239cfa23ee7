/* authguard.c - failed passwords per client address.
 *
 * Every address with a failure in the last window has a slot: the number
 * of failures since its window began, and the end of its lock-out. The
 * AUTHGUARD_MAX_FAILURES-th failure within one window locks the address out
 * for one window length; while locked, attempts are refused without looking
 * at the password (so guessing gains nothing) and are not counted (so the
 * lock-out ends on time). A success does not reset the count: a guesser
 * who knows one account's password gains nothing either.
 *
 * The table is fixed (AUTHGUARD_SLOTS, a linear scan; hellos and admin
 * requests are rare next to the messages of joined clients), so a flood of
 * addresses cannot grow memory: when it is full, the unlocked slot whose
 * window began earliest is reused, and only when every slot is locked the
 * one whose lock-out ends first (never simply the first slot: that would
 * let one address be unlocked again and again). IPv6 addresses count per
 * /64 (connguard_addr_group), the block one host is given and can rotate
 * through. The clock is the caller's, so the tests need not wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authguard.h"
#include "connguard.h"
#include "util.h"

struct slot {
	char addr[48];
	int failures;
	int64_t window_start_us;
	int64_t locked_until_us;
};

struct authguard {
	int64_t window_us;
	struct slot slots[AUTHGUARD_SLOTS];
};

struct authguard *authguard_new(int64_t window_us)
{
	struct authguard *g = xcalloc(1, sizeof(*g));
	g->window_us = window_us;
	return g;
}

void authguard_free(struct authguard *g) { free(g); }

static int slot_live(const struct authguard *g, const struct slot *s, int64_t now)
{
	return s->addr[0] && (now < s->locked_until_us || now - s->window_start_us < g->window_us);
}

static struct slot *find(struct authguard *g, const char *addr)
{
	for (size_t i = 0; i < AUTHGUARD_SLOTS; i++)
		if (g->slots[i].addr[0] && strcmp(g->slots[i].addr, addr) == 0)
			return &g->slots[i];
	return NULL;
}

int authguard_locked(struct authguard *g, const char *peer, int64_t now_us)
{
	char addr[48];
	struct slot *s;
	if (!g)
		return 0;
	connguard_addr_group(peer, addr, sizeof(addr));
	s = find(g, addr);
	return s && now_us < s->locked_until_us;
}

int authguard_fail(struct authguard *g, const char *peer, int64_t now_us)
{
	struct slot *s, *victim = NULL;
	char addr[48];

	if (!g)
		return 0;
	connguard_addr_group(peer, addr, sizeof(addr));
	s = find(g, addr);
	if (s && now_us < s->locked_until_us)
		return 0;
	if (!s) {
		for (size_t i = 0; i < AUTHGUARD_SLOTS && !s; i++)
			if (!slot_live(g, &g->slots[i], now_us))
				s = &g->slots[i];
		for (size_t i = 0; !s && i < AUTHGUARD_SLOTS; i++) {
			struct slot *c = &g->slots[i];
			if (now_us < c->locked_until_us)
				continue;
			if (!victim || c->window_start_us < victim->window_start_us)
				victim = c;
		}
		if (!s && !victim) { /* every slot locked: the lock that ends first */
			victim = &g->slots[0];
			for (size_t i = 1; i < AUTHGUARD_SLOTS; i++)
				if (g->slots[i].locked_until_us < victim->locked_until_us)
					victim = &g->slots[i];
		}
		if (!s)
			s = victim;
		memset(s, 0, sizeof(*s));
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		s->window_start_us = now_us;
	}
	if (now_us - s->window_start_us >= g->window_us) {
		s->failures = 0;
		s->window_start_us = now_us;
	}
	if (++s->failures < AUTHGUARD_MAX_FAILURES)
		return 0;
	s->failures = 0;
	s->locked_until_us = now_us + g->window_us;
	s->window_start_us = s->locked_until_us; /* a fresh window after the lock-out */
	return 1;
}
