/* protocol.c - the envelope and the handshake.
 *
 * Order of checks for a frame after hello: rate limit, text (not binary),
 * JSON object, id, type; then the domain. Errors for a joined connection are
 * queued through the session (session_reply) so they keep their place among
 * replies that wait for the batch to commit: replies always leave in the
 * order the requests came in. Before the hello there is no session, and the
 * first frame decides everything: a good hello joins, anything else is
 * answered and the connection closed. Wrong passwords are counted per
 * client address (authguard.c, shared with the admin API): a locked-out
 * address is refused before its passwords are looked at. */
#include <stdio.h>
#include <string.h>

#include "authguard.h"
#include "config.h"
#include "conn.h"
#include "frame.h"
#include "jsonparse.h"
#include "log.h"
#include "protocol.h"
#include "envelope.h"
#include "server.h"
#include "session.h"
#include "util.h"
#include "validate.h"

/* Sends an error to a connection that is not (yet) in a session. */
static void early_error(struct conn *c, json_t *id, const char *code, const char *msg,
			int close_code, const char *close_reason)
{
	struct frame *f = envelope_error(id, code, msg, NULL);
	conn_send(c, f);
	frame_unref(f);
	if (close_code)
		conn_close(c, close_code, close_reason);
}

static void reply(struct conn *c, json_t *id, const char *code, const char *msg)
{
	struct frame *f = envelope_error(id, code, msg, NULL);
	session_reply(c->session, c, f);
	frame_unref(f);
}

static int rate_ok(struct conn *c)
{
	double rate = (double)c->srv->cfg->rate_limit;
	int64_t now = util_mono_us();
	if (rate <= 0)
		return 1;
	c->tokens += (double)(now - c->tokens_us) * rate / 1e6;
	c->tokens_us = now;
	if (c->tokens > rate) /* bursts of up to one second's worth */
		c->tokens = rate;
	if (c->tokens < 1.0)
		return 0;
	c->tokens -= 1.0;
	return 1;
}

int protocol_auth_locked(struct server *srv, const char *addr)
{
	if (!authguard_locked(srv->auth_guard, addr, util_mono_us()))
		return 0;
	srv->metrics.auth_failures++;
	return 1;
}

void protocol_auth_failed(struct server *srv, const char *addr)
{
	srv->metrics.auth_failures++;
	if (authguard_fail(srv->auth_guard, addr, util_mono_us()))
		log_warning("Address %s locked out for %ld s: %d failed passwords within %ld s; "
			    "its hellos and admin API requests are refused until then", addr,
			    srv->cfg->auth_lockout, AUTHGUARD_MAX_FAILURES, srv->cfg->auth_lockout);
}

static void handle_hello(struct conn *c, const char *data, size_t len, int binary)
{
	struct config *cfg = c->srv->cfg;
	char jerr[128];
	json_t *msg = binary ? NULL : jsonparse(data, len, jerr, sizeof(jerr), NULL);
	json_t *id = json_object_get(msg, "id");
	const char *type = json_string_value(json_object_get(msg, "type"));
	struct hello_req h;
	struct session *s;
	const char *code;
	char err[VALIDATE_MSG + 64];
	int admin = 0;

	c->hello_seen = 1;
	if (!validate_id(id))
		id = NULL;
	if (!json_is_object(msg) || !type || strcmp(type, "hello") != 0) {
		early_error(c, id, "unauthenticated", "the first message must be hello", 4401,
			    "hello required");
		goto out;
	}
	c->srv->metrics.msgs_in[MT_HELLO]++;
	if (!validate_id(json_object_get(msg, "id"))) {
		early_error(c, NULL, "bad_request", "hello: id must be an integer or a string of "
			    "at most 64 bytes", 4400, "bad hello");
		goto out;
	}
	if (validate_hello(msg, &h, err)) {
		early_error(c, id, "bad_request", err, 4400, "bad hello");
		goto out;
	}
	if (protocol_auth_locked(c->srv, c->peer)) {
		/* Refused without looking at the passwords: guessing gains
		 * nothing while the lock-out lasts. */
		log_debug("Authentication refused (session=%s user=%s addr=%s): locked out",
			  c->session_name, h.user, c->peer);
		early_error(c, id, "auth_failed", "hello: too many failed passwords from this "
			    "address; try again later", 4401, "auth failed");
		goto out;
	}
	if (*cfg->server_password &&
	    (!h.password || !util_secret_equal(h.password, cfg->server_password))) {
		log_warning("Authentication failed (session=%s user=%s addr=%s): wrong server "
			    "password", c->session_name, h.user, c->peer);
		protocol_auth_failed(c->srv, c->peer);
		early_error(c, id, "auth_failed", "hello: wrong password", 4401, "auth failed");
		goto out;
	}
	if (h.admin_password) {
		if (!*cfg->admin_password || !util_secret_equal(h.admin_password,
								 cfg->admin_password)) {
			log_warning("Authentication failed (session=%s user=%s addr=%s): wrong admin "
				    "password", c->session_name, h.user, c->peer);
			protocol_auth_failed(c->srv, c->peer);
			early_error(c, id, "auth_failed", "hello: wrong admin_password", 4401,
				    "auth failed");
			goto out;
		}
		admin = 1;
	}
	s = server_session_open(c->srv, c->session_name,
				admin || strcmp(cfg->create_sessions, "anyone") == 0, &code, err,
				sizeof(err));
	if (!s) {
		char msg[VALIDATE_MSG + 128];
		if (strcmp(code, "not_found") == 0) {
			/* CREATE_SESSIONS=admin: only an admin hello creates. */
			snprintf(msg, sizeof(msg), "hello: no session named %s (only an admin may "
				 "create one)", c->session_name);
			early_error(c, id, "not_found", msg, 4400, "no such session");
		} else if (strcmp(code, "limit") == 0) {
			log_warning("Refused to create session %s: %s", c->session_name, err);
			snprintf(msg, sizeof(msg), "hello: cannot create a session: %s", err);
			early_error(c, id, "unavailable", msg, 4400, "too many sessions");
		} else {
			log_error("Cannot open session %s: %s", c->session_name, err);
			snprintf(msg, sizeof(msg), "hello: the session cannot be opened: %s", err);
			early_error(c, id, "unavailable", msg, 1011, "session unavailable");
		}
		goto out;
	}
	session_join(s, c, &h, admin, id);
out:
	json_decref(msg);
}

void protocol_receive(struct conn *c, const char *data, size_t len, int binary)
{
	char jerr[128];
	size_t jpos;
	json_t *msg, *id;
	const char *type;
	char text[300];

	c->last_rx_us = util_mono_us();
	c->srv->metrics.bytes_in += len;
	if (c->closed || c->close_code)
		return;
	if (!c->hello_seen) {
		handle_hello(c, data, len, binary);
		return;
	}
	if (!c->client)
		return; /* hello failed or still closing */
	if (!rate_ok(c)) {
		c->srv->metrics.rate_limited++;
		msg = binary ? NULL : json_loadb(data, len, 0, NULL);
		id = json_object_get(msg, "id");
		reply(c, validate_id(id) ? id : NULL, "rate_limited",
		      "too many requests: the limit is RATE_LIMIT per second; not applied");
		json_decref(msg);
		return;
	}
	if (!binary)
		session_blob_text(c->client);
	if (binary) {
		c->srv->metrics.msgs_in[MT_BINARY]++;
		reply(c, NULL, "bad_request", "binary frame with no blob upload open: requests are "
		      "text frames, one JSON object each; blob bytes follow a blob.put");
		return;
	}
	msg = jsonparse(data, len, jerr, sizeof(jerr), &jpos);
	if (!msg) {
		c->srv->metrics.msgs_in[MT_OTHER]++;
		snprintf(text, sizeof(text), "invalid JSON: %s (at byte %zu)", jerr, jpos);
		reply(c, NULL, "bad_request", text);
		return;
	}
	id = json_object_get(msg, "id");
	if (!json_is_object(msg)) {
		c->srv->metrics.msgs_in[MT_OTHER]++;
		reply(c, NULL, "bad_request", "a message must be a JSON object");
	} else if (!validate_id(id)) {
		c->srv->metrics.msgs_in[MT_OTHER]++;
		reply(c, NULL, "bad_request", "id must be an integer or a string of at most 64 bytes");
	} else if (!(type = json_string_value(json_object_get(msg, "type")))) {
		c->srv->metrics.msgs_in[MT_OTHER]++;
		reply(c, id, "bad_request", "type must be a string");
	} else {
		enum msg_type mt = metrics_type_of(type);
		c->srv->metrics.msgs_in[mt]++;
		if (strcmp(type, "ping") == 0) {
			json_t *o = json_pack("{ss}", "type", "pong");
			struct frame *f;
			if (id)
				json_object_set(o, "re", id);
			f = frame_from_json(o);
			session_reply(c->session, c, f);
			frame_unref(f);
			json_decref(o);
		} else if (strcmp(type, "hello") == 0) {
			reply(c, id, "bad_request", "hello: this connection has already joined");
		} else if (!session_known_type(type)) {
			snprintf(text, sizeof(text), "type: unknown request type \"%.200s\"", type);
			reply(c, id, "bad_request", text);
		} else {
			session_request(c->session, c->client, type, msg, id);
		}
	}
	json_decref(msg);
}

void protocol_receive_binary(struct conn *c, const char *data, size_t len, int first,
			     int final)
{
	(void)final;
	if (first) {
		c->rx_blob = 0;
		if (c->hello_seen && c->client && !c->closed && !c->close_code &&
		    session_blob_upload_open(c->client)) {
			/* Bytes of an upload are not requests: no rate limit. */
			c->rx_blob = 1;
			c->srv->metrics.msgs_in[MT_BINARY]++;
		} else if (c->client && session_blob_dropping(c->client)) {
			/* A failed upload's frames still in flight: dropped quietly. */
			c->srv->metrics.msgs_in[MT_BINARY]++;
		} else {
			protocol_receive(c, data, 0, 1);
		}
	}
	if (!c->rx_blob)
		return;
	c->last_rx_us = util_mono_us();
	c->srv->metrics.bytes_in += len;
	if (c->client && !c->closed && !c->close_code)
		session_blob_data(c->session, c->client, data, len);
}

void protocol_alive(struct conn *c) { c->last_rx_us = util_mono_us(); }

void protocol_closed(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	if (c->client)
		session_leave(c->session, c->client, c->leave_reason);
	if (c->session)
		session_conn_gone(c->session, c);
	c->next_closed = c->srv->closed;
	c->srv->closed = c;
}

int protocol_tick(struct conn *c, int64_t now)
{
	int64_t timeout = (int64_t)c->srv->cfg->timeout * 1000000;

	if (c->closed || c->close_now)
		return 0;
	if (!c->client && !c->hello_seen && now - c->opened_us > PROTOCOL_HELLO_TIMEOUT_US) {
		log_info("Connection %llu sent no hello within 10 s; closing it (4408)",
			 (unsigned long long)c->id);
		conn_close_now(c, 4408, "hello timeout", NULL);
		return 0;
	}
	if (now - c->last_rx_us > timeout) {
		c->srv->metrics.timeouts++;
		log_info("Connection %llu (session=%s user=%s) silent for %lld s; closing it "
			 "(4408)", (unsigned long long)c->id, c->session_name,
			 c->user[0] ? c->user : "-",
			 (long long)(now - c->last_rx_us) / 1000000);
		if (c->client)
			session_leave(c->session, c->client, "timeout");
		conn_close_now(c, 4408, "timeout", NULL);
		return 0;
	}
	if (c->sync && now - c->sync_progress_us > timeout) {
		/* A client that does not read its sync holds a database snapshot,
		 * which keeps the WAL from being emptied: it is lagging. */
		c->srv->metrics.lagging++;
		log_warning("Connection %llu (session=%s) read no sync frame for %lld s; closing "
			    "it (4429)", (unsigned long long)c->id, c->session_name,
			    (long long)(now - c->sync_progress_us) / 1000000);
		conn_close_now(c, 4429, "lagging", "lagging");
		return 0;
	}
	if (c->downloads && now - c->blob_progress_us > timeout) {
		/* A download holds a database snapshot too (see above). */
		c->srv->metrics.lagging++;
		log_warning("Connection %llu (session=%s) read no blob frame for %lld s; closing "
			    "it (4429)", (unsigned long long)c->id, c->session_name,
			    (long long)(now - c->blob_progress_us) / 1000000);
		conn_close_now(c, 4429, "lagging", "lagging");
		return 0;
	}
	if (now - c->last_rx_us >= timeout / 4 && now - c->last_ping_us >= timeout / 4) {
		c->last_ping_us = now;
		return 1;
	}
	return 0;
}
