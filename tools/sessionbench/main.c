/*
 * main.c: sessionbench's entry point: the usage text, the defaults of the
 * options and the dispatch to one scenario (one file each, see bench.h).
 */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sessionbench SCENARIO --port P [options]\n"
		"Load generator for sessiond; tools/bench runs it. Prints key=value lines.\n"
		"scenarios:\n"
		"  write     --nodes --data-bytes --ops --window --max-seconds [--sqlite-dir D]\n"
		"  fanout    --writers --watchers --nodes --window --seconds --warmup\n"
		"            [--latency-rate R: writes/s of the latency phase, default half the max]\n"
		"  join      --nodes --data-bytes --runs\n"
		"  save      --mb --data-bytes --rate --pre --post (uses --admin-password)\n"
		"  blob      --mb --rate --pre --post --nodes [--pid P]: upload and download\n"
		"            one blob while another client writes at --rate\n"
		"  populate  --mb --data-bytes [--pid P: SIGKILL P once every create is acked]\n"
		"  ready     [--t0-ns REALTIME_NS]: retry connect+hello until a welcome\n"
		"  idle      --conns --pid P: server RSS growth per idle connection\n"
		"  freeport  print a free TCP port on 127.0.0.1\n"
		"common: --host H --port P --session NAME --admin-password X --pid P\n"
		"        --timeout S (per phase) --verbose\n"
		"exit: 0 done, 1 failed, 2 bad usage, 3 the server lacks a request type\n");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct bench b;
	const char *scenario;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	scenario = argv[1];
	bench_scenario = scenario;
	if (!strcmp(scenario, "freeport"))
		return run_freeport() ? 1 : 0;

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.session = "bench";
	o.nodes = 1000;
	o.data_bytes = 500;
	o.ops = 20000;
	o.window = 256;
	o.conns = 1000;
	o.runs = 3;
	o.writers = 4;
	o.watchers = 60;
	o.seconds = 5;
	o.warmup = 1;
	o.rate = 2000;
	o.pre = 1;
	o.post = 1;
	o.timeout = 120;
	o.max_seconds = 60;
	o.mb = 100;
	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	if (o.port <= 0) {
		fprintf(stderr, "sessionbench: --port is required\n");
		return 2;
	}
	o.admin_password = o.admin_password ? o.admin_password : getenv("SESSIOND_ADMIN_PASSWORD");
	signal(SIGPIPE, SIG_IGN);
	if (bench_init(&b, o.host, o.port, o.data_bytes, o.verbose)) {
		fprintf(stderr, "sessionbench: cannot create the lws context\n");
		bench_destroy(&b);
		return 1;
	}
	b.admin_password = o.admin_password;

	if (!strcmp(scenario, "write"))
		rc = run_write(&b, &o);
	else if (!strcmp(scenario, "fanout"))
		rc = run_fanout(&b, &o);
	else if (!strcmp(scenario, "join"))
		rc = run_join(&b, &o);
	else if (!strcmp(scenario, "save"))
		rc = run_save(&b, &o);
	else if (!strcmp(scenario, "blob"))
		rc = run_blob(&b, &o);
	else if (!strcmp(scenario, "populate"))
		rc = run_populate(&b, &o);
	else if (!strcmp(scenario, "ready"))
		rc = run_ready(&b, &o);
	else if (!strcmp(scenario, "idle"))
		rc = run_idle(&b, &o);
	else {
		fprintf(stderr, "sessionbench: unknown scenario %s\n", scenario);
		usage(stderr);
		rc = 2;
	}
	bench_destroy(&b);
	if (rc == 2)
		return 2;
	if (rc == BENCH_UNSUPPORTED)
		return 3;
	return rc ? 1 : 0;
}
