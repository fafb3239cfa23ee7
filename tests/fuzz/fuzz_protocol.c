/* fuzz_protocol.c - libFuzzer target: arbitrary bytes through message
 * parsing, validation and dispatch, with no socket.
 *
 * The server is the one the unit tests drive (see tests/unit/fakesrv.h): a
 * real config, a real DATA_DIR under TMPDIR (tools/test puts it on tmpfs,
 * so the session's database is in memory), connections from conn_new,
 * frames in through protocol_receive and out through conn_peek/conn_pop,
 * exactly as net.c drives them; saves run synchronously.
 *
 * Input: messages separated by '\n'. A message that starts with byte 0x01
 * is sent as a binary frame (the 0x01 dropped), any other as text.
 *   - the first message is the first frame of a fresh connection (the
 *     handshake: hello validation, passwords, session names), to a session
 *     of its own, so that the joins of thousands of inputs do not each sync
 *     the scene the other connection keeps growing;
 *   - every other message goes to a long-lived connection that has joined
 *     as admin, so requests of every type reach the domain.
 * After each input the batch is flushed and every queued frame is read, as
 * the network layer would write it. The joined connection is replaced when
 * the server closed it (kick, lagging). The corpus (tests/fuzz/corpus/) is
 * made of the integration tests' messages in this format. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "protocol.h"
#include "server.h"
#include "session.h"
#include "util.h"

static char data_dir[256];
static struct config cfg;
static struct server srv;
static struct conn *member;

static void fake_wake(struct conn *c) { (void)c; }

static void drain(struct conn *c)
{
	while (conn_peek(c))
		conn_pop(c);
}

/* Frees connections the way net.c does: the socket goes, then the flush
 * frees what protocol_closed queued. */
static void disconnect(struct conn *c)
{
	drain(c);
	protocol_closed(c);
	server_flush(&srv);
}

static void send_text(struct conn *c, const char *s)
{
	protocol_receive(c, s, strlen(s), 0);
}

static struct conn *join_member(void)
{
	struct conn *c = conn_new(&srv, "fuzz", NULL);
	send_text(c, "{\"type\":\"hello\",\"id\":\"h\",\"user\":\"fuzzer\","
		     "\"admin_password\":\"fuzz-admin\"}");
	server_flush(&srv);
	drain(c);
	if (!c->client) {
		fprintf(stderr, "fuzz: the member could not join\n");
		abort();
	}
	return c;
}

static void cleanup(void)
{
	char cmd[400];
	for (struct conn *c = srv.conns; c; c = c->next)
		protocol_closed(c);
	server_flush(&srv);
	server_free(&srv);
	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", data_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char dd[300], err[512], *out = NULL;
	char *env[] = {dd, (char *)"ADMIN_PASSWORD=fuzz-admin", (char *)"RATE_LIMIT=0",
		       (char *)"MAX_CLIENT_QUEUE_BYTES=1048576", NULL};
	char *args[] = {(char *)"sessiond", NULL};
	(void)argc;
	(void)argv;
	snprintf(data_dir, sizeof(data_dir), "%s/sessiond-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(data_dir))
		abort();
	snprintf(dd, sizeof(dd), "DATA_DIR=%s", data_dir);
	if (config_load(&cfg, 1, args, env, err, sizeof(err), &out) != CONFIG_OK) {
		fprintf(stderr, "fuzz: config: %s\n", err);
		abort();
	}
	log_set_level(getenv("FUZZ_LOG") ? LOG_DEBUG : (enum log_level)(LOG_ERROR + 1));
	server_init(&srv, &cfg);
	srv.wake = fake_wake;
	atexit(cleanup);
	return 0;
}

static void deliver(struct conn *c, const uint8_t *p, size_t n)
{
	if (n && p[0] == 0x01)
		protocol_receive(c, (const char *)p + 1, n - 1, 1);
	else
		protocol_receive(c, (const char *)p, n, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct conn *fresh = conn_new(&srv, "fuzz-hello", NULL);
	int first = 1;

	if (!member || member->closed || member->close_code) {
		if (member)
			disconnect(member);
		member = join_member();
	}
	while (p <= end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		deliver(first ? fresh : member, p, n);
		first = 0;
		server_flush(&srv);
		drain(member);
		drain(fresh);
		if (!nl)
			break;
		p = nl + 1;
	}
	server_flush(&srv);
	drain(member);
	disconnect(fresh);
	drain(member);
	server_cron(&srv, util_now());
	server_flush(&srv);
	drain(member);
	return 0;
}
