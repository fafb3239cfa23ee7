/* connguard.h - a cap on connections that hold a socket without using it:
 * accepted, not (yet) a WebSocket, and not waiting for an answer (silent
 * sockets, half-sent request headers or bodies, idle keep-alive). They are
 * capped per client address (IPv6 grouped by /64) and in total; at a cap the
 * oldest idle one is dropped to make room, so one peer holding sockets open
 * cannot take the server off the air. Connections are named by an opaque
 * key (the network layer's handle); nothing here touches a socket. */
#ifndef SESSIOND_CONNGUARD_H
#define SESSIOND_CONNGUARD_H

#include <stddef.h>
#include <stdint.h>

struct connguard;

/* per_addr and total: the caps (at least 1 each). */
struct connguard *connguard_new(size_t per_addr, size_t total);
void connguard_free(struct connguard *g);

/* A connection accepted from peer (its IP address as text) at now (any
 * monotonic clock). Returns NULL, or the key of the connection to drop
 * now, already forgotten: the oldest idle one of the same address when
 * that address is at its cap, else the oldest idle one anywhere when the
 * total is at its cap; key itself when every other one is busy. *why
 * (may be NULL) gets "per_address" or "total" when one is returned. */
void *connguard_add(struct connguard *g, void *key, const char *peer, int64_t now,
		    const char **why);
/* busy: an answer is being prepared (not droppable); idle again: the
 * connection counts as new from now (keep-alive after an answer). */
void connguard_busy(struct connguard *g, void *key, int busy, int64_t now);
/* The connection became a WebSocket or closed (unknown keys, and a NULL
 * guard, are ignored; so by connguard_busy). */
void connguard_remove(struct connguard *g, void *key);
/* The address a per-address limit counts (out: 48 bytes): IPv4 (and
 * IPv4-mapped IPv6) as it is, other IPv6 addresses as their /64, which one
 * host can rotate through at will. */
void connguard_addr_group(const char *peer, char *out, size_t outlen);
/* Connections tracked (idle and busy). */
size_t connguard_count(const struct connguard *g);

#endif
