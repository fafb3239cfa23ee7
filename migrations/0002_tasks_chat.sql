-- Tasks and chat are first-class rows, not part of a user's metadata.
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
