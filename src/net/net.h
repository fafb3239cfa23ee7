/* net.h - the network layer: libwebsockets, the only file that knows it. */
#ifndef SESSIOND_NET_H
#define SESSIOND_NET_H

struct server;
struct listen_addr;

/* Serves on addr (from listener_prepare) until net_stop(); then closes
 * clients and returns. 0 on a clean stop, -2 when the listener could not be
 * created as asked (logged; the start fails with exit 2). */
int net_run(struct server *srv, const struct listen_addr *addr);
/* Async-signal-safe: asks the loop to stop (first call) or exit at once
 * (second call). */
void net_stop(void);

#endif
