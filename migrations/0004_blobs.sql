-- Blobs (protocol 1.1, section 11): immutable byte strings named by the
-- lowercase hex SHA-256 of their bytes, one row each. `data` is the last
-- column so that reading hash, size or created_at never walks the blob's
-- overflow pages. created_at is when the upload ended (its commit): the
-- garbage collection of unnamed blobs waits one hour from it.
CREATE TABLE blobs (
	hash       TEXT PRIMARY KEY,
	size       INTEGER NOT NULL,
	created_at REAL NOT NULL,
	created_by TEXT NOT NULL,
	data       BLOB NOT NULL
) STRICT;
CREATE INDEX blobs_created_at ON blobs (created_at);

-- The blobs each live node names, in the order given (like node_deps).
CREATE TABLE node_blobs (
	uuid     TEXT NOT NULL REFERENCES nodes (uuid) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	hash     TEXT NOT NULL,
	PRIMARY KEY (uuid, position)
) STRICT;
CREATE INDEX node_blobs_hash ON node_blobs (hash);
