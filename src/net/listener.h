/* listener.h - what the server listens on, settled before anything starts:
 * HOST resolved to one address, that address and PORT tried, the TLS files
 * read, the descriptor limit raised. No libwebsockets here. */
#ifndef SESSIOND_LISTENER_H
#define SESSIOND_LISTENER_H

#include <stddef.h>

struct config;

struct listen_addr {
	int family;            /* AF_INET or AF_INET6 */
	char numeric[64];      /* the address, numeric ("127.0.0.1", "::1") */
	char display[72];      /* as logged: "127.0.0.1", "[::1]" */
	long port;
	int tls;               /* TLS_CERT and TLS_KEY are set */
};

/* Resolves HOST to one address and checks that HOST:PORT can be bound and
 * that the TLS files (when set) are readable. On failure err holds one
 * line naming the setting; the start must stop (exit 2). */
int listener_prepare(const struct config *cfg, struct listen_addr *out, char *err,
		     size_t errlen);
/* Checks that this process holds a listening socket bound to exactly
 * addr:port, and to nothing wider. 0 when it does. */
int listener_verify(const struct listen_addr *addr, char *err, size_t errlen);
/* Raises the soft RLIMIT_NOFILE to the hard limit and logs the result. */
void listener_raise_fd_limit(void);

#endif
