-- Scene graph, users and session metadata.
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
