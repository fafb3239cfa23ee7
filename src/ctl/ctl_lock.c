/* ctl_lock.c - sessionctl and the server's data-directory lock.
 *
 * A running server holds an exclusive flock on DATA_DIR/.sessiond.lock for
 * its whole life. sessionctl reads that lock to tell whether a server is
 * running (list, info) and takes it itself for the commands that change a
 * session's files (restore, delete, import), so no server starts meanwhile.
 * This file sits below ctl_db.c and ctl_copy.c, which both use it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ctl.h"

int ctl_server_running(const char *data_dir)
{
	char path[CTL_PATH + 32];
	int fd, held;
	snprintf(path, sizeof(path), "%s/.sessiond.lock", data_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* A shared lock is refused only while a server holds its exclusive
	 * one; it is dropped at once. */
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

int ctl_lock_data_dir(const char *data_dir, const char *instead, int *fd, char *err,
		      size_t errlen)
{
	char path[CTL_PATH + 32];
	snprintf(path, sizeof(path), "%s/.sessiond.lock", data_dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return CTL_ERROR;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "a server is running on %s; stop it first, or %s", data_dir,
			 instead);
		close(*fd);
		*fd = -1;
		return CTL_ERROR;
	}
	return CTL_OK;
}
