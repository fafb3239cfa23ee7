/* test_conn.c - one connection's outgoing queue, as net.c drains it with
 * conn_peek/conn_pop: frames leave in the order they were queued, shared by
 * reference; a hold keeps the place of a reply that comes later; the sync
 * stream (a real snapshot of a session file, several frames) goes out where
 * it was started, and what was queued behind it waits for `synced`; a client
 * that lets MAX_CLIENT_QUEUE_BYTES pile up is closed with 4429; close codes
 * and the order of close and queued frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "server_state.h"
#include "store.h"
#include "sync.h"
#include "testutil.h"

struct fx {
	struct config cfg;
	struct server srv;
	int wakes;
	int ended;
};

static struct fx *current;

static void count_wake(struct conn *c)
{
	(void)c;
	current->wakes++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->cfg.max_client_queue_bytes = 1000;
	f->cfg.rate_limit = 0;
	f->srv.cfg = &f->cfg;
	f->srv.wake = count_wake;
	metrics_init(&f->srv.metrics);
	log_set_level(LOG_ERROR);
	current = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	while (f->srv.conns)
		conn_free(f->srv.conns);
	assert_int_equal(f->srv.nconns, 0);
	free(f);
	return 0;
}

static struct frame *text_frame(const char *s) { return frame_new(s, strlen(s)); }

/* Queues a frame made from s and drops the caller's reference. */
static void send_text(struct conn *c, const char *s)
{
	struct frame *fr = text_frame(s);
	conn_send(c, fr);
	frame_unref(fr);
}

/* The next frame must be `want`; pops it. */
static void expect_frame(struct conn *c, const char *want)
{
	struct frame *fr = conn_peek(c);
	if (!fr)
		fail_msg("expected %s, got nothing", want);
	assert_string_equal(frame_data(fr), want);
	conn_pop(c);
}

static void test_order_and_shared_frames(void **state)
{
	struct fx *f = *state;
	struct conn *a = conn_new(&f->srv, "default", NULL);
	struct conn *b = conn_new(&f->srv, "default", NULL);
	struct frame *ev = text_frame("{\"type\":\"node\"}");
	assert_int_equal(f->srv.nconns, 2);
	assert_ptr_equal(f->srv.conns, b);
	assert_true(b->id > a->id);
	assert_false(conn_has_output(a));
	assert_null(conn_peek(a));

	send_text(a, "1");
	assert_int_equal(f->wakes, 1); /* the queue was empty: wake the writer */
	send_text(a, "22");
	assert_int_equal(f->wakes, 1);
	conn_send(a, ev);
	conn_send(b, ev);
	send_text(a, "4444");
	assert_int_equal(ev->refs, 3);  /* one copy, three references */
	assert_int_equal(a->qbytes, 1 + 2 + ev->len + 4);
	assert_true(conn_has_output(a));
	/* Peeking does not consume. */
	assert_ptr_equal(conn_peek(a), conn_peek(a));
	expect_frame(a, "1");
	expect_frame(a, "22");
	expect_frame(a, "{\"type\":\"node\"}");
	assert_int_equal(ev->refs, 2);
	expect_frame(a, "4444");
	assert_null(conn_peek(a));
	assert_int_equal(a->qbytes, 0);
	assert_false(conn_has_output(a));
	expect_frame(b, "{\"type\":\"node\"}");
	assert_int_equal(ev->refs, 1);
	frame_unref(ev);

	/* The ring wraps around and grows while it holds a wrapped run,
	 * keeping the order. */
	{
		int sent = 0, got = 0;
		char s[16];
		for (int round = 0; round < 6; round++) {
			for (int i = 0; i < 7 + 5 * round; i++) {
				snprintf(s, sizeof(s), "%d", sent++);
				send_text(a, s);
			}
			while (got < sent - 6) {
				snprintf(s, sizeof(s), "%d", got++);
				expect_frame(a, s);
			}
		}
		while (got < sent) {
			snprintf(s, sizeof(s), "%d", got++);
			expect_frame(a, s);
		}
	}
	assert_null(conn_peek(a));
}

static void test_holds_keep_their_place(void **state)
{
	struct fx *f = *state;
	struct conn *c = conn_new(&f->srv, "default", NULL);
	send_text(c, "before");
	conn_hold(c);              /* admin.save #1 */
	send_text(c, "between");
	conn_hold(c);              /* admin.save #2 */
	send_text(c, "after");
	expect_frame(c, "before");
	/* Nothing passes an unanswered hold. */
	assert_null(conn_peek(c));
	assert_true(conn_has_output(c));
	conn_release_hold(c, text_frame("saved-1"));
	expect_frame(c, "saved-1");
	expect_frame(c, "between");
	assert_null(conn_peek(c));
	/* Answers fill the holds in order, even when they arrive together. */
	conn_release_hold(c, text_frame("saved-2"));
	expect_frame(c, "saved-2");
	expect_frame(c, "after");
	assert_null(conn_peek(c));

	/* A hold answered before it reaches the head waits its turn. */
	send_text(c, "x");
	conn_hold(c);
	conn_release_hold(c, text_frame("y"));
	expect_frame(c, "x");
	expect_frame(c, "y");
	/* Freed with an unanswered hold and an unfilled answer: no leak. */
	conn_hold(c);
	conn_hold(c);
	conn_release_hold(c, text_frame("z"));
	send_text(c, "queued");
	conn_free(c);
}

/* A session file with `n` nodes of `size` bytes of data each, seq n. */
static char *make_session(int n, size_t size)
{
	char *dir = tu_mkdtemp(), path[4200], err[256], uuid[16];
	char *data = malloc(size + 32);
	struct store *st;
	snprintf(path, sizeof(path), "%s/session.db", dir);
	assert_int_equal(store_open(path, 0, &st, err, sizeof(err)), SQLITE_OK);
	assert_int_equal(store_begin(st), SQLITE_OK);
	for (int i = 0; i < n; i++) {
		struct node_row r = {.uuid = uuid, .kind = (char *)"Object", .data = data,
				     .version = 1, .seq = i + 1, .updated_by = (char *)"alice",
				     .updated_at = 1796007416.321};
		snprintf(uuid, sizeof(uuid), "n%d", i);
		snprintf(data, size + 32, "{\"pad\":\"%0*d\"}", (int)size, i);
		assert_int_equal(store_node_insert(st, &r), SQLITE_OK);
	}
	assert_int_equal(store_meta_set_int(st, "seq", n), SQLITE_OK);
	assert_int_equal(store_commit(st), SQLITE_OK);
	store_close(st);
	free(data);
	return dir;
}

static void sync_ended(void *arg)
{
	struct fx *f = arg;
	f->ended++;
}

static struct sync_cursor *open_sync(const char *dir, int64_t seq)
{
	char path[4200], err[256];
	struct sync_cursor *cur;
	snprintf(path, sizeof(path), "%s/session.db", dir);
	cur = sync_open(path, 0, 0, 100, json_array(), seq, err, sizeof(err));
	if (!cur)
		fail_msg("sync_open: %s", err);
	return cur;
}

static void test_sync_stream_order(void **state)
{
	struct fx *f = *state;
	char *dir = make_session(5, 400 * 1024);  /* 2 MB: more than one sync frame */
	struct conn *c = conn_new(&f->srv, "default", NULL);
	json_t *o;
	int syncs = 0, nodes = 0;

	send_text(c, "{\"type\":\"welcome\"}");
	conn_start_sync(c, open_sync(dir, 5), sync_ended, f);
	send_text(c, "{\"type\":\"node\",\"seq\":6}");   /* committed after the snapshot */
	conn_hold(c);
	send_text(c, "{\"type\":\"pong\"}");
	assert_int_equal(c->qbytes, strlen("{\"type\":\"welcome\"}") +
			 strlen("{\"type\":\"node\",\"seq\":6}") + strlen("{\"type\":\"pong\"}"));

	expect_frame(c, "{\"type\":\"welcome\"}");
	for (;;) {
		struct frame *fr = conn_peek(c);
		const char *type;
		assert_non_null(fr);
		assert_true(fr->len <= SYNC_FRAME_MAX);
		o = json_loadb(frame_data(fr), fr->len, 0, NULL);
		assert_non_null(o);
		type = json_string_value(json_object_get(o, "type"));
		assert_int_equal(f->ended, 0);  /* the snapshot is held until synced is written */
		if (strcmp(type, "synced") == 0) {
			assert_int_equal(json_integer_value(json_object_get(o, "seq")), 5);
			json_decref(o);
			conn_pop(c);
			break;
		}
		assert_string_equal(type, "sync");
		nodes += (int)json_array_size(json_object_get(o, "nodes"));
		syncs++;
		json_decref(o);
		conn_pop(c);
	}
	assert_true(syncs >= 2);
	assert_int_equal(nodes, 5);
	assert_int_equal(f->ended, 1);
	assert_null(c->sync);
	assert_true(f->srv.trim_wanted);
	expect_frame(c, "{\"type\":\"node\",\"seq\":6}");
	assert_null(conn_peek(c));     /* the hold */
	conn_release_hold(c, text_frame("{\"type\":\"ok\"}"));
	expect_frame(c, "{\"type\":\"ok\"}");
	expect_frame(c, "{\"type\":\"pong\"}");
	assert_null(conn_peek(c));
	assert_int_equal(c->qbytes, 0);

	/* A connection that goes away in the middle of its sync releases the
	 * snapshot (ended is told) and frees the frame it had produced. */
	f->ended = 0;
	conn_start_sync(c, open_sync(dir, 5), sync_ended, f);
	send_text(c, "{\"type\":\"node\",\"seq\":6}");
	assert_non_null(conn_peek(c));
	conn_pop(c);
	assert_non_null(conn_peek(c));
	conn_free(c);
	assert_int_equal(f->ended, 1);
	tu_rmtree(dir);
	free(dir);
}

static void test_lagging_client_is_closed(void **state)
{
	struct fx *f = *state;
	struct conn *c = conn_new(&f->srv, "default", NULL);
	struct conn *other = conn_new(&f->srv, "default", NULL);
	char block[501];
	memset(block, 'x', 500);
	block[500] = 0;
	/* Exactly MAX_CLIENT_QUEUE_BYTES (1000) may wait. */
	send_text(c, block);
	send_text(c, block);
	assert_int_equal(c->qbytes, 1000);
	assert_int_equal(c->close_code, 0);
	/* Writing frees room again. */
	conn_pop(c);
	send_text(c, block);
	assert_int_equal(c->close_code, 0);
	/* One byte more is lagging: closed at once, the queue dropped. */
	send_text(c, "y");
	assert_int_equal(c->close_code, 4429);
	assert_string_equal(c->close_reason, "lagging");
	assert_string_equal(c->leave_reason, "lagging");
	assert_true(c->close_now);
	assert_int_equal(f->srv.metrics.lagging, 1);
	assert_null(conn_peek(c));
	assert_false(conn_has_output(c));
	assert_true(conn_should_close(c));
	/* Nothing more is queued, and the other connection is untouched. */
	send_text(c, "z");
	assert_int_equal(f->srv.metrics.lagging, 1);
	send_text(other, block);
	expect_frame(other, block);
	assert_int_equal(other->close_code, 0);
}

static void test_close_codes(void **state)
{
	struct fx *f = *state;
	struct conn *c = conn_new(&f->srv, "default", NULL);
	struct conn *d = conn_new(&f->srv, "default", NULL);
	char long_reason[200];

	/* conn_close: what is queued goes out first, then the close. */
	send_text(c, "{\"type\":\"error\"}");
	conn_close(c, 4401, "unauthorized");
	assert_int_equal(c->close_code, 4401);
	assert_string_equal(c->close_reason, "unauthorized");
	assert_false(conn_should_close(c));
	send_text(c, "{\"type\":\"late\"}");            /* after the close: dropped */
	conn_close(c, 1001, "server shutdown");        /* the first close wins */
	assert_int_equal(c->close_code, 4401);
	expect_frame(c, "{\"type\":\"error\"}");
	assert_null(conn_peek(c));
	assert_true(conn_should_close(c));

	/* conn_close_now: drops the queue; it overrides a pending close (a
	 * timeout beats a polite close that cannot be written). */
	send_text(d, "{\"type\":\"sync\"}");
	conn_close(d, 1000, "bye");
	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = 0;
	conn_close_now(d, 4408, long_reason, "timeout");
	assert_int_equal(d->close_code, 4408);
	assert_int_equal(strlen(d->close_reason), sizeof(d->close_reason) - 1);
	assert_string_equal(d->leave_reason, "timeout");
	assert_null(conn_peek(d));
	assert_true(conn_should_close(d));
	/* Once the socket is gone nothing changes any more. */
	d->closed = 1;
	conn_close_now(d, 4429, "lagging", "lagging");
	assert_int_equal(d->close_code, 4408);
	assert_string_equal(d->leave_reason, "timeout");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_order_and_shared_frames),
		T(test_holds_keep_their_place),
		T(test_sync_stream_order),
		T(test_lagging_client_is_closed),
		T(test_close_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
