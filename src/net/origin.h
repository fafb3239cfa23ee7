/* origin.h - which browser origins may use the server (PROTOCOL.md 1). */
#ifndef SESSIOND_ORIGIN_H
#define SESSIOND_ORIGIN_H

#include <stddef.h>

/* 1 when a request carrying `origin` may be served: it is the server's own
 * origin (the scheme the request came in on, `tls` set for https/wss, and
 * the host and port of its Host header), or it is listed in `allowed`
 * (ALLOWED_ORIGINS: comma-separated origins, "*" for any). host may be
 * NULL (no Host header: only the list can allow). Scheme and host compare
 * case-insensitively; a missing port is the scheme's default. */
int origin_allowed(const char *origin, const char *host, int tls, const char *allowed);
/* Checks ALLOWED_ORIGINS: every entry "*" or "http(s)://host[:port]".
 * -1 with the first bad entry in bad. */
int origin_list_check(const char *allowed, char *bad, size_t badlen);

#endif
