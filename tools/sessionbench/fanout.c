/*
 * fanout.c: the `fanout` scenario: writers update nodes that every watcher
 * receives; deliveries/s at the maximum rate, then delivery latency (from
 * the send time stamped into the patch) at a lower rate.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

/* fanout: writers pipeline (max rate) or pace (half rate); all count. */
struct fanout_state {
	int recording;
	uint64_t rec_from, rec_to; /* send times whose latency is kept */
	struct lat_vec lat;
};

static void fanout_on_event(struct conn *c, const char *m, size_t n, uint64_t now)
{
	struct fanout_state *fs = c->scenario;
	int64_t t;

	if (!fs->recording || scan_int(m, n, "t", &t) || t <= 0)
		return;
	if ((uint64_t)t >= fs->rec_from && (uint64_t)t < fs->rec_to && now >= (uint64_t)t)
		lat_add(&fs->lat, now - (uint64_t)t);
}

static int64_t fanout_oks(struct conn_set *s, int64_t writers)
{
	int64_t i, sum = 0;

	for (i = 0; i < writers; i++)
		sum += s->v[i]->oks;
	return sum;
}

struct fanout_drain {
	struct conn_set *set;
	int64_t writers;
	uint64_t expect;
};

static int fanout_drained(struct bench *b, void *arg)
{
	struct fanout_drain *d = arg;
	struct conn_set w = { d->set->v, (size_t)d->writers };

	return all_replied(b, &w) && b->deliveries >= d->expect;
}

int run_fanout(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct fanout_state fs;
	struct fanout_drain drain;
	int64_t total = o->writers + o->watchers, i, oks0, oks1, errors = 0;
	uint64_t d0, d1, t0, t1, deliv0;
	double deliveries_s = -1, ops_s, half_rate, cpu0, cpu_srv0, cpu_s, cpu_srv;
	double p50 = -1, p99 = -1;
	char user[40];
	int rc;

	memset(&fs, 0, sizeof(fs));
	if (o->writers < 1 || total < 2) {
		note("needs a writer and one other connection");
		return BENCH_ERR;
	}
	if (set_alloc(&set, (size_t)total))
		return BENCH_ERR;
	for (i = 0; i < total; i++) {
		if (i < o->writers)
			snprintf(user, sizeof(user), "writer%" PRId64, i);
		else
			snprintf(user, sizeof(user), "watcher%" PRId64, i - o->writers);
		set.v[i] = conn_new(b, o->session, user, 0);
		if (!set.v[i]) {
			rc = BENCH_ERR;
			goto out;
		}
		set.v[i]->scenario = &fs;
		set.v[i]->on_event = fanout_on_event;
	}
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	for (i = 0; i < o->writers; i++) {
		char prefix[24];

		snprintf(prefix, sizeof(prefix), "f%" PRId64 "-", i);
		if ((rc = populate(b, set.v[i], prefix, o->nodes, o->data_bytes, o->window,
				   o->timeout)))
			goto out;
	}
	bench_sleep(b, 0.2); /* let the create events land */
	drain.set = &set;
	drain.writers = o->writers;

	/* Phase 1: as fast as the windows allow. */
	deliv0 = b->deliveries;
	oks0 = fanout_oks(&set, o->writers);
	for (i = 0; i < o->writers; i++) {
		char prefix[24];

		snprintf(prefix, sizeof(prefix), "f%" PRId64 "-", i);
		set.v[i]->job.kind = JOB_NONE;
		if ((rc = job_start(set.v[i], JOB_UPDATE, prefix, o->nodes, -1, o->window, 0, 0)))
			goto out;
		set.v[i]->job.stamp = 1;
	}
	bench_sleep(b, o->warmup);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	d0 = b->deliveries;
	t0 = now_ns();
	oks1 = fanout_oks(&set, o->writers);
	cpu0 = cpu_self_s();
	cpu_srv0 = cpu_pid_s(o->pid);
	bench_sleep(b, o->seconds);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	d1 = b->deliveries;
	t1 = now_ns();
	cpu_s = cpu_self_s() - cpu0;
	cpu_srv = cpu_pid_s(o->pid) - cpu_srv0;
	ops_s = (double)(fanout_oks(&set, o->writers) - oks1) / ns_to_s(t1 - t0);
	deliveries_s = (double)(d1 - d0) / ns_to_s(t1 - t0);
	for (i = 0; i < o->writers; i++)
		job_stop(set.v[i]);
	drain.expect = deliv0 + (uint64_t)((fanout_oks(&set, o->writers) - oks0) * (total - 1));
	rc = bench_wait(b, fanout_drained, &drain, o->timeout, "fan-out drain (max rate)");
	if (rc == BENCH_TIMEOUT)
		note("only %" PRIu64 " of %" PRIu64 " deliveries arrived",
		     b->deliveries - deliv0, drain.expect - deliv0);
	if (rc)
		goto out;
	for (i = 0; i < o->writers; i++)
		errors += set.v[i]->errors;
	if (errors) {
		rc = conn_check_errors(set.v[0], "node.update (fan-out)");
		goto out;
	}
	result("fanout_deliveries_per_s", deliveries_s, 0);
	result("fanout_ops_per_s", ops_s, 0);
	result("fanout_client_cpu_pct", 100 * cpu_s / ns_to_s(t1 - t0), 0);
	if (o->pid)
		result("fanout_server_cpu_pct", cpu_srv < 0 ? -1 : 100 * cpu_srv / ns_to_s(t1 - t0),
		       0);

	/* Phase 2: paced at half the measured op rate, latency at receivers. */
	half_rate = o->latency_rate > 0 ? o->latency_rate : ops_s / 2;
	if (half_rate < 1)
		half_rate = 1;
	deliv0 = b->deliveries;
	oks0 = fanout_oks(&set, o->writers);
	for (i = 0; i < o->writers; i++) {
		char prefix[24];

		snprintf(prefix, sizeof(prefix), "f%" PRId64 "-", i);
		if ((rc = job_start(set.v[i], JOB_UPDATE, prefix, o->nodes, -1, 1 << 14,
				    half_rate / (double)o->writers, 0)))
			goto out;
		set.v[i]->job.stamp = 1;
	}
	fs.rec_from = now_ns() + (uint64_t)(o->warmup * 1e9);
	fs.rec_to = fs.rec_from + (uint64_t)(o->seconds * 1e9);
	fs.recording = 1;
	bench_sleep(b, o->warmup);
	cpu0 = cpu_self_s();
	cpu_srv0 = cpu_pid_s(o->pid);
	t0 = now_ns();
	bench_sleep(b, o->seconds);
	t1 = now_ns();
	cpu_s = cpu_self_s() - cpu0;
	cpu_srv = cpu_pid_s(o->pid) - cpu_srv0;
	for (i = 0; i < o->writers; i++)
		job_stop(set.v[i]);
	if (b->failed) {
		rc = BENCH_ERR;
		goto out;
	}
	drain.expect = deliv0 + (uint64_t)((fanout_oks(&set, o->writers) - oks0) * (total - 1));
	rc = bench_wait(b, fanout_drained, &drain, o->timeout, "fan-out drain (half rate)");
	if (rc)
		goto out;
	p50 = lat_pct_ms(&fs.lat, 50);
	p99 = lat_pct_ms(&fs.lat, 99);
	result("fanout_half_rate_ops_per_s", half_rate, 0);
	result("fanout_p50_ms", p50, 2);
	result("fanout_p99_ms", p99, 2);
	result("fanout_max_ms", lat_pct_ms(&fs.lat, 100), 2);
	result("fanout_latency_samples", (double)fs.lat.n, 0);
	result("fanout_half_client_cpu_pct", 100 * cpu_s / ns_to_s(t1 - t0), 0);
	if (o->pid)
		result("fanout_half_server_cpu_pct",
		       cpu_srv < 0 ? -1 : 100 * cpu_srv / ns_to_s(t1 - t0), 0);
out:
	if (rc) {
		if (deliveries_s < 0)
			result_null("fanout_deliveries_per_s");
		result_null("fanout_p50_ms");
		result_null("fanout_p99_ms");
	}
	set_close(b, &set);
	lat_free(&fs.lat);
	return rc;
}
