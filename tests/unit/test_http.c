/* test_http.c - http_handle(): what /healthz, /metrics and the admin API
 * answer, and above all who the admin API lets in (docs/PROTOCOL.md 9):
 * no ADMIN_PASSWORD -> 404 for every /api route; no Authorization -> 401 with
 * WWW-Authenticate; a wrong token or another scheme -> 403; the right bearer
 * token -> the route (200, 404 for an unknown session, 405 for a wrong
 * method). The server is built here on a temporary DATA_DIR with one session
 * "s1"; no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "frame.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "session.h"

#include "testutil.h"

#define ADMIN_PW "s3cret-admin"
#define BEARER_PW "Bearer s3cret-admin"

struct fx {
	char *dir;
	struct config cfg;
	struct server srv;
	struct session *s1;
};

static int fx_setup(void **state, const char *admin_password)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256], *out = NULL;
	char *argv[] = {"sessiond", "--data-dir", NULL, "--admin-password", NULL, NULL};
	char *envp[] = {NULL};

	log_set_level(LOG_ERROR);
	fx->dir = tu_mkdtemp();
	argv[2] = fx->dir;
	argv[4] = (char *)admin_password;
	assert_int_equal(config_load(&fx->cfg, admin_password ? 5 : 3, argv, envp, err,
				     sizeof(err), &out), CONFIG_OK);
	assert_null(out);
	server_init(&fx->srv, &fx->cfg);
	fx->s1 = server_session(&fx->srv, "s1", 1, err, sizeof(err));
	if (!fx->s1)
		fail_msg("cannot open session s1: %s", err);
	*state = fx;
	return 0;
}

static int setup_admin(void **state) { return fx_setup(state, ADMIN_PW); }
static int setup_no_admin(void **state) { return fx_setup(state, NULL); }

static int teardown(void **state)
{
	struct fx *fx = *state;
	server_free(&fx->srv);
	config_free(&fx->cfg);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

/* One request; the answer must be immediate. Returns the parsed JSON body
 * (or NULL when the body is not JSON) and frees the body frame; the status
 * and headers stay in *r (r->body is set to NULL). */
static json_t *call(struct fx *fx, const char *method, const char *path, const char *auth,
		    struct http_response *r)
{
	struct http_pending *pending = (struct http_pending *)0x1;
	json_t *doc;

	memset(r, 0, sizeof(*r));
	assert_int_equal(http_handle(&fx->srv, method, path, auth, "127.0.0.1", r, &pending), 0);
	assert_null(pending);
	assert_non_null(r->body);
	assert_non_null(r->content_type);
	doc = json_loadb(frame_data(r->body), r->body->len, 0, NULL);
	frame_unref(r->body);
	r->body = NULL;
	return doc;
}

/* A JSON error reply: status, content type, {"error": sentence, "code": code}. */
static void expect_error(struct fx *fx, const char *method, const char *path, const char *auth,
			 unsigned status, const char *code)
{
	struct http_response r;
	json_t *doc = call(fx, method, path, auth, &r);
	if (r.status != status)
		fail_msg("%s %s (Authorization: %s): status %u, expected %u", method, path,
			 auth, r.status, status);
	assert_string_equal(r.content_type, "application/json");
	assert_non_null(doc);
	assert_true(json_is_string(json_object_get(doc, "error")));
	assert_true(strlen(json_string_value(json_object_get(doc, "error"))) > 0);
	assert_string_equal(json_string_value(json_object_get(doc, "code")), code);
	if (status == 401) {
		assert_non_null(r.www_authenticate);
		assert_memory_equal(r.www_authenticate, "Bearer", 6);
	} else {
		assert_null(r.www_authenticate);
	}
	json_decref(doc);
}

static const char *const api_routes[][2] = {
	{"GET", "/api/sessions"},
	{"GET", "/api/sessions/s1"},
	{"POST", "/api/sessions/s1/save"},
	{"GET", "/api/sessions/s1/backups"},
	{"GET", "/api/sessions/nope"},
	{"GET", "/api/other"},
};
#define NROUTES (sizeof(api_routes) / sizeof(api_routes[0]))

/* ------------------------------------------------------------------ */

static void test_no_admin_password_is_404(void **state)
{
	struct fx *fx = *state;
	const char *auths[] = {"", BEARER_PW, "Bearer ", "Bearer wrong", "Basic x"};
	for (size_t i = 0; i < NROUTES; i++)
		for (size_t a = 0; a < sizeof(auths) / sizeof(auths[0]); a++)
			expect_error(fx, api_routes[i][0], api_routes[i][1], auths[a], 404,
				     "not_found");
}

static void test_missing_authorization_is_401(void **state)
{
	struct fx *fx = *state;
	for (size_t i = 0; i < NROUTES; i++)
		expect_error(fx, api_routes[i][0], api_routes[i][1], "", 401, "unauthenticated");
}

static void test_wrong_credentials_are_403(void **state)
{
	struct fx *fx = *state;
	const char *auths[] = {
		"Bearer wrong", "Basic x", "Bearer ", BEARER_PW "x",
		"Bearer s3cret-admi", ADMIN_PW, "Basic " ADMIN_PW, "Bearer  " ADMIN_PW,
		BEARER_PW " ", "Token " ADMIN_PW,
	};
	for (size_t i = 0; i < NROUTES; i++)
		for (size_t a = 0; a < sizeof(auths) / sizeof(auths[0]); a++)
			expect_error(fx, api_routes[i][0], api_routes[i][1], auths[a], 403,
				     "forbidden");
	/* nothing ran: no backup was written by the refused saves */
	assert_int_equal(fx->s1->last_save_time, 0);
}

static void test_right_token_routes(void **state)
{
	struct fx *fx = *state;
	const char *auth = BEARER_PW;
	struct http_response r;
	json_t *doc, *list;

	doc = call(fx, "GET", "/api/sessions", auth, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_null(r.www_authenticate);
	assert_non_null(doc);
	list = json_object_get(doc, "sessions");
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
							      "session")), "s1");
	json_decref(doc);

	doc = call(fx, "GET", "/api/sessions/s1", auth, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "session")), "s1");
	assert_true(json_is_integer(json_object_get(doc, "seq")));
	assert_true(json_is_string(json_object_get(doc, "epoch")));
	assert_true(json_is_null(json_object_get(doc, "last_save")));
	json_decref(doc);

	doc = call(fx, "GET", "/api/sessions/s1/backups", auth, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "session")), "s1");
	assert_true(json_is_array(json_object_get(doc, "backups")));
	assert_int_equal(json_array_size(json_object_get(doc, "backups")), 0);
	json_decref(doc);

	/* unknown session, unknown route */
	expect_error(fx, "GET", "/api/sessions/nope", auth, 404, "not_found");
	expect_error(fx, "GET", "/api/sessions/nope/backups", auth, 404, "not_found");
	expect_error(fx, "POST", "/api/sessions/nope/save", auth, 404, "not_found");
	expect_error(fx, "GET", "/api/sessions/s1/nothing", auth, 404, "not_found");
	expect_error(fx, "GET", "/api/nothing", auth, 404, "not_found");
	/* a lookup does not create the session */
	assert_int_equal(fx->srv.nsessions, 1);

	/* wrong methods */
	expect_error(fx, "POST", "/api/sessions", auth, 405, "bad_request");
	expect_error(fx, "POST", "/api/sessions/s1", auth, 405, "bad_request");
	expect_error(fx, "GET", "/api/sessions/s1/save", auth, 405, "bad_request");
	expect_error(fx, "POST", "/api/sessions/s1/backups", auth, 405, "bad_request");
	expect_error(fx, "PUT", "/api/sessions/s1", auth, 405, "bad_request");
	expect_error(fx, "DELETE", "/api/sessions/s1/backups", auth, 405, "bad_request");
}

/* POST save with the right token is answered later; without a saver thread
 * the save runs at once, so the answer is ready when http_handle returns. */
static void test_save_answers_when_done(void **state)
{
	struct fx *fx = *state;
	struct http_pending *pending = NULL;
	struct http_response r;
	json_t *doc;
	char path[4400];

	memset(&r, 0, sizeof(r));
	assert_int_equal(http_handle(&fx->srv, "POST", "/api/sessions/s1/save",
				     BEARER_PW, "127.0.0.1", &r, &pending), 1);
	assert_non_null(pending);
	http_pending_attach(pending, NULL);
	assert_int_equal(http_pending_take(pending, &r), 1);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	doc = json_loadb(frame_data(r.body), r.body->len, 0, NULL);
	frame_unref(r.body);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "session")), "s1");
	assert_true(json_is_integer(json_object_get(doc, "bytes")));
	assert_true(json_is_integer(json_object_get(doc, "ms")));
	snprintf(path, sizeof(path), "%s/s1/backups/%s", fx->dir,
		 json_string_value(json_object_get(doc, "backup")));
	assert_true(tu_exists(path));
	json_decref(doc);
	assert_true(fx->s1->last_save_time > 0);
}

static void test_healthz(void **state)
{
	struct fx *fx = *state;
	struct http_response r;
	json_t *doc;
	const char *auths[] = {"", "Bearer wrong", BEARER_PW};

	for (size_t a = 0; a < 3; a++) {
		doc = call(fx, "GET", "/healthz", auths[a], &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.content_type, "application/json");
		assert_null(r.www_authenticate);
		assert_non_null(doc);
		assert_string_equal(json_string_value(json_object_get(doc, "status")), "ok");
		assert_int_equal(json_integer_value(json_object_get(doc, "sessions")), 1);
		assert_int_equal(json_integer_value(json_object_get(doc, "connections")), 0);
		assert_int_equal(json_integer_value(json_object_get(doc, "sessions_on_disk")), 1);
		assert_int_equal(json_object_size(doc), 4);
		json_decref(doc);
	}
	fx->srv.shutting_down = 1;
	doc = call(fx, "GET", "/healthz", "", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "shutting_down");
	json_decref(doc);
	fx->srv.shutting_down = 0;
}

static void test_metrics(void **state)
{
	struct fx *fx = *state;
	struct http_pending *pending = NULL;
	struct http_response r;
	char *text;

	memset(&r, 0, sizeof(r));
	assert_int_equal(http_handle(&fx->srv, "GET", "/metrics", "", "127.0.0.1", &r, &pending), 0);
	assert_null(pending);
	assert_int_equal(r.status, 200);
	assert_non_null(r.content_type);
	assert_memory_equal(r.content_type, "text/plain; version=0.0.4",
			    strlen("text/plain; version=0.0.4"));
	assert_null(r.www_authenticate);
	assert_non_null(r.body);
	text = strndup(frame_data(r.body), r.body->len);
	frame_unref(r.body);
	assert_non_null(strstr(text, "# HELP sessiond_connections "));
	assert_non_null(strstr(text, "# TYPE sessiond_connections gauge\n"));
	assert_non_null(strstr(text, "\nsessiond_backups{session=\"s1\"} 0\n"));
	assert_non_null(strstr(text, "\nsessiond_session_connections{session=\"s1\"} 0\n"));
	assert_true(text[strlen(text) - 1] == '\n');
	free(text);
}

static void test_other_paths_are_404(void **state)
{
	struct fx *fx = *state;
	expect_error(fx, "GET", "/", "", 404, "not_found");
	expect_error(fx, "GET", "/nothing", BEARER_PW, 404, "not_found");
	expect_error(fx, "GET", "/apisessions", BEARER_PW, 404, "not_found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_admin_password_is_404, setup_no_admin,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_authorization_is_401, setup_admin,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_credentials_are_403, setup_admin,
						teardown),
		cmocka_unit_test_setup_teardown(test_right_token_routes, setup_admin, teardown),
		cmocka_unit_test_setup_teardown(test_save_answers_when_done, setup_admin,
						teardown),
		cmocka_unit_test_setup_teardown(test_healthz, setup_admin, teardown),
		cmocka_unit_test_setup_teardown(test_healthz, setup_no_admin, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup_admin, teardown),
		cmocka_unit_test_setup_teardown(test_other_paths_are_404, setup_admin, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
