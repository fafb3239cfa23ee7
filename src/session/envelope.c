/* envelope.c - ok and error frames (see envelope.h).
 *
 * Replies on the hot path (node.update) are written as text with
 * envelope_ok_text so no jansson object is built per edit; the others are
 * built with jansson. Both produce the same envelope: a test in
 * tests/unit/test_envelope.c parses one of each. */
#include <string.h>

#include "envelope.h"
#include "frame.h"
#include "metrics.h"
#include "util.h"

struct frame *envelope_error(json_t *id, const char *code, const char *msg, json_t *extra)
{
	json_t *o = json_pack("{ss}", "type", "error");
	struct frame *f;
	if (id)
		json_object_set(o, "re", id);
	json_object_set_new(o, "code", json_string(code));
	json_object_set_new(o, "message", json_string(msg));
	if (extra)
		json_object_update(o, extra);
	f = frame_from_json(o);
	json_decref(o);
	return f;
}

struct frame *envelope_ok(json_t *id, json_t *fields)
{
	json_t *o = json_pack("{ss}", "type", "ok");
	struct frame *f;
	if (id)
		json_object_set(o, "re", id);
	if (fields)
		json_object_update(o, fields);
	f = frame_from_json(o);
	json_decref(o);
	return f;
}

void envelope_add_re(struct sbuf *b, json_t *id)
{
	if (json_is_integer(id)) {
		sbuf_addstr(b, ",\"re\":");
		sbuf_add_int(b, json_integer_value(id));
	} else if (json_is_string(id)) {
		sbuf_addstr(b, ",\"re\":");
		sbuf_add_json_str(b, json_string_value(id), json_string_length(id));
	}
}

void envelope_ok_text(struct sbuf *b, json_t *id, size_t cap)
{
	frame_sbuf_init(b, cap);
	sbuf_addstr(b, "{\"type\":\"ok\"");
	envelope_add_re(b, id);
}
