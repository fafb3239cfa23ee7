/* test_config.c - settings: defaults, environment, flags, rules, --help,
 * the start-up summary and the DATA_DIR check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "testutil.h"
#include "version.h"

static const char *const all_env[] = {
	"PORT", "HOST", "DATA_DIR", "SERVER_PASSWORD", "ADMIN_PASSWORD", "LOG_LEVEL",
	"TIMEOUT", "SAVE_INTERVAL", "MAX_BACKUPS", "MAX_MESSAGE_BYTES", "CHAT_HISTORY",
	"CHAT_KEEP", "SYNC", "MAX_CONNECTIONS", "MAX_CLIENT_QUEUE_BYTES", "RATE_LIMIT",
};

struct run {
	struct config cfg;
	enum config_result r;
	char err[512];
	char *out;
};

/* argv and envp are NULL-terminated lists of string literals. */
static void load(struct run *x, const char *const *argv, const char *const *envp)
{
	char *av[32];
	int ac = 0;
	av[ac++] = (char *)"sessiond";
	for (; argv && *argv; argv++)
		av[ac++] = (char *)*argv;
	av[ac] = NULL;
	x->err[0] = 0;
	x->r = config_load(&x->cfg, ac, av, (char **)envp, x->err, sizeof(x->err), &x->out);
}

static void done(struct run *x)
{
	config_free(&x->cfg);
	free(x->out);
	x->out = NULL;
}

/* Loads and expects CONFIG_ERROR with err naming `setting`. */
static void expect_error(const char *const *argv, const char *const *envp, const char *setting)
{
	struct run x;
	load(&x, argv, envp);
	assert_int_equal(x.r, CONFIG_ERROR);
	if (!strstr(x.err, setting))
		fail_msg("error \"%s\" does not name %s", x.err, setting);
	assert_null(strchr(x.err, '\n'));
	done(&x);
}

static void test_defaults(void **state)
{
	struct run x;
	const char *const env[] = {NULL};
	(void)state;
	load(&x, NULL, env);
	assert_int_equal(x.r, CONFIG_OK);
	assert_int_equal(x.cfg.port, 5560);
	assert_string_equal(x.cfg.host, "127.0.0.1");
	assert_string_equal(x.cfg.data_dir, "./data");
	assert_string_equal(x.cfg.server_password, "");
	assert_string_equal(x.cfg.admin_password, "");
	assert_string_equal(x.cfg.log_level, "info");
	assert_int_equal(x.cfg.timeout, 30);
	assert_int_equal(x.cfg.save_interval, 120);
	assert_int_equal(x.cfg.max_backups, 10);
	assert_int_equal(x.cfg.max_message_bytes, 16777216);
	assert_int_equal(x.cfg.chat_history, 100);
	assert_int_equal(x.cfg.chat_keep, 0);
	assert_string_equal(x.cfg.sync, "normal");
	assert_int_equal(x.cfg.max_connections, 1024);
	assert_int_equal(x.cfg.max_client_queue_bytes, 67108864);
	assert_int_equal(x.cfg.rate_limit, 10000);
	assert_null(x.out);
	done(&x);
	/* A NULL environment is the same as an empty one. */
	load(&x, NULL, NULL);
	assert_int_equal(x.r, CONFIG_OK);
	assert_int_equal(x.cfg.port, 5560);
	done(&x);
}

static void test_env_overrides_default(void **state)
{
	struct run x;
	const char *const env[] = {"PORT=7000", "HOST=0.0.0.0", "DATA_DIR=/srv/s",
				   "LOG_LEVEL=debug", "SYNC=full", "SAVE_INTERVAL=0",
				   "CHAT_KEEP=500", "RATE_LIMIT=0", "UNRELATED=1",
				   "PORTX=9", "PORT_EXTRA=8", NULL};
	(void)state;
	load(&x, NULL, env);
	assert_int_equal(x.r, CONFIG_OK);
	assert_int_equal(x.cfg.port, 7000);
	assert_string_equal(x.cfg.host, "0.0.0.0");
	assert_string_equal(x.cfg.data_dir, "/srv/s");
	assert_string_equal(x.cfg.log_level, "debug");
	assert_string_equal(x.cfg.sync, "full");
	assert_int_equal(x.cfg.save_interval, 0);
	assert_int_equal(x.cfg.chat_keep, 500);
	assert_int_equal(x.cfg.rate_limit, 0);
	assert_int_equal(x.cfg.timeout, 30); /* untouched */
	done(&x);
}

static void test_flag_overrides_env(void **state)
{
	struct run x;
	const char *const env[] = {"PORT=7000", "HOST=10.0.0.1", NULL};
	const char *const argv[] = {"--port", "7001", "--host=::1", "--sync=full",
				    "--max-backups", "3", NULL};
	(void)state;
	load(&x, argv, env);
	assert_int_equal(x.r, CONFIG_OK);
	assert_int_equal(x.cfg.port, 7001);
	assert_string_equal(x.cfg.host, "::1");
	assert_string_equal(x.cfg.sync, "full");
	assert_int_equal(x.cfg.max_backups, 3);
	done(&x);
	/* The last flag wins. */
	{
		const char *const argv2[] = {"--port=1", "--port", "2", NULL};
		load(&x, argv2, NULL);
		assert_int_equal(x.r, CONFIG_OK);
		assert_int_equal(x.cfg.port, 2);
		done(&x);
	}
}

static void test_empty_env_is_unset(void **state)
{
	struct run x;
	const char *const env[] = {"PORT=", "HOST=", "LOG_LEVEL=", "SYNC=", "DATA_DIR=", NULL};
	(void)state;
	load(&x, NULL, env);
	assert_int_equal(x.r, CONFIG_OK);
	assert_int_equal(x.cfg.port, 5560);
	assert_string_equal(x.cfg.host, "127.0.0.1");
	assert_string_equal(x.cfg.log_level, "info");
	assert_string_equal(x.cfg.sync, "normal");
	assert_string_equal(x.cfg.data_dir, "./data");
	done(&x);
}

static void test_port_rules(void **state)
{
	struct run x;
	(void)state;
	{ const char *const e[] = {"PORT=0", NULL}; expect_error(NULL, e, "PORT"); }
	{ const char *const e[] = {"PORT=65536", NULL}; expect_error(NULL, e, "PORT"); }
	{ const char *const e[] = {"PORT=-1", NULL}; expect_error(NULL, e, "PORT"); }
	{ const char *const e[] = {"PORT=abc", NULL}; expect_error(NULL, e, "PORT"); }
	{ const char *const e[] = {"PORT=80x", NULL}; expect_error(NULL, e, "PORT"); }
	{ const char *const a[] = {"--port=0", NULL}; expect_error(a, NULL, "PORT"); }
	{ const char *const a[] = {"--port", "65536", NULL}; expect_error(a, NULL, "PORT"); }
	{ const char *const a[] = {"--port=", NULL}; expect_error(a, NULL, "PORT"); }
	/* The bounds themselves are fine. */
	{
		const char *const e[] = {"PORT=65535", NULL};
		load(&x, NULL, e);
		assert_int_equal(x.r, CONFIG_OK);
		assert_int_equal(x.cfg.port, 65535);
		done(&x);
	}
	{
		const char *const a[] = {"--port=1", NULL};
		load(&x, a, NULL);
		assert_int_equal(x.r, CONFIG_OK);
		assert_int_equal(x.cfg.port, 1);
		done(&x);
	}
}

static void test_other_rules(void **state)
{
	(void)state;
	{ const char *const e[] = {"SAVE_INTERVAL=-1", NULL}; expect_error(NULL, e, "SAVE_INTERVAL"); }
	{ const char *const a[] = {"--save-interval=-5", NULL}; expect_error(a, NULL, "SAVE_INTERVAL"); }
	{ const char *const e[] = {"LOG_LEVEL=verbose", NULL}; expect_error(NULL, e, "LOG_LEVEL"); }
	{ const char *const a[] = {"--log-level", "trace", NULL}; expect_error(a, NULL, "LOG_LEVEL"); }
	{ const char *const e[] = {"SYNC=off", NULL}; expect_error(NULL, e, "SYNC"); }
	{ const char *const e[] = {"SYNC=FULL", NULL}; expect_error(NULL, e, "SYNC"); }
	{ const char *const e[] = {"TIMEOUT=2", NULL}; expect_error(NULL, e, "TIMEOUT"); }
	{ const char *const e[] = {"MAX_BACKUPS=0", NULL}; expect_error(NULL, e, "MAX_BACKUPS"); }
	{ const char *const e[] = {"MAX_CLIENT_QUEUE_BYTES=1000", NULL};
	  expect_error(NULL, e, "MAX_CLIENT_QUEUE_BYTES"); }
	{ const char *const e[] = {"RATE_LIMIT=-1", NULL}; expect_error(NULL, e, "RATE_LIMIT"); }
	/* The error line says what was given. */
	{
		struct run x;
		const char *const e[] = {"LOG_LEVEL=verbose", NULL};
		load(&x, NULL, e);
		assert_non_null(strstr(x.err, "verbose"));
		assert_non_null(strstr(x.err, "debug"));
		done(&x);
	}
	/* Every SYNC and LOG_LEVEL choice is accepted. */
	{
		const char *const levels[] = {"debug", "info", "warning", "error"};
		for (int i = 0; i < 4; i++) {
			struct run x;
			char e0[64];
			const char *e[] = {e0, "SYNC=normal", NULL};
			snprintf(e0, sizeof(e0), "LOG_LEVEL=%s", levels[i]);
			load(&x, NULL, (const char *const *)e);
			assert_int_equal(x.r, CONFIG_OK);
			assert_string_equal(x.cfg.log_level, levels[i]);
			done(&x);
		}
	}
}

static void test_bad_arguments(void **state)
{
	struct run x;
	(void)state;
	{
		const char *const a[] = {"--no-such-flag", NULL};
		load(&x, a, NULL);
		assert_int_equal(x.r, CONFIG_ERROR);
		assert_non_null(strstr(x.err, "no-such-flag"));
		done(&x);
	}
	{
		const char *const a[] = {"--no-such=3", NULL};
		load(&x, a, NULL);
		assert_int_equal(x.r, CONFIG_ERROR);
		assert_non_null(strstr(x.err, "no-such"));
		done(&x);
	}
	/* A flag without its value names the setting. */
	{ const char *const a[] = {"--port", NULL}; expect_error(a, NULL, "PORT"); }
	{ const char *const a[] = {"--host", NULL}; expect_error(a, NULL, "HOST"); }
	{
		const char *const a[] = {"stray", NULL};
		load(&x, a, NULL);
		assert_int_equal(x.r, CONFIG_ERROR);
		assert_non_null(strstr(x.err, "stray"));
		done(&x);
	}
}

static void test_help_lists_every_setting(void **state)
{
	struct run x;
	const char *const a[] = {"--help", NULL};
	(void)state;
	load(&x, a, NULL);
	assert_int_equal(x.r, CONFIG_EXIT_OK);
	assert_non_null(x.out);
	for (size_t i = 0; i < sizeof(all_env) / sizeof(all_env[0]); i++)
		if (!strstr(x.out, all_env[i]))
			fail_msg("--help does not mention %s", all_env[i]);
	assert_non_null(strstr(x.out, "--port"));
	assert_non_null(strstr(x.out, "--max-client-queue-bytes"));
	done(&x);
	{
		const char *const v[] = {"--version", NULL};
		load(&x, v, NULL);
		assert_int_equal(x.r, CONFIG_EXIT_OK);
		assert_non_null(strstr(x.out, SESSIOND_VERSION));
		done(&x);
	}
}

static void test_summary_hides_passwords(void **state)
{
	struct run x;
	const char *const env[] = {"SERVER_PASSWORD=hunter2-secret", NULL};
	const char *const a[] = {"--admin-password", "adm1n-pass", NULL};
	char *s;
	(void)state;
	load(&x, a, env);
	assert_int_equal(x.r, CONFIG_OK);
	assert_string_equal(x.cfg.server_password, "hunter2-secret");
	assert_string_equal(x.cfg.admin_password, "adm1n-pass");
	s = config_summary(&x.cfg);
	assert_null(strstr(s, "hunter2"));
	assert_null(strstr(s, "adm1n"));
	assert_non_null(strstr(s, "SERVER_PASSWORD=(set)"));
	assert_non_null(strstr(s, "ADMIN_PASSWORD=(set)"));
	for (size_t i = 0; i < sizeof(all_env) / sizeof(all_env[0]); i++)
		if (!strstr(s, all_env[i]))
			fail_msg("summary does not mention %s", all_env[i]);
	assert_non_null(strstr(s, "PORT=5560"));
	assert_null(strchr(s, '\n'));
	free(s);
	done(&x);
	/* Unset passwords do not show as set. */
	load(&x, NULL, NULL);
	s = config_summary(&x.cfg);
	assert_null(strstr(s, "(set)"));
	free(s);
	done(&x);
}

static void test_data_dir(void **state)
{
	struct run x;
	char *tmp = tu_mkdtemp(), path[4200], arg[4300], err[512];
	struct stat st;
	(void)state;

	/* A missing directory is created. */
	snprintf(path, sizeof(path), "%s/data", tmp);
	snprintf(arg, sizeof(arg), "--data-dir=%s", path);
	{
		const char *const a[] = {arg, NULL};
		load(&x, a, NULL);
		assert_int_equal(x.r, CONFIG_OK);
		assert_int_equal(config_check_data_dir(&x.cfg, err, sizeof(err)), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		/* An existing directory is fine too. */
		assert_int_equal(config_check_data_dir(&x.cfg, err, sizeof(err)), 0);
		done(&x);
	}
	/* A file is not a directory. */
	snprintf(path, sizeof(path), "%s/file", tmp);
	assert_int_equal(tu_write_file(path, "x", 1), 0);
	snprintf(arg, sizeof(arg), "--data-dir=%s", path);
	{
		const char *const a[] = {arg, NULL};
		load(&x, a, NULL);
		assert_int_equal(config_check_data_dir(&x.cfg, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "DATA_DIR"));
		assert_non_null(strstr(err, "not a directory"));
		done(&x);
	}
	/* Nothing can be created under a file. */
	snprintf(path, sizeof(path), "%s/file/sub", tmp);
	snprintf(arg, sizeof(arg), "--data-dir=%s", path);
	{
		const char *const a[] = {arg, NULL};
		load(&x, a, NULL);
		assert_int_equal(config_check_data_dir(&x.cfg, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "DATA_DIR"));
		assert_false(tu_exists(path));
		done(&x);
	}
	/* An explicitly empty DATA_DIR flag. */
	{
		const char *const a[] = {"--data-dir=", NULL};
		load(&x, a, NULL);
		assert_int_equal(x.r, CONFIG_OK);
		assert_int_equal(config_check_data_dir(&x.cfg, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "DATA_DIR"));
		done(&x);
	}
	tu_rmtree(tmp);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_env_overrides_default),
		cmocka_unit_test(test_flag_overrides_env),
		cmocka_unit_test(test_empty_env_is_unset),
		cmocka_unit_test(test_port_rules),
		cmocka_unit_test(test_other_rules),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_help_lists_every_setting),
		cmocka_unit_test(test_summary_hides_passwords),
		cmocka_unit_test(test_data_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
