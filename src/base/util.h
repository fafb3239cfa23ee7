/* util.h - small helpers shared by every layer: clocks, randomness, a growable
 * byte buffer, JSON string escaping and durable file writes. */
#ifndef SESSIOND_UTIL_H
#define SESSIOND_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

double util_now(void);           /* wall clock, seconds since the epoch */
int64_t util_mono_us(void);      /* monotonic clock, microseconds */
int util_random(void *buf, size_t len);
void util_uuid4(char out[37]);
void util_random_hex(char *out, size_t nbytes); /* out: 2*nbytes+1 chars */
/* Constant-time comparison: the time taken depends on the length of `given`
 * only, never on where the strings differ. */
int util_secret_equal(const char *given, const char *secret);
/* "YYYYMMDD_HHMMSS" in UTC, out must hold 16 bytes */
void util_stamp(time_t t, char out[16]);

/* A growable byte buffer. `p` is always NUL-terminated. */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
};
void sbuf_init(struct sbuf *b, size_t cap);
void sbuf_reserve(struct sbuf *b, size_t extra);
/* sbuf_add for a buffer that never holds more than `limit` bytes: the
 * capacity doubles but stops at limit + 1, so a buffer at the limit costs
 * the limit and not the next power of two above it. The caller keeps
 * b->len + len <= limit. */
void sbuf_add_capped(struct sbuf *b, const void *data, size_t len, size_t limit);
/* Appending is inline (the writers of events and replies call it for
 * every member); only growing the buffer is a call. */
static inline void sbuf_add(struct sbuf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap)
		sbuf_reserve(b, len);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = 0;
}
static inline void sbuf_addstr(struct sbuf *b, const char *s) { sbuf_add(b, s, strlen(s)); }
static inline void sbuf_addc(struct sbuf *b, char c)
{
	if (b->len + 2 > b->cap)
		sbuf_reserve(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = 0;
}
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sbuf_add_json_str(struct sbuf *b, const char *s, size_t len);
/* How many bytes s[0..n) starts with that a JSON string holds as they are
 * and that are ASCII (0x20..0x7f but '"' and '\\'): read sixteen at a time
 * (SSE2) and then eight, so the caller's byte-by-byte loop only sees the
 * rest. May stop up to seven bytes early. */
size_t util_json_plain_ascii(const char *s, size_t n);
void sbuf_add_int(struct sbuf *b, int64_t v);
/* A real in the shortest text that reads back as the same double
 * (1796007416.321, not 1796007416.3210001). */
void sbuf_add_real(struct sbuf *b, double v);
void sbuf_free(struct sbuf *b);

/* Durable files: write to PATH.tmp, fsync, rename over PATH, fsync the
 * directory. A crash leaves either the old or the new content. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int util_fsync_dir(const char *dir);
int util_fsync_path(const char *path);
/* Size of a file, 0 when it does not exist. */
int64_t util_file_size(const char *path);

#endif
