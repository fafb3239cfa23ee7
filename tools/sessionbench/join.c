/*
 * join.c: the `join` scenario: time from hello to synced for a new client
 * of a session of --nodes nodes (median of --runs).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * join: a loader creates the session's nodes, then `runs` new clients in
 * turn time hello-sent -> synced. Everyone stays connected until the end so
 * that no leave-triggered save runs under a measurement.
 */
int run_join(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	double *ms = NULL, median;
	int64_t r;
	int rc;

	if (o->runs < 1)
		o->runs = 1;
	ms = calloc((size_t)o->runs, sizeof(*ms));
	if (!ms || set_alloc(&set, (size_t)o->runs + 1) ||
	    !(set.v[0] = conn_new(b, o->session, "loader", 0))) {
		rc = BENCH_ERR;
		goto out;
	}
	set.n = 1;
	if ((rc = set_connect(b, &set, o->timeout)) ||
	    (rc = populate(b, set.v[0], "j", o->nodes, o->data_bytes, o->window, o->timeout)))
		goto out;
	bench_sleep(b, 0.3);
	for (r = 0; r < o->runs; r++) {
		char user[40];
		struct conn *c;
		struct conn_set one;

		snprintf(user, sizeof(user), "joiner%" PRId64, r);
		c = set.v[set.n] = conn_new(b, o->session, user, 0);
		if (!c) {
			rc = BENCH_ERR;
			goto out;
		}
		set.n++;
		one.v = &c;
		one.n = 1;
		if ((rc = set_connect(b, &one, o->timeout)))
			goto out;
		ms[r] = ns_to_ms(c->t_synced - c->t_hello);
		note("join %" PRId64 ": %.1f ms (welcome after %.1f ms), %" PRIu64
		     " sync frames, %.1f MB, %" PRIu64 " uuids",
		     r + 1, ms[r], ns_to_ms(c->t_welcome - c->t_hello), c->sync_frames,
		     (double)c->sync_bytes / 1e6, c->sync_uuids);
		if (c->sync_uuids < (uint64_t)o->nodes)
			note("the sync held %" PRIu64 " uuids for %" PRId64 " nodes", c->sync_uuids,
			     o->nodes);
		bench_sleep(b, 0.2);
	}
	qsort(ms, (size_t)o->runs, sizeof(*ms), cmp_double);
	median = ms[o->runs / 2];
	result("join_ms", median, 1);
	result("join_min_ms", ms[0], 1);
	result("join_max_ms", ms[o->runs - 1], 1);
	result("join_sync_mb", (double)set.v[1]->sync_bytes / 1e6, 1);
out:
	if (rc)
		result_null("join_ms");
	set_close(b, &set);
	free(ms);
	return rc;
}

