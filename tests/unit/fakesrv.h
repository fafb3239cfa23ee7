/* fakesrv.h - the server without sockets, for the protocol and session
 * tests: a struct server with a real config and DATA_DIR (a temp dir), a
 * no-op network wake-up, connections from conn_new, frames in through
 * protocol_receive and out through conn_peek/conn_pop, exactly as net.c
 * drives them. Saves run synchronously (no saver thread). Include after
 * <cmocka.h>. */
#ifndef SESSIOND_FAKESRV_H
#define SESSIOND_FAKESRV_H

#include <stdarg.h>
#include <stdio.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "protocol.h"
#include "server.h"
#include "session.h"
#include "testutil.h"

struct fake {
	char *dir;
	struct config cfg;
	struct server srv;
};

static inline void fake_wake(struct conn *c) { (void)c; }

/* env: extra "NAME=value" settings (NULL-terminated, may be NULL). */
static inline struct fake *fake_new(const char *const *env)
{
	struct fake *f = calloc(1, sizeof(*f));
	char dd[4200], err[512], *out = NULL, *argv[] = {(char *)"sessiond", NULL};
	const char *e[32];
	int n = 0;
	f->dir = tu_mkdtemp();
	snprintf(dd, sizeof(dd), "DATA_DIR=%s", f->dir);
	e[n++] = dd;
	for (; env && *env && n < 30; env++)
		e[n++] = *env;
	e[n] = NULL;
	if (config_load(&f->cfg, 1, argv, (char **)e, err, sizeof(err), &out) != CONFIG_OK)
		fail_msg("config: %s", err);
	log_set_level(LOG_ERROR);
	server_init(&f->srv, &f->cfg);
	f->srv.wake = fake_wake;
	return f;
}

/* Closes every connection as the network layer would, then frees all. */
static inline void fake_free(struct fake *f)
{
	for (struct conn *c = f->srv.conns; c; c = c->next)
		protocol_closed(c);
	server_flush(&f->srv);
	server_free(&f->srv);
	config_free(&f->cfg);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
}

static inline struct session *fake_session(struct fake *f, const char *name)
{
	for (struct session *s = f->srv.sessions; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static inline void send_raw(struct conn *c, const char *text)
{
	protocol_receive(c, text, strlen(text), 0);
}

static inline void sendf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void sendf(struct conn *c, const char *fmt, ...)
{
	char buf[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	send_raw(c, buf);
}

/* The next frame c would write, parsed (a new reference), or NULL. */
static inline json_t *recv_one(struct conn *c)
{
	struct frame *fr = conn_peek(c);
	json_error_t e;
	json_t *o;
	if (!fr)
		return NULL;
	o = json_loadb(frame_data(fr), fr->len, JSON_REJECT_DUPLICATES, &e);
	if (!o)
		fail_msg("conn %llu sent invalid JSON: %s", (unsigned long long)c->id, e.text);
	conn_pop(c);
	return o;
}

/* Everything c would write now, as an array. */
static inline json_t *recv_all(struct conn *c)
{
	json_t *all = json_array(), *o;
	while ((o = recv_one(c)))
		json_array_append_new(all, o);
	return all;
}

static inline void drain(struct conn *c)
{
	json_decref(recv_all(c));
}

static inline const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static inline json_int_t jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The next frame, which must have this type (a new reference). */
static inline json_t *expect_type(struct conn *c, const char *type)
{
	json_t *o = recv_one(c);
	if (!o)
		fail_msg("conn %llu: expected %s, got nothing", (unsigned long long)c->id, type);
	if (!jstr(o, "type") || strcmp(jstr(o, "type"), type) != 0) {
		char *s = json_dumps(o, JSON_COMPACT);
		char msg[600];
		snprintf(msg, sizeof(msg), "conn %llu: expected %s, got %.500s",
			 (unsigned long long)c->id, type, s);
		free(s);
		json_decref(o);
		fail_msg("%s", msg);
	}
	return o;
}

/* An error with this code (and re, when re >= 0; re < 0: no re at all). */
static inline void expect_error(struct conn *c, const char *code, long long re)
{
	json_t *o = expect_type(c, "error");
	assert_string_equal(jstr(o, "code"), code);
	assert_non_null(jstr(o, "message"));
	if (re >= 0)
		assert_int_equal(jint(o, "re"), re);
	else
		assert_null(json_object_get(o, "re"));
	json_decref(o);
}

/* An ok for request re; returns it (a new reference). */
static inline json_t *expect_ok(struct conn *c, long long re)
{
	json_t *o = expect_type(c, "ok");
	assert_int_equal(jint(o, "re"), re);
	return o;
}

static inline void expect_nothing(struct conn *c)
{
	json_t *o = recv_one(c);
	if (o) {
		char *s = json_dumps(o, JSON_COMPACT);
		char msg[600];
		snprintf(msg, sizeof(msg), "conn %llu: expected nothing, got %.500s",
			 (unsigned long long)c->id, s);
		free(s);
		json_decref(o);
		fail_msg("%s", msg);
	}
}

/* Connects `user` to `session` with extra hello fields (",\"k\":v" or "")
 * and reads its welcome, sync frames and synced; returns the conn. The
 * welcome is stored in *welcome when given (a new reference). */
static inline struct conn *join_ex(struct fake *f, const char *session, const char *user,
				   const char *extra, json_t **welcome)
{
	struct conn *c = conn_new(&f->srv, session, NULL);
	json_t *w, *o;
	sendf(c, "{\"type\":\"hello\",\"id\":\"h\",\"user\":\"%s\"%s}", user, extra);
	server_flush(&f->srv);
	w = expect_type(c, "welcome");
	assert_string_equal(jstr(w, "re"), "h");
	for (;;) {
		o = recv_one(c);
		if (!o)
			fail_msg("%s: no synced after welcome", user);
		if (strcmp(jstr(o, "type"), "synced") == 0)
			break;
		assert_string_equal(jstr(o, "type"), "sync");
		json_decref(o);
	}
	assert_int_equal(jint(o, "seq"), jint(w, "seq"));
	json_decref(o);
	if (welcome)
		*welcome = w;
	else
		json_decref(w);
	return c;
}

static inline struct conn *join(struct fake *f, const char *user)
{
	return join_ex(f, "default", user, "", NULL);
}

/* The socket closes: the client leaves, and the batch is flushed. */
static inline void disconnect(struct fake *f, struct conn *c)
{
	protocol_closed(c);
	server_flush(&f->srv);
}

#endif
