/* envelope.h - the frames every reply is wrapped in (protocol section 2):
 * `ok` and `error` with the request's id as `re`. Used by the protocol layer
 * and by the session domain below it, so it depends on neither. */
#ifndef SESSIOND_ENVELOPE_H
#define SESSIOND_ENVELOPE_H

#include <jansson.h>

struct frame;
struct sbuf;

/* {"type":"error","re":id,"code":code,"message":msg,...extra}; id and extra
 * borrowed, either may be NULL. */
struct frame *envelope_error(json_t *id, const char *code, const char *msg, json_t *extra);
/* {"type":"ok","re":id,...fields}; id and fields borrowed, either may be NULL. */
struct frame *envelope_ok(json_t *id, json_t *fields);
/* Starts an `ok` written as text: `{"type":"ok","re":ID` (no closing brace),
 * in a buffer ready for frame_from_sbuf. */
void envelope_ok_text(struct sbuf *b, json_t *id, size_t cap);
/* Appends `,"re":ID` when id is an integer or a string. */
void envelope_add_re(struct sbuf *b, json_t *id);

#endif
