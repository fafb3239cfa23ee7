/* net.h - the network layer: libwebsockets, the only file that knows it. */
#ifndef SESSIOND_NET_H
#define SESSIOND_NET_H

struct server;

/* Serves until net_stop(); then closes clients and returns. 0 on a clean
 * stop, -1 when the listener could not be created. */
int net_run(struct server *srv);
/* Async-signal-safe: asks the loop to stop (first call) or exit at once
 * (second call). */
void net_stop(void);

#endif
