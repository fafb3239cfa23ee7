/* test_metrics.c - the Prometheus text format of /metrics: every family has
 * HELP and TYPE before its samples, histograms are cumulative with
 * +Inf == _count, label values are escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define MAXFAM 64

struct parsed {
	char help[MAXFAM][96];
	char type[MAXFAM][96];
	char type_of[MAXFAM][16];
	int nhelp, ntype;
};

static int find(char names[][96], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* Checks the structure of the whole text; returns the parsed families. */
static void parse(const char *text, struct parsed *p)
{
	char *copy = strdup(text), *save = NULL, *line;
	memset(p, 0, sizeof(*p));
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], kind[16], base[96];
		size_t n;
		int t;
		if (sscanf(line, "# HELP %95s", name) == 1) {
			assert_int_equal(find(p->help, p->nhelp, name), -1);
			snprintf(p->help[p->nhelp++], 96, "%s", name);
			continue;
		}
		if (sscanf(line, "# TYPE %95s %15s", name, kind) == 2) {
			assert_int_equal(find(p->type, p->ntype, name), -1);
			if (find(p->help, p->nhelp, name) < 0)
				fail_msg("TYPE before HELP for %s", name);
			snprintf(p->type_of[p->ntype], 16, "%s", kind);
			snprintf(p->type[p->ntype++], 96, "%s", name);
			continue;
		}
		assert_true(line[0] != '#');
		n = strcspn(line, "{ ");
		assert_true(n > 0 && n < sizeof(name));
		memcpy(name, line, n);
		name[n] = 0;
		/* A sample's value follows the last space. */
		assert_non_null(strrchr(line, ' '));
		t = find(p->type, p->ntype, name);
		if (t < 0) {
			static const char *const sfx[] = {"_bucket", "_sum", "_count"};
			for (int k = 0; k < 3 && t < 0; k++) {
				size_t sl = strlen(sfx[k]);
				if (n > sl && strcmp(name + n - sl, sfx[k]) == 0) {
					memcpy(base, name, n - sl);
					base[n - sl] = 0;
					t = find(p->type, p->ntype, base);
					if (t >= 0)
						assert_string_equal(p->type_of[t], "histogram");
				}
			}
		}
		if (t < 0)
			fail_msg("sample %s has no # TYPE before it", line);
	}
	free(copy);
}

/* The value of the sample line that starts with prefix. */
static unsigned long long sample(const char *text, const char *prefix)
{
	char nl[256];
	const char *l;
	snprintf(nl, sizeof(nl), "\n%s", prefix);
	l = strstr(text, nl);
	if (!l)
		fail_msg("no line starting %s", prefix);
	return strtoull(l + strlen(nl), NULL, 10);
}

/* Checks one histogram: le ascending, counts cumulative, +Inf == _count. */
static void check_histogram(const char *text, const char *name, unsigned long long count)
{
	char prefix[128];
	const char *l = text;
	double last_le = -1;
	unsigned long long last = 0, inf;
	int buckets = 0;
	snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
	while ((l = strstr(l, prefix))) {
		const char *v = l + strlen(prefix);
		unsigned long long c;
		if (strncmp(v, "+Inf", 4) == 0)
			break;
		double le = strtod(v, NULL);
		assert_true(le > last_le);
		c = strtoull(strchr(v, ' ') + 1, NULL, 10);
		assert_true(c >= last);
		last_le = le;
		last = c;
		buckets++;
		l = v;
	}
	assert_int_equal(buckets, HIST_BUCKETS);
	snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"+Inf\"} ", name);
	inf = sample(text, prefix);
	assert_true(inf >= last);
	snprintf(prefix, sizeof(prefix), "%s_count ", name);
	assert_int_equal(sample(text, prefix), inf);
	assert_int_equal(inf, count);
}

static void test_render(void **state)
{
	struct metrics m;
	struct metrics_session ss[2] = {
		{.name = "default", .connections = 3, .db_bytes = 4096, .wal_bytes = 512,
		 .backups = 2, .seq = 99, .last_save_time = 1736695945.5},
		{.name = "we\"ird\\name", .connections = 0, .db_bytes = 1, .backups = 0},
	};
	static const char *const families[] = {
		"sessiond_connections", "sessiond_connections_total",
		"sessiond_messages_received_total", "sessiond_messages_sent_total",
		"sessiond_bytes_sent_total", "sessiond_bytes_received_total",
		"sessiond_committed_changes_total", "sessiond_commit_seconds",
		"sessiond_commit_batch_size", "sessiond_saves_total", "sessiond_save_seconds",
		"sessiond_last_save_timestamp_seconds", "sessiond_backups",
		"sessiond_backup_failures_total", "sessiond_database_bytes",
	};
	struct parsed p;
	char *text;
	(void)state;
	metrics_init(&m);
	m.msgs_in[MT_NODE_CREATE] = 3;
	m.msgs_out[MT_OK] = 5;
	m.bytes_out = 12345;
	m.committed_changes = 42;
	m.saves_ok[SK_DISCONNECT] = 2;
	m.saves_failed[SK_AUTO] = 1;
	m.backup_failures = 1;
	histogram_observe(&m.commit_latency, 0.00005); /* first bucket */
	histogram_observe(&m.commit_latency, 0.001);   /* exactly a bound: le is <= */
	histogram_observe(&m.commit_latency, 0.003);
	histogram_observe(&m.commit_latency, 5);       /* past the last bound: +Inf only */
	histogram_observe(&m.commit_batch, 1);
	histogram_observe(&m.commit_batch, 100);

	text = metrics_render(&m, 7, ss, 2);
	parse(text, &p);
	assert_int_equal(p.nhelp, p.ntype);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (find(p.type, p.ntype, families[i]) < 0)
			fail_msg("no family %s", families[i]);
	assert_string_equal(p.type_of[find(p.type, p.ntype, "sessiond_commit_seconds")], "histogram");
	assert_string_equal(p.type_of[find(p.type, p.ntype, "sessiond_connections")], "gauge");
	assert_string_equal(p.type_of[find(p.type, p.ntype, "sessiond_bytes_sent_total")], "counter");

	assert_int_equal(sample(text, "sessiond_connections "), 7);
	assert_int_equal(sample(text, "sessiond_messages_received_total{type=\"node.create\"} "), 3);
	assert_int_equal(sample(text, "sessiond_messages_sent_total{type=\"ok\"} "), 5);
	assert_int_equal(sample(text, "sessiond_bytes_sent_total "), 12345);
	assert_int_equal(sample(text, "sessiond_committed_changes_total "), 42);
	assert_int_equal(sample(text, "sessiond_saves_total{reason=\"user_disconnect\",result=\"ok\"} "), 2);
	assert_int_equal(sample(text, "sessiond_saves_total{reason=\"auto-save\",result=\"failed\"} "), 1);
	assert_int_equal(sample(text, "sessiond_backup_failures_total "), 1);
	assert_int_equal(sample(text, "sessiond_session_connections{session=\"default\"} "), 3);
	assert_int_equal(sample(text, "sessiond_database_bytes{session=\"default\"} "), 4096);
	assert_int_equal(sample(text, "sessiond_backups{session=\"default\"} "), 2);
	/* The odd session name is escaped in every family. */
	assert_int_equal(sample(text, "sessiond_database_bytes{session=\"we\\\"ird\\\\name\"} "), 1);
	assert_null(strstr(text, "{session=\"we\"ird"));

	check_histogram(text, "sessiond_commit_seconds", 4);
	check_histogram(text, "sessiond_commit_batch_size", 2);
	check_histogram(text, "sessiond_save_seconds", 0);
	assert_int_equal(sample(text, "sessiond_commit_seconds_bucket{le=\"0.0001\"} "), 1);
	assert_int_equal(sample(text, "sessiond_commit_seconds_bucket{le=\"0.001\"} "), 2);
	assert_int_equal(sample(text, "sessiond_commit_seconds_bucket{le=\"0.005\"} "), 3);
	assert_int_equal(sample(text, "sessiond_commit_seconds_bucket{le=\"1\"} "), 3);
	free(text);
}

static void test_render_empty(void **state)
{
	struct metrics m;
	struct parsed p;
	char *text;
	(void)state;
	metrics_init(&m);
	text = metrics_render(&m, 0, NULL, 0);
	parse(text, &p);
	assert_int_equal(sample(text, "sessiond_sessions "), 0);
	check_histogram(text, "sessiond_commit_seconds", 0);
	free(text);
}

static void test_escape_label(void **state)
{
	char out[64];
	(void)state;
	metrics_escape_label("plain", out, sizeof(out));
	assert_string_equal(out, "plain");
	metrics_escape_label("a\\b", out, sizeof(out));
	assert_string_equal(out, "a\\\\b");
	metrics_escape_label("say \"hi\"", out, sizeof(out));
	assert_string_equal(out, "say \\\"hi\\\"");
	metrics_escape_label("two\nlines", out, sizeof(out));
	assert_string_equal(out, "two\\nlines");
	metrics_escape_label("", out, sizeof(out));
	assert_string_equal(out, "");
	/* A small buffer truncates and stays terminated, and the byte right
	 * after it (a canary) is never written: every size from 1 up, with
	 * inputs whose escapes (two bytes each) fall on the boundary. */
	for (size_t len = 1; len < 24; len++) {
		static const char *const inputs[] = {"\\\\\\\\\\\\\\\\\\\\", "a\"b\"c\"d\"e\"f",
						     "x\ny\nz\nw\nv\n", "plain text, long enough"};
		for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
			char full[64];
			size_t n;
			memset(out, 'Z', sizeof(out));
			metrics_escape_label(inputs[i], out, len);
			assert_int_equal(out[len], 'Z');
			n = strlen(out);
			assert_true(n < len);
			/* What fits is a prefix of the whole escape, never half of
			 * an escape. */
			metrics_escape_label(inputs[i], full, sizeof(full));
			assert_memory_equal(out, full, n);
			{
				size_t back = 0;
				while (back < n && out[n - 1 - back] == '\\')
					back++;
				assert_int_equal(back % 2, 0);
			}
		}
	}
}

static void test_type_names(void **state)
{
	(void)state;
	assert_int_equal(metrics_type_of("node.update"), MT_NODE_UPDATE);
	assert_int_equal(metrics_type_of("admin.reset"), MT_ADMIN_RESET);
	assert_int_equal(metrics_type_of("nonsense"), MT_OTHER);
	assert_int_equal(metrics_type_of(NULL), MT_OTHER);
	for (int i = 0; i < MT_OTHER; i++)
		assert_int_equal(metrics_type_of(metrics_type_name((enum msg_type)i)), i);
	assert_int_equal(metrics_save_kind("user_disconnect:bob"), SK_DISCONNECT);
	assert_int_equal(metrics_save_kind("auto-save"), SK_AUTO);
	assert_int_equal(metrics_save_kind("shutdown"), SK_SHUTDOWN);
	assert_int_equal(metrics_save_kind("reset"), SK_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_escape_label),
		cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
