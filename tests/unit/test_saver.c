/* test_saver.c - the save worker: jobs run on its own thread, one at a
 * time in submission order, notify() is called (from that thread) once per
 * finished job, results come back through saver_take_done, and saver_stop
 * runs every job still queued before it returns. The jobs are real saves
 * of a real session file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "backup.h"
#include "log.h"
#include "saver.h"
#include "store.h"
#include "testutil.h"

struct fx {
	char *dir;                 /* DATA_DIR */
	char sdir[4200];           /* DATA_DIR/one: a session */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int notified;
	int on_other_thread;       /* every notify came from another thread */
	pthread_t main;
};

static void notify(void *arg)
{
	struct fx *f = arg;
	pthread_mutex_lock(&f->lock);
	f->notified++;
	if (pthread_equal(pthread_self(), f->main))
		f->on_other_thread = 0;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[4300], err[256];
	struct store *st;
	log_set_level(LOG_ERROR);
	f->dir = tu_mkdtemp();
	snprintf(f->sdir, sizeof(f->sdir), "%s/one", f->dir);
	mkdir(f->sdir, 0700);
	snprintf(path, sizeof(path), "%s/session.db", f->sdir);
	if (store_open(path, 0, &st, err, sizeof(err)) != SQLITE_OK)
		return -1;
	store_begin(st);
	store_chat_insert(st, "alice", "hello", 1796007416.321, 1, &(int64_t){0});
	store_meta_set_int(st, "seq", 1);
	if (store_commit(st) != SQLITE_OK)
		return -1;
	store_close(st);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->on_other_thread = 1;
	f->main = pthread_self();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static struct backup_job *job(struct fx *f, const char *reason)
{
	return backup_job_new("one", f->sdir, reason, 10);
}

static void wait_notified(struct fx *f, int n)
{
	pthread_mutex_lock(&f->lock);
	while (f->notified < n)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

static void test_job_runs_on_the_thread(void **state)
{
	struct fx *f = *state;
	struct saver *sv = saver_start(notify, f);
	struct backup_job *j;
	char path[4400];

	assert_null(saver_take_done(sv));
	saver_submit(sv, job(f, "admin"));
	wait_notified(f, 1);
	j = saver_take_done(sv);
	assert_non_null(j);
	assert_null(saver_take_done(sv));
	assert_true(f->on_other_thread);
	assert_true(j->ok);
	assert_string_equal(j->reason, "admin");
	assert_int_equal(j->seq, 1);
	assert_int_equal(j->chat_count, 1);
	assert_true(j->bytes > 0);
	snprintf(path, sizeof(path), "%s/backups/%s", f->sdir, j->backup);
	assert_true(tu_exists(path));
	backup_job_free(j);

	/* A checkpoint job is a job like any other. */
	j = job(f, "checkpoint");
	j->checkpoint_only = 1;
	saver_submit(sv, j);
	wait_notified(f, 2);
	j = saver_take_done(sv);
	assert_non_null(j);
	assert_true(j->ok);
	backup_job_free(j);

	saver_stop(sv);
	saver_free(sv);
	assert_int_equal(f->notified, 2);
}

static void test_stop_runs_what_is_queued(void **state)
{
	struct fx *f = *state;
	static const char *const reasons[] = {"first", "second", "third", "fourth"};
	struct saver *sv = saver_start(notify, f);
	struct backup_job *j;
	char bdir[4300], **names;
	int n;

	for (int i = 0; i < 4; i++)
		saver_submit(sv, job(f, reasons[i]));
	saver_stop(sv);                 /* returns once all four have run */
	assert_int_equal(f->notified, 4);
	for (int i = 0; i < 4; i++) {
		j = saver_take_done(sv);
		assert_non_null(j);
		assert_string_equal(j->reason, reasons[i]);   /* in submission order */
		assert_true(j->ok);
		backup_job_free(j);
	}
	assert_null(saver_take_done(sv));
	snprintf(bdir, sizeof(bdir), "%s/backups", f->sdir);
	n = backup_list(bdir, &names);
	assert_int_equal(n, 4);
	backup_list_free(names, n);
	saver_free(sv);

	/* Results not taken are freed with the saver (ASan: no leak). */
	sv = saver_start(notify, f);
	saver_submit(sv, job(f, "left"));
	saver_stop(sv);
	saver_free(sv);
	assert_int_equal(f->notified, 5);

	/* An idle saver stops at once; NULL is a no-op. */
	sv = saver_start(notify, f);
	saver_stop(sv);
	saver_free(sv);
	saver_stop(NULL);
	saver_free(NULL);
	assert_int_equal(f->notified, 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_job_runs_on_the_thread),
		T(test_stop_runs_what_is_queued),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
