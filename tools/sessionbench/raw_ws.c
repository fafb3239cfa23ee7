/*
 * raw_ws.c: a minimal blocking WebSocket client on a plain socket, for the
 * blob scenario's uploader (it runs on a thread of its own).
 *
 * The lws 4.1 client masks what it sends and parses what it receives one
 * byte at a time, which tops out near 200 MB/s on this machine and would
 * measure the client (a Python client on a plain socket read the same
 * download at 400-450 MB/s).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int raw_send_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return BENCH_ERR;
		p += k;
		n -= (size_t)k;
	}
	return BENCH_OK;
}

static int raw_fill(struct raw_ws *r, size_t need)
{
	while (r->rx_len < need) {
		ssize_t k;

		if (r->rx_cap - r->rx_len < 65536) {
			size_t cap = r->rx_cap * 2 > need + 65536 ? r->rx_cap * 2 : need + 65536;
			unsigned char *p = realloc(r->rx, cap);

			if (!p)
				return BENCH_ERR;
			r->rx = p;
			r->rx_cap = cap;
		}
		k = recv(r->fd, r->rx + r->rx_len, r->rx_cap - r->rx_len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return BENCH_ERR;
		r->rx_len += (size_t)k;
	}
	return BENCH_OK;
}

static void raw_consume(struct raw_ws *r, size_t n)
{
	memmove(r->rx, r->rx + n, r->rx_len - n);
	r->rx_len -= n;
}

/* One client frame (masked), sent in pieces of at most tx_cap bytes. */
int raw_send(struct raw_ws *r, int opcode, const unsigned char *p, size_t n)
{
	unsigned char h[14], mask[4];
	size_t hl = 2, off = 0;
	uint64_t m8;

	r->mask ^= r->mask << 13;
	r->mask ^= r->mask >> 17;
	r->mask ^= r->mask << 5;
	memcpy(mask, &r->mask, 4);
	memcpy(&m8, mask, 4);
	memcpy((unsigned char *)&m8 + 4, mask, 4);
	h[0] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		h[1] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	memcpy(h + hl, mask, 4);
	hl += 4;
	if (raw_send_all(r->fd, h, hl))
		return BENCH_ERR;
	while (off < n) { /* pieces are multiples of 8: the mask stays aligned */
		size_t k = n - off < r->tx_cap ? n - off : r->tx_cap, i = 0;

		for (; i + 8 <= k; i += 8) {
			uint64_t v;

			memcpy(&v, p + off + i, 8);
			v ^= m8;
			memcpy(r->tx + i, &v, 8);
		}
		for (; i < k; i++)
			r->tx[i] = p[off + i] ^ mask[i & 3];
		if (raw_send_all(r->fd, r->tx, k))
			return BENCH_ERR;
		off += k;
	}
	return BENCH_OK;
}

int raw_send_json(struct raw_ws *r, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	int rc = text ? raw_send(r, 1, (const unsigned char *)text, strlen(text)) : BENCH_ERR;

	free(text);
	json_decref(obj);
	return rc;
}

/* The next frame: *op, and for text frames a copy in *text (caller frees);
 * binary payload bytes are only counted into *bin. */
int raw_frame(struct raw_ws *r, int *op, char **text, uint64_t *bin)
{
	size_t off = 2;
	uint64_t len;

	*text = NULL;
	if (raw_fill(r, 2))
		return BENCH_ERR;
	*op = r->rx[0] & 15;
	len = r->rx[1] & 127;
	if (len == 126) {
		if (raw_fill(r, 4))
			return BENCH_ERR;
		len = (uint64_t)r->rx[2] << 8 | r->rx[3];
		off = 4;
	} else if (len == 127) {
		if (raw_fill(r, 10))
			return BENCH_ERR;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | r->rx[2 + i];
		off = 10;
	}
	if (*op == 2) {
		/* Count the payload as it comes, without holding a frame. */
		raw_consume(r, off);
		while (len) {
			size_t k;

			if (!r->rx_len && raw_fill(r, 1))
				return BENCH_ERR;
			k = r->rx_len < len ? r->rx_len : (size_t)len;
			raw_consume(r, k);
			len -= k;
			*bin += k;
		}
		return BENCH_OK;
	}
	if (raw_fill(r, off + (size_t)len))
		return BENCH_ERR;
	if (*op == 1) {
		*text = malloc((size_t)len + 1);
		if (!*text)
			return BENCH_ERR;
		memcpy(*text, r->rx + off, (size_t)len);
		(*text)[len] = '\0';
	}
	raw_consume(r, off + (size_t)len);
	return *op == 8 ? BENCH_ERR : BENCH_OK; /* close */
}

/* Reads frames until the reply with re == id (a copy in *out, caller
 * frees); counts binary bytes into *bin. */
int raw_reply(struct raw_ws *r, int64_t id, char **out, uint64_t *bin)
{
	for (;;) {
		int op = 0;
		char *t = NULL;
		int64_t re = -1;

		if (raw_frame(r, &op, &t, bin))
			return BENCH_ERR;
		if (t && scan_int(t, strlen(t), "re", &re) == 0 && re == id) {
			*out = t;
			return BENCH_OK;
		}
		free(t);
	}
}

int raw_open(struct raw_ws *r, const char *host, int port, const char *session, const char *user)
{
	struct sockaddr_in sa;
	char req[512];
	uint64_t bin = 0;
	unsigned char *end;
	int n, one = 1, big = 8 << 20;

	memset(r, 0, sizeof(*r));
	r->mask = (uint32_t)now_ns() | 1;
	r->tx_cap = 1 << 20;
	r->tx = malloc(r->tx_cap);
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!r->tx || r->fd < 0)
		return BENCH_ERR;
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	{ /* a server that stops answering fails the scenario instead of hanging it */
		struct timeval tv = { 120, 0 };

		setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return BENCH_ERR;
	n = snprintf(req, sizeof(req),
		     "GET /s/%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: c2Vzc2lvbmJlbmNoLXJhdw==\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n", session, host, port);
	if (raw_send_all(r->fd, (unsigned char *)req, (size_t)n))
		return BENCH_ERR;
	for (;;) {
		if (raw_fill(r, r->rx_len + 1))
			return BENCH_ERR;
		end = memmem(r->rx, r->rx_len, "\r\n\r\n", 4);
		if (end)
			break;
	}
	if (r->rx_len < 12 || memcmp(r->rx + 9, "101", 3))
		return BENCH_ERR;
	raw_consume(r, (size_t)(end + 4 - r->rx));
	if (raw_send_json(r, json_pack("{s:s s:i s:s s:s}", "type", "hello", "id", 1, "user", user,
				       "client", "sessionbench-raw")))
		return BENCH_ERR;
	for (;;) { /* welcome, sync frames, synced */
		int op = 0;
		char *t = NULL;
		size_t tl = 0;
		const char *type;

		if (raw_frame(r, &op, &t, &bin))
			return BENCH_ERR;
		type = t ? scan_str(t, strlen(t), "type", &tl) : NULL;
		n = type && str_is(type, tl, "synced");
		if (type && str_is(type, tl, "error")) {
			note("raw hello refused: %s", t);
			free(t);
			return BENCH_ERR;
		}
		free(t);
		if (n)
			break;
	}
	return BENCH_OK;
}

void raw_close(struct raw_ws *r)
{
	if (r->fd > 0)
		close(r->fd);
	free(r->rx);
	free(r->tx);
	memset(r, 0, sizeof(*r));
}
