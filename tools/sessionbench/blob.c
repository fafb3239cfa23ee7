/*
 * blob.c: the `blob` scenario: one blob of --mb MiB uploaded (blob.put,
 * binary frames, blob.end) while another client writes at --rate, then the
 * WAL it left is checkpointed for --post seconds while that client goes on
 * writing, then the blob is downloaded.
 *
 * The uploader is not an lws connection but a raw_ws.c socket on a thread
 * of its own; the writer stays on the lws loop thread, so its latencies are
 * measured as in the other scenarios.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

struct blob_job {
	/* in */
	const char *host, *session;
	int port;
	unsigned char *data;
	size_t size;
	char hash[2 * EVP_MAX_MD_SIZE + 1];
	double post;
	/* out (written by the thread, read after `done`) */
	uint64_t t0, t_sent, t1, t2, t3;
	uint64_t got;
	int failed;
	char why[300];
	atomic_int phase; /* 1 uploaded, 2 downloading, 3 done */
};

static void *blob_thread(void *arg)
{
	struct blob_job *j = arg;
	struct raw_ws r;
	char *reply = NULL;
	uint64_t bin = 0;

	if (raw_open(&r, j->host, j->port, j->session, "uploader")) {
		snprintf(j->why, sizeof(j->why), "raw connection: %s", strerror(errno));
		goto fail;
	}
	j->t0 = now_ns();
	if (raw_send_json(&r, json_pack("{s:s s:i s:s s:I}", "type", "blob.put", "id", 2,
					"hash", j->hash, "size", (json_int_t)j->size)) ||
	    raw_reply(&r, 2, &reply, &bin))
		goto io;
	if (!strstr(reply, "\"have\":false")) {
		snprintf(j->why, sizeof(j->why), "blob.put: %.200s", reply);
		goto fail;
	}
	free(reply);
	reply = NULL;
	for (size_t off = 0; off < j->size; off += 256 * 1024) {
		size_t n = j->size - off < 256 * 1024 ? j->size - off : 256 * 1024;

		if (raw_send(&r, 2, j->data + off, n))
			goto io;
	}
	j->t_sent = now_ns();
	if (raw_send_json(&r, json_pack("{s:s s:i s:s}", "type", "blob.end", "id", 3, "hash",
					j->hash)) ||
	    raw_reply(&r, 3, &reply, &bin))
		goto io;
	j->t1 = now_ns();
	if (!strstr(reply, "\"type\":\"ok\"")) {
		snprintf(j->why, sizeof(j->why), "blob.end: %.200s", reply);
		goto fail;
	}
	free(reply);
	reply = NULL;
	atomic_store(&j->phase, 1);
	while (atomic_load(&j->phase) == 1) /* the main thread measures --post */
		usleep(1000);
	bin = 0;
	j->t2 = now_ns();
	if (raw_send_json(&r, json_pack("{s:s s:i s:s}", "type", "blob.get", "id", 4, "hash",
					j->hash)) ||
	    raw_reply(&r, 4, &reply, &bin))
		goto io;
	if (!strstr(reply, "\"type\":\"ok\"")) {
		snprintf(j->why, sizeof(j->why), "blob.get: %.200s", reply);
		goto fail;
	}
	while (bin < j->size) {
		int op = 0;
		char *t = NULL;

		if (raw_frame(&r, &op, &t, &bin))
			goto io;
		free(t);
	}
	j->t3 = now_ns();
	j->got = bin;
	free(reply);
	raw_close(&r);
	atomic_store(&j->phase, 3);
	return NULL;
io:
	snprintf(j->why, sizeof(j->why), "connection lost");
fail:
	free(reply);
	raw_close(&r);
	j->failed = 1;
	atomic_store(&j->phase, 3);
	return NULL;
}

struct blob_wait {
	struct blob_job *job;
	int want; /* phase */
	long pid, rss_peak_kib;
	uint64_t rss_next;
};

static int blob_phase(struct bench *b, void *arg)
{
	struct blob_wait *w = arg;
	uint64_t now = now_ns();

	(void)b;
	if (w->pid && now >= w->rss_next && atomic_load(&w->job->phase) < 1) {
		long rss = rss_kib(w->pid);

		w->rss_next = now + 5000000;
		if (rss > w->rss_peak_kib)
			w->rss_peak_kib = rss;
	}
	return atomic_load(&w->job->phase) >= w->want;
}

int run_blob(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct save_state ws;
	struct blob_job job;
	struct blob_wait bw;
	struct lat_vec during = { NULL, 0, 0, 0 }, after = { NULL, 0, 0, 0 };
	struct lat_vec stream = { NULL, 0, 0, 0 };
	struct conn *w;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t i;
	long rss0 = 0;
	uint32_t x = 2463534242u;
	pthread_t th;
	int started = 0, rc;

	memset(&ws, 0, sizeof(ws));
	memset(&job, 0, sizeof(job));
	memset(&bw, 0, sizeof(bw));
	job.host = o->host;
	job.port = o->port;
	job.session = o->session;
	job.size = (size_t)(o->mb * 1024 * 1024);
	job.data = malloc(job.size + 8);
	if (!job.data) {
		note("cannot allocate %zu bytes", job.size);
		return BENCH_ERR;
	}
	for (i = 0; i < job.size; i += 4) { /* incompressible bytes */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		memcpy(job.data + i, &x, 4);
	}
	if (!EVP_Digest(job.data, job.size, md, &mdlen, EVP_sha256(), NULL)) {
		note("SHA-256 failed");
		free(job.data);
		return BENCH_ERR;
	}
	for (i = 0; i < mdlen; i++)
		snprintf(job.hash + 2 * i, 3, "%02x", md[i]);

	if (set_alloc(&set, 1) || !(set.v[0] = conn_new(b, o->session, "writer", 0))) {
		rc = BENCH_ERR;
		goto out;
	}
	w = set.v[0];
	w->scenario = &ws;
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	if ((rc = populate(b, w, "b", o->nodes, 200, o->window, o->timeout)))
		goto out;
	w->on_reply = save_on_writer_reply;
	if ((rc = job_start(w, JOB_UPDATE, "b", o->nodes, -1, 1 << 15, o->rate, 0)))
		goto out;
	bench_sleep(b, o->pre);
	rss0 = o->pid ? rss_kib(o->pid) : 0;
	bw.job = &job;
	bw.pid = o->pid;
	bw.rss_peak_kib = rss0;
	if (pthread_create(&th, NULL, blob_thread, &job)) {
		rc = BENCH_ERR;
		goto out;
	}
	started = 1;
	bw.want = 1;
	if ((rc = bench_wait(b, blob_phase, &bw, o->timeout, "the upload")))
		goto out;
	if (job.failed) {
		note("blob upload failed: %s", job.why);
		rc = strstr(job.why, "bad_request") ? BENCH_UNSUPPORTED : BENCH_ERR;
		goto out;
	}
	/* The WAL the upload left is checkpointed now: the writer goes on. */
	bench_sleep(b, o->post);
	job_stop(w);
	{
		struct conn_set one = { &w, 1 };

		if ((rc = bench_wait(b, all_replied, &one, o->timeout, "last updates")))
			goto out;
	}
	if ((rc = conn_check_errors(w, "node.update (blob)")))
		goto out;
	atomic_store(&job.phase, 2);
	bw.want = 3;
	if ((rc = bench_wait(b, blob_phase, &bw, o->timeout, "the download")))
		goto out;
	if (job.failed || job.got != job.size) {
		note("blob download failed: %s (%" PRIu64 " of %zu bytes)", job.why, job.got,
		     job.size);
		rc = BENCH_ERR;
		goto out;
	}
	for (i = 0; i < ws.n; i++) {
		if (ws.v[i].sent >= job.t0 && ws.v[i].sent <= job.t1)
			lat_add(&during, (uint64_t)ws.v[i].lat_us * 1000);
		if (ws.v[i].sent >= job.t0 && ws.v[i].sent + (uint64_t)ws.v[i].lat_us * 1000 <=
						      job.t_sent)
			lat_add(&stream, (uint64_t)ws.v[i].lat_us * 1000);
		else if (ws.v[i].sent > job.t1 &&
			 ws.v[i].sent <= job.t1 + (uint64_t)(o->post * 1e9))
			lat_add(&after, (uint64_t)ws.v[i].lat_us * 1000);
	}
	note("blob: %zu bytes up in %.0f ms (sent in %.0f ms, then %.0f ms to the ok of "
	     "blob.end), down in %.0f ms; writer: %zu acks during the upload, %zu after it",
	     job.size, ns_to_ms(job.t1 - job.t0), ns_to_ms(job.t_sent - job.t0),
	     ns_to_ms(job.t1 - job.t_sent), ns_to_ms(job.t3 - job.t2), during.n, after.n);
	result("blob_mb", (double)job.size / 1e6, 1);
	result("blob_put_mb_per_s", (double)job.size / 1e6 / ns_to_s(job.t1 - job.t0), 1);
	result("blob_get_mb_per_s", (double)job.size / 1e6 / ns_to_s(job.t3 - job.t2), 1);
	if (o->pid)
		result("blob_put_rss_mib", (double)(bw.rss_peak_kib - rss0) / 1024.0, 1);
	else
		result_null("blob_put_rss_mib");
	result("blob_put_other_p99_ms", lat_pct_ms(&during, 99), 2);
	result("blob_put_other_max_ms", lat_pct_ms(&during, 100), 2);
	/* Acked while the bytes streamed in, before blob.end: what the upload
	 * itself costs the others, without the copy into the row. */
	result("blob_put_stream_other_p99_ms", lat_pct_ms(&stream, 99), 2);
	result("checkpoint_stall_p99_ms", lat_pct_ms(&after, 99), 2);
	result("checkpoint_stall_max_ms", lat_pct_ms(&after, 100), 2);
	rc = BENCH_OK;
out:
	if (started) {
		if (atomic_load(&job.phase) < 3) {
			atomic_store(&job.phase, 2); /* let it finish or fail */
		}
		pthread_join(th, NULL);
	}
	if (rc) {
		result_null("blob_put_mb_per_s");
		result_null("blob_get_mb_per_s");
		result_null("blob_put_rss_mib");
		result_null("blob_put_other_p99_ms");
		result_null("checkpoint_stall_p99_ms");
		result_null("checkpoint_stall_max_ms");
	}
	set_close(b, &set);
	free(ws.v);
	free(job.data);
	lat_free(&during);
	lat_free(&after);
	lat_free(&stream);
	return rc;
}

