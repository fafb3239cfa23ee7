/* saver.c - the save worker thread.
 *
 * One thread, one job at a time, in submission order; each job opens its own
 * SQLite connection (backup.c), so the network thread's connection is never
 * shared across threads. The session domain guarantees at most one job per
 * session is queued or running (it coalesces the rest), so a slow disk
 * delays saves, never requests. Finished jobs go back through a second queue
 * and a notify() that only wakes the network loop.
 *
 * The thread runs at a lower CPU priority (nice 5, for this thread only): a
 * checkpoint or a VACUUM INTO of hundreds of MB is CPU work (copying pages,
 * system calls) that on a machine with few cores competes with the network
 * thread, and whenever the scheduler let it finish its time slice first, a
 * batch's commit and its acks waited. Measured with tools/bench's save
 * scenario on a loaded 2-core machine: nice 0 left the writer's p99 during
 * a save at 5-12 ms, nice 10 made the 100 MB save take 2.5 s (the target is
 * 3 s), nice 5 gave 1-8 ms and about 1 s. */
#define SAVER_NICE 5
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pool.h"
#include "saver.h"
#include "util.h"

struct saver {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct backup_job *todo, *done;
	int stopping;
	void (*notify)(void *arg);
	void *arg;
};

static void append(struct backup_job **list, struct backup_job *j)
{
	j->next = NULL;
	while (*list)
		list = &(*list)->next;
	*list = j;
}

static void *worker(void *arg)
{
	struct saver *sv = arg;
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), SAVER_NICE); /* best effort */
	pthread_mutex_lock(&sv->lock);
	for (;;) {
		struct backup_job *j;
		while (!sv->todo && !sv->stopping)
			pthread_cond_wait(&sv->cond, &sv->lock);
		if (!sv->todo)
			break;
		j = sv->todo;
		sv->todo = j->next;
		pthread_mutex_unlock(&sv->lock);
		backup_run(j);
		pthread_mutex_lock(&sv->lock);
		append(&sv->done, j);
		sv->notify(sv->arg);
	}
	pthread_mutex_unlock(&sv->lock);
	pool_thread_release(); /* backup_run's jansson values */
	return NULL;
}

struct saver *saver_start(void (*notify)(void *arg), void *arg)
{
	struct saver *sv = xcalloc(1, sizeof(*sv));
	sv->notify = notify;
	sv->arg = arg;
	pthread_mutex_init(&sv->lock, NULL);
	pthread_cond_init(&sv->cond, NULL);
	if (pthread_create(&sv->thread, NULL, worker, sv) != 0)
		abort();
	return sv;
}

void saver_submit(struct saver *sv, struct backup_job *j)
{
	pthread_mutex_lock(&sv->lock);
	append(&sv->todo, j);
	pthread_cond_signal(&sv->cond);
	pthread_mutex_unlock(&sv->lock);
}

struct backup_job *saver_take_done(struct saver *sv)
{
	struct backup_job *j;
	pthread_mutex_lock(&sv->lock);
	j = sv->done;
	if (j)
		sv->done = j->next;
	pthread_mutex_unlock(&sv->lock);
	return j;
}

void saver_stop(struct saver *sv)
{
	if (!sv)
		return;
	pthread_mutex_lock(&sv->lock);
	sv->stopping = 1;
	pthread_cond_signal(&sv->cond);
	pthread_mutex_unlock(&sv->lock);
	pthread_join(sv->thread, NULL);
	/* The worker drains todo before it exits, so everything is in done. */
}

void saver_free(struct saver *sv)
{
	struct backup_job *j;
	if (!sv)
		return;
	while ((j = sv->done)) {
		sv->done = j->next;
		backup_job_free(j);
	}
	pthread_mutex_destroy(&sv->lock);
	pthread_cond_destroy(&sv->cond);
	free(sv);
}
