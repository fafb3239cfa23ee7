/* protocol.h - the wire protocol: frames in, replies and events out.
 *
 * net.c calls these with complete text frames and pieces of binary frames; they parse the
 * JSON envelope, run the handshake, enforce the rate limit and hand each
 * request to the session domain. No socket is touched here, so every rule
 * can be driven by a unit test with a fake network layer. */
#ifndef SESSIOND_PROTOCOL_H
#define SESSIOND_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct server;

#define PROTOCOL_HELLO_TIMEOUT_US (10 * 1000000LL)

void protocol_receive(struct conn *c, const char *data, size_t len, int binary);
/* A piece of a binary frame, as it arrives (not reassembled): the bytes of
 * an open blob upload, or else a frame refused as protocol_receive would. */
void protocol_receive_binary(struct conn *c, const char *data, size_t len, int first,
			     int final);
/* The socket is gone: the client leaves its session. */
void protocol_closed(struct conn *c);
/* Liveness, once a second. Returns 1 when the connection should be sent a
 * WebSocket ping now. */
int protocol_tick(struct conn *c, int64_t now_us);
/* Password guessing (PROTOCOL.md 1), shared with the admin API: 1 when
 * addr is locked out (the attempt counts as a failure, unchecked); and a
 * failed password from addr, which may lock it out (logged once). */
int protocol_auth_locked(struct server *srv, const char *addr);
void protocol_auth_failed(struct server *srv, const char *addr);
/* Any frame or pong from the peer. */
void protocol_alive(struct conn *c);

#endif
