/* http.c - plain HTTP routes.
 *
 * GET /healthz and GET /metrics are open; /api/... is the admin API (see
 * api routes below). Bodies are built here as frames (the same refcounted
 * buffers WebSocket frames use, with the header room the writer needs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "backup.h"
#include "config.h"
#include "frame.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "server.h"
#include "session.h"
#include "util.h"

struct http_pending {
	void *net;
	struct frame *body;
	unsigned status;
	int ready;
	int detached;
};

static void (*wake_net)(void *net);

void http_set_waker(void (*waker)(void *net)) { wake_net = waker; }

static void respond_json(struct http_response *r, unsigned status, json_t *obj /* stolen */)
{
	r->status = status;
	r->content_type = "application/json";
	r->www_authenticate = NULL;
	r->headers[0] = 0;
	r->body = frame_from_json(obj);
	json_decref(obj);
}

static void respond_error(struct http_response *r, unsigned status, const char *msg)
{
	const char *code = status == 404 ? "not_found" : status == 401 ? "unauthenticated"
			 : status == 403 ? "forbidden" : status == 405 ? "bad_request" : "error";
	respond_json(r, status, json_pack("{ss ss}", "error", msg, "code", code));
}

/* 200 while the server can serve; "degraded" (still 200: the other
 * sessions are served) names the sessions that could not be opened. */
static void healthz(struct server *srv, struct http_response *r)
{
	const char *status = srv->shutting_down ? "shutting_down" : srv->nfailed ? "degraded" : "ok";
	json_t *o = json_pack("{ss sI sI sI}", "status", status,
			      "sessions", (json_int_t)srv->nsessions,
			      "sessions_on_disk", (json_int_t)srv->sessions_on_disk,
			      "connections", (json_int_t)srv->nconns);
	if (srv->nfailed) {
		json_t *names = json_array();
		for (size_t i = 0; i < srv->nfailed; i++)
			json_array_append_new(names, json_string(srv->failed[i]));
		json_object_set_new(o, "failed_sessions", names);
	}
	respond_json(r, srv->shutting_down ? 503 : 200, o);
}

static void metrics(struct server *srv, struct http_response *r)
{
	struct metrics_session *ms = xcalloc(srv->nsessions + 1, sizeof(*ms));
	size_t n = 0;
	char *text;

	for (struct session *s = srv->sessions; s; s = s->next, n++) {
		struct session_sizes z;
		session_sizes(s, &z);
		ms[n].name = s->name;
		ms[n].connections = s->nclients;
		ms[n].db_bytes = z.db_bytes;
		ms[n].wal_bytes = z.wal_bytes;
		ms[n].blob_bytes = z.blob_bytes;
		ms[n].backups = z.backups;
		ms[n].seq = s->seq;
		ms[n].last_save_time = s->last_save_time;
	}
	text = metrics_render(&srv->metrics, srv->nconns, ms, n);
	free(ms);
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	r->www_authenticate = NULL;
	r->headers[0] = 0;
	r->body = frame_new(text, strlen(text));
	free(text);
}

static void pending_done(struct http_pending *p, struct frame *body, unsigned status);

/* The session domain's answer to POST /api/sessions/NAME/save. */
static void save_done(void *arg, const struct backup_job *job)
{
	json_t *o = job->ok ? json_pack("{ss ss sI sI}", "session", job->session,
					"backup", job->backup, "bytes", (json_int_t)job->bytes,
					"ms", (json_int_t)job->ms)
			    : json_pack("{ss ss}", "error", job->error, "code", "unavailable");
	struct frame *f = frame_from_json(o);
	json_decref(o);
	pending_done(arg, f, job->ok ? 200 : 503);
}

/* The session domain's answer to POST /api/sessions/NAME/restore. */
static void restore_done(void *arg, unsigned status, json_t *body)
{
	struct frame *f = frame_from_json(body);
	json_decref(body);
	pending_done(arg, f, status);
}

/* POST /api/sessions/NAME/restore {"backup":"snapshot_….db"} */
static int api_restore(struct session *s, const char *body, size_t bodylen,
		       struct http_response *r, struct http_pending **pending)
{
	json_error_t e;
	json_t *req = body ? json_loadb(body, bodylen, JSON_REJECT_DUPLICATES, &e) : NULL;
	const char *backup = json_string_value(json_object_get(req, "backup"));
	char err[512];
	unsigned status;
	if (!backup) {
		respond_json(r, 400, json_pack("{ss ss}", "error", "the body must be a JSON object "
			     "{\"backup\": FILE} naming one of the session's backups", "code",
			     "bad_request"));
		json_decref(req);
		return 0;
	}
	*pending = xcalloc(1, sizeof(**pending));
	status = session_restore_notify(s, backup, restore_done, *pending, err, sizeof(err));
	json_decref(req);
	if (status) {
		free(*pending);
		*pending = NULL;
		respond_json(r, status, json_pack("{ss ss}", "error", err, "code",
						  status == 404 ? "not_found" : "conflict"));
		return 0;
	}
	return 1;
}

/* POST /api/sessions/NAME/save */
static int api_save(struct session *s, struct http_response *r, struct http_pending **pending)
{
	char err[256];
	unsigned status;
	log_info("Admin API requested a save (session=%s)", s->name);
	*pending = xcalloc(1, sizeof(**pending));
	status = session_save_notify(s, save_done, *pending, err, sizeof(err));
	if (status) {
		free(*pending);
		*pending = NULL;
		respond_json(r, status, json_pack("{ss ss}", "error", err, "code", "conflict"));
		return 0;
	}
	return 1;
}

/* DELETE /api/sessions/NAME */
static int api_delete(struct session *s, struct http_response *r,
		      struct http_pending **pending)
{
	char err[256];
	unsigned status;
	*pending = xcalloc(1, sizeof(**pending));
	status = session_delete_notify(s, restore_done, *pending, err, sizeof(err));
	if (status) {
		free(*pending);
		*pending = NULL;
		respond_json(r, status, json_pack("{ss ss}", "error", err, "code", "conflict"));
		return 0;
	}
	return 1;
}

/* 1 when method is one of allow (a list as the Allow header spells it,
 * "GET, HEAD"); else r is a 405 carrying that Allow header. HEAD is
 * answered wherever GET is. */
static int method_ok(struct http_response *r, const char *method, const char *allow)
{
	size_t n = strlen(method);
	for (const char *p = allow; (p = strstr(p, method)); p += n)
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == 0))
			return 1;
	respond_error(r, 405, "method not allowed");
	snprintf(r->headers, sizeof(r->headers), "allow: %s\n", allow);
	return 0;
}

int http_check_auth(struct server *srv, const char *method, const char *path,
		    const char *auth, const char *peer, struct http_response *r)
{
	if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0)
		return 0;
	if (!*srv->cfg->admin_password) {
		respond_error(r, 404, "the admin API is disabled: set ADMIN_PASSWORD");
		return 1;
	}
	if (!*auth) {
		respond_error(r, 401, "missing Authorization: Bearer ADMIN_PASSWORD");
		r->www_authenticate = "Bearer realm=\"sessiond\"";
		return 1;
	}
	if (protocol_auth_locked(srv, peer)) {
		log_debug("Admin API: refused %s %s from %s: locked out", method, path, peer);
		respond_error(r, 403, "too many failed passwords from this address; try again later");
		return 1;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0 || !util_secret_equal(auth + 7,
								   srv->cfg->admin_password)) {
		log_warning("Admin API: wrong credentials for %s %s from %s", method, path, peer);
		protocol_auth_failed(srv, peer);
		respond_error(r, 403, "wrong admin password");
		return 1;
	}
	return 0;
}

/* The admin API: Authorization: Bearer ADMIN_PASSWORD. */
static int api(struct server *srv, const char *method, const char *path, const char *auth,
	       const char *peer, const char *body, size_t bodylen,
	       struct http_response *r, struct http_pending **pending)
{
	char name[80], err[512];
	const char *rest;
	struct session *s;
	json_t *o;
	size_t n;

	if (http_check_auth(srv, method, path, auth, peer, r))
		return 0;
	if (strcmp(path, "/api/sessions") == 0 || strcmp(path, "/api/sessions/") == 0) {
		if (method_ok(r, method, "GET, HEAD"))
			respond_json(r, 200, json_pack("{so}", "sessions",
						       server_sessions_json(srv)));
		return 0;
	}
	if (strncmp(path, "/api/sessions/", 14) != 0)
		goto notfound;
	rest = strchr(path + 14, '/');
	n = rest ? (size_t)(rest - (path + 14)) : strlen(path + 14);
	if (n >= sizeof(name))
		goto notfound;
	memcpy(name, path + 14, n);
	name[n] = 0;
	if (!server_session_exists(srv, name)) {
		respond_error(r, 404, "no such session");
		return 0;
	}
	if (!rest || strcmp(rest, "/") == 0) {
		if (!method_ok(r, method, "GET, HEAD, DELETE"))
			return 0;
		if (strcmp(method, "DELETE") != 0) {
			/* Read from disk when the session is closed: looking
			 * does not open it again. */
			o = server_session_json(srv, name);
			if (o)
				respond_json(r, 200, o);
			else
				respond_error(r, 404, "no such session");
			return 0;
		}
	} else if (strcmp(rest, "/backups") == 0) {
		if (!method_ok(r, method, "GET, HEAD"))
			return 0;
		o = server_backups_json(srv, name);
		if (o)
			respond_json(r, 200, json_pack("{ss so}", "session", name, "backups", o));
		else
			respond_error(r, 404, "no such session");
		return 0;
	} else if (strcmp(rest, "/save") == 0 || strcmp(rest, "/restore") == 0) {
		if (!method_ok(r, method, "POST"))
			return 0;
	} else {
		goto notfound;
	}
	/* What changes the session opens it. */
	s = server_session(srv, name, 0, err, sizeof(err));
	if (!s) {
		respond_json(r, 503, json_pack("{ss ss}", "error", err, "code", "unavailable"));
		return 0;
	}
	if (!rest || strcmp(rest, "/") == 0)
		return api_delete(s, r, pending);
	if (strcmp(rest, "/save") == 0)
		return api_save(s, r, pending);
	return api_restore(s, body, bodylen, r, pending);
notfound:
	respond_error(r, 404, "no such endpoint");
	return 0;
}

int http_handle(struct server *srv, const char *method, const char *path, const char *auth,
		const char *peer, struct http_response *r, struct http_pending **pending)
{
	return http_handle_body(srv, method, path, auth, peer, NULL, 0, r, pending);
}

int http_handle_body(struct server *srv, const char *method, const char *path,
		     const char *auth, const char *peer, const char *body, size_t bodylen,
		     struct http_response *r, struct http_pending **pending)
{
	*pending = NULL;
	if (strcmp(method, "HEAD") == 0)
		method = "GET"; /* the network layer leaves the body out */
	if (strcmp(path, "/healthz") == 0) {
		if (method_ok(r, method, "GET, HEAD"))
			healthz(srv, r);
		return 0;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (method_ok(r, method, "GET, HEAD"))
			metrics(srv, r);
		return 0;
	}
	if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0)
		return api(srv, method, path, auth, peer, body, bodylen, r, pending);
	respond_error(r, 404, "no such endpoint");
	return 0;
}

void http_pending_attach(struct http_pending *p, void *net) { p->net = net; }

int http_pending_take(struct http_pending *p, struct http_response *r)
{
	if (!p->ready)
		return 0;
	r->status = p->status;
	r->content_type = "application/json";
	r->www_authenticate = NULL;
	r->headers[0] = 0;
	r->body = p->body;
	free(p);
	return 1;
}

void http_pending_detach(struct http_pending *p)
{
	if (p->ready) {
		frame_unref(p->body);
		free(p);
	} else {
		p->detached = 1;
		p->net = NULL;
	}
}

static void pending_done(struct http_pending *p, struct frame *body, unsigned status)
{
	if (p->detached) {
		frame_unref(body);
		free(p);
		return;
	}
	p->body = body;
	p->status = status;
	p->ready = 1;
	if (p->net && wake_net)
		wake_net(p->net);
}
