/* authguard.h - password guessing: failed passwords counted per client
 * address, and addresses locked out after too many (PROTOCOL.md 1). */
#ifndef SESSIOND_AUTHGUARD_H
#define SESSIOND_AUTHGUARD_H

#include <stdint.h>

#define AUTHGUARD_MAX_FAILURES 10   /* within the window: the address is locked out */
#define AUTHGUARD_SLOTS 4096        /* addresses tracked at once */

struct authguard;

/* window_us: the counting window, and the length of a lock-out. */
struct authguard *authguard_new(int64_t window_us);
void authguard_free(struct authguard *g);
/* 1 while addr is locked out (its attempts are refused unchecked). */
int authguard_locked(struct authguard *g, const char *addr, int64_t now_us);
/* Counts a failed password from addr. Returns 1 when this failure locks
 * the address out (the caller logs that, once). */
int authguard_fail(struct authguard *g, const char *addr, int64_t now_us);

#endif
