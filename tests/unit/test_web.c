/* test_web.c - the browser page as the server serves it (web.c): which
 * path gives which embedded file, byte for byte the file in web/, with its
 * content type and the security headers (CSP limited to the page's own
 * files and its own WebSocket, nosniff, no-cache), what a Host header can
 * and cannot put into the CSP, and that every module a script imports is
 * embedded too (a file missing from meson.build's list fails here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "http.h"
#include "web.h"

#include "testutil.h"

static char *read_src(const char *rel, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	tu_src_path(path, sizeof(path), rel);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The value of header `name` ("name: value\n" lines), copied into out. */
static int header(const struct http_response *r, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	for (const char *p = r->headers; *p;) {
		const char *eol = strchr(p, '\n');
		assert_non_null(eol);
		if (strncmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ') {
			size_t len = (size_t)(eol - p - n - 2);
			assert_true(len < size);
			memcpy(out, p + n + 2, len);
			out[len] = 0;
			return 1;
		}
		p = eol + 1;
	}
	return 0;
}

static void expect_security_headers(const struct http_response *r, const char *host)
{
	char v[1024], ws[600];

	assert_true(header(r, "content-security-policy", v, sizeof(v)));
	assert_non_null(strstr(v, "default-src 'none'"));
	assert_non_null(strstr(v, "script-src 'self';"));
	assert_non_null(strstr(v, "style-src 'self';"));
	assert_non_null(strstr(v, "frame-ancestors 'none'"));
	/* No other source for scripts, and no inline code. */
	assert_null(strstr(v, "unsafe-inline"));
	assert_null(strstr(v, "unsafe-eval"));
	assert_null(strstr(v, "*"));
	if (host) {
		snprintf(ws, sizeof(ws), "connect-src 'self' ws://%s wss://%s;", host, host);
		assert_non_null(strstr(v, ws));
	} else {
		assert_non_null(strstr(v, "connect-src 'self';"));
	}
	assert_true(header(r, "x-content-type-options", v, sizeof(v)));
	assert_string_equal(v, "nosniff");
	assert_true(header(r, "cache-control", v, sizeof(v)));
	assert_string_equal(v, "no-cache");
}

static void test_root_is_index_html(void **state)
{
	struct http_response r;
	size_t len;
	char *want = read_src("web/index.html", &len);
	(void)state;

	assert_int_equal(web_handle("GET", "/", "127.0.0.1:5560", &r), 1);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/html; charset=utf-8");
	assert_int_equal(r.body->len, len);
	assert_memory_equal(frame_data(r.body), want, len);
	assert_null(r.www_authenticate);
	expect_security_headers(&r, "127.0.0.1:5560");
	frame_unref(r.body);

	assert_int_equal(web_handle("GET", "/index.html", "localhost", &r), 1);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body->len, len);
	expect_security_headers(&r, "localhost");
	frame_unref(r.body);
	free(want);
}

/* Every embedded file is the file of web/ with the same name, served with
 * the content type its extension calls for. */
static void test_every_file_embedded_verbatim(void **state)
{
	int seen_js = 0, seen_css = 0;
	(void)state;

	assert_true(web_file_count >= 3);
	for (size_t i = 0; i < web_file_count; i++) {
		const struct web_file *f = &web_files[i];
		struct http_response r;
		char rel[256];
		size_t len;
		char *want;

		assert_memory_equal(f->path, "/web/", 5);
		snprintf(rel, sizeof(rel), "web/%s", f->path + 5);
		want = read_src(rel, &len);
		assert_int_equal(web_handle("GET", f->path, "h:1", &r), 1);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body->len, len);
		assert_memory_equal(frame_data(r.body), want, len);
		if (strstr(f->path, ".js")) {
			assert_string_equal(r.content_type, "text/javascript; charset=utf-8");
			seen_js++;
		} else if (strstr(f->path, ".css")) {
			assert_string_equal(r.content_type, "text/css; charset=utf-8");
			seen_css++;
		}
		expect_security_headers(&r, "h:1");
		frame_unref(r.body);
		free(want);
	}
	assert_true(seen_js > 0);
	assert_true(seen_css > 0);
}

/* A module the page imports but the build forgot to embed would load as a
 * 404 in the browser: every "from './x.js'" names an embedded file. */
static void test_imports_are_embedded(void **state)
{
	(void)state;
	for (size_t i = 0; i < web_file_count; i++) {
		const char *p = (const char *)web_files[i].data;
		while ((p = strstr(p, "from './")) != NULL) {
			char path[128] = "/web/";
			const char *end = strchr(p + 8, '\'');
			assert_non_null(end);
			assert_true((size_t)(end - (p + 8)) < sizeof(path) - 6);
			memcpy(path + 5, p + 8, (size_t)(end - (p + 8)));
			path[5 + (end - (p + 8))] = 0;
			if (!web_find(path))
				fail_msg("%s imports %s, which is not embedded", web_files[i].path, path);
			p = end;
		}
	}
	assert_non_null(web_find("/web/app.js"));
}

static void test_other_paths(void **state)
{
	struct http_response r;
	char v[128];
	(void)state;

	/* Not the page's: left to the other routes, *r untouched. */
	r.status = 999;
	assert_int_equal(web_handle("GET", "/healthz", "h", &r), 0);
	assert_int_equal(web_handle("GET", "/api/sessions", "h", &r), 0);
	assert_int_equal(web_handle("GET", "/s/default", "h", &r), 0);
	assert_int_equal(web_handle("GET", "/webx", "h", &r), 0);
	assert_int_equal(r.status, 999);

	assert_int_equal(web_handle("GET", "/web/nope.js", "h", &r), 1);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, "text/plain; charset=utf-8");
	assert_true(header(&r, "x-content-type-options", v, sizeof(v)));
	frame_unref(r.body);

	/* No directory walking: only exact embedded names exist. */
	assert_int_equal(web_handle("GET", "/web/../meson.build", "h", &r), 1);
	assert_int_equal(r.status, 404);
	frame_unref(r.body);
	assert_int_equal(web_handle("GET", "/web/", "h", &r), 1);
	assert_int_equal(r.status, 404);
	frame_unref(r.body);

	assert_int_equal(web_handle("POST", "/", "h", &r), 1);
	assert_int_equal(r.status, 405);
	frame_unref(r.body);
	assert_int_equal(web_handle("OTHER", "/web/app.js", "h", &r), 1);
	assert_int_equal(r.status, 405);
	frame_unref(r.body);
}

/* The Host header is the client's to choose: anything but a plain
 * host[:port] stays out of the policy (the page still works, 'self'). */
static void test_host_cannot_extend_the_policy(void **state)
{
	const char *bad[] = {"", "evil.example; script-src *", "a b", "x\r\nset-cookie: y",
			     "h'", "h\"", "h/path", "*"};
	char csp[1024];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_response r;
		assert_int_equal(web_handle("GET", "/", bad[i], &r), 1);
		expect_security_headers(&r, NULL);
		assert_null(strstr(r.headers, "evil"));
		assert_null(strstr(r.headers, "set-cookie"));
		frame_unref(r.body);
	}
	web_csp(csp, sizeof(csp), "[::1]:5560");
	assert_non_null(strstr(csp, "ws://[::1]:5560 wss://[::1]:5560"));
	web_csp(csp, sizeof(csp), NULL);
	assert_non_null(strstr(csp, "connect-src 'self';"));
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(web_content_type("/web/a.html"), "text/html; charset=utf-8");
	assert_string_equal(web_content_type("/web/a.css"), "text/css; charset=utf-8");
	assert_string_equal(web_content_type("/web/a.js"), "text/javascript; charset=utf-8");
	assert_string_equal(web_content_type("/web/a.svg"), "image/svg+xml");
	assert_string_equal(web_content_type("/web/a.png"), "image/png");
	assert_string_equal(web_content_type("/web/a"), "application/octet-stream");
	assert_string_equal(web_content_type("/web/a.js.bak"), "application/octet-stream");
	assert_string_equal(web_content_type("/we.b/a"), "application/octet-stream");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_is_index_html),
		cmocka_unit_test(test_every_file_embedded_verbatim),
		cmocka_unit_test(test_imports_are_embedded),
		cmocka_unit_test(test_other_paths),
		cmocka_unit_test(test_host_cannot_extend_the_policy),
		cmocka_unit_test(test_content_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
