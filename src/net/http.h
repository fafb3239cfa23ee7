/* http.h - plain HTTP on the server's port: /healthz, /metrics and the
 * admin API. Decides what to answer; net.c writes it. A method a route does
 * not take gets 405 with an Allow header; HEAD is answered as GET (the
 * network layer leaves the body out). */
#ifndef SESSIOND_HTTP_H
#define SESSIOND_HTTP_H

#include <stddef.h>

struct server;
struct frame;

struct http_response {
	unsigned status;
	const char *content_type;
	const char *www_authenticate;  /* NULL or the header value */
	struct frame *body;            /* owned by the receiver */
	char headers[1024];            /* more headers, "name: value\n" each; "" for none */
};

struct http_pending;

/* Returns 0 with *r filled, or 1 when the answer comes later: *pending is
 * then set and the network layer is woken through the waker once
 * http_pending_take() can fill a response. auth is the Authorization
 * header ("" when absent), peer the client's IP address (password
 * guessing is counted per address). */
int http_handle(struct server *srv, const char *method, const char *path, const char *auth,
		const char *peer, struct http_response *r, struct http_pending **pending);
/* The same for a request with a body (POST .../restore reads a JSON
 * object; other routes ignore it). */
int http_handle_body(struct server *srv, const char *method, const char *path,
		     const char *auth, const char *peer, const char *body, size_t bodylen,
		     struct http_response *r, struct http_pending **pending);
/* The admin API's credentials for a request to path: 0 when path needs
 * none or they are right, else 1 with *r the refusal (404 no
 * ADMIN_PASSWORD, 401, 403). A wrong password counts towards the
 * lock-out. Checked before anything about the request's body. */
int http_check_auth(struct server *srv, const char *method, const char *path,
		    const char *auth, const char *peer, struct http_response *r);
/* Largest request body read (past it: 413, once the credentials passed). */
#define HTTP_MAX_BODY 65536
void http_set_waker(void (*waker)(void *net));
void http_pending_attach(struct http_pending *p, void *net);
/* 1 with *r filled when the answer is ready (p is then freed). */
int http_pending_take(struct http_pending *p, struct http_response *r);
/* The HTTP connection went away: the answer will be dropped. */
void http_pending_detach(struct http_pending *p);

#endif
