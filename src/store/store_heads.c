/* store_heads.c - the heads of live nodes kept in memory: what the checks
 * of a change need (rowid, owner, version, seq), so that node.update,
 * node.delete, node.lock and node.unlock do not run a SELECT before they
 * write. Part of the store module (store_int.h).
 *
 * Design notes
 * - Read-through: a miss reads the row (ST_NODE_PEEK) and keeps it if the
 *   node is live. Only live nodes are kept: a tombstone or a missing row is
 *   read again each time (a client asking for a deleted node is rare).
 * - Exact, never merely recent. Every statement of this store that writes
 *   a node's uuid, owner, version, seq, deleted flag or rowid either updates
 *   the entry after it succeeded or drops it: store_node_change and
 *   store_node_set_owner update it, insert, the generic store_node_update
 *   and the tombstone drop it, and mass deletes (reset, tombstone purge)
 *   empty the table. Whatever is undone by SQLite empties the table too:
 *   ROLLBACK, ROLLBACK TO, a failed COMMIT and any failed node write
 *   (SQLite may have rolled back the whole transaction). Memory therefore
 *   never says what the database does not, which keeps the rule of store.c
 *   ("the database is the only copy"): this is a copy of a few columns that
 *   is thrown away whenever it could differ.
 * - The rowid lets a change find the row in one b-tree search instead of
 *   two (the uuid index, then the table). A rowid of this table changes only
 *   when its row is deleted (purge, reset: the table is emptied) or by
 *   VACUUM, which never runs on a live session's file (saves use VACUUM
 *   INTO); the statements also check the uuid, and a change that finds no
 *   row empties the table and fails rather than writing elsewhere.
 * - Bounded: at most STORE_HEADS_MAX entries; a full table forgets one
 *   chain (the first at or after the new entry's bucket), so the entries
 *   kept are an arbitrary subset and the hit rate degrades gracefully for a
 *   session with more nodes than that being edited at random. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "util.h"

#define STORE_HEADS_MAX 65536

struct head_entry {
	struct head_entry *next;
	uint32_t hash;
	struct node_head h; /* h.uuid points at uuid[] below */
	char uuid[];
};

static uint32_t hash_uuid(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void entry_free(struct head_entry *e)
{
	free(e->h.owner);
	free(e);
}

void store_i_heads_clear(struct store *s)
{
	struct store_heads *t = &s->heads;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct head_entry *e = t->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			entry_free(e);
		}
		t->buckets[i] = NULL;
	}
	t->n = 0;
}

void store_i_heads_free(struct store *s)
{
	store_i_heads_clear(s);
	free(s->heads.buckets);
	memset(&s->heads, 0, sizeof(s->heads));
}

static struct head_entry **find_slot(struct store_heads *t, const char *uuid, uint32_t hash)
{
	struct head_entry **pp = &t->buckets[hash & (t->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == hash && strcmp((*pp)->uuid, uuid) == 0)
			break;
	return pp;
}

void store_i_heads_drop(struct store *s, const char *uuid)
{
	struct store_heads *t = &s->heads;
	struct head_entry **pp, *e;
	if (!t->n)
		return;
	pp = find_slot(t, uuid, hash_uuid(uuid));
	if ((e = *pp)) {
		*pp = e->next;
		entry_free(e);
		t->n--;
	}
}

static void grow(struct store_heads *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 256;
	struct head_entry **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct head_entry *e = t->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct node_head *put(struct store_heads *t, const char *uuid, uint32_t hash,
			     int64_t rowid, const char *owner, int64_t version, int64_t seq)
{
	size_t len = strlen(uuid) + 1;
	struct head_entry *e, **bucket;
	if (t->n >= t->nbuckets && t->nbuckets < STORE_HEADS_MAX)
		grow(t);
	if (t->n >= STORE_HEADS_MAX) {
		/* Forget the first chain at or after the new entry's bucket. */
		size_t i = hash & (t->nbuckets - 1);
		while (!t->buckets[i])
			i = (i + 1) & (t->nbuckets - 1);
		while ((e = t->buckets[i])) {
			t->buckets[i] = e->next;
			entry_free(e);
			t->n--;
		}
	}
	bucket = &t->buckets[hash & (t->nbuckets - 1)];
	e = xmalloc(sizeof(*e) + len);
	memcpy(e->uuid, uuid, len);
	e->hash = hash;
	e->h.uuid = e->uuid;
	e->h.rowid = rowid;
	e->h.owner = owner ? xstrdup(owner) : NULL;
	e->h.version = version;
	e->h.seq = seq;
	e->next = *bucket;
	*bucket = e;
	t->n++;
	return &e->h;
}

int store_node_head(struct store *s, const char *uuid, struct node_head **out)
{
	struct store_heads *t = &s->heads;
	uint32_t hash = hash_uuid(uuid);
	sqlite3_stmt *st;
	int rc;
	*out = NULL;
	if (t->n) {
		struct head_entry *e = *find_slot(t, uuid, hash);
		if (e) {
			*out = &e->h;
			return SQLITE_OK;
		}
	}
	if (!(st = store_i_stmt(s, ST_NODE_PEEK)))
		return SQLITE_ERROR;
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_int(st, 4))
			rc = SQLITE_NOTFOUND; /* a tombstone */
		else
			*out = put(t, uuid, hash, sqlite3_column_int64(st, 0),
				   (const char *)sqlite3_column_text(st, 1),
				   sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
		if (rc == SQLITE_ROW)
			rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* After a statement that should have changed exactly the row of h. */
static int changed(struct store *s, sqlite3_stmt *st, int rc)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE && sqlite3_changes(s->db) == 1)
		return SQLITE_OK;
	store_i_heads_clear(s);
	if (rc == SQLITE_DONE) {
		log_error("store: a node head in memory named no row: heads forgotten");
		return SQLITE_INTERNAL;
	}
	return rc;
}

int store_node_change(struct store *s, struct node_head *h, const struct node_change *c)
{
	sqlite3_stmt *st = store_i_stmt(s, ST_NODE_CHANGE);
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, h->rowid);
	sqlite3_bind_text(st, 2, h->uuid, -1, SQLITE_STATIC);
	if (c->kind)
		sqlite3_bind_text(st, 3, c->kind, -1, SQLITE_STATIC);
	if (c->data)
		sqlite3_bind_text(st, 4, c->data, (int)c->data_len, SQLITE_STATIC);
	if (c->patch)
		sqlite3_bind_text(st, 5, c->patch, (int)c->patch_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->version);
	sqlite3_bind_int64(st, 7, c->seq);
	sqlite3_bind_text(st, 8, c->updated_by, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 9, c->updated_at);
	rc = changed(s, st, sqlite3_step(st));
	if (rc == SQLITE_OK) {
		h->version = c->version;
		h->seq = c->seq;
	}
	return rc;
}

int store_node_set_owner(struct store *s, struct node_head *h, const char *owner, int64_t seq)
{
	sqlite3_stmt *st = store_i_stmt(s, ST_NODE_OWNER);
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, h->rowid);
	sqlite3_bind_text(st, 2, h->uuid, -1, SQLITE_STATIC);
	if (owner)
		sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, seq);
	rc = changed(s, st, sqlite3_step(st));
	if (rc == SQLITE_OK) {
		char *old = h->owner;
		h->owner = owner ? xstrdup(owner) : NULL;
		free(old);
		h->seq = seq;
	}
	return rc;
}

size_t store_heads_count(struct store *s) { return s->heads.n; }
