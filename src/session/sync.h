/* sync.h - the state a joining client receives: `sync` frames under 1 MiB
 * (a single node larger than that goes alone in a larger frame),
 * then `synced`, read from one snapshot of the session database. */
#ifndef SESSIOND_SYNC_H
#define SESSIOND_SYNC_H

#include <jansson.h>
#include <stdint.h>

#define SYNC_FRAME_MAX (1024 * 1024)

struct sync_cursor;
struct frame;

/* Opens a read transaction on its own connection to db_path. delta: send
 * only rows with seq > since (tombstones included); else every live node and
 * task and the last chat_history messages. users (stolen) goes in the first
 * frame. The snapshot must be at seq `expect_seq` (the caller has just
 * committed); returns NULL with err set on failure. */
struct sync_cursor *sync_open(const char *db_path, int delta, int64_t since,
			      int64_t chat_history, json_t *users, int64_t expect_seq,
			      char *err, size_t errlen);
/* The next frame; *done becomes 1 when the frame returned is `synced`.
 * Returns NULL on a read error. */
struct frame *sync_next(struct sync_cursor *c, int *done);
void sync_close(struct sync_cursor *c);

#endif
