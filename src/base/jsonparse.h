/* jsonparse.h - JSON text to jansson values for incoming frames: accepts
 * what json_loadb(buf, len, JSON_REJECT_DUPLICATES, ...) accepts, builds the
 * same values, costs less (jsonparse.c says how and which rules). */
#ifndef SESSIOND_JSONPARSE_H
#define SESSIOND_JSONPARSE_H

#include <jansson.h>
#include <stddef.h>

/* A new reference to the object or array of buf[0..len), or NULL with a
 * message in err and the byte offset of the problem in *errpos (if not
 * NULL). */
json_t *jsonparse(const char *buf, size_t len, char *err, size_t errlen, size_t *errpos);

#endif
