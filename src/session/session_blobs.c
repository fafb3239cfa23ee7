/* session_blobs.c - blobs (protocol section 11): blob.put, the binary
 * frames of an upload, blob.end, blob.get, blob.has, and the collection of
 * blobs no live node names.
 *
 * Design notes
 * - An upload belongs to one member (struct client); one at a time. Its
 *   bytes are hashed (SHA-256, OpenSSL's EVP) as they arrive and gathered
 *   into a buffer of at most STORE_BLOB_CHUNK bytes, which becomes a row of
 *   blob_parts (in the session's uploads database, see store_blobs.c) in the
 *   session's batch as soon as it is full: memory holds at most one chunk per
 *   upload, and each loop pass writes what it read.
 * - Nothing in `blobs` shows an upload before blob.end: the parts live in
 *   their own database, and blob.end, inside the batch and its SAVEPOINT,
 *   checks size and hash and only then copies the parts into one row of
 *   `blobs` (store_blob_commit) and drops them; its ok is sent after that
 *   commit. A connection that closes mid-upload drops its parts in the
 *   batch of its leave; after kill -9 the parts of every upload are dropped
 *   when the session is opened again (session_blobs_open). A batch whose
 *   COMMIT failed loses the parts it wrote: blob.end notices (the parts do
 *   not add up to the size) and answers unavailable.
 * - Downloads are streamed by the connection (conn.c) from a read
 *   transaction of their own, one chunk per write; here blob.get only checks
 *   the hash and queues the download in order with the other replies.
 * - Collection runs before every save: blobs that no live node names and
 *   whose upload ended at least BLOB_GC_GRACE seconds ago (one hour) are
 *   deleted, counted and logged. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "server_state.h"
#include "session_int.h"
#include "store.h"
#include "util.h"
#include "validate.h"

struct blob_upload {
	char hash[BLOB_HASH_LEN + 1];
	int64_t size;
	int64_t received;        /* every byte sent, even past size */
	int64_t id;              /* blob_parts.upload */
	EVP_MD_CTX *md;
	char *buf;               /* bytes not yet written as a part */
	size_t len;
	int rc;                  /* first storage error, answered at blob.end */
};

static void upload_free(struct blob_upload *u)
{
	if (!u)
		return;
	EVP_MD_CTX_free(u->md);
	free(u->buf);
	free(u);
}

void blob_upload_free(struct client *cl)
{
	upload_free(cl->upload);
	cl->upload = NULL;
}

int session_blob_upload_open(const struct client *cl)
{
	return cl && cl->upload;
}

/* Writes the buffered bytes as one part, in the open batch. */
static void flush_part(struct session *s, struct blob_upload *u)
{
	int rc;
	if (!u->len || u->rc != SQLITE_OK)
		return;
	rc = batch_begin(s);
	if (rc == SQLITE_OK)
		rc = store_blob_part_add(s->store, u->id, u->buf, u->len);
	if (rc != SQLITE_OK) {
		log_error("Cannot store part of a blob upload (session=%s hash=%s): %s", s->name,
			  u->hash, sqlite3_errstr(rc));
		u->rc = rc;
	}
	u->len = 0;
}

void session_blob_data(struct session *s, struct client *cl, const void *data, size_t len)
{
	struct blob_upload *u = cl->upload;
	const char *p = data;
	size_t keep;

	if (!u)
		return;
	keep = u->received >= u->size ? 0
	     : (uint64_t)(u->size - u->received) < len ? (size_t)(u->size - u->received) : len;
	u->received += (int64_t)len;
	if (!keep)
		return; /* past the announced size: blob.end says so */
	EVP_DigestUpdate(u->md, p, keep);
	while (keep) {
		size_t n = STORE_BLOB_CHUNK - u->len;
		if (n > keep)
			n = keep;
		memcpy(u->buf + u->len, p, n);
		u->len += n;
		p += n;
		keep -= n;
		if (u->len == STORE_BLOB_CHUNK)
			flush_part(s, u);
	}
}

/* Drops an open upload and its parts (the member leaves, or blob.end
 * refused it). */
void blob_upload_abort(struct session *s, struct client *cl)
{
	struct blob_upload *u = cl->upload;
	int rc;
	if (!u)
		return;
	rc = batch_begin(s);
	if (rc == SQLITE_OK)
		rc = store_blob_parts_drop(s->store, u->id);
	if (rc != SQLITE_OK)
		log_warning("Cannot drop the parts of an abandoned blob upload (session=%s): %s; "
			    "they go when the session is next opened", s->name,
			    sqlite3_errstr(rc));
	else
		log_info("Blob upload abandoned (session=%s user=%s hash=%s received=%lld of %lld)",
			 s->name, cl->name, u->hash, (long long)u->received, (long long)u->size);
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
		reply_now(r, json_pack("{ss sb}", "hash", q.hash, "have", 1));
		return SQLITE_OK;
	}
	if (rc != SQLITE_NOTFOUND)
		return rc;
	u = xcalloc(1, sizeof(*u));
	memcpy(u->hash, q.hash, sizeof(u->hash));
	u->size = q.size;
	u->rc = SQLITE_OK;
	util_random(&u->id, sizeof(u->id));
	u->id &= INT64_MAX;
	u->md = EVP_MD_CTX_new();
	if (!u->md || !EVP_DigestInit_ex(u->md, EVP_sha256(), NULL)) {
		upload_free(u);
		reply_err(r, "internal", NULL, "blob.put: SHA-256 is not available");
		return SQLITE_OK;
	}
	u->buf = xmalloc(q.size < STORE_BLOB_CHUNK ? (size_t)q.size + 1 : STORE_BLOB_CHUNK);
	r->cl->upload = u;
	reply_now(r, json_pack("{ss sb}", "hash", q.hash, "have", 0));
	return SQLITE_OK;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

int do_blob_end(struct req *r)
{
	struct blob_upload *u = r->cl->upload;
	unsigned char md[EVP_MAX_MD_SIZE];
	char msg[VALIDATE_MSG], got[2 * EVP_MAX_MD_SIZE + 1];
	const char *hash;
	unsigned mdlen = 0;
	int rc;

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
		goto drop;
	}
	if (u->received != u->size) {
		reply_err(r, "bad_request", NULL, "blob.end: size mismatch: received %lld bytes, "
			  "blob.put said %lld; nothing is kept", (long long)u->received,
			  (long long)u->size);
		goto drop;
	}
	EVP_DigestFinal_ex(u->md, md, &mdlen);
	hex(md, mdlen, got);
	if (strcmp(got, u->hash) != 0) {
		reply_err(r, "bad_request", NULL, "blob.end: hash mismatch: the bytes hash to %s, "
			  "not %s; nothing is kept", got, u->hash);
		goto drop;
	}
	flush_part(r->s, u);
	rc = u->rc;
	int64_t t0 = util_mono_us();
	if (rc == SQLITE_OK)
		rc = store_blob_commit(r->s->store, u->id, u->hash, u->size, r->cl->name,
				       util_now());
	if (rc == SQLITE_MISMATCH) {
		/* A commit that failed since blob.put lost some of the parts. */
		reply_err(r, "unavailable", NULL, "blob.end: storage lost part of the upload; "
			  "nothing is kept, send it again");
		blob_upload_free(r->cl);
		return SQLITE_OK;
	}
	if (rc != SQLITE_OK && rc != SQLITE_CONSTRAINT) {
		blob_upload_free(r->cl);
		return rc; /* rolled back: the parts go when the session is next opened */
	}
	if (rc == SQLITE_OK)
		log_info("Blob stored (session=%s user=%s hash=%s size=%lld ms=%lld)", r->s->name,
			 r->cl->name, u->hash, (long long)u->size,
			 (long long)(util_mono_us() - t0) / 1000);
	reply_ok(r, json_pack("{ss sI}", "hash", u->hash, "size", (json_int_t)u->size));
	blob_upload_free(r->cl);
	return SQLITE_OK;
drop:
	rc = store_blob_parts_drop(r->s->store, u->id);
	blob_upload_free(r->cl);
	return rc;
}

int do_blob_get(struct req *r)
{
	const char *hash;
	char msg[VALIDATE_MSG];
	struct pending *p;
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
	/* The ok and the bytes are written by the connection when the download
	 * reaches the head of its queue (conn_start_blob). */
	p = pending_add(r->s, P_BLOB, r->conn);
	p->re = r->id ? json_incref(r->id) : NULL;
	p->text = xstrdup(hash);
	r->answered = 1;
	return SQLITE_OK;
}

int do_blob_has(struct req *r)
{
	json_t *hashes, *have, *h;
	char msg[VALIDATE_MSG];
	size_t i;
	int rc = SQLITE_OK;

	if (validate_blob_has(r->msg, &hashes, msg)) {
		reply_err(r, "bad_request", NULL, "%s", msg);
		return SQLITE_OK;
	}
	have = json_array();
	json_array_foreach(hashes, i, h) {
		rc = store_blob_has(r->s->store, json_string_value(h), NULL);
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

int session_blobs_open(struct session *s)
{
	int64_t n = 0;
	int rc = store_blob_parts_clear(s->store, &n);
	if (rc == SQLITE_OK && n)
		log_info("Dropped %lld unfinished blob upload(s) left by the last run (session=%s)",
			 (long long)n, s->name);
	return rc;
}

int blob_gc(struct session *s)
{
	int64_t n = 0, bytes = 0;
	double before = util_now() - (double)s->srv->cfg->blob_gc_grace;
	int rc = store_blob_gc(s->store, before, &n, &bytes);
	if (rc != SQLITE_OK)
		log_error("Blob collection failed (session=%s): %s", s->name, sqlite3_errstr(rc));
	else if (n)
		log_info("Blobs collected (session=%s count=%lld bytes=%lld): no live node names "
			 "them", s->name, (long long)n, (long long)bytes);
	s->srv->metrics.blobs_collected += (uint64_t)n;
	return rc;
}
