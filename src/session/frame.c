/* frame.c - shared outgoing frames.
 *
 * Fan-out rule: an event is serialised once into one frame, and every
 * recipient's queue holds a reference to it, so sending to 60 watchers costs
 * 60 pointers, not 60 copies. Only the network thread touches frames, so the
 * reference count is a plain integer. */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "metrics.h"
#include "util.h"

struct frame *frame_new(const char *data, size_t len)
{
	struct frame *f = xmalloc(sizeof(*f));
	f->refs = 1;
	f->type = MT_OTHER;
	f->binary = 0;
	f->inline_mem = 0;
	f->len = len;
	f->mem = xmalloc(FRAME_PRE + len + 1);
	memcpy(f->mem + FRAME_PRE, data, len);
	f->mem[FRAME_PRE + len] = 0;
	return f;
}

struct frame *frame_new_binary(size_t len)
{
	struct frame *f = xmalloc(sizeof(*f));
	f->refs = 1;
	f->type = MT_BINARY;
	f->binary = 1;
	f->inline_mem = 0;
	f->len = len;
	f->mem = xmalloc(FRAME_PRE + len + 1);
	return f;
}

void frame_sbuf_init(struct sbuf *b, size_t cap)
{
	static const char zero[FRAME_SBUF_HEAD];
	sbuf_init(b, cap + FRAME_SBUF_HEAD);
	sbuf_add(b, zero, FRAME_SBUF_HEAD);
}

struct frame *frame_from_sbuf(struct sbuf *b)
{
	/* malloc's blocks are aligned for any type: the frame goes first. */
	struct frame *f = (struct frame *)(void *)b->p;
	f->refs = 1;
	f->type = MT_OTHER;
	f->binary = 0;
	f->inline_mem = 1;
	f->len = b->len - FRAME_SBUF_HEAD;
	f->mem = b->p + FRAME_SBUF_AT;
	b->p = NULL;
	b->len = b->cap = 0;
	return f;
}

void frame_add_json(struct sbuf *b, const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i, n = 0;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		sbuf_addc(b, '{');
		json_object_foreach((json_t *)v, key, item) {
			if (n++)
				sbuf_addc(b, ',');
			sbuf_add_json_str(b, key, strlen(key));
			sbuf_addc(b, ':');
			frame_add_json(b, item);
		}
		sbuf_addc(b, '}');
		break;
	case JSON_ARRAY:
		sbuf_addc(b, '[');
		json_array_foreach(v, i, item) {
			if (i)
				sbuf_addc(b, ',');
			frame_add_json(b, item);
		}
		sbuf_addc(b, ']');
		break;
	case JSON_STRING:
		sbuf_add_json_str(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		sbuf_add_int(b, json_integer_value(v));
		break;
	case JSON_REAL:
		sbuf_add_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		sbuf_addstr(b, "true");
		break;
	case JSON_FALSE:
		sbuf_addstr(b, "false");
		break;
	case JSON_NULL:
		sbuf_addstr(b, "null");
		break;
	}
}

struct frame *frame_from_json(const json_t *obj)
{
	struct sbuf b;
	frame_sbuf_init(&b, 256);
	struct frame *f;
	frame_add_json(&b, obj);
	f = frame_from_sbuf(&b);
	f->type = (int)metrics_type_of(json_string_value(json_object_get(obj, "type")));
	return f;
}

struct frame *frame_ref(struct frame *f)
{
	f->refs++;
	return f;
}

void frame_unref(struct frame *f)
{
	if (!f || --f->refs > 0)
		return;
	if (!f->inline_mem)
		free(f->mem);
	free(f);
}
