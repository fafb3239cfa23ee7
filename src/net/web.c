/* web.c - serving the browser page.
 *
 * The page is static: index.html, a style sheet and JavaScript modules
 * that talk to the server over the same WebSocket protocol as any client
 * and, for admins, the admin API. embed-web compiles web/ into
 * web_files[]; nothing is read from disk and nothing is fetched from
 * elsewhere, so the page works offline and cannot drift from the binary.
 *
 * Every answer carries a Content-Security-Policy that allows only the
 * page's own files and its own WebSocket (so an injected script could
 * neither load code nor send data elsewhere), nosniff, and no-cache (the
 * bytes change with the binary; the files are small, revalidation is
 * simply a new GET). The admin token never appears in a URL: the page sends
 * it as an Authorization header. */
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "http.h"
#include "web.h"

const struct web_file *web_find(const char *path)
{
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
		path = "/web/index.html";
	for (size_t i = 0; i < web_file_count; i++)
		if (strcmp(web_files[i].path, path) == 0)
			return &web_files[i];
	return NULL;
}

const char *web_content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".html", "text/html; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
		{".json", "application/json"},
	};
	const char *dot = strrchr(path, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* host[:port] made of name, IPv4 or bracketed IPv6 characters only: it is
 * written into a header, so nothing that could end or extend it. */
static int plain_host(const char *host)
{
	size_t n = strlen(host);
	return n > 0 && n <= 255 &&
	       strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
		       n;
}

void web_csp(char *buf, size_t size, const char *host)
{
	char ws[600] = "";

	if (host && plain_host(host))
		snprintf(ws, sizeof(ws), " ws://%s wss://%s", host, host);
	snprintf(buf, size,
		 "default-src 'none'; script-src 'self'; style-src 'self'; "
		 "img-src 'self' blob:; connect-src 'self'%s; base-uri 'none'; "
		 "form-action 'none'; frame-ancestors 'none'",
		 ws);
}

int web_handle(const char *method, const char *path, const char *host, struct http_response *r)
{
	const struct web_file *f;
	const char *type;
	char csp[1024];
	int n;

	if (strcmp(path, "/") != 0 && strcmp(path, "/index.html") != 0 &&
	    strncmp(path, "/web/", 5) != 0)
		return 0;
	memset(r, 0, sizeof(*r));
	/* HEAD is answered as GET; the network layer leaves the body out. */
	f = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? web_find(path) : NULL;
	if (f) {
		r->status = 200;
		type = web_content_type(f->path);
		r->body = frame_new((const char *)f->data, f->len);
	} else {
		static const char missing[] = "no such file\n", method_msg[] = "method not allowed\n";
		int found = web_find(path) != NULL;
		r->status = found ? 405 : 404;
		type = "text/plain; charset=utf-8";
		r->body = found ? frame_new(method_msg, sizeof(method_msg) - 1)
				: frame_new(missing, sizeof(missing) - 1);
	}
	r->content_type = type;
	web_csp(csp, sizeof(csp), host);
	n = snprintf(r->headers, sizeof(r->headers),
		     "content-security-policy: %s\n"
		     "x-content-type-options: nosniff\n"
		     "cache-control: no-cache\n"
		     "referrer-policy: no-referrer\n%s",
		     csp, r->status == 405 ? "allow: GET, HEAD\n" : "");
	if (n < 0 || (size_t)n >= sizeof(r->headers)) /* cannot happen: csp is bounded */
		r->headers[0] = 0;
	return 1;
}
