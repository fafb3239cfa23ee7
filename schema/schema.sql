-- The full current schema (PRAGMA user_version = 5). A unit test proves that
-- applying every file in migrations/ to an empty database gives exactly this.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value ANY
) STRICT;

CREATE TABLE nodes (
	uuid       TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	data       TEXT,                      -- JSON object; NULL for a tombstone
	owner      TEXT,                      -- NULL: common, anyone may change it
	version    INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	updated_by TEXT,
	updated_at REAL NOT NULL,
	deleted    INTEGER NOT NULL DEFAULT 0 -- 1: tombstone kept for delta resume
) STRICT;
CREATE INDEX nodes_seq ON nodes (seq);
CREATE INDEX nodes_owner ON nodes (owner) WHERE owner IS NOT NULL;

CREATE TABLE node_deps (
	uuid     TEXT NOT NULL REFERENCES nodes (uuid) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	dep      TEXT NOT NULL,
	PRIMARY KEY (uuid, position)
) STRICT;
CREATE INDEX node_deps_dep ON node_deps (dep);

CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	role       TEXT NOT NULL,
	color      TEXT,
	metadata   TEXT NOT NULL DEFAULT '{}', -- JSON: the user's last presence
	first_seen REAL NOT NULL,
	last_seen  REAL NOT NULL
) STRICT;

CREATE TABLE tasks (
	id          INTEGER PRIMARY KEY,
	title       TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'doing', 'done')),
	assignee    TEXT,
	node        TEXT,                      -- a node uuid; no integrity enforced
	created_by  TEXT NOT NULL,
	created_at  REAL NOT NULL,
	updated_at  REAL NOT NULL,
	seq         INTEGER NOT NULL,
	deleted     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX tasks_seq ON tasks (seq);

CREATE TABLE chat (
	id   INTEGER PRIMARY KEY,
	user TEXT NOT NULL,
	text TEXT NOT NULL,
	ts   REAL NOT NULL,
	seq  INTEGER NOT NULL
) STRICT;
CREATE INDEX chat_seq ON chat (seq);

CREATE INDEX nodes_deleted ON nodes (deleted);
CREATE INDEX tasks_deleted ON tasks (deleted);

-- Blobs 1.2 (protocol section 11): a blob is an ordered list of chunks of
-- 1..1048576 bytes, each named by the lowercase hex SHA-256 of its bytes and
-- stored once however many blobs contain it. No row holds more than 1 MiB.
--
-- chunks: one row per distinct chunk; `data` last, so hash, size and
-- created_at are read without walking its overflow pages. created_at is when
-- it was first written (an unreferenced chunk is collected an hour after it).
CREATE TABLE chunks (
	hash       TEXT PRIMARY KEY,
	size       INTEGER NOT NULL CHECK (size BETWEEN 1 AND 1048576),
	created_at REAL NOT NULL,
	data       BLOB NOT NULL
) STRICT;
CREATE INDEX chunks_created_at ON chunks (created_at);

-- blobs: one row per complete blob. touched_at is the clock of collection:
-- the latest of its upload's end, the last blob.put of it answered
-- have:true, and the moment the last node naming it stopped naming it.
CREATE TABLE blobs (
	hash       TEXT PRIMARY KEY,
	size       INTEGER NOT NULL,
	created_at REAL NOT NULL,
	created_by TEXT NOT NULL,
	touched_at REAL NOT NULL
) STRICT;

-- blob_chunks: blob `blob` is its chunks n = 0, 1, ... in order.
CREATE TABLE blob_chunks (
	blob  TEXT NOT NULL REFERENCES blobs (hash) ON DELETE CASCADE,
	n     INTEGER NOT NULL,
	chunk TEXT NOT NULL REFERENCES chunks (hash),
	PRIMARY KEY (blob, n)
) STRICT, WITHOUT ROWID;
CREATE INDEX blob_chunks_chunk ON blob_chunks (chunk);

-- The blobs each live node names, in the order given (like node_deps).
CREATE TABLE node_blobs (
	uuid     TEXT NOT NULL REFERENCES nodes (uuid) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	hash     TEXT NOT NULL,
	PRIMARY KEY (uuid, position)
) STRICT;
CREATE INDEX node_blobs_hash ON node_blobs (hash);
