/* server_state.h - the state every layer of the server shares: settings,
 * the table of open sessions, every connection, the saver and the metrics.
 *
 * Only data: the lifecycle functions are in server.h (server.c), which sits
 * above the session domain and the connections. Those lower layers read and
 * count through this struct and never call up into server.c, so the
 * arrows point one way: net -> protocol -> server -> session -> store. */
#ifndef SESSIOND_SERVER_STATE_H
#define SESSIOND_SERVER_STATE_H

#include <stddef.h>

#include "metrics.h"

struct backup_job;
struct config;
struct conn;
struct saver;
struct session;

struct server {
	struct config *cfg;
	struct session *sessions;    /* open (loaded) sessions */
	size_t nsessions;
	/* Deleted sessions (DELETE /api/sessions/NAME) and sessions taken out
	 * of service, database closed: kept while a connection or a job still
	 * refers to them, freed by the cron after that. */
	struct session *deleted;
	size_t sessions_on_disk;     /* open or closed while idle (MAX_SESSIONS) */
	char **failed;               /* sessions that could not be opened at start */
	size_t nfailed;
	struct conn *conns;          /* every open connection */
	size_t nconns;
	struct conn *closed;         /* closed connections, freed at the next flush */
	struct saver *saver;
	struct metrics metrics;
	int shutting_down;
	int trim_wanted;             /* memory was freed in bulk (syncs finished) */
	double started_at;
	double last_auto_save;       /* server_cron: when auto-saves last ran */
	struct authguard *auth_guard; /* failed passwords per address (NULL: none kept) */
	/* The network layer's hook: ask for a writable callback on c. */
	void (*wake)(struct conn *c);
	/* Without a saver thread (unit tests) a save runs where it is asked
	 * for; its result goes here when set (server_save_done, which acts on
	 * SESSION_GONE), else straight to session_save_done. */
	void (*save_done)(struct server *srv, struct backup_job *job);
};

#endif
