/* test_server.c - the server's once-a-second cron, driven with a made-up
 * clock (server_cron takes the time): a session with changes is auto-saved
 * once SAVE_INTERVAL seconds have passed and not before, a session without
 * changes is skipped, and SAVE_INTERVAL=0 turns auto-saves off; a deleted
 * session is freed once nothing refers to it, and a late result of it
 * never reaches a new session of the same name. Saves run synchronously
 * here (no saver thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backup.h"
#include "fakesrv.h"

#define T0 1796007416.0

/* Backups of one session, and the reason of the newest. */
static int backups(struct fake *f, const char *session, char *reason, size_t reasonlen)
{
	char bdir[4400];
	json_t *list;
	int n;
	snprintf(bdir, sizeof(bdir), "%s/%s/backups", f->dir, session);
	list = backup_list_json(bdir);
	n = (int)json_array_size(list);
	if (reason)
		snprintf(reason, reasonlen, "%s",
			 n ? jstr(json_array_get(list, 0), "reason") : "-");
	json_decref(list);
	return n;
}

static void create_node(struct fake *f, struct conn *c, const char *uuid)
{
	json_t *ok;
	sendf(c, "{\"type\":\"node.create\",\"id\":1,\"uuid\":\"%s\",\"kind\":\"K\",\"data\":{}}",
	      uuid);
	server_flush(&f->srv);
	ok = expect_ok(c, 1);
	json_decref(ok);
}

static void test_auto_save_after_the_interval(void **state)
{
	const char *const env[] = {"SAVE_INTERVAL=60", NULL};
	struct fake *f = fake_new(env);
	struct conn *a, *b;
	struct session *sa, *sb;
	char reason[64];
	(void)state;

	a = join_ex(f, "busy", "alice", "", NULL);
	b = join_ex(f, "quiet", "bob", "", NULL);
	sa = fake_session(f, "busy");
	sb = fake_session(f, "quiet");
	server_cron(&f->srv, T0);           /* the clock starts */
	/* Whatever the joins left unsaved is saved by the first auto-save;
	 * from then on both sessions are clean. */
	server_cron(&f->srv, T0 + 60);
	assert_false(session_dirty(sa));
	assert_false(session_dirty(sb));
	int na = backups(f, "busy", NULL, 0), nb = backups(f, "quiet", NULL, 0);

	create_node(f, a, "cube");
	assert_true(session_dirty(sa));
	/* Not before SAVE_INTERVAL has passed since the last auto-save. */
	server_cron(&f->srv, T0 + 61);
	server_cron(&f->srv, T0 + 119.9);
	assert_int_equal(backups(f, "busy", NULL, 0), na);
	assert_true(session_dirty(sa));
	/* Then once: the changed session is saved, the quiet one skipped. */
	server_cron(&f->srv, T0 + 120);
	assert_int_equal(backups(f, "busy", reason, sizeof(reason)), na + 1);
	assert_string_equal(reason, "auto-save");
	assert_false(session_dirty(sa));
	assert_int_equal(backups(f, "quiet", NULL, 0), nb);
	/* Nothing changed since: the next interval saves nothing. */
	server_cron(&f->srv, T0 + 180);
	assert_int_equal(backups(f, "busy", NULL, 0), na + 1);
	assert_int_equal(backups(f, "quiet", NULL, 0), nb);
	/* A change in the quiet one: only it is saved next time. */
	create_node(f, b, "sphere");
	server_cron(&f->srv, T0 + 239);
	assert_int_equal(backups(f, "quiet", NULL, 0), nb);
	server_cron(&f->srv, T0 + 240);
	assert_int_equal(backups(f, "quiet", reason, sizeof(reason)), nb + 1);
	assert_string_equal(reason, "auto-save");
	assert_int_equal(backups(f, "busy", NULL, 0), na + 1);
	fake_free(f);
}

static void test_save_interval_zero_disables(void **state)
{
	const char *const env[] = {"SAVE_INTERVAL=0", NULL};
	struct fake *f = fake_new(env);
	struct conn *a;
	(void)state;
	a = join(f, "alice");
	server_cron(&f->srv, T0);
	create_node(f, a, "cube");
	for (int i = 1; i <= 10; i++)
		server_cron(&f->srv, T0 + 3600.0 * i);
	assert_int_equal(backups(f, "default", NULL, 0), 0);
	assert_true(session_dirty(fake_session(f, "default")));
	fake_free(f);
}

static void delete_done(void *arg, unsigned status, json_t *body)
{
	*(unsigned *)arg = status;
	json_decref(body);
}

/* A deleted session is freed by the cron once nothing refers to it, and a
 * save result of it that arrives late never lands on a new session of the
 * same name. */
static void test_deleted_session_is_forgotten(void **state)
{
	struct fake *f = fake_new(NULL);
	struct conn *a, *b;
	struct session *gone, *again;
	f->srv.save_done = server_save_done; /* the delete's result reaches the table */
	struct backup_job *late;
	unsigned status = 0;
	char err[256];
	(void)state;

	a = join_ex(f, "gone", "alice", "", NULL);
	create_node(f, a, "cube");
	disconnect(f, a);
	gone = fake_session(f, "gone");
	assert_int_equal(session_delete_notify(gone, delete_done, &status, err, sizeof(err)), 0);
	server_flush(&f->srv);
	assert_int_equal(status, 200);
	assert_ptr_equal(f->srv.deleted, gone);
	/* a new session of that name, then a late result of the old one */
	b = join_ex(f, "gone", "bob", "", NULL);
	again = fake_session(f, "gone");
	assert_ptr_not_equal(again, gone);
	late = backup_job_new("gone", again->dir, "auto-save", 10);
	late->owner = gone;
	late->ok = 1;
	snprintf(late->backup, sizeof(late->backup), "snapshot_20260101_000000.db");
	server_save_done(&f->srv, late);
	assert_string_equal(again->last_backup, "");
	/* the cron frees it: no connection, no job refers to it */
	server_cron(&f->srv, T0);
	assert_null(f->srv.deleted);
	drain(b);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_save_after_the_interval),
		cmocka_unit_test(test_save_interval_zero_disables),
		cmocka_unit_test(test_deleted_session_is_forgotten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
