/* saver.h - the save worker: a thread that checkpoints sessions and writes
 * their verified backups while the network thread keeps serving. */
#ifndef SESSIOND_SAVER_H
#define SESSIOND_SAVER_H

#include <stdint.h>

#include "backup.h"

struct saver;

/* notify(arg) is called from the worker thread when a job is done; it must
 * only wake the network loop (lws_cancel_service). */
struct saver *saver_start(void (*notify)(void *arg), void *arg);
/* Hands a job to the worker (the saver owns it until saver_take_done). */
void saver_submit(struct saver *sv, struct backup_job *job);
/* A finished job, or NULL. The caller frees it with backup_job_free. */
struct backup_job *saver_take_done(struct saver *sv);
/* Runs every job still queued, then joins the thread; their results stay
 * available through saver_take_done until saver_free. */
void saver_stop(struct saver *sv);
void saver_free(struct saver *sv);

#endif
