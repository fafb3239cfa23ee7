/* validate.c - request shape rules.
 *
 * Everything a client can get wrong about a request's fields is decided here,
 * before the session domain sees the request, so the domain only ever deals
 * with well-formed input and these rules can be unit-tested one by one.
 * Unknown fields are ignored, so clients may add their own. */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "validate.h"

#define FAIL(...) do { snprintf(msg, VALIDATE_MSG, __VA_ARGS__); return -1; } while (0)

int validate_session_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > 64)
		return 0;
	if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return name[n - 1] != '.';
}

int validate_uuid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

int validate_user_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

int validate_id(json_t *id)
{
	if (!id || json_is_integer(id))
		return 1;
	return json_is_string(id) && json_string_length(id) <= 64;
}

/* Optional string field: absent is fine; present must be a string. */
static int str_value(json_t *v, const char **out)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return strlen(*out) == json_string_length(v) ? 0 : -1; /* no NUL inside */
}

static int opt_str(json_t *req, const char *key, const char **out)
{
	return str_value(json_object_get(req, key), out);
}

static int str_len_ok(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	return n >= min && n <= max;
}

int validate_hello(json_t *req, struct hello_req *h, char *msg)
{
	json_t *since;
	memset(h, 0, sizeof(*h));
	if (opt_str(req, "user", &h->user) || !h->user || !validate_user_name(h->user))
		FAIL("hello: user must be a string of 1..64 bytes without control characters");
	if (opt_str(req, "password", &h->password))
		FAIL("hello: password must be a string");
	if (opt_str(req, "admin_password", &h->admin_password))
		FAIL("hello: admin_password must be a string");
	if (opt_str(req, "epoch", &h->epoch) || (h->epoch && strlen(h->epoch) > 64))
		FAIL("hello: epoch must be a string of at most 64 bytes");
	if (opt_str(req, "client", &h->client) || (h->client && strlen(h->client) > 128))
		FAIL("hello: client must be a string of at most 128 bytes");
	if (opt_str(req, "color", &h->color) || (h->color && strlen(h->color) > 32))
		FAIL("hello: color must be a string of at most 32 bytes");
	since = json_object_get(req, "since");
	if (since && !json_is_null(since)) {
		if (!json_is_integer(since) || json_integer_value(since) < 0)
			FAIL("hello: since must be a non-negative integer");
		h->since = json_integer_value(since);
		h->has_since = 1;
	}
	return 0;
}

static int check_deps(const char *type, json_t *deps, char *msg)
{
	size_t i;
	json_t *d;
	if (!json_is_array(deps) || json_array_size(deps) > NODE_MAX_DEPS)
		FAIL("%s: deps must be an array of at most %d uuids", type, NODE_MAX_DEPS);
	json_array_foreach(deps, i, d) {
		if (!json_is_string(d) || !validate_uuid(json_string_value(d)) ||
		    strlen(json_string_value(d)) != json_string_length(d))
			FAIL("%s: deps[%zu] must be a uuid (1..64 bytes of A-Z a-z 0-9 _ . : -)",
			     type, i);
	}
	return 0;
}

int validate_blob_hash(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == BLOB_HASH_LEN;
}

static int check_hashes(const char *type, const char *field, json_t *a, size_t max, char *msg)
{
	size_t i;
	json_t *h;
	if (!json_is_array(a) || json_array_size(a) > max)
		FAIL("%s: %s must be an array of at most %zu blob hashes", type, field, max);
	json_array_foreach(a, i, h) {
		if (!json_is_string(h) || !validate_blob_hash(json_string_value(h)))
			FAIL("%s: %s[%zu] must be a blob hash (64 lowercase hex digits of SHA-256)",
			     type, field, i);
	}
	return 0;
}

int validate_blob_hash_field(const char *type, json_t *req, const char **hash, char *msg)
{
	*hash = json_string_value(json_object_get(req, "hash"));
	if (!validate_blob_hash(*hash))
		FAIL("%s: hash must be 64 lowercase hex digits (the SHA-256 of the bytes)", type);
	return 0;
}

/* blob.put's "chunks" (1.2): [[hash, size], ...] in order, every size
 * 1..1 MiB, adding up to the blob's size, at most BLOB_CHUNKS_MAX. */
static int validate_blob_chunks(json_t *a, int64_t size, char *msg)
{
	int64_t sum = 0;
	size_t i;
	json_t *e;
	if (!json_is_array(a) || json_array_size(a) > BLOB_CHUNKS_MAX)
		FAIL("blob.put: chunks must be an array of at most %d [hash, size] pairs",
		     BLOB_CHUNKS_MAX);
	json_array_foreach(a, i, e) {
		json_t *n = json_array_get(e, 1);
		if (!json_is_array(e) || json_array_size(e) != 2 ||
		    !validate_blob_hash(json_string_value(json_array_get(e, 0))))
			FAIL("blob.put: chunks[%zu] must be [hash, size] with hash 64 lowercase hex "
			     "digits (the SHA-256 of the chunk's bytes)", i);
		if (!json_is_integer(n) || json_integer_value(n) < 1 ||
		    json_integer_value(n) > BLOB_CHUNK_MAX_BYTES)
			FAIL("blob.put: chunks[%zu]: size must be an integer from 1 to %d", i,
			     BLOB_CHUNK_MAX_BYTES);
		sum += json_integer_value(n);
	}
	if (sum != size)
		FAIL("blob.put: the sizes of chunks add up to %lld, not size %lld", (long long)sum,
		     (long long)size);
	return 0;
}

int validate_blob_put(json_t *req, struct blob_put_req *out, char *msg)
{
	const char *hash;
	json_t *size = json_object_get(req, "size");
	if (validate_blob_hash_field("blob.put", req, &hash, msg))
		return -1;
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		FAIL("blob.put: size must be an integer >= 0 (the number of bytes)");
	memcpy(out->hash, hash, BLOB_HASH_LEN + 1);
	out->size = json_integer_value(size);
	out->chunks = json_object_get(req, "chunks");
	if (!out->chunks)
		return 0;
	return validate_blob_chunks(out->chunks, out->size, msg);
}

int validate_blob_has(json_t *req, json_t **hashes, char *msg)
{
	*hashes = json_object_get(req, "hashes");
	return check_hashes("blob.has", "hashes", *hashes, BLOB_HAS_MAX, msg);
}

int validate_hashes(const char *type, json_t *req, json_t **hashes, char *msg)
{
	*hashes = json_object_get(req, "hashes");
	return check_hashes(type, "hashes", *hashes, BLOB_HAS_MAX, msg);
}

static int get_uuid(const char *type, json_t *req, const char **uuid, int required, char *msg)
{
	if (opt_str(req, "uuid", uuid) || (required && !*uuid) || (*uuid && !validate_uuid(*uuid)))
		FAIL("%s: uuid must be a string of 1..64 bytes of A-Z a-z 0-9 _ . : -", type);
	return 0;
}

static int get_kind(const char *type, json_t *req, const char **kind, int required, char *msg)
{
	if (opt_str(req, "kind", kind) || (required && !*kind) ||
	    (*kind && !str_len_ok(*kind, 1, 64)))
		FAIL("%s: kind must be a string of 1..64 bytes", type);
	return 0;
}

int validate_node_create(json_t *req, struct node_create_req *n, char *msg)
{
	json_t *lock;
	memset(n, 0, sizeof(*n));
	if (get_uuid("node.create", req, &n->uuid, 0, msg) ||
	    get_kind("node.create", req, &n->kind, 1, msg))
		return -1;
	n->deps = json_object_get(req, "deps");
	if (n->deps && json_is_null(n->deps))
		n->deps = NULL;
	if (n->deps && check_deps("node.create", n->deps, msg))
		return -1;
	n->blobs = json_object_get(req, "blobs");
	if (n->blobs && json_is_null(n->blobs))
		n->blobs = NULL;
	if (n->blobs && check_hashes("node.create", "blobs", n->blobs, NODE_MAX_BLOBS, msg))
		return -1;
	n->data = json_object_get(req, "data");
	if (!json_is_object(n->data))
		FAIL("node.create: data must be an object");
	lock = json_object_get(req, "lock");
	if (lock && !json_is_boolean(lock) && !json_is_null(lock))
		FAIL("node.create: lock must be a boolean");
	n->lock = json_is_true(lock);
	return 0;
}

/* The members of a node.update, found in one pass over the object (the
 * hot path: one walk of its few members instead of seven hash lookups).
 * The same values as json_object_get: keys are compared with their length,
 * so a key with a NUL inside matches nothing. */
static void node_update_members(json_t *req, json_t **uuid, json_t **kind, json_t **data,
				json_t **patch, json_t **deps, json_t **blobs, json_t **version)
{
	const char *key;
	json_t *v;
	*uuid = *kind = *data = *patch = *deps = *blobs = *version = NULL;
	json_object_foreach(req, key, v) {
		size_t n = json_object_iter_key_len(json_object_key_to_iter(key));
		json_t **slot = NULL;
		if (n == 4 && memcmp(key, "uuid", 4) == 0)
			slot = uuid;
		else if (n == 4 && memcmp(key, "kind", 4) == 0)
			slot = kind;
		else if (n == 4 && memcmp(key, "data", 4) == 0)
			slot = data;
		else if (n == 5 && memcmp(key, "patch", 5) == 0)
			slot = patch;
		else if (n == 4 && memcmp(key, "deps", 4) == 0)
			slot = deps;
		else if (n == 5 && memcmp(key, "blobs", 5) == 0)
			slot = blobs;
		else if (n == 7 && memcmp(key, "version", 7) == 0)
			slot = version;
		if (slot)
			*slot = v;
	}
}

int validate_node_update(json_t *req, struct node_update_req *u, char *msg)
{
	json_t *uuid, *kind, *v;
	memset(u, 0, sizeof(*u));
	node_update_members(req, &uuid, &kind, &u->data, &u->patch, &u->deps, &u->blobs, &v);
	if (str_value(uuid, &u->uuid) || !u->uuid || !validate_uuid(u->uuid))
		FAIL("node.update: uuid must be a string of 1..64 bytes of A-Z a-z 0-9 _ . : -");
	if (str_value(kind, &u->kind) || (u->kind && !str_len_ok(u->kind, 1, 64)))
		FAIL("node.update: kind must be a string of 1..64 bytes");
	if (u->data && !json_is_object(u->data))
		FAIL("node.update: data must be an object");
	if (u->patch && !json_is_object(u->patch))
		FAIL("node.update: patch must be an object (RFC 7386 merge patch)");
	if (u->deps && check_deps("node.update", u->deps, msg))
		return -1;
	if (u->blobs && check_hashes("node.update", "blobs", u->blobs, NODE_MAX_BLOBS, msg))
		return -1;
	if (!u->data && !u->patch && !u->deps && !u->kind && !u->blobs)
		FAIL("node.update: give at least one of data, patch, deps, kind, blobs");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v))
			FAIL("node.update: version must be an integer");
		u->has_version = 1;
		u->version = json_integer_value(v);
	}
	return 0;
}

int validate_node_ref(const char *type, json_t *req, struct node_ref_req *r, char *msg)
{
	json_t *force;
	memset(r, 0, sizeof(*r));
	if (get_uuid(type, req, &r->uuid, 1, msg))
		return -1;
	force = json_object_get(req, "force");
	if (force && !json_is_boolean(force) && !json_is_null(force))
		FAIL("%s: force must be a boolean", type);
	r->force = json_is_true(force);
	return 0;
}

/* Reads the optional task fields shared by create and update. */
static int task_fields(const char *type, json_t *req, struct task_req *t, char *msg)
{
	json_t *v;
	if ((v = json_object_get(req, "title"))) {
		if (!json_is_string(v) || !str_len_ok(json_string_value(v), 1, 200) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			FAIL("%s: title must be a string of 1..200 bytes", type);
		t->title = json_string_value(v);
		t->fields |= TF_TITLE;
	}
	if ((v = json_object_get(req, "description"))) {
		if (json_is_null(v)) {
			t->description = "";
		} else if (!json_is_string(v) || json_string_length(v) > 10000 ||
			   strlen(json_string_value(v)) != json_string_length(v)) {
			FAIL("%s: description must be a string of at most 10000 bytes", type);
		} else {
			t->description = json_string_value(v);
		}
		t->fields |= TF_DESCRIPTION;
	}
	if ((v = json_object_get(req, "status"))) {
		const char *s = json_string_value(v);
		if (!s || (strcmp(s, "todo") && strcmp(s, "doing") && strcmp(s, "done")))
			FAIL("%s: status must be one of todo, doing, done", type);
		t->status = s;
		t->fields |= TF_STATUS;
	}
	if ((v = json_object_get(req, "assignee"))) {
		if (!json_is_null(v) && (!json_is_string(v) || !validate_user_name(json_string_value(v))))
			FAIL("%s: assignee must be a user name (1..64 bytes) or null", type);
		t->assignee = json_string_value(v);
		t->fields |= TF_ASSIGNEE;
	}
	if ((v = json_object_get(req, "node"))) {
		if (!json_is_null(v) && (!json_is_string(v) || !validate_uuid(json_string_value(v))))
			FAIL("%s: node must be a uuid or null", type);
		t->node = json_string_value(v);
		t->fields |= TF_NODE;
	}
	return 0;
}

int validate_task_create(json_t *req, struct task_req *t, char *msg)
{
	memset(t, 0, sizeof(*t));
	if (task_fields("task.create", req, t, msg))
		return -1;
	if (!(t->fields & TF_TITLE))
		FAIL("task.create: title must be a string of 1..200 bytes");
	return 0;
}

static int task_id(const char *type, json_t *req, struct task_req *t, char *msg)
{
	json_t *v = json_object_get(req, "task");
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		FAIL("%s: task must be a task id (a positive integer)", type);
	t->id = json_integer_value(v);
	return 0;
}

int validate_task_update(json_t *req, struct task_req *t, char *msg)
{
	memset(t, 0, sizeof(*t));
	if (task_id("task.update", req, t, msg) || task_fields("task.update", req, t, msg))
		return -1;
	if (!t->fields)
		FAIL("task.update: give at least one of title, description, status, assignee, node");
	return 0;
}

int validate_task_delete(json_t *req, struct task_req *t, char *msg)
{
	memset(t, 0, sizeof(*t));
	return task_id("task.delete", req, t, msg);
}

int validate_chat_send(json_t *req, const char **text, char *msg)
{
	json_t *v = json_object_get(req, "text");
	if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 4000 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		FAIL("chat.send: text must be a string of 1..4000 bytes");
	*text = json_string_value(v);
	return 0;
}

int validate_chat_history(json_t *req, int64_t *before, int64_t *limit, char *msg)
{
	json_t *v;
	*before = 0;
	*limit = 100;
	if ((v = json_object_get(req, "before")) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			FAIL("chat.history: before must be a message id (a positive integer)");
		*before = json_integer_value(v);
	}
	if ((v = json_object_get(req, "limit")) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 500)
			FAIL("chat.history: limit must be an integer from 1 to 500");
		*limit = json_integer_value(v);
	}
	return 0;
}

int validate_presence(json_t *req, json_t **data, char *msg)
{
	size_t n;
	*data = json_object_get(req, "data");
	if (!json_is_object(*data))
		FAIL("presence: data must be an object");
	n = json_dumpb(*data, NULL, 0, JSON_COMPACT);
	if (n > PRESENCE_MAX_BYTES) {
		snprintf(msg, VALIDATE_MSG, "presence: data must be at most %d bytes (got %zu)",
			 PRESENCE_MAX_BYTES, n);
		return -2;
	}
	return 0;
}

int validate_admin_user(const char *type, json_t *req, const char **user, char *msg)
{
	if (opt_str(req, "user", user) || !*user || !validate_user_name(*user))
		FAIL("%s: user must be a user name (1..64 bytes)", type);
	return 0;
}
