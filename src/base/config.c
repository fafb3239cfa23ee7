/* config.c - the settings table.
 *
 * One table (as Redis' config.c) drives everything: defaults, environment
 * variables, command-line flags, validation, --help and the start-up summary.
 * Adding a setting is one row here plus a field in struct config. Secrets are
 * marked so that no summary or error message ever prints their value. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"
#include "version.h"

enum opt_type { OPT_INT, OPT_STR, OPT_ENUM };

struct option_def {
	const char *env;
	const char *flag;
	enum opt_type type;
	size_t offset;
	const char *def;
	long min, max;
	const char *const *choices; /* OPT_ENUM: NULL-terminated */
	int secret;
	const char *help;
};

static const char *const levels[] = {"debug", "info", "warning", "error", NULL};
static const char *const syncs[] = {"normal", "full", NULL};
static const char *const creators[] = {"anyone", "admin", NULL};

#define OFF(f) offsetof(struct config, f)
static const struct option_def options[] = {
	{"PORT", "port", OPT_INT, OFF(port), "5560", 1, 65535, NULL, 0,
	 "TCP port for WebSocket and HTTP"},
	{"HOST", "host", OPT_STR, OFF(host), "127.0.0.1", 0, 0, NULL, 0,
	 "address or host name to listen on, IPv4 or IPv6 (0.0.0.0: every IPv4 interface)"},
	{"DATA_DIR", "data-dir", OPT_STR, OFF(data_dir), "./data", 0, 0, NULL, 0,
	 "directory holding one sub-directory per session"},
	{"SERVER_PASSWORD", "server-password", OPT_STR, OFF(server_password), "", 0, 0, NULL, 1,
	 "password every client must send in hello (empty: none)"},
	{"ADMIN_PASSWORD", "admin-password", OPT_STR, OFF(admin_password), "", 0, 0, NULL, 1,
	 "password that makes a connection admin (empty: nobody is admin)"},
	{"LOG_LEVEL", "log-level", OPT_ENUM, OFF(log_level), "info", 0, 0, levels, 0,
	 "debug, info, warning or error"},
	{"TIMEOUT", "timeout", OPT_INT, OFF(timeout), "30", 3, 86400, NULL, 0,
	 "seconds of silence after which a connection is closed (4408)"},
	{"SAVE_INTERVAL", "save-interval", OPT_INT, OFF(save_interval), "120", 0, 604800, NULL, 0,
	 "seconds between auto-saves (0: no auto-save)"},
	{"MAX_BACKUPS", "max-backups", OPT_INT, OFF(max_backups), "10", 1, 100000, NULL, 0,
	 "backups kept per session"},
	{"BACKUP_KEEP_HOURLY", "backup-keep-hourly", OPT_INT, OFF(backup_keep_hourly), "24", 0,
	 100000, NULL, 0, "also keep the newest backup of each of the last N hours"},
	{"BACKUP_KEEP_DAILY", "backup-keep-daily", OPT_INT, OFF(backup_keep_daily), "7", 0,
	 100000, NULL, 0, "also keep the newest backup of each of the last N days"},
	{"MAX_SESSIONS", "max-sessions", OPT_INT, OFF(max_sessions), "1000", 1, 1000000, NULL, 0,
	 "sessions that may exist under DATA_DIR (past it a new name is refused)"},
	{"CREATE_SESSIONS", "create-sessions", OPT_ENUM, OFF(create_sessions), "anyone", 0, 0,
	 creators, 0, "who may create a session by joining it: anyone or admin"},
	{"SESSION_IDLE_CLOSE", "session-idle-close", OPT_INT, OFF(session_idle_close), "300", 0,
	 604800, NULL, 0, "seconds without a connection after which a session is saved (if "
	 "changed) and closed (0: never)"},
	{"MAX_MESSAGE_BYTES", "max-message-bytes", OPT_INT, OFF(max_message_bytes), "16777216",
	 1024, 1073741824, NULL, 0, "largest frame accepted (larger: close 1009)"},
	{"CHAT_HISTORY", "chat-history", OPT_INT, OFF(chat_history), "100", 0, 100000, NULL, 0,
	 "chat messages sent in a full sync"},
	{"CHAT_KEEP", "chat-keep", OPT_INT, OFF(chat_keep), "0", 0, LONG_MAX, NULL, 0,
	 "chat messages kept per session, oldest removed first (0: all)"},
	{"SYNC", "sync", OPT_ENUM, OFF(sync), "normal", 0, 0, syncs, 0,
	 "SQLite synchronous mode: normal or full"},
	{"MAX_CONNECTIONS", "max-connections", OPT_INT, OFF(max_connections), "1024", 1, 1000000,
	 NULL, 0, "WebSocket connections accepted at once (past it: HTTP 503)"},
	{"MAX_IDLE_CONNECTIONS", "max-idle-connections", OPT_INT, OFF(max_idle_connections),
	 "256", 1, 100000, NULL, 0, "connections that are neither a WebSocket nor waiting for "
	 "an answer (silent, half-sent, keep-alive); past it the oldest is dropped"},
	{"MAX_IDLE_PER_ADDRESS", "max-idle-per-address", OPT_INT, OFF(max_idle_per_address),
	 "32", 1, 100000, NULL, 0, "the same per client address (IPv6: per /64); past it that "
	 "address's oldest is dropped"},
	{"MAX_CLIENT_QUEUE_BYTES", "max-client-queue-bytes", OPT_INT, OFF(max_client_queue_bytes),
	 "67108864", 65536, LONG_MAX, NULL, 0,
	 "unsent bytes per connection before it is closed (4429)"},
	{"RATE_LIMIT", "rate-limit", OPT_INT, OFF(rate_limit), "10000", 0, 100000000, NULL, 0,
	 "requests per second per connection, bursts allowed (0: off)"},
	{"MAX_BLOB_BYTES", "max-blob-bytes", OPT_INT, OFF(max_blob_bytes), "536870912", 0,
	 1000000000, NULL, 0, "largest blob accepted by blob.put (larger: too_large)"},
	{"BLOB_GC_GRACE", "blob-gc-grace", OPT_INT, OFF(blob_gc_grace), "3600", 0, 604800, NULL, 0,
	 "seconds an unnamed blob is kept after its upload (for tests; the protocol says 3600)"},
	{"ALLOWED_ORIGINS", "allowed-origins", OPT_STR, OFF(allowed_origins), "", 0, 0, NULL, 0,
	 "browser origins allowed besides the server's own, comma-separated (*: any)"},
	{"AUTH_LOCKOUT", "auth-lockout", OPT_INT, OFF(auth_lockout), "60", 1, 86400, NULL, 0,
	 "seconds: 10 failed passwords from one address within it lock it out for as long"},
	{"TLS_CERT", "tls-cert", OPT_STR, OFF(tls_cert), "", 0, 0, NULL, 0,
	 "PEM certificate (chain): serve wss:// and https:// only (with TLS_KEY)"},
	{"TLS_KEY", "tls-key", OPT_STR, OFF(tls_key), "", 0, 0, NULL, 0,
	 "PEM private key of TLS_CERT"},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static long *int_field(struct config *c, const struct option_def *o)
{
	return (long *)(void *)((char *)c + o->offset);
}

static char **str_field(struct config *c, const struct option_def *o)
{
	return (char **)(void *)((char *)c + o->offset);
}

static int set_option(struct config *cfg, const struct option_def *o, const char *val,
		      char *err, size_t errlen)
{
	if (o->type == OPT_INT) {
		char *end;
		long v;
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || end == val || *end || v < o->min || v > o->max) {
			if (o->max == LONG_MAX)
				snprintf(err, errlen, "%s: must be an integer of at least %ld (got \"%s\")",
					 o->env, o->min, val);
			else
				snprintf(err, errlen, "%s: must be an integer from %ld to %ld (got \"%s\")",
					 o->env, o->min, o->max, val);
			return -1;
		}
		*int_field(cfg, o) = v;
		return 0;
	}
	if (o->type == OPT_ENUM) {
		int ok = 0;
		for (const char *const *c = o->choices; *c; c++)
			ok |= strcmp(*c, val) == 0;
		if (!ok) {
			struct sbuf b;
			sbuf_init(&b, 64);
			for (const char *const *c = o->choices; *c; c++)
				sbuf_printf(&b, "%s%s", c == o->choices ? "" : ", ", *c);
			snprintf(err, errlen, "%s: must be one of %s (got \"%s\")", o->env, b.p, val);
			sbuf_free(&b);
			return -1;
		}
	}
	if (o->type == OPT_STR && !o->secret && strlen(val) > 4000) {
		snprintf(err, errlen, "%s: longer than 4000 bytes", o->env);
		return -1;
	}
	free(*str_field(cfg, o));
	*str_field(cfg, o) = xstrdup(val);
	return 0;
}

static char *help_text(void)
{
	struct sbuf b;
	sbuf_init(&b, 2048);
	sbuf_printf(&b, "sessiond %s - collaboration session server\n\n"
			"Usage: sessiond [--setting value]...\n\n"
			"Every setting is read from its environment variable, then from its flag.\n"
			"An empty environment value counts as unset.\n\n",
		    SESSIOND_VERSION);
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", o->flag);
		sbuf_printf(&b, "  %-26s %-24s %s (default: %s)\n", flag, o->env, o->help,
			    *o->def ? o->def : "empty");
	}
	sbuf_addstr(&b, "  --help                     print this text\n"
			"  --version                  print the version\n");
	return b.p;
}

enum config_result config_load(struct config *cfg, int argc, char **argv, char **envp,
			       char *err, size_t errlen, char **out)
{
	memset(cfg, 0, sizeof(*cfg));
	*out = NULL;
	for (size_t i = 0; i < NOPTIONS; i++)
		if (set_option(cfg, &options[i], options[i].def, err, errlen) != 0)
			return CONFIG_ERROR;
	for (char **e = envp; e && *e; e++) {
		for (size_t i = 0; i < NOPTIONS; i++) {
			size_t n = strlen(options[i].env);
			if (strncmp(*e, options[i].env, n) == 0 && (*e)[n] == '=' && (*e)[n + 1])
				if (set_option(cfg, &options[i], *e + n + 1, err, errlen) != 0)
					return CONFIG_ERROR;
		}
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a], *val = NULL, *name;
		size_t namelen;
		const struct option_def *o = NULL;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			*out = help_text();
			return CONFIG_EXIT_OK;
		}
		if (strcmp(arg, "--version") == 0) {
			struct sbuf b;
			sbuf_init(&b, 32);
			sbuf_printf(&b, "sessiond %s\n", SESSIOND_VERSION);
			*out = b.p;
			return CONFIG_EXIT_OK;
		}
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", arg);
			return CONFIG_ERROR;
		}
		name = arg + 2;
		val = strchr(name, '=');
		namelen = val ? (size_t)(val - name) : strlen(name);
		for (size_t i = 0; i < NOPTIONS; i++)
			if (strlen(options[i].flag) == namelen &&
			    strncmp(options[i].flag, name, namelen) == 0)
				o = &options[i];
		if (!o) {
			snprintf(err, errlen, "unknown option \"%.*s\" (see --help)", (int)namelen + 2, arg);
			return CONFIG_ERROR;
		}
		if (val) {
			val++;
		} else {
			if (a + 1 >= argc) {
				snprintf(err, errlen, "%s: --%s needs a value", o->env, o->flag);
				return CONFIG_ERROR;
			}
			val = argv[++a];
		}
		if (set_option(cfg, o, val, err, errlen) != 0)
			return CONFIG_ERROR;
	}
	return CONFIG_OK;
}

int config_check_data_dir(const struct config *cfg, char *err, size_t errlen)
{
	struct stat st;
	if (!*cfg->data_dir) {
		snprintf(err, errlen, "DATA_DIR: must not be empty");
		return -1;
	}
	if (stat(cfg->data_dir, &st) != 0) {
		if (mkdir(cfg->data_dir, 0755) != 0) {
			snprintf(err, errlen, "DATA_DIR: cannot create \"%s\": %s", cfg->data_dir,
				 strerror(errno));
			return -1;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "DATA_DIR: \"%s\" is not a directory", cfg->data_dir);
		return -1;
	}
	if (access(cfg->data_dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "DATA_DIR: \"%s\" is not writable: %s", cfg->data_dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

char *config_summary(const struct config *cfg)
{
	struct sbuf b;
	struct config *c = (struct config *)cfg;
	sbuf_init(&b, 512);
	sbuf_printf(&b, "sessiond %s starting:", SESSIOND_VERSION);
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		if (o->type == OPT_INT)
			sbuf_printf(&b, " %s=%ld", o->env, *int_field(c, o));
		else if (o->secret)
			sbuf_printf(&b, " %s=%s", o->env, **str_field(c, o) ? "(set)" : "(none)");
		else
			sbuf_printf(&b, " %s=%s", o->env, *str_field(c, o));
	}
	return b.p;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].type != OPT_INT)
			free(*str_field(cfg, &options[i]));
	memset(cfg, 0, sizeof(*cfg));
}
