/* web.h - the browser page (web/), embedded at build time by embed-web:
 * which path is which file, with what headers. Pure lookups; net.c asks
 * web_handle() before the other HTTP routes. */
#ifndef SESSIOND_WEB_H
#define SESSIOND_WEB_H

#include <stddef.h>

struct http_response;

struct web_file {
	const char *path;              /* "/web/NAME" */
	const unsigned char *data;
	size_t len;
};

/* Generated (web_files.c). */
extern const struct web_file web_files[];
extern const size_t web_file_count;

/* The file served at path ("/" is /web/index.html), or NULL. */
const struct web_file *web_find(const char *path);
/* Content type by extension; application/octet-stream when unknown. */
const char *web_content_type(const char *path);
/* The Content-Security-Policy for a page loaded through Host `host`: its
 * own scripts, styles and images, and WebSockets to that same host only.
 * A Host value that is not a plain host[:port] is left out ('self' still
 * covers the page's own socket in current browsers). */
void web_csp(char *buf, size_t size, const char *host);
/* 1 with *r filled (body, content type, headers) when path belongs to the
 * page (/, /index.html, /web/...), else 0 and *r untouched. */
int web_handle(const char *method, const char *path, const char *host, struct http_response *r);

#endif
