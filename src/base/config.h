/* config.h - every setting of the server, from one table. */
#ifndef SESSIOND_CONFIG_H
#define SESSIOND_CONFIG_H

#include <stddef.h>

struct config {
	long port;
	char *host;
	char *data_dir;
	char *server_password;
	char *admin_password;
	char *log_level;
	long timeout;
	long save_interval;
	long max_backups;
	long backup_keep_hourly;
	long backup_keep_daily;
	long max_sessions;
	char *create_sessions;       /* "anyone" or "admin" */
	long session_idle_close;
	long max_message_bytes;
	long chat_history;
	long chat_keep;
	char *sync;
	long max_connections;
	long max_idle_connections;
	long max_idle_per_address;
	long max_client_queue_bytes;
	long rate_limit;
	long max_blob_bytes;
	long blob_gc_grace;
	char *allowed_origins;
	long auth_lockout;
	char *tls_cert;
	char *tls_key;
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT_OK = 1, CONFIG_ERROR = 2 };

/* Fills cfg from defaults, then the environment (envp, NULL-terminated
 * "NAME=value" strings; an empty value means unset), then argv flags. On
 * CONFIG_ERROR, err holds one line naming the setting and the rule. On
 * CONFIG_EXIT_OK (--help, --version), out holds the text to print. */
enum config_result config_load(struct config *cfg, int argc, char **argv, char **envp,
			       char *err, size_t errlen, char **out);
/* Checks what needs the file system (DATA_DIR exists or can be made, and is
 * writable). */
int config_check_data_dir(const struct config *cfg, char *err, size_t errlen);
/* One line naming every setting and its value; passwords show as (set). */
char *config_summary(const struct config *cfg);
void config_free(struct config *cfg);

#endif
