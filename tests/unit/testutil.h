/* testutil.h - helpers shared by the unit tests (temp directories, files,
 * the source tree). Everything is static inline so each test executable
 * takes only what it uses. Include after <cmocka.h>. */
#ifndef SESSIOND_TESTUTIL_H
#define SESSIOND_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The source tree (tests/meson.build sets SESSIOND_SRCDIR). */
static inline const char *tu_srcdir(void)
{
	const char *d = getenv("SESSIOND_SRCDIR");
	if (!d) {
		fprintf(stderr, "SESSIOND_SRCDIR is not set: run through meson test\n");
		abort();
	}
	return d;
}

static inline void tu_src_path(char *out, size_t outlen, const char *rel)
{
	snprintf(out, outlen, "%s/%s", tu_srcdir(), rel);
}

/* A fresh directory under TMPDIR; free with tu_rmtree + free. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	char *p;
	snprintf(tmpl, sizeof(tmpl), "%s/sessiond-unit-XXXXXX", base && *base ? base : "/tmp");
	p = mkdtemp(tmpl);
	if (!p)
		abort();
	return strdup(p);
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(path);
}

static inline void tu_rmtree(const char *dir)
{
	nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whole file into a malloc'd buffer (NUL-terminated); NULL if unreadable. */
static inline char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (len)
		*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static inline int tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;
	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static inline int tu_copy_file(const char *from, const char *to)
{
	size_t n;
	char *d = tu_read_file(from, &n);
	int rc;
	if (!d)
		return -1;
	rc = tu_write_file(to, d, n);
	free(d);
	return rc;
}

static inline int tu_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

#endif
