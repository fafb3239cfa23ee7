/*
 * save.c: the `save` scenario: admin.save of a large session while a paced
 * writer goes on, and the writer's ack latencies inside and outside the
 * save. The writer's reply hook is shared with blob.c.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* save: a paced writer, an admin.save in the middle, stalls in the window. */

void save_on_writer_reply(struct conn *c, int64_t re, int ok, uint64_t sent, uint64_t now,
			  const char *m, size_t n)
{
	struct save_state *ss = c->scenario;

	(void)re;
	(void)m;
	(void)n;
	if (!ok || !sent)
		return;
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 8192;
		struct save_sample *v = realloc(ss->v, cap * sizeof(*v));

		if (!v)
			return;
		ss->v = v;
		ss->cap = cap;
	}
	ss->v[ss->n].sent = sent;
	ss->v[ss->n].lat_us = (uint32_t)((now - sent) / 1000);
	ss->n++;
}

/* admin.save's reply: the one frame whose fields are parsed for real. */
static void save_on_admin_reply(struct conn *c, int64_t re, int ok, uint64_t sent, uint64_t now,
				const char *m, size_t n)
{
	struct save_state *ss = c->scenario;
	json_t *reply, *v;

	(void)sent;
	if (re != ss->save_id)
		return;
	ss->save_done = 1;
	ss->save_ok = ok;
	ss->save_reply = now;
	if (!ok)
		return;
	reply = json_loadb(m, n, 0, NULL);
	if (!reply)
		return;
	if ((v = json_object_get(reply, "ms")) && json_is_number(v)) /* borrowed */
		ss->ms = json_number_value(v);
	if ((v = json_object_get(reply, "bytes")) && json_is_number(v))
		ss->bytes = json_number_value(v);
	if ((v = json_object_get(reply, "backup")) && json_is_string(v))
		snprintf(ss->backup, sizeof(ss->backup), "%s", json_string_value(v));
	json_decref(reply);
}

static int save_replied(struct bench *b, void *arg)
{
	(void)b;
	return ((struct save_state *)arg)->save_done;
}

int run_save(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct conn_set writer_only;
	struct save_state ss;
	struct lat_vec during = { NULL, 0, 0, 0 }, outside = { NULL, 0, 0, 0 };
	struct conn *w, *a;
	int64_t nodes;
	double rtt_ms;
	size_t i;
	int rc;

	memset(&ss, 0, sizeof(ss));
	ss.ms = ss.bytes = -1;
	nodes = (int64_t)(o->mb * 1024 * 1024 / (double)(o->data_bytes + 100));
	if (nodes < 1)
		nodes = 1;
	if (set_alloc(&set, 2) || !(set.v[0] = conn_new(b, o->session, "writer", 0)) ||
	    !(set.v[1] = conn_new(b, o->session, "admin", 1))) {
		rc = BENCH_ERR;
		goto out;
	}
	w = set.v[0];
	a = set.v[1];
	w->scenario = a->scenario = &ss;
	a->on_reply = save_on_admin_reply;
	writer_only.v = &w;
	writer_only.n = 1;
	set.n = 1;
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	note("creating %" PRId64 " nodes of %zu bytes (%.0f MB)", nodes, o->data_bytes, o->mb);
	if ((rc = populate(b, w, "s", nodes, o->data_bytes, o->window, o->timeout)))
		goto out;
	set.n = 2;
	{
		struct conn_set one = { &a, 1 };

		if ((rc = set_connect(b, &one, o->timeout)))
			goto out;
	}

	w->on_reply = save_on_writer_reply;
	if ((rc = job_start(w, JOB_UPDATE, "s", nodes, -1, 1 << 15, o->rate, 0)))
		goto out;
	bench_sleep(b, o->pre);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	if ((rc = conn_request(a, json_pack("{s:s}", "type", "admin.save"), &ss.save_id)))
		goto out;
	a->requests++;
	ss.save_sent = now_ns();
	rc = bench_wait(b, save_replied, &ss, o->timeout, "admin.save reply");
	if (rc)
		goto out;
	bench_sleep(b, o->post);
	job_stop(w);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	if ((rc = bench_wait(b, all_replied, &writer_only, o->timeout, "last updates")))
		goto out;
	if ((rc = conn_check_errors(w, "node.update (save)")))
		goto out;
	if (!ss.save_ok) {
		note("admin.save failed: %s", a->first_error);
		rc = strstr(a->first_error, "bad_request") || strstr(a->first_error, "unknown") ?
			     BENCH_UNSUPPORTED :
			     BENCH_ERR;
		goto out;
	}
	rtt_ms = ns_to_ms(ss.save_reply - ss.save_sent);
	for (i = 0; i < ss.n; i++) {
		struct lat_vec *l = ss.v[i].sent >= ss.save_sent && ss.v[i].sent <= ss.save_reply ?
					    &during :
					    &outside;

		lat_add(l, (uint64_t)ss.v[i].lat_us * 1000);
	}
	if (ss.ms < 0)
		note("admin.save's ok has no \"ms\": reporting the round trip");
	else
		note("admin.save: %s, %.0f bytes, %.0f ms (round trip %.0f ms)", ss.backup,
		     ss.bytes, ss.ms, rtt_ms);
	result("save_ms", ss.ms >= 0 ? ss.ms : rtt_ms, 1);
	result("save_rtt_ms", rtt_ms, 1);
	result("save_bytes", ss.bytes, 0);
	result("save_stall_max_ms", lat_pct_ms(&during, 100), 2);
	result("save_stall_p99_ms", lat_pct_ms(&during, 99), 2);
	result("save_updates_during", (double)during.n, 0);
	result("save_outside_p99_ms", lat_pct_ms(&outside, 99), 2);
	result("save_rate", o->rate, 0);
out:
	if (rc) {
		result_null("save_ms");
		result_null("save_stall_max_ms");
		result_null("save_stall_p99_ms");
	}
	set_close(b, &set);
	free(ss.v);
	lat_free(&during);
	lat_free(&outside);
	return rc;
}
