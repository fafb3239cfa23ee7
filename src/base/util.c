/* util.c - small helpers shared by every layer.
 *
 * Allocation failure aborts (as Redis' zmalloc does): a server that cannot
 * allocate a few bytes cannot do anything useful, and checking every small
 * allocation would hide the real error paths (SQLite, sockets, disks). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static void oom(size_t n)
{
	fprintf(stderr, "out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

double util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* Milliseconds: an exact integer divided once, so the value is the
	 * double nearest to the decimal and prints with at most 3 decimals. */
	return (double)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) / 1000.0;
}

int64_t util_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int util_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void util_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	if (util_random(b, nbytes) != 0)
		abort();
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * nbytes] = 0;
}

void util_uuid4(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	int j = 0;
	if (util_random(b, sizeof(b)) != 0)
		abort();
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = hex[b[i] >> 4];
		out[j++] = hex[b[i] & 15];
	}
	out[j] = 0;
}

int util_secret_equal(const char *given, const char *secret)
{
	size_t gl = strlen(given), sl = strlen(secret);
	unsigned char diff = (unsigned char)(gl != sl);
	for (size_t i = 0; i < gl; i++)
		diff |= (unsigned char)(given[i] ^ (sl ? secret[i % sl] : 0));
	return diff == 0;
}

void util_stamp(time_t t, char out[16])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y%m%d_%H%M%S", &tm);
}

void sbuf_init(struct sbuf *b, size_t cap)
{
	b->cap = cap < 16 ? 16 : cap;
	b->p = xmalloc(b->cap);
	b->p[0] = 0;
	b->len = 0;
}

void sbuf_reserve(struct sbuf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 16;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void sbuf_add_capped(struct sbuf *b, const void *data, size_t len, size_t limit)
{
	size_t need = b->len + len + 1;
	if (need > b->cap) {
		size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
		if (cap > limit + 1 && need <= limit + 1)
			cap = limit + 1;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = 0;
}


void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = b->cap - b->len;
	int n;
	/* One pass when it fits (the usual case), a second one when not. */
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->p[b->len] = 0;
		return;
	}
	if ((size_t)n >= room) {
		sbuf_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Two digits per division, written straight into the buffer (the ok and
 * the event of every update write four or five integers). */
void sbuf_add_int(struct sbuf *b, int64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	size_t n;
	while (u >= 100) {
		unsigned d = (unsigned)(u % 100) * 2;
		u /= 100;
		*--p = pairs[d + 1];
		*--p = pairs[d];
	}
	if (u >= 10) {
		*--p = pairs[u * 2 + 1];
		*--p = pairs[u * 2];
	} else {
		*--p = (char)('0' + u);
	}
	if (v < 0)
		*--p = '-';
	n = (size_t)(tmp + sizeof(tmp) - p);
	if (b->len + n + 1 > b->cap)
		sbuf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sbuf_add_real(struct sbuf *b, double v)
{
	char tmp[40];
	int n = 0;
	/* JSON has no NaN or infinity; jansson never holds one. */
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* Keep it a real for readers that tell 3 from 3.0. */
	if (!strpbrk(tmp, ".eE") && n < (int)sizeof(tmp) - 2) {
		tmp[n++] = '.';
		tmp[n++] = '0';
		tmp[n] = 0;
	}
	sbuf_add(b, tmp, (size_t)n);
}

/* Bytes that need an escape in a JSON string: controls, '"' and '\\'. */
static const unsigned char json_esc[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1,
};

size_t util_json_plain_ascii(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;
#ifdef __SSE2__
	/* Sixteen at a time: as signed bytes, those below 0x20 and those of
	 * 0x80 or above are both less than 0x20, so one compare finds both. */
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
		      space = _mm_set1_epi8(0x20);
	for (; n - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote),
							_mm_cmpeq_epi8(x, bslash)),
					   _mm_cmplt_epi8(x, space));
		unsigned mask = (unsigned)_mm_movemask_epi8(bad);
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	for (; n - i >= 8; i += 8) {
		uint64_t x, q, e;
		memcpy(&x, s + i, 8);
		q = x ^ (ones * '"');
		e = x ^ (ones * '\\');
		/* a byte below 0x20, a '"', a '\\' (a zero byte of q or e), or
		 * one of 0x80 or above: the caller reads this word byte by byte */
		if ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((e - ones) & ~e) | x) & highs)
			break;
	}
	return i;
}

void sbuf_add_json_str(struct sbuf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;
	sbuf_reserve(b, len + 2);
	sbuf_addc(b, '"');
	for (size_t i = util_json_plain_ascii(s, len); i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!json_esc[c])
			continue;
		sbuf_add(b, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"': sbuf_add(b, "\\\"", 2); break;
		case '\\': sbuf_add(b, "\\\\", 2); break;
		case '\n': sbuf_add(b, "\\n", 2); break;
		case '\r': sbuf_add(b, "\\r", 2); break;
		case '\t': sbuf_add(b, "\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sbuf_add(b, u, 6);
		}
		}
	}
	sbuf_add(b, s + start, len - start);
	sbuf_addc(b, '"');
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int64_t util_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int util_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int util_fsync_dir(const char *dir) { return util_fsync_path(dir); }

int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096], dir[4096];
	const char *p = data;
	char *slash;
	int fd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	unlink(tmp); /* a stale temp file from a crash is never trusted */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	rc = util_fsync_dir(dir);
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}
