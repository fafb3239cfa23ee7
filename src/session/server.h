/* server.h - the server's lifecycle (server.c): start-up, the flush at
 * the end of every loop pass, the once-a-second cron, save results and
 * shutdown. The state it works on is struct server (server_state.h). */
#ifndef SESSIOND_SERVER_H
#define SESSIOND_SERVER_H

#include <jansson.h>
#include <stddef.h>

#include "server_state.h"

struct backup_job;

void server_init(struct server *srv, struct config *cfg);
void server_free(struct server *srv);
/* Opens every session found under DATA_DIR (recovering corrupt ones).
 * Returns -1 when the server must not start (a newer schema). */
int server_open_sessions(struct server *srv);
/* Finds a session, opening it when it exists on disk (closed while idle),
 * and creating it when create is set and MAX_SESSIONS allows. NULL with
 * err set otherwise; *code (may be NULL) is then the protocol's error code:
 * "not_found" (no such session), "limit" (MAX_SESSIONS) or "unavailable"
 * (a session that failed at start, a storage error). */
struct session *server_session_open(struct server *srv, const char *name, int create,
				    const char **code, char *err, size_t errlen);
/* The same without the code. */
struct session *server_session(struct server *srv, const char *name, int create,
			       char *err, size_t errlen);
/* Every session under DATA_DIR: the open ones as session_stats_json
 * ("loaded": true), the others as {"session","loaded":false,"failed","db_bytes"}. */
json_t *server_sessions_json(struct server *srv);
/* 1 when DATA_DIR/name is a session directory. */
int server_session_exists(const struct server *srv, const char *name);
/* Commits every open batch and delivers what it produced. */
void server_flush(struct server *srv);
/* Once a second, with the wall-clock time: checkpoints, auto-saves, the
 * release of locks a failed commit left behind. */
void server_cron(struct server *srv, double now);
/* Closes every client (1001, leave reason shutdown). */
void server_begin_shutdown(struct server *srv);
/* Final save of every session, then checkpoint; runs on the calling thread. */
void server_final_save(struct server *srv);
/* A save or checkpoint the saver finished (job is freed). */
void server_save_done(struct server *srv, struct backup_job *job);

#endif
