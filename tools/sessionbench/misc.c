/*
 * misc.c: the small scenarios: `populate` (build a big session, then
 * SIGKILL the server for tools/bench's `ready`), `ready` (retry until the
 * restarted server welcomes), `idle` (server RSS per idle connection) and
 * `freeport`.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int run_populate(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	int64_t nodes = (int64_t)(o->mb * 1024 * 1024 / (double)(o->data_bytes + 100));
	uint64_t t0;
	int rc;

	if (nodes < 1)
		nodes = 1;
	if (set_alloc(&set, 1) || !(set.v[0] = conn_new(b, o->session, "loader", 0)))
		return BENCH_ERR;
	if ((rc = set_connect(b, &set, o->timeout)))
		goto out;
	t0 = now_ns();
	if ((rc = populate(b, set.v[0], "r", nodes, o->data_bytes, o->window, o->timeout)))
		goto out;
	result("populate_nodes", (double)nodes, 0);
	result("populate_s", ns_to_s(now_ns() - t0), 2);
	if (o->pid > 0) {
		/* Kill while connected: no leave-triggered save gets to run. */
		set.v[0]->expect_close = 1;
		b->tolerate_failures = 1;
		if (kill((pid_t)o->pid, SIGKILL)) {
			note("kill %ld: %s", o->pid, strerror(errno));
			rc = BENCH_ERR;
		}
	}
out:
	set_close(b, &set);
	return rc;
}

/* ready: connect+hello until the restarted server welcomes us. */
int run_ready(struct bench *b, struct opts *o)
{
	struct conn *c = conn_new(b, o->session, "ready", 0);
	uint64_t t0 = o->t0_realtime ? o->t0_realtime : realtime_ns();
	uint64_t deadline = now_ns() + (uint64_t)(o->timeout * 1e9), next = 0;
	int attempts = 0, rc = BENCH_TIMEOUT;
	double ms = -1;

	if (!c)
		return BENCH_ERR;
	b->tolerate_failures = 1;
	while (now_ns() < deadline) {
		uint64_t now = now_ns();

		if (c->state == CONN_WELCOMED || c->state == CONN_SYNCED) {
			ms = (double)(realtime_ns() - t0) / 1e6;
			rc = BENCH_OK;
			break;
		}
		if ((c->state == CONN_NEW || c->state == CONN_FAILED || c->state == CONN_CLOSED) &&
		    now >= next) {
			if (c->state == CONN_FAILED && b->verbose)
				note("attempt %d: %s", attempts, c->why);
			attempts++;
			next = now + 5 * 1000 * 1000; /* retry every 5 ms */
			conn_open(c);
			continue;
		}
		bench_service(b);
	}
	if (rc == BENCH_OK) {
		result("ready_ms", ms, 1);
		result("ready_attempts", attempts, 0);
	} else {
		note("no welcome within %.0f s (last: %s)", o->timeout, c->why);
		result_null("ready_ms");
	}
	if (c->wsi) {
		/* Leave before the (large) sync arrives. */
		struct conn_set one = { &c, 1 };

		c->expect_close = 1;
		conn_close(c);
		bench_wait(b, all_gone, &one, 10, "closing");
	}
	conn_free(c);
	return rc;
}

static int idle_quiet(struct bench *b, void *arg)
{
	(void)arg;
	return now_ns() - b->t_last_rx > 300 * 1000 * 1000ull;
}

/*
 * idle: server RSS growth per idle connection. The session is created by a
 * first connection before the "before" reading, so only connections count.
 */
int run_idle(struct bench *b, struct opts *o)
{
	struct conn_set set = { NULL, 0 };
	struct conn_set base;
	int64_t i;
	long before, after;
	size_t opened = 1, synced;
	int rc;

	if (o->pid <= 0) {
		note("needs --pid of the server");
		return BENCH_ERR;
	}
	if (set_alloc(&set, (size_t)o->conns + 1))
		return BENCH_ERR;
	for (i = 0; i <= o->conns; i++) {
		char user[40];

		snprintf(user, sizeof(user), "idle%05" PRId64, i);
		if (!(set.v[i] = conn_new(b, o->session, user, 0))) {
			rc = BENCH_ERR;
			goto out;
		}
	}
	base.v = set.v;
	base.n = 1;
	if ((rc = set_connect(b, &base, o->timeout)))
		goto out;
	bench_wait(b, idle_quiet, NULL, 5, "quiet");
	before = rss_kib(o->pid);

	/* At most 32 handshakes at once: no SYN backlog, no 1000-way storm. */
	{
		uint64_t deadline = now_ns() + (uint64_t)(o->timeout * 1e9);

		for (;;) {
			size_t pending = 0;

			synced = 0;
			for (i = 1; i < (int64_t)opened; i++) {
				if (set.v[i]->state == CONN_SYNCED)
					synced++;
				else
					pending++;
			}
			if (synced == (size_t)o->conns)
				break;
			if (b->failed) {
				note("connecting: %s", b->fail_why);
				rc = BENCH_ERR;
				goto out;
			}
			if (now_ns() > deadline) {
				note("timed out with %zu of %" PRId64 " connections synced", synced,
				     o->conns);
				rc = BENCH_TIMEOUT;
				goto out;
			}
			while (pending < 32 && opened <= (size_t)o->conns) {
				conn_open(set.v[opened++]);
				pending++;
			}
			bench_service(b);
		}
	}
	bench_wait(b, idle_quiet, NULL, 30, "quiet");
	bench_sleep(b, 0.2);
	after = rss_kib(o->pid);
	if (before < 0 || after < 0) {
		note("cannot read /proc/%ld/status", o->pid);
		rc = BENCH_ERR;
		goto out;
	}
	result("idle_rss_before_kib", (double)before, 0);
	result("idle_rss_after_kib", (double)after, 0);
	result("idle_conns", (double)o->conns, 0);
	result("rss_idle_conn_kib", (double)(after - before) / (double)o->conns, 1);
out:
	if (rc)
		result_null("rss_idle_conn_kib");
	set_close(b, &set);
	return rc;
}

int run_freeport(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc = BENCH_ERR;

	if (fd < 0)
		return BENCH_ERR;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		goto out;
	printf("%d\n", ntohs(sa.sin_port));
	rc = BENCH_OK;
out:
	close(fd);
	return rc;
}

