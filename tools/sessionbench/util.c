/*
 * util.c: what every scenario uses besides the client: the clocks, CPU and
 * RSS readings of this process and of the server, the `key=value` result
 * lines and the `sessionbench: ...` notes, latency vectors and their
 * percentiles, and the key scanner that classifies incoming frames.
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

double ns_to_s(uint64_t ns)
{
	return (double)ns / 1e9;
}

double cpu_self_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds used by process `pid` so far, or -1 when unreadable. */
double cpu_pid_s(long pid)
{
	char path[64], buf[1024];
	unsigned long utime = 0, stime = 0;
	const char *p;
	FILE *f;
	size_t n;
	int field;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: count fields after its ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (field = 2; *p && field < 14; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%lu %lu", &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of process `pid` in KiB, or -1. */
long rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ----------------------------------------------------------- reporting */

const char *bench_scenario = "sessionbench";

void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sessionbench: %s: ", bench_scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Prints `key=value`, or `key=null` for a negative or non-finite value. */
void result(const char *key, double value, int decimals)
{
	if (!isfinite(value) || value < 0)
		printf("%s=null\n", key);
	else
		printf("%s=%.*f\n", key, decimals, value);
	fflush(stdout);
}

void result_null(const char *key)
{
	printf("%s=null\n", key);
	fflush(stdout);
}

/* ------------------------------------------------------------ latencies */

void lat_add(struct lat_vec *l, uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return; /* a lost sample beats a lost run */
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	l->sorted = 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile in ms, or -1 with no samples. */
double lat_pct_ms(struct lat_vec *l, double pct)
{
	size_t rank;

	if (!l->n)
		return -1;
	if (!l->sorted) {
		qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
		l->sorted = 1;
	}
	rank = (size_t)ceil(pct / 100.0 * (double)l->n);
	if (rank < 1)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return (double)l->v[rank - 1] / 1000.0;
}

void lat_free(struct lat_vec *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------- frame scanning */

/*
 * Returns the first character of the value of the first `"key":` in the
 * frame, or NULL. See the header comment for why this is enough here.
 */
static const char *scan_key(const char *s, size_t len, const char *key)
{
	size_t kl = strlen(key);
	const char *end = s + len, *p = s, *q, *v;

	while (p < end) {
		q = memchr(p, '"', (size_t)(end - p));
		if (!q)
			return NULL;
		if ((size_t)(end - q) > kl + 2 && !memcmp(q + 1, key, kl) && q[kl + 1] == '"') {
			v = q + kl + 2;
			while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
				v++;
			if (v < end && *v == ':') {
				v++;
				while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
					v++;
				return v < end ? v : NULL;
			}
		}
		p = q + 1;
	}
	return NULL;
}

/* The string value of `key` (no unescaping), or NULL; its length in *out_len. */
const char *scan_str(const char *s, size_t len, const char *key, size_t *out_len)
{
	const char *v = scan_key(s, len, key), *end = s + len, *q;

	if (!v || *v != '"')
		return NULL;
	for (q = v + 1; q < end && *q != '"'; q++)
		if (*q == '\\')
			q++;
	if (q >= end)
		return NULL;
	*out_len = (size_t)(q - v - 1);
	return v + 1;
}

/* The integer value of `key`; 0 when found, -1 when absent or not a number. */
int scan_int(const char *s, size_t len, const char *key, int64_t *out)
{
	const char *v = scan_key(s, len, key), *end = s + len;
	int64_t x = 0;
	int neg = 0, digits = 0;

	if (!v)
		return -1;
	if (*v == '-') {
		neg = 1;
		v++;
	}
	for (; v < end && *v >= '0' && *v <= '9'; v++, digits++)
		x = x * 10 + (*v - '0');
	if (!digits)
		return -1;
	*out = neg ? -x : x;
	return 0;
}

int str_is(const char *s, size_t len, const char *lit)
{
	return s && strlen(lit) == len && !memcmp(s, lit, len);
}

size_t count_occurrences(const char *s, size_t len, const char *needle)
{
	size_t nl = strlen(needle), count = 0;
	const char *p = s, *end = s + len, *q;

	while (p < end && (q = memmem(p, (size_t)(end - p), needle, nl))) {
		count++;
		p = q + nl;
	}
	return count;
}

