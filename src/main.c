/* main.c - start-up and shutdown.
 *
 * Order: settings (one line and exit 2 on a bad one), DATA_DIR check, every
 * existing session opened, migrated and checked (corrupt ones restored from
 * their newest good backup), then the network loop. On SIGTERM/SIGINT the
 * loop closes clients with 1001, and main runs the final save of every
 * session with a WAL checkpoint(TRUNCATE) before exiting 0. A second signal
 * exits at once: the WAL already holds every acknowledged change. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "pool.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "server.h"

extern char **environ;

static void on_signal(int sig)
{
	(void)sig;
	net_stop();
}

static int lock_data_dir(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	int fd;
	snprintf(path, sizeof(path), "%s/.sessiond.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* Name the directory and what is wrong with it: /proc exists but
		 * "No such file or directory" alone would send people looking
		 * for a missing directory. */
		int e = errno;
		if (access(dir, W_OK) != 0 || e == ENOENT || e == EACCES || e == EROFS)
			snprintf(err, errlen, "DATA_DIR %s is not a directory sessiond can write "
				 "to (creating its lock file .sessiond.lock failed: %s); choose "
				 "another DATA_DIR or fix its permissions", dir, strerror(e));
		else
			snprintf(err, errlen, "DATA_DIR: cannot create %s: %s", path, strerror(e));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "DATA_DIR: %s is in use by another sessiond", dir);
		close(fd);
		return -1;
	}
	return 0; /* fd stays open: the lock lasts as long as the process */
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct server srv;
	struct sigaction sa;
	struct listen_addr addr;
	char err[512], *out = NULL, *summary;
	enum log_level level;
	int rc;

	/* Before any jansson value exists; the main thread's cached blocks
	 * are freed at exit. */
	pool_for_jansson();
	atexit(pool_thread_release);
	switch (config_load(&cfg, argc, argv, environ, err, sizeof(err), &out)) {
	case CONFIG_EXIT_OK:
		fputs(out, stdout);
		free(out);
		config_free(&cfg);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "sessiond: %s\n", err);
		config_free(&cfg);
		return 2;
	case CONFIG_OK:
		break;
	}
	log_parse_level(cfg.log_level, &level);
	log_set_level(level);
	umask(077); /* session directories 0700, databases and backups 0600 */
	if (config_check_data_dir(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sessiond: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	/* One server per DATA_DIR: a second one would write to the same
	 * databases (releasing real users' locks, reusing seqs). The lock is
	 * held until the process exits. */
	if (lock_data_dir(cfg.data_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "sessiond: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	summary = config_summary(&cfg);
	log_info("%s", summary);
	free(summary);
	/* Before any session is opened: every session holds descriptors. */
	listener_raise_fd_limit();
	/* HOST, PORT and the TLS files are settled before the sessions are
	 * opened, so a bad one fails the start at once, in one line. */
	if (listener_prepare(&cfg, &addr, err, sizeof(err)) != 0) {
		fprintf(stderr, "sessiond: %s\n", err);
		config_free(&cfg);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (RLIMIT_FSIZE) must fail the write, which SQLite
	 * reports, not kill the server: the batch is answered unavailable. */
	signal(SIGXFSZ, SIG_IGN);

	/* No global allocation statistics: they take a mutex on every
	 * SQLite malloc, and nothing here reads them. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* Sync frames and send buffers are large and short-lived. A fixed mmap
	 * threshold keeps them out of the heap (glibc would otherwise raise it
	 * after the first free and let them fragment the heap for good). */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	server_init(&srv, &cfg);
	if (server_open_sessions(&srv) != 0) {
		log_error("Not starting: a session could not be opened (see above)");
		server_free(&srv);
		config_free(&cfg);
		return 1;
	}
	rc = net_run(&srv, &addr);
	if (rc == 0) {
		server_final_save(&srv);
		log_info("Shutdown complete");
	}
	server_free(&srv);
	config_free(&cfg);
	return rc == 0 ? 0 : rc == -2 ? 2 : 1;
}
