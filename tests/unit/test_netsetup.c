/* test_netsetup.c - what the network layer rests on without a socket loop:
 * the receive buffer's growth before hello (defect 5), HOST resolved and
 * probed (defect 12), the TLS files checked, the descriptor limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

static void test_capped_growth(void **state)
{
	struct sbuf b;
	char chunk[4096];
	const size_t limit = 64 * 1024;
	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	sbuf_init(&b, 256);
	while (b.len + sizeof(chunk) <= limit)
		sbuf_add_capped(&b, chunk, sizeof(chunk), limit);
	assert_int_equal(b.len, limit);
	/* what the message needs, never the next power of two past the limit */
	assert_true(b.cap <= limit + 1);
	assert_int_equal(b.p[b.len], 0);
	sbuf_free(&b);
	/* a limit that is not a power of two: the last step stops at it */
	sbuf_init(&b, 256);
	for (int i = 0; i < 25; i++)
		sbuf_add_capped(&b, chunk, 1000, 25000);
	assert_int_equal(b.len, 25000);
	assert_int_equal(b.cap, 25001);
	sbuf_free(&b);
}

static void load(struct config *cfg, const char *const *env)
{
	char err[512], *out = NULL, *argv[] = {(char *)"sessiond", NULL};
	if (config_load(cfg, 1, argv, (char **)env, err, sizeof(err), &out) != CONFIG_OK)
		fail_msg("config: %s", err);
}

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int prepare(const char *host, int port, struct listen_addr *out, char *err)
{
	char h[300], p[32];
	const char *env[] = {h, p, NULL};
	struct config cfg;
	int rc;
	snprintf(h, sizeof(h), "HOST=%s", host);
	snprintf(p, sizeof(p), "PORT=%d", port);
	load(&cfg, env);
	rc = listener_prepare(&cfg, out, err, 512);
	config_free(&cfg);
	return rc;
}

static void test_host_resolved(void **state)
{
	struct listen_addr a;
	char err[512];
	(void)state;
	assert_int_equal(prepare("127.0.0.1", free_port(), &a, err), 0);
	assert_int_equal(a.family, AF_INET);
	assert_string_equal(a.display, "127.0.0.1");
	if (access("/proc/net/if_inet6", F_OK) == 0) {
		assert_int_equal(prepare("::1", free_port(), &a, err), 0);
		assert_int_equal(a.family, AF_INET6);
		assert_string_equal(a.numeric, "::1");
		assert_string_equal(a.display, "[::1]");
	}
	assert_int_equal(prepare("localhost", free_port(), &a, err), 0);
	assert_true(strcmp(a.numeric, "127.0.0.1") == 0 || strcmp(a.numeric, "::1") == 0);
}

static void test_host_refused(void **state)
{
	struct listen_addr a;
	char err[512];
	int fd, one = 1, port = free_port();
	struct sockaddr_in sa;
	(void)state;
	assert_int_equal(prepare("192.0.2.77", free_port(), &a, err), -1);
	assert_string_equal(err, "HOST: 192.0.2.77 is not an address of this machine");
	assert_int_equal(prepare("no-such-host.invalid", free_port(), &a, err), -1);
	assert_non_null(strstr(err, "HOST: cannot resolve \"no-such-host.invalid\""));
	/* a port somebody listens on */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(prepare("127.0.0.1", port, &a, err), -1);
	close(fd);
	{
		char want[128];
		snprintf(want, sizeof(want), "PORT: port %d on 127.0.0.1 is already in use", port);
		assert_string_equal(err, want);
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_tls_files(void **state)
{
	char *dir = tu_mkdtemp(), cert[4200], key[4200], missing[4200], e1[4300], e2[4300],
	     p[32], err[512];
	const char *env[] = {e1, e2, p, NULL};
	struct config cfg;
	struct listen_addr a;
	(void)state;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	write_file(cert, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	write_file(key, "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
	snprintf(p, sizeof(p), "PORT=%d", free_port());

	snprintf(e1, sizeof(e1), "TLS_CERT=%s", cert);
	snprintf(e2, sizeof(e2), "TLS_KEY=%s", key);
	load(&cfg, env);
	assert_int_equal(listener_prepare(&cfg, &a, err, sizeof(err)), 0);
	assert_true(a.tls);
	config_free(&cfg);

	snprintf(e2, sizeof(e2), "TLS_KEY=%s", missing);
	load(&cfg, env);
	assert_int_equal(listener_prepare(&cfg, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TLS_KEY: cannot read "));
	assert_non_null(strstr(err, missing));
	config_free(&cfg);

	snprintf(e2, sizeof(e2), "TLS_KEY=%s", cert);   /* a certificate is no key */
	load(&cfg, env);
	assert_int_equal(listener_prepare(&cfg, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "holds no PEM private key"));
	config_free(&cfg);

	snprintf(e2, sizeof(e2), "SERVER_PASSWORD=x");   /* TLS_CERT alone */
	load(&cfg, env);
	assert_int_equal(listener_prepare(&cfg, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "TLS_CERT: must be set together with TLS_KEY");
	config_free(&cfg);
	tu_rmtree(dir);
	free(dir);
}

static void test_fd_limit_raised(void **state)
{
	struct rlimit rl;
	(void)state;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max <= 64)
		skip();
	rl.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	listener_raise_fd_limit();
	getrlimit(RLIMIT_NOFILE, &rl);
	assert_true(rl.rlim_cur == rl.rlim_max);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capped_growth),
		cmocka_unit_test(test_host_resolved),
		cmocka_unit_test(test_host_refused),
		cmocka_unit_test(test_tls_files),
		cmocka_unit_test(test_fd_limit_raised),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
