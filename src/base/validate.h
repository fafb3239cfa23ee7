/* validate.h - the shape rules of every request, as pure functions.
 *
 * Each validate_* function reads a request object (borrowed) into a struct
 * whose pointers borrow from that object, and returns 0, or -1 with `msg`
 * holding the sentence for the client ("node.create: kind must be a string
 * of 1..64 bytes"). The code is always bad_request except where noted. */
#ifndef SESSIOND_VALIDATE_H
#define SESSIOND_VALIDATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define VALIDATE_MSG 256
#define NODE_MAX_DEPS 1024
#define PRESENCE_MAX_BYTES 65536
#define NODE_MAX_BLOBS 1024
#define BLOB_HASH_LEN 64        /* lowercase hex SHA-256 */
#define BLOB_HAS_MAX 1024
#define BLOB_CHUNKS_MAX 4096     /* entries of blob.put's "chunks" (1.2) */
#define BLOB_CHUNK_MAX_BYTES (1024 * 1024)

int validate_session_name(const char *name);
int validate_uuid(const char *s);
/* 1..64 bytes, no control characters */
int validate_user_name(const char *s);
/* Envelope id: absent, an integer, or a string of at most 64 bytes. */
int validate_id(json_t *id);

struct hello_req {
	const char *user, *password, *admin_password, *epoch, *client, *color;
	int64_t since;
	int has_since;
};
int validate_hello(json_t *req, struct hello_req *out, char *msg);

struct node_create_req {
	const char *uuid;  /* NULL: the server makes one */
	const char *kind;
	json_t *deps;      /* NULL: none */
	json_t *blobs;     /* NULL: none */
	json_t *data;
	int lock;
};
int validate_node_create(json_t *req, struct node_create_req *out, char *msg);

struct node_update_req {
	const char *uuid;
	json_t *data, *patch, *deps, *blobs;
	const char *kind;
	int has_version;
	int64_t version;
};
int validate_node_update(json_t *req, struct node_update_req *out, char *msg);

/* node.delete, node.lock, node.unlock, node.get */
struct node_ref_req {
	const char *uuid;
	int force;
};
int validate_node_ref(const char *type, json_t *req, struct node_ref_req *out, char *msg);

enum task_field { TF_TITLE = 1, TF_DESCRIPTION = 2, TF_STATUS = 4, TF_ASSIGNEE = 8, TF_NODE = 16 };
struct task_req {
	int64_t id;        /* task.update / task.delete */
	unsigned fields;   /* which of the fields below were given */
	const char *title, *description, *status;
	const char *assignee, *node; /* NULL when given as null */
};
int validate_task_create(json_t *req, struct task_req *out, char *msg);
int validate_task_update(json_t *req, struct task_req *out, char *msg);
int validate_task_delete(json_t *req, struct task_req *out, char *msg);

int validate_chat_send(json_t *req, const char **text, char *msg);
int validate_chat_history(json_t *req, int64_t *before, int64_t *limit, char *msg);
/* Returns -1 (bad_request) or -2 (too_large). */
int validate_presence(json_t *req, json_t **data, char *msg);
/* 64 lowercase hex digits */
int validate_blob_hash(const char *s);
struct blob_put_req {
	char hash[BLOB_HASH_LEN + 1];
	int64_t size;
	json_t *chunks;    /* (1.2) [[hash, size], ...] checked, borrowed; NULL: not given */
};
int validate_blob_put(json_t *req, struct blob_put_req *out, char *msg);
/* blob.end, blob.get: the "hash" field (borrowed). */
int validate_blob_hash_field(const char *type, json_t *req, const char **hash, char *msg);
/* blob.has: "hashes", an array of at most BLOB_HAS_MAX hashes (borrowed). */
int validate_blob_has(json_t *req, json_t **hashes, char *msg);
/* chunk.get, chunk.has (1.2): the same rule, named after type. */
int validate_hashes(const char *type, json_t *req, json_t **hashes, char *msg);
int validate_admin_user(const char *type, json_t *req, const char **user, char *msg);

#endif
