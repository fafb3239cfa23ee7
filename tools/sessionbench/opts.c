/*
 * opts.c: the command line options, one parser for every scenario (which
 * options a scenario reads is in main.c's usage text).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0))
		return -1;
	*out = v;
	return 0;
}

int parse_opts(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 2; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t n = 0;
		double d = 0;

		if (!strcmp(k, "--verbose")) {
			o->verbose = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "sessionbench: %s needs a value\n", k);
			return -1;
		}
		i++;
		if (!strcmp(k, "--host"))
			o->host = v;
		else if (!strcmp(k, "--session"))
			o->session = v;
		else if (!strcmp(k, "--admin-password"))
			o->admin_password = v;
		else if (!strcmp(k, "--sqlite-dir"))
			o->sqlite_dir = v;
		else if (!strcmp(k, "--port") || !strcmp(k, "--pid") || !strcmp(k, "--nodes") ||
			 !strcmp(k, "--ops") || !strcmp(k, "--window") || !strcmp(k, "--conns") ||
			 !strcmp(k, "--runs") || !strcmp(k, "--writers") ||
			 !strcmp(k, "--watchers") || !strcmp(k, "--data-bytes") ||
			 !strcmp(k, "--t0-ns")) {
			if (parse_i64(v, &n)) {
				fprintf(stderr, "sessionbench: %s: not a count: %s\n", k, v);
				return -1;
			}
			if (!strcmp(k, "--port"))
				o->port = (int)n;
			else if (!strcmp(k, "--pid"))
				o->pid = (long)n;
			else if (!strcmp(k, "--nodes"))
				o->nodes = n;
			else if (!strcmp(k, "--ops"))
				o->ops = n;
			else if (!strcmp(k, "--window"))
				o->window = n;
			else if (!strcmp(k, "--conns"))
				o->conns = n;
			else if (!strcmp(k, "--runs"))
				o->runs = n;
			else if (!strcmp(k, "--writers"))
				o->writers = n;
			else if (!strcmp(k, "--watchers"))
				o->watchers = n;
			else if (!strcmp(k, "--data-bytes"))
				o->data_bytes = (size_t)n;
			else
				o->t0_realtime = (uint64_t)n;
		} else if (!strcmp(k, "--seconds") || !strcmp(k, "--warmup") ||
			   !strcmp(k, "--rate") || !strcmp(k, "--pre") || !strcmp(k, "--post") ||
			   !strcmp(k, "--timeout") || !strcmp(k, "--max-seconds") ||
			   !strcmp(k, "--mb") || !strcmp(k, "--latency-rate")) {
			if (parse_double(v, &d)) {
				fprintf(stderr, "sessionbench: %s: not a number: %s\n", k, v);
				return -1;
			}
			if (!strcmp(k, "--seconds"))
				o->seconds = d;
			else if (!strcmp(k, "--warmup"))
				o->warmup = d;
			else if (!strcmp(k, "--rate"))
				o->rate = d;
			else if (!strcmp(k, "--pre"))
				o->pre = d;
			else if (!strcmp(k, "--post"))
				o->post = d;
			else if (!strcmp(k, "--timeout"))
				o->timeout = d;
			else if (!strcmp(k, "--max-seconds"))
				o->max_seconds = d;
			else if (!strcmp(k, "--latency-rate"))
				o->latency_rate = d;
			else
				o->mb = d;
		} else {
			fprintf(stderr, "sessionbench: unknown option %s\n", k);
			return -1;
		}
	}
	if (o->data_bytes > BENCH_MAX_DATA) {
		fprintf(stderr, "sessionbench: --data-bytes: at most %d\n", BENCH_MAX_DATA);
		return -1;
	}
	return 0;
}
