/* frame.h - an outgoing WebSocket frame (text, or binary for blob bytes), serialised once and shared by
 * reference between every connection it is queued on. */
#ifndef SESSIOND_FRAME_H
#define SESSIOND_FRAME_H

#include <jansson.h>
#include <stddef.h>

/* Headroom before the payload for the WebSocket header the network layer
 * writes in place (libwebsockets' LWS_PRE; net.c asserts it fits). */
#define FRAME_PRE 16

struct frame {
	unsigned refs;
	int type;           /* enum msg_type, for the metrics */
	int binary;         /* a binary frame (blob bytes), else text */
	int inline_mem;     /* mem is in the frame's own block (frame_from_sbuf) */
	size_t len;         /* payload bytes */
	char *mem;          /* FRAME_PRE bytes of headroom, then the payload */
};

/* Where the headroom starts in a buffer of frame_sbuf_init: the frame
 * itself is written in front of it, so a frame from a buffer is one block. */
#define FRAME_SBUF_AT ((sizeof(struct frame) + 15) / 16 * 16)
/* The length of a buffer of frame_sbuf_init before its payload. */
#define FRAME_SBUF_HEAD (FRAME_SBUF_AT + FRAME_PRE)

static inline char *frame_data(const struct frame *f) { return f->mem + FRAME_PRE; }

struct frame *frame_new(const char *data, size_t len);
/* Appends the compact JSON text of v (borrowed). Reals are written in the
 * shortest form that reads back as the same double, so timestamps (whole
 * milliseconds) print as 1796007416.321. */
struct sbuf;
void frame_add_json(struct sbuf *b, const json_t *v);
/* Serialises obj (borrowed) compactly; the frame starts with one reference. */
struct frame *frame_from_json(const json_t *obj);
/* Takes the buffer's memory, which must start with FRAME_SBUF_HEAD bytes
 * (see frame_sbuf_init): the frame and its payload are then one block. */
struct sbuf;
void frame_sbuf_init(struct sbuf *b, size_t cap);
struct frame *frame_from_sbuf(struct sbuf *b);
/* A binary frame of len bytes, left for the caller to fill. */
struct frame *frame_new_binary(size_t len);
struct frame *frame_ref(struct frame *f);
void frame_unref(struct frame *f);

#endif
