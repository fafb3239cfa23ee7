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

-- The 1.1 table (one row per blob, its bytes in `data`) is cut into chunks
-- by the C part of this migration (store_blobs.c), then dropped.
DROP INDEX blobs_created_at;
ALTER TABLE blobs RENAME TO blobs_v11;

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
