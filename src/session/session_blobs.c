/* session_blobs.c - blobs (protocol 1.2, section 11): blob.put with or
 * without a list of chunks, the binary frames of an upload, blob.end,
 * blob.get, blob.chunks, chunk.get, blob.has, chunk.has, and the collection
 * of blobs no live node names and chunks no blob contains.
 *
 * Design notes
 * - An upload belongs to one member (struct client); one at a time. It is a
 *   list of chunks: the client's cut when blob.put lists one, else 1 MiB
 *   pieces the server cuts itself. The bytes of the chunks to be sent (the
 *   `missing` ones) gather in a buffer of at most one chunk; a completed
 *   chunk is hashed, checked against the list, and written at once in the
 *   session's batch (store_chunk_put; a chunk already held is not written
 *   again). Memory holds at most one chunk per upload.
 * - Never holding the loop: once a pass has written BLOB_PASS_BYTES of
 *   chunks in a session, the connection that completed the last one reads
 *   nothing more until the batch has committed (rx flow control through
 *   srv->rx_flow); lws reads at most 256 KiB per connection per pass anyway.
 * - The whole-blob hash is computed in chunk order as the chunks become
 *   available: from the buffer when a chunk completes in order, else (the
 *   chunks the session already held) read back from the database by
 *   blob_pass(), at most BLOB_HASH_BYTES per pass, before each commit. A
 *   blob.end that arrives before that has caught up waits: its connection
 *   reads nothing more (so replies stay in order) until the hash is done,
 *   then the blob row and its list are written and the ok follows the
 *   commit.
 * - Completed chunks stay when an upload is interrupted (connection closed,
 *   chunk hash wrong, kill -9): a put of the same blob with the same cut is
 *   told they are present. Nothing in `blobs` shows an upload before its
 *   blob.end succeeded.
 * - Collection: at each save a round starts (blob_gc); blob_pass() then
 *   runs store_gc_step() over BLOB_GC_ROWS rows per pass until the round
 *   has walked blobs and chunks. A chunk that an open upload lists is kept.
 * - Downloads are streamed by the connection (conn.c), one chunk per frame,
 *   each read in a read transaction of its own; here blob.get and chunk.get
 *   check what is asked and queue the download in order with the replies. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "envelope.h"
#include "log.h"
#include "server_state.h"
#include "session_int.h"
#include "store.h"
#include "util.h"
#include "validate.h"

#define BLOB_PASS_BYTES (4 * 1024 * 1024)  /* chunk bytes written per pass */
#define BLOB_HASH_BYTES (4 * 1024 * 1024)  /* held chunks hashed per pass */
#define BLOB_GC_ROWS 32                    /* rows collection examines per pass */

struct blob_upload {
	char hash[STORE_HASH_HEX];
	int64_t size;
	json_t *put_id;          /* the blob.put's id: chunk errors answer it */
	int listed;              /* the client listed its chunks */
	int n;                   /* chunks */
	char (*ch)[STORE_HASH_HEX]; /* their hashes ("" until computed, unlisted) */
	int *sz;                 /* their sizes */
	int *missing, nmissing;  /* indices to be sent, ascending */
	int mi;                  /* missing[mi] is the chunk being received */
	char *buf;               /* its bytes so far */
	size_t len;
	int64_t extra;           /* bytes past the last missing chunk */
	EVP_MD_CTX *whole;       /* SHA-256 of chunks 0 .. hashed-1 */
	int hashed;
	int rc;                  /* first storage error, answered at blob.end */
	int ending;              /* blob.end waits for the hash */
	json_t *end_id;
};

static void upload_free(struct blob_upload *u)
{
	if (!u)
		return;
	EVP_MD_CTX_free(u->whole);
	json_decref(u->put_id);
	json_decref(u->end_id);
	free(u->ch);
	free(u->sz);
	free(u->missing);
	free(u->buf);
	free(u);
}

static void rx_hold(struct conn *c, int bit, int on)
{
	int was = c->rx_hold;
	c->rx_hold = on ? c->rx_hold | bit : c->rx_hold & ~bit;
	if (!was != !c->rx_hold && c->srv->rx_flow)
		c->srv->rx_flow(c);
}

void blob_upload_free(struct client *cl)
{
	upload_free(cl->upload);
	cl->upload = NULL;
}

/* The upload is over while its connection is open: it reads again. */
static void upload_done(struct client *cl)
{
	blob_upload_free(cl);
	if (cl->conn)
		rx_hold(cl->conn, CONN_RX_VERIFY, 0);
}

int session_blob_upload_open(const struct client *cl)
{
	return cl && cl->upload;
}

int session_blob_uploads_open(const struct session *s)
{
	for (const struct client *cl = s->clients; cl; cl = cl->next)
		if (cl->upload)
			return 1;
	return 0;
}

int session_blob_dropping(const struct client *cl)
{
	return cl && cl->blob_drop;
}

void session_blob_text(struct client *cl)
{
	if (cl)
		cl->blob_drop = 0;
}

static int64_t missing_bytes(const struct blob_upload *u)
{
	int64_t n = 0;
	for (int i = 0; i < u->nmissing; i++)
		n += u->sz[u->missing[i]];
	return n;
}

static int64_t received_bytes(const struct blob_upload *u)
{
	int64_t n = (int64_t)u->len + u->extra;
	for (int i = 0; i < u->mi; i++)
		n += u->sz[u->missing[i]];
	return n;
}

/* Chunk j's bytes are in the database (held at blob.put, or received). */
static int available(const struct blob_upload *u, int j)
{
	return u->mi == u->nmissing || j < u->missing[u->mi];
}

static void hash_into(void *arg, const void *data, size_t len)
{
	EVP_DigestUpdate(arg, data, len);
}

/* A completed chunk (u->buf, chunk i): checked, written, hashed. Returns 0,
 * or -1 when the upload is over (its hash is wrong). */
static int chunk_done(struct session *s, struct client *cl, struct blob_upload *u, int i)
{
	char got[STORE_HASH_HEX];
	int rc;

	store_sha256_hex(u->buf, u->len, got);
	if (u->listed && strcmp(got, u->ch[i]) != 0) {
		char msg[320];
		snprintf(msg, sizeof(msg), "blob.put: chunk %d of the listed chunks hashes to %s, "
			 "not %s; the upload is over (the chunks before it are kept)", i, got,
			 u->ch[i]);
		queue_frame(s, cl->conn, envelope_error(u->put_id, "bad_request", msg, NULL), NULL,
			    0);
		log_info("Blob upload refused (session=%s user=%s hash=%s): chunk %d hashes to %s",
			 s->name, cl->name, u->hash, i, got);
		cl->blob_drop = 1; /* its frames still in flight are dropped quietly */
		upload_done(cl);
		return -1;
	}
	memcpy(u->ch[i], got, sizeof(got));
	rc = u->rc;
	if (rc == SQLITE_OK)
		rc = batch_begin(s);
	if (rc == SQLITE_OK)
		rc = store_chunk_put(s->store, got, u->buf, u->len, util_now());
	if (rc != SQLITE_OK && u->rc == SQLITE_OK) {
		log_error("Cannot store a chunk of a blob upload (session=%s hash=%s): %s",
			  s->name, u->hash, sqlite3_errstr(rc));
		u->rc = rc;
	}
	if (u->hashed == i) {
		EVP_DigestUpdate(u->whole, u->buf, u->len);
		u->hashed++;
	}
	s->pass_bytes += (int64_t)u->len;
	if (s->pass_bytes >= BLOB_PASS_BYTES)
		rx_hold(cl->conn, CONN_RX_BUDGET, 1);
	u->len = 0;
	u->mi++;
	return 0;
}

void session_blob_data(struct session *s, struct client *cl, const void *data, size_t len)
{
	struct blob_upload *u = cl->upload;
	const char *p = data;

	while (u && len) {
		if (u->mi == u->nmissing) {
			u->extra += (int64_t)len; /* more than announced: blob.end says so */
			return;
		}
		int i = u->missing[u->mi];
		size_t take = (size_t)u->sz[i] - u->len;
		if (take > len)
			take = len;
		memcpy(u->buf + u->len, p, take);
		u->len += take;
		p += take;
		len -= take;
		if (u->len == (size_t)u->sz[i] && chunk_done(s, cl, u, i) != 0)
			return;
	}
}

void blob_upload_abort(struct session *s, struct client *cl)
{
	struct blob_upload *u = cl->upload;
	if (!u)
		return;
	log_info("Blob upload interrupted (session=%s user=%s hash=%s received=%lld of %lld "
		 "bytes sent): its completed chunks are kept for a resumed upload", s->name,
		 cl->name, u->hash, (long long)received_bytes(u), (long long)missing_bytes(u));
	blob_upload_free(cl);
}

/* An ok that does not depend on the batch's commit. */
static void reply_now(struct req *r, json_t *fields)
{
	r->answered = 1;
	if (r->id)
		queue_frame(r->s, r->conn, envelope_ok(r->id, fields), NULL, 0);
	json_decref(fields);
}

struct ranked {
	const char *hash;
	int i;
};

static int by_hash(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c = strcmp(x->hash, y->hash);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Marks in dup[] the entries of a listed cut that repeat an earlier one. */
static void find_repeats(struct blob_upload *u, char *dup)
{
	struct ranked *order = xmalloc((size_t)(u->n ? u->n : 1) * sizeof(*order));
	for (int i = 0; i < u->n; i++) {
		order[i].hash = u->ch[i];
		order[i].i = i;
	}
	qsort(order, (size_t)u->n, sizeof(*order), by_hash);
	for (int k = 1; k < u->n; k++)
		if (strcmp(order[k].hash, order[k - 1].hash) == 0)
			dup[order[k].i] = 1;
	free(order);
}

/* The chunks of the new upload u: the listed cut, or 1 MiB pieces; and
 * which of them the client must send. */
static int plan_upload(struct session *s, struct blob_upload *u, json_t *chunks)
{
	char *dup;
	int rc = SQLITE_OK;

	u->listed = chunks != NULL;
	u->n = u->listed ? (int)json_array_size(chunks)
			 : (int)((u->size + STORE_CHUNK_MAX - 1) / STORE_CHUNK_MAX);
	u->ch = xcalloc((size_t)u->n + 1, sizeof(*u->ch));
	u->sz = xcalloc((size_t)u->n + 1, sizeof(int));
	u->missing = xcalloc((size_t)u->n + 1, sizeof(int));
	dup = xcalloc((size_t)u->n + 1, 1);
	for (int i = 0; i < u->n; i++) {
		if (u->listed) {
			json_t *e = json_array_get(chunks, (size_t)i);
			memcpy(u->ch[i], json_string_value(json_array_get(e, 0)), STORE_HASH_HEX);
			u->sz[i] = (int)json_integer_value(json_array_get(e, 1));
		} else {
			int64_t left = u->size - (int64_t)i * STORE_CHUNK_MAX;
			u->sz[i] = left < STORE_CHUNK_MAX ? (int)left : STORE_CHUNK_MAX;
		}
	}
	if (u->listed)
		find_repeats(u, dup);
	for (int i = 0; i < u->n && rc == SQLITE_OK; i++) {
		int64_t have = 0;
		if (dup[i])
			continue;
		rc = u->listed ? store_chunk_has(s->store, u->ch[i], &have) : SQLITE_NOTFOUND;
		if (rc == SQLITE_OK && have != u->sz[i])
			rc = SQLITE_NOTFOUND; /* same hash, other size: cannot be; send it */
		if (rc == SQLITE_NOTFOUND) {
			u->missing[u->nmissing++] = i;
			rc = SQLITE_OK;
		}
	}
	free(dup);
	if (rc == SQLITE_OK && u->nmissing) {
		int64_t big = 0;
		for (int i = 0; i < u->nmissing; i++)
			if (u->sz[u->missing[i]] > big)
				big = u->sz[u->missing[i]];
		u->buf = xmalloc((size_t)big);
	}
	return rc;
}

int do_blob_put(struct req *r)
{
	struct blob_put_req q;
	struct blob_upload *u;
	char msg[VALIDATE_MSG];
	int rc;

	if (validate_blob_put(r->msg, &q, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	if (r->cl->upload) {
		reply_err(r, "conflict", NULL, "blob.put: an upload (hash %s) is open on this "
			  "connection; finish it with blob.end first", r->cl->upload->hash);
		return SQLITE_OK;
	}
	if (q.size > r->s->srv->cfg->max_blob_bytes) {
		reply_err(r, "too_large", NULL, "blob.put: size %lld is over MAX_BLOB_BYTES (%ld)",
			  (long long)q.size, r->s->srv->cfg->max_blob_bytes);
		return SQLITE_OK;
	}
	rc = store_blob_has(r->s->store, q.hash, NULL);
	if (rc == SQLITE_OK) {
		/* Its hour starts again: the client has that long to name it. */
		rc = store_blob_touch(r->s->store, q.hash, util_now());
		if (rc == SQLITE_OK)
			reply_ok(r, json_pack("{ss sb}", "hash", q.hash, "have", 1));
		return rc;
	}
	if (rc != SQLITE_NOTFOUND)
		return rc;
	u = xcalloc(1, sizeof(*u));
	memcpy(u->hash, q.hash, sizeof(u->hash));
	u->size = q.size;
	u->put_id = r->id ? json_incref(r->id) : NULL;
	u->whole = EVP_MD_CTX_new();
	if (!u->whole || !EVP_DigestInit_ex(u->whole, EVP_sha256(), NULL)) {
		upload_free(u);
		reply_err(r, "internal", NULL, "blob.put: SHA-256 is not available");
		return SQLITE_OK;
	}
	rc = plan_upload(r->s, u, q.chunks);
	if (rc != SQLITE_OK) {
		upload_free(u);
		return rc;
	}
	r->cl->upload = u;
	json_t *o = json_pack("{ss sb}", "hash", q.hash, "have", 0);
	if (u->listed) {
		json_t *m = json_array();
		for (int i = 0; i < u->nmissing; i++)
			json_array_append_new(m, json_integer(u->missing[i]));
		json_object_set_new(o, "missing", m);
	}
	reply_now(r, o);
	return SQLITE_OK;
}

/* The whole hash is complete: check it, make the blob, answer (id). */
static void finish_upload(struct session *s, struct client *cl, json_t *id)
{
	struct blob_upload *u = cl->upload;
	unsigned char md[EVP_MAX_MD_SIZE];
	char got[STORE_HASH_HEX], msg[320];
	const char **list;
	unsigned mdlen = 0;
	int rc = u->rc;

	EVP_DigestFinal_ex(u->whole, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(got + 2 * i, 3, "%02x", md[i]);
	if (rc == SQLITE_OK && strcmp(got, u->hash) != 0) {
		snprintf(msg, sizeof(msg), "blob.end: hash mismatch: the %lld bytes hash to %s, "
			 "not %s; no blob is made", (long long)u->size, got, u->hash);
		queue_frame(s, cl->conn, envelope_error(id, "bad_request", msg, NULL), NULL, 0);
		upload_done(cl);
		return;
	}
	list = xmalloc(((size_t)u->n + 1) * sizeof(*list));
	for (int i = 0; i < u->n; i++)
		list[i] = u->ch[i];
	if (rc == SQLITE_OK)
		rc = batch_begin(s);
	if (rc == SQLITE_OK)
		rc = store_savepoint(s->store);
	if (rc == SQLITE_OK) {
		double now = util_now();
		rc = store_blob_insert(s->store, u->hash, u->size, cl->name, now, list, u->n);
		if (rc == SQLITE_CONSTRAINT) /* made meanwhile by another connection */
			rc = store_blob_touch(s->store, u->hash, now);
		else if (rc == SQLITE_OK)
			log_info("Blob stored (session=%s user=%s hash=%s size=%lld chunks=%d "
				 "sent=%d)", s->name, cl->name, u->hash, (long long)u->size, u->n,
				 u->nmissing);
		if (rc == SQLITE_OK)
			rc = store_release(s->store);
		else
			store_rollback_to(s->store);
	}
	free(list);
	if (rc == SQLITE_MISMATCH || rc == SQLITE_CORRUPT) {
		/* A commit that failed since blob.put lost chunks it had written. */
		log_error("Blob %s (session=%s): a chunk is missing; not stored", u->hash, s->name);
		queue_frame(s, cl->conn, envelope_error(id, "unavailable", "blob.end: storage lost "
				"part of the upload; no blob is made, put it again", NULL), NULL, 0);
	} else if (rc != SQLITE_OK) {
		log_error("Cannot store blob %s (session=%s): %s", u->hash, s->name,
			  sqlite3_errstr(rc));
		snprintf(msg, sizeof(msg), "blob.end: storage error: %s; no blob is made",
			 sqlite3_errstr(rc));
		queue_frame(s, cl->conn, envelope_error(id, storage_code(rc), msg, NULL), NULL, 0);
	} else if (id) {
		json_t *o = json_pack("{ss sI}", "hash", u->hash, "size", (json_int_t)u->size);
		queue_frame(s, cl->conn, envelope_ok(id, o), id, 1);
		json_decref(o);
	}
	upload_done(cl);
}

/* Hashes the held chunks that have become available, within *budget. */
static void catch_up(struct session *s, struct blob_upload *u, int64_t *budget)
{
	while (u->rc == SQLITE_OK && u->hashed < u->n && *budget > 0 && available(u, u->hashed)) {
		int rc = store_chunk_read(s->store, u->ch[u->hashed], hash_into, u->whole);
		if (rc != SQLITE_OK) {
			log_error("Cannot read chunk %s of blob upload %s (session=%s): %s",
				  u->ch[u->hashed], u->hash, s->name, sqlite3_errstr(rc));
			u->rc = rc == SQLITE_NOTFOUND ? SQLITE_CORRUPT : rc;
			break;
		}
		*budget -= u->sz[u->hashed];
		u->hashed++;
	}
}

int do_blob_end(struct req *r)
{
	struct blob_upload *u = r->cl->upload;
	char msg[VALIDATE_MSG];
	const char *hash;

	if (validate_blob_hash_field("blob.end", r->msg, &hash, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	if (!u) {
		reply_err(r, "bad_request", NULL, "blob.end: no upload is open (blob.put first)");
		return SQLITE_OK;
	}
	if (strcmp(hash, u->hash) != 0) {
		reply_err(r, "bad_request", NULL, "blob.end: hash %s is not the open upload's (%s); "
			  "the upload is dropped", hash, u->hash);
		upload_done(r->cl);
		return SQLITE_OK;
	}
	if (received_bytes(u) != missing_bytes(u) || u->mi != u->nmissing) {
		reply_err(r, "bad_request", NULL, "blob.end: size mismatch: received %lld bytes, "
			  "the blob.put asked for %lld (of %lld); no blob is made",
			  (long long)received_bytes(u), (long long)missing_bytes(u),
			  (long long)u->size);
		upload_done(r->cl);
		return SQLITE_OK;
	}
	r->answered = 1;
	if (u->hashed == u->n || u->rc != SQLITE_OK) {
		finish_upload(r->s, r->cl, r->id);
		return SQLITE_OK;
	}
	/* The held chunks are still being hashed (blob_pass): this
	 * connection reads nothing more until the answer is out. */
	u->ending = 1;
	u->end_id = r->id ? json_incref(r->id) : NULL;
	rx_hold(r->conn, CONN_RX_VERIFY, 1);
	r->s->blob_busy = r->s->srv->busy = 1;
	return SQLITE_OK;
}

/* blob.get and chunk.get: the ok and the bytes are written by the
 * connection when the download reaches the head of its queue. */
static void queue_download(struct req *r, char *what)
{
	struct pending *p = pending_add(r->s, P_BLOB, r->conn);
	p->re = r->id ? json_incref(r->id) : NULL;
	p->text = what;
	r->answered = 1;
}

int do_blob_get(struct req *r)
{
	const char *hash;
	char msg[VALIDATE_MSG];
	int rc;

	if (validate_blob_hash_field("blob.get", r->msg, &hash, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	rc = store_blob_has(r->s->store, hash, NULL);
	if (rc == SQLITE_NOTFOUND) {
		reply_err(r, "not_found", NULL, "blob.get: no blob with hash %s", hash);
		return SQLITE_OK;
	}
	if (rc != SQLITE_OK)
		return rc;
	queue_download(r, xstrdup(hash));
	return SQLITE_OK;
}

int do_blob_chunks(struct req *r)
{
	const char *hash;
	char msg[VALIDATE_MSG];
	json_t *list = NULL;
	int64_t size = 0;
	int rc;

	if (validate_blob_hash_field("blob.chunks", r->msg, &hash, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	rc = store_blob_chunks(r->s->store, hash, &size, &list);
	if (rc == SQLITE_NOTFOUND) {
		reply_err(r, "not_found", NULL, "blob.chunks: no blob with hash %s", hash);
		return SQLITE_OK;
	}
	if (rc != SQLITE_OK)
		return rc;
	reply_ok(r, json_pack("{ss sI so}", "hash", hash, "size", (json_int_t)size, "chunks",
			      list));
	return SQLITE_OK;
}

int do_chunk_get(struct req *r)
{
	json_t *hashes, *h;
	char msg[VALIDATE_MSG], *what;
	size_t i;
	int rc;

	if (validate_hashes("chunk.get", r->msg, &hashes, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	json_array_foreach(hashes, i, h) {
		rc = store_chunk_has(r->s->store, json_string_value(h), NULL);
		if (rc == SQLITE_NOTFOUND) {
			reply_err(r, "not_found", NULL, "chunk.get: no chunk with hash %s",
				  json_string_value(h));
			return SQLITE_OK;
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	/* "c:" then the hashes, 64 characters each (conn_start_blob). */
	what = xmalloc(3 + json_array_size(hashes) * BLOB_HASH_LEN);
	memcpy(what, "c:", 3);
	json_array_foreach(hashes, i, h)
		memcpy(what + 2 + i * BLOB_HASH_LEN, json_string_value(h), BLOB_HASH_LEN + 1);
	queue_download(r, what);
	return SQLITE_OK;
}

static int has_many(struct req *r, const char *type, int (*has)(struct store *, const char *,
								  int64_t *))
{
	json_t *hashes, *have, *h;
	char msg[VALIDATE_MSG];
	size_t i;
	int rc = SQLITE_OK;

	if (validate_hashes(type, r->msg, &hashes, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	have = json_array();
	json_array_foreach(hashes, i, h) {
		rc = has(r->s->store, json_string_value(h), NULL);
		if (rc == SQLITE_OK)
			json_array_append(have, h);
		else if (rc != SQLITE_NOTFOUND)
			break;
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK) {
		json_decref(have);
		return rc;
	}
	reply_ok(r, json_pack("{so}", "have", have));
	return SQLITE_OK;
}

int do_blob_has(struct req *r) { return has_many(r, "blob.has", store_blob_has); }
int do_chunk_has(struct req *r) { return has_many(r, "chunk.has", store_chunk_has); }

int session_blobs_open(struct session *s)
{
	/* 1.1 kept uploads in progress in a file of their own: no longer used. */
	char path[4400];
	snprintf(path, sizeof(path), "%s-uploads", s->db_path);
	unlink(path);
	snprintf(path, sizeof(path), "%s-uploads-journal", s->db_path);
	unlink(path);
	return SQLITE_OK;
}

/* Collection's keep(): 1 when an open upload of s lists the chunk. */
static int listed_by_upload(void *arg, const char *chunk)
{
	struct session *s = arg;
	for (struct client *cl = s->clients; cl; cl = cl->next) {
		const struct blob_upload *u = cl->upload;
		for (int i = 0; u && i < u->n; i++)
			if (strcmp(u->ch[i], chunk) == 0)
				return 1;
	}
	return 0;
}

static void gc_step(struct session *s)
{
	struct store_gc *g = s->gc;
	int rc = batch_begin(s);
	if (rc == SQLITE_OK)
		rc = store_gc_step(s->store, g, s->gc_before, BLOB_GC_ROWS, listed_by_upload, s);
	if (rc != SQLITE_OK) {
		log_error("Blob collection failed (session=%s): %s; it runs again at the next save",
			  s->name, sqlite3_errstr(rc));
	} else if (g->done) {
		if (g->blobs || g->chunks)
			log_info("Blobs collected (session=%s count=%lld bytes=%lld chunks=%lld "
				 "chunk_bytes=%lld): no live node names them", s->name,
				 (long long)g->blobs, (long long)g->blob_bytes, (long long)g->chunks,
				 (long long)g->chunk_bytes);
		s->srv->metrics.blobs_collected += (uint64_t)g->blobs;
	}
	if (rc != SQLITE_OK || g->done) {
		free(s->gc);
		s->gc = NULL;
	}
}

int blob_gc(struct session *s)
{
	if (!s->gc)
		s->gc = xcalloc(1, sizeof(*s->gc));
	/* A round already running goes on with the new clock. */
	s->gc_before = util_now() - (double)s->srv->cfg->blob_gc_grace;
	/* A small session is done before its save is written. */
	for (int i = 0; i < 4 && s->gc; i++)
		gc_step(s);
	if (s->gc)
		s->blob_busy = s->srv->busy = 1;
	return SQLITE_OK;
}

void blob_pass(struct session *s)
{
	int64_t budget = BLOB_HASH_BYTES;
	s->blob_busy = 0;
	if (!s->store) { /* closed (deleted): nothing left to do */
		free(s->gc);
		s->gc = NULL;
		return;
	}
	for (struct client *cl = s->clients, *next; cl; cl = next) {
		struct blob_upload *u = cl->upload;
		next = cl->next;
		if (!u || u->hashed == u->n)
			continue;
		catch_up(s, u, &budget);
		if (u->ending && (u->hashed == u->n || u->rc != SQLITE_OK)) {
			json_t *id = u->end_id ? json_incref(u->end_id) : NULL;
			finish_upload(s, cl, id);
			json_decref(id);
		} else if (available(u, u->hashed) && u->hashed < u->n) {
			s->blob_busy = 1;
		}
	}
	if (s->gc && !s->resetting)
		gc_step(s);
	if (s->gc)
		s->blob_busy = 1;
	if (s->blob_busy)
		s->srv->busy = 1;
}

void blob_pass_done(struct session *s)
{
	if (!s->pass_bytes)
		return;
	s->pass_bytes = 0;
	for (struct client *cl = s->clients; cl; cl = cl->next)
		if (cl->conn && (cl->conn->rx_hold & CONN_RX_BUDGET))
			rx_hold(cl->conn, CONN_RX_BUDGET, 0);
}
